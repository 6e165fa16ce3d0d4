//! The periodic side of a client connection (the 1 s sweep): the header, idle and send
//! timeouts, the drain when shutdown begins, giving back what an idle connection holds, and the
//! final close. The event side is in the parent module.

use common::conn::Waited;
use common::event_loop::{Cx, Flow};
use common::http::status::Status;
use common::transport::Transport;

use super::{Conn, State};
use crate::plan::Answer;
use crate::service::Proxy;

impl Conn {
    /// Periodic work: timeouts, shutdown, giving back what an idle connection holds.
    pub fn tick(&mut self, p: &mut Proxy, cx: &mut Cx) -> Flow {
        let now = cx.now;
        let server = &p.shared.config.server;
        let (header_timeout, idle_timeout) = (server.header_timeout, server.idle_timeout);
        match &mut self.state {
            State::Closing(closing) => {
                let expired =
                    closing.expired(&self.client, &self.cout, now, idle_timeout, cx.draining);
                return if expired { Flow::Close } else { Flow::Continue };
            }
            State::Tunnel(t) => {
                let over = cx.draining || t.expired(now, p.shared.config.upstream_timeout);
                return if over { Flow::Close } else { Flow::Continue };
            }
            State::H2(mux) => {
                if self.client.send_stalled(&self.cout, now, idle_timeout) {
                    return Flow::Close;
                }
                let timeouts = (header_timeout, idle_timeout);
                if mux.tick(&mut self.cout, timeouts, p, cx).is_err() {
                    self.start_closing(p, cx);
                } else if mux.has_no_streams() && self.cin.is_empty() && self.cout.is_empty() {
                    mux.release_memory();
                    self.cin.release_if_empty();
                    self.cout.release_if_empty();
                }
                return self.drive(p, cx);
            }
            State::Forwarding(_) | State::Waiting | State::Handshake => {}
        }
        // A client that stopped reading: the send timeout.
        if self.client.send_stalled(&self.cout, now, idle_timeout) {
            return Flow::Close;
        }
        if let State::Forwarding(ex) = &mut self.state {
            if let Some(failure) = ex.tick(&self.plan, &self.cin, p, cx) {
                let upstream = ex.upstream();
                if self.failed(failure, upstream, p, cx).is_err() {
                    return Flow::Close;
                }
            }
            return self.drive(p, cx);
        }
        let handshaking = self.client.io.is_handshaking();
        if cx.draining {
            return self.drain(p, cx, handshaking);
        }
        match self.clock.expired(now, header_timeout, idle_timeout) {
            Some(_) if handshaking => Flow::Close,
            Some(Waited::HeaderTimeout) => {
                self.log.clear();
                self.plan.keep_alive = false;
                self.plan.head_request = false;
                self.write_answer(p, cx, Answer::Error(Status::REQUEST_TIMEOUT), None);
                self.start_closing(p, cx);
                self.drive(p, cx)
            }
            Some(Waited::Idle) => Flow::Close,
            None => {
                if self.cin.is_empty() && self.cout.is_empty() && !handshaking {
                    self.release_idle(p, cx);
                }
                Flow::Continue
            }
        }
    }

    /// Shutdown began while no request was in progress. One may still wait unread in the
    /// socket (it arrived after the last event was handled, or the connection was just taken
    /// from the listen backlog): read once and serve it, with `Connection: close`, before
    /// closing. A request the client finished writing before the signal is never dropped; one
    /// still incomplete after this read was not finished before it, and the connection closes.
    fn drain(&mut self, p: &mut Proxy, cx: &mut Cx, handshaking: bool) -> Flow {
        if handshaking {
            return Flow::Close;
        }
        self.client.ready.readable = true;
        if self.drive(p, cx) == Flow::Close {
            return Flow::Close;
        }
        if !matches!(self.state, State::Waiting) {
            return Flow::Continue;
        }
        if self.cout.is_empty() {
            return Flow::Close;
        }
        self.start_closing(p, cx);
        self.drive(p, cx)
    }

    /// An idle keep-alive connection gives its upstream back to the pool and frees its
    /// buffers: one live allocation per idle connection, left between freed ones, pins their
    /// pages, and 10,000 idle connections then cost ~11 KiB each instead of ~1.
    fn release_idle(&mut self, p: &mut Proxy, cx: &mut Cx) {
        if let Some(kept) = self.kept.take() {
            kept.release(cx, &mut p.ups);
        }
        self.cin.release_if_empty();
        self.cout.release_if_empty();
        self.plan.release();
        self.log.release();
    }

    /// The connection is gone: a kept upstream that is fit goes back to the pool.
    pub fn close(mut self, p: &mut Proxy, cx: &mut Cx) {
        self.leave(p, cx);
        if let Some(kept) = self.kept.take() {
            kept.release(cx, &mut p.ups);
        }
        self.client.deregister(cx);
    }
}
