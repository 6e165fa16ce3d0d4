//! Upstream connections of one worker: choosing an upstream (round robin, skipping one that
//! recently failed to connect), opening non-blocking connections (plain or TLS), and the bounded
//! pool of idle keep-alive connections.
//!
//! Pooled sockets are deregistered from the poller (no events, no tokens) and checked before
//! reuse ([`is_quiet`]): a pending EOF, an error or unexpected bytes mean the upstream closed or
//! is broken, and the socket is dropped. This module does not speak HTTP and never blocks: DNS
//! answers come from the [`Resolver`] cache.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use rustls::ClientConfig;

use crate::resolver::Resolver;
use crate::routes::{Route, Routes};
use crate::stream::{is_quiet, Io};
use crate::tls::TlsStream;

/// Idle connections kept per upstream per worker. HTTP/2 clients multiplex: 64 connections
/// of 10 streams need 640 upstream connections at once, and a pool smaller than the usual
/// concurrency closes most of them after each response only to connect again (a 32-deep
/// pool cost HTTP/2 a connect per request). An idle pooled connection costs a descriptor and
/// no buffer; running out of descriptors empties the pool (`drop_idle`).
pub const POOL_PER_UPSTREAM: usize = 512;
/// How long an idle pooled connection is kept (below the usual upstream keep-alive timeouts).
pub const POOL_IDLE: Duration = Duration::from_secs(15);
/// How long an upstream that failed to connect is skipped when its route has others.
const DOWN_FOR: Duration = Duration::from_secs(2);

struct Idle {
    io: Io,
    since: Instant,
}

/// Per-worker upstream state.
pub struct Upstreams {
    /// Oldest first: `take` uses the newest, a full pool drops the oldest.
    pools: Vec<VecDeque<Idle>>,
    down_until: Vec<Option<Instant>>,
    rr: Vec<usize>,
    /// Which resolved address of each host to try first.
    cursor: Vec<usize>,
}

impl Upstreams {
    pub fn new(routes: &Routes) -> Upstreams {
        Upstreams {
            pools: routes.upstreams.iter().map(|_| VecDeque::new()).collect(),
            down_until: vec![None; routes.upstreams.len()],
            rr: vec![0; routes.routes.len()],
            cursor: vec![0; routes.hosts.len()],
        }
    }

    /// The next upstream of `route` in round-robin order, skipping those marked down unless
    /// all are; `avoid` is the one that just failed for this request.
    pub fn pick(
        &mut self,
        route_index: usize,
        route: &Route,
        avoid: Option<usize>,
        now: Instant,
    ) -> usize {
        let n = route.upstreams.len().max(1);
        let start = self.rr.get(route_index).copied().unwrap_or(0);
        let mut chosen = None;
        for k in 0..n {
            let i = (start + k) % n;
            let Some(&id) = route.upstreams.get(i) else {
                continue;
            };
            let down = self
                .down_until
                .get(id)
                .copied()
                .flatten()
                .is_some_and(|t| t > now);
            if !down && Some(id) != avoid {
                chosen = Some((i, id));
                break;
            }
        }
        let (i, id) = chosen.unwrap_or_else(|| {
            let i = start % n;
            (i, route.upstreams.get(i).copied().unwrap_or(0))
        });
        if let Some(slot) = self.rr.get_mut(route_index) {
            *slot = i + 1;
        }
        id
    }

    /// Records a failed connection attempt: the upstream is skipped for a while, the next
    /// address of its host is tried first, and its name is looked up again.
    pub fn failed(&mut self, id: usize, routes: &Routes, resolver: &Resolver, now: Instant) {
        if let Some(d) = self.down_until.get_mut(id) {
            *d = Some(now + DOWN_FOR);
        }
        if let Some(up) = routes.upstreams.get(id) {
            if let Some(c) = self.cursor.get_mut(up.host_id) {
                *c = c.wrapping_add(1);
            }
            resolver.refresh(up.host_id);
        }
    }

    pub fn succeeded(&mut self, id: usize) {
        if let Some(d) = self.down_until.get_mut(id) {
            *d = None;
        }
    }

    /// Starts a non-blocking connection to upstream `id`. Returns the socket (not yet
    /// registered) and the address, or why no connection could be started.
    pub fn connect(
        &mut self,
        id: usize,
        routes: &Routes,
        resolver: &Resolver,
        tls: &Arc<ClientConfig>,
    ) -> Result<(Io, SocketAddr), io::Error> {
        let up = routes
            .upstreams
            .get(id)
            .ok_or_else(|| io::Error::other("no such upstream"))?;
        let addrs = resolver.addrs(up.host_id);
        if addrs.is_empty() {
            resolver.refresh(up.host_id);
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("cannot resolve {}", up.host),
            ));
        }
        let cursor = self.cursor.get(up.host_id).copied().unwrap_or(0);
        let addr = addrs[cursor % addrs.len()];
        let sock = TcpStream::connect(addr)?;
        let _ = sock.set_nodelay(true);
        let io = if up.tls {
            Io::Tls(Box::new(TlsStream::client(tls, &up.host, sock)?))
        } else {
            Io::Plain(sock)
        };
        Ok((io, addr))
    }

    /// An idle pooled connection to upstream `id` that is still quiet.
    pub fn take(&mut self, id: usize, now: Instant) -> Option<Io> {
        let pool = self.pools.get_mut(id)?;
        while let Some(mut idle) = pool.pop_back() {
            if now.duration_since(idle.since) < POOL_IDLE && is_quiet(&mut idle.io) {
                return Some(idle.io);
            }
        }
        None
    }

    /// Keeps an idle, deregistered connection for reuse (dropped when the pool is full).
    pub fn put(&mut self, id: usize, io: Io, now: Instant) {
        let Some(pool) = self.pools.get_mut(id) else {
            return;
        };
        if pool.len() >= POOL_PER_UPSTREAM {
            pool.pop_front();
        }
        pool.push_back(Idle { io, since: now });
    }

    /// Closes every pooled idle connection and returns how many there were: the descriptors
    /// this worker can give back at once when it runs out of them.
    pub fn drop_idle(&mut self) -> usize {
        let mut n = 0;
        for pool in &mut self.pools {
            n += pool.len();
            pool.clear();
        }
        n
    }

    /// Drops pooled connections idle for too long (the worker's tick).
    pub fn sweep(&mut self, now: Instant) {
        for pool in &mut self.pools {
            pool.retain(|idle| now.duration_since(idle.since) < POOL_IDLE);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_robin_skips_failed_upstreams() {
        let routes =
            Routes::parse(["/a=http://127.0.0.1:1|http://127.0.0.1:2|http://127.0.0.1:3"]).unwrap();
        let resolver = Resolver::new(&routes.hosts, Duration::from_secs(5));
        let mut u = Upstreams::new(&routes);
        let now = Instant::now();
        let r = &routes.routes[0];
        assert_eq!(
            (
                u.pick(0, r, None, now),
                u.pick(0, r, None, now),
                u.pick(0, r, None, now)
            ),
            (0, 1, 2)
        );
        u.failed(1, &routes, &resolver, now);
        assert_eq!((u.pick(0, r, None, now), u.pick(0, r, None, now)), (0, 2));
        assert_eq!(u.pick(0, r, Some(0), now), 2);
        let later = now + DOWN_FOR + Duration::from_millis(1);
        assert_eq!(
            (u.pick(0, r, None, later), u.pick(0, r, None, later)),
            (0, 1)
        );
        for id in 0..3 {
            u.failed(id, &routes, &resolver, now);
        }
        let _ = u.pick(0, r, None, now); // all down: still picks one
    }

    #[test]
    fn pool_checks_health_and_bounds() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let routes = Routes::parse([format!("/a=http://{addr}").as_str()]).unwrap();
        let mut u = Upstreams::new(&routes);
        let now = Instant::now();
        let healthy = Io::Plain(TcpStream::connect(addr).unwrap());
        let (_server_side, _) = listener.accept().unwrap();
        let closed = Io::Plain(TcpStream::connect(addr).unwrap());
        let (server_side2, _) = listener.accept().unwrap();
        drop(server_side2);
        std::thread::sleep(Duration::from_millis(50));
        u.put(0, healthy, now);
        u.put(0, closed, now);
        assert!(
            u.take(0, now).is_some(),
            "the healthy one is found under the closed one"
        );
        assert!(u.take(0, now).is_none());
        for _ in 0..POOL_PER_UPSTREAM + 3 {
            u.put(0, Io::Plain(TcpStream::connect(addr).unwrap()), now);
        }
        assert_eq!(u.pools[0].len(), POOL_PER_UPSTREAM);
        u.sweep(now + POOL_IDLE);
        assert!(u.pools[0].is_empty());
    }
}
