//! The upstream connections an HTTP/2 connection keeps between its streams. They stay
//! registered with the connection's slot, so the next stream to the same upstream takes one
//! without the two `epoll_ctl` calls a trip through the worker's pool costs (the pool holds
//! deregistered sockets), as an HTTP/1.1 connection keeps the connection of its last exchange.
//! Before carrying a request a kept connection is checked like any reused one
//! (`Connector::acquire`). Bounded; the surplus, and all of them once the client connection
//! is idle, go back to the pool.

use common::event_loop::Cx;
use mio::event::Event;

use crate::service::Proxy;
use crate::upstream_conn::UpstreamConn;

/// Upstream connections kept per HTTP/2 connection.
const MAX_KEPT: usize = 32;

#[derive(Default)]
pub struct Kept {
    conns: Vec<UpstreamConn>,
}

impl Kept {
    /// The newest kept connection to one of `upstreams` (a route's), if any.
    pub fn take_for(&mut self, upstreams: &[usize]) -> Option<UpstreamConn> {
        let i = self.conns.iter().rposition(|c| upstreams.contains(&c.id))?;
        Some(self.conns.swap_remove(i))
    }

    /// Keeps a connection whose exchange ended cleanly; past the bound it goes to the pool.
    pub fn keep(&mut self, conn: UpstreamConn, p: &mut Proxy, cx: &Cx) {
        if self.conns.len() < MAX_KEPT {
            self.conns.push(conn);
        } else {
            conn.release(cx, &mut p.ups);
        }
    }

    /// Records an event meant for one of the kept sockets. Returns whether it was one.
    pub fn record(&mut self, event: &Event) -> bool {
        match self
            .conns
            .iter_mut()
            .find(|c| c.stream.token == event.token())
        {
            Some(conn) => {
                conn.record(event);
                true
            }
            None => false,
        }
    }

    /// Gives every kept connection back to the worker's pool.
    pub fn release_all(&mut self, p: &mut Proxy, cx: &Cx) {
        for conn in self.conns.drain(..) {
            conn.release(cx, &mut p.ups);
        }
    }
}
