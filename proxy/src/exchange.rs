//! The upstream-facing half of a session: getting an upstream connection (the one already
//! attached, a pooled one, or a new non-blocking connect with failover), writing the rewritten
//! request head, reading and re-framing the response, retrying an idempotent request once when a
//! reused connection turns out dead, 502/504 answers, WebSocket tunnelling, and returning
//! healthy connections to the pool.
//!
//! Decisions are delegated to the pure modules (`forward`, `framing`, `routes`); this file only
//! sequences them against the sockets of one [`Conn`].

use std::io;

use common::event_loop::{Cx, Side};
use common::http::headers::{self, has_token};
use common::http::request::{self, header_storage, parse_content_length, Version, MAX_HEADERS};
use common::http::status::Status;
use common::transport::ReadOutcome;
use mio::Interest;

use crate::forward::{self, RequestRewrite, ResponseRewrite};
use crate::framing::{self, Body, In, Out};
use crate::routes;
use crate::service::Proxy;
use crate::session::{tunnel_copy, Close, Conn, State, Step, Up};
use crate::stream::Stream;

/// Most header lines accepted in an upstream response head.
const MAX_RESPONSE_HEADERS: usize = 100;

impl Conn {
    /// Gets a connection to an upstream of the current route: the attached one if it is the
    /// upstream round robin picked, else a pooled one, else a new connection.
    pub fn acquire(&mut self, p: &mut Proxy, cx: &mut Cx, avoid: Option<usize>) -> Step {
        let Some(route) = p.shared.config.routes.routes.get(self.ex.route) else {
            return Err(Close);
        };
        let id = p.ups.pick(self.ex.route, route, avoid, cx.now);
        self.ex.upstream = id;
        if let Some(up) = &mut self.up {
            if up.id == id && !up.connecting && !up.eof && !up.write_failed && !self.ex.retried {
                up.reused = true;
                return self.upstream_ready(p, cx);
            }
        }
        self.detach_upstream(p, cx);
        if !self.ex.retried {
            if let Some(mut stream) = p.ups.take(id, cx.now) {
                stream.ready.readable = false;
                stream.ready.writable = true;
                stream.ready.hup = false;
                if self.attach(cx, stream, id, false) {
                    if let Some(up) = &mut self.up {
                        up.reused = true;
                    }
                    return self.upstream_ready(p, cx);
                }
            }
        }
        self.connect(p, cx, id)
    }

    /// Starts a new connection to `id`, failing over to other addresses/upstreams when the
    /// connect call itself fails.
    fn connect(&mut self, p: &mut Proxy, cx: &mut Cx, mut id: usize) -> Step {
        loop {
            let shared = &*p.shared;
            match p.ups.connect(
                id,
                &shared.config.routes,
                &shared.resolver,
                &shared.client_tls,
            ) {
                Ok((stream, _addr)) => {
                    if self.attach(cx, stream, id, true) {
                        self.ex.upstream = id;
                        self.ex.deadline = cx.now + shared.config.connect_timeout;
                        self.state = State::Connecting;
                        return Ok(true);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    // The name never resolved: no other address to try.
                    self.ex.attempts = u8::MAX;
                }
                Err(e) if common::event_loop::is_resource_exhaustion(&e) => {
                    // Out of descriptors here: not the upstream's fault, so it is not marked
                    // down. Pooled idle connections are descriptors this worker can give back
                    // at once (the connection limit does not count them); retry once freed.
                    common::log::exhausted(format_args!("cannot connect to upstreams: {e}"));
                    if p.ups.drop_idle() == 0 {
                        self.gateway_error(p, cx, Status::SERVICE_UNAVAILABLE);
                        return Ok(true);
                    }
                    continue;
                }
                Err(_) => {}
            }
            p.ups
                .failed(id, &shared.config.routes, &shared.resolver, cx.now);
            self.ex.attempts = self.ex.attempts.saturating_add(1);
            if self.ex.attempts >= self.max_attempts(p) {
                self.gateway_error(p, cx, Status::BAD_GATEWAY);
                return Ok(true);
            }
            let Some(route) = p.shared.config.routes.routes.get(self.ex.route) else {
                return Err(Close);
            };
            id = p.ups.pick(self.ex.route, route, Some(id), cx.now);
        }
    }

    fn max_attempts(&self, p: &Proxy) -> u8 {
        let n = p
            .shared
            .config
            .routes
            .routes
            .get(self.ex.route)
            .map_or(1, |r| r.upstreams.len());
        (n + 1).min(4) as u8
    }

    /// Registers `stream` as this connection's upstream socket.
    fn attach(&mut self, cx: &mut Cx, mut stream: Stream, id: usize, connecting: bool) -> bool {
        let token = cx.token(Side::Upstream);
        if cx
            .registry
            .register(
                stream.socket(),
                token,
                Interest::READABLE | Interest::WRITABLE,
            )
            .is_err()
        {
            return false;
        }
        self.up = Some(Up {
            stream,
            id,
            connecting,
            reused: false,
            eof: false,
            read_failed: false,
            write_failed: false,
        });
        true
    }

    /// Completes a non-blocking connect once the socket reports writable (or an error).
    pub fn check_connect(&mut self, p: &mut Proxy, cx: &mut Cx) -> Step {
        let Some(up) = &mut self.up else {
            return Ok(false);
        };
        if !up.connecting || !(up.stream.ready.writable || up.stream.ready.hup) {
            return Ok(false);
        }
        let sock = up.stream.socket();
        let failed = match sock.take_error() {
            Ok(Some(_)) | Err(_) => true,
            Ok(None) => match sock.peer_addr() {
                Ok(_) => false,
                Err(e) if e.kind() == io::ErrorKind::NotConnected && !up.stream.ready.hup => {
                    up.stream.ready.writable = false;
                    return Ok(false);
                }
                Err(_) => true,
            },
        };
        if failed {
            self.connect_failed(p, cx);
            return Ok(true);
        }
        up.connecting = false;
        p.ups.succeeded(up.id);
        self.upstream_ready(p, cx)
    }

    /// The connection attempt failed or timed out: try another address or upstream, or answer
    /// 502 (504 after a timeout).
    pub fn connect_failed(&mut self, p: &mut Proxy, cx: &mut Cx) {
        let id = self.ex.upstream;
        self.drop_upstream(cx);
        p.ups
            .failed(id, &p.shared.config.routes, &p.shared.resolver, cx.now);
        self.ex.attempts = self.ex.attempts.saturating_add(1);
        if self.ex.attempts >= self.max_attempts(p) {
            let status = if self.ex.timed_out {
                Status::GATEWAY_TIMEOUT
            } else {
                Status::BAD_GATEWAY
            };
            self.gateway_error(p, cx, status);
            return;
        }
        let _ = self.acquire(p, cx, Some(id));
    }

    /// The upstream connection is usable: send the request head.
    fn upstream_ready(&mut self, p: &mut Proxy, cx: &mut Cx) -> Step {
        self.state = State::Exchange;
        self.ex.deadline = cx.now + p.shared.config.upstream_timeout;
        self.ex.since = cx.now;
        self.uin.clear();
        self.uout.clear();
        if !self.write_upstream_head(p) {
            return Err(Close);
        }
        Ok(true)
    }

    /// Writes the rewritten request head into `uout`; the client head is re-parsed from `cin`,
    /// where it stays until then (and, for replayable requests, until the response arrives).
    fn write_upstream_head(&mut self, p: &mut Proxy) -> bool {
        let shared = &*p.shared;
        let routes = &shared.config.routes;
        let (Some(route), Some(up)) = (
            routes.routes.get(self.ex.route),
            routes.upstreams.get(self.ex.upstream),
        ) else {
            return false;
        };
        let mut storage: [httparse::Header<'_>; MAX_HEADERS] = header_storage();
        let limits = request::Limits::default();
        let Ok(Some(head)) = request::parse(self.cin.filled(), &mut storage, &limits) else {
            return false;
        };
        let (path, query) = routes::split_target(head.target);
        p.scratch.clear();
        routes::upstream_target(&mut p.scratch, &up.base, route, path, query);
        let host = if route.upstream_host || head.host.is_empty() {
            up.authority.as_bytes()
        } else {
            head.host
        };
        let rewrite = RequestRewrite {
            method: head.method,
            target: &p.scratch,
            host,
            client_host: head.host,
            client_ip: self.peer.ip(),
            https: self.https,
            http10: head.version == Version::Http10,
            body: framing::request_out(self.ex.req_in),
            websocket: self.ex.websocket,
        };
        forward::write_request_head(&mut self.uout, head.headers, &rewrite);
        if !self.ex.replayable {
            self.cin.consume(self.ex.head_len);
            self.ex.head_in_cin = false;
        }
        true
    }

    pub fn write_upstream(&mut self, cx: &mut Cx) -> Step {
        let _ = cx;
        let Some(up) = &mut self.up else {
            return Ok(false);
        };
        if up.write_failed {
            self.uout.clear();
            return Ok(false);
        }
        if up.connecting || !up.stream.wants_write(&self.uout) {
            return Ok(false);
        }
        let before = (self.uout.len(), up.stream.has_pending_output());
        if up.stream.write(&mut self.uout).is_err() {
            up.write_failed = true;
            self.uout.clear();
            return Ok(true);
        }
        Ok(before != (self.uout.len(), up.stream.has_pending_output()))
    }

    pub fn read_upstream(&mut self) -> Step {
        let Some(up) = &mut self.up else {
            return Ok(false);
        };
        if up.connecting || up.eof || !up.stream.ready.readable || self.uin.is_full() {
            return Ok(false);
        }
        let before = self.uin.len();
        match up.stream.read(&mut self.uin) {
            Ok(ReadOutcome::Eof) => {
                up.eof = true;
                Ok(true)
            }
            Err(_) => {
                up.eof = true;
                up.read_failed = true;
                Ok(true)
            }
            // TLS handshake records may be waiting to go out after a read.
            Ok(_) => Ok(self.uin.len() > before
                || (up.stream.ready.writable && up.stream.has_pending_output())),
        }
    }

    fn upstream_eof(&self) -> bool {
        self.up.as_ref().map_or(true, |u| u.eof)
    }

    /// Parses the response head, then moves the response body towards the client.
    pub fn handle_response(&mut self, p: &mut Proxy, cx: &mut Cx) -> Step {
        let mut progress = false;
        if self.ex.resp.is_none() {
            if self.uin.is_empty() {
                if self.upstream_eof() {
                    return self.upstream_lost(p, cx);
                }
                return Ok(false);
            }
            progress |= self.parse_response(p, cx)?;
            if self.state != State::Exchange || self.ex.resp.is_none() {
                return Ok(progress);
            }
        }
        let eof = self.upstream_eof();
        let failed = self.up.as_ref().is_some_and(|u| u.read_failed);
        let Some(body) = &mut self.ex.resp else {
            return Ok(progress);
        };
        let pumped = body.pump(&mut self.uin, &mut self.cout);
        let mut truncated = pumped.is_err();
        progress |= pumped.unwrap_or(true);
        if !truncated && !body.is_done() && eof && self.uin.is_empty() {
            // A reset is never the end of a body, not even of one delimited by the close.
            truncated = failed || body.at_eof(&mut self.cout).is_err();
            progress = true;
        }
        if truncated {
            // Never let a cut response look complete: no last chunk, and the connection closes.
            // Where the close itself delimits the body, a FIN would read as the end of a
            // complete response: reset the connection instead.
            if self.ex.resp_close_delimited {
                self.client.abort();
                return Err(Close);
            }
            self.enter_closing(cx);
            return Ok(true);
        }
        if body.is_done() {
            self.finish_exchange(p, cx);
            progress = true;
        }
        Ok(progress)
    }

    fn parse_response(&mut self, p: &mut Proxy, cx: &mut Cx) -> Step {
        let mut hs = [httparse::EMPTY_HEADER; MAX_RESPONSE_HEADERS];
        let mut resp = httparse::Response::new(&mut hs);
        let n = match resp.parse(self.uin.filled()) {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) if !self.uin.is_full() && !self.upstream_eof() => {
                return Ok(false)
            }
            _ => {
                self.gateway_error(p, cx, Status::BAD_GATEWAY);
                return Ok(true);
            }
        };
        let status = resp.code.unwrap_or(0);
        if (100..200).contains(&status) && status != 101 {
            // Interim responses are not forwarded (Expect is answered by the proxy itself).
            self.uin.consume(n);
            return Ok(true);
        }
        let framing = if status == 101 && self.ex.websocket {
            Ok(framing::ResponseFraming {
                body: In::None,
                reusable: false,
            })
        } else if status == 101 {
            Err("101 without an upgrade request")
        } else {
            framing::response_framing(status, self.ex.method_head, resp.headers)
        };
        let Ok(framing) = framing else {
            self.gateway_error(p, cx, Status::BAD_GATEWAY);
            return Ok(true);
        };
        let upgrade = status == 101;
        let out = framing::client_framing(framing.body, !self.ex.http10);
        self.ex.resp_close_delimited = out == Out::Close;
        let close = has_token(headers::values(resp.headers, "connection"), "close");
        let upstream_keep_alive = if resp.version == Some(1) {
            !close
        } else {
            has_token(headers::values(resp.headers, "connection"), "keep-alive") && !close
        };
        self.ex.resp_reusable = framing.reusable && upstream_keep_alive;
        let keep_alive = self.ex.keep_alive
            && !cx.draining
            && out != Out::Close
            && self.ex.req.is_done()
            && !self.client_eof;
        self.ex.resp_keep_alive = keep_alive;
        let passthrough_length = if framing.body == In::None && status >= 200 && status != 204 {
            headers::find(resp.headers, "content-length").and_then(parse_content_length)
        } else {
            None
        };
        let rewrite = ResponseRewrite {
            status,
            reason: resp.reason.unwrap_or("").as_bytes(),
            upstream_http10: resp.version == Some(0),
            body: out,
            passthrough_length,
            keep_alive,
            client_http10: self.ex.http10,
            date: cx.date,
            hsts: p.shared.hsts(self.https),
            upgrade,
        };
        forward::write_response_head(&mut self.cout, resp.headers, &rewrite);
        self.uin.consume(n);
        self.ex.status = status;
        if self.ex.head_in_cin {
            self.cin.consume(self.ex.head_len);
            self.ex.head_in_cin = false;
        }
        if upgrade {
            self.log_entry(p, cx, status, 0, Some(self.ex.upstream));
            self.state = State::Tunnel;
            self.ex.deadline = cx.now + p.shared.config.upstream_timeout;
            return Ok(true);
        }
        self.ex.resp = Some(Body::new(framing.body, out == Out::Chunked, u64::MAX));
        Ok(true)
    }

    /// The upstream closed or failed before sending a response: retry a replayable request
    /// (bodyless, idempotent: RFC 9110 §9.2.2 allows it) on a fresh connection, at most twice;
    /// else 502. A reused keep-alive connection closing is the usual race with the upstream's
    /// idle timeout, so the same upstream is tried again. A fresh connection ending without a
    /// word means the upstream itself failed (it died, or is dying and still accepted): it is
    /// skipped for a while and the retry goes to another upstream of the route when there is
    /// one, so requests in flight when an upstream dies are not lost.
    fn upstream_lost(&mut self, p: &mut Proxy, cx: &mut Cx) -> Step {
        let reused = self.up.as_ref().is_some_and(|u| u.reused);
        if self.ex.replayable && self.ex.head_in_cin && self.ex.lost < 2 {
            self.drop_upstream(cx);
            self.ex.retried = true;
            self.ex.lost += 1;
            let mut id = self.ex.upstream;
            if !reused {
                let shared = &*p.shared;
                p.ups
                    .failed(id, &shared.config.routes, &shared.resolver, cx.now);
                if let Some(route) = shared.config.routes.routes.get(self.ex.route) {
                    id = p.ups.pick(self.ex.route, route, Some(id), cx.now);
                }
            }
            return self.connect(p, cx, id);
        }
        self.gateway_error(p, cx, Status::BAD_GATEWAY);
        Ok(true)
    }

    /// Answers 502/504 when nothing of the response was sent yet, else closes.
    pub fn gateway_error(&mut self, p: &mut Proxy, cx: &mut Cx, status: Status) {
        self.drop_upstream(cx);
        if self.ex.resp.is_some() {
            self.enter_closing(cx);
            return;
        }
        let keep_alive = self.ex.keep_alive && self.ex.req_in == In::None;
        let head_len = if self.ex.head_in_cin {
            self.ex.head_len
        } else {
            0
        };
        self.ex.head_in_cin = false;
        let version = if self.ex.http10 {
            Version::Http10
        } else {
            Version::Http11
        };
        let upstream = self.ex.upstream;
        self.answer_upstream(p, cx, status, version, keep_alive, head_len, upstream);
    }

    fn finish_exchange(&mut self, p: &mut Proxy, cx: &mut Cx) {
        let bytes = self.ex.resp.as_ref().map_or(0, |b| b.total);
        self.log_entry(p, cx, self.ex.status, bytes, Some(self.ex.upstream));
        self.ex.resp = None;
        let healthy = self.up.as_ref().is_some_and(|u| !u.eof && !u.write_failed);
        let reusable = self.ex.resp_reusable
            && self.ex.req.is_done()
            && healthy
            && self.uin.is_empty()
            && self.uout.is_empty()
            && !cx.draining;
        if !reusable {
            self.drop_upstream(cx);
        }
        if self.ex.resp_keep_alive && !self.client_eof && !cx.draining {
            self.state = State::Head;
            self.head_since = cx.now;
        } else {
            self.state = State::Closing;
            self.close_at = cx.now + crate::session::LINGER;
            self.cin.clear();
        }
    }

    /// WebSocket tunnel: copy both ways, pass half-closes on, close when both sides are done.
    pub fn tunnel_step(&mut self, cx: &mut Cx) -> Step {
        let _ = cx;
        let mut progress = tunnel_copy(&mut self.uin, &mut self.cout);
        let Some(up) = &mut self.up else {
            return Err(Close);
        };
        if up.write_failed {
            return Err(Close);
        }
        if self.client_eof && self.cin.is_empty() && self.uout.is_empty() && !self.ex.tunnel_up_shut
        {
            up.stream.close_write();
            self.ex.tunnel_up_shut = true;
            progress = true;
        }
        if up.eof && self.uin.is_empty() && self.cout.is_empty() && !self.ex.tunnel_client_shut {
            self.client.close_write();
            self.ex.tunnel_client_shut = true;
            progress = true;
        }
        if self.ex.tunnel_up_shut && self.ex.tunnel_client_shut {
            return Err(Close);
        }
        Ok(progress)
    }

    /// An attached upstream with no exchange must stay silent; anything it says ends it.
    pub fn check_idle_upstream(&mut self, cx: &mut Cx) -> bool {
        if self.up.as_ref().is_some_and(|u| u.eof || u.write_failed) || !self.uin.is_empty() {
            self.drop_upstream(cx);
        }
        false
    }

    /// Returns a healthy idle upstream connection to the pool (or closes it).
    pub fn detach_upstream(&mut self, p: &mut Proxy, cx: &mut Cx) {
        let Some(mut up) = self.up.take() else {
            return;
        };
        let _ = cx.registry.deregister(up.stream.socket());
        let healthy = !up.connecting
            && !up.eof
            && !up.write_failed
            && self.uin.is_empty()
            && self.uout.is_empty();
        if healthy && !cx.draining && !up.stream.has_pending_output() {
            p.ups.put(up.id, up.stream, cx.now);
        }
        self.uin.clear();
        self.uout.clear();
    }

    /// Closes the upstream connection, if any.
    pub fn drop_upstream(&mut self, cx: &mut Cx) {
        if let Some(mut up) = self.up.take() {
            let _ = cx.registry.deregister(up.stream.socket());
        }
        self.uin.clear();
        self.uout.clear();
    }

    #[allow(clippy::too_many_arguments)]
    fn answer_upstream(
        &mut self,
        p: &mut Proxy,
        cx: &mut Cx,
        status: Status,
        version: Version,
        keep_alive: bool,
        head_len: usize,
        upstream: usize,
    ) {
        self.log_upstream = Some(upstream);
        self.answer(p, cx, status, Some(version), keep_alive, head_len);
        self.log_upstream = None;
    }
}
