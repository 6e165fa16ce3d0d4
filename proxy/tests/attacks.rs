//! Regression tests for the proxy-core review: each attack here worked against the proxy before
//! its connection core was rebuilt (run one against an older build with `PROXY_BIN=...`).
//! What the upstream receives is recorded and asserted, not only what the client is answered.

use std::io::{BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::FromRawFd;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use testkit::*;

/// A client socket with a 4 KiB receive buffer (set before connecting, so the window is small
/// from the start): a peer that reads slowly or never.
fn small_window_client(addr: SocketAddr) -> TcpStream {
    let SocketAddr::V4(v4) = addr else {
        panic!("IPv4 only")
    };
    // SAFETY: plain socket calls on a descriptor we own; the TcpStream takes it over.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        assert!(fd >= 0);
        let size: libc::c_int = 4096;
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            &size as *const libc::c_int as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
        let sa = libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: v4.port().to_be(),
            sin_addr: libc::in_addr {
                s_addr: u32::from(*v4.ip()).to_be(),
            },
            sin_zero: [0; 8],
        };
        let rc = libc::connect(
            fd,
            &sa as *const libc::sockaddr_in as *const libc::sockaddr,
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        );
        assert_eq!(rc, 0, "connect");
        TcpStream::from_raw_fd(fd)
    }
}

/// Pipelines `request` 400 times per send, never reading, until `stop`.
fn pipeline_without_reading(addr: SocketAddr, request: &'static str, stop: Arc<AtomicBool>) {
    std::thread::spawn(move || {
        let mut s = small_window_client(addr);
        s.set_write_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let burst = request.repeat(400);
        while !stop.load(Ordering::SeqCst) {
            if let Err(e) = s.write_all(burst.as_bytes()) {
                if !matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) {
                    return;
                }
            }
        }
    });
}

/// Finding 1: one client that pipelines and never reads grew the proxy by ~100 MB/s: canned
/// answers (404s, 308 redirects) and HEAD responses were queued without looking at the size of
/// the client-bound output. Held for 10 s here; the proxy must stay small and keep serving.
#[test]
fn pipelining_client_that_never_reads_is_bounded() {
    let up = Upstream::echo();
    let plain = Proxy::start(&["--route", &format!("/r={}", up.url())]);
    let dir = std::env::temp_dir().join(format!("attacks-tls-{}", std::process::id()));
    let (cert, key) = self_signed(&dir, 1);
    let tls = Proxy::start_tls(&cert, &key, &["--route", &format!("/r={}", up.url())]);
    let stop = Arc::new(AtomicBool::new(false));
    // 404s, HEADs through a route, and 308 redirects on the plain port of an HTTPS proxy.
    pipeline_without_reading(
        plain.http,
        "GET /nope HTTP/1.1\r\nHost: h\r\n\r\n",
        stop.clone(),
    );
    pipeline_without_reading(
        plain.http,
        "HEAD /r/x HTTP/1.1\r\nHost: h\r\n\r\n",
        stop.clone(),
    );
    pipeline_without_reading(
        tls.http,
        "GET /nope HTTP/1.1\r\nHost: h\r\n\r\n",
        stop.clone(),
    );
    let started = Instant::now();
    let mut served = 0;
    while started.elapsed() < Duration::from_secs(10) {
        // Others are still served meanwhile.
        assert_eq!(get(&plain, "/r/ok").status, 200);
        assert_eq!(get(&tls, "/healthz").status, 200);
        served += 1;
        std::thread::sleep(Duration::from_millis(250));
    }
    stop.store(true, Ordering::SeqCst);
    for (name, proxy) in [("plain", &plain), ("https", &tls)] {
        let peak = proxy.vm_kib("VmHWM");
        eprintln!("{name}: peak RSS {peak} KiB after 10 s; {served} normal requests served");
        assert!(peak < 16 * 1024, "{name} proxy grew to {peak} KiB");
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// Finding 3: bytes an upstream sends past the end of its response were delivered as the
/// answer to the client's next pipelined request. Such a connection must never be reused:
/// bytes that arrive with the response are caught when it ends, bytes that arrive later (but
/// before the next request is sent) when the connection is about to be reused. (Bytes that
/// arrive after the next request was sent cannot be told from its response, in any HTTP/1.1
/// proxy: they are its response.)
#[test]
fn bytes_after_a_response_never_answer_another_request() {
    const INJECTED: &str = "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nhacked";
    for delay in [Duration::ZERO, Duration::from_millis(300)] {
        let (up, seen) = Upstream::recording(
            "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
            INJECTED,
            delay,
        );
        let proxy = Proxy::start(&["--route", &format!("/={}", up.url())]);
        let mut s = proxy.connect();
        let mut reader = BufReader::new(s.try_clone().unwrap());
        for i in 0..3 {
            s.write_all(format!("GET /{i} HTTP/1.1\r\nHost: h\r\n\r\n").as_bytes())
                .unwrap();
            let r = read_response(&mut reader, false).unwrap();
            assert_eq!(r.text(), "ok", "request {i} (delay {delay:?}) got {r:?}");
            // The late bytes arrive between requests.
            std::thread::sleep(delay * 2);
        }
        assert_eq!(
            seen.lock().unwrap().len(),
            3,
            "every request reached the upstream"
        );
        assert_eq!(
            up.accepted(),
            3,
            "a poisoned connection was reused (delay {delay:?})"
        );
        assert!(
            eventually(TIMEOUT, || proxy
                .stderr
                .contains("sent bytes after the end of its response")),
            "the desync is logged"
        );
    }
}

/// Finding 4: two pipelined requests then a half-close: the second was dropped silently.
/// Every complete request received before the FIN is answered, in order.
#[test]
fn requests_before_a_half_close_are_all_answered() {
    let (up, seen) = Upstream::recording(
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        "",
        Duration::ZERO,
    );
    let proxy = Proxy::start(&["--route", &format!("/a={}", up.url())]);
    for raw in [
        "GET /a/1 HTTP/1.1\r\nHost: h\r\n\r\nGET /a/2 HTTP/1.1\r\nHost: h\r\n\r\n",
        "GET /a/1 HTTP/1.1\r\nHost: h\r\n\r\nGET /nope HTTP/1.1\r\nHost: h\r\n\r\nGET /a/2 HTTP/1.1\r\nHost: h\r\n\r\n",
    ] {
        seen.lock().unwrap().clear();
        let mut s = proxy.connect();
        s.write_all(raw.as_bytes()).unwrap();
        s.shutdown(std::net::Shutdown::Write).unwrap();
        let mut reader = BufReader::new(s);
        let mut statuses = Vec::new();
        while let Some(r) = read_response(&mut reader, false) {
            statuses.push(r.status);
        }
        assert_eq!(statuses.len(), raw.matches("GET").count(), "{raw:?}: {statuses:?}");
        assert_eq!(
            *seen.lock().unwrap(),
            vec!["GET /1 HTTP/1.1", "GET /2 HTTP/1.1"],
            "what the upstream received"
        );
    }
}

/// Finding 5: an upstream socket replaced inside one event batch (round-robin switch,
/// reconnect) could receive the hang-up meant for the old one: a false connect failure, an
/// abandoned connection and the upstream marked down. Two upstreams that close each connection
/// a moment after answering (racing the client's next request into the same batch), and a
/// client that sends its next request at once: round robin stays strict, every request is
/// answered once, and no connection is opened for nothing.
#[test]
fn replaced_upstream_sockets_ignore_stale_events() {
    let closing = |requests: Arc<AtomicUsize>| {
        Upstream::start(move |s| {
            let mut reader = BufReader::new(s.try_clone().unwrap());
            let mut s = s;
            if read_request(&mut reader).is_some() {
                let n = requests.fetch_add(1, Ordering::SeqCst);
                let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
                // Close a few dozen microseconds later: the FIN lands next to the client's
                // next request.
                std::thread::sleep(Duration::from_micros((n as u64 * 37) % 400));
            }
        })
    };
    let a_requests = Arc::new(AtomicUsize::new(0));
    let b_requests = Arc::new(AtomicUsize::new(0));
    let (a, b) = (closing(a_requests.clone()), closing(b_requests.clone()));
    // A bulk download keeps the one worker busy, so events pile up into batches.
    let bulk = Upstream::start(|s| {
        let mut reader = BufReader::new(s.try_clone().unwrap());
        let mut s = s;
        if read_request(&mut reader).is_some() {
            let chunk = vec![b'x'; 1 << 16];
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1073741824\r\n\r\n");
            for _ in 0..(1 << 14) {
                if s.write_all(&chunk).is_err() {
                    return;
                }
            }
        }
    });
    let proxy = Proxy::start(&[
        "--workers",
        "1",
        "--route",
        &format!("/={}|{}", a.url(), b.url()),
        "--route",
        &format!("/bulk={}", bulk.url()),
    ]);
    let stop = Arc::new(AtomicBool::new(false));
    let downloading = {
        let stop = stop.clone();
        let mut d = proxy.connect();
        std::thread::spawn(move || {
            d.write_all(b"GET /bulk/ HTTP/1.1\r\nHost: h\r\n\r\n")
                .unwrap();
            let mut buf = vec![0u8; 1 << 16];
            while !stop.load(Ordering::SeqCst) {
                if d.read(&mut buf).unwrap_or(0) == 0 {
                    return;
                }
            }
        })
    };
    const N: usize = 2000;
    let mut s = proxy.connect();
    s.set_nodelay(true).unwrap();
    let mut reader = BufReader::new(s.try_clone().unwrap());
    let mut bad = Vec::new();
    for i in 0..N {
        s.write_all(b"GET /x HTTP/1.1\r\nHost: h\r\n\r\n").unwrap();
        let r = read_response(&mut reader, false).expect("a response");
        if r.status != 200 {
            bad.push((i, r.status));
        }
    }
    stop.store(true, Ordering::SeqCst);
    let _ = downloading.join();
    assert!(bad.is_empty(), "{} of {N} failed: {bad:?}", bad.len());
    let (ra, rb) = (
        a_requests.load(Ordering::SeqCst),
        b_requests.load(Ordering::SeqCst),
    );
    assert_eq!(ra + rb, N, "requests seen by the upstreams");
    assert!(
        ra.abs_diff(rb) <= 2,
        "round robin skewed ({ra} / {rb}): an upstream was marked down"
    );
    assert!(
        eventually(TIMEOUT, || a.accepted() + b.accepted() == N),
        "connections opened: {} for {N} requests",
        a.accepted() + b.accepted()
    );
}

/// Finding 9: the access log was written with a blocking write that slept on EAGAIN inside the
/// worker, so a log reader that stalls (a full pipe) stalled every connection.
#[test]
fn a_stalled_log_reader_does_not_stall_the_proxy() {
    let (up, _) = Upstream::recording(
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        "",
        Duration::ZERO,
    );
    let mut cmd = Command::new(bin("proxy"));
    cmd.args([
        "--listen",
        "127.0.0.1:0",
        "--workers",
        "1",
        "--log-format",
        "combined",
        "--route",
        &format!("/={}", up.url()),
    ])
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    // Keep the pipe open and never read it: it fills after ~64 KiB of log lines.
    let _stdout = child.stdout.take();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    let addr: SocketAddr = loop {
        line.clear();
        assert!(std::io::BufRead::read_line(&mut stderr, &mut line).unwrap() > 0);
        if let Some(a) = line.trim().strip_prefix("proxy: listening on http://") {
            break a.parse().unwrap();
        }
    };
    let errors = Arc::new(Mutex::new(String::new()));
    let sink = errors.clone();
    std::thread::spawn(move || {
        for line in std::io::BufRead::lines(stderr).map_while(Result::ok) {
            eprintln!("[proxy] {line}");
            sink.lock().unwrap().push_str(&(line + "\n"));
        }
    });
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.set_nodelay(true).unwrap();
    let mut reader = BufReader::new(s.try_clone().unwrap());
    let started = Instant::now();
    const N: usize = 5000;
    let ua = "x".repeat(200);
    for i in 0..N {
        // One write per request: the client's own Nagle must not be what is measured.
        let request = format!("GET /{i} HTTP/1.1\r\nHost: h\r\nUser-Agent: {ua}\r\n\r\n");
        s.write_all(request.as_bytes()).unwrap();
        let r = read_response(&mut reader, false)
            .unwrap_or_else(|| panic!("request {i} not answered: the worker is stuck"));
        assert_eq!(r.status, 200);
    }
    let took = started.elapsed();
    eprintln!("{N} requests in {took:?} with stdout never read");
    assert!(took < Duration::from_secs(20), "{N} requests took {took:?}");
    // About 1.5 MB of log lines met a 64 KiB pipe: most were dropped, and that is reported.
    let reported = eventually(Duration::from_secs(3), || {
        errors.lock().unwrap().contains("line(s) dropped")
    });
    let _ = child.kill();
    let _ = child.wait();
    let text = errors.lock().unwrap().clone();
    assert!(reported, "dropped log lines are reported: {text}");
}

/// Finding 10: a huge timeout overflowed `Instant + Duration` on the first request and, with
/// `panic = "abort"`, killed the process. Refused at start with a clear message and exit 2.
#[test]
fn huge_timeouts_are_refused_at_start() {
    for (flag, value) in [
        ("--upstream-timeout", "18446744073709551615"),
        ("--idle-timeout", "99999999999m"),
        ("--connect-timeout", "200h"),
        ("--header-timeout", "604801s"),
    ] {
        let out = Command::new(bin("proxy"))
            .args(["--listen", "127.0.0.1:0", flag, value])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{flag} {value}: {err}");
        assert!(err.contains("too long"), "{flag} {value}: {err}");
    }
    let hits = Arc::new(AtomicUsize::new(0));
    let count = hits.clone();
    let up = Upstream::start(move |mut s| {
        count.fetch_add(1, Ordering::SeqCst);
        serve_echo(&mut s)
    });
    let proxy = Proxy::start(&[
        "--route",
        &format!("/={}", up.url()),
        "--upstream-timeout",
        "168h",
        "--idle-timeout",
        "168h",
    ]);
    assert_eq!(get(&proxy, "/x").status, 200);
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}
