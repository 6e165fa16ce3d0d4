//! One client connection and the upstream connection it is using: the state machine
//! (`Head -> Connecting -> Exchange [-> Tunnel] -> Head | Closing -> Lingering`), the drive loop
//! that moves bytes until nothing can move, timeouts, and the client-facing decisions (routing,
//! canned answers). The upstream-facing half lives in `exchange.rs`.
//!
//! Loop contract: readiness flags live in each [`Stream`]; `drive` keeps going while any step
//! made progress, so bytes already in user space (pipelined requests, TLS plaintext, a buffer
//! that just got room) are always handled before returning. Buffers are bounded; a full buffer
//! simply stops the reading side (backpressure). Idle connections give their buffers back.

use std::net::SocketAddr;
use std::ops::Range;
use std::time::{Duration, Instant};

use common::buffer::Buffer;
use common::event_loop::{Cx, Flow, Side};
use common::http::request::{
    self, header_storage, Framing, Limits, TargetForm, Version, MAX_HEADERS,
};
use common::http::response::Canned;
use common::http::status::Status;
use common::log::Entry;
use common::transport::ReadOutcome;
use mio::event::Event;
use mio::Interest;

use crate::forward::{self, NAME};
use crate::framing::{Body, In};
use crate::pages;
use crate::routes::{self, Match};
use crate::service::Proxy;
use crate::stream::Stream;

/// Bytes buffered from the client and towards the upstream.
pub const REQUEST_BUF: usize = 16 * 1024;
/// Bytes buffered from the upstream and towards the client.
pub const RESPONSE_BUF: usize = 32 * 1024;
/// How long a closing connection may take to flush and to be closed by its peer.
pub const LINGER: Duration = Duration::from_secs(5);
/// Turns of the drive loop one event may buy before the connection yields (about 1 MiB moved).
const MAX_TURNS: usize = 32;
/// After this much idleness a keep-alive connection gives back its buffers and upstream: none,
/// so it happens at the first sweep (at most a second) after the connection went idle, as in
/// `static`. Holding them a second longer meant that, when thousands of connections arrive
/// together, the buffers of every one that arrived in the last second or two are live at
/// once; the allocator then keeps that peak (10,000 idle connections measured 14-17 KiB each
/// with one second, 4-6 KiB without).
const IDLE_RELEASE: Duration = Duration::ZERO;
/// The slowest request body accepted, in bytes per second, as Apache's mod_reqtimeout
/// `MinRate`: a body must arrive within the header timeout plus one second per this many
/// bytes received (see [`Conn::body_too_slow`]).
const MIN_BODY_RATE: u64 = 1024;

const LIMITS: Limits = Limits {
    max_head: 8 * 1024,
    max_target: 4 * 1024,
};

/// Stop the current turn now.
pub struct Close;
/// Whether a step made progress, or the connection must close at once.
pub type Step = Result<bool, Close>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Waiting for (or parsing) a request head; idle when `cin` is empty.
    Head,
    /// A request is routed; its upstream connection is being opened.
    Connecting,
    /// Request and response are flowing.
    Exchange,
    /// A WebSocket tunnel after a 101.
    Tunnel,
    /// Flushing the last response; input is discarded.
    Closing,
    /// Our side is shut; waiting for the client to close (or the deadline).
    Lingering,
}

/// The upstream socket currently attached to this connection.
pub struct Up {
    pub stream: Stream,
    /// Index in `Routes::upstreams`.
    pub id: usize,
    pub connecting: bool,
    /// Taken from the pool or kept from an earlier exchange.
    pub reused: bool,
    pub eof: bool,
    /// Reading failed (a reset) rather than reaching a clean end: a body delimited by the
    /// close of the connection was cut, not complete.
    pub read_failed: bool,
    /// Writing failed (the upstream stopped reading); its response may still be read.
    pub write_failed: bool,
}

/// The request being proxied.
pub struct Exchange {
    pub route: usize,
    pub upstream: usize,
    pub head_len: usize,
    /// The client's request head is still at the front of `cin` (for writing it upstream, or
    /// for replaying it on a fresh connection).
    pub head_in_cin: bool,
    pub http10: bool,
    pub method_head: bool,
    pub keep_alive: bool,
    pub websocket: bool,
    /// Bodyless and idempotent: may be retried when the upstream connection ends before a
    /// response (see `upstream_lost`).
    pub replayable: bool,
    pub retried: bool,
    /// How often the upstream connection ended before any response (see `upstream_lost`).
    pub lost: u8,
    pub attempts: u8,
    pub timed_out: bool,
    pub req_in: In,
    pub req: Body,
    pub resp: Option<Body>,
    pub tunnel_up_shut: bool,
    pub tunnel_client_shut: bool,
    pub resp_reusable: bool,
    pub resp_keep_alive: bool,
    /// The response reaches the client delimited by the close of the connection (HTTP/1.0
    /// client, body without a length): if it is cut, the connection must be reset.
    pub resp_close_delimited: bool,
    pub status: u16,
    /// Connect deadline while connecting, inactivity deadline afterwards.
    pub deadline: Instant,
    /// When the upstream became ready for the request: the time budget of the request body
    /// counts from here (see [`Conn::body_too_slow`]).
    pub since: Instant,
}

impl Exchange {
    fn idle(now: Instant) -> Exchange {
        Exchange {
            route: 0,
            upstream: 0,
            head_len: 0,
            head_in_cin: false,
            http10: false,
            method_head: false,
            keep_alive: false,
            websocket: false,
            replayable: false,
            retried: false,
            lost: 0,
            attempts: 0,
            timed_out: false,
            req_in: In::None,
            req: Body::new(In::None, false, 0),
            resp: None,
            tunnel_up_shut: false,
            tunnel_client_shut: false,
            resp_reusable: false,
            resp_keep_alive: false,
            resp_close_delimited: false,
            status: 0,
            deadline: now,
            since: now,
        }
    }
}

/// What the access log needs of a request, copied out of the read buffer.
#[derive(Default)]
pub struct LogInfo {
    buf: Vec<u8>,
    method: Range<usize>,
    target: Range<usize>,
    referer: Option<Range<usize>>,
    user_agent: Option<Range<usize>>,
    version: Option<Version>,
}

impl LogInfo {
    fn capture(&mut self, head: &request::RequestHead, enabled: bool) {
        self.buf.clear();
        self.version = Some(head.version);
        if !enabled {
            return;
        }
        let mut put = |bytes: &[u8]| {
            let start = self.buf.len();
            self.buf.extend_from_slice(bytes);
            start..self.buf.len()
        };
        self.method = put(head.method.as_bytes());
        self.target = put(head.target);
        self.referer = head.header("referer").map(&mut put);
        self.user_agent = head.header("user-agent").map(&mut put);
    }

    fn clear(&mut self) {
        self.buf.clear();
        self.method = 0..0;
        self.target = 0..0;
        self.referer = None;
        self.user_agent = None;
        self.version = None;
    }
}

/// A client connection.
pub struct Conn {
    pub client: Stream,
    pub peer: SocketAddr,
    pub https: bool,
    pub cin: Buffer,
    pub cout: Buffer,
    pub uin: Buffer,
    pub uout: Buffer,
    pub up: Option<Up>,
    pub state: State,
    pub ex: Exchange,
    pub client_eof: bool,
    /// Last time the client sent or took bytes.
    pub last_active: Instant,
    /// When the current request head (or the TLS handshake) started.
    pub head_since: Instant,
    pub close_at: Instant,
    pub log: LogInfo,
    /// The upstream to name in the next access-log line written by `answer`.
    pub log_upstream: Option<usize>,
    /// No request byte has arrived yet: the wait for the first request is bounded by the
    /// header timeout, not the (longer) keep-alive idle timeout, as in `static` and nginx's
    /// client_header_timeout. Otherwise connections that never send anything pin a slot for
    /// the whole idle timeout.
    pub fresh: bool,
}

impl Conn {
    pub fn new(client: Stream, peer: SocketAddr, https: bool, now: Instant) -> Conn {
        Conn {
            client,
            peer,
            https,
            cin: Buffer::new(REQUEST_BUF),
            cout: Buffer::new(RESPONSE_BUF),
            uin: Buffer::new(RESPONSE_BUF),
            uout: Buffer::new(REQUEST_BUF),
            up: None,
            state: State::Head,
            ex: Exchange::idle(now),
            client_eof: false,
            last_active: now,
            head_since: now,
            close_at: now,
            log: LogInfo::default(),
            log_upstream: None,
            fresh: true,
        }
    }

    pub fn on_event(&mut self, side: Side, event: &Event) {
        match side {
            Side::Client => self.client.on_event(event),
            Side::Upstream => {
                if let Some(up) = &mut self.up {
                    up.stream.on_event(event);
                }
            }
        }
    }

    /// Moves bytes and advances the state machine until nothing more can happen now.
    pub fn drive(&mut self, p: &mut Proxy, cx: &mut Cx) -> Flow {
        for _ in 0..MAX_TURNS {
            match self.turn(p, cx) {
                Ok(true) => {
                    if matches!(self.state, State::Exchange | State::Tunnel) {
                        self.ex.deadline = cx.now + p.shared.config.upstream_timeout;
                    }
                }
                Ok(false) => return Flow::Continue,
                Err(Close) => return Flow::Close,
            }
        }
        // Fairness: yield to other connections. Re-arming with the same token and interest is
        // not an interest change; the kernel queues an event for a socket that is still ready,
        // which brings this connection back on a later turn of the loop.
        let both = Interest::READABLE | Interest::WRITABLE;
        let _ = cx
            .registry
            .reregister(self.client.socket(), cx.token(Side::Client), both);
        if let Some(up) = &mut self.up {
            let _ = cx
                .registry
                .reregister(up.stream.socket(), cx.token(Side::Upstream), both);
        }
        Flow::Continue
    }

    fn turn(&mut self, p: &mut Proxy, cx: &mut Cx) -> Step {
        let mut progress = false;
        if self.state == State::Connecting {
            progress |= self.check_connect(p, cx)?;
        }
        progress |= self.read_client(cx)?;
        progress |= match self.state {
            State::Head => self.start_request(p, cx)?,
            State::Exchange => self.pump_request(p, cx)?,
            State::Tunnel => tunnel_copy(&mut self.cin, &mut self.uout),
            State::Closing | State::Lingering => {
                self.cin.clear();
                false
            }
            State::Connecting => false,
        };
        progress |= self.write_upstream(cx)?;
        progress |= self.read_upstream()?;
        progress |= match self.state {
            State::Exchange => self.handle_response(p, cx)?,
            State::Tunnel => self.tunnel_step(cx)?,
            State::Head | State::Closing | State::Lingering => self.check_idle_upstream(cx),
            State::Connecting => false,
        };
        progress |= self.write_client(cx)?;
        if self.state == State::Closing && self.cout.is_empty() && !self.client.has_pending_output()
        {
            self.client.close_write();
            self.state = State::Lingering;
            progress = true;
        }
        if self.state == State::Lingering && (self.client_eof || cx.draining) {
            return Err(Close);
        }
        Ok(progress)
    }

    fn read_client(&mut self, cx: &mut Cx) -> Step {
        if !self.client.ready.readable || self.cin.is_full() || self.client_eof {
            return Ok(false);
        }
        let before = self.cin.len();
        let was_idle = self.state == State::Head && before == 0;
        match self.client.read(&mut self.cin) {
            Ok(ReadOutcome::Eof) => self.client_eof = true,
            Ok(_) => {}
            Err(_) => return Err(Close),
        }
        if self.cin.len() > before {
            self.fresh = false;
        }
        let got = self.cin.len() > before
            || (self.client.ready.writable && self.client.has_pending_output());
        if got {
            self.last_active = cx.now;
            if was_idle {
                self.head_since = cx.now;
            }
        }
        Ok(got || self.client_eof)
    }

    fn write_client(&mut self, cx: &mut Cx) -> Step {
        if !self.client.wants_write(&self.cout) {
            return Ok(false);
        }
        let before = (self.cout.len(), self.client.has_pending_output());
        if self.client.write(&mut self.cout).is_err() {
            return Err(Close);
        }
        let moved = before != (self.cout.len(), self.client.has_pending_output());
        if moved {
            self.last_active = cx.now;
        }
        Ok(moved)
    }

    /// Parses the next request head in `cin` and decides what to do with it.
    fn start_request(&mut self, p: &mut Proxy, cx: &mut Cx) -> Step {
        if self.cin.is_empty() {
            return Ok(self.closing_on_eof(cx));
        }
        let shared = &*p.shared;
        let mut storage: [httparse::Header<'_>; MAX_HEADERS] = header_storage();
        let head = match request::parse(self.cin.filled(), &mut storage, &LIMITS) {
            Ok(Some(head)) => head,
            Ok(None) => return Ok(self.closing_on_eof(cx)),
            Err(e) => {
                self.log.clear();
                self.answer(p, cx, e.status(), None, false, 0);
                return Ok(true);
            }
        };
        self.log.capture(&head, cx.log.is_enabled());
        let (path, query) = routes::split_target(head.target);
        let has_body = head.framing != Framing::None;
        let head_len = head.head_len;
        let head_only = head.is_head();
        let keep_alive = head.keep_alive && !has_body && !cx.draining;
        let canned = |status: Status| (status, keep_alive);
        p.scratch.clear();
        let (status, keep) = if head.form == TargetForm::Authority {
            canned(Status::METHOD_NOT_ALLOWED)
        } else if head.form == TargetForm::Asterisk {
            canned(Status::NOT_FOUND)
        } else if path == shared.config.health_path.as_bytes() {
            let c = self.canned(cx, head.version, keep_alive, head_only);
            let n = pages::page(
                &mut self.cout,
                b"text/plain; charset=utf-8",
                b"ok\n",
                &c,
                shared.hsts(self.https),
            );
            self.cin.consume(head_len);
            self.log_entry(p, cx, 200, n, None);
            return self.after_canned(keep_alive, cx);
        } else if shared.server_tls.is_some() && !self.https {
            if pages::https_location(head.host, shared.tls_port, path, query, &mut p.scratch) {
                canned(Status::PERMANENT_REDIRECT)
            } else {
                p.scratch.clear();
                (Status::BAD_REQUEST, false)
            }
        } else {
            match shared.config.routes.find(path) {
                Match::NotFound if path == b"/" => {
                    let c = self.canned(cx, head.version, keep_alive, head_only);
                    let n = pages::page(
                        &mut self.cout,
                        b"text/html; charset=utf-8",
                        &shared.index_page,
                        &c,
                        shared.hsts(self.https),
                    );
                    self.cin.consume(head_len);
                    self.log_entry(p, cx, 200, n, None);
                    return self.after_canned(keep_alive, cx);
                }
                Match::NotFound => canned(Status::NOT_FOUND),
                Match::AddSlash => {
                    p.scratch.extend_from_slice(path);
                    p.scratch.push(b'/');
                    p.scratch.extend_from_slice(query);
                    let get = matches!(head.method, "GET" | "HEAD");
                    canned(if get {
                        Status::MOVED_PERMANENTLY
                    } else {
                        Status::PERMANENT_REDIRECT
                    })
                }
                Match::Forward { route } => {
                    if let Framing::Length(n) = head.framing {
                        if n > shared.config.max_body {
                            let status = Status::CONTENT_TOO_LARGE;
                            let c = self.canned(cx, head.version, false, head_only);
                            let n = pages::error(
                                &mut self.cout,
                                status,
                                &c,
                                shared.hsts(self.https),
                                None,
                            );
                            self.log_entry(p, cx, status.code(), n, None);
                            self.enter_closing(cx);
                            return Ok(true);
                        }
                    }
                    let body_in = match head.framing {
                        Framing::None => In::None,
                        Framing::Length(n) => In::Length(n),
                        Framing::Chunked => In::Chunked,
                    };
                    self.ex = Exchange {
                        route,
                        head_len,
                        head_in_cin: true,
                        http10: head.version == Version::Http10,
                        method_head: head_only,
                        keep_alive: head.keep_alive,
                        websocket: head.upgrade && forward::is_websocket(head.headers),
                        replayable: !has_body
                            && matches!(
                                head.method,
                                "GET" | "HEAD" | "OPTIONS" | "TRACE" | "PUT" | "DELETE"
                            ),
                        req_in: body_in,
                        req: Body::new(body_in, body_in == In::Chunked, shared.config.max_body),
                        ..Exchange::idle(cx.now)
                    };
                    if head.expect_continue && has_body {
                        self.cout.push(b"HTTP/1.1 100 Continue\r\n\r\n");
                    }
                    self.state = State::Connecting;
                    self.acquire(p, cx, None)?;
                    return Ok(true);
                }
            }
        };
        let location = (!p.scratch.is_empty()).then_some(&p.scratch[..]);
        let c = self.canned(cx, head.version, keep, head_only);
        let n = pages::error(
            &mut self.cout,
            status,
            &c,
            shared.hsts(self.https),
            location,
        );
        self.cin.consume(head_len);
        self.log_entry(p, cx, status.code(), n, None);
        self.after_canned(keep, cx)
    }

    /// The client sent its last byte and no complete request is left: flush and close.
    fn closing_on_eof(&mut self, cx: &mut Cx) -> bool {
        if !self.client_eof {
            return false;
        }
        self.state = State::Closing;
        self.close_at = cx.now + LINGER;
        true
    }

    fn canned<'d>(
        &self,
        cx: &Cx<'d>,
        version: Version,
        keep_alive: bool,
        head_only: bool,
    ) -> Canned<'d> {
        Canned {
            date: cx.date,
            server: NAME,
            keep_alive,
            version,
            head_only,
        }
    }

    fn after_canned(&mut self, keep_alive: bool, cx: &mut Cx) -> Step {
        if keep_alive {
            self.head_since = cx.now;
        } else {
            self.state = State::Closing;
            self.close_at = cx.now + LINGER;
        }
        Ok(true)
    }

    /// Answers the current request with an error page. `head_len` bytes of head are dropped
    /// from `cin` when `keep_alive` (the connection continues), else the connection closes.
    pub fn answer(
        &mut self,
        p: &mut Proxy,
        cx: &mut Cx,
        status: Status,
        version: Option<Version>,
        keep_alive: bool,
        head_len: usize,
    ) {
        let keep_alive = keep_alive && !cx.draining && !self.client_eof;
        let head_only = version.is_some() && self.ex.method_head;
        let c = self.canned(
            cx,
            version.unwrap_or(Version::Http11),
            keep_alive,
            head_only,
        );
        let n = pages::error(&mut self.cout, status, &c, p.shared.hsts(self.https), None);
        self.log_entry(p, cx, status.code(), n, self.log_upstream);
        if keep_alive {
            self.cin.consume(head_len);
            self.state = State::Head;
            self.head_since = cx.now;
        } else {
            self.enter_closing(cx);
        }
    }

    /// Stops processing input; flushes what is queued for the client, then closes.
    pub fn enter_closing(&mut self, cx: &mut Cx) {
        self.drop_upstream(cx);
        self.state = State::Closing;
        self.close_at = cx.now + LINGER;
        self.cin.clear();
    }

    pub fn log_entry(
        &mut self,
        p: &Proxy,
        cx: &mut Cx,
        status: u16,
        bytes: u64,
        upstream: Option<usize>,
    ) {
        if !cx.log.is_enabled() {
            return;
        }
        let l = &self.log;
        let get = |r: &Range<usize>| l.buf.get(r.clone()).unwrap_or(b"-");
        let method = std::str::from_utf8(get(&l.method)).unwrap_or("-");
        let upstream = upstream
            .and_then(|id| p.shared.config.routes.upstreams.get(id))
            .map(|u| u.display.as_str());
        cx.log.record(
            cx.date,
            &Entry {
                peer: self.peer.ip(),
                method: if l.version.is_some() { method } else { "-" },
                target: if l.version.is_some() {
                    get(&l.target)
                } else {
                    b"-"
                },
                version: l.version.unwrap_or(Version::Http11),
                status,
                body_bytes: bytes,
                referer: l.referer.as_ref().map(get),
                user_agent: l.user_agent.as_ref().map(get),
                upstream,
            },
        );
    }

    /// Moves request body bytes from the client towards the upstream.
    fn pump_request(&mut self, p: &mut Proxy, cx: &mut Cx) -> Step {
        if self.ex.head_in_cin || self.ex.req.is_done() {
            return Ok(false);
        }
        match self.ex.req.pump(&mut self.cin, &mut self.uout) {
            Ok(progress) => {
                if !progress && self.client_eof && self.cin.is_empty() && !self.ex.req.is_done() {
                    return Err(Close); // the client left in the middle of its body
                }
                Ok(progress)
            }
            Err(e) => {
                let status = match e {
                    crate::framing::BodyError::TooLarge => Status::CONTENT_TOO_LARGE,
                    crate::framing::BodyError::Malformed(_) => Status::BAD_REQUEST,
                };
                if self.ex.resp.is_some() {
                    return Err(Close);
                }
                self.drop_upstream(cx);
                let version = if self.ex.http10 {
                    Version::Http10
                } else {
                    Version::Http11
                };
                self.answer(p, cx, status, Some(version), false, 0);
                Ok(true)
            }
        }
    }

    /// Periodic work: timeouts, idle resource release, drain.
    pub fn tick(&mut self, p: &mut Proxy, cx: &mut Cx) -> Flow {
        let now = cx.now;
        let cfg = &p.shared.config;
        match self.state {
            State::Head => {
                let idle = self.cin.is_empty() && !self.client.is_handshaking();
                if cx.draining && !self.client.is_handshaking() {
                    return self.drain_head(p, cx);
                }
                if idle {
                    let limit = if self.fresh {
                        cfg.server.header_timeout
                    } else {
                        cfg.server.idle_timeout
                    };
                    if now.duration_since(self.last_active) >= limit {
                        return Flow::Close;
                    }
                    if now.duration_since(self.last_active) >= IDLE_RELEASE {
                        self.release_idle(p, cx);
                    }
                } else if cx.draining && self.client.is_handshaking() {
                    return Flow::Close;
                } else if now.duration_since(self.head_since) >= cfg.server.header_timeout {
                    if self.client.is_handshaking() {
                        return Flow::Close;
                    }
                    self.log.clear();
                    self.answer(p, cx, Status::REQUEST_TIMEOUT, None, false, 0);
                    return self.drive(p, cx);
                }
            }
            State::Connecting if now >= self.ex.deadline => {
                self.ex.timed_out = true;
                self.connect_failed(p, cx);
                return self.drive(p, cx);
            }
            State::Exchange if self.body_too_slow(now, cfg.server.header_timeout) => {
                self.drop_upstream(cx);
                let version = if self.ex.http10 {
                    Version::Http10
                } else {
                    Version::Http11
                };
                self.answer(p, cx, Status::REQUEST_TIMEOUT, Some(version), false, 0);
                return self.drive(p, cx);
            }
            State::Exchange if now >= self.ex.deadline => {
                if self.ex.resp.is_some() {
                    return Flow::Close;
                }
                self.ex.timed_out = true;
                self.gateway_error(p, cx, Status::GATEWAY_TIMEOUT);
                return self.drive(p, cx);
            }
            State::Tunnel if cx.draining || now >= self.ex.deadline => return Flow::Close,
            State::Closing | State::Lingering if now >= self.close_at => return Flow::Close,
            State::Lingering if cx.draining => return Flow::Close,
            _ => {}
        }
        Flow::Continue
    }

    /// Shutdown began while no request was in progress. One may still wait unread in the
    /// socket (it arrived after the last event was handled, or the connection was just taken
    /// from the listen backlog): read once and serve it, with `Connection: close`, before
    /// closing. A request the client finished writing before the signal is never dropped; one
    /// still incomplete after this read was not finished before it, and the connection closes.
    fn drain_head(&mut self, p: &mut Proxy, cx: &mut Cx) -> Flow {
        self.client.ready.readable = true;
        if self.drive(p, cx) == Flow::Close || self.state == State::Head {
            return Flow::Close;
        }
        Flow::Continue
    }

    /// Whether the request body is overdue. Each body byte resets the inactivity deadline, so
    /// without this a client sending a byte every few seconds (slow-body attacks) could hold
    /// the connection and an upstream connection for as long as its body lasts. Like Apache's
    /// mod_reqtimeout, the body must arrive within the header timeout plus one second per
    /// [`MIN_BODY_RATE`] bytes. Only while the exchange waits for the client: a response has
    /// not started, and the upstream has taken everything forwarded so far (when it has not,
    /// the upstream is the slow side and the upstream timeout applies).
    fn body_too_slow(&self, now: Instant, base: Duration) -> bool {
        if self.ex.req.is_done()
            || self.ex.resp.is_some()
            || !self.uout.is_empty()
            || self.cin.is_full()
        {
            return false;
        }
        let allowed = base + Duration::from_secs(self.ex.req.total / MIN_BODY_RATE);
        now.saturating_duration_since(self.ex.since) >= allowed
    }

    /// An idle keep-alive connection gives its upstream back to the pool and frees buffers.
    fn release_idle(&mut self, p: &mut Proxy, cx: &mut Cx) {
        self.detach_upstream(p, cx);
        for b in [&mut self.cin, &mut self.cout, &mut self.uin, &mut self.uout] {
            b.release_if_empty();
        }
        // All of it, however small: one live allocation per idle connection, left between the
        // buffers just freed, pins their pages (the allocator cannot give memory back around
        // it), and 10,000 idle connections then cost ~11 KiB each instead of ~1.
        self.log.buf = Vec::new();
    }

    /// The connection is gone: a healthy idle upstream goes back to the pool.
    pub fn close(mut self, p: &mut Proxy, cx: &mut Cx) {
        if matches!(self.state, State::Head | State::Closing | State::Lingering) && !cx.draining {
            self.detach_upstream(p, cx);
        } else {
            self.drop_upstream(cx);
        }
        let _ = cx.registry.deregister(self.client.socket());
    }
}

/// Copies tunnel bytes from one side's input buffer to the other side's output buffer.
pub fn tunnel_copy(from: &mut Buffer, to: &mut Buffer) -> bool {
    let n = to.extend(from.filled());
    from.consume(n);
    n > 0
}
