//! One request forwarded to an upstream: sending the head the plan wrote once a connection is
//! ready (the `Connector` gets it), streaming the request body, reading and re-framing the
//! response, deciding the connection's fate when the response ends, and the exchange's
//! deadlines ([`deadlines`]).
//!
//! It never writes to the client except the response itself: what went wrong is reported as a
//! [`Failure`], and the client connection (`client.rs`) decides what the client sees. Decisions
//! are the pure modules' (`plan`, `response`, `framing`).

use std::time::Instant;

use common::buffer::Buffer;
use common::conn::InputEnd;
use common::event_loop::Cx;
use common::http::request::Version;
use common::http::status::Status;

use crate::connector::Connector;
use crate::framing::{self, Body, BodyError, In, Out};
use crate::plan::Plan;
use crate::response::{self, Parsed, ResponsePlan};
use crate::service::Proxy;
use crate::upstream_conn::{Connect, Phase, UpstreamConn};

mod deadlines;

/// Stop writing response heads and bodies to the client while this much is queued for it.
pub const OUTPUT_HIGH_WATER: usize = 32 * 1024;

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
    connector: Connector,
    up: Option<UpstreamConn>,
    request: Body,
    response: Response,
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
            connector: Connector::new(route),
            up: None,
            request: Body::new(
                plan.body,
                framing::request_out(plan.body) == Out::Chunked,
                p.shared.config.max_body,
            ),
            response: Response::Awaiting,
            last_progress: cx.now,
            body_since: cx.now,
        };
        match ex.connector.acquire(kept, None, p, cx) {
            Ok(conn) => {
                ex.attach(conn, plan, p, cx);
                Ok(ex)
            }
            Err(status) => Err((ex.gateway_error(plan, status), ex.connector.upstream)),
        }
    }

    /// The upstream of the current (or last) attempt, for the access log.
    pub fn upstream(&self) -> usize {
        self.connector.upstream
    }

    /// The upstream connection, for events and re-arming.
    pub fn upstream_conn(&mut self) -> Option<&mut UpstreamConn> {
        self.up.as_mut()
    }

    pub fn response_started(&self) -> bool {
        matches!(self.response, Response::Streaming { .. })
    }

    /// Takes `conn` on: an open one gets the request head at once, a connecting one once it
    /// is connected.
    fn attach(&mut self, conn: UpstreamConn, plan: &Plan, p: &Proxy, cx: &Cx) {
        if matches!(conn.phase, Phase::Connecting { .. }) {
            self.up = Some(conn);
        } else {
            self.ready(conn, plan, p, cx);
        }
    }

    /// The connection is usable: queue the request head.
    fn ready(&mut self, mut conn: UpstreamConn, plan: &Plan, p: &Proxy, cx: &Cx) {
        let routes = &p.shared.config.routes;
        if let (Some(route), Some(upstream)) = (
            routes.routes.get(self.connector.route),
            routes.upstreams.get(conn.id),
        ) {
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

    /// The attempt failed or timed out: try another address or upstream, or give up.
    fn connect_failed(
        &mut self,
        plan: &Plan,
        timed_out: bool,
        p: &mut Proxy,
        cx: &mut Cx,
    ) -> Result<(), Failure> {
        let Some(conn) = self.up.take() else {
            return Err(self.gateway_error(plan, Status::BAD_GATEWAY));
        };
        match self.connector.connect_failed(conn, timed_out, p, cx) {
            Ok(conn) => {
                self.attach(conn, plan, p, cx);
                Ok(())
            }
            Err(status) => Err(self.gateway_error(plan, status)),
        }
    }

    /// The upstream closed or failed before sending a response (see `Connector::lost`).
    fn lost(&mut self, plan: &Plan, p: &mut Proxy, cx: &mut Cx) -> Result<(), Failure> {
        let Some(conn) = self.up.take() else {
            return Err(self.gateway_error(plan, Status::BAD_GATEWAY));
        };
        match self.connector.lost(conn, plan.replayable, p, cx) {
            Ok(conn) => {
                self.attach(conn, plan, p, cx);
                Ok(())
            }
            Err(status) => Err(self.gateway_error(plan, status)),
        }
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
                    p.upstream_connected(up.id);
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
                    // A body delimited by the end of the client's input (an HTTP/2 stream
                    // without content-length) ends cleanly there; any other is cut.
                    let ended = client_gone
                        && client.input_end == InputEnd::Clean
                        && !self.request.is_done()
                        && self.request.at_eof(&mut up.output).is_ok();
                    progress |= ended;
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
}
