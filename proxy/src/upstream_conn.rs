//! One upstream connection in use by a client connection: its socket (registered under a token
//! of its own generation), its two buffers, and its phase. Opening (new, pooled, or kept from the
//! previous exchange), completing a non-blocking connect, moving bytes, and deciding whether it
//! may carry another request. Knows nothing of the client or of HTTP beyond "the response
//! ended here".

use std::io;
use std::time::Instant;

use common::buffer::Buffer;
use common::conn::InputEnd;
use common::event_loop::Cx;
use mio::event::Event;

use crate::stream::{probe, Idle, Io, Stream};
use crate::upstream::Upstreams;

/// Why a connection is never reused after bytes arrived past the end of a response.
pub const DESYNC: &str = "the upstream sent bytes after the end of its response";

/// Bytes buffered from the upstream, towards the client.
pub const INPUT_BUF: usize = 32 * 1024;
/// Bytes buffered towards the upstream.
pub const OUTPUT_BUF: usize = 16 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// The non-blocking connect is under way.
    Connecting { deadline: Instant },
    /// Connected. `reused`: the connection carried an earlier request (pooled or kept), so
    /// its ending before a response is the usual race with the upstream's idle timeout.
    Open { reused: bool },
    /// Writing failed (the upstream stopped reading); what it sent may still be read.
    WriteFailed,
}

/// How a connect attempt stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Connect {
    Pending,
    /// Connected just now.
    Done,
    Failed,
}

pub struct UpstreamConn {
    pub stream: Stream,
    /// Index in `Routes::upstreams`.
    pub id: usize,
    pub phase: Phase,
    pub input: Buffer,
    pub output: Buffer,
}

impl UpstreamConn {
    /// Registers `io` (new or from the pool) for this client connection.
    pub fn register(cx: &mut Cx, mut io: Io, id: usize, phase: Phase) -> io::Result<Self> {
        let token = cx.register_upstream(common::transport::Transport::socket(&mut io))?;
        let mut stream = Stream::new(io, token, cx.now);
        if !matches!(phase, Phase::Connecting { .. }) {
            // A pooled connection was quiet when taken: writable, nothing to read yet.
            stream.ready.writable = true;
        }
        Ok(UpstreamConn {
            stream,
            id,
            phase,
            input: Buffer::new(INPUT_BUF),
            output: Buffer::new(OUTPUT_BUF),
        })
    }

    /// Records an event if it is meant for this socket (see `Endpoint::record`).
    pub fn record(&mut self, event: &Event) {
        self.stream.record(event);
    }

    pub fn is_reused(&self) -> bool {
        matches!(self.phase, Phase::Open { reused: true })
    }

    /// Completes a non-blocking connect once the socket reports writable (or an error).
    pub fn check_connect(&mut self) -> Connect {
        if !matches!(self.phase, Phase::Connecting { .. }) {
            return Connect::Done;
        }
        let hup = self.stream.ready.hup;
        if !(self.stream.ready.writable || hup) {
            return Connect::Pending;
        }
        let sock = self.stream.socket();
        match sock.take_error() {
            Ok(Some(_)) | Err(_) => return Connect::Failed,
            Ok(None) => {}
        }
        match sock.peer_addr() {
            Ok(_) => {
                self.phase = Phase::Open { reused: false };
                Connect::Done
            }
            Err(e) if e.kind() == io::ErrorKind::NotConnected && !hup => {
                self.stream.ready.writable = false;
                Connect::Pending
            }
            Err(_) => Connect::Failed,
        }
    }

    /// Writes queued request bytes. A write error is not the end of the exchange: the
    /// upstream may have answered already (a 413 before reading the body, say).
    pub fn write(&mut self, now: Instant) -> bool {
        match self.phase {
            Phase::Connecting { .. } => false,
            Phase::WriteFailed => {
                self.output.clear();
                false
            }
            Phase::Open { .. } => match self.stream.write(&mut self.output, now) {
                Ok(moved) => moved,
                Err(_) => {
                    self.phase = Phase::WriteFailed;
                    self.output.clear();
                    true
                }
            },
        }
    }

    /// Reads the response while there is room. An error ends the input as cut.
    pub fn read(&mut self) -> bool {
        if matches!(self.phase, Phase::Connecting { .. }) {
            return false;
        }
        self.stream.read(&mut self.input).unwrap_or(true)
    }

    pub fn input_end(&self) -> InputEnd {
        self.stream.input
    }

    /// Whether the connection may carry another request now that a response ended: nothing
    /// left over in either direction, both directions open. A byte after the end of a
    /// response means the upstream and the proxy disagree on where it ended (a desync, or a
    /// broken upstream): the connection must never carry another request.
    pub fn fit_for_reuse(&self) -> Result<(), &'static str> {
        if !self.input.is_empty() {
            return Err(DESYNC);
        }
        if self.stream.input_ended() || self.phase == Phase::WriteFailed {
            return Err("the connection is closing");
        }
        if !self.output.is_empty()
            || common::transport::Transport::has_pending_output(&self.stream.io)
        {
            return Err("request bytes are still queued");
        }
        Ok(())
    }

    /// Checks a kept connection right before it carries another request: anything that
    /// arrived since its last response (bytes, EOF, an error) disqualifies it. `Err` says why.
    pub fn still_quiet(&mut self) -> Result<(), &'static str> {
        self.fit_for_reuse()?;
        match probe(&mut self.stream.io) {
            Idle::Quiet => Ok(()),
            Idle::Bytes => Err(DESYNC),
            Idle::Closed => Err("the connection is closing"),
        }
    }

    /// Gives a connection fit for reuse back to the worker's pool, else closes it.
    pub fn release(mut self, cx: &Cx, pool: &mut Upstreams) {
        self.stream.deregister(cx);
        if self.fit_for_reuse().is_ok() && !cx.draining {
            pool.put(self.id, self.stream.io, cx.now);
        }
    }

    /// Closes the connection.
    pub fn close(mut self, cx: &Cx) {
        self.stream.deregister(cx);
    }

    /// Closes a connection that may not be reused, logging why when the reason is one an
    /// operator must see (a desync: a broken upstream, or one under attack).
    pub fn discard(self, why: &str, name: &str, cx: &Cx) {
        if why == DESYNC {
            common::log::error(format_args!(
                "upstream {name}: {why}; connection closed, never reused"
            ));
        }
        self.close(cx);
    }
}
