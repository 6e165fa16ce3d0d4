//! The known HTTP/2 attacks, each run against the proxy: the attack is stopped (GOAWAY
//! ENHANCE_YOUR_CALM, or simply bounded), memory and CPU stay small, and a normal client on
//! another connection is served meanwhile. What the upstream received is counted: an attack
//! must not turn into a flood of upstream connections.

mod h2client;

use std::time::{Duration, Instant};

use h2client::*;
use proxy::h2::frame::{self, ErrorCode};
use testkit::*;

/// CPU time (user + system) the process used so far, in milliseconds.
fn cpu_ms(pid: i32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
    ticks * 1000 / hz
}

struct Bench {
    pid: i32,
    cpu: u64,
    rss: u64,
}

impl Bench {
    fn start(p: &H2Proxy) -> Bench {
        Bench {
            pid: p.proxy.pid(),
            cpu: cpu_ms(p.proxy.pid()),
            rss: p.proxy.vm_kib("VmRSS"),
        }
    }

    /// Asserts the attack cost at most `cpu` ms of CPU and `rss` KiB of extra memory.
    fn within(&self, p: &H2Proxy, what: &str, cpu: u64, rss: u64) {
        let used = cpu_ms(self.pid) - self.cpu;
        let grew = p.proxy.vm_kib("VmRSS").saturating_sub(self.rss);
        eprintln!("{what}: {used} ms CPU, RSS +{grew} KiB");
        assert!(used <= cpu, "{what}: {used} ms of CPU (limit {cpu})");
        assert!(grew <= rss, "{what}: RSS grew {grew} KiB (limit {rss})");
    }
}

/// A normal client on its own connection is served.
fn bystander_served(p: &H2Proxy, path: &str) {
    let mut c = p.connect();
    let r = c.fetch(1, path);
    assert_eq!(r.status, 200, "a normal client on another connection");
}

/// The reset budget cut the connection off (GOAWAY ENHANCE_YOUR_CALM) before stream
/// `within`.
fn expect_cut_off(c: &mut H2, within: u32) {
    match c.end() {
        End::GoAway { code, last } => {
            assert_eq!(code, ErrorCode::EnhanceYourCalm as u32);
            assert!(last < within, "stopped after {last} streams");
        }
        End::Closed => panic!("no GOAWAY"),
    }
}

/// A stream flood did not turn into a flood of upstream connections.
fn upstream_spared(up: &Upstream) {
    let n = up.accepted();
    assert!(n < 300, "{n} upstream connections");
}

fn echo(tag: &str, extra: &[&str]) -> (H2Proxy, Upstream) {
    let up = Upstream::echo();
    let p = start_h2(tag, &[format!("/a={}", up.url())], extra);
    (p, up)
}

/// CVE-2023-44487: HEADERS then RST_STREAM, as fast as possible.
#[test]
fn rapid_reset() {
    let (p, up) = echo("rapid-reset", &[]);
    let bench = Bench::start(&p);
    let mut c = p.connect();
    let fields = get_fields("/a/");
    let mut burst = Vec::new();
    for i in 0..5_000u32 {
        let id = 1 + 2 * i;
        let flags = frame::END_HEADERS | frame::END_STREAM;
        put_frame(&mut burst, frame::HEADERS, flags, id, &block(&fields));
        put_frame(&mut burst, frame::RST_STREAM, 0, id, &8u32.to_be_bytes());
    }
    c.send_raw(&burst);
    expect_cut_off(&mut c, 1_000);
    bystander_served(&p, "/a/");
    upstream_spared(&up);
    bench.within(&p, "rapid reset", 1_500, 8_192);
}

/// CVE-2024-27316: a header block that never ends, and one of empty CONTINUATION frames.
#[test]
fn continuation_flood() {
    let (p, up) = echo("continuation", &[]);
    let bench = Bench::start(&p);
    for payload in [vec![b'a'; 1024], Vec::new()] {
        let mut c = p.connect();
        c.frame(
            frame::HEADERS,
            frame::END_STREAM,
            1,
            &block(&get_fields("/a/")),
        );
        let mut burst = Vec::new();
        for _ in 0..2_000 {
            put_frame(&mut burst, frame::CONTINUATION, 0, 1, &payload);
        }
        c.send_raw(&burst);
        c.expect_goaway(ErrorCode::EnhanceYourCalm);
    }
    bystander_served(&p, "/a/");
    assert_eq!(up.accepted(), 1, "only the bystander reached the upstream");
    bench.within(&p, "CONTINUATION flood", 1_000, 4_096);
}

/// CVE-2025-8671 (MadeYouReset): frames that make the server reset streams it opened.
#[test]
fn made_you_reset() {
    let (p, up) = echo("madeyoureset", &[]);
    let bench = Bench::start(&p);
    let mut c = p.connect();
    let mut burst = Vec::new();
    for i in 0..5_000u32 {
        let id = 1 + 2 * i;
        let b = block(&request_fields("POST", "/a/", &[]));
        put_frame(&mut burst, frame::HEADERS, frame::END_HEADERS, id, &b);
        // A zero window increment: a stream error the server answers with RST_STREAM.
        put_frame(&mut burst, frame::WINDOW_UPDATE, 0, id, &0u32.to_be_bytes());
    }
    c.send_raw(&burst);
    expect_cut_off(&mut c, 1_000);
    let resets = c
        .seen
        .iter()
        .filter(|f| f.kind == frame::RST_STREAM)
        .count();
    assert!((50..=200).contains(&resets), "{resets} resets sent");
    bystander_served(&p, "/a/");
    upstream_spared(&up);
    bench.within(&p, "MadeYouReset", 1_500, 8_192);
}

/// An HPACK bomb: one 4,000-byte table entry, then blocks indexing it thousands of times.
#[test]
fn hpack_bomb() {
    let (up, requests) = Upstream::recording(
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        "",
        Duration::ZERO,
    );
    let p = start_h2("hpack-bomb", &[format!("/a={}", up.url())], &[]);
    let bench = Bench::start(&p);
    let mut c = p.connect();
    // Stream 1: a normal request that also adds `x-big: aaaa...` (4,000 bytes) to the table.
    let mut b = block(&get_fields("/a/"));
    b.extend([0x40, 0x05]);
    b.extend(b"x-big");
    b.extend([0x7f, 0xa1, 0x1e]); // 127 + 0x21 + (0x1e << 7) = 4,000
    b.extend(vec![b'a'; 4_000]);
    c.frame(
        frame::HEADERS,
        frame::END_HEADERS | frame::END_STREAM,
        1,
        &b,
    );
    assert_eq!(c.response(1).status, 200);
    // Then 50 requests of 16,000 bytes each: 4,000 references, 16 MB decoded per block.
    for i in 1..=50u32 {
        let mut b = block(&get_fields("/a/"));
        b.extend(vec![0xbe; 16_000 - b.len()]);
        let id = 1 + 2 * i;
        c.frame(
            frame::HEADERS,
            frame::END_HEADERS | frame::END_STREAM,
            id,
            &b[..16_000.min(b.len())],
        );
        let r = c.response(id);
        assert_eq!(r.status, 431, "an oversized header list gets 431");
    }
    bystander_served(&p, "/a/");
    let seen = requests.lock().unwrap().len();
    assert_eq!(seen, 2, "no bomb reached the upstream");
    bench.within(&p, "HPACK bomb (800 MB decoded)", 2_000, 8_192);
}

/// SETTINGS, PING and WINDOW_UPDATE floods are cut off by the chatter budget.
#[test]
fn control_frame_floods() {
    let (p, _up) = echo("floods", &["--metrics-listen", "127.0.0.1:0"]);
    let bench = Bench::start(&p);
    let frames: [(u8, u8, u32, Vec<u8>); 4] = [
        (frame::SETTINGS, 0, 0, Vec::new()),
        (frame::PING, 0, 0, vec![0; 8]),
        (frame::WINDOW_UPDATE, 0, 0, 1u32.to_be_bytes().to_vec()),
        (frame::PRIORITY, 0, 3, vec![0, 0, 0, 0, 16]),
    ];
    for (kind, flags, stream, payload) in frames {
        let mut c = p.connect();
        let mut burst = Vec::new();
        for _ in 0..20_000 {
            put_frame(&mut burst, kind, flags, stream, &payload);
        }
        c.send_raw(&burst);
        match c.end() {
            End::GoAway { code, .. } => {
                assert_eq!(code, ErrorCode::EnhanceYourCalm as u32, "frame type {kind}")
            }
            End::Closed => panic!("frame type {kind}: no GOAWAY"),
        }
    }
    bystander_served(&p, "/a/");
    bench.within(&p, "control frame floods", 1_500, 4_096);
    // Operators see it: four connections cut off by a budget, five HTTP/2 connections.
    let text = scrape(metrics_addr(&p.proxy)).text();
    let calm = sample(
        &text,
        r#"proxy_http2_goaway_total{code="enhance_your_calm"}"#,
    );
    assert_eq!(calm, 4, "{text}");
    assert_eq!(sample(&text, "proxy_http2_connections_total"), 5, "{text}");
}

/// A client that sends PINGs and never reads: the proxy stops reading it once its answers
/// queue up, so memory stays flat, and the send timeout closes the connection.
#[test]
fn ping_flood_without_reading() {
    let (p, _up) = echo("ping-noread", &["--idle-timeout", "2s"]);
    let bench = Bench::start(&p);
    let mut c = p.connect();
    c.tls
        .sock
        .set_write_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut burst = Vec::new();
    for _ in 0..1_000 {
        put_frame(&mut burst, frame::PING, 0, 0, &[7; 8]);
    }
    let started = Instant::now();
    let mut sent = 0usize;
    // Writes block once the proxy stops reading; a few seconds of trying is plenty.
    while started.elapsed() < Duration::from_secs(3) {
        use std::io::Write;
        match c.tls.write_all(&burst) {
            Ok(()) => sent += burst.len(),
            Err(_) => break,
        }
    }
    eprintln!("sent {sent} bytes of PING before the proxy stopped reading");
    bystander_served(&p, "/a/");
    bench.within(&p, "PING flood without reading", 1_500, 4_096);
}

/// A stream whose window stays at zero: the exchange's inactivity timeout still applies (the
/// stream is reset), and its buffers stay bounded.
#[test]
fn zero_window_stall() {
    let site = Site::new("h2-zero-window");
    site.write("big.bin", pattern(4 << 20, 7));
    let server = servers::start(&site.root, &[]);
    let p = start_h2(
        "zero-window",
        &[format!("/s=http://{}", server.addr)],
        &["--upstream-timeout", "2s"],
    );
    let bench = Bench::start(&p);
    let mut c = p.connect_with(&[(4, 0)]);
    for i in 0..20u32 {
        c.get(1 + 2 * i, "/s/big.bin");
    }
    let started = Instant::now();
    c.expect_rst(1, ErrorCode::InternalError);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(1500) && waited < Duration::from_secs(8),
        "{waited:?}"
    );
    let mut c2 = p.connect();
    assert_eq!(c2.fetch(1, "/s/big.bin").body.len(), 4 << 20);
    // 20 streams of a 4 MiB file held at zero window: each holds its fixed buffers only.
    bench.within(&p, "zero-window stall", 2_000, 8 * 1024);
}

/// Many streams to large files and a client that never reads: bounded per stream.
#[test]
fn many_streams_never_read() {
    let site = Site::new("h2-noread");
    site.write("big.bin", pattern(8 << 20, 3));
    let server = servers::start(&site.root, &[]);
    let p = start_h2("noread", &[format!("/s=http://{}", server.addr)], &[]);
    let bench = Bench::start(&p);
    let mut c = p.connect_with(&[(4, 0x7fff_ffff)]);
    c.window_update(0, 0x7fff_0000);
    for i in 0..100u32 {
        c.get(1 + 2 * i, "/s/big.bin");
    }
    std::thread::sleep(Duration::from_secs(2));
    // 100 streams x 8 MiB requested, nothing read: the proxy holds a bounded amount.
    bench.within(&p, "100 unread streams", 2_000, 24 * 1024);
    bystander_served(&p, "/s/big.bin");
}

#[test]
fn goaway_on_shutdown_lets_streams_finish() {
    let (up, _) = Upstream::recording(
        "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n",
        "done",
        Duration::from_millis(800),
    );
    let p = start_h2("drain", &[format!("/a={}", up.url())], &[]);
    let mut c = p.connect();
    c.get(1, "/a/slow");
    std::thread::sleep(Duration::from_millis(200));
    p.proxy.signal(libc::SIGTERM);
    let goaway = c.until(|f| f.kind == frame::GOAWAY).expect("GOAWAY");
    assert_eq!(frame::word(&goaway.payload[..4]), 1, "last stream id");
    assert_eq!(
        frame::word(&goaway.payload[4..8]),
        ErrorCode::NoError as u32
    );
    let r = c.response(1);
    assert_eq!((r.status, &r.body[..]), (200, &b"done"[..]));
}

#[test]
fn idle_connections_get_goaway() {
    let (p, _up) = echo("idle", &["--idle-timeout", "1s"]);
    let mut c = p.connect();
    assert_eq!(c.fetch(1, "/a/").status, 200);
    let started = Instant::now();
    match c.end() {
        End::GoAway { code, last } => {
            assert_eq!((code, last), (ErrorCode::NoError as u32, 1));
        }
        End::Closed => panic!("no GOAWAY"),
    }
    assert!(started.elapsed() < Duration::from_secs(4));
    // A connection that never sends its preface is closed after the header timeout.
    let (p, _up) = echo("preface-timeout", &["--header-timeout", "1s"]);
    let mut c = p.raw();
    let started = Instant::now();
    let _ = c.end();
    assert!(started.elapsed() < Duration::from_secs(4));
}

/// Idle HTTP/2 connections give their buffers back: many clients that made one request and
/// stay connected cost their TLS state, not our per-connection buffers.
#[test]
fn idle_connections_are_cheap() {
    // Allocations of 4 KiB and more (every buffer) are mapped on their own and unmapped
    // when freed, so RSS shows what is held rather than how fragmented the heap is.
    let up = Upstream::echo();
    let p = start_with(
        "idle-memory",
        &[format!("/a={}", up.url())],
        &["--workers", "1"],
        &[("MALLOC_MMAP_THRESHOLD_", "4096")],
    );
    let wave = |n: usize| -> Vec<H2> {
        (0..n)
            .map(|_| {
                let mut c = p.connect();
                assert_eq!(c.fetch(1, "/a/").status, 200);
                c
            })
            .collect()
    };
    // A first wave, then closed: the heap has grown for what busy connections allocate
    // below the threshold; what 300 idle connections then add is what each keeps.
    drop(wave(64));
    std::thread::sleep(Duration::from_millis(1500));
    let before = p.proxy.vm_kib("VmRSS");
    let open = wave(300);
    // The 1 s sweep releases what idle connections hold.
    std::thread::sleep(Duration::from_millis(2500));
    let per_conn = p.proxy.vm_kib("VmRSS").saturating_sub(before) / 300;
    eprintln!("{per_conn} KiB per idle HTTP/2 connection");
    // Measured: 12-13 KiB (mostly TLS state, which this allocator setting inflates; 5.5 KiB
    // with the default one), 24 KiB when idle connections keep their buffers and scratch.
    assert!(per_conn <= 18, "{per_conn} KiB per idle HTTP/2 connection");
    drop(open);
}
