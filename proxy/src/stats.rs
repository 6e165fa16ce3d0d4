//! The proxy's own Prometheus families, added to the common ones (`common::metrics`):
//!
//! - `proxy_upstream_requests_total{route,status_class}`: responses that came from an upstream
//!   (not the proxy's own 502/504), by route;
//! - `proxy_upstream_connect_failures_total{route}`: connection attempts that failed or timed out;
//! - `proxy_upstream_up{route,upstream}`: 0 while the last connection attempt of some worker to
//!   that upstream failed, else 1;
//! - `proxy_http2_connections_total`: HTTPS connections that negotiated HTTP/2;
//! - `proxy_http2_goaway_total{code}`: GOAWAY frames sent, by error code (`enhance_your_calm`
//!   counts connections cut off by a budget: an attack, or a client gone wrong);
//! - `proxy_tls_certificate_not_after_seconds`: the served certificate's notAfter (Unix seconds),
//!   updated on SIGHUP reloads; absent without `--cert`.
//!
//! As in `common::metrics`, each worker writes only its own counters; the scrape sums them.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use common::metrics::{label, status_class, Counter};

use crate::routes::Routes;
use proxy::h2::frame::ErrorCode;

/// Upstream state as one worker last saw it (0: no attempt yet).
const UP: u64 = 1;
const DOWN: u64 = 2;

#[derive(Default)]
struct WorkerStats {
    /// Per route, per status class.
    upstream_requests: Vec<[Counter; 5]>,
    /// Per route.
    connect_failures: Vec<Counter>,
    /// Per upstream: 0 (no attempt yet), UP or DOWN.
    upstream_state: Vec<Counter>,
    h2_connections: Counter,
    /// Per `ErrorCode::ALL` entry.
    h2_goaways: [Counter; ErrorCode::ALL.len()],
}

pub struct ProxyStats {
    /// Route prefix of each route; upstream display name and route of each upstream.
    routes: Vec<String>,
    upstreams: Vec<(String, usize)>,
    workers: Vec<WorkerStats>,
    /// The certificate's notAfter in Unix seconds; 0 when there is none.
    pub cert_not_after: Arc<AtomicU64>,
}

impl ProxyStats {
    pub fn new(routes: &Routes, workers: usize) -> ProxyStats {
        let route_of = |id: usize| {
            routes
                .routes
                .iter()
                .position(|r| r.upstreams.contains(&id))
                .unwrap_or(0)
        };
        ProxyStats {
            routes: routes.routes.iter().map(|r| r.prefix.clone()).collect(),
            upstreams: routes
                .upstreams
                .iter()
                .enumerate()
                .map(|(id, u)| (u.display.clone(), route_of(id)))
                .collect(),
            workers: (0..workers.max(1))
                .map(|_| WorkerStats {
                    upstream_requests: routes.routes.iter().map(|_| Default::default()).collect(),
                    connect_failures: routes.routes.iter().map(|_| Counter::default()).collect(),
                    upstream_state: routes
                        .upstreams
                        .iter()
                        .map(|_| Counter::default())
                        .collect(),
                    h2_connections: Counter::default(),
                    h2_goaways: Default::default(),
                })
                .collect(),
            cert_not_after: Arc::new(AtomicU64::new(0)),
        }
    }

    fn worker(&self, worker: usize) -> &WorkerStats {
        self.workers.get(worker).unwrap_or(&self.workers[0])
    }

    /// An upstream (`id`) answered with `status`.
    pub fn upstream_response(&self, worker: usize, id: usize, status: u16) {
        let route = self.upstreams.get(id).map_or(0, |u| u.1);
        if let Some(c) = self
            .worker(worker)
            .upstream_requests
            .get(route)
            .and_then(|r| r.get(status_class(status)))
        {
            c.add(1);
        }
    }

    /// A connection attempt to upstream `id` failed (`ok == false`) or succeeded.
    pub fn connect_result(&self, worker: usize, id: usize, ok: bool) {
        let w = self.worker(worker);
        if let Some(state) = w.upstream_state.get(id) {
            state.set(if ok { UP } else { DOWN });
        }
        if !ok {
            let route = self.upstreams.get(id).map_or(0, |u| u.1);
            if let Some(c) = w.connect_failures.get(route) {
                c.add(1);
            }
        }
    }

    /// A connection negotiated HTTP/2.
    pub fn h2_connection(&self, worker: usize) {
        self.worker(worker).h2_connections.add(1);
    }

    /// A GOAWAY with `code` was sent.
    pub fn h2_goaway(&self, worker: usize, code: ErrorCode) {
        if let Some(i) = ErrorCode::ALL.iter().position(|&c| c == code) {
            self.worker(worker).h2_goaways[i].add(1);
        }
    }

    /// The proxy's families in the text exposition format.
    pub fn render(&self, out: &mut String) {
        out.push_str(
            "# HELP proxy_upstream_requests_total Responses from upstreams, by route and status class.\n\
             # TYPE proxy_upstream_requests_total counter\n",
        );
        for (r, prefix) in self.routes.iter().enumerate() {
            for class in 0..5 {
                let n: u64 = self
                    .workers
                    .iter()
                    .map(|w| w.upstream_requests[r][class].get())
                    .sum();
                out.push_str("proxy_upstream_requests_total{route=\"");
                label(out, prefix);
                let _ = writeln!(out, "\",status_class=\"{}xx\"}} {n}", class + 1);
            }
        }
        out.push_str(
            "# HELP proxy_upstream_connect_failures_total Failed or timed-out connection attempts, by route.\n\
             # TYPE proxy_upstream_connect_failures_total counter\n",
        );
        for (r, prefix) in self.routes.iter().enumerate() {
            let n: u64 = self
                .workers
                .iter()
                .map(|w| w.connect_failures[r].get())
                .sum();
            out.push_str("proxy_upstream_connect_failures_total{route=\"");
            label(out, prefix);
            let _ = writeln!(out, "\"}} {n}");
        }
        out.push_str(
            "# HELP proxy_upstream_up 0 while the last connection attempt of a worker to the upstream failed.\n\
             # TYPE proxy_upstream_up gauge\n",
        );
        for (id, (name, route)) in self.upstreams.iter().enumerate() {
            let down = self
                .workers
                .iter()
                .any(|w| w.upstream_state[id].get() == DOWN);
            out.push_str("proxy_upstream_up{route=\"");
            label(out, self.routes.get(*route).map_or("", String::as_str));
            out.push_str("\",upstream=\"");
            label(out, name);
            let _ = writeln!(out, "\"}} {}", u8::from(!down));
        }
        let n: u64 = self.workers.iter().map(|w| w.h2_connections.get()).sum();
        let _ = writeln!(
            out,
            "# HELP proxy_http2_connections_total HTTPS connections that negotiated HTTP/2.\n\
             # TYPE proxy_http2_connections_total counter\n\
             proxy_http2_connections_total {n}"
        );
        out.push_str(
            "# HELP proxy_http2_goaway_total GOAWAY frames sent, by error code.\n\
             # TYPE proxy_http2_goaway_total counter\n",
        );
        for (i, code) in ErrorCode::ALL.iter().enumerate() {
            let n: u64 = self.workers.iter().map(|w| w.h2_goaways[i].get()).sum();
            let _ = writeln!(
                out,
                "proxy_http2_goaway_total{{code=\"{}\"}} {n}",
                code.name()
            );
        }
        let not_after = self.cert_not_after.load(Ordering::Relaxed);
        if not_after > 0 {
            let _ = writeln!(
                out,
                "# HELP proxy_tls_certificate_not_after_seconds Expiry of the served certificate (Unix time).\n\
                 # TYPE proxy_tls_certificate_not_after_seconds gauge\n\
                 proxy_tls_certificate_not_after_seconds {not_after}"
            );
        }
    }
}
