//! The proxy's sockets: plain TCP or TLS behind one [`Transport`] ([`Io`]), and [`Stream`], the
//! shared `common::conn::Endpoint` (readiness, input end, last write) over it.
//!
//! Owns nothing about HTTP; dispatches each transport call to the variant in use.

use std::io;

use common::buffer::Buffer;
use common::conn::Endpoint;
use common::transport::{ReadOutcome, Transport, WriteOutcome};
use mio::net::TcpStream;

use crate::tls::TlsStream;

/// A plain or TLS socket.
pub enum Io {
    Plain(TcpStream),
    Tls(Box<TlsStream>),
}

/// A registered proxy socket.
pub type Stream = Endpoint<Io>;

impl Transport for Io {
    fn read_into(&mut self, buf: &mut Buffer, short_read_drains: bool) -> io::Result<ReadOutcome> {
        match self {
            Io::Plain(s) => s.read_into(buf, short_read_drains),
            Io::Tls(t) => t.read_into(buf, short_read_drains),
        }
    }

    fn write_from(&mut self, buf: &mut Buffer) -> io::Result<WriteOutcome> {
        match self {
            Io::Plain(s) => s.write_from(buf),
            Io::Tls(t) => t.write_from(buf),
        }
    }

    fn has_pending_output(&self) -> bool {
        match self {
            Io::Plain(_) => false,
            Io::Tls(t) => t.has_pending_output(),
        }
    }

    fn write_blocked(&self) -> bool {
        match self {
            Io::Plain(_) => true,
            Io::Tls(t) => t.write_blocked(),
        }
    }

    fn clean_eof(&self) -> bool {
        match self {
            Io::Plain(_) => true,
            Io::Tls(t) => t.clean_eof(),
        }
    }

    fn is_handshaking(&self) -> bool {
        match self {
            Io::Plain(_) => false,
            Io::Tls(t) => t.is_handshaking(),
        }
    }

    fn close_write(&mut self) {
        match self {
            Io::Plain(s) => s.close_write(),
            Io::Tls(t) => t.close_write(),
        }
    }

    fn socket(&mut self) -> &mut TcpStream {
        match self {
            Io::Plain(s) => s,
            Io::Tls(t) => t.socket(),
        }
    }
}

/// What an idle connection has to say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Idle {
    /// Nothing: reading from it would block. Fit to carry a request.
    Quiet,
    /// Bytes nobody asked for: the upstream and the proxy disagree on where a response ended.
    Bytes,
    /// EOF or an error: the upstream closed it.
    Closed,
}

/// Probes an idle connection without consuming anything it sent (plain) or with rustls
/// consuming only TLS records such as session tickets. Costs one non-blocking syscall.
pub fn probe(io: &mut Io) -> Idle {
    match io {
        Io::Plain(sock) => {
            let mut byte = [0u8; 1];
            match sock.peek(&mut byte) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => Idle::Quiet,
                Ok(n) if n > 0 => Idle::Bytes,
                _ => Idle::Closed,
            }
        }
        Io::Tls(tls) => {
            let mut scratch = Buffer::new(64);
            match tls.read(&mut scratch, false) {
                Ok(ReadOutcome::WouldBlock) if scratch.is_empty() => Idle::Quiet,
                Ok(_) if !scratch.is_empty() => Idle::Bytes,
                _ => Idle::Closed,
            }
        }
    }
}

/// Whether an idle connection is still fit to carry a request (see [`probe`]).
pub fn is_quiet(io: &mut Io) -> bool {
    probe(io) == Idle::Quiet
}
