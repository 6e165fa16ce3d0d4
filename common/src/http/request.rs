//! Request-head parsing: httparse plus the RFC 9112 rules httparse leaves to the caller.
//!
//! [`parse`] turns the bytes at the front of a read buffer into a [`RequestHead`] that borrows
//! them, or says more bytes are needed, or names the 4xx/5xx the request deserves. It decides
//! message framing (RFC 9112 section 6.3, the rules that close request smuggling), the `Host`
//! requirement, keep-alive, `Expect` and `Upgrade`. It performs no I/O and never panics.

use super::headers::{self, has_token, tokens};
use super::status::Status;

/// Limits on what a client may send in a request head.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Request line plus all header lines, in bytes (431 past it).
    pub max_head: usize,
    /// Length of the request-target (414 past it).
    pub max_target: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_head: 8 * 1024,
            max_target: 4 * 1024,
        }
    }
}

/// The most header lines a request may have (431 past it); callers size their storage with it.
pub const MAX_HEADERS: usize = 64;

/// Fresh storage for [`parse`].
pub fn header_storage() -> [httparse::Header<'static>; MAX_HEADERS] {
    [httparse::EMPTY_HEADER; MAX_HEADERS]
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    Http10,
    Http11,
}

impl Version {
    pub fn as_str(self) -> &'static str {
        match self {
            Version::Http10 => "HTTP/1.0",
            Version::Http11 => "HTTP/1.1",
        }
    }
}

/// How the request body is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// No body.
    None,
    /// Exactly this many bytes follow the head.
    Length(u64),
    /// A chunked body follows the head.
    Chunked,
}

/// The four request-target forms of RFC 9112 section 3.2.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TargetForm {
    Origin,
    Absolute,
    Authority,
    Asterisk,
}

/// Why a request head was refused; each maps to the status the client gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// Malformed syntax or ambiguous framing: 400, and the connection is closed.
    BadRequest(&'static str),
    /// Head larger than `max_head` or too many header lines: 431.
    HeadTooLarge,
    /// Request-target longer than `max_target`: 414.
    UriTooLong,
    /// A transfer coding other than chunked: 501.
    NotImplemented,
    /// An `Expect` other than 100-continue: 417.
    ExpectationFailed,
    /// Not HTTP/1.x: 505.
    VersionNotSupported,
}

impl ParseError {
    pub fn status(self) -> Status {
        match self {
            ParseError::BadRequest(_) => Status::BAD_REQUEST,
            ParseError::HeadTooLarge => Status::HEADER_FIELDS_TOO_LARGE,
            ParseError::UriTooLong => Status::URI_TOO_LONG,
            ParseError::NotImplemented => Status::NOT_IMPLEMENTED,
            ParseError::ExpectationFailed => Status::EXPECTATION_FAILED,
            ParseError::VersionNotSupported => Status::HTTP_VERSION_NOT_SUPPORTED,
        }
    }
}

/// A parsed request head borrowing the read buffer.
#[derive(Debug)]
pub struct RequestHead<'b> {
    pub method: &'b str,
    pub target: &'b [u8],
    pub form: TargetForm,
    pub version: Version,
    pub headers: &'b [httparse::Header<'b>],
    /// Bytes of the head, including the blank line; the body (if any) starts here.
    pub head_len: usize,
    pub framing: Framing,
    /// Whether the connection may carry another request after this exchange.
    pub keep_alive: bool,
    /// The `Host` value (empty when absent on HTTP/1.0).
    pub host: &'b [u8],
    pub expect_continue: bool,
    /// `Connection: upgrade` with an `Upgrade` header (a WebSocket handshake, for example).
    pub upgrade: bool,
}

impl<'b> RequestHead<'b> {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&'b [u8]> {
        headers::find(self.headers, name)
    }

    pub fn is_head(&self) -> bool {
        self.method == "HEAD"
    }
}

/// Parses a request head from the front of `buf`. `Ok(None)`: incomplete, read more.
pub fn parse<'b>(
    buf: &'b [u8],
    storage: &'b mut [httparse::Header<'b>],
    limits: &Limits,
) -> Result<Option<RequestHead<'b>>, ParseError> {
    let mut req = httparse::Request::new(storage);
    let head_len = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            return match incomplete_verdict(buf, limits) {
                Some(err) => Err(err),
                None => Ok(None),
            }
        }
        Err(e) => return Err(map_httparse_error(e, buf, limits)),
    };
    if head_len > limits.max_head {
        return Err(ParseError::HeadTooLarge);
    }
    let (Some(method), Some(path), Some(minor)) = (req.method, req.path, req.version) else {
        return Err(ParseError::BadRequest("incomplete request line"));
    };
    let version = if minor == 0 {
        Version::Http10
    } else {
        Version::Http11
    };
    let target = path.as_bytes();
    if target.len() > limits.max_target {
        return Err(ParseError::UriTooLong);
    }
    let form = target_form(method, target)?;
    let headers: &'b [httparse::Header<'b>] = req.headers;
    let host = check_host(headers, version)?;
    let framing = framing(headers, version)?;
    let connection = headers::values(headers, "connection");
    let keep_alive = match version {
        Version::Http11 => !has_token(connection.clone(), "close"),
        Version::Http10 => {
            has_token(connection.clone(), "keep-alive") && !has_token(connection.clone(), "close")
        }
    };
    let upgrade = has_token(connection, "upgrade") && headers::find(headers, "upgrade").is_some();
    let mut expect_continue = false;
    for value in headers::values(headers, "expect") {
        if value.eq_ignore_ascii_case(b"100-continue") && version == Version::Http11 {
            expect_continue = true;
        } else if !value.eq_ignore_ascii_case(b"100-continue") {
            return Err(ParseError::ExpectationFailed);
        }
    }
    Ok(Some(RequestHead {
        method,
        target,
        form,
        version,
        headers,
        head_len,
        framing,
        keep_alive,
        host,
        expect_continue,
        upgrade,
    }))
}

/// For a partial head: is it already over a limit?
///
/// Only what the complete head would be refused for too: the verdict must not depend on how
/// the bytes were split into reads. (Judging the partial request line by its whole length
/// refused a long method that, read in one piece, was an acceptable head.)
fn incomplete_verdict(buf: &[u8], limits: &Limits) -> Option<ParseError> {
    // httparse skips empty lines before the request line; so do we.
    let start = buf
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(buf.len());
    let line = buf.get(start..).unwrap_or_default();
    if !line.contains(&b'\n') {
        // Still inside the request line: a target that already cannot fit is a 414, not a 431.
        if let Some(sp) = line.iter().position(|&b| b == b' ') {
            let target = line.get(sp + 1..).unwrap_or_default();
            let target_len = target
                .iter()
                .position(|&b| b == b' ')
                .unwrap_or(target.len());
            if target_len > limits.max_target {
                return Some(ParseError::UriTooLong);
            }
        }
    }
    (buf.len() >= limits.max_head).then_some(ParseError::HeadTooLarge)
}

fn map_httparse_error(err: httparse::Error, buf: &[u8], limits: &Limits) -> ParseError {
    match err {
        httparse::Error::TooManyHeaders => ParseError::HeadTooLarge,
        httparse::Error::Version => {
            // "HTTP/2.0" or "HTTP/3" on a well-formed line is a version we do not speak;
            // anything else is garbage.
            if looks_like_http_version(buf) {
                ParseError::VersionNotSupported
            } else {
                ParseError::BadRequest("malformed HTTP version")
            }
        }
        _ if buf.len() > limits.max_head => ParseError::HeadTooLarge,
        httparse::Error::HeaderName => ParseError::BadRequest("malformed header name"),
        httparse::Error::HeaderValue => ParseError::BadRequest("malformed header value"),
        httparse::Error::NewLine => ParseError::BadRequest("malformed line ending"),
        httparse::Error::Token => ParseError::BadRequest("malformed request line"),
        httparse::Error::Status => ParseError::BadRequest("malformed request line"),
    }
}

fn looks_like_http_version(buf: &[u8]) -> bool {
    let line_end = buf.iter().position(|&b| b == b'\n').unwrap_or(buf.len());
    let line = buf[..line_end]
        .strip_suffix(b"\r")
        .unwrap_or(&buf[..line_end]);
    let Some(space) = line.iter().rposition(|&b| b == b' ') else {
        return false;
    };
    let version = &line[space + 1..];
    version.len() >= 6
        && version.starts_with(b"HTTP/")
        && version[5..]
            .iter()
            .all(|b| b.is_ascii_digit() || *b == b'.')
        && version[5].is_ascii_digit()
}

fn target_form(method: &str, target: &[u8]) -> Result<TargetForm, ParseError> {
    if target.first() == Some(&b'/') {
        return Ok(TargetForm::Origin);
    }
    if target == b"*" {
        return if method == "OPTIONS" {
            Ok(TargetForm::Asterisk)
        } else {
            Err(ParseError::BadRequest("asterisk-form is only for OPTIONS"))
        };
    }
    if method == "CONNECT" {
        return Ok(TargetForm::Authority);
    }
    let lower = target.get(..8).map(|p| p.to_ascii_lowercase());
    let after_scheme = match lower.as_deref() {
        Some(p) if p.starts_with(b"http://") => target.get(7..),
        Some(p) if p == b"https://" => target.get(8..),
        _ => None,
    }
    .ok_or(ParseError::BadRequest("invalid request-target"))?;
    // The authority must be a valid Host: RFC 9110 section 4.2.1 says an http(s) URI with an
    // empty host MUST be rejected, and section 4.2.4 that userinfo (`user@`) SHOULD be treated
    // as an error, since it only serves to disguise the authority. Refusing here keeps every
    // later reader of the target (routing, path resolution) from interpreting it its own way.
    let end = after_scheme
        .iter()
        .position(|&b| b == b'/' || b == b'?')
        .unwrap_or(after_scheme.len());
    let authority = after_scheme.get(..end).unwrap_or_default();
    if authority.is_empty() || authority.first() == Some(&b':') || !is_valid_host(authority) {
        return Err(ParseError::BadRequest("invalid authority in absolute-form"));
    }
    Ok(TargetForm::Absolute)
}

/// RFC 9112 section 3.2: HTTP/1.1 requests carry exactly one valid `Host`; HTTP/1.0 at most one.
fn check_host<'b>(
    headers: &'b [httparse::Header<'b>],
    version: Version,
) -> Result<&'b [u8], ParseError> {
    let mut hosts = headers::values(headers, "host");
    let first = hosts.next();
    if hosts.next().is_some() {
        return Err(ParseError::BadRequest("more than one Host header"));
    }
    match first {
        None if version == Version::Http11 => Err(ParseError::BadRequest("missing Host header")),
        None => Ok(b""),
        Some(host) if is_valid_host(host) => Ok(host),
        Some(_) => Err(ParseError::BadRequest("invalid Host header")),
    }
}

/// `uri-host [ ":" port ]` with reg-name, IPv4 or bracketed IPv6 characters only.
pub fn is_valid_host(host: &[u8]) -> bool {
    host.iter().all(|&b| {
        b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b';'
                    | b'='
                    | b':'
                    | b'['
                    | b']'
                    | b'%'
            )
    })
}

/// RFC 9112 section 6.3, strictly: any ambiguity is a 400 and the connection closes.
fn framing(headers: &[httparse::Header<'_>], version: Version) -> Result<Framing, ParseError> {
    let mut transfer_codings = 0usize;
    let mut chunked_last = false;
    let mut saw_te = false;
    for value in headers::values(headers, "transfer-encoding") {
        saw_te = true;
        for coding in tokens(value) {
            transfer_codings += 1;
            if coding.eq_ignore_ascii_case(b"chunked") {
                if chunked_last {
                    return Err(ParseError::BadRequest("chunked applied twice"));
                }
                chunked_last = true;
            } else if coding.is_empty() {
                return Err(ParseError::BadRequest("empty transfer coding"));
            } else if chunked_last {
                return Err(ParseError::BadRequest(
                    "chunked is not the final transfer coding",
                ));
            } else if !headers::is_token(coding) {
                return Err(ParseError::BadRequest("malformed transfer coding"));
            } else {
                // A well-formed coding we do not implement (gzip, compress, ...).
                chunked_last = false;
            }
        }
    }
    let mut lengths = headers::values(headers, "content-length");
    let length = lengths.next();
    if lengths.next().is_some() {
        return Err(ParseError::BadRequest("more than one Content-Length"));
    }
    if saw_te {
        if version == Version::Http10 {
            return Err(ParseError::BadRequest(
                "Transfer-Encoding in an HTTP/1.0 request",
            ));
        }
        if length.is_some() {
            return Err(ParseError::BadRequest(
                "both Transfer-Encoding and Content-Length",
            ));
        }
        if transfer_codings == 0 {
            return Err(ParseError::BadRequest("empty Transfer-Encoding"));
        }
        if !chunked_last {
            return Err(ParseError::BadRequest(
                "final transfer coding is not chunked",
            ));
        }
        if transfer_codings > 1 {
            return Err(ParseError::NotImplemented);
        }
        return Ok(Framing::Chunked);
    }
    match length {
        None => Ok(Framing::None),
        Some(value) => match parse_content_length(value) {
            Some(0) => Ok(Framing::None),
            Some(n) => Ok(Framing::Length(n)),
            None => Err(ParseError::BadRequest("invalid Content-Length")),
        },
    }
}

/// `1*DIGIT`, at most 18 digits so it always fits a u64; no sign, no spaces, no list.
pub fn parse_content_length(value: &[u8]) -> Option<u64> {
    if value.is_empty() || value.len() > 18 || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    value.iter().try_fold(0u64, |acc, &d| {
        acc.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(raw: &[u8]) -> Result<Option<(Framing, bool, usize)>, ParseError> {
        let mut storage = header_storage();
        parse(raw, &mut storage, &Limits::default())
            .map(|o| o.map(|h| (h.framing, h.keep_alive, h.head_len)))
    }

    fn status(raw: &[u8]) -> u16 {
        run(raw).map(|_| 200).unwrap_or_else(|e| e.status().code())
    }

    #[test]
    fn simple_get() {
        let raw = b"GET /x?y HTTP/1.1\r\nHost: example.com\r\n\r\n";
        let mut storage = header_storage();
        let head = parse(raw, &mut storage, &Limits::default())
            .unwrap()
            .unwrap();
        assert_eq!(head.method, "GET");
        assert_eq!(head.target, b"/x?y");
        assert_eq!(head.form, TargetForm::Origin);
        assert_eq!(head.host, b"example.com");
        assert_eq!(head.head_len, raw.len());
        assert!(head.keep_alive);
        assert_eq!(head.framing, Framing::None);
    }

    #[test]
    fn partial_heads_need_more() {
        assert_eq!(run(b"GET / HTTP/1.1\r\nHost: a\r\n").unwrap(), None);
        assert_eq!(run(b"GE").unwrap(), None);
        assert_eq!(run(b"").unwrap(), None);
    }

    #[test]
    fn leading_empty_line_is_ignored() {
        assert!(run(b"\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n")
            .unwrap()
            .is_some());
    }

    #[test]
    fn host_rules() {
        assert_eq!(status(b"GET / HTTP/1.1\r\n\r\n"), 400);
        assert_eq!(status(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"), 400);
        assert_eq!(status(b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n"), 400);
        assert_eq!(status(b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n"), 400);
        assert_eq!(status(b"GET / HTTP/1.0\r\n\r\n"), 200);
        assert_eq!(status(b"GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n"), 200);
    }

    #[test]
    fn keep_alive_defaults() {
        assert!(
            run(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
                .unwrap()
                .unwrap()
                .1
        );
        assert!(
            !run(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
                .unwrap()
                .unwrap()
                .1
        );
        assert!(
            !run(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: x, Close\r\n\r\n")
                .unwrap()
                .unwrap()
                .1
        );
        assert!(!run(b"GET / HTTP/1.0\r\n\r\n").unwrap().unwrap().1);
        assert!(
            run(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
                .unwrap()
                .unwrap()
                .1
        );
    }

    #[test]
    fn smuggling_shapes_are_rejected() {
        let cases: &[&[u8]] = &[
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x5\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked;x=1\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \"chunked\"\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n\r\n",
            b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: a\r\nX: y\r\n folded\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: a\rX: y\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n",
        ];
        for raw in cases {
            assert_eq!(status(raw), 400, "{}", String::from_utf8_lossy(raw));
        }
    }

    #[test]
    fn unknown_coding_is_not_implemented() {
        assert_eq!(
            status(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"),
            501
        );
    }

    #[test]
    fn chunked_and_length_framing() {
        let te = run(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n");
        assert_eq!(te.unwrap().unwrap().0, Framing::Chunked);
        let cl = run(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 42\r\n\r\n");
        assert_eq!(cl.unwrap().unwrap().0, Framing::Length(42));
        let zero = run(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n");
        assert_eq!(zero.unwrap().unwrap().0, Framing::None);
    }

    #[test]
    fn limits_give_431_and_414() {
        let long_target = format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "a".repeat(5000));
        assert_eq!(status(long_target.as_bytes()), 414);
        let partial_target = format!("GET /{}", "a".repeat(5000));
        assert_eq!(status(partial_target.as_bytes()), 414);
        let partial_target = format!("\r\nGET /{} HTTP/1.", "a".repeat(5000));
        assert_eq!(status(partial_target.as_bytes()), 414);
        let big = format!(
            "GET / HTTP/1.1\r\nHost: a\r\nX: {}\r\n\r\n",
            "b".repeat(9000)
        );
        assert_eq!(status(big.as_bytes()), 431);
        let partial_big = format!("GET / HTTP/1.1\r\nHost: a\r\nX: {}", "b".repeat(9000));
        assert_eq!(status(partial_big.as_bytes()), 431);
        let mut many = String::from("GET / HTTP/1.1\r\nHost: a\r\n");
        for i in 0..70 {
            many.push_str(&format!("X-{i}: v\r\n"));
        }
        many.push_str("\r\n");
        assert_eq!(status(many.as_bytes()), 431);
    }

    #[test]
    fn verdict_does_not_depend_on_read_splits() {
        // Found by fuzz/fuzz_targets/request_head.rs: a long method used to make the partial
        // request line a 414 while the same head read in one piece was accepted.
        let raw = format!("{} / HTTP/1.1\r\nHost: a\r\n\r\n", "A".repeat(4200));
        assert!(run(raw.as_bytes()).unwrap().is_some());
        for cut in 1..raw.len() {
            assert_eq!(
                run(&raw.as_bytes()[..cut]),
                Ok(None),
                "prefix of {cut} bytes"
            );
        }
    }

    #[test]
    fn versions_and_forms() {
        assert_eq!(status(b"GET / HTTP/2.0\r\nHost: a\r\n\r\n"), 505);
        assert_eq!(status(b"GET / HTTX/1.1\r\nHost: a\r\n\r\n"), 400);
        assert_eq!(status(b"GET * HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
        assert_eq!(status(b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n"), 200);
        assert_eq!(status(b"GET http://a/x HTTP/1.1\r\nHost: a\r\n\r\n"), 200);
        assert_eq!(
            status(b"GET HTTPS://a:8443?q HTTP/1.1\r\nHost: a\r\n\r\n"),
            200
        );
        assert_eq!(
            status(b"GET http://[::1]:80/ HTTP/1.1\r\nHost: a\r\n\r\n"),
            200
        );
        // Found by tests/adversarial (rl-absolute-*): empty hosts and userinfo.
        assert_eq!(status(b"GET http:///x HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
        assert_eq!(status(b"GET http://?x HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
        assert_eq!(status(b"GET http://:80/x HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
        assert_eq!(
            status(b"GET http://u@evil/ HTTP/1.1\r\nHost: a\r\n\r\n"),
            400
        );
        assert_eq!(status(b"GET http://a#f HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
        assert_eq!(status(b"GET a/x HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
        assert_eq!(status(b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
        assert_eq!(status(b"G@T / HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
    }

    #[test]
    fn expect_handling() {
        let mut storage = header_storage();
        let raw = b"PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n";
        let head = parse(raw, &mut storage, &Limits::default())
            .unwrap()
            .unwrap();
        assert!(head.expect_continue);
        assert_eq!(
            status(b"GET / HTTP/1.1\r\nHost: a\r\nExpect: teapot\r\n\r\n"),
            417
        );
    }

    #[test]
    fn content_length_parser() {
        assert_eq!(parse_content_length(b"0"), Some(0));
        assert_eq!(parse_content_length(b"0012"), Some(12));
        assert_eq!(parse_content_length(b""), None);
        assert_eq!(parse_content_length(b"1 2"), None);
        assert_eq!(parse_content_length(b"-1"), None);
        assert_eq!(parse_content_length(b"9999999999999999999"), None);
    }
}
