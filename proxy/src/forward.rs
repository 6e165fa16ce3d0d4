//! Rewriting message heads as they cross the proxy: the request head sent upstream and the
//! response head sent to the client.
//!
//! Policy (documented in `--help` too):
//! - Hop-by-hop fields are removed both ways: `Connection` and every field it names (a
//!   request still gets its `Host`, written by the proxy itself), `Keep-Alive`, `TE`, `Trailer`,
//!   `Transfer-Encoding`, `Content-Length` (the framing is rewritten from scratch), `Proxy-*`,
//!   and `Upgrade` unless this is a WebSocket upgrade.
//!   `Expect` is answered by the proxy itself and not forwarded.
//! - Requests: `Host` is passed through (or set to the upstream's authority for routes with
//!   `upstream-host`); `X-Forwarded-For` gets the client address appended to what the client
//!   sent (like nginx's `$proxy_add_x_forwarded_for`); `X-Forwarded-Proto` and
//!   `X-Forwarded-Host` are overwritten; `Via` gets `1.1 proxy` appended.
//! - Responses: upstream `Server` and `Date` are kept (a `Date` is added when missing); `Via` is
//!   appended to; `Strict-Transport-Security` is added on HTTPS unless the upstream set one.
//!
//! Pure functions writing into a [`Buffer`]; no I/O.

use std::io::Write as _;
use std::net::IpAddr;

use common::buffer::Buffer;
use common::http::headers::{self, has_token};
use common::http::response::push_u64;

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

/// Whether `name` is listed in a `Connection` header (and must be dropped for that reason).
/// No exemption is needed for a request's `Host`: the proxy always writes its own.
fn named_by_connection(hs: &[httparse::Header], name: &str) -> bool {
    has_token(headers::values(hs, "connection"), name)
}

/// Whether a request asks for a WebSocket upgrade (`Connection: upgrade`, `Upgrade: websocket`).
pub fn is_websocket(hs: &[httparse::Header]) -> bool {
    has_token(headers::values(hs, "connection"), "upgrade")
        && has_token(headers::values(hs, "upgrade"), "websocket")
}

/// What is needed to write the upstream request head besides the client's head.
pub struct RequestRewrite<'a> {
    pub method: &'a str,
    pub target: &'a [u8],
    /// `Host` to send.
    pub host: &'a [u8],
    /// The client's `Host` (for `X-Forwarded-Host`); may be empty.
    pub client_host: &'a [u8],
    pub client_ip: IpAddr,
    pub https: bool,
    pub http10: bool,
    pub body: Out,
    pub websocket: bool,
}

/// Writes the request head to send upstream.
pub fn write_request_head(out: &mut Buffer, hs: &[httparse::Header], r: &RequestRewrite) {
    out.push(r.method.as_bytes());
    out.push(b" ");
    out.push(r.target);
    out.push(b" HTTP/1.1\r\nHost: ");
    out.push(r.host);
    out.push(b"\r\n");
    for h in hs {
        let n = h.name;
        if is_hop_by_hop(n)
            || n.eq_ignore_ascii_case("host")
            || n.eq_ignore_ascii_case("upgrade")
            || n.eq_ignore_ascii_case("expect")
            || n.eq_ignore_ascii_case("via")
            || n.eq_ignore_ascii_case("x-forwarded-for")
            || n.eq_ignore_ascii_case("x-forwarded-proto")
            || n.eq_ignore_ascii_case("x-forwarded-host")
            || named_by_connection(hs, n)
        {
            continue;
        }
        push_field(out, n.as_bytes(), h.value);
    }
    out.push(b"X-Forwarded-For: ");
    for v in headers::values(hs, "x-forwarded-for").filter(|v| !headers::trim(v).is_empty()) {
        if !named_by_connection(hs, "x-forwarded-for") {
            out.push(headers::trim(v));
            out.push(b", ");
        }
    }
    let mut ip = [0u8; 48];
    let len = {
        let mut cursor = std::io::Cursor::new(&mut ip[..]);
        let _ = write!(cursor, "{}", r.client_ip);
        cursor.position() as usize
    };
    out.push(&ip[..len]);
    out.push(if r.https {
        &b"\r\nX-Forwarded-Proto: https\r\n"[..]
    } else {
        &b"\r\nX-Forwarded-Proto: http\r\n"[..]
    });
    if !r.client_host.is_empty() {
        push_field(out, b"X-Forwarded-Host", r.client_host);
    }
    push_via(out, hs, if r.http10 { b"1.0 " } else { b"1.1 " });
    match r.body {
        Out::Length(n) => {
            out.push(b"Content-Length: ");
            push_u64(out, n);
            out.push(b"\r\n");
        }
        Out::Chunked => out.push(b"Transfer-Encoding: chunked\r\n"),
        Out::None | Out::Close => {}
    }
    if r.websocket {
        out.push(b"Connection: upgrade\r\n");
        for v in headers::values(hs, "upgrade") {
            push_field(out, b"Upgrade", v);
        }
    }
    out.push(b"\r\n");
}

fn push_field(out: &mut Buffer, name: &[u8], value: &[u8]) {
    out.push(name);
    out.push(b": ");
    out.push(value);
    out.push(b"\r\n");
}

/// `Via: <previous values>, 1.1 proxy`. Previous values are dropped when the sender's
/// `Connection` names `Via`: it is then hop-by-hop like any field named there (RFC 9110
/// section 7.6.1), and the next hop must not see it.
fn push_via(out: &mut Buffer, hs: &[httparse::Header], protocol: &[u8]) {
    out.push(b"Via: ");
    if !named_by_connection(hs, "via") {
        for v in headers::values(hs, "via").filter(|v| !headers::trim(v).is_empty()) {
            out.push(headers::trim(v));
            out.push(b", ");
        }
    }
    out.push(protocol);
    out.push(NAME.as_bytes());
    out.push(b"\r\n");
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
    out.push(b"HTTP/1.1 ");
    push_u64(out, u64::from(r.status));
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
            push_u64(out, n);
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

    fn request(pairs: &[(&str, &str)], body: Out, websocket: bool) -> String {
        let mut out = Buffer::new(4096);
        let r = RequestRewrite {
            method: "POST",
            target: b"/x?y",
            host: b"example.com",
            client_host: b"example.com",
            client_ip: "192.0.2.7".parse().unwrap(),
            https: true,
            http10: false,
            body,
            websocket,
        };
        write_request_head(&mut out, &hs(pairs), &r);
        text(&out)
    }

    #[test]
    fn request_hop_by_hop_removed_and_forwarding_added() {
        let t = request(
            &[
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
                ("X-Forwarded-For", "203.0.113.1"),
                ("X-Forwarded-Proto", "http"),
                ("X-Forwarded-Host", "evil"),
                ("Via", "1.0 other"),
                ("Accept", "*/*"),
            ],
            Out::Chunked,
            false,
        );
        assert_eq!(
            t,
            "POST /x?y HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\
             X-Forwarded-For: 203.0.113.1, 192.0.2.7\r\nX-Forwarded-Proto: https\r\n\
             X-Forwarded-Host: example.com\r\nVia: 1.0 other, 1.1 proxy\r\n\
             Transfer-Encoding: chunked\r\n\r\n"
        );
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
        assert!(t.ends_with("Connection: upgrade\r\nUpgrade: websocket\r\n\r\n"));
        assert!(t.contains("X-Forwarded-For: 192.0.2.7\r\n"));
        // Found by fuzz/fuzz_targets/forward.rs: a Via the client made hop-by-hop was
        // passed on.
        let t = request(
            &[("Connection", "Via"), ("Via", "1.1 internal")],
            Out::None,
            false,
        );
        assert!(t.contains("\r\nVia: 1.1 proxy\r\n") && !t.contains("internal"));
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
