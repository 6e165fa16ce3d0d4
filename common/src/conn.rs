//! What every connection of both servers does the same way, written once:
//!
//! - [`Endpoint`]: one registered socket (plain or TLS, through [`Transport`]) with the
//!   readiness the kernel reported for it (the "event" half of the loop contract), how its
//!   input ended, and when bytes last moved. Reads and writes only when the state says so and
//!   clear readiness on `WouldBlock`, so a caller never spins and never misses an edge.
//! - [`Closing`]: the end of a connection: flush what is queued (bounded by the send timeout),
//!   shut our side, then linger briefly reading and dropping what the peer still sends, so the
//!   kernel does not answer it with a reset that destroys the response in flight.
//! - [`HeadClock`]: the header timeout (from the first byte of a head, or from accept for a
//!   connection that never sent anything) and the keep-alive idle timeout.
//! - [`drive`]: the fairness budget: a bounded number of rounds of work per event, then the
//!   sockets are re-armed so other connections get their turn.
//!
//! Nothing here knows HTTP.

use std::io;
use std::time::{Duration, Instant};

use mio::event::Event;
use mio::net::TcpStream;
use mio::Token;

use crate::buffer::Buffer;
use crate::event_loop::Cx;
use crate::transport::{ReadOutcome, Readiness, Transport, WriteOutcome};

/// How a socket's input ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputEnd {
    /// Still open.
    Open,
    /// The peer finished sending (FIN, or TLS close_notify then FIN).
    Clean,
    /// A reset, a read error, or a TLS connection closed without close_notify: whatever was
    /// being received was cut, never complete.
    Cut,
}

/// One registered socket and what is known about it.
pub struct Endpoint<T> {
    pub io: T,
    pub ready: Readiness,
    pub token: Token,
    pub input: InputEnd,
    /// When bytes last reached the kernel: the send timeout counts from here, so a peer that
    /// never reads cannot keep a connection by trickling bytes at us.
    pub last_write: Instant,
}

impl<T: Transport> Endpoint<T> {
    pub fn new(io: T, token: Token, now: Instant) -> Self {
        Endpoint {
            io,
            ready: Readiness::default(),
            token,
            input: InputEnd::Open,
            last_write: now,
        }
    }

    /// Records what an event reported, if it is meant for this socket. An event carrying
    /// another token is stale: it was reported for a socket this connection had before, in
    /// the same batch (see the event loop's token contract), and must not be taken for news
    /// about this one (a hang-up of the old socket would fail the new one's connect).
    pub fn record(&mut self, event: &Event) {
        if event.token() == self.token {
            self.ready.record(event);
        }
    }

    pub fn input_ended(&self) -> bool {
        self.input != InputEnd::Open
    }

    /// Reads into `buf` while the socket is readable, open and `buf` has room. Returns whether
    /// anything happened: bytes read, the input ending, or TLS records now waiting to be sent.
    /// A read error ends the input as [`InputEnd::Cut`] and is returned.
    pub fn read(&mut self, buf: &mut Buffer) -> io::Result<bool> {
        if !self.ready.readable || self.input_ended() || buf.is_full() {
            return Ok(false);
        }
        let before = buf.len();
        let pending_before = self.io.has_pending_output();
        match self.io.read_into(buf, self.ready.short_read_drains()) {
            Ok(ReadOutcome::BufferFull) => {}
            Ok(ReadOutcome::WouldBlock) => self.ready.readable = false,
            Ok(ReadOutcome::Eof) => {
                self.ready.readable = false;
                self.input = if self.io.clean_eof() {
                    InputEnd::Clean
                } else {
                    InputEnd::Cut
                };
                return Ok(true);
            }
            Err(e) => {
                self.ready.readable = false;
                self.input = InputEnd::Cut;
                return Err(e);
            }
        }
        Ok(buf.len() > before || (!pending_before && self.io.has_pending_output()))
    }

    /// Whether there is something to write and the socket can take it.
    pub fn wants_write(&self, buf: &Buffer) -> bool {
        self.ready.writable && (!buf.is_empty() || self.io.has_pending_output())
    }

    /// Writes `buf` (and the transport's own records) while the socket takes them. Returns
    /// whether anything moved.
    pub fn write(&mut self, buf: &mut Buffer, now: Instant) -> io::Result<bool> {
        if !self.wants_write(buf) {
            return Ok(false);
        }
        let before = (buf.len(), self.io.has_pending_output());
        match self.io.write_from(buf) {
            Ok(WriteOutcome::WouldBlock) if self.io.write_blocked() => self.ready.writable = false,
            Ok(_) => {}
            Err(e) => {
                self.ready.writable = false;
                return Err(e);
            }
        }
        let moved = before != (buf.len(), self.io.has_pending_output());
        if moved {
            self.last_write = now;
        }
        Ok(moved)
    }

    /// Whether output is queued (in `buf` or in the transport) and has not moved for `limit`.
    pub fn send_stalled(&self, buf: &Buffer, now: Instant, limit: Duration) -> bool {
        (!buf.is_empty() || self.io.has_pending_output())
            && now.saturating_duration_since(self.last_write) >= limit
    }

    /// Re-arms the socket to yield (see [`Cx::rearm`]).
    pub fn rearm(&mut self, cx: &Cx) -> io::Result<()> {
        cx.rearm(self.io.socket(), self.token)
    }

    pub fn deregister(&mut self, cx: &Cx) {
        cx.deregister(self.io.socket());
    }

    /// Makes the coming close a reset (no FIN, no TLS close_notify): the peer must not take
    /// the end of the connection for the end of a message.
    pub fn abort(&mut self) {
        // Should it fail, the close is orderly; nothing better can be done.
        let _ = crate::sys::reset_on_close(self.io.socket());
    }

    pub fn socket(&mut self) -> &mut TcpStream {
        self.io.socket()
    }
}

/// How long a closing connection keeps reading and dropping after our side was shut.
pub const LINGER: Duration = Duration::from_secs(2);

/// The most a closing connection reads and drops: enough for the leftovers of a request
/// in flight; past it, reading stops (a peer that keeps sending after an error, a flood cut
/// off by a GOAWAY, gets no more of our CPU) and the deadlines end the connection.
pub const MAX_DROPPED: usize = 256 * 1024;

/// The end of a connection (see the module doc). `dropped` counts the input read and
/// dropped so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Closing {
    /// The last bytes are being written; the send timeout applies.
    Flushing { dropped: usize },
    /// Our side is shut; the peer's leftovers are dropped until it closes or the deadline.
    Lingering { until: Instant, dropped: usize },
}

/// What [`Closing::step`] decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wind {
    /// Keep going; `true` when something happened.
    Continue(bool),
    /// Done: close the connection now.
    Done,
}

impl Closing {
    /// The start of a close: flushing, nothing dropped yet.
    pub fn flushing() -> Closing {
        Closing::Flushing { dropped: 0 }
    }

    /// One round of closing: flush, then shut and linger, dropping input all along (up to
    /// [`MAX_DROPPED`]).
    pub fn step<T: Transport>(
        &mut self,
        ep: &mut Endpoint<T>,
        output: &mut Buffer,
        input: &mut Buffer,
        now: Instant,
    ) -> Wind {
        let mut progress = match ep.write(output, now) {
            Ok(moved) => moved,
            Err(_) => return Wind::Done,
        };
        let (Closing::Flushing { dropped } | Closing::Lingering { dropped, .. }) = self;
        if *dropped < MAX_DROPPED {
            if ep.read(input).is_err() {
                return Wind::Done;
            }
            *dropped += input.len();
            progress |= !input.is_empty();
            input.clear();
        }
        match *self {
            Closing::Flushing { dropped } if output.is_empty() && !ep.io.has_pending_output() => {
                ep.io.close_write();
                *self = Closing::Lingering {
                    until: now + LINGER,
                    dropped,
                };
                progress = true;
            }
            Closing::Lingering { until, .. } if now >= until => return Wind::Done,
            _ => {}
        }
        // Lingering (just now, or before) and the peer has closed: nothing more to wait for.
        if ep.input_ended() && matches!(self, Closing::Lingering { .. }) {
            return Wind::Done;
        }
        Wind::Continue(progress)
    }

    /// The periodic check: a flush that stalls for `send_timeout` or a linger past its deadline
    /// ends the connection; so does shutdown once our side is shut.
    pub fn expired<T: Transport>(
        &self,
        ep: &Endpoint<T>,
        output: &Buffer,
        now: Instant,
        send_timeout: Duration,
        draining: bool,
    ) -> bool {
        match *self {
            Closing::Flushing { .. } => ep.send_stalled(output, now, send_timeout),
            Closing::Lingering { until, .. } => draining || now >= until,
        }
    }
}

/// Which timeout a connection waiting for a request ran into.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Waited {
    /// A head started and did not complete in time: answer 408 and close.
    HeaderTimeout,
    /// Nothing was started: close quietly.
    Idle,
}

/// The timeouts of a connection between requests (see the module doc).
#[derive(Clone, Copy, Debug)]
pub struct HeadClock {
    /// No byte has arrived yet: the wait for the first request is bounded by the header
    /// timeout, as nginx's client_header_timeout runs from accept. Otherwise connections that
    /// never send anything pin a slot for the whole idle timeout.
    fresh: bool,
    /// When the first byte of the head now being received arrived.
    head_since: Option<Instant>,
    /// When the connection last did anything.
    active: Instant,
}

impl HeadClock {
    pub fn new(now: Instant) -> Self {
        HeadClock {
            fresh: true,
            head_since: None,
            active: now,
        }
    }

    /// Bytes arrived; `was_empty`: the input buffer held nothing before them (a new head starts).
    pub fn arrived(&mut self, now: Instant, was_empty: bool) {
        self.fresh = false;
        self.active = now;
        if was_empty && self.head_since.is_none() {
            self.head_since = Some(now);
        }
    }

    /// The connection did something that is not a new head (bytes written, say).
    pub fn touch(&mut self, now: Instant) {
        self.active = now;
    }

    /// A request was taken from the input (or the connection went back to waiting for one):
    /// the header timeout of the next head runs from now if bytes of it are already buffered.
    pub fn next_request(&mut self, now: Instant, more_buffered: bool) {
        self.active = now;
        self.head_since = more_buffered.then_some(now);
    }

    /// Whether a head is being received.
    pub fn in_head(&self) -> bool {
        self.head_since.is_some()
    }

    /// The timeout reached at `now`, if any.
    pub fn expired(&self, now: Instant, header: Duration, idle: Duration) -> Option<Waited> {
        if let Some(since) = self.head_since {
            return (now.saturating_duration_since(since) >= header)
                .then_some(Waited::HeaderTimeout);
        }
        let limit = if self.fresh { header } else { idle };
        (now.saturating_duration_since(self.active) >= limit).then_some(Waited::Idle)
    }
}

/// Why a round of [`drive`] stopped the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stop;

/// How a [`drive`] ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Driven {
    /// Nothing more can happen until the next event.
    Idle,
    /// The connection must close.
    Stopped,
    /// The budget ran out while work remained: re-arm the sockets (see [`Endpoint::rearm`]).
    OutOfBudget,
}

/// What one round of work came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Round {
    /// Something happened: go on.
    Progress,
    /// Nothing more can happen until the next event.
    Idle,
    /// Work remains but this event's budget for it is spent (bytes sent, say): yield now.
    Yield,
}

impl From<bool> for Round {
    fn from(progress: bool) -> Round {
        if progress {
            Round::Progress
        } else {
            Round::Idle
        }
    }
}

/// Runs `round` until it reports no progress, asks to stop or to yield, or `rounds` are used up.
pub fn drive(rounds: usize, mut round: impl FnMut() -> Result<Round, Stop>) -> Driven {
    for _ in 0..rounds {
        match round() {
            Ok(Round::Progress) => {}
            Ok(Round::Idle) => return Driven::Idle,
            Ok(Round::Yield) => return Driven::OutOfBudget,
            Err(Stop) => return Driven::Stopped,
        }
    }
    Driven::OutOfBudget
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Finding 5 of the proxy-core review, provoked with real epoll events: the hang-up of an
    /// upstream socket, still in the batch after that socket was replaced, reaches the
    /// connection's new socket. It must not count.
    #[test]
    fn stale_events_do_not_reach_a_replacement_socket() {
        use mio::net::TcpListener;
        use mio::{Events, Interest, Poll, Token};
        use std::time::Duration;
        let mut poll = Poll::new().unwrap();
        let listener = TcpListener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();
        let both = Interest::READABLE | Interest::WRITABLE;
        let (old_token, new_token) = (Token(1 | 1 << 40), Token(1 | 2 << 40));
        let mut old = TcpStream::connect(addr).unwrap();
        poll.registry().register(&mut old, old_token, both).unwrap();
        let (peer, _) = loop {
            match listener.accept() {
                Ok(pair) => break pair,
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        };
        let mut events = Events::with_capacity(16);
        poll.poll(&mut events, Some(Duration::from_millis(200)))
            .unwrap();
        drop(peer); // the old upstream hangs up
        std::thread::sleep(Duration::from_millis(50));
        events.clear();
        poll.poll(&mut events, Some(Duration::from_secs(2)))
            .unwrap();
        let stale = events
            .iter()
            .find(|e| e.token() == old_token && e.is_read_closed())
            .expect("a hang-up event for the old socket");
        // The connection replaced the socket while handling an earlier event of the batch.
        poll.registry().deregister(&mut old).unwrap();
        let mut new = TcpStream::connect(addr).unwrap();
        poll.registry().register(&mut new, new_token, both).unwrap();
        let mut replacement = Endpoint::new(new, new_token, Instant::now());
        replacement.record(stale);
        assert_eq!(
            replacement.ready,
            Readiness::default(),
            "a stale event counted"
        );
        let mut original = Endpoint::new(old, old_token, Instant::now());
        original.record(stale);
        assert!(original.ready.hup, "an event for the socket itself counts");
        let _ = listener.accept();
    }

    #[test]
    fn head_clock_timeouts() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut c = HeadClock::new(t0);
        assert_eq!(c.expired(t0 + s(9), s(10), s(60)), None);
        assert_eq!(c.expired(t0 + s(10), s(10), s(60)), Some(Waited::Idle));
        c.arrived(t0 + s(1), true);
        assert!(c.in_head());
        assert_eq!(
            c.expired(t0 + s(11), s(10), s(60)),
            Some(Waited::HeaderTimeout)
        );
        c.next_request(t0 + s(2), false);
        assert_eq!(c.expired(t0 + s(30), s(10), s(60)), None, "idle, not fresh");
        assert_eq!(c.expired(t0 + s(62), s(10), s(60)), Some(Waited::Idle));
        c.next_request(t0 + s(2), true);
        assert_eq!(
            c.expired(t0 + s(12), s(10), s(60)),
            Some(Waited::HeaderTimeout)
        );
    }

    #[test]
    fn drive_budget() {
        let mut n = 0;
        assert_eq!(
            drive(4, || {
                n += 1;
                Ok((n < 3).into())
            }),
            Driven::Idle
        );
        assert_eq!(drive(4, || Ok(Round::Progress)), Driven::OutOfBudget);
        let mut rounds = 0;
        assert_eq!(
            drive(4, || {
                rounds += 1;
                Ok(Round::Yield)
            }),
            Driven::OutOfBudget
        );
        assert_eq!(rounds, 1, "a yield ends the drive at once");
        assert_eq!(drive(4, || Err(Stop)), Driven::Stopped);
    }
}
