//! HTTP/1.1 connection handling of the real `static` binary: partial heads, pipelining,
//! keep-alive and close rules, request bodies, limits and malformed requests, timeouts.

use std::time::{Duration, Instant};

use testkit::{get_req, request, start, Client, Site};

fn site() -> Site {
    let site = Site::new("protocol");
    site.write("index.html", "<h1>home</h1>");
    site.write("a.txt", "alpha");
    site.write("b.txt", "bravo!");
    site.write("c.css", "body{}");
    site
}

#[test]
fn partial_head_in_several_writes() {
    let site = site();
    let server = start(&site.root, &[]);
    let req = get_req("/a.txt");
    let mut c = server.connect();
    c.send_split(&req, &[3, 10, 20, req.len() - 2], Duration::from_millis(60));
    let r = c.read_response();
    assert_eq!(r.status, 200, "{}", r.dump());
    assert_eq!(r.body, b"alpha");
    // The connection is reusable after a split head.
    c.send(&get_req("/b.txt"));
    assert_eq!(c.read_response().body, b"bravo!");
}

#[test]
fn partial_head_byte_by_byte() {
    let site = site();
    let server = start(&site.root, &[]);
    let req = request("GET", "/a.txt", &[("User-Agent", "slow/1.0")]);
    let mut c = server.connect();
    let cuts: Vec<usize> = (1..req.len()).collect();
    c.send_split(&req, &cuts, Duration::from_millis(2));
    let r = c.read_response();
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"alpha");
}

#[test]
fn pipelined_requests_answered_in_order() {
    let site = site();
    let server = start(&site.root, &[]);
    let mut c = server.connect();
    let mut burst = Vec::new();
    burst.extend(get_req("/a.txt"));
    burst.extend(request("HEAD", "/b.txt", &[]));
    burst.extend(get_req("/missing"));
    burst.extend(get_req("/b.txt"));
    burst.extend(get_req("/c.css"));
    c.send(&burst);
    let r = c.read_response();
    assert_eq!((r.status, r.body.as_slice()), (200, &b"alpha"[..]));
    let r = c.read_head_response();
    assert_eq!(r.status, 200);
    assert_eq!(r.content_length(), Some(6), "HEAD reports the GET length");
    let r = c.read_response();
    assert_eq!(r.status, 404);
    assert_eq!(r.content_length(), Some(r.body.len() as u64));
    let r = c.read_response();
    assert_eq!((r.status, r.body.as_slice()), (200, &b"bravo!"[..]));
    let r = c.read_response();
    assert_eq!((r.status, r.body.as_slice()), (200, &b"body{}"[..]));
    assert!(!r.closes());
    // Nothing extra was sent: the stream is exactly five responses.
    c.expect_silent(Duration::from_millis(200));
}

#[test]
fn pipelined_burst_of_200() {
    let site = site();
    let bodies: Vec<String> = (0..10).map(|i| format!("file number {i}\n")).collect();
    for (i, body) in bodies.iter().enumerate() {
        site.write(&format!("f{i}.txt"), body);
    }
    let server = start(&site.root, &[]);
    let mut c = server.connect();
    let mut burst = Vec::new();
    let mut expected = Vec::new();
    for n in 0..200 {
        let i = (n * 7) % 10;
        if n % 17 == 5 {
            burst.extend(request("HEAD", &format!("/f{i}.txt?n={n}"), &[]));
            expected.push((true, i));
        } else {
            burst.extend(get_req(&format!("/f{i}.txt?n={n}")));
            expected.push((false, i));
        }
    }
    c.send(&burst);
    for (n, (head, i)) in expected.into_iter().enumerate() {
        let r = c.read_response_for(head);
        assert_eq!(r.status, 200, "response {n}: {}", r.dump());
        assert_eq!(
            r.content_length(),
            Some(bodies[i].len() as u64),
            "response {n}"
        );
        if !head {
            assert_eq!(r.text(), bodies[i], "response {n} out of order");
        }
        assert!(!r.closes(), "response {n}");
    }
    c.expect_silent(Duration::from_millis(200));
    // Still usable afterwards.
    c.send(&get_req("/a.txt"));
    assert_eq!(c.read_response().body, b"alpha");
}

#[test]
fn pipelined_behind_a_large_sendfile_body() {
    let site = site();
    let big = testkit::pattern(300 * 1024, 7);
    site.write("big.bin", &big);
    let server = start(&site.root, &[]);
    let mut c = server.connect();
    let mut burst = get_req("/big.bin");
    burst.extend(get_req("/a.txt"));
    burst.extend(get_req("/big.bin"));
    burst.extend(get_req("/b.txt"));
    c.send(&burst);
    for expected in [&big[..], b"alpha", &big[..], b"bravo!"] {
        let r = c.read_response();
        assert_eq!(r.status, 200);
        assert!(r.body == expected, "body mismatch ({} bytes)", r.body.len());
    }
}

#[test]
fn keep_alive_reuse() {
    let site = site();
    let server = start(&site.root, &[]);
    let mut c = server.connect();
    for _ in 0..20 {
        c.send(&get_req("/a.txt"));
        let r = c.read_response();
        assert_eq!(r.status, 200);
        assert_eq!(r.body, b"alpha");
        assert!(r.header("connection").is_none(), "{}", r.dump());
    }
}

#[test]
fn http10_closes_by_default() {
    let site = site();
    let server = start(&site.root, &[]);
    let mut c = server.connect();
    c.send(b"GET /a.txt HTTP/1.0\r\n\r\n");
    let r = c.read_response();
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"alpha");
    assert!(r.closes(), "{}", r.dump());
    c.expect_closed();
}

#[test]
fn http10_keep_alive_when_asked() {
    let site = site();
    let server = start(&site.root, &[]);
    let mut c = server.connect();
    for _ in 0..3 {
        c.send(b"GET /a.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        let r = c.read_response();
        assert_eq!(r.status, 200);
        assert_eq!(r.header("connection"), Some("keep-alive"));
        assert_eq!(r.body, b"alpha");
    }
    c.send(b"GET /b.txt HTTP/1.0\r\n\r\n");
    let r = c.read_response();
    assert!(r.closes());
    assert_eq!(r.body, b"bravo!");
    c.expect_closed();
}

#[test]
fn connection_close_is_honoured() {
    let site = site();
    let server = start(&site.root, &[]);
    let mut c = server.connect();
    let mut burst = request("GET", "/a.txt", &[("Connection", "close")]);
    // Anything after the closing request must be ignored.
    burst.extend(get_req("/b.txt"));
    c.send(&burst);
    let r = c.read_response();
    assert_eq!(r.status, 200);
    assert!(r.closes());
    assert_eq!(r.body, b"alpha");
    c.expect_closed();
    // Token lists and case: "Keep-Alive, CLOSE" closes too.
    let mut c = server.connect();
    c.send(&request(
        "GET",
        "/a.txt",
        &[("Connection", "Keep-Alive, CLOSE")],
    ));
    assert!(c.read_response().closes());
    c.expect_closed();
}

#[test]
fn client_half_close_still_gets_all_responses() {
    let site = site();
    site.write("big.bin", testkit::pattern(200 * 1024, 3));
    let server = start(&site.root, &[]);
    let mut c = server.connect();
    let mut burst = get_req("/a.txt");
    burst.extend(get_req("/big.bin"));
    burst.extend(get_req("/b.txt"));
    c.send(&burst);
    c.shutdown_write();
    assert_eq!(c.read_response().body, b"alpha");
    assert_eq!(c.read_response().body.len(), 200 * 1024);
    assert_eq!(c.read_response().body, b"bravo!");
    c.expect_closed();
}

/// Sends `raw` on a fresh connection, expects `status` with `Connection: close`, then EOF, and
/// checks that the server still answers afterwards.
#[track_caller]
fn expect_fatal(server: &testkit::Server, raw: &[u8], status: u16) {
    let mut c = server.connect();
    c.send(raw);
    let r = c.read_response();
    let shown = String::from_utf8_lossy(&raw[..raw.len().min(120)]).into_owned();
    assert_eq!(r.status, status, "{shown:?}\n{}", r.dump());
    assert!(r.closes(), "{shown:?}: no Connection: close\n{}", r.dump());
    assert_eq!(r.content_length(), Some(r.body.len() as u64));
    c.expect_closed();
    server.assert_alive();
}

#[test]
fn head_limits_431_and_414() {
    let site = site();
    let server = start(&site.root, &[]);
    // One huge header line: head over 8 KiB, sent complete.
    let big = request("GET", "/a.txt", &[("X-Big", &"b".repeat(9000))]);
    expect_fatal(&server, &big, 431);
    // Just over 8 KiB in several small headers.
    let filler: Vec<(String, String)> = (0..40)
        .map(|i| (format!("X-Fill-{i}"), "f".repeat(200)))
        .collect();
    let refs: Vec<(&str, &str)> = filler
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    expect_fatal(&server, &request("GET", "/a.txt", &refs), 431);
    // A head far larger than the read buffer, never completed.
    let mut endless = b"GET /a.txt HTTP/1.1\r\nHost: test\r\nX-Endless: ".to_vec();
    endless.extend(std::iter::repeat_n(b'e', 20 * 1024));
    expect_fatal(&server, &endless, 431);
    // More than 64 header lines, each tiny.
    let many: Vec<(String, String)> = (0..70).map(|i| (format!("X-{i}"), "v".into())).collect();
    let refs: Vec<(&str, &str)> = many.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    expect_fatal(&server, &request("GET", "/a.txt", &refs), 431);
    // A 5 KiB request-target.
    let long = format!("/{}", "a".repeat(5 * 1024));
    expect_fatal(&server, &get_req(&long), 414);
    // Right at the limits is fine: 64 header lines, a target of 4 KiB.
    let sixty_three: Vec<(String, String)> =
        (0..63).map(|i| (format!("X-{i}"), "v".into())).collect();
    let refs: Vec<(&str, &str)> = sixty_three
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let r = server.raw(&request("GET", "/a.txt", &refs));
    assert_eq!(r.status, 200, "64 header lines (with Host) are allowed");
    let r = server.raw(&get_req(&format!("/{}", "a".repeat(4095))));
    assert_eq!(r.status, 404, "a 4 KiB target is allowed");
}

#[test]
fn head_of_exactly_8_kib_is_accepted() {
    let site = site();
    let server = start(&site.root, &[]);
    let base = request("GET", "/a.txt", &[("X-Pad", "")]);
    let pad = 8 * 1024 - base.len();
    let exact = request("GET", "/a.txt", &[("X-Pad", &"p".repeat(pad))]);
    assert_eq!(exact.len(), 8 * 1024);
    let r = server.raw(&exact);
    assert_eq!(r.status, 200, "{}", r.dump());
    let over = request("GET", "/a.txt", &[("X-Pad", &"p".repeat(pad + 1))]);
    expect_fatal(&server, &over, 431);
}

#[test]
fn malformed_requests_are_400_and_close() {
    let site = site();
    let server = start(&site.root, &[]);
    let cases: &[&[u8]] = &[
        // Missing Host on HTTP/1.1, duplicated Host, invalid Host.
        b"GET /a.txt HTTP/1.1\r\n\r\n",
        b"GET /a.txt HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        b"GET /a.txt HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n",
        b"GET /a.txt HTTP/1.1\r\nHost: a b\r\n\r\n",
        // Bad request lines.
        b"GET  /a.txt HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET /a.txt\r\nHost: a\r\n\r\n",
        b"GET /a.txt HTTP/1.1 extra\r\nHost: a\r\n\r\n",
        b"/a.txt HTTP/1.1\r\nHost: a\r\n\r\n",
        b"G@T /a.txt HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET a.txt HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET /a.txt HTTX/1.1\r\nHost: a\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",
        // obs-fold, whitespace before the colon, bare CR, NUL in a value.
        b"GET /a.txt HTTP/1.1\r\nHost: a\r\nX-Folded: one\r\n two\r\n\r\n",
        b"GET /a.txt HTTP/1.1\r\nHost: a\r\nX-Folded: one\r\n\ttwo\r\n\r\n",
        b"GET /a.txt HTTP/1.1\r\nHost : a\r\n\r\n",
        b"GET /a.txt HTTP/1.1\r\nHost: a\rX: y\r\n\r\n",
        b"GET /a.txt HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n",
        b"GET /a.txt HTTP/1.1\r\n Host: a\r\n\r\n",
        // Framing ambiguities: CL+TE, duplicate CL, bad CL, bad TE.
        b"GET /a.txt HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"GET /a.txt HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
        b"GET /a.txt HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
        b"GET /a.txt HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 3\r\n\r\nabc",
        b"GET /a.txt HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n",
        b"GET /a.txt HTTP/1.1\r\nHost: a\r\nContent-Length: 0x10\r\n\r\n",
        b"GET /a.txt HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n",
        b"GET /a.txt HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n",
        b"GET /a.txt HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    ];
    for raw in cases {
        expect_fatal(&server, raw, 400);
    }
}

#[test]
fn unsupported_versions_are_505() {
    let site = site();
    let server = start(&site.root, &[]);
    expect_fatal(&server, b"GET /a.txt HTTP/2.0\r\nHost: a\r\n\r\n", 505);
    expect_fatal(&server, b"GET /a.txt HTTP/3\r\nHost: a\r\n\r\n", 505);
}

#[test]
fn other_methods_are_405_with_allow() {
    let site = site();
    let server = start(&site.root, &[]);
    let mut c = server.connect();
    for method in ["POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE", "get"] {
        c.send(&request(method, "/a.txt", &[]));
        let r = c.read_response();
        assert_eq!(r.status, 405, "{method}");
        assert_eq!(r.header("allow"), Some("GET, HEAD"), "{method}");
        assert!(!testkit::contains(&r.body, b"alpha"));
    }
    // OPTIONS * too; and the connection is still usable after all of them.
    c.send(&request("OPTIONS", "*", &[]));
    let r = c.read_response();
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET, HEAD"));
    c.send(&get_req("/a.txt"));
    assert_eq!(c.read_response().body, b"alpha");
}

#[test]
fn post_with_small_body_keeps_the_connection() {
    let site = site();
    let server = start(&site.root, &[]);
    let mut c = server.connect();
    let mut burst = request("POST", "/a.txt", &[("Content-Length", "11")]);
    burst.extend_from_slice(b"hello=world");
    burst.extend(get_req("/b.txt"));
    c.send(&burst);
    assert_eq!(c.read_response().status, 405);
    let r = c.read_response();
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"bravo!");
}

#[test]
fn get_with_small_body_is_drained() {
    let site = site();
    let server = start(&site.root, &[]);
    let mut c = server.connect();
    // The body looks like a request: it must be skipped, not answered.
    let smuggled = get_req("/c.css");
    let mut burst = request(
        "GET",
        "/a.txt",
        &[("Content-Length", &smuggled.len().to_string())],
    );
    burst.extend_from_slice(&smuggled);
    burst.extend(get_req("/b.txt"));
    c.send(&burst);
    let r = c.read_response();
    assert_eq!((r.status, r.body.as_slice()), (200, &b"alpha"[..]));
    assert!(!r.closes());
    let r = c.read_response();
    assert_eq!((r.status, r.body.as_slice()), (200, &b"bravo!"[..]));
    c.expect_silent(Duration::from_millis(200));
}

#[test]
fn body_arriving_slowly_is_drained() {
    let site = site();
    let server = start(&site.root, &[]);
    let mut c = server.connect();
    c.send(&request("GET", "/a.txt", &[("Content-Length", "10")]));
    assert_eq!(c.read_response().body, b"alpha");
    c.send(b"01234");
    std::thread::sleep(Duration::from_millis(50));
    let mut rest = b"56789".to_vec();
    rest.extend(get_req("/b.txt"));
    c.send(&rest);
    assert_eq!(c.read_response().body, b"bravo!");
}

#[test]
fn chunked_body_closes_the_connection() {
    let site = site();
    let server = start(&site.root, &[]);
    let mut c = server.connect();
    let mut burst = request("GET", "/a.txt", &[("Transfer-Encoding", "chunked")]);
    burst.extend_from_slice(b"5\r\nhello\r\n0\r\n\r\n");
    burst.extend(get_req("/b.txt"));
    c.send(&burst);
    let r = c.read_response();
    assert_eq!(r.status, 200);
    assert!(r.closes(), "{}", r.dump());
    assert_eq!(r.body, b"alpha");
    c.expect_closed();
}

#[test]
fn large_body_closes_the_connection() {
    let site = site();
    let server = start(&site.root, &[]);
    let mut c = server.connect();
    c.send(&request(
        "POST",
        "/a.txt",
        &[("Content-Length", "10000000")],
    ));
    c.send(&vec![b'x'; 256 * 1024]);
    let r = c.read_response();
    assert_eq!(r.status, 405);
    assert!(r.closes());
    c.expect_closed();
}

#[test]
fn expect_other_than_continue_is_417() {
    let site = site();
    let server = start(&site.root, &[]);
    let r = server.raw(&request("GET", "/a.txt", &[("Expect", "teapot")]));
    assert_eq!(r.status, 417);
}

#[test]
fn errors_after_a_good_request_close_after_it() {
    let site = site();
    let server = start(&site.root, &[]);
    let mut c = server.connect();
    let mut burst = get_req("/a.txt");
    burst.extend_from_slice(b"BROKEN\r\n\r\n");
    burst.extend(get_req("/b.txt"));
    c.send(&burst);
    let r = c.read_response();
    assert_eq!((r.status, r.body.as_slice()), (200, &b"alpha"[..]));
    let r = c.read_response();
    assert_eq!(r.status, 400);
    assert!(r.closes());
    c.expect_closed();
}

#[test]
fn header_timeout_sends_408_and_closes() {
    let site = site();
    let server = start(&site.root, &["--header-timeout", "1s"]);
    let mut c = server.connect();
    let started = Instant::now();
    c.send(b"GET /a.txt HTTP/1.1\r\nHost: te");
    let r = c.read_response();
    let elapsed = started.elapsed();
    assert_eq!(r.status, 408, "{}", r.dump());
    assert!(r.closes());
    assert!(
        elapsed >= Duration::from_millis(900),
        "408 after {elapsed:?}"
    );
    assert!(elapsed < Duration::from_secs(4), "408 after {elapsed:?}");
    c.expect_closed();
    server.assert_alive();
}

#[test]
fn header_timeout_is_not_reset_by_trickling_bytes() {
    let site = site();
    let server = start(&site.root, &["--header-timeout", "1s"]);
    let mut c = server.connect();
    let mut writer = c.stream.try_clone().expect("clone");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop_writer = stop.clone();
    // Slowloris: a byte every 100 ms; the head never completes.
    let trickle = std::thread::spawn(move || {
        let head = format!(
            "GET /a.txt HTTP/1.1\r\nHost: t\r\nX-Slow: {}",
            "z".repeat(100)
        );
        for b in head.bytes() {
            if stop_writer.load(std::sync::atomic::Ordering::SeqCst)
                || std::io::Write::write_all(&mut writer, &[b]).is_err()
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    let started = Instant::now();
    let r = c.read_response();
    let elapsed = started.elapsed();
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(r.status, 408, "{}", r.dump());
    assert!(elapsed < Duration::from_secs(4), "408 after {elapsed:?}");
    trickle.join().expect("writer");
}

#[test]
fn silent_connection_is_closed_by_the_header_timeout() {
    let site = site();
    let server = start(
        &site.root,
        &["--header-timeout", "1s", "--idle-timeout", "30s"],
    );
    let mut c = server.connect();
    let took = c.wait_closed(Duration::from_secs(6));
    assert!(took < Duration::from_secs(4), "closed after {took:?}");
}

#[test]
fn idle_keep_alive_connection_is_closed() {
    let site = site();
    let server = start(&site.root, &["--idle-timeout", "1s"]);
    let mut c = server.connect();
    c.send(&get_req("/a.txt"));
    assert_eq!(c.read_response().body, b"alpha");
    let took = c.wait_closed(Duration::from_secs(6));
    assert!(took >= Duration::from_millis(900), "closed after {took:?}");
    assert!(took < Duration::from_secs(4), "closed after {took:?}");
    server.assert_alive();
}

#[test]
fn active_keep_alive_connection_is_not_closed_early() {
    let site = site();
    let server = start(&site.root, &["--idle-timeout", "2s"]);
    let mut c = server.connect();
    let started = Instant::now();
    // Requests every 300 ms for 3 s: longer than the idle timeout in total, never idle that long.
    while started.elapsed() < Duration::from_secs(3) {
        c.send(&get_req("/a.txt"));
        assert_eq!(c.read_response().body, b"alpha");
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[test]
fn many_concurrent_connections() {
    let site = site();
    let server = start(&site.root, &[]);
    let addr = server.addr;
    let handles: Vec<_> = (0..16)
        .map(|t| {
            std::thread::spawn(move || {
                let mut c = Client::connect(addr);
                for i in 0..25 {
                    let path = if (t + i) % 2 == 0 { "/a.txt" } else { "/b.txt" };
                    c.send(&get_req(path));
                    let r = c.read_response();
                    assert_eq!(r.status, 200);
                    let want: &[u8] = if (t + i) % 2 == 0 {
                        b"alpha"
                    } else {
                        b"bravo!"
                    };
                    assert_eq!(r.body, want);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("client thread");
    }
}

#[test]
fn pipelined_flood_with_a_slow_reader_is_answered_in_order() {
    let site = site();
    let medium = testkit::pattern(40 * 1024, 11);
    let large = testkit::pattern(300 * 1024, 12);
    site.write("m.bin", &medium);
    site.write("l.bin", &large);
    let server = start(&site.root, &[]);
    let mut c = server.connect();
    // More request bytes than the server's read buffer, and ~12 MB of responses: both the
    // input and the output side must stop and resume on their own.
    let mut burst = Vec::new();
    let mut expect_large = Vec::new();
    for n in 0..300 {
        let large = n % 50 == 25;
        let path = if large { "/l.bin" } else { "/m.bin" };
        burst.extend(get_req(&format!("{path}?n={n:04}")));
        expect_large.push(large);
    }
    assert!(burst.len() > 10 * 1024);
    c.send(&burst);
    std::thread::sleep(Duration::from_millis(300));
    for (n, is_large) in expect_large.into_iter().enumerate() {
        let r = c.read_response();
        assert_eq!(r.status, 200, "response {n}");
        let want: &[u8] = if is_large { &large } else { &medium };
        assert!(r.body == want, "response {n} differs");
    }
    c.expect_silent(Duration::from_millis(200));
}

#[test]
fn stalled_reader_is_dropped_after_the_idle_timeout() {
    let site = site();
    let len = 40 * 1024 * 1024;
    site.write("big.bin", testkit::pattern(len, 13));
    let server = start(&site.root, &["--idle-timeout", "1s"]);
    let mut c = server.connect();
    c.send(&get_req("/big.bin"));
    let head = c.read_head();
    assert_eq!(head.content_length(), Some(len as u64));
    // Stop reading long enough for the send timeout to fire, then drain what was queued.
    std::thread::sleep(Duration::from_secs(3));
    let started = Instant::now();
    let mut got = c.buffered();
    loop {
        match std::io::Read::read(&mut c.stream, &mut [0u8; 65536]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("read: {e}"),
        }
    }
    assert!(got < len, "the stalled transfer should have been abandoned");
    assert!(started.elapsed() < Duration::from_secs(5));
    server.assert_alive();
}

#[test]
fn client_reset_mid_transfer_does_not_hurt_the_server() {
    let site = site();
    site.write("big.bin", testkit::pattern(20 * 1024 * 1024, 14));
    let server = start(&site.root, &["--workers", "1"]);
    for _ in 0..5 {
        let mut c = server.connect();
        c.send(&get_req("/big.bin"));
        assert_eq!(c.read_head().status, 200);
        c.read_some(1024);
        // Unread data at close makes the kernel send a reset.
        drop(c);
    }
    server.assert_alive();
    let r = server.get("/a.txt");
    assert_eq!(r.body, b"alpha");
}

#[test]
fn connection_limit_pauses_and_resumes_accepting() {
    let site = site();
    let server = start(&site.root, &["--workers", "1", "--max-connections", "2"]);
    let mut first = server.connect();
    first.send(&get_req("/a.txt"));
    assert_eq!(first.read_response().body, b"alpha");
    let mut second = server.connect();
    second.send(&get_req("/a.txt"));
    assert_eq!(second.read_response().body, b"alpha");
    // The third is not accepted yet: it waits in the backlog, unanswered.
    let mut third = server.connect();
    third.send(&get_req("/b.txt"));
    third.expect_silent(Duration::from_millis(300));
    // A slot frees up: the third is accepted and answered.
    first.send(&request("GET", "/a.txt", &[("Connection", "close")]));
    assert_eq!(first.read_response().body, b"alpha");
    first.expect_closed();
    drop(first);
    let r = third.read_response();
    assert_eq!(r.body, b"bravo!");
}

/// Runs `work` on a helper thread until `stop` is set; returns the thread.
fn background(
    stop: &std::sync::Arc<std::sync::atomic::AtomicBool>,
    work: impl FnOnce(std::sync::Arc<std::sync::atomic::AtomicBool>) + Send + 'static,
) -> std::thread::JoinHandle<()> {
    let stop = stop.clone();
    std::thread::spawn(move || work(stop))
}

#[test]
fn garbage_flood_after_an_error_neither_starves_the_worker_nor_outlives_the_linger() {
    use std::io::Write;
    use std::sync::atomic::{AtomicBool, Ordering};
    let site = site();
    let server = start(&site.root, &["--workers", "1", "--log-format", "off"]);
    let addr = server.addr;
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let (closed_tx, closed_rx) = std::sync::mpsc::channel();
    let flood = background(&stop, move |stop| {
        let mut s = std::net::TcpStream::connect(addr).expect("connect");
        s.set_write_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let started = Instant::now();
        s.write_all(b"BROKEN\r\n\r\n").expect("send");
        let chunk = vec![b'x'; 256 * 1024];
        while !stop.load(Ordering::SeqCst) && started.elapsed() < Duration::from_secs(8) {
            if s.write_all(&chunk).is_err() {
                let _ = closed_tx.send(started.elapsed());
                return;
            }
        }
    });
    std::thread::sleep(Duration::from_millis(200));
    let started = Instant::now();
    let r = server.get("/a.txt");
    let took = started.elapsed();
    assert_eq!(r.body, b"alpha");
    assert!(
        took < Duration::from_secs(2),
        "served after {took:?} next to a flood"
    );
    // The flooder is cut off once the 2 s linger is over, although it never stops sending.
    let closed_after = closed_rx
        .recv_timeout(Duration::from_secs(8))
        .expect("flooding connection never closed");
    assert!(
        closed_after < Duration::from_secs(5),
        "closed after {closed_after:?}"
    );
    stop.store(true, Ordering::SeqCst);
    flood.join().expect("flood thread");
}

#[test]
fn full_speed_pipelining_does_not_starve_the_worker() {
    use std::io::{Read, Write};
    use std::sync::atomic::{AtomicBool, Ordering};
    let site = site();
    let server = start(&site.root, &["--workers", "1", "--log-format", "off"]);
    let stream = std::net::TcpStream::connect(server.addr).expect("connect");
    let mut read_half = stream.try_clone().expect("clone");
    read_half
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let reader = background(&stop, move |stop| {
        let mut buf = vec![0u8; 1 << 20];
        while !stop.load(Ordering::SeqCst) {
            match read_half.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    });
    let writer = background(&stop, move |stop| {
        let mut stream = stream;
        let batch = get_req("/a.txt").repeat(500);
        while !stop.load(Ordering::SeqCst) {
            if stream.write_all(&batch).is_err() {
                return;
            }
        }
    });
    std::thread::sleep(Duration::from_millis(200));
    let started = Instant::now();
    let r = server.get("/b.txt");
    let took = started.elapsed();
    stop.store(true, Ordering::SeqCst);
    assert_eq!(r.body, b"bravo!");
    assert!(took < Duration::from_secs(2), "served after {took:?}");
    writer.join().expect("writer");
    reader.join().expect("reader");
}

#[test]
fn trickling_bytes_do_not_defeat_the_send_timeout() {
    use std::io::Write;
    let site = site();
    site.write("big.bin", testkit::pattern(40 * 1024 * 1024, 15));
    let server = start(&site.root, &["--idle-timeout", "1s"]);
    let mut c = server.connect();
    c.send(&get_req("/big.bin"));
    // Never read the response; send a byte every 200 ms so the connection never looks idle.
    let started = Instant::now();
    let closed_after = loop {
        if c.stream.write_all(b"X").is_err() {
            break started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(8),
            "a client that does not read kept its connection"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(
        closed_after < Duration::from_secs(5),
        "closed after {closed_after:?}"
    );
    server.assert_alive();
}
