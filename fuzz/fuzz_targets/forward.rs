//! The proxy's request and response plans (`proxy::plan`, `proxy::response`): the very functions
//! the proxy runs, from a raw head to the head the other side receives.
//!
//! Input: a raw message head. One starting with `HTTP/` is an upstream response; anything else
//! is a client request (parsed with the servers' own request parser). Heads the parsers refuse
//! are skipped. The last byte picks the variations (HTTPS, HEAD, HTTP/1.0 client, trusted
//! peer, ...).
//!
//! Invariants on what an upstream receives:
//! - it parses back completely as one HTTP/1.1 message head;
//! - its path is normalised (no `.`/`..` segments, no escaped unreserved characters, no
//!   encoded separators) and lies under the route it was routed by;
//! - no hop-by-hop field survives: `Connection` (except the proxy's own `upgrade`),
//!   `Keep-Alive`, `TE`, `Trailer`, `Proxy-*`, any field the sender's `Connection` header
//!   names, `Upgrade` (except for a WebSocket), `Expect`;
//! - `Transfer-Encoding` and `Content-Length` appear exactly when the framing says so;
//! - exactly one `Host`; from an untrusted peer, forwarding fields are the proxy's alone
//!   (`X-Forwarded-For` is the peer address);
//! - every end-to-end field is passed on unchanged and in order; no value holds CR or LF.
//! And on what a client receives: one complete head, one `Date`, framing fields matching the
//! plan, nothing the upstream's `Connection` named.
#![no_main]

use std::net::IpAddr;

use common::buffer::Buffer;
use common::http::headers::{self, has_token};
use common::http::request::{self, header_storage, Framing, Limits};
use libfuzzer_sys::fuzz_target;
use proxy::forward::is_websocket;
use proxy::framing::{In, Out};
use proxy::plan::{self, Action, Plan, Scratch};
use proxy::response::{self, Parsed};
use proxy::routes::Routes;

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

/// Whether a client may not set `name` when the peer is not trusted: one of the proxy's
/// forwarding fields (`forward::FORWARDING`), in either spelling.
fn is_forwarding(name: &str) -> bool {
    let n = name.to_ascii_lowercase().replace('_', "-");
    proxy::forward::FORWARDING.contains(&n.as_str())
}

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
    let routes = Routes::parse([
        "/a=http://up-a:8080/base",
        "/k=http://up-k:81;keep-prefix",
        "/h=http://up-h:82;upstream-host",
    ])
    .expect("routes");
    let trusted = knob & 8 != 0;
    let peer: IpAddr = if knob & 2 != 0 {
        "2001:db8::7".parse().expect("ip")
    } else {
        "192.0.2.7".parse().expect("ip")
    };
    let context = plan::Context {
        routes: &routes,
        health_path: b"/healthz",
        https: knob & 4 != 0,
        redirect_https: (knob & 16 != 0).then_some(8443),
        max_body: u64::MAX,
        peer,
        trusted,
    };
    let mut plan = Plan::default();
    plan.make(&head, &context, &mut Scratch::default());
    let Action::Forward { route } = plan.action else {
        return;
    };
    let r = &routes.routes[route];
    let upstream = &routes.upstreams[r.upstreams[0]];
    let mut out = Buffer::new(1 << 20);
    plan.write_upstream_head(&mut out, r, upstream);
    let mut back = [httparse::EMPTY_HEADER; 256];
    let fields = reparse(out.filled(), &mut back, false);

    // The request line: the method, a normalised path under the route, HTTP/1.1.
    let line_end = out.filled().iter().position(|&b| b == b'\r').expect("line");
    let line = &out.filled()[..line_end];
    assert!(line.starts_with(head.method.as_bytes()) && line.ends_with(b" HTTP/1.1"));
    let target = &line[head.method.len() + 1..line.len() - 9];
    let path = target.split(|&b| b == b'?').next().unwrap_or_default();
    let expected_prefix: &[u8] = if r.strip {
        upstream.base.as_bytes()
    } else {
        r.prefix.as_bytes()
    };
    assert!(
        path.starts_with(expected_prefix),
        "{path:?} outside {expected_prefix:?}"
    );
    for segment in path.split(|&b| b == b'/') {
        assert!(
            segment != b"." && segment != b"..",
            "dot segment in {path:?}"
        );
    }
    let lower = path.to_ascii_lowercase();
    for bad in [&b"%2e"[..], b"%2f", b"%5c", b"\\"] {
        assert!(
            !lower.windows(bad.len()).any(|w| w == bad),
            "{bad:?} in {path:?}"
        );
    }

    assert_eq!(count(&fields, "host"), 1);
    if r.upstream_host {
        assert_eq!(value(&fields, "host"), Some(upstream.authority.as_bytes()));
    }
    for name in ["keep-alive", "te", "trailer", "expect"] {
        assert_eq!(count(&fields, name), 0, "{name} forwarded");
    }
    assert!(
        !fields.iter().any(|(n, _)| n.starts_with("proxy-")),
        "Proxy-* forwarded"
    );
    let websocket = head.upgrade && is_websocket(hs);
    if websocket {
        assert_eq!(count(&fields, "connection"), 1);
        assert_eq!(value(&fields, "connection"), Some(&b"upgrade"[..]));
    } else {
        assert_eq!(count(&fields, "connection"), 0, "Connection forwarded");
        assert_eq!(count(&fields, "upgrade"), 0, "Upgrade forwarded");
    }
    check_body_fields(&fields, body);

    let xff = value(&fields, "x-forwarded-for").expect("X-Forwarded-For");
    assert_eq!(count(&fields, "x-forwarded-for"), 1);
    assert!(xff.ends_with(peer.to_string().as_bytes()));
    if !trusted {
        assert_eq!(
            xff,
            peer.to_string().as_bytes(),
            "a client's X-Forwarded-For passed"
        );
        for (name, value) in &fields {
            if is_forwarding(name) {
                // Only the proxy's own values: one of each, derived from the connection.
                assert_eq!(count(&fields, name), 1, "{name} repeated");
                assert!(!name.contains('_'));
                if name == "x-real-ip" {
                    assert_eq!(value.as_slice(), peer.to_string().as_bytes());
                }
            }
        }
        for name in [
            "forwarded",
            "x-forwarded-port",
            "x-forwarded-prefix",
            "x-client-ip",
        ] {
            assert_eq!(
                count(&fields, name),
                0,
                "{name} passed from an untrusted client"
            );
        }
    }
    assert!(!fields
        .iter()
        .any(|(n, _)| n.contains('_') && is_forwarding(n)));
    assert_eq!(count(&fields, "via"), 1);
    let via = value(&fields, "via").expect("Via");
    if named_by(hs, "via") {
        // A Via the client made hop-by-hop is not passed on.
        assert!(via == b"1.1 proxy" || via == b"1.0 proxy", "Via {via:?}");
    }

    // End-to-end fields: all of them, unchanged, in order, and nothing else.
    let rewritten = ["host", "upgrade", "expect", "via"];
    let expected: Vec<(String, Vec<u8>)> = hs
        .iter()
        .filter(|h| {
            let n = h.name.to_ascii_lowercase();
            !hop_by_hop(&n)
                && !rewritten.contains(&n.as_str())
                && !is_forwarding(&n)
                && !(n != "host" && named_by(hs, &n))
        })
        .map(|h| (h.name.to_ascii_lowercase(), h.value.to_vec()))
        .collect();
    let ours = [
        "host",
        "via",
        "content-length",
        "transfer-encoding",
        "connection",
        "upgrade",
    ];
    let passed: Vec<(String, Vec<u8>)> = fields
        .iter()
        .filter(|(n, _)| !ours.contains(&n.as_str()) && !is_forwarding(n))
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
    let hs = resp.headers;
    let hsts = (knob & 8 != 0).then_some(&b"max-age=1"[..]);
    let context = response::Context {
        head_request: knob & 1 != 0,
        websocket: knob & 4 != 0,
        client_http10: knob & 2 != 0,
        client_keep_alive: knob & 16 != 0,
        date: DATE,
        hsts,
    };
    let mut out = Buffer::new(1 << 20);
    let Ok(Parsed::Final(plan)) = response::plan_response(data, &context, &mut out) else {
        assert!(
            out.is_empty(),
            "a head written for a response that is not forwarded"
        );
        return;
    };
    let status = plan.status;
    let upgrade = plan.upgrade;
    assert!((200..=599).contains(&status) || (status == 101 && context.websocket));
    let has_te = headers::find(hs, "transfer-encoding").is_some();
    let has_cl = headers::find(hs, "content-length").is_some();
    if has_te && has_cl {
        assert!(
            !plan.reusable,
            "CL+TE response left the connection reusable"
        );
    }
    if context.head_request || status == 204 || status == 304 {
        assert_eq!(plan.body, In::None, "a body where none can be");
    }
    if plan.out == Out::Close {
        assert!(
            !plan.keep_alive,
            "a close-delimited body on a kept connection"
        );
    }
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
        usize::from(upgrade || !plan.keep_alive || context.client_http10)
    );
    if upgrade {
        assert_eq!(value(&fields, "connection"), Some(&b"upgrade"[..]));
    } else {
        assert_eq!(count(&fields, "upgrade"), 0, "Upgrade forwarded");
    }
    let passthrough = plan.out == Out::None
        && status >= 200
        && status != 204
        && headers::find(hs, "content-length")
            .and_then(request::parse_content_length)
            .is_some();
    if !passthrough {
        check_body_fields(&fields, plan.out);
    } else {
        assert_eq!(count(&fields, "content-length"), 1);
        assert_eq!(count(&fields, "transfer-encoding"), 0);
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
