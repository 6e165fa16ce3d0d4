//! Request smuggling (RFC 9112 section 6.3): every ambiguous or malformed framing is a 400 and a
//! closed connection, and nothing after it ever reaches the upstream as a request.

use std::io::{BufReader, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use testkit::*;

/// An upstream that records the request lines it receives.
fn recording_upstream() -> (Upstream, Arc<Mutex<Vec<String>>>) {
    Upstream::recording(
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        "",
        Duration::ZERO,
    )
}

const SMUGGLED: &str = "GET /smuggled HTTP/1.1\r\nHost: h\r\n\r\n";

#[test]
fn ambiguous_framing_is_rejected_and_never_forwarded() {
    let (up, seen) = recording_upstream();
    let proxy = Proxy::start(&["--route", &format!("/=http://{}", up.addr)]);
    let heads = [
        "POST /cl-te HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n",
        "POST /te-cl HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n",
        "POST /double-cl HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\n",
        "POST /cl-list HTTP/1.1\r\nHost: h\r\nContent-Length: 4, 4\r\n\r\n",
        "POST /cl-plus HTTP/1.1\r\nHost: h\r\nContent-Length: +4\r\n\r\n",
        "POST /te-identity HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, identity\r\n\r\n",
        "POST /te-twice HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
        "POST /te-space HTTP/1.1\r\nHost: h\r\nTransfer-Encoding : chunked\r\n\r\n",
        "POST /te-x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: xchunked\r\n\r\n",
        "POST /obs-fold HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nX: a\r\n b\r\n\r\n",
        "POST /bare-cr HTTP/1.1\r\nHost: h\rX: y\r\nContent-Length: 4\r\n\r\n",
        "POST /te-10 HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
    ];
    for head in heads {
        let raw = format!("{head}0\r\n\r\n{SMUGGLED}");
        let out = String::from_utf8_lossy(&raw_until_close(&proxy, raw.as_bytes())).into_owned();
        assert!(out.starts_with("HTTP/1.1 400 "), "{head:?} gave {out:?}");
        assert_eq!(
            out.matches("HTTP/1.1").count(),
            1,
            "{head:?}: one response, then close: {out:?}"
        );
    }
    assert!(
        seen.lock().unwrap().is_empty(),
        "reached upstream: {:?}",
        seen.lock().unwrap()
    );
}

#[test]
fn malformed_chunked_bodies_are_rejected_and_never_become_requests() {
    let (up, seen) = recording_upstream();
    let proxy = Proxy::start(&["--route", &format!("/=http://{}", up.addr)]);
    let bodies: &[&str] = &[
        "-1\r\nx\r\n0\r\n\r\n",
        "0x10\r\n0123456789abcdef\r\n0\r\n\r\n",
        "1 0\r\n0123456789abcdef\r\n0\r\n\r\n",
        "+5\r\nhello\r\n0\r\n\r\n",
        "ffffffffffffffffff\r\nx\r\n0\r\n\r\n",
        "5\r\nhelloXX0\r\n\r\n",
        "5\r\nhello0\r\n\r\n",
        "5\nhello\r\n0\r\n\r\n",
        "5\r\nhello\r\n0\r\nX: y\r\n folded\r\n\r\n",
        "5;a\rb\r\nhello\r\n0\r\n\r\n",
        "\r\n",
    ];
    for body in bodies {
        let raw = format!("POST /chunked HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n{body}{SMUGGLED}");
        let out = String::from_utf8_lossy(&raw_until_close(&proxy, raw.as_bytes())).into_owned();
        assert!(out.starts_with("HTTP/1.1 400 "), "{body:?} gave {out:?}");
        assert!(out.contains("Connection: close"), "{body:?}");
        assert_eq!(out.matches("HTTP/1.1 ").count(), 1, "{body:?}: {out:?}");
    }
    std::thread::sleep(Duration::from_millis(200));
    let seen = seen.lock().unwrap();
    assert!(
        seen.iter().all(|l| !l.contains("smuggled")),
        "smuggled request reached upstream: {seen:?}"
    );
}

#[test]
fn valid_chunked_request_is_reframed_for_the_upstream() {
    let (up, seen) = recording_upstream();
    let proxy = Proxy::start(&["--route", &format!("/=http://{}", up.addr)]);
    let mut s = proxy.connect();
    let mut reader = BufReader::new(s.try_clone().unwrap());
    s.write_all(b"POST /ok HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=v\r\nhello\r\n0\r\nTrailer-X: 1\r\n\r\nGET /next HTTP/1.1\r\nHost: h\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut reader, false).unwrap().status, 200);
    assert_eq!(read_response(&mut reader, false).unwrap().status, 200);
    assert_eq!(
        *seen.lock().unwrap(),
        vec![
            "POST /ok HTTP/1.1".to_string(),
            "GET /next HTTP/1.1".to_string()
        ]
    );
}
