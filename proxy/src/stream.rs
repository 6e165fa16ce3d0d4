//! One socket of a proxied exchange, plain TCP or TLS, plus the readiness the kernel reported
//! for it (the "event" half of the loop contract).
//!
//! Owns the read/write-until-blocked calls and the readiness bookkeeping (set on event, cleared
//! on WouldBlock), and nothing about HTTP. A short read on a socket that did not report a hang-up
//! counts as drained: with edge-triggered epoll, data arriving afterwards raises a new event, so
//! the steady state is one `read` per direction per request instead of two.

use std::io::{self, Read};

use common::buffer::Buffer;
use common::transport::{self, ReadOutcome, Transport, WriteOutcome};
use mio::event::Event;
use mio::net::TcpStream;

use crate::tls::TlsStream;

const READ_CHUNK: usize = 16 * 1024;

pub enum Io {
    Plain(TcpStream),
    Tls(Box<TlsStream>),
}

/// A socket with its readiness flags.
pub struct Stream {
    pub io: Io,
    pub readable: bool,
    pub writable: bool,
    /// The kernel reported a hang-up or error: read until EOF, trust no short read.
    pub hup: bool,
}

impl Stream {
    pub fn new(io: Io) -> Stream {
        Stream {
            io,
            readable: false,
            writable: false,
            hup: false,
        }
    }

    /// Records what an event reported.
    pub fn on_event(&mut self, event: &Event) {
        if event.is_readable() || event.is_read_closed() || event.is_error() {
            self.readable = true;
        }
        if event.is_writable() || event.is_write_closed() || event.is_error() {
            self.writable = true;
        }
        if event.is_read_closed() || event.is_error() {
            self.hup = true;
        }
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
        let trust_short = !self.hup;
        let outcome = match &mut self.io {
            Io::Plain(s) => read_plain(s, buf, trust_short),
            Io::Tls(t) => t.read(buf, trust_short),
        };
        match outcome {
            Ok(ReadOutcome::WouldBlock) | Ok(ReadOutcome::Eof) | Err(_) => self.readable = false,
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
            Ok(WriteOutcome::WouldBlock) if socket_full => self.writable = false,
            Err(_) => self.writable = false,
            _ => {}
        }
        outcome
    }

    /// Whether there is something to write and the socket can take it.
    pub fn wants_write(&self, buf: &Buffer) -> bool {
        self.writable && (!buf.is_empty() || self.has_pending_output())
    }

    pub fn close_write(&mut self) {
        match &mut self.io {
            Io::Plain(s) => s.close_write(),
            Io::Tls(t) => t.close_write(),
        }
    }
}

fn read_plain(
    sock: &mut TcpStream,
    buf: &mut Buffer,
    trust_short: bool,
) -> io::Result<ReadOutcome> {
    loop {
        if buf.is_full() {
            return Ok(ReadOutcome::BufferFull);
        }
        let spare = buf.spare(READ_CHUNK);
        let len = spare.len();
        match sock.read(spare) {
            Ok(0) => {
                buf.commit(len, 0);
                return Ok(ReadOutcome::Eof);
            }
            Ok(n) => {
                buf.commit(len, n);
                if n < len && trust_short {
                    return Ok(ReadOutcome::WouldBlock);
                }
            }
            Err(e) => {
                buf.commit(len, 0);
                match e.kind() {
                    io::ErrorKind::WouldBlock => return Ok(ReadOutcome::WouldBlock),
                    io::ErrorKind::Interrupted => continue,
                    _ => return Err(e),
                }
            }
        }
    }
}
