//! Process-level behaviour: SIGTERM drain, startup errors (exit 2), the health subcommand,
//! WebSocket tunnelling, upstream re-resolution after a host moves, idle memory, and the
//! header timeout for connections that never send a request.

use std::io::{BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use testkit::*;

#[test]
fn sigterm_drains_in_flight_responses_and_exits_zero() {
    let up = Upstream::start(|s| {
        let mut reader = BufReader::new(s.try_clone().unwrap());
        let mut s = s;
        while read_request(&mut reader).is_some() {
            s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 30\r\n\r\n")
                .unwrap();
            for _ in 0..3 {
                std::thread::sleep(Duration::from_millis(400));
                s.write_all(b"0123456789").unwrap();
            }
        }
    });
    let mut proxy = Proxy::start(&["--route", &format!("/={}", up.url())]);
    let mut idle = proxy.connect();
    idle.write_all(b"GET /first HTTP/1.1\r\nHost: h\r\n\r\n")
        .unwrap();
    let mut idle_reader = BufReader::new(idle.try_clone().unwrap());
    assert_eq!(
        read_response(&mut idle_reader, false).unwrap().body.len(),
        30
    );
    let mut busy = proxy.connect();
    busy.write_all(b"GET /slow HTTP/1.1\r\nHost: h\r\n\r\n")
        .unwrap();
    let mut first = [0u8; 12];
    busy.read_exact(&mut first).unwrap();
    proxy.signal(libc::SIGTERM);
    let r = read_response(&mut BufReader::new((&first[..]).chain(&mut busy)), false).unwrap();
    assert_eq!(
        (r.status, r.body.len()),
        (200, 30),
        "the in-flight response completes"
    );
    assert_eq!(
        r.header("connection"),
        None,
        "head was sent before the drain began"
    );
    let mut rest = Vec::new();
    let _ = idle_reader.read_to_end(&mut rest);
    assert!(
        rest.is_empty(),
        "the idle connection is closed without a response"
    );
    assert_eq!(proxy.wait(Duration::from_secs(5)), Some(0));
}

fn run(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(testkit::bin("proxy"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn startup_errors_exit_2_and_help_works() {
    let (code, _, err) = run(&["--listen", "127.0.0.1:0", "--route", "a=http://x"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("prefix must start with '/'"), "{err}");
    let (code, _, err) = run(&["--listen", "127.0.0.1:0", "--route", "/a=ftp://x"]);
    assert_eq!(code, Some(2), "{err}");
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let (code, _, err) = run(&["--listen", &taken.local_addr().unwrap().to_string()]);
    assert_eq!(code, Some(2));
    assert!(err.contains("cannot listen"), "{err}");
    let (code, _, err) = run(&["--max-body", "lots"]);
    assert_eq!(code, Some(2), "{err}");
    let (code, out, _) = run(&["--help"]);
    assert_eq!(code, Some(0));
    for needle in [
        "--route PREFIX=URL",
        "PROXY_ROUTES",
        "keep-prefix",
        "--hsts",
        "proxy health",
    ] {
        assert!(out.contains(needle), "--help lacks {needle}");
    }
    let (code, out, _) = run(&["--version"]);
    assert_eq!((code, out.starts_with("proxy ")), (Some(0), true));
}

#[test]
fn health_subcommand() {
    let proxy = Proxy::start(&[]);
    let port = proxy.http.port().to_string();
    let out = Command::new(testkit::bin("proxy"))
        .arg("health")
        .env("PROXY_LISTEN", format!("0.0.0.0:{port}"))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (code, _, _) = run(&["health", &format!("http://127.0.0.1:{port}/healthz")]);
    assert_eq!(code, Some(0));
    let (code, _, _) = run(&[
        "--health-path",
        "/up",
        "health",
        &format!("http://127.0.0.1:{port}/missing"),
    ]);
    assert_eq!(code, Some(1), "404 is unhealthy");
    let dead = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (code, _, _) = run(&["health", &format!("http://127.0.0.1:{dead}/healthz")]);
    assert_eq!(code, Some(1));
}

#[test]
fn websocket_upgrade_is_tunnelled() {
    let up = Upstream::start(|s| {
        let mut reader = BufReader::new(s.try_clone().unwrap());
        let mut s = s;
        let Some(req) = read_request(&mut reader) else {
            return;
        };
        assert_eq!(req.header("upgrade"), Some("websocket"));
        assert_eq!(
            req.header("connection")
                .map(str::to_ascii_lowercase)
                .as_deref(),
            Some("upgrade")
        );
        s.write_all(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: x\r\n\r\n")
            .unwrap();
        let mut buf = [0u8; 1024];
        loop {
            let n = reader.read(&mut buf).unwrap_or(0);
            if n == 0 {
                return; // closing our side ends the tunnel
            }
            s.write_all(&buf[..n].to_ascii_uppercase()).unwrap();
        }
    });
    let proxy = Proxy::start(&["--route", &format!("/ws={}", up.url())]);
    let mut s = proxy.connect();
    s.write_all(b"GET /ws/chat HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: k\r\nSec-WebSocket-Version: 13\r\n\r\n")
        .unwrap();
    let mut reader = BufReader::new(s.try_clone().unwrap());
    let r = read_response(&mut reader, false).unwrap();
    assert_eq!((r.status, r.header("upgrade")), (101, Some("websocket")));
    for msg in ["hello", "frames go both ways"] {
        s.write_all(msg.as_bytes()).unwrap();
        let mut back = vec![0u8; msg.len()];
        reader.read_exact(&mut back).unwrap();
        assert_eq!(back, msg.to_ascii_uppercase().as_bytes());
    }
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let mut rest = Vec::new();
    reader.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty());
}

/// Serves `Connection: close` responses naming `tag` until `stop` is set, then closes the
/// listening socket (a container going away).
fn stoppable(listener: TcpListener, tag: &'static str, stop: Arc<AtomicBool>) {
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        while !stop.load(Ordering::SeqCst) {
            match listener.accept() {
                Ok((s, _)) => {
                    s.set_nonblocking(false).unwrap();
                    let mut reader = BufReader::new(s.try_clone().unwrap());
                    let mut s = s;
                    if read_request(&mut reader).is_some() {
                        let body = tag;
                        let _ = write!(s, "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}", body.len());
                    }
                }
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
    });
}

/// A host that moves to another address is found again without restarting the proxy. The
/// proxy runs in its own mount namespace with a bind-mounted /etc/hosts that the test
/// rewrites (so getaddrinfo really answers differently); skipped where namespaces are not
/// available.
#[test]
fn upstream_is_re_resolved_after_it_moves() {
    if !Command::new("unshare")
        .args(["--mount", "true"])
        .status()
        .is_ok_and(|s| s.success())
    {
        eprintln!("SKIPPED: unshare --mount is not available (needs root or user namespaces)");
        return;
    }
    let old = TcpListener::bind("127.0.0.2:0").unwrap();
    let port = old.local_addr().unwrap().port();
    let Ok(new) = TcpListener::bind(("127.0.0.3", port)) else {
        eprintln!("SKIPPED: port {port} is taken on 127.0.0.3");
        return;
    };
    let hosts = std::env::temp_dir().join(format!("proxy-hosts-{}", std::process::id()));
    std::fs::write(&hosts, "127.0.0.2 moving-upstream.test\n").unwrap();
    let stop_old = Arc::new(AtomicBool::new(false));
    stoppable(old, "old", stop_old.clone());
    let mut cmd = Command::new("unshare");
    let script = format!(
        "mount --bind {} /etc/hosts && exec \"$0\" \"$@\"",
        hosts.display()
    );
    cmd.args(["--mount", "sh", "-c", &script, &testkit::bin("proxy")]);
    cmd.args([
        "--listen",
        "127.0.0.1:0",
        "--workers",
        "1",
        "--log-format",
        "off",
        "--dns-ttl",
        "1s",
    ]);
    let proxy = Proxy::spawn(
        cmd,
        &["--route", &format!("/=http://moving-upstream.test:{port}")],
        &[],
    );
    assert_eq!(get(&proxy, "/").text(), "old");
    // The upstream "restarts" at another address.
    stop_old.store(true, Ordering::SeqCst);
    stoppable(new, "new", Arc::new(AtomicBool::new(false)));
    std::fs::write(&hosts, "127.0.0.3 moving-upstream.test\n").unwrap();
    let started = Instant::now();
    let mut statuses = Vec::new();
    let found = eventually(Duration::from_secs(10), || {
        let r = get(&proxy, "/");
        statuses.push(r.status);
        r.text() == "new"
    });
    assert!(
        found,
        "never reached the new address; statuses {statuses:?}"
    );
    eprintln!(
        "found the moved upstream after {:?} ({statuses:?})",
        started.elapsed()
    );
    let _ = std::fs::remove_file(hosts);
}

#[test]
fn idle_keep_alive_connections_are_cheap() {
    const N: usize = 1000;
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain getrlimit/setrlimit on a valid struct.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        lim.rlim_cur = lim.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
    }
    if lim.rlim_cur < 4 * N as u64 {
        eprintln!("SKIPPED: descriptor limit too low");
        return;
    }
    let up = Upstream::echo();
    let proxy = Proxy::start(&["--route", &format!("/={}", up.url())]);
    let rss = || {
        let status = std::fs::read_to_string(format!("/proc/{}/status", proxy.pid())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .unwrap()
    };
    // Warm up allocator arenas with a few connections first.
    let mut conns: Vec<TcpStream> = Vec::new();
    let open = |conns: &mut Vec<TcpStream>, n: usize| {
        for _ in 0..n {
            let mut s = proxy.connect();
            s.write_all(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n").unwrap();
            read_response(&mut BufReader::new(s.try_clone().unwrap()), false).unwrap();
            conns.push(s);
        }
    };
    open(&mut conns, 50);
    std::thread::sleep(Duration::from_millis(2500));
    let before = rss();
    open(&mut conns, N);
    std::thread::sleep(Duration::from_millis(2500));
    let after = rss();
    let per_conn = (after.saturating_sub(before) * 1024) / N as u64;
    eprintln!(
        "RSS {before} KiB -> {after} KiB with {N} more idle connections: {per_conn} bytes each"
    );
    assert!(per_conn <= 8 * 1024, "{per_conn} bytes per idle connection");
}

/// Found by tests/adversarial (ms-idle-connection): a connection that never sent a byte was
/// kept for the whole idle timeout (60 s by default), so silent connections could pin slots.
/// Like `static`, the wait for the first request is bounded by the header timeout; between
/// requests the idle timeout applies.
#[test]
fn silent_connections_get_the_header_timeout() {
    let up = Upstream::echo();
    let proxy = Proxy::start(&[
        "--route",
        &format!("/={}", up.url()),
        "--header-timeout",
        "1s",
        "--idle-timeout",
        "60s",
    ]);
    let start = Instant::now();
    let mut silent = proxy.connect();
    let mut rest = Vec::new();
    let _ = silent.read_to_end(&mut rest);
    let waited = start.elapsed();
    assert!(rest.is_empty(), "no response for a request never sent");
    assert!(
        waited < Duration::from_secs(5),
        "closed after {waited:?}, not after the header timeout"
    );

    // After a request, the same wait is the (longer) keep-alive idle time.
    let mut used = proxy.connect();
    used.write_all(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
        .unwrap();
    let mut reader = BufReader::new(used.try_clone().unwrap());
    assert_eq!(read_response(&mut reader, false).unwrap().status, 200);
    std::thread::sleep(Duration::from_secs(3));
    used.write_all(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut reader, false).unwrap().status, 200);
}
