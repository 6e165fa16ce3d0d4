//! Proxy header rewriting (`proxy::forward`) in both directions, with the framing decisions that
//! feed it (`proxy::framing`).
//!
//! Input: a raw message head. One starting with `HTTP/` is an upstream response (parsed with
//! httparse as the proxy does); anything else is a client request (parsed with the servers'
//! own request parser). Heads the parsers refuse are not rewritten and so are skipped. The last
//! byte picks the variations (HTTPS, HEAD, HTTP/1.0 client, upstream-host, ...).
//!
//! Invariants on the rewritten head:
//! - it parses back completely as one HTTP/1.1 message head;
//! - no hop-by-hop field survives: `Connection` (except the proxy's own `upgrade` / `close` /
//!   `keep-alive`), `Keep-Alive`, `TE`, `Trailer`, `Proxy-*`, any field the sender's `Connection`
//!   header names, `Upgrade` (except for a WebSocket), `Expect`;
//! - `Transfer-Encoding` and `Content-Length` appear exactly when the proxy's framing says so,
//!   once, with its value (never both);
//! - exactly one `Host` (requests) / one `Date` (responses); `X-Forwarded-*` are the proxy's;
//! - every end-to-end field is passed on unchanged and in order; no value holds CR or LF.
#![no_main]

use std::net::IpAddr;

use common::buffer::Buffer;
use common::http::headers::{self, has_token};
use common::http::request::{self, header_storage, Framing, Limits, Version};
use libfuzzer_sys::fuzz_target;
use proxy::forward::{
    is_websocket, write_request_head, write_response_head, RequestRewrite, ResponseRewrite,
};
use proxy::framing::{self, client_framing, In, Out};

const DATE: &[u8] = b"Sun, 06 Nov 1994 08:49:37 GMT";

/// Fields the proxy never copies from one side to the other (before `Connection` names).
fn hop_by_hop(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    matches!(
        n.as_str(),
        "connection" | "keep-alive" | "te" | "trailer" | "transfer-encoding" | "content-length"
    ) || n.starts_with("proxy-")
}

fn named_by(hs: &[httparse::Header], name: &str) -> bool {
    has_token(headers::values(hs, "connection"), name)
}

/// Parses the rewritten head back; panics when it is not one complete, valid head.
fn reparse<'b>(
    out: &'b [u8],
    storage: &'b mut [httparse::Header<'b>],
    response: bool,
) -> Vec<(String, Vec<u8>)> {
    let (n, hs): (usize, &[httparse::Header]) = if response {
        let mut r = httparse::Response::new(storage);
        let n = match r.parse(out) {
            Ok(httparse::Status::Complete(n)) => n,
            other => panic!("rewritten response head does not parse: {other:?}\n{out:?}"),
        };
        (n, r.headers)
    } else {
        let mut r = httparse::Request::new(storage);
        let n = match r.parse(out) {
            Ok(httparse::Status::Complete(n)) => n,
            other => panic!("rewritten request head does not parse: {other:?}\n{out:?}"),
        };
        (n, r.headers)
    };
    assert_eq!(n, out.len(), "bytes after the rewritten head");
    hs.iter()
        .map(|h| {
            assert!(
                !h.value.iter().any(|&b| b == b'\r' || b == b'\n'),
                "CR/LF in {:?}",
                h.name
            );
            (h.name.to_ascii_lowercase(), h.value.to_vec())
        })
        .collect()
}

fn count(fields: &[(String, Vec<u8>)], name: &str) -> usize {
    fields.iter().filter(|(n, _)| n == name).count()
}

fn value<'a>(fields: &'a [(String, Vec<u8>)], name: &str) -> Option<&'a [u8]> {
    fields
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_slice())
}

fuzz_target!(|data: &[u8]| {
    let knob = data.last().copied().unwrap_or(0);
    if data.starts_with(b"HTTP/") {
        response(data, knob);
    } else {
        request(data, knob);
    }
});

fn request(data: &[u8], knob: u8) {
    let mut storage = header_storage();
    let Ok(Some(head)) = request::parse(data, &mut storage, &Limits::default()) else {
        return;
    };
    let hs = head.headers;
    let body = match head.framing {
        Framing::None => Out::None,
        Framing::Length(n) => Out::Length(n),
        Framing::Chunked => Out::Chunked,
    };
    let websocket = head.upgrade && is_websocket(hs);
    let upstream_host = knob & 1 != 0;
    let client_ip: IpAddr = if knob & 2 != 0 {
        "2001:db8::7".parse().expect("ip")
    } else {
        "192.0.2.7".parse().expect("ip")
    };
    let r = RequestRewrite {
        method: head.method,
        target: head.target,
        host: if upstream_host {
            b"up.internal:8080"
        } else {
            head.host
        },
        client_host: head.host,
        client_ip,
        https: knob & 4 != 0,
        http10: head.version == Version::Http10,
        body,
        websocket,
    };
    let mut out = Buffer::new(1 << 20);
    write_request_head(&mut out, hs, &r);
    let mut back = [httparse::EMPTY_HEADER; 256];
    let fields = reparse(out.filled(), &mut back, false);

    assert!(out.filled().starts_with(
        [head.method.as_bytes(), b" ", head.target, b" HTTP/1.1\r\n"]
            .concat()
            .as_slice()
    ));
    assert_eq!(count(&fields, "host"), 1);
    assert_eq!(value(&fields, "host"), Some(r.host));
    for name in ["keep-alive", "te", "trailer", "expect"] {
        assert_eq!(count(&fields, name), 0, "{name} forwarded");
    }
    assert!(
        !fields.iter().any(|(n, _)| n.starts_with("proxy-")),
        "Proxy-* forwarded"
    );
    if websocket {
        assert_eq!(count(&fields, "connection"), 1);
        assert_eq!(value(&fields, "connection"), Some(&b"upgrade"[..]));
        assert_eq!(
            count(&fields, "upgrade"),
            headers::values(hs, "upgrade").count()
        );
    } else {
        assert_eq!(count(&fields, "connection"), 0, "Connection forwarded");
        assert_eq!(count(&fields, "upgrade"), 0, "Upgrade forwarded");
    }
    check_body_fields(&fields, body);

    let xff = value(&fields, "x-forwarded-for").expect("X-Forwarded-For");
    assert_eq!(count(&fields, "x-forwarded-for"), 1);
    assert!(xff.ends_with(client_ip.to_string().as_bytes()));
    assert_eq!(count(&fields, "x-forwarded-proto"), 1);
    assert!(count(&fields, "x-forwarded-host") <= 1);
    assert_eq!(count(&fields, "via"), 1);
    let via = value(&fields, "via").expect("Via");
    if named_by(hs, "via") {
        // A Via the client made hop-by-hop is not passed on.
        assert!(via == b"1.1 proxy" || via == b"1.0 proxy", "Via {via:?}");
    }

    // End-to-end fields: all of them, unchanged, in order, and nothing else.
    let rewritten = [
        "host",
        "upgrade",
        "expect",
        "via",
        "x-forwarded-for",
        "x-forwarded-proto",
        "x-forwarded-host",
    ];
    let expected: Vec<(String, Vec<u8>)> = hs
        .iter()
        .filter(|h| {
            let n = h.name.to_ascii_lowercase();
            !hop_by_hop(&n)
                && !rewritten.contains(&n.as_str())
                && !(n != "host" && named_by(hs, &n))
        })
        .map(|h| (h.name.to_ascii_lowercase(), h.value.to_vec()))
        .collect();
    let ours = [
        "host",
        "x-forwarded-for",
        "x-forwarded-proto",
        "x-forwarded-host",
        "via",
        "content-length",
        "transfer-encoding",
        "connection",
        "upgrade",
    ];
    let passed: Vec<(String, Vec<u8>)> = fields
        .iter()
        .filter(|(n, _)| !ours.contains(&n.as_str()))
        .cloned()
        .collect();
    assert_eq!(passed, expected, "end-to-end fields changed");
}

fn response(data: &[u8], knob: u8) {
    let mut storage = [httparse::EMPTY_HEADER; 100];
    let mut resp = httparse::Response::new(&mut storage);
    let Ok(httparse::Status::Complete(_)) = resp.parse(data) else {
        return;
    };
    let status = resp.code.unwrap_or(0);
    let hs = resp.headers;
    let head_request = knob & 1 != 0;
    let client_http10 = knob & 2 != 0;
    let upgrade = status == 101 && knob & 4 != 0;
    let hsts = (knob & 8 != 0).then_some(&b"max-age=1"[..]);
    if (100..200).contains(&status) && !upgrade {
        return; // interim responses are consumed by the proxy, never rewritten
    }
    let framing = if upgrade {
        framing::ResponseFraming {
            body: In::None,
            reusable: false,
        }
    } else {
        match framing::response_framing(status, head_request, hs) {
            Ok(f) => f,
            Err(_) => return, // a 502 instead
        }
    };
    let has_te = headers::find(hs, "transfer-encoding").is_some();
    let has_cl = headers::find(hs, "content-length").is_some();
    if has_te && has_cl {
        assert!(
            !framing.reusable,
            "CL+TE response left the connection reusable"
        );
    }
    if head_request || status == 204 || status == 304 {
        assert_eq!(framing.body, In::None, "a body where none can be");
    }
    let out_framing = client_framing(framing.body, !client_http10);
    let passthrough_length = (framing.body == In::None && status >= 200 && status != 204)
        .then(|| headers::find(hs, "content-length").and_then(request::parse_content_length))
        .flatten();
    let keep_alive = knob & 16 != 0 && out_framing != Out::Close;
    let r = ResponseRewrite {
        status,
        reason: resp.reason.unwrap_or("").as_bytes(),
        upstream_http10: resp.version == Some(0),
        body: out_framing,
        passthrough_length,
        keep_alive,
        client_http10,
        date: DATE,
        hsts,
        upgrade,
    };
    let mut out = Buffer::new(1 << 20);
    write_response_head(&mut out, hs, &r);
    let mut back = [httparse::EMPTY_HEADER; 256];
    let fields = reparse(out.filled(), &mut back, true);

    for name in ["keep-alive", "te", "trailer"] {
        assert_eq!(count(&fields, name), 0, "{name} forwarded");
    }
    assert!(
        !fields.iter().any(|(n, _)| n.starts_with("proxy-")),
        "Proxy-* forwarded"
    );
    assert_eq!(
        count(&fields, "connection"),
        usize::from(upgrade || !keep_alive || client_http10)
    );
    if upgrade {
        assert_eq!(value(&fields, "connection"), Some(&b"upgrade"[..]));
    } else {
        assert_eq!(count(&fields, "upgrade"), 0, "Upgrade forwarded");
    }
    match (out_framing, passthrough_length) {
        (Out::None, Some(n)) => {
            assert_eq!(count(&fields, "content-length"), 1);
            assert_eq!(
                value(&fields, "content-length"),
                Some(n.to_string().as_bytes())
            );
            assert_eq!(count(&fields, "transfer-encoding"), 0);
        }
        (body, _) => check_body_fields(&fields, body),
    }
    let upstream_dates = if named_by(hs, "date") {
        0
    } else {
        headers::values(hs, "date").count()
    };
    assert_eq!(count(&fields, "date"), upstream_dates.max(1), "Date");
    assert_eq!(count(&fields, "via"), 1);
    if named_by(hs, "via") {
        let via = value(&fields, "via").expect("Via");
        assert!(via == b"1.1 proxy" || via == b"1.0 proxy", "Via {via:?}");
    }
    for (name, _) in &fields {
        let ours = [
            "connection",
            "upgrade",
            "content-length",
            "transfer-encoding",
            "date",
            "via",
        ];
        if !ours.contains(&name.as_str())
            && !(name == "strict-transport-security" && hsts.is_some())
        {
            assert!(
                !named_by(hs, name),
                "{name} was named by Connection but forwarded"
            );
        }
    }
}

fn check_body_fields(fields: &[(String, Vec<u8>)], body: Out) {
    let (cl, te) = (
        count(fields, "content-length"),
        count(fields, "transfer-encoding"),
    );
    match body {
        Out::Length(n) => {
            assert_eq!((cl, te), (1, 0));
            assert_eq!(
                value(fields, "content-length"),
                Some(n.to_string().as_bytes())
            );
        }
        Out::Chunked => {
            assert_eq!((cl, te), (0, 1));
            assert_eq!(value(fields, "transfer-encoding"), Some(&b"chunked"[..]));
        }
        Out::None | Out::Close => assert_eq!((cl, te), (0, 0), "framing fields without a body"),
    }
}
