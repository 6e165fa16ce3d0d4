//! Getting an upstream connection for one request: which upstream (round robin, skipping those
//! recently failed), which connection (the one kept from the previous exchange while it is
//! quiet, a pooled one, a new non-blocking connect), failover when connecting fails or times
//! out, and a new connection for a replayable request whose connection ended before any
//! response. It counts attempts and knows nothing of the request's bytes; when it gives up it
//! names the status to answer (502, 503, 504).

use std::io;

use common::event_loop::Cx;
use common::http::status::Status;

use crate::service::Proxy;
use crate::upstream_conn::{Phase, UpstreamConn};

pub struct Connector {
    pub route: usize,
    /// The upstream of the current (or last) attempt, for the access log.
    pub upstream: usize,
    /// Connection attempts that failed.
    attempts: u8,
    /// Connections that ended before any response.
    lost: u8,
}

impl Connector {
    pub fn new(route: usize) -> Connector {
        Connector {
            route,
            upstream: 0,
            attempts: 0,
            lost: 0,
        }
    }

    /// A connection to an upstream of the route: the kept one if round robin picked its
    /// upstream and it is still quiet, else a pooled one, else a new connection (which may
    /// still be connecting). A retry after a lost connection always opens a new one.
    pub fn acquire(
        &mut self,
        kept: Option<UpstreamConn>,
        avoid: Option<usize>,
        p: &mut Proxy,
        cx: &mut Cx,
    ) -> Result<UpstreamConn, Status> {
        let shared = p.shared.clone();
        let route = shared
            .config
            .routes
            .routes
            .get(self.route)
            .ok_or(Status::BAD_GATEWAY)?;
        let id = p.ups.pick(self.route, route, avoid, cx.now);
        self.upstream = id;
        if let Some(mut conn) = kept {
            if conn.id == id && self.lost == 0 {
                match conn.still_quiet() {
                    Ok(()) => {
                        conn.phase = Phase::Open { reused: true };
                        return Ok(conn);
                    }
                    Err(why) => conn.discard(why, p.upstream_name(id), cx),
                }
            } else {
                conn.release(cx, &mut p.ups);
            }
        }
        if self.lost == 0 {
            if let Some(io) = p.ups.take(id, cx.now) {
                if let Ok(conn) = UpstreamConn::register(cx, io, id, Phase::Open { reused: true }) {
                    return Ok(conn);
                }
            }
        }
        self.connect(id, p, cx)
    }

    /// Starts a new connection to `id`, failing over to other addresses and upstreams when the
    /// connect call itself fails.
    fn connect(
        &mut self,
        mut id: usize,
        p: &mut Proxy,
        cx: &mut Cx,
    ) -> Result<UpstreamConn, Status> {
        let shared = p.shared.clone();
        let config = &shared.config;
        loop {
            self.upstream = id;
            match p
                .ups
                .connect(id, &config.routes, &shared.resolver, &shared.client_tls)
            {
                Ok((io, _addr)) => {
                    let deadline = cx.now + config.connect_timeout;
                    if let Ok(conn) =
                        UpstreamConn::register(cx, io, id, Phase::Connecting { deadline })
                    {
                        return Ok(conn);
                    }
                }
                // The name never resolved: no other address to try.
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(Status::BAD_GATEWAY),
                Err(e) if common::event_loop::is_resource_exhaustion(&e) => {
                    // Out of descriptors here: not the upstream's fault, so it is not marked
                    // down. Pooled idle connections are descriptors this worker can give back
                    // at once; retry once they are freed.
                    common::log::exhausted(format_args!("cannot connect to upstreams: {e}"));
                    if p.ups.drop_idle() == 0 {
                        return Err(Status::SERVICE_UNAVAILABLE);
                    }
                    continue;
                }
                Err(_) => {}
            }
            p.upstream_failed(id, cx.now);
            self.attempts = self.attempts.saturating_add(1);
            if self.attempts >= self.max_attempts(p) {
                return Err(Status::BAD_GATEWAY);
            }
            let route = config
                .routes
                .routes
                .get(self.route)
                .ok_or(Status::BAD_GATEWAY)?;
            id = p.ups.pick(self.route, route, Some(id), cx.now);
        }
    }

    /// Tries per request: every upstream of the route once, plus one, at most four.
    fn max_attempts(&self, p: &Proxy) -> u8 {
        let n = p
            .shared
            .config
            .routes
            .routes
            .get(self.route)
            .map_or(1, |r| r.upstreams.len());
        (n + 1).min(4) as u8
    }

    /// The attempt on `conn` failed or timed out: another address or upstream, or give up with
    /// 502 (504 after a timeout).
    pub fn connect_failed(
        &mut self,
        conn: UpstreamConn,
        timed_out: bool,
        p: &mut Proxy,
        cx: &mut Cx,
    ) -> Result<UpstreamConn, Status> {
        let id = conn.id;
        conn.close(cx);
        p.upstream_failed(id, cx.now);
        self.attempts = self.attempts.saturating_add(1);
        if self.attempts >= self.max_attempts(p) {
            return Err(if timed_out {
                Status::GATEWAY_TIMEOUT
            } else {
                Status::BAD_GATEWAY
            });
        }
        self.acquire(None, Some(id), p, cx)
    }

    /// `conn` closed or failed before sending a response: a replayable request (RFC 9110
    /// section 9.2.2) gets a new connection, at most twice; else 502. A reused connection
    /// closing is the usual race with the upstream's idle timeout, so the same upstream is
    /// tried again. A new connection ending without a word means the upstream itself failed:
    /// it is skipped for a while and the retry goes to another upstream of the route when
    /// there is one, so requests in flight when an upstream dies are not lost.
    pub fn lost(
        &mut self,
        conn: UpstreamConn,
        replayable: bool,
        p: &mut Proxy,
        cx: &mut Cx,
    ) -> Result<UpstreamConn, Status> {
        let reused = conn.is_reused();
        let mut id = conn.id;
        conn.close(cx);
        if !replayable || self.lost >= 2 {
            return Err(Status::BAD_GATEWAY);
        }
        self.lost += 1;
        if !reused {
            p.upstream_failed(id, cx.now);
            let shared = p.shared.clone();
            if let Some(route) = shared.config.routes.routes.get(self.route) {
                id = p.ups.pick(self.route, route, Some(id), cx.now);
            }
        }
        self.connect(id, p, cx)
    }
}
