//! The `static` process as a whole: graceful shutdown on SIGTERM, the command line, the
//! `health` subcommand, the startup line and the access log.

use std::io::Write;
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use testkit::{checksum, get_req, pattern, request, run, start, wait_for, Client, Site};

fn site() -> Site {
    let site = Site::new("lifecycle");
    site.write("index.html", "<h1>home</h1>");
    site.write("a.txt", "alpha");
    site
}

/// Waits until connecting to `addr` is refused (listeners closed).
fn wait_refused(addr: std::net::SocketAddr, timeout: Duration) {
    wait_for(
        timeout,
        "new connections to be refused",
        || match TcpStream::connect_timeout(&addr, Duration::from_secs(1)) {
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => Some(()),
            _ => None,
        },
    );
}

#[test]
fn sigterm_finishes_in_flight_transfer() {
    let site = site();
    let data = pattern(50 * 1024 * 1024, 50);
    site.write("big.bin", &data);
    let mut server = start(&site.root, &["--shutdown-grace", "20s"]);
    let mut c = server.connect();
    // The big download and, pipelined behind it, a small request.
    let mut burst = get_req("/big.bin");
    burst.extend(get_req("/a.txt"));
    c.send(&burst);
    let head = c.read_head();
    assert_eq!(head.status, 200);
    assert_eq!(head.content_length(), Some(data.len() as u64));
    assert!(!head.closes());
    // Read slowly for a while, so the server is blocked on a full socket.
    let mut got = 0;
    for _ in 0..8 {
        got += c.read_some(64 * 1024);
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(got < data.len() / 4, "the transfer must still be in flight");
    let signalled = Instant::now();
    server.signal(libc::SIGTERM);
    // New connections are refused while the transfer is still in flight.
    wait_refused(server.addr, Duration::from_secs(5));
    assert!(
        matches!(server.child.try_wait(), Ok(None)),
        "exited before the transfer finished"
    );
    // Keep reading: the whole body arrives.
    let body = c.read_exact_body(data.len());
    assert_eq!(checksum(&body), checksum(&data), "body differs");
    assert!(body == data);
    // The pipelined request is answered, but the connection is not kept.
    let r = c.read_response();
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"alpha");
    assert!(r.closes(), "{}", r.dump());
    c.expect_closed();
    let status = server
        .wait_exit(Duration::from_secs(10))
        .expect("exit after the transfer");
    assert!(status.success(), "exit status {status:?}");
    assert!(
        signalled.elapsed() < Duration::from_secs(20),
        "within the grace period"
    );
}

#[test]
fn sigterm_with_idle_keep_alive_connections_exits_promptly() {
    let site = site();
    let mut server = start(&site.root, &[]);
    let mut clients: Vec<Client> = (0..4).map(|_| server.connect()).collect();
    for c in &mut clients {
        c.send(&get_req("/a.txt"));
        assert_eq!(c.read_response().body, b"alpha");
    }
    // One connection that never sent anything, too.
    let mut silent = server.connect();
    let signalled = Instant::now();
    server.signal(libc::SIGTERM);
    let status = server
        .wait_exit(Duration::from_secs(5))
        .expect("exit after SIGTERM");
    let took = signalled.elapsed();
    assert!(status.success(), "exit status {status:?}");
    assert!(took < Duration::from_secs(2), "took {took:?}");
    for c in &mut clients {
        c.expect_closed();
    }
    silent.expect_closed();
    assert!(TcpStream::connect_timeout(&server.addr, Duration::from_secs(1)).is_err());
}

#[test]
fn sigint_and_sigterm_without_connections() {
    for sig in [libc::SIGINT, libc::SIGTERM] {
        let site = site();
        let mut server = start(&site.root, &[]);
        server.assert_alive();
        server.signal(sig);
        let status = server.wait_exit(Duration::from_secs(3)).expect("exit");
        assert!(status.success(), "signal {sig}: {status:?}");
    }
}

#[test]
fn grace_period_bounds_a_stuck_transfer() {
    let site = site();
    site.write("big.bin", pattern(30 * 1024 * 1024, 5));
    let mut server = start(&site.root, &["--shutdown-grace", "1s"]);
    let mut c = server.connect();
    c.send(&get_req("/big.bin"));
    let head = c.read_head();
    assert_eq!(head.status, 200);
    // The client never reads further.
    let signalled = Instant::now();
    server.signal(libc::SIGTERM);
    let status = server
        .wait_exit(Duration::from_secs(6))
        .expect("exit when the grace period is over");
    let took = signalled.elapsed();
    assert!(status.success(), "{status:?}");
    assert!(took >= Duration::from_millis(900), "took {took:?}");
    assert!(took < Duration::from_secs(4), "took {took:?}");
    server
        .stderr
        .wait_for(Duration::from_secs(2), |l| l.contains("grace period over"));
}

#[test]
fn request_arriving_during_drain_gets_connection_close() {
    let site = site();
    site.write("big.bin", pattern(20 * 1024 * 1024, 8));
    let mut server = start(&site.root, &["--shutdown-grace", "20s"]);
    // Keeps the process draining.
    let mut busy = server.connect();
    busy.send(&get_req("/big.bin"));
    assert_eq!(busy.read_head().status, 200);
    // An idle keep-alive connection, used once before the signal.
    let mut idle = server.connect();
    idle.send(&get_req("/a.txt"));
    assert_eq!(idle.read_response().body, b"alpha");
    server.signal(libc::SIGTERM);
    // The idle connection is closed promptly, without a response.
    let took = idle.wait_closed(Duration::from_secs(5));
    assert!(took < Duration::from_secs(2), "took {took:?}");
    // Finish the busy transfer; then the process exits.
    let body = busy.read_exact_body(20 * 1024 * 1024);
    assert_eq!(checksum(&body), checksum(&pattern(20 * 1024 * 1024, 8)));
    busy.expect_closed();
    let status = server.wait_exit(Duration::from_secs(10)).expect("exit");
    assert!(status.success());
}

#[test]
fn version_and_help() {
    let out = run(&["--version"]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("static {}", env!("CARGO_PKG_VERSION"))
    );
    let out = run(&["-V"]);
    assert!(out.status.success());
    for flag in ["--help", "-h"] {
        let out = run(&[flag]);
        assert!(out.status.success());
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(help.contains("Usage: static"), "{help}");
        for option in [
            "--listen",
            "--root",
            "--base-path",
            "--cache-control",
            "--show-dotfiles",
            "--workers",
            "--header-timeout",
            "--idle-timeout",
            "--shutdown-grace",
            "--log-format",
            "--help",
            "--version",
        ] {
            let line = help
                .lines()
                .find(|l| {
                    let l = l.trim_start();
                    l.starts_with(option) || l.contains(&format!(", {option} "))
                })
                .unwrap_or_else(|| panic!("{option} missing from help:\n{help}"));
            // Every option line is indented like the others.
            assert!(
                line.starts_with("  -"),
                "{option} is not aligned in --help: {line:?}"
            );
        }
    }
}

#[test]
fn usage_errors_exit_2_with_a_clear_message() {
    let site = site();
    let root = site.root.to_str().expect("utf-8 path");
    let cases: &[(&[&str], &str)] = &[
        (&["--bogus"], "unknown option '--bogus'"),
        (&["--bogus", "x"], "unknown option '--bogus'"),
        (&["--bogus=1"], "unknown option '--bogus'"),
        (&["--root"], "--root"),
        (&["--root", "/definitely/not/here"], "/definitely/not/here"),
        (&["--workers", "zero"], "workers"),
        (&["--header-timeout", "0"], "header-timeout"),
        (&["--log-format", "xml"], "xml"),
        (&["--listen", "nonsense", "--root", root], "nonsense"),
        (&["--base-path", "../x", "--root", root], "base path"),
        (&["stray"], "stray"),
    ];
    for (args, needle) in cases {
        let out = run(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.starts_with("static: error: ") && stderr.contains(needle),
            "{args:?}: {stderr}"
        );
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    // A root that is a file.
    let file = site.write("plain.txt", "x");
    let out = run(&["--root", file.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a directory"));
}

#[test]
fn listen_address_in_use_exits_2() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr").to_string();
    let site = site();
    let out = run(&[
        "--listen",
        &addr,
        "--root",
        site.root.to_str().expect("utf-8"),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains(&addr));
}

#[test]
fn startup_line() {
    let site = site();
    let server = start(&site.root, &["--workers", "3"]);
    let line = server
        .stderr
        .wait_for(Duration::from_secs(1), |l| l.contains("serving"));
    let canonical = site.root.canonicalize().expect("canonical");
    assert_eq!(
        line,
        format!(
            "static {}: serving {} on http://{} (3 workers)",
            env!("CARGO_PKG_VERSION"),
            canonical.display(),
            server.addr
        )
    );
}

#[test]
fn health_subcommand() {
    let site = site();
    let server = start(&site.root, &[]);
    let url = format!("http://{}/", server.addr);
    let out = run(&["health", &url]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    // The default URL follows --listen.
    let out = run(&["--listen", &server.addr.to_string(), "health"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    // A 404 is unhealthy.
    let out = run(&["health", &format!("http://{}/missing", server.addr)]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    // A closed port.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr")
    };
    let out = run(&["health", &format!("http://{closed}/")]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(!out.stderr.is_empty());
    let out = run(&["health", "https://127.0.0.1/"]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn access_log_combined() {
    let site = site();
    let server = start(&site.root, &[]);
    let mut c = server.connect();
    c.send(&request(
        "GET",
        "/a.txt?x=1",
        &[
            ("User-Agent", "test-agent/1.0"),
            ("Referer", "http://ref.example/"),
        ],
    ));
    assert_eq!(c.read_response().status, 200);
    c.send(&request(
        "GET",
        "/missing\"quote",
        &[("User-Agent", "evil\"agent")],
    ));
    assert_eq!(c.read_response().status, 404);
    c.send(b"BROKEN\r\n\r\n");
    assert_eq!(c.read_response().status, 400);
    let line = server
        .stdout
        .wait_for(Duration::from_secs(5), |l| l.contains("/a.txt?x=1"));
    assert!(line.starts_with("127.0.0.1 - - ["), "{line}");
    assert!(
        line.ends_with(
            "\"GET /a.txt?x=1 HTTP/1.1\" 200 5 \"http://ref.example/\" \"test-agent/1.0\""
        ),
        "{line}"
    );
    // [25/Nov/2026:15:01:40 +0000]
    let stamp = &line[line.find('[').unwrap_or(0)..line.find(']').unwrap_or(0) + 1];
    assert_eq!(stamp.len(), 28, "{stamp}");
    assert!(stamp.ends_with(" +0000]"), "{stamp}");
    // Client bytes are escaped: one line per request, quotes cannot break fields.
    let line = server
        .stdout
        .wait_for(Duration::from_secs(5), |l| l.contains("/missing"));
    assert!(
        line.contains("\"GET /missing\\x22quote HTTP/1.1\" 404 "),
        "{line}"
    );
    assert!(line.ends_with("\"evil\\x22agent\""), "{line}");
    let line = server
        .stdout
        .wait_for(Duration::from_secs(5), |l| l.contains("\" 400 "));
    assert!(line.contains("\"- - HTTP/1.1\" 400 "), "{line}");
    for line in server.stdout.snapshot() {
        assert!(
            line.starts_with("127.0.0.1 - - ["),
            "stray stdout line {line:?}"
        );
    }
}

#[test]
fn access_log_json() {
    let site = site();
    let server = start(&site.root, &["--log-format", "json"]);
    // Quote, backslash and tab must be escaped (a raw control byte would be a 400 already).
    let r = server.get_with("/a.txt", &[("User-Agent", "json\"agent\\\t2")]);
    assert_eq!(r.status, 200);
    let _ = server.get("/nope");
    let mut c = server.connect();
    c.send(&request("HEAD", "/a.txt", &[]));
    assert_eq!(c.read_head_response().status, 200);
    wait_for(Duration::from_secs(5), "three JSON log lines", || {
        (server.stdout.snapshot().len() >= 3).then_some(())
    });
    let lines = server.stdout.snapshot();
    assert_eq!(lines.len(), 3, "{lines:#?}");
    let parsed: Vec<Vec<(String, String)>> = lines
        .iter()
        .map(|l| testkit::parse_flat_json(l).unwrap_or_else(|| panic!("not JSON: {l}")))
        .collect();
    let field = |obj: &Vec<(String, String)>, key: &str| -> Option<String> {
        obj.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
    };
    let get = parsed
        .iter()
        .find(|o| {
            field(o, "method").as_deref() == Some("GET")
                && field(o, "target").as_deref() == Some("/a.txt")
        })
        .expect("GET line");
    assert_eq!(field(get, "status").as_deref(), Some("200"));
    assert_eq!(field(get, "body_bytes").as_deref(), Some("5"));
    assert_eq!(field(get, "protocol").as_deref(), Some("HTTP/1.1"));
    assert_eq!(field(get, "remote_addr").as_deref(), Some("127.0.0.1"));
    assert_eq!(
        field(get, "user_agent").as_deref(),
        Some("json\"agent\\\t2")
    );
    let time = field(get, "time").expect("time");
    assert_eq!(time.len(), 20, "{time}");
    assert!(time.ends_with('Z') && time.as_bytes()[10] == b'T', "{time}");
    let head = parsed
        .iter()
        .find(|o| field(o, "method").as_deref() == Some("HEAD"))
        .expect("HEAD line");
    assert_eq!(field(head, "body_bytes").as_deref(), Some("0"));
    assert!(parsed
        .iter()
        .any(|o| field(o, "status").as_deref() == Some("404")));
}

#[test]
fn access_log_off() {
    let site = site();
    let server = start(&site.root, &["--log-format", "off"]);
    assert_eq!(server.get("/a.txt").status, 200);
    server.assert_alive();
    std::thread::sleep(Duration::from_millis(200));
    assert!(server.stdout.snapshot().is_empty());
}

#[test]
fn sighup_is_harmless() {
    let site = site();
    let mut server = start(&site.root, &[]);
    let mut c = server.connect();
    c.send(&get_req("/a.txt"));
    assert_eq!(c.read_response().body, b"alpha");
    server.signal(libc::SIGHUP);
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        matches!(server.child.try_wait(), Ok(None)),
        "SIGHUP killed it"
    );
    c.send(&get_req("/a.txt"));
    assert_eq!(c.read_response().body, b"alpha");
    server.signal(libc::SIGTERM);
    assert!(server
        .wait_exit(Duration::from_secs(3))
        .is_some_and(|s| s.success()));
}

#[test]
fn timeouts_are_logged() {
    let site = site();
    let server = start(&site.root, &["--header-timeout", "1s"]);
    let mut c = server.connect();
    c.send(b"GET /a.txt HTTP/1.1\r\nHo");
    assert_eq!(c.read_response().status, 408);
    let line = server
        .stdout
        .wait_for(Duration::from_secs(5), |l| l.contains("\" 408 "));
    assert!(line.starts_with("127.0.0.1 - - ["), "{line}");
}

/// Finding 11 of the proxy-core review: `flush` looped `sendfile` until EAGAIN, so with one
/// worker a fast download of a large file ran over a gigabyte without returning to epoll, and
/// small requests on the same worker waited up to 0.68 s. Each event now sends at most a
/// bounded amount of file body before the connection yields.
#[test]
fn a_large_download_does_not_hold_the_worker() {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    let site = Site::new("fairness");
    site.write("small.txt", "hi");
    const BIG: u64 = 8 << 30;
    // Sparse: 8 GiB of zeros that cost no disk and come from the page cache.
    std::fs::File::create(site.root.join("big.bin"))
        .unwrap()
        .set_len(BIG)
        .unwrap();
    let server = start(&site.root, &["--workers", "1", "--log-format", "off"]);
    let received = Arc::new(AtomicU64::new(0));
    let finished = Arc::new(AtomicBool::new(false));
    let downloader = {
        let (received, finished) = (received.clone(), finished.clone());
        let mut s = std::net::TcpStream::connect(server.addr).unwrap();
        std::thread::spawn(move || {
            s.write_all(b"GET /big.bin HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
                .unwrap();
            let mut buf = vec![0u8; 1 << 20];
            loop {
                match std::io::Read::read(&mut s, &mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        received.fetch_add(n as u64, Ordering::Relaxed);
                    }
                }
            }
            finished.store(true, Ordering::SeqCst);
        })
    };
    while received.load(Ordering::Relaxed) < 64 << 20 {
        assert!(!finished.load(Ordering::SeqCst), "download ended early");
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut client = server.connect();
    let mut samples = Vec::new();
    while !finished.load(Ordering::SeqCst) && samples.len() < 400 {
        let t = Instant::now();
        client.send(&get_req("/small.txt"));
        let r = client.read_response();
        assert_eq!(r.status, 200);
        if !finished.load(Ordering::SeqCst) {
            samples.push(t.elapsed());
        }
    }
    let got = received.load(Ordering::Relaxed);
    drop(client);
    drop(server);
    let _ = downloader.join();
    samples.sort();
    assert!(
        samples.len() >= 50,
        "only {} small requests ran during the download ({got} bytes received)",
        samples.len()
    );
    let p99 = samples[samples.len() * 99 / 100];
    eprintln!(
        "{} small requests during a download ({} MiB so far): p50 {:?}, p99 {p99:?}, max {:?}",
        samples.len(),
        got >> 20,
        samples[samples.len() / 2],
        samples[samples.len() - 1]
    );
    assert!(p99 < Duration::from_millis(50), "p99 {p99:?}");
}
