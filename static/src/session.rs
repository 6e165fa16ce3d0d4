//! One client connection of the static server and the [`Service`] that drives it.
//!
//! States: `Open` (reading heads, answering them in order, pipelining included), `Closing`
//! (a response that ends the connection is being flushed), `Lingering` (our side is shut; the
//! client's leftover bytes are read and dropped briefly so the kernel does not answer them with
//! a reset that would destroy the response in flight). Readiness follows the loop contract in
//! `common::event_loop`: flags set by events, cleared on WouldBlock; the connection itself
//! decides what it wants (read while there is room and nothing blocks, write while queued).
//!
//! Fairness: one readiness event buys a connection at most [`DRIVE_ROUNDS`] rounds of work. A
//! client that keeps both directions busy (pipelining at full speed while reading, or
//! streaming garbage after an error) would otherwise hold its worker for as long as it likes.
//! A connection out of budget re-arms its socket (same interest, so the registration itself
//! does not change) and the kernel reports whatever is still ready on the next poll.

use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::time::{Duration, Instant};

use common::buffer::Buffer;
use common::event_loop::{Cx, Flow, Service, Side};
use common::http::request::{self, Framing, Limits};
use common::http::response::Canned;
use common::log::Entry;
use common::sys;
use common::transport::{ReadOutcome, Readiness, Transport, WriteOutcome};
use mio::event::Event;
use mio::net::TcpStream;
use mio::Token;

use crate::files::Files;
use crate::resolve;
use crate::respond::{self, FileBody};

/// Stop answering pipelined requests while this much output is queued (backpressure).
const OUTPUT_HIGH_WATER: usize = 64 * 1024;
/// A request body up to this size is read and dropped to keep the connection; larger ones close it.
const MAX_DISCARDED_BODY: u64 = 64 * 1024;
/// How long to keep draining a client after our final response before closing.
const LINGER: Duration = Duration::from_secs(2);
/// How much to read per sendfile call.
const SENDFILE_CHUNK: usize = 1 << 20;
/// Rounds of flush, read and answer one readiness event may use (see the module docs).
const DRIVE_ROUNDS: usize = 16;

/// Settings shared by all connections of a worker.
pub struct Settings {
    pub resolve: resolve::Options,
    pub limits: Limits,
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
}

pub struct StaticService {
    files: Files,
    settings: Rc<Settings>,
}

impl StaticService {
    pub fn new(files: Files, settings: Rc<Settings>) -> Self {
        StaticService { files, settings }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Phase {
    Open,
    Closing,
    Lingering { until: Instant },
}

pub struct Conn {
    stream: TcpStream,
    token: Token,
    peer: IpAddr,
    input: Buffer,
    output: Buffer,
    sending: Option<FileBody>,
    ready: Readiness,
    read_closed: bool,
    phase: Phase,
    /// Request-body bytes still to be read and dropped.
    discard: u64,
    /// When the body being dropped began. All of it must arrive within the header timeout
    /// from here: an inactivity timeout alone would let a client that sends a byte every few
    /// seconds (slow-body attacks) hold the connection for as long as its body lasts.
    discard_since: Instant,
    last_activity: Instant,
    /// When queued bytes last reached the kernel: the send timeout counts from here, so a
    /// client that never reads cannot keep the connection by trickling bytes at us.
    last_write: Instant,
    /// When the first byte of the request head now being received arrived.
    head_started: Option<Instant>,
    /// No byte has arrived yet: the wait for the first request is bounded by the header
    /// timeout, not the (longer) keep-alive idle timeout.
    fresh: bool,
}

impl Service for StaticService {
    type Conn = Conn;

    fn accept(
        &mut self,
        cx: &mut Cx,
        mut stream: TcpStream,
        peer: SocketAddr,
        _listener: usize,
    ) -> Option<Conn> {
        let _ = stream.set_nodelay(true);
        let token = cx.register_client(&mut stream).ok()?;
        Some(Conn {
            stream,
            token,
            peer: peer.ip(),
            input: Buffer::new(self.settings.limits.max_head + 1024),
            output: Buffer::new(OUTPUT_HIGH_WATER),
            sending: None,
            ready: Readiness::default(),
            read_closed: false,
            phase: Phase::Open,
            discard: 0,
            discard_since: cx.now,
            last_activity: cx.now,
            last_write: cx.now,
            head_started: None,
            fresh: true,
        })
    }

    fn ready(&mut self, cx: &mut Cx, conn: &mut Conn, _side: Side, event: &Event) -> Flow {
        conn.ready.record(event);
        self.drive(cx, conn)
    }

    fn tick(&mut self, cx: &mut Cx, conn: &mut Conn) -> Flow {
        let s = &self.settings;
        let idle_for = cx.now.saturating_duration_since(conn.last_activity);
        let stalled_for = cx.now.saturating_duration_since(conn.last_write);
        match conn.phase {
            Phase::Lingering { until } => {
                return if cx.now >= until {
                    Flow::Close
                } else {
                    Flow::Continue
                };
            }
            Phase::Closing if stalled_for >= s.idle_timeout => return Flow::Close,
            Phase::Closing => return Flow::Continue,
            Phase::Open => {}
        }
        if conn.has_output() {
            // A client that stopped reading: the send timeout.
            return if stalled_for >= s.idle_timeout {
                Flow::Close
            } else {
                Flow::Continue
            };
        }
        if let Some(started) = conn.head_started {
            if cx.now.saturating_duration_since(started) >= s.header_timeout {
                let canned = Canned {
                    date: cx.date,
                    server: respond::SERVER,
                    keep_alive: false,
                    version: request::Version::Http11,
                    head_only: false,
                };
                let sent = respond::error(
                    &mut conn.output,
                    common::http::status::Status::REQUEST_TIMEOUT,
                    &canned,
                    &[],
                );
                // Logged like a malformed head: slow-header attacks must show in the log.
                log(
                    cx,
                    conn.peer,
                    "-",
                    b"-",
                    request::Version::Http11,
                    sent.status.code(),
                    sent.body_bytes,
                    None,
                    None,
                );
                conn.start_closing();
                return self.drive(cx, conn);
            }
            return Flow::Continue;
        }
        if conn.discard > 0 {
            let discarding_for = cx.now.saturating_duration_since(conn.discard_since);
            return if discarding_for >= s.header_timeout {
                Flow::Close
            } else {
                Flow::Continue
            };
        }
        // Nothing in flight. A connection that never sent a byte gets the header timeout, as
        // nginx's client_header_timeout runs from accept: otherwise silent connections could
        // pin slots for the whole idle timeout. Between requests the idle timeout applies.
        let limit = if conn.fresh {
            s.header_timeout
        } else {
            s.idle_timeout
        };
        if cx.draining {
            return self.drain_idle(cx, conn);
        }
        if idle_for >= limit {
            return Flow::Close;
        }
        // Give memory back only here, not after every response: freeing and reallocating
        // buffers per request costs more than the request itself with musl's allocator, while
        // an idle connection should cost next to nothing.
        conn.input.release_if_empty();
        conn.output.release_if_empty();
        Flow::Continue
    }

    fn close(&mut self, cx: &mut Cx, mut conn: Conn) {
        cx.deregister(&mut conn.stream);
    }
}

impl Conn {
    fn has_output(&self) -> bool {
        !self.output.is_empty() || self.sending.is_some()
    }

    fn start_closing(&mut self) {
        self.phase = Phase::Closing;
        self.input.clear();
        self.head_started = None;
        self.discard = 0;
    }

    /// Writes queued bytes, then the file body, until done or the socket is full.
    fn flush(&mut self) -> std::io::Result<bool> {
        let mut progressed = false;
        if !self.output.is_empty() {
            let before = self.output.len();
            let outcome = self.stream.write_from(&mut self.output)?;
            progressed |= self.output.len() != before;
            if outcome == WriteOutcome::WouldBlock {
                self.ready.writable = false;
                return Ok(progressed);
            }
        }
        while let Some(body) = self.sending.as_mut() {
            if body.offset >= body.end {
                self.sending = None;
                break;
            }
            let want = (body.end - body.offset).min(SENDFILE_CHUNK as u64) as usize;
            match sys::sendfile(&self.stream, &body.file, &mut body.offset, want) {
                Ok(0) => {
                    // The file shrank under us: the promised length cannot be met, so the
                    // connection must end rather than look complete.
                    return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof));
                }
                Ok(_) => progressed = true,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    self.ready.writable = false;
                    break;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(progressed)
    }
}

impl StaticService {
    /// Shutdown began while `conn` looked idle. A request may still wait unread in its socket
    /// (it arrived after the last event was handled, or the connection was just taken from the
    /// listen backlog): read once and answer it, with `Connection: close`, before closing. A
    /// request the client finished writing before the signal is never dropped this way.
    fn drain_idle(&mut self, cx: &mut Cx, conn: &mut Conn) -> Flow {
        conn.ready.readable = true;
        if self.drive(cx, conn) == Flow::Close {
            return Flow::Close;
        }
        let idle = conn.phase == Phase::Open
            && !conn.has_output()
            && conn.input.is_empty()
            && conn.discard == 0;
        if idle {
            Flow::Close
        } else {
            Flow::Continue
        }
    }

    /// Makes the progress possible without blocking, within the fairness budget, then waits
    /// for the next event.
    fn drive(&mut self, cx: &mut Cx, conn: &mut Conn) -> Flow {
        for _ in 0..DRIVE_ROUNDS {
            let mut progressed = false;
            if conn.ready.writable && conn.has_output() {
                match conn.flush() {
                    Ok(p) => progressed |= p,
                    Err(_) => return Flow::Close,
                }
                if progressed {
                    conn.last_activity = cx.now;
                    conn.last_write = cx.now;
                }
            }
            if !conn.has_output() && conn.phase == Phase::Closing {
                conn.stream.close_write();
                conn.phase = Phase::Lingering {
                    until: cx.now + LINGER,
                };
            }
            if conn.ready.readable && !conn.read_closed && !conn.input.is_full() {
                let before = conn.input.len();
                match conn
                    .stream
                    .read_into(&mut conn.input, conn.ready.short_read_drains())
                {
                    Ok(ReadOutcome::WouldBlock) => conn.ready.readable = false,
                    Ok(ReadOutcome::BufferFull) => {}
                    Ok(ReadOutcome::Eof) => conn.read_closed = true,
                    Err(_) => return Flow::Close,
                }
                if conn.input.len() != before {
                    progressed = true;
                    conn.fresh = false;
                    conn.last_activity = cx.now;
                    if before == 0 && conn.discard == 0 && conn.head_started.is_none() {
                        conn.head_started = Some(cx.now);
                    }
                }
            }
            match conn.phase {
                Phase::Lingering { until } => {
                    conn.input.clear();
                    // The deadline is checked here too: a client that never stops sending
                    // would otherwise outlive it between ticks.
                    if conn.read_closed || cx.now >= until {
                        return Flow::Close;
                    }
                }
                Phase::Closing => conn.input.clear(),
                Phase::Open => progressed |= self.answer_requests(cx, conn),
            }
            if conn.phase == Phase::Open && conn.read_closed && !conn.has_output() {
                // The client is done sending and everything it asked for was delivered (a
                // partial head left behind can never complete).
                return Flow::Close;
            }
            if !progressed {
                return Flow::Continue;
            }
        }
        // Out of budget while still progressing: yield to the other connections. With
        // edge-triggered readiness no new edge may come for what is already ready, but
        // re-arming (EPOLL_CTL_MOD) queues an event when the socket is ready now.
        match cx.rearm(&mut conn.stream, conn.token) {
            Ok(()) => Flow::Continue,
            Err(_) => Flow::Close,
        }
    }

    /// Answers complete requests in the input buffer, in order, while output has room and no
    /// file body is pending (responses must not overtake each other). Returns whether any
    /// input was consumed.
    fn answer_requests(&mut self, cx: &mut Cx, conn: &mut Conn) -> bool {
        let mut progressed = false;
        while conn.phase == Phase::Open
            && conn.sending.is_none()
            && conn.output.len() < OUTPUT_HIGH_WATER
        {
            if conn.discard > 0 {
                let n = conn.discard.min(conn.input.len() as u64);
                conn.input.consume(n as usize);
                conn.discard -= n;
                progressed |= n > 0;
                if conn.discard > 0 {
                    break;
                }
                conn.head_started = (!conn.input.is_empty()).then_some(cx.now);
            }
            if conn.input.is_empty() {
                break;
            }
            let settings = &self.settings;
            let mut storage = request::header_storage();
            let parsed = request::parse(conn.input.filled(), &mut storage, &settings.limits);
            let head = match parsed {
                Ok(Some(head)) => head,
                Ok(None) => break,
                Err(e) => {
                    let canned = Canned {
                        date: cx.date,
                        server: respond::SERVER,
                        keep_alive: false,
                        version: request::Version::Http11,
                        head_only: false,
                    };
                    let sent = respond::error(&mut conn.output, e.status(), &canned, &[]);
                    log(
                        cx,
                        conn.peer,
                        "-",
                        b"-",
                        request::Version::Http11,
                        sent.status.code(),
                        sent.body_bytes,
                        None,
                        None,
                    );
                    conn.start_closing();
                    return true;
                }
            };
            let mut keep_alive =
                respond::may_keep_alive(head.keep_alive, head.version, cx.draining);
            let mut discard = 0;
            match head.framing {
                Framing::None => {}
                Framing::Length(n) if n <= MAX_DISCARDED_BODY && !head.expect_continue => {
                    discard = n
                }
                // A body we will not read: answer, then close instead of parsing it as requests.
                Framing::Length(_) | Framing::Chunked => keep_alive = false,
            }
            let sent = respond::respond(
                &mut self.files,
                &settings.resolve,
                &head,
                cx.date,
                keep_alive,
                &mut conn.output,
            );
            if cx.log.is_enabled() {
                log(
                    cx,
                    conn.peer,
                    head.method,
                    head.target,
                    head.version,
                    sent.status.code(),
                    sent.body_bytes,
                    head.header("referer"),
                    head.header("user-agent"),
                );
            }
            let head_len = head.head_len;
            conn.input.consume(head_len);
            conn.sending = sent.file;
            conn.discard = discard;
            conn.discard_since = cx.now;
            conn.head_started = (!conn.input.is_empty() && discard == 0).then_some(cx.now);
            progressed = true;
            if !keep_alive {
                conn.start_closing();
            }
        }
        progressed
    }
}

#[allow(clippy::too_many_arguments)]
fn log(
    cx: &mut Cx,
    peer: IpAddr,
    method: &str,
    target: &[u8],
    version: request::Version,
    status: u16,
    body_bytes: u64,
    referer: Option<&[u8]>,
    user_agent: Option<&[u8]>,
) {
    let date = *cx.date;
    cx.log.record(
        &date,
        &Entry {
            peer,
            method,
            target,
            version,
            status,
            body_bytes,
            referer,
            user_agent,
            upstream: None,
        },
    );
}
