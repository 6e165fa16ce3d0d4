//! One client connection: the state machine (`Handshake -> Waiting | H2`, `Waiting ->
//! Forwarding -> Waiting`, `-> Tunnel`, `-> Closing`), the drive loop and the answers the
//! proxy writes itself; the timeouts, the drain on shutdown and the close are in
//! [`lifecycle`].
//!
//! Each state carries its own data: an [`Exchange`] while forwarding, a [`Tunnel`] after a
//! WebSocket upgrade, the [`Closing`] phase at the end. What the connection waits for between
//! requests is the [`HeadClock`]'s. The upstream connection of the last exchange is kept
//! (`kept`) for the next request while it stays quiet.
//!
//! Backpressure: no request head is parsed while the output towards the client is above
//! [`OUTPUT_HIGH_WATER`], canned answers included; no byte is read from the client while its
//! input buffer is full. A client that pipelines and never reads therefore costs two bounded
//! buffers, then its own socket buffers fill and it stops.
//!
//! Loop contract: readiness lives in each `Endpoint`; [`Conn::drive`] runs rounds until none
//! makes progress, so bytes already in user space (pipelined requests, TLS plaintext, a buffer
//! that just got room) are handled before returning, within the fairness budget.

use std::net::SocketAddr;

use common::buffer::Buffer;
use common::conn::{self, Closing, Driven, HeadClock, Round, Stop, Wind};
use common::event_loop::{Cx, Flow, Side};
use common::http::request::{self, header_storage, Limits, Version};
use common::http::response::Canned;
use common::transport::Transport;
use mio::event::Event;

use crate::access::LogInfo;
use crate::exchange::{ClientSide, Exchange, Failure, Step, OUTPUT_HIGH_WATER};
use crate::forward::NAME;
use crate::mux::{self, Mux};
use crate::pages;
use crate::plan::{Action, Answer, Plan};
use crate::service::Proxy;
use crate::stream::{Io, Stream};
use crate::tunnel::Tunnel;
use crate::upstream_conn::UpstreamConn;

mod lifecycle;

/// Bytes buffered from the client (request heads and bodies).
pub const REQUEST_BUF: usize = 16 * 1024;
/// Bytes buffered towards the client.
pub const RESPONSE_BUF: usize = OUTPUT_HIGH_WATER;
/// Rounds of work one event may buy before the connection yields (about 1 MiB moved).
const DRIVE_ROUNDS: usize = 32;

/// What a request head may be, over HTTP/1.1 or (as the head a stream becomes) HTTP/2.
pub const LIMITS: Limits = Limits {
    max_head: 8 * 1024,
    max_target: 4 * 1024,
};

// The exchange is inline, not boxed: a box per request, freed at its end, interleaves small
// allocations with the connections' buffers and measurably fragments glibc's heap (idle
// connections cost 9 KiB instead of under 5 after a burst). The slot is sized for it once.
#[allow(clippy::large_enum_variant)]
enum State {
    /// A TLS handshake in progress: ALPN then decides between HTTP/1.1 and HTTP/2.
    Handshake,
    /// Waiting for (or receiving) a request head. Answers the proxy writes itself are
    /// written from here and the connection stays here.
    Waiting,
    Forwarding(Exchange),
    Tunnel(Box<Tunnel>),
    /// HTTP/2: many streams, each with its own exchange (`mux.rs`).
    H2(Box<Mux>),
    Closing(Closing),
}

pub struct Conn {
    client: Stream,
    peer: SocketAddr,
    https: bool,
    /// The peer is a trusted proxy (`--trusted-proxies`).
    trusted: bool,
    cin: Buffer,
    cout: Buffer,
    clock: HeadClock,
    plan: Plan,
    log: LogInfo,
    /// The upstream connection of the last exchange, kept for the next request.
    kept: Option<UpstreamConn>,
    state: State,
}

impl Conn {
    pub fn new(
        client: Stream,
        peer: SocketAddr,
        https: bool,
        trusted: bool,
        now: std::time::Instant,
    ) -> Conn {
        Conn {
            client,
            peer,
            https,
            trusted,
            cin: Buffer::new(REQUEST_BUF),
            cout: Buffer::new(RESPONSE_BUF),
            clock: HeadClock::new(now),
            plan: Plan::default(),
            log: LogInfo::default(),
            kept: None,
            state: if https {
                State::Handshake
            } else {
                State::Waiting
            },
        }
    }

    /// The upstream connection in use (or kept), if any.
    fn upstream_conn(&mut self) -> Option<&mut UpstreamConn> {
        match &mut self.state {
            State::Forwarding(ex) => ex.upstream_conn(),
            State::Tunnel(t) => Some(t.upstream_conn()),
            State::Handshake | State::H2(_) | State::Waiting | State::Closing(_) => {
                self.kept.as_mut()
            }
        }
    }

    pub fn on_event(&mut self, side: Side, event: &Event) {
        match side {
            Side::Client => self.client.record(event),
            Side::Upstream => {
                if let State::H2(mux) = &mut self.state {
                    mux.record(event);
                } else if let Some(up) = self.upstream_conn() {
                    up.record(event);
                }
            }
        }
    }

    /// Makes all the progress possible now, within the fairness budget.
    pub fn drive(&mut self, p: &mut Proxy, cx: &mut Cx) -> Flow {
        match conn::drive(DRIVE_ROUNDS, || self.round(p, cx).map(Round::from)) {
            Driven::Idle => Flow::Continue,
            Driven::Stopped => Flow::Close,
            Driven::OutOfBudget => {
                let rearmed = self.client.rearm(cx).is_ok();
                if let Some(up) = self.upstream_conn() {
                    let _ = up.stream.rearm(cx);
                }
                if let State::H2(mux) = &mut self.state {
                    mux.rearm(cx);
                }
                if rearmed {
                    Flow::Continue
                } else {
                    Flow::Close
                }
            }
        }
    }

    fn round(&mut self, p: &mut Proxy, cx: &mut Cx) -> Result<bool, Stop> {
        if let State::Closing(closing) = &mut self.state {
            return match closing.step(&mut self.client, &mut self.cout, &mut self.cin, cx.now) {
                Wind::Continue(progress) => Ok(progress),
                Wind::Done => Err(Stop),
            };
        }
        let mut progress = self.write_client(cx)?;
        progress |= self.read_client(cx)?;
        progress |= match self.state {
            State::Handshake => self.handshake_done(p, cx),
            State::H2(_) => self.multiplex(p, cx),
            State::Waiting => self.take_requests(p, cx),
            State::Forwarding(_) => self.forward(p, cx)?,
            State::Tunnel(ref mut t) => {
                t.step(&mut self.client, &mut self.cin, &mut self.cout, cx.now)?
            }
            State::Closing(_) => false,
        };
        progress |= self.write_client(cx)?;
        Ok(progress)
    }

    fn write_client(&mut self, cx: &mut Cx) -> Result<bool, Stop> {
        let moved = self
            .client
            .write(&mut self.cout, cx.now)
            .map_err(|_| Stop)?;
        if moved {
            self.clock.touch(cx.now);
        }
        Ok(moved)
    }

    fn read_client(&mut self, cx: &mut Cx) -> Result<bool, Stop> {
        let before = self.cin.len();
        let progress = self.client.read(&mut self.cin).map_err(|_| Stop)?;
        if self.cin.len() > before {
            self.clock.arrived(cx.now, before == 0);
        }
        Ok(progress)
    }

    /// Once the TLS handshake is over, ALPN decides the protocol. Returns whether it was.
    fn handshake_done(&mut self, p: &mut Proxy, cx: &mut Cx) -> bool {
        if self.client.io.is_handshaking() {
            if self.client.input_ended() {
                self.start_closing(p, cx);
                return true;
            }
            return false;
        }
        let h2 = matches!(&self.client.io, Io::Tls(tls) if tls.negotiated_h2());
        if h2 {
            // Plaintext that arrived with the handshake's last flight is kept.
            let mut cin = Buffer::new(mux::INPUT_BUF);
            cin.push(self.cin.filled());
            self.cin = cin;
            self.cout = Buffer::new(mux::OUTPUT_BUF);
            self.state = State::H2(Box::new(Mux::new(&mut self.cout, cx.now)));
            p.stats.h2_connection(p.worker);
        } else {
            self.state = State::Waiting;
        }
        true
    }

    /// One step of the HTTP/2 connection; closes it when it is over or the client left.
    fn multiplex(&mut self, p: &mut Proxy, cx: &mut Cx) -> bool {
        let State::H2(mux) = &mut self.state else {
            return false;
        };
        let mut io = mux::Io {
            cin: &mut self.cin,
            cout: &mut self.cout,
            peer: self.peer.ip(),
            trusted: self.trusted,
        };
        match mux.step(&mut io, p, cx) {
            Ok(progress) if !self.client.input_ended() => progress,
            _ => {
                self.start_closing(p, cx);
                true
            }
        }
    }

    /// Parses and starts the requests waiting in `cin`, in order, while the output towards the
    /// client is below its high-water mark. Returns whether anything was done.
    fn take_requests(&mut self, p: &mut Proxy, cx: &mut Cx) -> bool {
        self.check_kept(p, cx);
        let mut progress = false;
        while matches!(self.state, State::Waiting) && self.cout.len() < OUTPUT_HIGH_WATER {
            let mut storage = header_storage();
            let head = match request::parse(self.cin.filled(), &mut storage, &LIMITS) {
                Ok(Some(head)) => head,
                Ok(None) => {
                    // No complete head. Once the client stopped sending, none will come: every
                    // request received before its FIN has been answered (or is in `cout`).
                    if self.client.input_ended() {
                        self.start_closing(p, cx);
                        progress = true;
                    }
                    break;
                }
                Err(e) => {
                    self.log.clear();
                    self.plan.version = Version::Http11;
                    self.plan.head_request = false;
                    self.plan.keep_alive = false;
                    self.write_answer(p, cx, Answer::Error(e.status()), None);
                    self.start_closing(p, cx);
                    return true;
                }
            };
            self.log.capture(&head, cx.log.is_enabled(), cx.now);
            let context = p
                .shared
                .plan_context(self.https, self.peer.ip(), self.trusted);
            self.plan.make(&head, &context, &mut p.scratch);
            let head_len = head.head_len;
            self.cin.consume(head_len);
            progress = true;
            match self.plan.action {
                Action::Answer(answer) => self.answer(p, cx, answer),
                Action::Forward { route } => self.start_forward(route, p, cx),
            }
        }
        progress
    }

    /// A kept upstream connection that said anything (bytes, EOF, an error) while no request
    /// was in flight is closed: it may never carry another request.
    fn check_kept(&mut self, p: &Proxy, cx: &mut Cx) {
        let signalled = self
            .kept
            .as_ref()
            .is_some_and(|k| k.stream.ready.readable || k.stream.ready.hup);
        if signalled {
            if let Some(mut kept) = self.kept.take() {
                match kept.still_quiet() {
                    Ok(()) => {
                        kept.stream.ready.readable = false;
                        self.kept = Some(kept);
                    }
                    Err(why) => {
                        let name = p.upstream_name(kept.id);
                        kept.discard(why, name, cx);
                    }
                }
            }
        }
    }

    /// Writes an answer of the proxy's own and moves on.
    fn answer(&mut self, p: &mut Proxy, cx: &mut Cx, answer: Answer) {
        self.write_answer(p, cx, answer, None);
        self.next_request(p, cx);
    }

    /// Writes an answer of the proxy's own (`self.plan` says for which request) and logs it.
    fn write_answer(&mut self, p: &Proxy, cx: &mut Cx, answer: Answer, upstream: Option<usize>) {
        self.plan.keep_alive &= !cx.draining;
        let canned = Canned {
            date: cx.date,
            server: NAME,
            keep_alive: self.plan.keep_alive,
            version: self.plan.version,
            head_only: self.plan.head_request,
        };
        let shared = &*p.shared;
        let (status, bytes) = pages::answer(
            &mut self.cout,
            answer,
            &canned,
            shared.hsts(self.https),
            &shared.index_page,
            self.plan.location(),
        );
        self.log_line(p, cx, status, bytes, upstream);
    }

    /// Writes the access-log line of the current request, naming the upstream if any.
    fn log_line(&self, p: &Proxy, cx: &mut Cx, status: u16, bytes: u64, upstream: Option<usize>) {
        let name = upstream.map(|id| p.upstream_name(id));
        self.log.record(cx, self.peer.ip(), status, bytes, name);
    }

    /// The current request is done: wait for the next one, or close.
    fn next_request(&mut self, p: &mut Proxy, cx: &mut Cx) {
        if self.plan.keep_alive && !cx.draining {
            self.state = State::Waiting;
            self.clock.next_request(cx.now, !self.cin.is_empty());
        } else {
            self.start_closing(p, cx);
        }
    }

    fn start_forward(&mut self, route: usize, p: &mut Proxy, cx: &mut Cx) {
        if self.plan.expect_continue {
            self.cout.push(b"HTTP/1.1 100 Continue\r\n\r\n");
        }
        let kept = self.kept.take();
        match Exchange::start(route, &self.plan, kept, p, cx) {
            Ok(ex) => self.state = State::Forwarding(ex),
            Err((failure, upstream)) => {
                // Only an answer can come out of starting; nothing was sent.
                let _ = self.failed(failure, upstream, p, cx);
            }
        }
    }

    fn forward(&mut self, p: &mut Proxy, cx: &mut Cx) -> Result<bool, Stop> {
        let State::Forwarding(ex) = &mut self.state else {
            return Ok(false);
        };
        let client = ClientSide {
            cin: &mut self.cin,
            cout: &mut self.cout,
            input_end: self.client.input,
            plan: &self.plan,
            https: self.https,
        };
        let step = ex.step(client, p, cx);
        let upstream = ex.upstream();
        match step {
            Step::Progress(progress) => Ok(progress),
            Step::Finished(done) => {
                p.stats.upstream_response(p.worker, upstream, done.status);
                let name = p.shared.config.routes.upstreams.get(upstream);
                let name = name.map(|u| u.display.as_str());
                self.log
                    .record(cx, self.peer.ip(), done.status, done.bytes, name);
                self.kept = done.upstream;
                self.plan.keep_alive = done.keep_alive;
                self.next_request(p, cx);
                Ok(true)
            }
            Step::Upgraded(conn) => {
                p.stats.upstream_response(p.worker, upstream, 101);
                self.log_line(p, cx, 101, 0, Some(upstream));
                self.state = State::Tunnel(Box::new(Tunnel::new(conn, cx.now)));
                Ok(true)
            }
            Step::Failed(failure) => self.failed(failure, upstream, p, cx),
        }
    }

    /// What the client gets when an exchange fails.
    fn failed(
        &mut self,
        failure: Failure,
        upstream: usize,
        p: &mut Proxy,
        cx: &mut Cx,
    ) -> Result<bool, Stop> {
        self.leave(p, cx);
        match failure {
            Failure::Answer { status, keep_alive } => {
                self.plan.keep_alive = keep_alive;
                self.write_answer(p, cx, Answer::Error(status), Some(upstream));
                self.next_request(p, cx);
                Ok(true)
            }
            Failure::Cut {
                status,
                bytes,
                close_delimited,
            } => {
                // The upstream's response began (and was cut): it answered.
                p.stats.upstream_response(p.worker, upstream, status);
                self.log_line(p, cx, status, bytes, Some(upstream));
                if close_delimited {
                    // The close itself would read as the end of a complete response.
                    self.client.abort();
                    return Err(Stop);
                }
                // Never let a cut response look complete: no last chunk, and the connection
                // closes.
                self.start_closing(p, cx);
                Ok(true)
            }
            Failure::ClientGone => Err(Stop),
        }
    }

    /// Leaves a forwarding or tunnel state, closing its upstream connection.
    fn leave(&mut self, p: &mut Proxy, cx: &Cx) {
        match std::mem::replace(&mut self.state, State::Waiting) {
            State::Forwarding(ex) => ex.abandon(cx),
            State::Tunnel(t) => t.close(cx),
            State::H2(mux) => mux.end(p, cx),
            State::Handshake | State::Waiting => {}
            State::Closing(c) => self.state = State::Closing(c),
        }
    }

    /// Stops processing input; flushes what is queued for the client, then closes.
    fn start_closing(&mut self, p: &mut Proxy, cx: &Cx) {
        self.leave(p, cx);
        self.cin.clear();
        self.state = State::Closing(Closing::flushing());
    }
}
