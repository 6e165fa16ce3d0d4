//! Rewriting message heads as they cross the proxy: the fields of the request sent upstream
//! and the response head sent to the client.
//!
//! Policy (documented in `--help` and the README too):
//! - Hop-by-hop fields are removed both ways: `Connection` and every field it names,
//!   `Keep-Alive`, `TE`, `Trailer`, `Transfer-Encoding`, `Content-Length` (the framing is
//!   rewritten from scratch), `Proxy-*`, and `Upgrade` unless this is a WebSocket upgrade.
//!   `Expect` is answered by the proxy itself and not forwarded; `Host` is written by the
//!   caller (see `plan`).
//! - Forwarding fields (`Forwarded`, `X-Forwarded-*`, `X-Real-IP`, ...) say who the client is.
//!   From a peer that is not a trusted proxy they are lies until proven otherwise: all are
//!   removed and set afresh from the connection (`X-Forwarded-For` is the peer address alone).
//!   From a trusted proxy (`--trusted-proxies`, the load balancer case) they are kept, the
//!   peer is appended to `X-Forwarded-For`, and the ones it did not send are set. Spellings
//!   with `_` (`X_Forwarded_For`) are always removed: CGI, WSGI and PHP map `-` and `_` to the
//!   same variable, so such a field would overwrite or shadow the real one upstream.
//! - `Via` gets `1.1 proxy` appended.
//! - Responses: upstream `Server` and `Date` are kept (a `Date` is added when missing); `Via` is
//!   appended to; `Strict-Transport-Security` is added on HTTPS unless the upstream set one.
//!
//! Pure functions writing into a buffer; no I/O.

use std::io::Write as _;
use std::net::IpAddr;

use common::buffer::{Buffer, Sink};
use common::http::headers::{self, has_token};
use common::http::response::format_u64;

use crate::framing::Out;

/// The name this proxy uses in `Via` and `Server`.
pub const NAME: &str = "proxy";

/// Fields never copied from one side to the other.
fn is_hop_by_hop(name: &str) -> bool {
    const FIELDS: [&str; 6] = [
        "connection",
        "keep-alive",
        "te",
        "trailer",
        "transfer-encoding",
        "content-length",
    ];
    FIELDS.iter().any(|f| name.eq_ignore_ascii_case(f))
        || name
            .get(..6)
            .is_some_and(|p| p.eq_ignore_ascii_case("proxy-"))
}

/// Fields that describe the client and the original request, in their `-` spelling.
pub const FORWARDING: [&str; 11] = [
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
    "x-forwarded-port",
    "x-forwarded-prefix",
    "x-forwarded-scheme",
    "x-forwarded-ssl",
    "x-real-ip",
    "x-client-ip",
    "true-client-ip",
];

/// Whether `name` is a forwarding field: `Some(true)` in its canonical `-` spelling,
/// `Some(false)` when spelled with `_`, `None` when it is not one.
fn forwarding_field(name: &str) -> Option<bool> {
    let matches = |f: &str| {
        f.len() == name.len()
            && f.bytes()
                .zip(name.bytes())
                .all(|(a, b)| a == b.to_ascii_lowercase() || (a == b'-' && b == b'_'))
    };
    FORWARDING
        .iter()
        .any(|f| matches(f))
        .then(|| !name.contains('_'))
}

/// Whether `name` is listed in a `Connection` header (and must be dropped for that reason).
fn named_by_connection(hs: &[httparse::Header], name: &str) -> bool {
    has_token(headers::values(hs, "connection"), name)
}

/// Whether a request asks for a WebSocket upgrade (`Connection: upgrade`, `Upgrade: websocket`).
pub fn is_websocket(hs: &[httparse::Header]) -> bool {
    has_token(headers::values(hs, "connection"), "upgrade")
        && has_token(headers::values(hs, "upgrade"), "websocket")
}

/// What is needed to write the upstream request fields besides the client's head.
pub struct RequestRewrite<'a> {
    /// The host the client asked for (absolute-form authority, else `Host`); may be empty.
    pub client_host: &'a [u8],
    pub client_ip: IpAddr,
    /// The peer is a trusted proxy: its forwarding fields are kept and appended to.
    pub trusted: bool,
    pub https: bool,
    pub http10: bool,
    pub body: Out,
    pub websocket: bool,
}

/// Writes the request's header fields to send upstream, each line ending in CRLF, without the
/// request line, `Host` and the blank line that ends the head.
pub fn write_request_fields(out: &mut impl Sink, hs: &[httparse::Header], r: &RequestRewrite) {
    for h in hs {
        let n = h.name;
        let keep_forwarding = match forwarding_field(n) {
            None => true,
            Some(canonical) => r.trusted && canonical && !n.eq_ignore_ascii_case("x-forwarded-for"),
        };
        if !keep_forwarding
            || is_hop_by_hop(n)
            || n.eq_ignore_ascii_case("host")
            || n.eq_ignore_ascii_case("upgrade")
            || n.eq_ignore_ascii_case("expect")
            || n.eq_ignore_ascii_case("via")
            || named_by_connection(hs, n)
        {
            continue;
        }
        push_field(out, n.as_bytes(), h.value);
    }
    let mut ip = [0u8; 48];
    let ip = {
        let mut cursor = std::io::Cursor::new(&mut ip[..]);
        let _ = write!(cursor, "{}", r.client_ip.to_canonical());
        let len = cursor.position() as usize;
        &ip[..len]
    };
    out.put(b"X-Forwarded-For: ");
    if r.trusted && !named_by_connection(hs, "x-forwarded-for") {
        for v in headers::values(hs, "x-forwarded-for").filter(|v| !headers::trim(v).is_empty()) {
            out.put(headers::trim(v));
            out.put(b", ");
        }
    }
    out.put(ip);
    out.put(b"\r\n");
    // A trusted proxy's own value stands (it was copied above); anyone else's was removed.
    let sent = |name: &str| {
        r.trusted && headers::find(hs, name).is_some() && !named_by_connection(hs, name)
    };
    if !sent("x-forwarded-proto") {
        out.put(if r.https {
            &b"X-Forwarded-Proto: https\r\n"[..]
        } else {
            &b"X-Forwarded-Proto: http\r\n"[..]
        });
    }
    if !sent("x-forwarded-host") && !r.client_host.is_empty() {
        push_field(out, b"X-Forwarded-Host", r.client_host);
    }
    if !sent("x-real-ip") {
        push_field(out, b"X-Real-IP", ip);
    }
    push_via(out, hs, if r.http10 { b"1.0 " } else { b"1.1 " });
    match r.body {
        Out::Length(n) => {
            let mut digits = [0u8; 20];
            out.put(b"Content-Length: ");
            out.put(format_u64(n, &mut digits));
            out.put(b"\r\n");
        }
        Out::Chunked => out.put(b"Transfer-Encoding: chunked\r\n"),
        Out::None | Out::Close => {}
    }
    if r.websocket {
        out.put(b"Connection: upgrade\r\n");
        for v in headers::values(hs, "upgrade") {
            push_field(out, b"Upgrade", v);
        }
    }
}

fn push_field(out: &mut impl Sink, name: &[u8], value: &[u8]) {
    out.put(name);
    out.put(b": ");
    out.put(value);
    out.put(b"\r\n");
}

/// `Via: <previous values>, 1.1 proxy`. Previous values are dropped when the sender's
/// `Connection` names `Via`: it is then hop-by-hop like any field named there (RFC 9110
/// section 7.6.1), and the next hop must not see it.
fn push_via(out: &mut impl Sink, hs: &[httparse::Header], protocol: &[u8]) {
    out.put(b"Via: ");
    if !named_by_connection(hs, "via") {
        for v in headers::values(hs, "via").filter(|v| !headers::trim(v).is_empty()) {
            out.put(headers::trim(v));
            out.put(b", ");
        }
    }
    out.put(protocol);
    out.put(NAME.as_bytes());
    out.put(b"\r\n");
}

/// What is needed to write the client response head besides the upstream's head.
pub struct ResponseRewrite<'a> {
    pub status: u16,
    pub reason: &'a [u8],
    /// Upstream spoke HTTP/1.0.
    pub upstream_http10: bool,
    pub body: Out,
    /// A `Content-Length` to pass through for bodiless responses (HEAD, 304).
    pub passthrough_length: Option<u64>,
    pub keep_alive: bool,
    pub client_http10: bool,
    pub date: &'a [u8],
    /// `Strict-Transport-Security` value to add (HTTPS only).
    pub hsts: Option<&'a [u8]>,
    /// A 101 answering a WebSocket upgrade: keep `Upgrade`, send `Connection: upgrade`.
    pub upgrade: bool,
}

/// Writes the response head to send to the client.
pub fn write_response_head(out: &mut Buffer, hs: &[httparse::Header], r: &ResponseRewrite) {
    let mut digits = [0u8; 20];
    out.push(b"HTTP/1.1 ");
    out.push(format_u64(u64::from(r.status), &mut digits));
    out.push(b" ");
    out.push(r.reason);
    out.push(b"\r\n");
    let mut has_date = false;
    let mut has_hsts = false;
    for h in hs {
        let n = h.name;
        if is_hop_by_hop(n)
            || n.eq_ignore_ascii_case("via")
            || (n.eq_ignore_ascii_case("upgrade") && !r.upgrade)
            || (named_by_connection(hs, n) && !(r.upgrade && n.eq_ignore_ascii_case("upgrade")))
        {
            continue;
        }
        has_date |= n.eq_ignore_ascii_case("date");
        has_hsts |= n.eq_ignore_ascii_case("strict-transport-security");
        push_field(out, n.as_bytes(), h.value);
    }
    if !has_date {
        push_field(out, b"Date", r.date);
    }
    push_via(out, hs, if r.upstream_http10 { b"1.0 " } else { b"1.1 " });
    if let (Some(v), false) = (r.hsts, has_hsts) {
        push_field(out, b"Strict-Transport-Security", v);
    }
    match (r.body, r.passthrough_length) {
        (Out::Length(n), _) | (Out::None, Some(n)) => {
            out.push(b"Content-Length: ");
            out.push(format_u64(n, &mut digits));
            out.push(b"\r\n");
        }
        (Out::Chunked, _) => out.push(b"Transfer-Encoding: chunked\r\n"),
        _ => {}
    }
    if r.upgrade {
        out.push(b"Connection: upgrade\r\n");
    } else if !r.keep_alive {
        out.push(b"Connection: close\r\n");
    } else if r.client_http10 {
        out.push(b"Connection: keep-alive\r\n");
    }
    out.push(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hs<'a>(pairs: &'a [(&'a str, &'a str)]) -> Vec<httparse::Header<'a>> {
        pairs
            .iter()
            .map(|(n, v)| httparse::Header {
                name: n,
                value: v.as_bytes(),
            })
            .collect()
    }

    fn text(b: &Buffer) -> String {
        String::from_utf8(b.filled().to_vec()).unwrap()
    }

    fn request_as(pairs: &[(&str, &str)], body: Out, websocket: bool, trusted: bool) -> String {
        let mut out = Vec::new();
        let r = RequestRewrite {
            client_host: b"example.com",
            client_ip: "192.0.2.7".parse().unwrap(),
            trusted,
            https: true,
            http10: false,
            body,
            websocket,
        };
        write_request_fields(&mut out, &hs(pairs), &r);
        String::from_utf8(out).unwrap()
    }

    fn request(pairs: &[(&str, &str)], body: Out, websocket: bool) -> String {
        request_as(pairs, body, websocket, false)
    }

    const FORGED: [(&str, &str); 12] = [
        ("X-Forwarded-For", "203.0.113.1"),
        ("X-Forwarded-Proto", "http"),
        ("X-Forwarded-Host", "evil"),
        ("Forwarded", "for=1.1.1.1"),
        ("X-Real-IP", "1.1.1.1"),
        ("X_Forwarded_For", "1.1.1.1"),
        ("x_real_ip", "1.1.1.1"),
        ("X-Forwarded-Port", "1"),
        ("X-Forwarded-Prefix", "/evil"),
        ("True-Client-IP", "1.1.1.1"),
        ("X-Client-IP", "1.1.1.1"),
        ("Accept", "*/*"),
    ];

    #[test]
    fn request_hop_by_hop_removed_and_forwarding_set_afresh() {
        let mut pairs = vec![
            ("Host", "example.com"),
            ("Connection", "keep-alive, X-Secret, Host"),
            ("X-Secret", "1"),
            ("Keep-Alive", "timeout=5"),
            ("TE", "trailers"),
            ("Trailer", "X"),
            ("Transfer-Encoding", "chunked"),
            ("Proxy-Authorization", "x"),
            ("Proxy-Connection", "keep-alive"),
            ("Upgrade", "h2c"),
            ("Expect", "100-continue"),
            ("Via", "1.0 other"),
        ];
        pairs.extend(FORGED);
        let t = request(&pairs, Out::Chunked, false);
        assert_eq!(
            t,
            "Accept: */*\r\n\
             X-Forwarded-For: 192.0.2.7\r\nX-Forwarded-Proto: https\r\n\
             X-Forwarded-Host: example.com\r\nX-Real-IP: 192.0.2.7\r\n\
             Via: 1.0 other, 1.1 proxy\r\nTransfer-Encoding: chunked\r\n"
        );
    }

    #[test]
    fn trusted_proxies_keep_and_append() {
        let t = request_as(&FORGED, Out::None, false, true);
        assert!(
            t.contains("X-Forwarded-For: 203.0.113.1, 192.0.2.7\r\n"),
            "{t}"
        );
        assert!(t.contains("X-Forwarded-Proto: http\r\n") && !t.contains("Proto: https"));
        assert!(t.contains("X-Forwarded-Host: evil\r\n") && !t.contains("Host: example"));
        assert!(t.contains("Forwarded: for=1.1.1.1\r\n"));
        assert!(t.contains("X-Real-IP: 1.1.1.1\r\n") && !t.contains("192.0.2.7\r\nX-Real"));
        assert!(
            !t.contains("X_Forwarded_For") && !t.contains("x_real_ip"),
            "{t}"
        );
        // A trusted proxy that sent nothing gets the fields set from the connection.
        let bare = request_as(&[("Accept", "*/*")], Out::None, false, true);
        assert!(bare.contains("X-Forwarded-For: 192.0.2.7\r\nX-Forwarded-Proto: https\r\n"));
        assert!(bare.contains("X-Real-IP: 192.0.2.7\r\n"));
    }

    #[test]
    fn request_websocket_keeps_upgrade() {
        let pairs = [
            ("Host", "h"),
            ("Connection", "Upgrade"),
            ("Upgrade", "websocket"),
            ("Sec-WebSocket-Key", "k"),
        ];
        assert!(is_websocket(&hs(&pairs)));
        let t = request(&pairs, Out::None, true);
        assert!(t.contains("Sec-WebSocket-Key: k\r\n"));
        assert!(t.ends_with("Connection: upgrade\r\nUpgrade: websocket\r\n"));
        assert!(t.contains("X-Forwarded-For: 192.0.2.7\r\n"));
        // Found by fuzz/fuzz_targets/forward.rs: a Via the client made hop-by-hop was
        // passed on.
        let t = request(
            &[("Connection", "Via"), ("Via", "1.1 internal")],
            Out::None,
            false,
        );
        assert!(t.contains("Via: 1.1 proxy\r\n") && !t.contains("internal"));
        assert!(!is_websocket(&hs(&[
            ("Connection", "upgrade"),
            ("Upgrade", "h2c")
        ])));
    }

    #[test]
    fn request_lengths() {
        assert!(request(&[("Content-Length", "9")], Out::Length(5), false)
            .contains("\r\nContent-Length: 5\r\n"));
        assert!(!request(&[("Content-Length", "9")], Out::None, false).contains("Content-Length"));
    }

    fn response(pairs: &[(&str, &str)], r: ResponseRewrite) -> String {
        let mut out = Buffer::new(4096);
        write_response_head(&mut out, &hs(pairs), &r);
        text(&out)
    }

    fn rewrite(body: Out, keep_alive: bool) -> ResponseRewrite<'static> {
        ResponseRewrite {
            status: 200,
            reason: b"OK",
            upstream_http10: false,
            body,
            passthrough_length: None,
            keep_alive,
            client_http10: false,
            date: b"Sun, 06 Nov 1994 08:49:37 GMT",
            hsts: Some(b"max-age=1"),
            upgrade: false,
        }
    }

    #[test]
    fn response_rewrite() {
        let t = response(
            &[
                ("Server", "up"),
                ("Connection", "close, X-Hop"),
                ("X-Hop", "1"),
                ("Transfer-Encoding", "chunked"),
                ("Content-Type", "text/plain"),
                ("Upgrade", "h2c"),
            ],
            rewrite(Out::Chunked, false),
        );
        assert_eq!(
            t,
            "HTTP/1.1 200 OK\r\nServer: up\r\nContent-Type: text/plain\r\n\
             Date: Sun, 06 Nov 1994 08:49:37 GMT\r\nVia: 1.1 proxy\r\n\
             Strict-Transport-Security: max-age=1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        );
        let kept = response(
            &[
                ("Date", "x"),
                ("Strict-Transport-Security", "max-age=9"),
                ("Content-Length", "3"),
            ],
            rewrite(Out::Length(3), true),
        );
        assert_eq!(kept.matches("Date").count(), 1);
        assert_eq!(kept.matches("Strict-Transport-Security").count(), 1);
        assert!(kept.contains("Content-Length: 3\r\n") && !kept.contains("Connection"));
        let mut head = rewrite(Out::None, true);
        head.passthrough_length = Some(42);
        assert!(response(&[("Content-Length", "42")], head).contains("Content-Length: 42\r\n"));
        let mut up = rewrite(Out::None, true);
        up.upgrade = true;
        up.status = 101;
        let t = response(&[("Upgrade", "websocket"), ("Connection", "Upgrade")], up);
        assert!(t.contains("Upgrade: websocket\r\n") && t.ends_with("Connection: upgrade\r\n\r\n"));
        // Found by fuzz/fuzz_targets/forward.rs: a response field named by Connection was
        // forwarded when it was called Host.
        let t = response(
            &[
                ("Connection", "Host, Via"),
                ("Host", "internal"),
                ("Via", "1.1 internal"),
            ],
            rewrite(Out::None, true),
        );
        assert!(!t.contains("internal"), "{t}");
    }
}
