//! Prometheus metrics: per-worker counters written by their own worker only, summed when
//! scraped, and the opt-in listener that serves them (`--metrics-listen`) on a thread of its
//! own, never on a worker.
//!
//! Counting costs no syscall and no lock: each counter has exactly one writer (its worker), so
//! an increment is a relaxed load and store (two plain `mov`s on x86-64, no `lock` prefix), and
//! the scraper's relaxed loads see every count at most a moment late. The families, in the
//! naming of the Prometheus exporters for nginx and HAProxy (`<server>` is `static` or
//! `proxy`):
//!
//! - `<server>_http_requests_total{method,status_class}` (method: GET, HEAD, POST, PUT,
//!   DELETE, PATCH, OPTIONS or other; status_class: 1xx to 5xx)
//! - `<server>_http_request_duration_seconds` histogram: from the complete request head to the
//!   request being logged (static: its response queued; proxy: its response relayed to the end,
//!   or the failure answered)
//! - `<server>_http_response_bytes_total`: response body bytes
//! - `<server>_connections_active`, `<server>_connections_accepted_total`
//!
//! The proxy adds its own families through [`Extra`].

use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A counter with one writer: its worker.
#[derive(Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds `n`. Only the owning worker calls this, so load-then-store loses nothing.
    #[inline]
    pub fn add(&self, n: u64) {
        self.0.store(
            self.0.load(Ordering::Relaxed).wrapping_add(n),
            Ordering::Relaxed,
        );
    }

    /// Subtracts `n` (gauges built on a counter).
    #[inline]
    pub fn sub(&self, n: u64) {
        self.0.store(
            self.0.load(Ordering::Relaxed).wrapping_sub(n),
            Ordering::Relaxed,
        );
    }

    /// Sets the value (a gauge or state with one writer).
    #[inline]
    pub fn set(&self, v: u64) {
        self.0.store(v, Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Method labels; anything else counts as `other`.
pub const METHODS: [&str; 8] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "other",
];

/// Upper bounds of the duration histogram, in seconds (Prometheus' defaults plus the
/// sub-millisecond buckets a static server needs).
pub const BUCKETS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// The index of `method` in [`METHODS`].
pub fn method_index(method: &str) -> usize {
    METHODS[..7].iter().position(|m| *m == method).unwrap_or(7)
}

/// The index of a status' class (`1xx` is 0); out-of-range codes count as 5xx.
pub fn status_class(status: u16) -> usize {
    usize::from(status / 100).clamp(1, 5) - 1
}

/// One worker's HTTP counters.
#[derive(Default)]
pub struct WorkerMetrics {
    requests: [[Counter; 5]; 8],
    /// Per bucket (not cumulative; summed when rendered), plus one for above the last bound.
    duration: [Counter; 15],
    duration_micros: Counter,
    response_bytes: Counter,
    accepted: Counter,
    active: Counter,
}

impl WorkerMetrics {
    /// Counts one answered request. `started` is when its head was complete.
    pub fn request(&self, method: usize, status: u16, body_bytes: u64, started: Instant) {
        if let Some(c) = self
            .requests
            .get(method)
            .and_then(|m| m.get(status_class(status)))
        {
            c.add(1);
        }
        let micros = started.elapsed().as_micros().min(u128::from(u64::MAX)) as u64;
        let secs = micros as f64 / 1e6;
        let bucket = BUCKETS.iter().position(|&b| secs <= b).unwrap_or(14);
        self.duration[bucket].add(1);
        self.duration_micros.add(micros);
        self.response_bytes.add(body_bytes);
    }

    pub fn accepted(&self) {
        self.accepted.add(1);
        self.active.add(1);
    }

    pub fn closed(&self) {
        self.active.sub(1);
    }
}

/// Families a server adds to the common ones, rendered at scrape time.
pub type Extra = Box<dyn Fn(&mut String) + Send + Sync>;

/// Every worker's counters, and what renders them.
pub struct Metrics {
    prefix: &'static str,
    pub workers: Vec<WorkerMetrics>,
    extra: Option<Extra>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics")
            .field("prefix", &self.prefix)
            .field("workers", &self.workers.len())
            .finish()
    }
}

impl Metrics {
    pub fn new(prefix: &'static str, workers: usize) -> Metrics {
        Metrics {
            prefix,
            workers: (0..workers.max(1))
                .map(|_| WorkerMetrics::default())
                .collect(),
            extra: None,
        }
    }

    /// Worker `index`'s counters (the first worker's for an index out of range, which the
    /// event loop never passes: it makes one set per worker).
    pub fn worker(&self, index: usize) -> &WorkerMetrics {
        self.workers.get(index).unwrap_or(&self.workers[0])
    }

    pub fn with_extra(mut self, extra: Extra) -> Metrics {
        self.extra = Some(extra);
        self
    }

    /// The text exposition format (version 0.0.4).
    pub fn render(&self) -> String {
        let p = self.prefix;
        let sum = |f: &dyn Fn(&WorkerMetrics) -> u64| self.workers.iter().map(f).sum::<u64>();
        let mut out = String::with_capacity(4096);
        let _ = writeln!(
            out,
            "# HELP {p}_http_requests_total Requests answered, by method and status class.\n\
             # TYPE {p}_http_requests_total counter"
        );
        for (m, method) in METHODS.iter().enumerate() {
            for class in 0..5 {
                let n = sum(&|w| w.requests[m][class].get());
                let _ = writeln!(
                    out,
                    "{p}_http_requests_total{{method=\"{method}\",status_class=\"{}xx\"}} {n}",
                    class + 1
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP {p}_http_request_duration_seconds Time from a complete request head to the request being logged.\n\
             # TYPE {p}_http_request_duration_seconds histogram"
        );
        let mut cumulative = 0;
        for (i, bound) in BUCKETS.iter().enumerate() {
            cumulative += sum(&|w| w.duration[i].get());
            let _ = writeln!(
                out,
                "{p}_http_request_duration_seconds_bucket{{le=\"{bound}\"}} {cumulative}"
            );
        }
        cumulative += sum(&|w| w.duration[14].get());
        let micros = sum(&|w| w.duration_micros.get());
        let _ = writeln!(
            out,
            "{p}_http_request_duration_seconds_bucket{{le=\"+Inf\"}} {cumulative}\n\
             {p}_http_request_duration_seconds_sum {}\n\
             {p}_http_request_duration_seconds_count {cumulative}",
            micros as f64 / 1e6
        );
        let families: [(&str, &str, &str, u64); 3] = [
            (
                "http_response_bytes_total",
                "counter",
                "Response body bytes sent.",
                sum(&|w| w.response_bytes.get()),
            ),
            (
                "connections_active",
                "gauge",
                "Client connections open now.",
                sum(&|w| w.active.get()),
            ),
            (
                "connections_accepted_total",
                "counter",
                "Client connections accepted.",
                sum(&|w| w.accepted.get()),
            ),
        ];
        for (name, kind, help, value) in families {
            let _ = writeln!(
                out,
                "# HELP {p}_{name} {help}\n# TYPE {p}_{name} {kind}\n{p}_{name} {value}"
            );
        }
        if let Some(extra) = &self.extra {
            extra(&mut out);
        }
        out
    }
}

/// Writes a label value with `\`, `"` and newlines escaped, as the exposition format wants.
pub fn label(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// How long one scrape connection may take to send its request and read the answer.
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(2);
/// The longest request head read from a scraper.
const MAX_SCRAPE_HEAD: usize = 4096;

/// Binds `addr` and serves the metrics there (see [`serve`]); returns the bound address.
pub fn listen(
    addr: std::net::SocketAddr,
    metrics: Arc<Metrics>,
) -> io::Result<std::net::SocketAddr> {
    let listener = TcpListener::bind(addr)?;
    let bound = listener.local_addr()?;
    serve(listener, metrics)?;
    Ok(bound)
}

/// Serves `GET /metrics` on `listener` from a thread of its own, one connection at a time,
/// each bounded by [`SCRAPE_TIMEOUT`] and closed after its answer: a slow or hostile scraper
/// delays only the next scrape, never a worker.
pub fn serve(listener: TcpListener, metrics: Arc<Metrics>) -> io::Result<()> {
    std::thread::Builder::new()
        .name("metrics".into())
        .spawn(move || {
            for stream in listener.incoming() {
                match stream {
                    Ok(s) => {
                        let _ = answer(s, &metrics);
                    }
                    // Out of descriptors: wait instead of spinning on accept.
                    Err(_) => std::thread::sleep(Duration::from_millis(100)),
                }
            }
        })
        .map(drop)
}

fn answer(mut s: TcpStream, metrics: &Metrics) -> io::Result<()> {
    s.set_read_timeout(Some(SCRAPE_TIMEOUT))?;
    s.set_write_timeout(Some(SCRAPE_TIMEOUT))?;
    let deadline = Instant::now() + SCRAPE_TIMEOUT;
    let mut head = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        if head.len() > MAX_SCRAPE_HEAD || Instant::now() >= deadline {
            return s.write_all(&response(
                431,
                "text/plain",
                b"request head too large or slow\n",
                false,
            ));
        }
        let n = s.read(&mut chunk)?;
        if n == 0 {
            return Ok(());
        }
        head.extend_from_slice(&chunk[..n]);
    }
    let line = head.split(|&b| b == b'\r').next().unwrap_or_default();
    let mut parts = line.split(|&b| b == b' ');
    let (method, target) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    let path = target.split(|&b| b == b'?').next().unwrap_or_default();
    let head_only = method == b"HEAD";
    let reply = match (method, path) {
        (b"GET" | b"HEAD", b"/metrics") => response(
            200,
            "text/plain; version=0.0.4; charset=utf-8",
            metrics.render().as_bytes(),
            head_only,
        ),
        (b"GET" | b"HEAD", _) => {
            response(404, "text/plain", b"metrics are at /metrics\n", head_only)
        }
        _ => response(405, "text/plain", b"GET or HEAD\n", false),
    };
    s.write_all(&reply)
}

fn response(status: u16, content_type: &str, body: &[u8], head_only: bool) -> Vec<u8> {
    let reason = match status {
        200 => "OK",
        404 => "Not Found",
        405 => "Method Not Allowed",
        _ => "Request Header Fields Too Large",
    };
    let mut out = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if !head_only {
        out.extend_from_slice(body);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_summed_over_workers() {
        let m = Metrics::new("static", 2);
        let t = Instant::now();
        m.workers[0].request(method_index("GET"), 200, 10, t);
        m.workers[1].request(method_index("GET"), 204, 5, t);
        m.workers[1].request(method_index("BREW"), 404, 0, t);
        m.workers[0].accepted();
        m.workers[1].accepted();
        m.workers[1].closed();
        let text = m.render();
        assert!(
            text.contains("static_http_requests_total{method=\"GET\",status_class=\"2xx\"} 2\n")
        );
        assert!(
            text.contains("static_http_requests_total{method=\"other\",status_class=\"4xx\"} 1\n")
        );
        assert!(text.contains("static_http_response_bytes_total 15\n"));
        assert!(text.contains("static_connections_active 1\n"));
        assert!(text.contains("static_connections_accepted_total 2\n"));
        assert!(text.contains("static_http_request_duration_seconds_count 3\n"));
        assert!(text.contains("static_http_request_duration_seconds_bucket{le=\"+Inf\"} 3\n"));
        // Buckets are cumulative and never decrease.
        let mut last = 0;
        for line in text.lines().filter(|l| l.contains("_bucket{")) {
            let v: u64 = line.rsplit(' ').next().unwrap().parse().unwrap();
            assert!(v >= last, "{line}");
            last = v;
        }
    }

    #[test]
    fn classes_and_methods() {
        assert_eq!(status_class(101), 0);
        assert_eq!(status_class(599), 4);
        assert_eq!(status_class(999), 4);
        assert_eq!(status_class(0), 0);
        assert_eq!(method_index("OPTIONS"), 6);
        assert_eq!(method_index("get"), 7);
    }

    #[test]
    fn labels_are_escaped() {
        let mut s = String::new();
        label(&mut s, "a\"b\\c\nd");
        assert_eq!(s, "a\\\"b\\\\c\\nd");
    }
}
