//! One socket of a proxied exchange, plain TCP or TLS, plus the readiness the kernel reported
//! for it (the "event" half of the loop contract).
//!
//! Owns the read/write-until-blocked calls and the readiness bookkeeping (set on event, cleared
//! on WouldBlock), and nothing about HTTP. A short read on a socket that did not report a hang-up
//! counts as drained: with edge-triggered epoll, data arriving afterwards raises a new event, so
//! the steady state is one `read` per direction per request instead of two.

use std::io;

use common::buffer::Buffer;
use common::transport::{self, ReadOutcome, Readiness, Transport, WriteOutcome};
use mio::event::Event;
use mio::net::TcpStream;

use crate::tls::TlsStream;

pub enum Io {
    Plain(TcpStream),
    Tls(Box<TlsStream>),
}

/// A socket with its readiness flags.
pub struct Stream {
    pub io: Io,
    pub ready: Readiness,
}

impl Stream {
    pub fn new(io: Io) -> Stream {
        Stream {
            io,
            ready: Readiness::default(),
        }
    }

    /// Records what an event reported.
    pub fn on_event(&mut self, event: &Event) {
        self.ready.record(event);
    }

    pub fn socket(&mut self) -> &mut TcpStream {
        match &mut self.io {
            Io::Plain(s) => s,
            Io::Tls(t) => t.socket(),
        }
    }

    pub fn is_handshaking(&self) -> bool {
        match &self.io {
            Io::Plain(_) => false,
            Io::Tls(t) => t.is_handshaking(),
        }
    }

    /// Bytes the transport holds itself and must still send (TLS handshake, alerts).
    pub fn has_pending_output(&self) -> bool {
        match &self.io {
            Io::Plain(_) => false,
            Io::Tls(t) => t.has_pending_output(),
        }
    }

    /// Reads into `buf` if the socket is readable; clears the flag on WouldBlock and EOF.
    pub fn read(&mut self, buf: &mut Buffer) -> io::Result<ReadOutcome> {
        let trust_short = self.ready.short_read_drains();
        let outcome = match &mut self.io {
            Io::Plain(s) => transport::read_until_blocked(s, buf, trust_short),
            Io::Tls(t) => t.read(buf, trust_short),
        };
        match outcome {
            Ok(ReadOutcome::WouldBlock) | Ok(ReadOutcome::Eof) | Err(_) => {
                self.ready.readable = false
            }
            Ok(ReadOutcome::BufferFull) => {}
        }
        outcome
    }

    /// Writes `buf` (and TLS records) out; clears the writable flag when the socket is full.
    pub fn write(&mut self, buf: &mut Buffer) -> io::Result<WriteOutcome> {
        let outcome = match &mut self.io {
            Io::Plain(s) => transport::write_until_blocked(s, buf),
            Io::Tls(t) => t.write_from(buf),
        };
        let socket_full = match &self.io {
            Io::Plain(_) => true,
            Io::Tls(t) => t.write_blocked(),
        };
        match outcome {
            Ok(WriteOutcome::WouldBlock) if socket_full => self.ready.writable = false,
            Err(_) => self.ready.writable = false,
            _ => {}
        }
        outcome
    }

    /// Whether there is something to write and the socket can take it.
    pub fn wants_write(&self, buf: &Buffer) -> bool {
        self.ready.writable && (!buf.is_empty() || self.has_pending_output())
    }

    pub fn close_write(&mut self) {
        match &mut self.io {
            Io::Plain(s) => s.close_write(),
            Io::Tls(t) => t.close_write(),
        }
    }

    /// Makes the coming close a reset (no FIN, no TLS close_notify): the peer must not take
    /// the end of the connection for the end of a message.
    pub fn abort(&mut self) {
        // Should it fail, the close is orderly; nothing better can be done.
        let _ = common::sys::reset_on_close(self.socket());
    }
}
