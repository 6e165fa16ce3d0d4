//! A WebSocket tunnel after a 101: bytes copied both ways unchanged, half-closes passed on, the
//! connection closed once both directions are done or nothing moved for the upstream timeout.

use std::time::{Duration, Instant};

use common::buffer::Buffer;
use common::conn::Stop;
use common::event_loop::Cx;
use common::transport::Transport;

use crate::stream::Stream;
use crate::upstream_conn::{Phase, UpstreamConn};

pub struct Tunnel {
    up: UpstreamConn,
    last_progress: Instant,
    /// The client finished sending and the upstream was told (FIN).
    upstream_shut: bool,
    /// The upstream finished sending and the client was told.
    client_shut: bool,
}

/// Moves what fits from one side's input to the other side's output.
fn copy(from: &mut Buffer, to: &mut Buffer) -> bool {
    let n = to.extend(from.filled());
    from.consume(n);
    n > 0
}

impl Tunnel {
    pub fn new(up: UpstreamConn, now: Instant) -> Tunnel {
        Tunnel {
            up,
            last_progress: now,
            upstream_shut: false,
            client_shut: false,
        }
    }

    pub fn upstream_conn(&mut self) -> &mut UpstreamConn {
        &mut self.up
    }

    /// One round of copying; `Err` when the tunnel is over.
    pub fn step(
        &mut self,
        client: &mut Stream,
        cin: &mut Buffer,
        cout: &mut Buffer,
        now: Instant,
    ) -> Result<bool, Stop> {
        let up = &mut self.up;
        let mut progress = copy(cin, &mut up.output);
        progress |= up.write(now);
        if up.phase == Phase::WriteFailed {
            return Err(Stop);
        }
        progress |= up.read();
        progress |= copy(&mut up.input, cout);
        if client.input_ended() && cin.is_empty() && up.output.is_empty() && !self.upstream_shut {
            up.stream.io.close_write();
            self.upstream_shut = true;
            progress = true;
        }
        if up.stream.input_ended() && up.input.is_empty() && cout.is_empty() && !self.client_shut {
            client.io.close_write();
            self.client_shut = true;
            progress = true;
        }
        if self.upstream_shut && self.client_shut {
            return Err(Stop);
        }
        if progress {
            self.last_progress = now;
        }
        Ok(progress)
    }

    /// Nothing moved either way for `timeout`.
    pub fn expired(&self, now: Instant, timeout: Duration) -> bool {
        now.saturating_duration_since(self.last_progress) >= timeout
    }

    pub fn close(self, cx: &Cx) {
        self.up.close(cx);
    }
}
