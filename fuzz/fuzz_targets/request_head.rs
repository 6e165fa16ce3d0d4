//! Request-head parsing (`common::http::request::parse`): the first thing both servers do with
//! bytes from the network.
//!
//! Input: raw bytes as they would arrive on a connection.
//!
//! Invariants checked on every accepted head (beyond "does not panic"):
//! - framing is never ambiguous: never both `Content-Length` and `Transfer-Encoding`; `Chunked`
//!   only for HTTP/1.1 with exactly the single coding `chunked`; `Length(n)` only from exactly one
//!   all-digit `Content-Length` equal to `n`; `None` only without a body;
//! - HTTP/1.1 has exactly one `Host`, HTTP/1.0 at most one, and it is a valid host;
//! - the head fits the limits, the target has no white space or controls, the method is a token,
//!   header names are tokens and values hold no CR, LF or NUL;
//! - the target form matches the target, and an absolute-form authority is a valid host (not
//!   empty, no userinfo);
//! - the verdict does not depend on how the bytes were split into reads: every proper prefix of
//!   an accepted head is "incomplete", and the head alone parses to the same result.
//!
//! Refusals must map to a 4xx/5xx status.
#![no_main]

use common::http::headers::{self, is_token, tokens};
use common::http::request::{
    self, header_storage, parse_content_length, Framing, Limits, TargetForm, Version,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    let mut storage = header_storage();
    let head = match request::parse(data, &mut storage, &limits) {
        Ok(Some(head)) => head,
        Ok(None) => return,
        Err(e) => {
            let code = e.status().code();
            assert!((400..600).contains(&code), "refusal with status {code}");
            return;
        }
    };
    let hs = head.headers;

    // Sizes and limits.
    assert!(head.head_len <= data.len());
    assert!(
        head.head_len <= limits.max_head,
        "head over max_head accepted"
    );
    assert!(!head.target.is_empty() && head.target.len() <= limits.max_target);
    assert!(
        head.target.iter().all(|&b| b > b' ' && b != 0x7f),
        "white space or control in target {:?}",
        head.target
    );
    assert!(is_token(head.method.as_bytes()), "method is not a token");
    for h in hs {
        assert!(is_token(h.name.as_bytes()), "header name {:?}", h.name);
        assert!(
            !h.value.iter().any(|&b| b == b'\r' || b == b'\n' || b == 0),
            "CR/LF/NUL in a header value {:?}",
            h.value
        );
    }

    // Target form.
    match head.form {
        TargetForm::Origin => assert_eq!(head.target[0], b'/'),
        TargetForm::Asterisk => assert!(head.method == "OPTIONS" && head.target == b"*"),
        TargetForm::Authority => assert_eq!(head.method, "CONNECT"),
        TargetForm::Absolute => {
            let lower = head.target.to_ascii_lowercase();
            let rest = lower
                .strip_prefix(b"http://")
                .or_else(|| lower.strip_prefix(b"https://"))
                .expect("absolute-form is http(s)");
            let end = rest
                .iter()
                .position(|&b| b == b'/' || b == b'?')
                .unwrap_or(rest.len());
            let authority = &rest[..end];
            assert!(
                !authority.is_empty() && authority[0] != b':',
                "absolute-form with an empty host"
            );
            assert!(
                request::is_valid_host(authority) && !authority.contains(&b'@'),
                "absolute-form authority {authority:?}"
            );
        }
    }

    // Host.
    let hosts: Vec<&[u8]> = headers::values(hs, "host").collect();
    match head.version {
        Version::Http11 => assert_eq!(hosts.len(), 1, "HTTP/1.1 needs exactly one Host"),
        Version::Http10 => assert!(hosts.len() <= 1, "more than one Host"),
    }
    assert_eq!(head.host, hosts.first().copied().unwrap_or(b""));
    assert!(request::is_valid_host(head.host));

    // Framing (RFC 9112 section 6.3): the rules that close request smuggling.
    let te: Vec<&[u8]> = headers::values(hs, "transfer-encoding").collect();
    let cl: Vec<&[u8]> = headers::values(hs, "content-length").collect();
    assert!(
        te.is_empty() || cl.is_empty(),
        "accepted both Transfer-Encoding and Content-Length"
    );
    assert!(cl.len() <= 1, "accepted more than one Content-Length");
    match head.framing {
        Framing::Chunked => {
            assert_eq!(head.version, Version::Http11, "chunked on HTTP/1.0");
            let codings: Vec<&[u8]> = te.iter().flat_map(|v| tokens(v)).collect();
            assert_eq!(codings.len(), 1, "codings {codings:?}");
            assert!(codings[0].eq_ignore_ascii_case(b"chunked"));
        }
        Framing::Length(n) => {
            assert!(te.is_empty() && cl.len() == 1);
            assert!(cl[0].iter().all(u8::is_ascii_digit));
            assert_eq!(parse_content_length(cl[0]), Some(n));
            assert!(n > 0);
        }
        Framing::None => {
            assert!(te.is_empty(), "Transfer-Encoding without a body framing");
            if let Some(v) = cl.first() {
                assert_eq!(parse_content_length(v), Some(0));
            }
        }
    }

    // Connection management.
    let connection = || headers::values(hs, "connection");
    if headers::has_token(connection(), "close") {
        assert!(!head.keep_alive, "Connection: close but keep-alive");
    }
    if head.version == Version::Http10 && !headers::has_token(connection(), "keep-alive") {
        assert!(!head.keep_alive, "HTTP/1.0 keep-alive without asking");
    }
    if head.expect_continue {
        assert_eq!(head.version, Version::Http11);
    }

    // Split independence: the head alone gives the same answer, and no proper prefix of it is
    // already refused (a server reading it in two pieces must not answer differently).
    let summary = (
        head.method,
        head.target,
        head.version,
        head.framing,
        head.host,
        head.keep_alive,
        head.head_len,
    );
    let mut again = header_storage();
    let alone = request::parse(&data[..head.head_len], &mut again, &limits)
        .ok()
        .flatten()
        .map(|h| {
            (
                h.method,
                h.target,
                h.version,
                h.framing,
                h.host,
                h.keep_alive,
                h.head_len,
            )
        });
    assert_eq!(alone, Some(summary), "the head alone parses differently");
    let len = head.head_len;
    // Just before the first line end: the request line is still incomplete there.
    let first_lf = data.iter().position(|&b| b == b'\n').unwrap_or(len);
    for cut in [
        len - 1,
        len / 2,
        len / 3,
        len.saturating_sub(3),
        first_lf,
        1,
    ] {
        if cut >= len {
            continue;
        }
        let mut s = header_storage();
        let partial = request::parse(&data[..cut], &mut s, &limits);
        assert!(
            matches!(partial, Ok(None)),
            "prefix of {cut}/{len} bytes of an acceptable head gave {:?}",
            partial.map(|o| o.map(|h| h.head_len))
        );
    }
});
