//! An exchange's deadlines, checked by the periodic sweep: the connect timeout (while the
//! upstream connection is `Connecting`), the request body's minimum rate, and the inactivity
//! timeout (`last_progress + upstream_timeout`). Each deadline has this one meaning.

use std::time::{Duration, Instant};

use common::buffer::Buffer;
use common::event_loop::Cx;
use common::http::status::Status;

use super::{Exchange, Failure, Response};
use crate::framing::Out;
use crate::plan::Plan;
use crate::service::Proxy;
use crate::upstream_conn::Phase;

/// The slowest request body accepted, in bytes per second, as Apache's mod_reqtimeout
/// `MinRate`: a body must arrive within the header timeout plus one second per this many
/// bytes received (see [`Exchange::body_too_slow`]).
const MIN_BODY_RATE: u64 = 1024;

impl Exchange {
    /// The periodic check: connect timeout, slow request body, inactivity.
    pub fn tick(
        &mut self,
        plan: &Plan,
        client_cin: &Buffer,
        p: &mut Proxy,
        cx: &mut Cx,
    ) -> Option<Failure> {
        let now = cx.now;
        let connecting = self.up.as_ref().and_then(|u| match u.phase {
            Phase::Connecting { deadline } => Some(deadline),
            _ => None,
        });
        if let Some(deadline) = connecting {
            if now >= deadline {
                return self.connect_failed(plan, true, p, cx).err();
            }
            return None;
        }
        let header_timeout = p.shared.config.server.header_timeout;
        if self.body_too_slow(now, header_timeout, client_cin) {
            return Some(Failure::Answer {
                status: Status::REQUEST_TIMEOUT,
                keep_alive: false,
            });
        }
        if now.saturating_duration_since(self.last_progress) >= p.shared.config.upstream_timeout {
            return Some(match &self.response {
                Response::Streaming { plan: rp, body } => Failure::Cut {
                    status: rp.status,
                    bytes: body.total,
                    close_delimited: rp.out == Out::Close,
                },
                Response::Awaiting => Failure::Answer {
                    status: Status::GATEWAY_TIMEOUT,
                    keep_alive: false,
                },
            });
        }
        None
    }

    /// Whether the request body is overdue. Each body byte counts as progress, so without
    /// this a client sending a byte every few seconds (slow-body attacks) could hold the
    /// connection and an upstream connection for as long as its body lasts. Like Apache's
    /// mod_reqtimeout, the body must arrive within the header timeout plus one second per
    /// [`MIN_BODY_RATE`] bytes. Only while the exchange waits for the client: no response
    /// yet, and the upstream took everything forwarded so far (else the upstream is the slow
    /// side and the inactivity timeout applies).
    fn body_too_slow(&self, now: Instant, base: Duration, client_cin: &Buffer) -> bool {
        let upstream_waiting = self.up.as_ref().is_some_and(|u| u.output.is_empty());
        if self.request.is_done()
            || self.response_started()
            || !upstream_waiting
            || client_cin.is_full()
        {
            return false;
        }
        let allowed = base + Duration::from_secs(self.request.total / MIN_BODY_RATE);
        now.saturating_duration_since(self.body_since) >= allowed
    }

    /// Ends the exchange early (the client connection is closing): the upstream connection is
    /// closed, never pooled, since a request may be half sent.
    pub fn abandon(mut self, cx: &Cx) {
        if let Some(conn) = self.up.take() {
            conn.close(cx);
        }
    }
}
