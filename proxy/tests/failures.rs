//! Upstream failures and limits: 502 on refused connections, 504 on timeouts, truncated
//! responses closing the client connection, 413 for bodies over --max-body, retry of an
//! idempotent request when a pooled connection turns out dead, and failover between upstreams.

use std::io::{BufReader, Read, Write};
use std::net::TcpListener;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use testkit::*;

fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

#[test]
fn refused_gives_502_and_silence_gives_504() {
    let silent = Upstream::start(|s| {
        std::thread::sleep(Duration::from_secs(5));
        drop(s);
    });
    let proxy = Proxy::start(&[
        "--route",
        &format!("/down=http://127.0.0.1:{}", closed_port()),
        "--route",
        &format!("/slow={}", silent.url()),
        "--route",
        "/nodns=http://no-such-host.invalid:80",
        "--upstream-timeout",
        "1s",
    ]);
    let r = get(&proxy, "/down/x");
    assert_eq!(r.status, 502);
    // The connection stays usable after a 502 to a bodyless request.
    let mut s = proxy.connect();
    let mut reader = BufReader::new(s.try_clone().unwrap());
    for _ in 0..2 {
        s.write_all(b"GET /down/ HTTP/1.1\r\nHost: h\r\n\r\n")
            .unwrap();
        assert_eq!(read_response(&mut reader, false).unwrap().status, 502);
    }
    let started = Instant::now();
    assert_eq!(get(&proxy, "/slow/x").status, 504);
    assert!(started.elapsed() < Duration::from_secs(4));
    assert_eq!(get(&proxy, "/nodns/").status, 502);
}

#[test]
fn connect_timeout_gives_504() {
    // A listener whose accept queue is full drops SYNs, so connecting hangs (loopback only).
    let full = TcpListener::bind("127.0.0.1:0").unwrap();
    // SAFETY: listen(2) on a socket we own, shrinking its backlog.
    unsafe { libc::listen(full.as_raw_fd(), 0) };
    let addr = full.local_addr().unwrap();
    let mut fillers = Vec::new();
    for _ in 0..4 {
        if let Ok(s) = std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(300)) {
            fillers.push(s);
        }
    }
    let proxy = Proxy::start(&[
        "--route",
        &format!("/=http://{addr}"),
        "--connect-timeout",
        "1s",
    ]);
    let started = Instant::now();
    let r = get(&proxy, "/x");
    assert_eq!(r.status, 504, "{:?}", r);
    assert!(started.elapsed() < Duration::from_secs(6));
}

#[test]
fn upstream_closing_mid_response_never_looks_complete() {
    let up = Upstream::start(|s| {
        let mut reader = BufReader::new(s.try_clone().unwrap());
        let mut s = s;
        if let Some(req) = read_request(&mut reader) {
            if req.line.contains("/length") {
                let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part");
            } else {
                let _ = s.write_all(
                    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n3\r\nab",
                );
            }
        }
    });
    let proxy = Proxy::start(&["--route", &format!("/={}", up.url())]);
    for path in ["/length", "/chunked"] {
        let out = raw_until_close(
            &proxy,
            format!("GET {path} HTTP/1.1\r\nHost: h\r\n\r\n").as_bytes(),
        );
        let text = String::from_utf8_lossy(&out);
        assert!(text.starts_with("HTTP/1.1 200 OK"), "{text}");
        let mut reader = BufReader::new(&out[..]);
        let complete = read_response(&mut reader, false);
        assert!(
            complete.is_none(),
            "{path}: a truncated response parsed as complete: {text:?}"
        );
    }
}

#[test]
fn bodies_over_the_limit_get_413() {
    let up = Upstream::echo();
    let proxy = Proxy::start(&["--route", &format!("/={}", up.url()), "--max-body", "1k"]);
    let r = exchange(
        &proxy,
        "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 2000\r\n\r\n",
    );
    assert_eq!((r.status, r.header("connection")), (413, Some("close")));
    let mut raw = String::from("POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n");
    for _ in 0..3 {
        raw.push_str(&format!("200\r\n{}\r\n", "x".repeat(512)));
    }
    raw.push_str("0\r\n\r\n");
    let out = String::from_utf8_lossy(&raw_until_close(&proxy, raw.as_bytes())).into_owned();
    assert!(out.starts_with("HTTP/1.1 413 "), "{out}");
    let ok = exchange(
        &proxy,
        &format!(
            "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 1024\r\n\r\n{}",
            "y".repeat(1024)
        ),
    );
    assert!(ok.text().contains("body-length: 1024"));
}

#[test]
fn dead_pooled_connection_is_retried_once() {
    // Answers one request per connection; a second request on the same connection makes it
    // close without answering (the keep-alive race a pooled connection can lose).
    let up = Upstream::start(|s| {
        let mut reader = BufReader::new(s.try_clone().unwrap());
        let mut s = s;
        if read_request(&mut reader).is_some() {
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
            let _ = read_request(&mut reader);
        }
    });
    let proxy = Proxy::start(&["--route", &format!("/={}", up.url()), "--workers", "1"]);
    let mut s = proxy.connect();
    let mut reader = BufReader::new(s.try_clone().unwrap());
    for _ in 0..5 {
        s.write_all(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n").unwrap();
        let r = read_response(&mut reader, false).unwrap();
        assert_eq!(r.status, 200);
    }
    assert_eq!(up.accepted(), 5);
    // A request with a body is not replayed: it gets a 502.
    s.write_all(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n\r\nx")
        .unwrap();
    assert_eq!(read_response(&mut reader, false).unwrap().status, 502);
}

#[test]
fn round_robin_and_failover() {
    let a = Upstream::start(|s| {
        let mut reader = BufReader::new(s.try_clone().unwrap());
        let mut s = s;
        while read_request(&mut reader).is_some() {
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na");
        }
    });
    let b = Upstream::start(|s| {
        let mut reader = BufReader::new(s.try_clone().unwrap());
        let mut s = s;
        while read_request(&mut reader).is_some() {
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nb");
        }
    });
    let dead = closed_port();
    let proxy = Proxy::start(&[
        "--workers",
        "1",
        "--route",
        &format!(
            "/=http://{}|http://127.0.0.1:{dead}|http://{}",
            a.addr, b.addr
        ),
    ]);
    let mut seen = String::new();
    for _ in 0..6 {
        let r = get(&proxy, "/");
        assert_eq!(r.status, 200, "a dead upstream must be skipped");
        seen.push_str(&r.text());
    }
    assert!(seen.contains('a') && seen.contains('b'), "{seen}");
    let mut s = proxy.connect();
    s.write_all(b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut all = Vec::new();
    s.read_to_end(&mut all).unwrap();
    assert!(all.starts_with(b"HTTP/1.1 200"));
}
