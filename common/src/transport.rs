//! One trait for "move bytes between a socket and a buffer until the kernel says WouldBlock".
//!
//! Connection state machines speak to a [`Transport`] and never to a raw socket, so the same
//! session code runs over plain TCP (this file) and over TLS (the proxy's rustls transport).
//! Transports read and write until `WouldBlock`, EOF or a full/empty buffer, as edge-triggered
//! readiness requires, and report which of those stopped them.

use std::io::{self, Read, Write};

use mio::event::Event;
use mio::net::TcpStream;

use crate::buffer::Buffer;

/// How much is read from a socket per `read` call.
pub const READ_CHUNK: usize = 16 * 1024;

/// Why a read stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadOutcome {
    /// The socket is drained; wait for the next readable event.
    WouldBlock,
    /// The buffer is full; the socket may still hold data (no new event will come for it).
    BufferFull,
    /// The peer will send nothing more.
    Eof,
}

/// Why a write stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteOutcome {
    /// Everything queued reached the kernel.
    Flushed,
    /// The socket buffer is full; wait for the next writable event.
    WouldBlock,
}

/// What the kernel last reported for one socket: the "event" half of the loop contract. Set by
/// [`Readiness::record`], cleared by the connection when an operation returns `WouldBlock`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Readiness {
    pub readable: bool,
    pub writable: bool,
    /// The peer hung up or the socket failed: read until EOF, trust no short read.
    pub hup: bool,
}

impl Readiness {
    /// Records what an event reported. Hang-ups and errors count as readable and writable, so
    /// the next read or write surfaces them.
    pub fn record(&mut self, event: &Event) {
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

    /// Whether a short read may be taken as "drained" (see [`read_until_blocked`]).
    pub fn short_read_drains(&self) -> bool {
        !self.hup
    }
}

pub trait Transport {
    /// Reads into `buf` until WouldBlock, EOF or `buf` is full. With `short_read_drains`, a read
    /// that returns less than asked counts as WouldBlock (see [`read_until_blocked`]).
    fn read_into(&mut self, buf: &mut Buffer, short_read_drains: bool) -> io::Result<ReadOutcome>;

    /// Writes `buf` out (consuming what was written) until it is empty or the socket is full.
    /// Also flushes anything the transport holds itself (TLS records).
    fn write_from(&mut self, buf: &mut Buffer) -> io::Result<WriteOutcome>;

    /// Whether the transport holds bytes of its own still to be sent (TLS records, alerts).
    fn has_pending_output(&self) -> bool {
        false
    }

    /// Bytes already decrypted and waiting in the transport (TLS plaintext) that a read would
    /// return without the socket becoming readable again. Plain TCP has none.
    fn has_buffered_input(&self) -> bool {
        false
    }

    /// Whether the last [`Transport::write_from`] that returned `WouldBlock` stopped on a full
    /// socket (a writable event will come), rather than on the transport itself (rustls holding
    /// all the plaintext it may before its handshake completes).
    fn write_blocked(&self) -> bool {
        true
    }

    /// Whether the end of input seen was an orderly one. TLS: close_notify came before the FIN;
    /// without it an attacker (or a crash) may have cut the stream. Plain TCP cannot tell.
    fn clean_eof(&self) -> bool {
        true
    }

    /// Whether a TLS handshake is still in progress.
    fn is_handshaking(&self) -> bool {
        false
    }

    /// Starts an orderly close of our sending side (TLS close_notify, then FIN).
    fn close_write(&mut self);

    /// The socket, to register it with the poller or query it.
    fn socket(&mut self) -> &mut TcpStream;
}

impl Transport for TcpStream {
    fn read_into(&mut self, buf: &mut Buffer, short_read_drains: bool) -> io::Result<ReadOutcome> {
        read_until_blocked(self, buf, short_read_drains)
    }

    fn write_from(&mut self, buf: &mut Buffer) -> io::Result<WriteOutcome> {
        write_until_blocked(self, buf)
    }

    fn close_write(&mut self) {
        // The peer may already be gone; there is nothing useful to do about an error here.
        let _ = self.shutdown(std::net::Shutdown::Write);
    }

    fn socket(&mut self) -> &mut TcpStream {
        self
    }
}

/// Reads from any non-blocking reader into `buf` until WouldBlock, EOF or full.
///
/// `short_read_drains`: a read that returns less than the space offered means the socket was
/// empty at that instant, and with edge-triggered epoll any later arrival raises a new event, so
/// the extra `read` that would only return EAGAIN is skipped (one syscall per request saved,
/// as nginx and tokio do). Pass false when the event reported a hang-up: a FIN queued behind the
/// data raises no further event, so the socket must be read until EOF.
pub fn read_until_blocked(
    reader: &mut impl Read,
    buf: &mut Buffer,
    short_read_drains: bool,
) -> io::Result<ReadOutcome> {
    loop {
        if buf.is_full() {
            return Ok(ReadOutcome::BufferFull);
        }
        let spare = buf.spare(READ_CHUNK);
        let len = spare.len();
        match reader.read(spare) {
            Ok(0) => {
                buf.commit(len, 0);
                return Ok(ReadOutcome::Eof);
            }
            Ok(n) => {
                buf.commit(len, n);
                if n < len && short_read_drains {
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

/// Writes `buf` to any non-blocking writer until it is empty or WouldBlock.
pub fn write_until_blocked(writer: &mut impl Write, buf: &mut Buffer) -> io::Result<WriteOutcome> {
    while !buf.is_empty() {
        match writer.write(buf.filled()) {
            Ok(0) => return Err(io::Error::from(io::ErrorKind::WriteZero)),
            Ok(n) => buf.consume(n),
            Err(e) => match e.kind() {
                io::ErrorKind::WouldBlock => return Ok(WriteOutcome::WouldBlock),
                io::ErrorKind::Interrupted => continue,
                _ => return Err(e),
            },
        }
    }
    Ok(WriteOutcome::Flushed)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that yields its chunks, then WouldBlock.
    struct Chunks(Vec<&'static [u8]>);

    impl Read for Chunks {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            if self.0.is_empty() {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let chunk = self.0.remove(0);
            if chunk == b"EOF" {
                return Ok(0);
            }
            let n = chunk.len().min(out.len());
            out[..n].copy_from_slice(&chunk[..n]);
            Ok(n)
        }
    }

    #[test]
    fn reads_until_would_block() {
        let mut buf = Buffer::new(64);
        let outcome = read_until_blocked(&mut Chunks(vec![b"ab", b"cd"]), &mut buf, false).unwrap();
        assert_eq!(outcome, ReadOutcome::WouldBlock);
        assert_eq!(buf.filled(), b"abcd");
    }

    #[test]
    fn reads_stop_at_eof_and_full() {
        let mut buf = Buffer::new(64);
        let outcome =
            read_until_blocked(&mut Chunks(vec![b"ab", b"EOF"]), &mut buf, false).unwrap();
        assert_eq!(outcome, ReadOutcome::Eof);
        let mut small = Buffer::new(3);
        let outcome = read_until_blocked(&mut Chunks(vec![b"abcd"]), &mut small, false).unwrap();
        assert_eq!(outcome, ReadOutcome::BufferFull);
        assert_eq!(small.filled(), b"abc");
    }

    #[test]
    fn short_read_counts_as_drained_only_when_trusted() {
        let mut buf = Buffer::new(64);
        let mut reader = Chunks(vec![b"ab", b"cd"]);
        assert_eq!(
            read_until_blocked(&mut reader, &mut buf, true).unwrap(),
            ReadOutcome::WouldBlock
        );
        assert_eq!(buf.filled(), b"ab");
        assert_eq!(
            read_until_blocked(&mut reader, &mut buf, false).unwrap(),
            ReadOutcome::WouldBlock
        );
        assert_eq!(buf.filled(), b"abcd");
    }

    /// A writer that accepts `room` bytes, then WouldBlock.
    struct Limited {
        room: usize,
        got: Vec<u8>,
    }

    impl Write for Limited {
        fn write(&mut self, data: &[u8]) -> io::Result<usize> {
            if self.room == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let n = data.len().min(self.room).min(2);
            self.room -= n;
            self.got.extend_from_slice(&data[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn partial_writes_keep_the_rest_queued() {
        let mut buf = Buffer::new(64);
        buf.push(b"hello");
        let mut w = Limited {
            room: 3,
            got: Vec::new(),
        };
        assert_eq!(
            write_until_blocked(&mut w, &mut buf).unwrap(),
            WriteOutcome::WouldBlock
        );
        assert_eq!(w.got, b"hel");
        assert_eq!(buf.filled(), b"lo");
        w.room = 10;
        assert_eq!(
            write_until_blocked(&mut w, &mut buf).unwrap(),
            WriteOutcome::Flushed
        );
        assert_eq!(w.got, b"hello");
    }
}
