//! One client connection of the static server and the [`Service`] that drives it.
//!
//! States: `Open` (reading heads, answering them in order, pipelining included) and `Closing`
//! (the shared `common::conn::Closing`: flush the response that ends the connection, shut our
//! side, linger briefly dropping the client's leftovers). Readiness, the header and idle
//! timeouts and the fairness budget are the shared ones of `common::conn`.
//!
//! Fairness: one readiness event buys a connection at most [`DRIVE_ROUNDS`] rounds of work and
//! [`SENDFILE_PER_EVENT`] bytes of file body (nginx's `sendfile_max_chunk` idea): a client that
//! keeps both directions busy, or downloads a large file over a fast link, would otherwise hold
//! its worker for as long as it likes. A connection out of budget re-arms its socket and the
//! kernel reports whatever is still ready on the next poll.

use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::time::{Duration, Instant};

use common::buffer::Buffer;
use common::conn::{self, Closing, Driven, Endpoint, HeadClock, Round, Stop, Waited, Wind};
use common::event_loop::{Cx, Flow, Service, Side};
use common::http::request::{self, Framing, Limits};
use common::http::response::Canned;
use common::http::status::Status;
use common::log::Entry;
use common::sys;
use mio::event::Event;
use mio::net::TcpStream;

use crate::files::Files;
use crate::respond::{self, FileBody};

/// Stop answering pipelined requests while this much output is queued (backpressure).
const OUTPUT_HIGH_WATER: usize = 64 * 1024;
/// A request body up to this size is read and dropped to keep the connection; larger ones close it.
const MAX_DISCARDED_BODY: u64 = 64 * 1024;
/// How much one sendfile call may send.
const SENDFILE_CHUNK: usize = 1 << 20;
/// File-body bytes one readiness event may send before the connection yields.
const SENDFILE_PER_EVENT: usize = 2 << 20;
/// Rounds of flush, read and answer one readiness event may use (see the module docs).
const DRIVE_ROUNDS: usize = 16;

/// Settings shared by all connections of a worker.
pub struct Settings {
    pub site: respond::Site,
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
    Closing(Closing),
}

pub struct Conn {
    client: Endpoint<TcpStream>,
    peer: IpAddr,
    input: Buffer,
    output: Buffer,
    sending: Option<FileBody>,
    phase: Phase,
    clock: HeadClock,
    /// Request-body bytes still to be read and dropped.
    discard: u64,
    /// When the body being dropped began. All of it must arrive within the header timeout
    /// from here: an inactivity timeout alone would let a client that sends a byte every few
    /// seconds (slow-body attacks) hold the connection for as long as its body lasts.
    discard_since: Instant,
    /// File-body bytes this event may still send.
    sendfile_budget: usize,
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
            client: Endpoint::new(stream, token, cx.now),
            peer: peer.ip(),
            input: Buffer::new(self.settings.limits.max_head + 1024),
            output: Buffer::new(OUTPUT_HIGH_WATER),
            sending: None,
            phase: Phase::Open,
            clock: HeadClock::new(cx.now),
            discard: 0,
            discard_since: cx.now,
            sendfile_budget: SENDFILE_PER_EVENT,
        })
    }

    fn record(&mut self, conn: &mut Conn, _side: Side, event: &Event) {
        conn.client.record(event);
    }

    fn progress(&mut self, cx: &mut Cx, conn: &mut Conn) -> Flow {
        self.drive(cx, conn)
    }

    fn tick(&mut self, cx: &mut Cx, conn: &mut Conn) -> Flow {
        let s = &self.settings;
        if let Phase::Closing(closing) = conn.phase {
            let stalled = cx.now.saturating_duration_since(conn.client.last_write);
            let expired = (conn.sending.is_some() && stalled >= s.idle_timeout)
                || closing.expired(
                    &conn.client,
                    &conn.output,
                    cx.now,
                    s.idle_timeout,
                    cx.draining,
                );
            return if expired { Flow::Close } else { Flow::Continue };
        }
        if conn.has_output() {
            // A client that stopped reading: the send timeout.
            let stalled = cx.now.saturating_duration_since(conn.client.last_write);
            return if stalled >= s.idle_timeout {
                Flow::Close
            } else {
                Flow::Continue
            };
        }
        if conn.discard > 0 {
            let discarding_for = cx.now.saturating_duration_since(conn.discard_since);
            return if discarding_for >= s.header_timeout {
                Flow::Close
            } else {
                Flow::Continue
            };
        }
        if cx.draining && !conn.clock.in_head() {
            return self.drain_idle(cx, conn);
        }
        match conn.clock.expired(cx.now, s.header_timeout, s.idle_timeout) {
            Some(Waited::HeaderTimeout) => {
                let canned = canned(cx, false);
                let sent = respond::error(&mut conn.output, Status::REQUEST_TIMEOUT, &canned, &[]);
                // Logged like a malformed head: slow-header attacks must show in the log.
                log_unparsed(cx, conn.peer, sent.status.code(), sent.body_bytes);
                conn.start_closing();
                self.drive(cx, conn)
            }
            Some(Waited::Idle) => Flow::Close,
            None => {
                // Give memory back only here, not after every response: freeing and
                // reallocating buffers per request costs more than the request itself with
                // musl's allocator, while an idle connection should cost next to nothing.
                conn.input.release_if_empty();
                conn.output.release_if_empty();
                Flow::Continue
            }
        }
    }

    fn close(&mut self, cx: &mut Cx, mut conn: Conn) {
        conn.client.deregister(cx);
    }
}

fn canned<'d>(cx: &Cx<'d>, keep_alive: bool) -> Canned<'d> {
    Canned {
        date: cx.date,
        server: respond::SERVER,
        keep_alive,
        version: request::Version::Http11,
        head_only: false,
    }
}

impl Conn {
    fn has_output(&self) -> bool {
        !self.output.is_empty() || self.sending.is_some()
    }

    fn start_closing(&mut self) {
        self.phase = Phase::Closing(Closing::flushing());
        self.input.clear();
        self.discard = 0;
    }

    /// Writes queued bytes, then at most one chunk of the file body, within this event's
    /// budget. Returns whether anything moved.
    fn flush(&mut self, now: Instant) -> std::io::Result<bool> {
        let mut progressed = self.client.write(&mut self.output, now)?;
        if !self.output.is_empty() || !self.client.ready.writable {
            return Ok(progressed);
        }
        let Some(body) = self.sending.as_mut() else {
            return Ok(progressed);
        };
        if body.offset >= body.end {
            self.sending = None;
            return Ok(true);
        }
        let want =
            (body.end - body.offset).min(SENDFILE_CHUNK.min(self.sendfile_budget) as u64) as usize;
        if want == 0 {
            return Ok(progressed);
        }
        match sys::sendfile(self.client.socket(), &body.file, &mut body.offset, want) {
            Ok(0) => {
                // The file shrank under us: the promised length cannot be met, so the
                // connection must end rather than look complete.
                return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof));
            }
            Ok(n) => {
                self.sendfile_budget = self.sendfile_budget.saturating_sub(n);
                self.client.last_write = now;
                progressed = true;
                if body.offset >= body.end {
                    self.sending = None;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                self.client.ready.writable = false
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
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
        conn.client.ready.readable = true;
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
        conn.sendfile_budget = SENDFILE_PER_EVENT;
        let driven = conn::drive(DRIVE_ROUNDS, || {
            let progress = self.round(cx, conn)?;
            // Out of file budget with more to send: yield to the other connections.
            if conn.sendfile_budget == 0 && conn.sending.is_some() && conn.client.ready.writable {
                return Ok(Round::Yield);
            }
            Ok(progress.into())
        });
        match driven {
            Driven::Idle => Flow::Continue,
            Driven::Stopped => Flow::Close,
            // With edge-triggered readiness no new edge may come for what is already ready,
            // but re-arming (EPOLL_CTL_MOD) queues an event when the socket is ready now.
            Driven::OutOfBudget => match conn.client.rearm(cx) {
                Ok(()) => Flow::Continue,
                Err(_) => Flow::Close,
            },
        }
    }

    fn round(&mut self, cx: &mut Cx, conn: &mut Conn) -> Result<bool, Stop> {
        if let Phase::Closing(mut closing) = conn.phase {
            let mut progress = false;
            if conn.sending.is_some() {
                // The last response's file body goes out first; what the client still sends
                // is read and dropped meanwhile.
                progress |= conn.flush(cx.now).map_err(|_| Stop)?;
                progress |= conn.client.read(&mut conn.input).map_err(|_| Stop)?;
                conn.input.clear();
                if conn.sending.is_some() {
                    return Ok(progress);
                }
            }
            let wind = closing.step(&mut conn.client, &mut conn.output, &mut conn.input, cx.now);
            conn.phase = Phase::Closing(closing);
            return match wind {
                Wind::Continue(more) => Ok(progress | more),
                Wind::Done => Err(Stop),
            };
        }
        let mut progressed = false;
        if conn.client.ready.writable && conn.has_output() {
            progressed |= conn.flush(cx.now).map_err(|_| Stop)?;
            if progressed {
                conn.clock.touch(cx.now);
            }
        }
        let before = conn.input.len();
        progressed |= conn.client.read(&mut conn.input).map_err(|_| Stop)?;
        if conn.input.len() > before {
            conn.clock.arrived(cx.now, before == 0 && conn.discard == 0);
        }
        progressed |= self.answer_requests(cx, conn);
        if conn.phase == Phase::Open && conn.client.input_ended() && !conn.has_output() {
            // The client is done sending and everything it asked for was delivered (a
            // partial head left behind can never complete).
            return Err(Stop);
        }
        Ok(progressed)
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
                conn.clock.next_request(cx.now, !conn.input.is_empty());
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
                    let sent =
                        respond::error(&mut conn.output, e.status(), &canned(cx, false), &[]);
                    log_unparsed(cx, conn.peer, sent.status.code(), sent.body_bytes);
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
                &settings.site,
                &head,
                cx.date,
                keep_alive,
                &mut conn.output,
            );
            let method = common::metrics::method_index(head.method);
            cx.metrics
                .request(method, sent.status.code(), sent.body_bytes, cx.now);
            if cx.log.is_enabled() {
                let date = *cx.date;
                cx.log.record(
                    &date,
                    &Entry {
                        peer: conn.peer,
                        method: head.method,
                        target: head.target,
                        protocol: head.version.as_str(),
                        status: sent.status.code(),
                        body_bytes: sent.body_bytes,
                        referer: head.header("referer"),
                        user_agent: head.header("user-agent"),
                        upstream: None,
                    },
                );
            }
            let head_len = head.head_len;
            conn.input.consume(head_len);
            conn.sending = sent.file;
            conn.discard = discard;
            conn.discard_since = cx.now;
            conn.clock
                .next_request(cx.now, !conn.input.is_empty() && discard == 0);
            progressed = true;
            if !keep_alive {
                conn.start_closing();
            }
        }
        progressed
    }
}

/// Logs (and counts, method `other`) an answer to a request whose head could not be parsed
/// (or never completed).
fn log_unparsed(cx: &mut Cx, peer: IpAddr, status: u16, body_bytes: u64) {
    let other = common::metrics::METHODS.len() - 1;
    cx.metrics.request(other, status, body_bytes, cx.now);
    let date = *cx.date;
    cx.log.record(
        &date,
        &Entry {
            peer,
            method: "-",
            target: b"-",
            protocol: "HTTP/1.1",
            status,
            body_bytes,
            referer: None,
            user_agent: None,
            upstream: None,
        },
    );
}
