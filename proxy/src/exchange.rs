//! One request forwarded to an upstream: getting a connection (the one kept from the previous
//! exchange, a pooled one, or a new non-blocking connect with failover), sending the head the
//! plan wrote and streaming the request body, reading and re-framing the response, retrying a
//! replayable request once a reused connection turns out dead, and the exchange's deadlines.
//!
//! It never writes to the client except the response itself: what went wrong is reported as a
//! [`Failure`], and the client connection (`client.rs`) decides what the client sees. Decisions
//! are the pure modules' (`plan`, `response`, `framing`).

use std::io;
use std::time::{Duration, Instant};

use common::buffer::Buffer;
use common::conn::InputEnd;
use common::event_loop::Cx;
use common::http::request::Version;
use common::http::status::Status;

use crate::framing::{Body, BodyError, In, Out};
use crate::plan::Plan;
use crate::response::{self, Parsed, ResponsePlan};
use crate::service::Proxy;
use crate::upstream_conn::{Connect, Phase, UpstreamConn};

/// Stop writing response heads and bodies to the client while this much is queued for it.
pub const OUTPUT_HIGH_WATER: usize = 32 * 1024;
/// The slowest request body accepted, in bytes per second, as Apache's mod_reqtimeout
/// `MinRate`: a body must arrive within the header timeout plus one second per this many
/// bytes received (see [`Exchange::body_too_slow`]).
const MIN_BODY_RATE: u64 = 1024;

/// What the exchange sees of the client connection.
pub struct ClientSide<'a> {
    pub cin: &'a mut Buffer,
    pub cout: &'a mut Buffer,
    pub input_end: InputEnd,
    pub plan: &'a Plan,
    pub https: bool,
}

/// How an exchange failed, and so what the client gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// Nothing of the response was sent yet: answer with `status`; keep the connection when
    /// `keep_alive`.
    Answer { status: Status, keep_alive: bool },
    /// The response was cut after it started: it must not look complete. Where the close of
    /// the connection delimits it, the connection is reset rather than closed.
    Cut {
        status: u16,
        bytes: u64,
        close_delimited: bool,
    },
    /// The client left in the middle of its request body.
    ClientGone,
}

/// A finished exchange.
pub struct Finished {
    pub status: u16,
    pub bytes: u64,
    pub keep_alive: bool,
    /// The upstream connection, when it may carry another request.
    pub upstream: Option<UpstreamConn>,
}

/// What one step of an exchange came to.
pub enum Step {
    Progress(bool),
    Finished(Finished),
    /// A 101 answered the WebSocket request: its head is queued for the client, and the
    /// connection becomes a tunnel.
    Upgraded(UpstreamConn),
    Failed(Failure),
}

enum Response {
    Awaiting,
    Streaming { plan: ResponsePlan, body: Body },
}

pub struct Exchange {
    pub route: usize,
    /// The upstream of the current (or last) attempt, for the access log.
    pub upstream: usize,
    up: Option<UpstreamConn>,
    request: Body,
    response: Response,
    /// Connection attempts that failed.
    attempts: u8,
    /// Connections that ended before any response.
    lost: u8,
    /// When anything last moved in this exchange: the inactivity timeout counts from here.
    last_progress: Instant,
    /// When the upstream became ready for the request: the body's time budget counts from here.
    body_since: Instant,
}

impl Exchange {
    /// Starts forwarding the planned request through `route`. `kept` is the upstream
    /// connection of the previous exchange on this client connection, if it may be reused.
    pub fn start(
        route: usize,
        plan: &Plan,
        kept: Option<UpstreamConn>,
        p: &mut Proxy,
        cx: &mut Cx,
    ) -> Result<Exchange, (Failure, usize)> {
        let mut ex = Exchange {
            route,
            upstream: 0,
            up: None,
            request: Body::new(
                plan.body,
                plan.body == In::Chunked,
                p.shared.config.max_body,
            ),
            response: Response::Awaiting,
            attempts: 0,
            lost: 0,
            last_progress: cx.now,
            body_since: cx.now,
        };
        match ex.acquire(plan, kept, None, p, cx) {
            Ok(()) => Ok(ex),
            Err(failure) => Err((failure, ex.upstream)),
        }
    }

    /// The upstream connection, for events and re-arming.
    pub fn upstream_conn(&mut self) -> Option<&mut UpstreamConn> {
        self.up.as_mut()
    }

    pub fn response_started(&self) -> bool {
        matches!(self.response, Response::Streaming { .. })
    }

    /// Gets a connection to an upstream of the route: the kept one if round robin picked its
    /// upstream and it is still quiet, else a pooled one, else a new connection. A retry
    /// after a lost connection always opens a new one.
    fn acquire(
        &mut self,
        plan: &Plan,
        kept: Option<UpstreamConn>,
        avoid: Option<usize>,
        p: &mut Proxy,
        cx: &mut Cx,
    ) -> Result<(), Failure> {
        let shared = p.shared.clone();
        let Some(route) = shared.config.routes.routes.get(self.route) else {
            return Err(self.gateway_error(plan, Status::BAD_GATEWAY));
        };
        let id = p.ups.pick(self.route, route, avoid, cx.now);
        self.upstream = id;
        if let Some(mut conn) = kept {
            if conn.id == id && self.lost == 0 {
                match conn.still_quiet() {
                    Ok(()) => {
                        conn.phase = Phase::Open { reused: true };
                        self.ready(conn, plan, p, cx);
                        return Ok(());
                    }
                    Err(why) => conn.discard(why, p.upstream_name(id), cx),
                }
            } else {
                conn.release(cx, &mut p.ups);
            }
        }
        if self.lost == 0 {
            if let Some(io) = p.ups.take(id, cx.now) {
                if let Ok(conn) = UpstreamConn::register(cx, io, id, Phase::Open { reused: true }) {
                    self.ready(conn, plan, p, cx);
                    return Ok(());
                }
            }
        }
        self.connect(id, plan, p, cx)
    }

    /// Starts a new connection to `id`, failing over to other addresses and upstreams when the
    /// connect call itself fails.
    fn connect(
        &mut self,
        mut id: usize,
        plan: &Plan,
        p: &mut Proxy,
        cx: &mut Cx,
    ) -> Result<(), Failure> {
        let shared = p.shared.clone();
        let config = &shared.config;
        loop {
            self.upstream = id;
            match p
                .ups
                .connect(id, &config.routes, &shared.resolver, &shared.client_tls)
            {
                Ok((io, _addr)) => {
                    let deadline = cx.now + config.connect_timeout;
                    if let Ok(conn) =
                        UpstreamConn::register(cx, io, id, Phase::Connecting { deadline })
                    {
                        self.up = Some(conn);
                        return Ok(());
                    }
                }
                // The name never resolved: no other address to try.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    return Err(self.gateway_error(plan, Status::BAD_GATEWAY))
                }
                Err(e) if common::event_loop::is_resource_exhaustion(&e) => {
                    // Out of descriptors here: not the upstream's fault, so it is not marked
                    // down. Pooled idle connections are descriptors this worker can give back
                    // at once; retry once they are freed.
                    common::log::exhausted(format_args!("cannot connect to upstreams: {e}"));
                    if p.ups.drop_idle() == 0 {
                        return Err(self.gateway_error(plan, Status::SERVICE_UNAVAILABLE));
                    }
                    continue;
                }
                Err(_) => {}
            }
            p.ups.failed(id, &config.routes, &shared.resolver, cx.now);
            self.attempts = self.attempts.saturating_add(1);
            if self.attempts >= self.max_attempts(p) {
                return Err(self.gateway_error(plan, Status::BAD_GATEWAY));
            }
            let Some(route) = config.routes.routes.get(self.route) else {
                return Err(self.gateway_error(plan, Status::BAD_GATEWAY));
            };
            id = p.ups.pick(self.route, route, Some(id), cx.now);
        }
    }

    /// Tries per request: every upstream of the route once, plus one, at most four.
    fn max_attempts(&self, p: &Proxy) -> u8 {
        let n = p
            .shared
            .config
            .routes
            .routes
            .get(self.route)
            .map_or(1, |r| r.upstreams.len());
        (n + 1).min(4) as u8
    }

    /// The connection is usable: queue the request head.
    fn ready(&mut self, mut conn: UpstreamConn, plan: &Plan, p: &Proxy, cx: &Cx) {
        let routes = &p.shared.config.routes;
        if let (Some(route), Some(upstream)) =
            (routes.routes.get(self.route), routes.upstreams.get(conn.id))
        {
            conn.output.clear();
            plan.write_upstream_head(&mut conn.output, route, upstream);
        }
        self.body_since = cx.now;
        self.last_progress = cx.now;
        self.up = Some(conn);
    }

    fn gateway_error(&self, plan: &Plan, status: Status) -> Failure {
        Failure::Answer {
            status,
            keep_alive: plan.keep_alive && plan.body == In::None,
        }
    }

    /// The attempt failed or timed out: try another address or upstream, or give up with 502
    /// (504 after a timeout).
    fn connect_failed(
        &mut self,
        plan: &Plan,
        timed_out: bool,
        p: &mut Proxy,
        cx: &mut Cx,
    ) -> Result<(), Failure> {
        if let Some(conn) = self.up.take() {
            conn.close(cx);
        }
        let id = self.upstream;
        p.ups
            .failed(id, &p.shared.config.routes, &p.shared.resolver, cx.now);
        self.attempts = self.attempts.saturating_add(1);
        if self.attempts >= self.max_attempts(p) {
            let status = if timed_out {
                Status::GATEWAY_TIMEOUT
            } else {
                Status::BAD_GATEWAY
            };
            return Err(self.gateway_error(plan, status));
        }
        self.acquire(plan, None, Some(id), p, cx)
    }

    /// The upstream closed or failed before sending a response: send a replayable request
    /// (RFC 9110 section 9.2.2) again on a new connection, at most twice; else 502. A reused
    /// connection closing is the usual race with the upstream's idle timeout, so the same
    /// upstream is tried again. A new connection ending without a word means the upstream
    /// itself failed: it is skipped for a while and the retry goes to another upstream of the
    /// route when there is one, so requests in flight when an upstream dies are not lost.
    fn lost(&mut self, plan: &Plan, p: &mut Proxy, cx: &mut Cx) -> Result<(), Failure> {
        let Some(conn) = self.up.take() else {
            return Err(self.gateway_error(plan, Status::BAD_GATEWAY));
        };
        let reused = conn.is_reused();
        conn.close(cx);
        if !plan.replayable || self.lost >= 2 {
            return Err(self.gateway_error(plan, Status::BAD_GATEWAY));
        }
        self.lost += 1;
        let mut id = self.upstream;
        if !reused {
            let shared = p.shared.clone();
            p.ups
                .failed(id, &shared.config.routes, &shared.resolver, cx.now);
            if let Some(route) = shared.config.routes.routes.get(self.route) {
                id = p.ups.pick(self.route, route, Some(id), cx.now);
            }
        }
        self.connect(id, plan, p, cx)
    }

    /// Moves what can move now: connect, request body, upstream I/O, response.
    pub fn step(&mut self, client: ClientSide, p: &mut Proxy, cx: &mut Cx) -> Step {
        match self.advance(client, p, cx) {
            Ok(Step::Progress(true)) => {
                self.last_progress = cx.now;
                Step::Progress(true)
            }
            Ok(step) => step,
            Err(failure) => {
                if let Some(conn) = self.up.take() {
                    conn.close(cx);
                }
                Step::Failed(failure)
            }
        }
    }

    fn advance(
        &mut self,
        mut client: ClientSide,
        p: &mut Proxy,
        cx: &mut Cx,
    ) -> Result<Step, Failure> {
        let plan = client.plan;
        let Some(up) = self.up.as_mut() else {
            return Err(self.gateway_error(plan, Status::BAD_GATEWAY));
        };
        let mut progress = false;
        if matches!(up.phase, Phase::Connecting { .. }) {
            match up.check_connect() {
                Connect::Pending => return Ok(Step::Progress(false)),
                Connect::Failed => {
                    self.connect_failed(plan, false, p, cx)?;
                    return Ok(Step::Progress(true));
                }
                Connect::Done => {
                    p.ups.succeeded(up.id);
                    let conn = self.up.take();
                    if let Some(conn) = conn {
                        self.ready(conn, plan, p, cx);
                    }
                    progress = true;
                }
            }
        }
        let Some(up) = self.up.as_mut() else {
            return Err(self.gateway_error(plan, Status::BAD_GATEWAY));
        };
        if !self.request.is_done() && up.phase != Phase::WriteFailed {
            match self.request.pump(client.cin, &mut up.output) {
                Ok(moved) => {
                    progress |= moved;
                    let client_gone = client.input_end != InputEnd::Open && client.cin.is_empty();
                    if !moved && client_gone && !self.request.is_done() {
                        return Err(Failure::ClientGone);
                    }
                }
                Err(e) if !self.response_started() => {
                    let status = match e {
                        BodyError::TooLarge => Status::CONTENT_TOO_LARGE,
                        BodyError::Malformed(_) => Status::BAD_REQUEST,
                    };
                    return Err(Failure::Answer {
                        status,
                        keep_alive: false,
                    });
                }
                Err(_) => return Err(Failure::ClientGone),
            }
        }
        progress |= up.write(cx.now);
        progress |= up.read();
        if let Response::Awaiting = self.response {
            match self.read_head(&mut client, p, cx)? {
                Some(Step::Progress(moved)) => progress |= moved,
                Some(step) => return Ok(step),
                None => {}
            }
        }
        let Some(up) = self.up.as_mut() else {
            return Ok(Step::Progress(progress));
        };
        let Response::Streaming { plan: rp, body } = &mut self.response else {
            return Ok(Step::Progress(progress));
        };
        let cut = |body: &Body, rp: &ResponsePlan| Failure::Cut {
            status: rp.status,
            bytes: body.total,
            close_delimited: rp.out == Out::Close,
        };
        match body.pump(&mut up.input, client.cout) {
            Ok(moved) => progress |= moved,
            Err(_) => return Err(cut(body, rp)),
        }
        if !body.is_done() && up.input.is_empty() {
            match up.input_end() {
                InputEnd::Open => {}
                // A reset, or TLS without close_notify, is never the end of a body, not even
                // of one delimited by the close.
                InputEnd::Cut => return Err(cut(body, rp)),
                InputEnd::Clean => {
                    if body.at_eof(client.cout).is_err() {
                        return Err(cut(body, rp));
                    }
                }
            }
        }
        if body.is_done() {
            let (status, bytes, keep_alive, reusable) =
                (rp.status, body.total, rp.keep_alive, rp.reusable);
            return Ok(Step::Finished(
                self.finish(status, bytes, keep_alive, reusable, p, cx),
            ));
        }
        Ok(Step::Progress(progress))
    }

    /// Parses the response head once it is all there. `None`: nothing to do yet.
    fn read_head(
        &mut self,
        client: &mut ClientSide,
        p: &mut Proxy,
        cx: &mut Cx,
    ) -> Result<Option<Step>, Failure> {
        let plan = client.plan;
        let Some(up) = self.up.as_mut() else {
            return Ok(None);
        };
        if up.input.is_empty() {
            if up.input_end() != InputEnd::Open {
                self.lost(plan, p, cx)?;
                return Ok(Some(Step::Progress(true)));
            }
            return Ok(None);
        }
        if client.cout.len() >= OUTPUT_HIGH_WATER {
            return Ok(None);
        }
        let client_done = client.input_end != InputEnd::Open && client.cin.is_empty();
        let rcx = response::Context {
            head_request: plan.head_request,
            websocket: plan.websocket,
            client_http10: plan.version == Version::Http10,
            client_keep_alive: plan.keep_alive
                && !cx.draining
                && self.request.is_done()
                && !client_done,
            date: cx.date,
            hsts: p.shared.hsts(client.https),
        };
        match response::plan_response(up.input.filled(), &rcx, client.cout) {
            Ok(Parsed::Partial) => {
                if up.input.is_full() || up.input_end() != InputEnd::Open {
                    return Err(self.gateway_error(plan, Status::BAD_GATEWAY));
                }
                Ok(None)
            }
            Ok(Parsed::Interim { len }) => {
                up.input.consume(len);
                Ok(Some(Step::Progress(true)))
            }
            Ok(Parsed::Final(rp)) => {
                up.input.consume(rp.head_len);
                if rp.upgrade {
                    return Ok(self.up.take().map(Step::Upgraded));
                }
                self.response = Response::Streaming {
                    plan: rp,
                    body: Body::new(rp.body, rp.out == Out::Chunked, u64::MAX),
                };
                Ok(Some(Step::Progress(true)))
            }
            Err(_) => Err(self.gateway_error(plan, Status::BAD_GATEWAY)),
        }
    }

    /// The response ended where its framing said: decide the upstream connection's fate.
    fn finish(
        &mut self,
        status: u16,
        bytes: u64,
        keep_alive: bool,
        reusable: bool,
        p: &mut Proxy,
        cx: &mut Cx,
    ) -> Finished {
        let upstream = match self.up.take() {
            Some(conn) if reusable && self.request.is_done() && !cx.draining => {
                match conn.fit_for_reuse() {
                    Ok(()) => Some(conn),
                    Err(why) => {
                        let name = p.upstream_name(conn.id);
                        conn.discard(why, name, cx);
                        None
                    }
                }
            }
            Some(conn) => {
                conn.close(cx);
                None
            }
            None => None,
        };
        Finished {
            status,
            bytes,
            keep_alive,
            upstream,
        }
    }

    /// The periodic check: connect timeout, slow request body, inactivity.
    pub fn tick(
        &mut self,
        plan: &Plan,
        client_cin: &Buffer,
        p: &mut Proxy,
        cx: &mut Cx,
    ) -> Option<Failure> {
        let now = cx.now;
        let connecting = self.up.as_ref().and_then(|u| match u.phase {
            Phase::Connecting { deadline } => Some(deadline),
            _ => None,
        });
        if let Some(deadline) = connecting {
            if now >= deadline {
                return self.connect_failed(plan, true, p, cx).err();
            }
            return None;
        }
        let header_timeout = p.shared.config.server.header_timeout;
        if self.body_too_slow(now, header_timeout, client_cin) {
            return Some(Failure::Answer {
                status: Status::REQUEST_TIMEOUT,
                keep_alive: false,
            });
        }
        if now.saturating_duration_since(self.last_progress) >= p.shared.config.upstream_timeout {
            return Some(match &self.response {
                Response::Streaming { plan: rp, body } => Failure::Cut {
                    status: rp.status,
                    bytes: body.total,
                    close_delimited: rp.out == Out::Close,
                },
                Response::Awaiting => Failure::Answer {
                    status: Status::GATEWAY_TIMEOUT,
                    keep_alive: false,
                },
            });
        }
        None
    }

    /// Whether the request body is overdue. Each body byte counts as progress, so without
    /// this a client sending a byte every few seconds (slow-body attacks) could hold the
    /// connection and an upstream connection for as long as its body lasts. Like Apache's
    /// mod_reqtimeout, the body must arrive within the header timeout plus one second per
    /// [`MIN_BODY_RATE`] bytes. Only while the exchange waits for the client: no response
    /// yet, and the upstream took everything forwarded so far (else the upstream is the slow
    /// side and the inactivity timeout applies).
    fn body_too_slow(&self, now: Instant, base: Duration, client_cin: &Buffer) -> bool {
        let upstream_waiting = self.up.as_ref().is_some_and(|u| u.output.is_empty());
        if self.request.is_done()
            || self.response_started()
            || !upstream_waiting
            || client_cin.is_full()
        {
            return false;
        }
        let allowed = base + Duration::from_secs(self.request.total / MIN_BODY_RATE);
        now.saturating_duration_since(self.body_since) >= allowed
    }

    /// Ends the exchange early (the client connection is closing): the upstream connection is
    /// closed, never pooled, since a request may be half sent.
    pub fn abandon(mut self, cx: &Cx) {
        if let Some(conn) = self.up.take() {
            conn.close(cx);
        }
    }
}
