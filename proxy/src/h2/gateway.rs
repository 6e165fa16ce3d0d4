//! The boundary between an HTTP/2 stream and the proxy's HTTP/1.1 exchange machinery: a
//! stream's decoded request header list becomes an HTTP/1.1 request head (which then goes
//! through the very parser, plan, routing, normalisation and forwarding policy an HTTP/1.1
//! request does), and the HTTP/1.1 response head the exchange produces becomes an HPACK
//! header block. Pure; the rules are RFC 9113 section 8.
//!
//! Request bodies: a `content-length` is kept (and the DATA frames are checked against it by
//! the session); without one, a request whose HEADERS did not end the stream is framed
//! `transfer-encoding: chunked` towards the plan, and the body ends when the stream does.

use common::buffer::Buffer;
use common::http::request::parse_content_length;

use super::hpack::{self, HeaderList};
use crate::framing::{self, In};

/// Why a request header list is malformed (RFC 9113 section 8.1.1): a stream error of type
/// PROTOCOL_ERROR.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Malformed(pub &'static str);

/// What the session needs to know of a request besides its head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestInfo {
    /// The declared body length, which the DATA frames must match.
    pub content_length: Option<u64>,
}

/// Header fields that are meaningful only on one HTTP/1.1 connection (section 8.2.2).
const CONNECTION_SPECIFIC: [&[u8]; 5] = [
    b"connection",
    b"proxy-connection",
    b"keep-alive",
    b"transfer-encoding",
    b"upgrade",
];

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Section 8.2.1: lowercase token characters only.
fn valid_name(name: &[u8]) -> bool {
    !name.is_empty() && name.iter().all(|&b| is_tchar(b) && !b.is_ascii_uppercase())
}

/// Section 8.2.1: no NUL, CR or LF, no leading or trailing whitespace.
fn valid_value(value: &[u8]) -> bool {
    let edge = |b: Option<&u8>| matches!(b, Some(b' ' | b'\t'));
    !value.iter().any(|&b| b == 0 || b == b'\r' || b == b'\n')
        && !edge(value.first())
        && !edge(value.last())
}

#[derive(Default)]
struct Pseudo<'a> {
    method: Option<&'a [u8]>,
    scheme: Option<&'a [u8]>,
    path: Option<&'a [u8]>,
    authority: Option<&'a [u8]>,
}

fn set<'a>(slot: &mut Option<&'a [u8]>, value: &'a [u8]) -> Result<(), Malformed> {
    if slot.replace(value).is_some() {
        return Err(Malformed("pseudo-header field repeated"));
    }
    Ok(())
}

/// Writes the HTTP/1.1 request head for `fields` into `out`. `end_stream`: the HEADERS frame
/// ended the stream (no body follows).
pub fn request_head(
    fields: &HeaderList,
    end_stream: bool,
    out: &mut Buffer,
) -> Result<RequestInfo, Malformed> {
    let mut pseudo = Pseudo::default();
    let mut regular = false;
    let mut host = None;
    let mut content_length = None;
    for (name, value) in fields.iter() {
        if let Some(p) = name.strip_prefix(b":") {
            // Section 8.3: pseudo-header fields come first, only the defined ones.
            if regular {
                return Err(Malformed("pseudo-header field after a regular field"));
            }
            match p {
                b"method" => set(&mut pseudo.method, value)?,
                b"scheme" => set(&mut pseudo.scheme, value)?,
                b"path" => set(&mut pseudo.path, value)?,
                b"authority" => set(&mut pseudo.authority, value)?,
                _ => return Err(Malformed("unknown or response pseudo-header field")),
            }
            continue;
        }
        regular = true;
        if !valid_name(name) {
            return Err(Malformed("invalid or uppercase field name"));
        }
        if !valid_value(value) {
            return Err(Malformed("invalid field value"));
        }
        if CONNECTION_SPECIFIC.contains(&name) {
            return Err(Malformed("connection-specific header field"));
        }
        match name {
            b"te" if value != b"trailers" => return Err(Malformed("te other than trailers")),
            b"host" => host = Some(value),
            b"content-length" => {
                let n = parse_content_length(value).ok_or(Malformed("invalid content-length"))?;
                if content_length.is_some_and(|m| m != n) {
                    return Err(Malformed("conflicting content-length"));
                }
                content_length = Some(n);
            }
            _ => {}
        }
    }
    for v in [pseudo.method, pseudo.scheme, pseudo.path, pseudo.authority] {
        // No white space at all: they become the request line and Host.
        if v.is_some_and(|v| !valid_value(v) || v.contains(&b' ') || v.contains(&b'\t')) {
            return Err(Malformed("invalid pseudo-header value"));
        }
    }
    let method = pseudo.method.ok_or(Malformed(":method missing"))?;
    let authority = match (pseudo.authority, host) {
        // Section 8.3.1: a Host that names another entity than :authority is malformed.
        (Some(a), Some(h)) if a != h => return Err(Malformed("host differs from :authority")),
        (Some(a), _) => Some(a),
        (None, h) => h,
    };
    let target = if method == b"CONNECT" {
        // Section 8.5: CONNECT carries only :authority (extended CONNECT is not enabled).
        if pseudo.scheme.is_some() || pseudo.path.is_some() {
            return Err(Malformed("CONNECT with :scheme or :path"));
        }
        authority.ok_or(Malformed("CONNECT without :authority"))?
    } else {
        if pseudo.scheme.is_none() {
            return Err(Malformed(":scheme missing"));
        }
        let path = pseudo.path.ok_or(Malformed(":path missing"))?;
        if path.is_empty() {
            return Err(Malformed("empty :path"));
        }
        path
    };
    if end_stream && content_length.is_some_and(|n| n > 0) {
        return Err(Malformed("content-length without a body"));
    }
    out.push(method);
    out.push(b" ");
    out.push(target);
    out.push(b" HTTP/1.1\r\n");
    if let Some(a) = authority {
        out.push(b"host: ");
        out.push(a);
        out.push(b"\r\n");
    }
    let mut cookie = false;
    for (name, value) in fields.iter() {
        if name.starts_with(b":") || name == b"host" || name == b"cookie" {
            cookie |= name == b"cookie";
            continue;
        }
        out.push(name);
        out.push(b": ");
        out.push(value);
        out.push(b"\r\n");
    }
    if cookie {
        // Section 8.2.3: cookie crumbs are joined with "; " into one field for HTTP/1.1.
        out.push(b"cookie: ");
        let mut first = true;
        for (_, value) in fields.iter().filter(|(n, _)| *n == b"cookie") {
            if !first {
                out.push(b"; ");
            }
            out.push(value);
            first = false;
        }
        out.push(b"\r\n");
    }
    if !end_stream && content_length.is_none() {
        out.push(b"transfer-encoding: chunked\r\n");
    }
    out.push(b"\r\n");
    Ok(RequestInfo { content_length })
}

/// A response head turned into a header block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResponseHead {
    pub status: u16,
    /// How the body that follows the head in the HTTP/1.1 bytes is delimited.
    pub body: In,
    /// Bytes of the HTTP/1.1 head.
    pub head_len: usize,
}

/// Header fields the proxy's own HTTP/1.1 response may carry that HTTP/2 forbids.
const DROPPED: [&[u8]; 6] = [
    b"connection",
    b"proxy-connection",
    b"keep-alive",
    b"transfer-encoding",
    b"upgrade",
    b"te",
];

/// Converts the HTTP/1.1 response head at the front of `input` (written by the proxy: the
/// exchange's rewritten upstream head or a page of its own) into an HPACK block in `block`.
/// `Ok(None)`: the head is not complete yet.
pub fn response_head(
    input: &[u8],
    head_request: bool,
    block: &mut Vec<u8>,
) -> Result<Option<ResponseHead>, &'static str> {
    // The exchange passes on at most MAX_RESPONSE_HEADERS of the upstream's and adds a few.
    let mut storage = [httparse::EMPTY_HEADER; crate::response::MAX_RESPONSE_HEADERS + 16];
    let mut res = httparse::Response::new(&mut storage);
    let head_len = match res.parse(input) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err("unparsable response head"),
    };
    let status = res.code.ok_or("no status")?;
    let framing = framing::response_framing(status, head_request, res.headers)?;
    block.clear();
    hpack::encode_status(block, status);
    // Names are lowercased on the stack; a longer one (rare) on the heap.
    let mut small = [0u8; 64];
    let mut large = Vec::new();
    for h in res.headers.iter() {
        let name = h.name.as_bytes();
        let lower: &mut [u8] = if name.len() <= small.len() {
            &mut small[..name.len()]
        } else {
            large.resize(name.len(), 0);
            &mut large[..]
        };
        lower.copy_from_slice(name);
        lower.make_ascii_lowercase();
        if DROPPED.contains(&&*lower) {
            continue;
        }
        hpack::encode_field(block, lower, h.value);
    }
    let body = match framing.body {
        // Section 8.1: a HEAD response, 204 and 304 carry no content.
        _ if head_request || status == 204 || status == 304 => In::None,
        other => other,
    };
    Ok(Some(ResponseHead {
        status,
        body,
        head_len,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(fields: &[(&str, &str)]) -> HeaderList {
        let mut block = Vec::new();
        for (n, v) in fields {
            hpack::encode_field(&mut block, n.as_bytes(), v.as_bytes());
        }
        let mut l = HeaderList::default();
        hpack::Decoder::new(4096)
            .decode(&block, &mut l, 1 << 20)
            .unwrap();
        l
    }

    fn head(fields: &[(&str, &str)], end: bool) -> Result<String, Malformed> {
        let mut out = Buffer::new(1 << 16);
        request_head(&list(fields), end, &mut out)?;
        Ok(String::from_utf8(out.filled().to_vec()).unwrap())
    }

    const GET: [(&str, &str); 4] = [
        (":method", "GET"),
        (":scheme", "https"),
        (":path", "/a/x?y"),
        (":authority", "example.com"),
    ];

    #[test]
    fn a_get_becomes_an_http11_head() {
        let mut f = GET.to_vec();
        f.extend([("cookie", "a=1"), ("accept", "*/*"), ("cookie", "b=2")]);
        assert_eq!(
            head(&f, true).unwrap(),
            "GET /a/x?y HTTP/1.1\r\nhost: example.com\r\naccept: */*\r\ncookie: a=1; b=2\r\n\r\n"
        );
        let mut post = GET.to_vec();
        post[0].1 = "POST";
        assert!(head(&post, false)
            .unwrap()
            .ends_with("transfer-encoding: chunked\r\n\r\n"));
        post.push(("content-length", "5"));
        assert!(head(&post, false)
            .unwrap()
            .ends_with("content-length: 5\r\n\r\n"));
        assert!(head(&post, true).is_err());
    }

    #[test]
    fn malformed_requests() {
        let bad: &[&[(&str, &str)]] = &[
            &[(":method", "GET"), (":path", "/")],
            &[(":method", "GET"), (":scheme", "https")],
            &[(":method", "GET"), (":scheme", "https"), (":path", "")],
            &[(":scheme", "https"), (":path", "/")],
            &[
                (":method", "GET"),
                (":method", "GET"),
                (":scheme", "https"),
                (":path", "/"),
            ],
            &[
                (":method", "GET"),
                (":scheme", "https"),
                (":path", "/"),
                (":status", "200"),
            ],
            &[
                (":method", "GET"),
                (":scheme", "https"),
                ("accept", "x"),
                (":path", "/"),
            ],
            &[
                (":method", "GET"),
                (":scheme", "https"),
                (":path", "/"),
                ("Accept", "x"),
            ],
            &[
                (":method", "GET"),
                (":scheme", "https"),
                (":path", "/"),
                ("connection", "x"),
            ],
            &[
                (":method", "GET"),
                (":scheme", "https"),
                (":path", "/"),
                ("te", "gzip"),
            ],
            &[
                (":method", "GET"),
                (":scheme", "https"),
                (":path", "/"),
                ("x", "a\r\nb"),
            ],
            &[
                (":method", "GET"),
                (":scheme", "https"),
                (":path", "/"),
                ("x", " a"),
            ],
            &[(":method", "GET"), (":scheme", "https"), (":path", "/a b")],
            &[
                (":method", "CONNECT"),
                (":authority", "a:1"),
                (":path", "/"),
            ],
            &[
                (":method", "GET"),
                (":scheme", "https"),
                (":path", "/"),
                (":authority", "a"),
                ("host", "b"),
            ],
            &[
                (":method", "GET"),
                (":scheme", "https"),
                (":path", "/"),
                ("content-length", "x"),
            ],
        ];
        for fields in bad {
            assert!(head(fields, true).is_err(), "{fields:?}");
        }
        let mut te = GET.to_vec();
        te.push(("te", "trailers"));
        assert!(head(&te, true).is_ok());
    }

    #[test]
    fn responses_lose_connection_fields() {
        let mut block = Vec::new();
        let input = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
        let h = response_head(input, false, &mut block).unwrap().unwrap();
        assert_eq!((h.status, h.body), (200, In::Chunked));
        let mut l = HeaderList::default();
        hpack::Decoder::new(0)
            .decode(&block, &mut l, 1 << 20)
            .unwrap();
        let names: Vec<_> = l.iter().map(|(n, _)| n.to_vec()).collect();
        assert_eq!(names, [b":status".to_vec(), b"content-type".to_vec()]);
        let head_only = response_head(
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",
            true,
            &mut block,
        );
        assert_eq!(head_only.unwrap().unwrap().body, In::None);
        assert_eq!(
            response_head(b"HTTP/1.1 200 OK\r\n", false, &mut block),
            Ok(None)
        );
    }
}
