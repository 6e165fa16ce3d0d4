//! The response plan: what the proxy does with an upstream response head, decided once, without
//! I/O. How its body is delimited coming in (RFC 9112 section 6.3) and going out, whether the
//! upstream connection may carry another request afterwards, whether the client connection may,
//! and the head the client receives (written by `forward::write_response_head`).
//!
//! A response the proxy cannot frame unambiguously is an error (the client gets 502): a
//! malformed head, a bad status, conflicting lengths, a 101 nobody asked for.

use common::buffer::Buffer;
use common::http::headers::{self, has_token};
use common::http::request::parse_content_length;

use crate::forward::{self, ResponseRewrite};
use crate::framing::{self, In, Out, ResponseFraming};

/// Most header lines accepted in an upstream response head.
pub const MAX_RESPONSE_HEADERS: usize = 100;

/// What the response plan depends on besides the upstream's bytes.
pub struct Context<'a> {
    pub head_request: bool,
    /// The request asked for a WebSocket upgrade.
    pub websocket: bool,
    pub client_http10: bool,
    /// The client connection may carry another request after this one: the client asked for
    /// it, the request body was received whole, shutdown has not begun.
    pub client_keep_alive: bool,
    pub date: &'a [u8],
    /// `Strict-Transport-Security` value to add (HTTPS only).
    pub hsts: Option<&'a [u8]>,
}

/// A final response, decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResponsePlan {
    pub status: u16,
    /// Bytes of the upstream head consumed.
    pub head_len: usize,
    pub body: In,
    pub out: Out,
    /// The upstream connection may carry another request once this body ended exactly where
    /// its framing said.
    pub reusable: bool,
    /// The client connection stays open after this response.
    pub keep_alive: bool,
    /// A 101 to a WebSocket request: the connection becomes a tunnel.
    pub upgrade: bool,
}

/// What the bytes at the front of the upstream input are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Parsed {
    /// Not a whole head yet.
    Partial,
    /// An interim (1xx) response of `len` bytes, not forwarded: the proxy answers `Expect`
    /// itself.
    Interim { len: usize },
    /// The final response; its rewritten head was written to the output.
    Final(ResponsePlan),
}

/// Parses the response head at the front of `input` and, for a final response, writes the head
/// the client gets into `out`. `Err` names why the response cannot be forwarded (502).
pub fn plan_response(input: &[u8], cx: &Context, out: &mut Buffer) -> Result<Parsed, &'static str> {
    let mut hs = [httparse::EMPTY_HEADER; MAX_RESPONSE_HEADERS];
    let mut resp = httparse::Response::new(&mut hs);
    let head_len = match resp.parse(input) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(Parsed::Partial),
        Err(_) => return Err("malformed response head"),
    };
    let status = resp.code.unwrap_or(0);
    if (100..200).contains(&status) && status != 101 {
        return Ok(Parsed::Interim { len: head_len });
    }
    let upgrade = status == 101;
    let framing = match (upgrade, cx.websocket) {
        (true, true) => ResponseFraming {
            body: In::None,
            reusable: false,
        },
        (true, false) => return Err("101 without an upgrade request"),
        (false, _) => framing::response_framing(status, cx.head_request, resp.headers)?,
    };
    let body_out = framing::client_framing(framing.body, !cx.client_http10);
    let connection = headers::values(resp.headers, "connection");
    let close = has_token(connection.clone(), "close");
    let upstream_keep_alive = if resp.version == Some(1) {
        !close
    } else {
        has_token(connection, "keep-alive") && !close
    };
    let keep_alive = cx.client_keep_alive && body_out != Out::Close && !upgrade;
    let passthrough_length = if framing.body == In::None && status >= 200 && status != 204 {
        headers::find(resp.headers, "content-length").and_then(parse_content_length)
    } else {
        None
    };
    let rewrite = ResponseRewrite {
        status,
        reason: resp.reason.unwrap_or("").as_bytes(),
        upstream_http10: resp.version == Some(0),
        body: body_out,
        passthrough_length,
        keep_alive,
        client_http10: cx.client_http10,
        date: cx.date,
        hsts: cx.hsts,
        upgrade,
    };
    forward::write_response_head(out, resp.headers, &rewrite);
    Ok(Parsed::Final(ResponsePlan {
        status,
        head_len,
        body: framing.body,
        out: body_out,
        reusable: framing.reusable && upstream_keep_alive,
        keep_alive,
        upgrade,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cx() -> Context<'static> {
        Context {
            head_request: false,
            websocket: false,
            client_http10: false,
            client_keep_alive: true,
            date: b"Sun, 06 Nov 1994 08:49:37 GMT",
            hsts: None,
        }
    }

    fn run(input: &str, cx: &Context) -> (Result<Parsed, &'static str>, String) {
        let mut out = Buffer::new(4096);
        let r = plan_response(input.as_bytes(), cx, &mut out);
        (r, String::from_utf8(out.filled().to_vec()).unwrap())
    }

    #[test]
    fn framing_reuse_and_keep_alive() {
        let (r, head) = run("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", &cx());
        let Ok(Parsed::Final(p)) = r else {
            panic!("{r:?}")
        };
        assert_eq!(
            (p.body, p.out, p.reusable, p.keep_alive),
            (In::Length(2), Out::Length(2), true, true)
        );
        assert_eq!(p.head_len, 38);
        assert!(head.contains("Content-Length: 2\r\n") && !head.contains("Connection"));
        let (r, _) = run("HTTP/1.0 200 OK\r\n\r\n", &cx());
        let Ok(Parsed::Final(p)) = r else { panic!() };
        assert_eq!(
            (p.body, p.out, p.reusable),
            (In::UntilClose, Out::Chunked, false)
        );
        let mut old = cx();
        old.client_http10 = true;
        let (r, head) = run(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            &old,
        );
        let Ok(Parsed::Final(p)) = r else { panic!() };
        assert_eq!((p.out, p.keep_alive), (Out::Close, false));
        assert!(head.contains("Connection: close\r\n"));
        let (r, _) = run(
            "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
            &cx(),
        );
        assert!(matches!(r, Ok(Parsed::Final(p)) if !p.reusable && p.keep_alive));
    }

    #[test]
    fn interim_partial_and_errors() {
        assert_eq!(
            run("HTTP/1.1 100 Continue\r\n\r\n", &cx()).0,
            Ok(Parsed::Interim { len: 25 })
        );
        assert_eq!(
            run("HTTP/1.1 200 OK\r\nContent-Le", &cx()).0,
            Ok(Parsed::Partial)
        );
        assert!(run("HTTP/1.1 101 Switching\r\n\r\n", &cx()).0.is_err());
        assert!(run("HTTP/1.1 010 X\r\n\r\n", &cx()).0.is_err());
        assert!(run("garbage\r\n\r\n", &cx()).0.is_err());
        assert!(run(
            "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            &cx()
        )
        .0
        .is_err());
        let mut ws = cx();
        ws.websocket = true;
        let (r, head) = run(
            "HTTP/1.1 101 Switching\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n",
            &ws,
        );
        assert!(matches!(r, Ok(Parsed::Final(p)) if p.upgrade && !p.keep_alive && !p.reusable));
        assert!(head.contains("Upgrade: websocket\r\n"));
    }
}
