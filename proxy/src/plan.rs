//! The request plan: what the proxy does with one parsed request head, decided once, without
//! I/O. Either an answer the proxy writes itself (health, route index, redirect, error), or a
//! forward through a route, with everything the upstream request needs already computed and
//! owned: the normalised path (see `normalize`), the host, the rewritten fields (see
//! `forward`). The client head is parsed once; its bytes can leave the read buffer at once, and
//! a retry on another upstream writes the same request again from the plan.
//!
//! The route decision and the path sent upstream come from the same normalised path, so an
//! upstream never sees a path outside the route it was chosen for.

use std::net::IpAddr;
use std::ops::Range;

use common::buffer::Buffer;
use common::http::request::{Framing, RequestHead, TargetForm, Version};
use common::http::status::Status;

use crate::forward::{self, RequestRewrite};
use crate::framing::{self, In};
use crate::normalize::normalize_path;
use crate::pages;
use crate::routes::{self, Match, Route, Routes, Upstream};

/// What the plan depends on besides the head.
pub struct Context<'a> {
    pub routes: &'a Routes,
    pub health_path: &'a [u8],
    /// The request arrived over TLS.
    pub https: bool,
    /// On the plain listener of a proxy with HTTPS: the TLS port to redirect to.
    pub redirect_https: Option<u16>,
    pub max_body: u64,
    pub peer: IpAddr,
    /// The peer is a trusted proxy (see `trust`).
    pub trusted: bool,
}

/// An answer the proxy writes itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    Health,
    /// The route index at `/`.
    Index,
    /// An error page.
    Error(Status),
    /// A redirect to [`Plan::location`].
    Redirect(Status),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Answer(Answer),
    Forward { route: usize },
}

/// One request, decided. Reused from request to request on a connection (its buffers keep
/// their allocations until [`Plan::release`]).
#[derive(Debug)]
pub struct Plan {
    pub action: Action,
    pub version: Version,
    pub head_request: bool,
    /// The client asked to keep the connection open. For answers, also that the request has
    /// no body (an unread body cannot be skipped safely); the caller adds shutdown.
    pub keep_alive: bool,
    pub body: In,
    pub expect_continue: bool,
    pub websocket: bool,
    /// Bodyless and idempotent (RFC 9110 section 9.2.2): may be sent again on another
    /// connection when the first one ends before any response.
    pub replayable: bool,
    bytes: Vec<u8>,
    method: Range<usize>,
    /// The normalised path, without the route prefix when the route strips it.
    path: Range<usize>,
    /// `?...` or empty.
    query: Range<usize>,
    /// The host the client asked for: the absolute-form authority, else `Host` (RFC 9112
    /// section 3.2.2); empty for an HTTP/1.0 request without one.
    host: Range<usize>,
    fields: Range<usize>,
    location: Range<usize>,
}

/// Working space for [`Plan::make`], owned by the worker: only the plan's own bytes live as
/// long as the request, so a connection holds one allocation for it, not three.
#[derive(Debug, Default)]
pub struct Scratch {
    normalized: Vec<u8>,
    work: Vec<u8>,
}

impl Default for Plan {
    fn default() -> Self {
        Plan {
            action: Action::Answer(Answer::Error(Status::BAD_REQUEST)),
            version: Version::Http11,
            head_request: false,
            keep_alive: false,
            body: In::None,
            expect_continue: false,
            websocket: false,
            replayable: false,
            bytes: Vec::new(),
            method: 0..0,
            path: 0..0,
            query: 0..0,
            host: 0..0,
            fields: 0..0,
            location: 0..0,
        }
    }
}

/// The authority of an absolute-form target (`http://host:port/...`), validated by the parser.
fn target_authority(target: &[u8]) -> &[u8] {
    let after = target
        .windows(3)
        .position(|w| w == b"://")
        .map_or(target.len(), |i| i + 3);
    let rest = target.get(after..).unwrap_or_default();
    let end = rest
        .iter()
        .position(|&b| b == b'/' || b == b'?')
        .unwrap_or(rest.len());
    &rest[..end]
}

impl Plan {
    /// Decides what to do with `head`.
    pub fn make(&mut self, head: &RequestHead, cx: &Context, scratch: &mut Scratch) {
        self.bytes.clear();
        // One allocation of about the right size, kept for the connection's next requests.
        self.bytes.reserve(head.head_len + 256);
        self.version = head.version;
        self.head_request = head.is_head();
        self.body = match head.framing {
            Framing::None => In::None,
            Framing::Length(n) => In::Length(n),
            Framing::Chunked => In::Chunked,
        };
        self.keep_alive = head.keep_alive;
        self.expect_continue = head.expect_continue && self.body != In::None;
        self.websocket = head.upgrade && forward::is_websocket(head.headers);
        self.replayable = self.body == In::None
            && matches!(
                head.method,
                "GET" | "HEAD" | "OPTIONS" | "TRACE" | "PUT" | "DELETE"
            );
        self.method = self.put(head.method.as_bytes());
        let host = if head.form == TargetForm::Absolute {
            target_authority(head.target)
        } else {
            head.host
        };
        self.host = self.put(host);
        self.path = 0..0;
        self.query = 0..0;
        self.fields = 0..0;
        self.location = 0..0;
        self.action = self.decide(head, cx, scratch);
        if matches!(self.action, Action::Answer(_)) {
            // An answer leaves a body unread: the connection cannot go on after it.
            self.keep_alive &= self.body == In::None;
        }
    }

    fn decide(&mut self, head: &RequestHead, cx: &Context, scratch: &mut Scratch) -> Action {
        let error = |status| Action::Answer(Answer::Error(status));
        match head.form {
            TargetForm::Authority => return error(Status::METHOD_NOT_ALLOWED),
            TargetForm::Asterisk => return error(Status::NOT_FOUND),
            TargetForm::Origin | TargetForm::Absolute => {}
        }
        let (raw_path, query) = routes::split_target(head.target);
        let Scratch { normalized, work } = scratch;
        if normalize_path(raw_path, normalized, work).is_err() {
            // The head itself was well framed: the connection can go on (unless a body was
            // announced, see `make`).
            return error(Status::BAD_REQUEST);
        }
        self.query = self.put(query);
        self.route(head, cx, normalized, work)
    }

    fn route(
        &mut self,
        head: &RequestHead,
        cx: &Context,
        path: &[u8],
        work: &mut Vec<u8>,
    ) -> Action {
        if path == cx.health_path {
            return Action::Answer(Answer::Health);
        }
        if let Some(tls_port) = cx.redirect_https {
            work.clear();
            let query = self.query.clone();
            let ok = pages::https_location(
                &self.bytes[self.host.clone()],
                tls_port,
                path,
                &self.bytes[query],
                work,
            );
            self.location = self.put(work);
            if !ok {
                return Action::Answer(Answer::Error(Status::BAD_REQUEST));
            }
            return Action::Answer(Answer::Redirect(Status::PERMANENT_REDIRECT));
        }
        match cx.routes.find(path) {
            Match::NotFound if path == b"/" => Action::Answer(Answer::Index),
            Match::NotFound => Action::Answer(Answer::Error(Status::NOT_FOUND)),
            Match::AddSlash => {
                let start = self.bytes.len();
                self.bytes.extend_from_slice(path);
                self.bytes.push(b'/');
                self.bytes.extend_from_within(self.query.clone());
                self.location = start..self.bytes.len();
                Action::Answer(Answer::Redirect(if matches!(head.method, "GET" | "HEAD") {
                    Status::MOVED_PERMANENTLY
                } else {
                    Status::PERMANENT_REDIRECT
                }))
            }
            Match::Forward { route } => {
                if matches!(self.body, In::Length(n) if n > cx.max_body) {
                    self.keep_alive = false;
                    return Action::Answer(Answer::Error(Status::CONTENT_TOO_LARGE));
                }
                let Some(r) = cx.routes.routes.get(route) else {
                    return Action::Answer(Answer::Error(Status::NOT_FOUND));
                };
                let rest = if r.strip && r.prefix != "/" {
                    path.get(r.prefix.len()..).unwrap_or_default()
                } else {
                    path
                };
                self.path = self.put(rest);
                work.clear();
                let rewrite = RequestRewrite {
                    client_host: &self.bytes[self.host.clone()],
                    client_ip: cx.peer,
                    trusted: cx.trusted,
                    https: cx.https,
                    http10: head.version == Version::Http10,
                    body: framing::request_out(self.body),
                    websocket: self.websocket,
                };
                forward::write_request_fields(work, head.headers, &rewrite);
                self.fields = self.put(work);
                Action::Forward { route }
            }
        }
    }

    fn put(&mut self, bytes: &[u8]) -> Range<usize> {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(bytes);
        start..self.bytes.len()
    }

    /// The `Location` of a redirect.
    pub fn location(&self) -> &[u8] {
        &self.bytes[self.location.clone()]
    }

    /// The request-target sent upstream: the upstream's base path, the (stripped) normalised
    /// path, the query.
    pub fn upstream_target(&self, upstream: &Upstream, out: &mut impl common::buffer::Sink) {
        out.put(upstream.base.as_bytes());
        let path = &self.bytes[self.path.clone()];
        out.put(if path.is_empty() { b"/" } else { path });
        out.put(&self.bytes[self.query.clone()]);
    }

    /// Writes the whole request head for `upstream` of `route`.
    pub fn write_upstream_head(&self, out: &mut Buffer, route: &Route, upstream: &Upstream) {
        out.push(&self.bytes[self.method.clone()]);
        out.push(b" ");
        self.upstream_target(upstream, out);
        out.push(b" HTTP/1.1\r\nHost: ");
        let host = &self.bytes[self.host.clone()];
        if route.upstream_host || host.is_empty() {
            out.push(upstream.authority.as_bytes());
        } else {
            out.push(host);
        }
        out.push(b"\r\n");
        out.push(&self.bytes[self.fields.clone()]);
        out.push(b"\r\n");
    }

    /// Frees the buffer (an idle connection).
    pub fn release(&mut self) {
        self.bytes = Vec::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::http::request::{header_storage, parse, Limits};

    fn table() -> Routes {
        Routes::parse([
            "/api=http://api:1/base",
            "/k=http://k:1;keep-prefix",
            "/h=http://h:1;upstream-host",
        ])
        .unwrap()
    }

    /// Plans `raw` and returns the action and the upstream head (for forwards).
    fn plan_with(raw: &str, routes: &Routes, redirect: Option<u16>) -> (Action, String) {
        let mut storage = header_storage();
        let head = parse(raw.as_bytes(), &mut storage, &Limits::default())
            .unwrap()
            .unwrap();
        let cx = Context {
            routes,
            health_path: b"/healthz",
            https: false,
            redirect_https: redirect,
            max_body: 100,
            peer: "192.0.2.1".parse().unwrap(),
            trusted: false,
        };
        let mut plan = Plan::default();
        plan.make(&head, &cx, &mut Scratch::default());
        let text = match plan.action {
            Action::Forward { route } => {
                let r = &routes.routes[route];
                let mut out = Buffer::new(4096);
                plan.write_upstream_head(&mut out, r, &routes.upstreams[r.upstreams[0]]);
                String::from_utf8(out.filled().to_vec()).unwrap()
            }
            Action::Answer(Answer::Redirect(_)) => {
                String::from_utf8(plan.location().to_vec()).unwrap()
            }
            Action::Answer(_) => String::new(),
        };
        (plan.action, text)
    }

    fn plan(raw: &str) -> (Action, String) {
        plan_with(raw, &table(), None)
    }

    fn get(target: &str) -> (Action, String) {
        plan(&format!(
            "GET {target} HTTP/1.1\r\nHost: good.example\r\n\r\n"
        ))
    }

    fn request_line(target: &str) -> Option<String> {
        match get(target) {
            (Action::Forward { .. }, head) => head.lines().next().map(str::to_string),
            _ => None,
        }
    }

    const BAD: Action = Action::Answer(Answer::Error(Status::BAD_REQUEST));
    const NOT_FOUND: Action = Action::Answer(Answer::Error(Status::NOT_FOUND));

    /// Finding 2 of the proxy-core review: paths went upstream with their dot segments.
    #[test]
    fn dot_segments_never_leave_the_route() {
        let cases: &[(&str, Result<&str, Action>)] = &[
            ("/api/x", Ok("GET /base/x HTTP/1.1")),
            ("/api/", Ok("GET /base/ HTTP/1.1")),
            ("/api/a/../b", Ok("GET /base/b HTTP/1.1")),
            ("/api/./b", Ok("GET /base/b HTTP/1.1")),
            ("/api/%2e/b", Ok("GET /base/b HTTP/1.1")),
            ("/api/a/%2e%2e/b", Ok("GET /base/b HTTP/1.1")),
            ("/api/a/.%2E/b?q=../x", Ok("GET /base/b?q=../x HTTP/1.1")),
            ("/api/%41%7e", Ok("GET /base/A~ HTTP/1.1")),
            ("/api/a%3ab", Ok("GET /base/a%3Ab HTTP/1.1")),
            ("/api/../admin", Err(NOT_FOUND)),
            ("/api/%2e%2e/admin", Err(NOT_FOUND)),
            ("/api/%2E%2E/admin", Err(NOT_FOUND)),
            ("/api/.%2e/admin", Err(NOT_FOUND)),
            ("/api/x/../../admin", Err(NOT_FOUND)),
            ("/api/x/./../../admin", Err(NOT_FOUND)),
            ("/api/../k/x", Ok("GET /k/x HTTP/1.1")),
            ("/k/../internal", Err(NOT_FOUND)),
            ("/k/a/../b", Ok("GET /k/b HTTP/1.1")),
            ("/k/%2e%2e/internal", Err(NOT_FOUND)),
            ("/api/..%2fadmin", Err(BAD)),
            ("/api/..%2Fadmin", Err(BAD)),
            ("/api/%2e%2e%2fadmin", Err(BAD)),
            ("/api/..%5cadmin", Err(BAD)),
            ("/api/..\\admin", Err(BAD)),
            ("/api/..;/admin", Err(BAD)),
            ("/api/.;/admin", Err(BAD)),
            ("/api/%2e%2e;x/admin", Err(BAD)),
            ("/api/%", Err(BAD)),
            ("/api/%g0", Err(BAD)),
            ("/../api/x", Err(BAD)),
            ("/api/../../x", Err(BAD)),
            ("/%2e%2e/api/x", Err(BAD)),
            ("http://x/api/../admin", Err(NOT_FOUND)),
            ("http://x/api/a/../b", Ok("GET /base/b HTTP/1.1")),
            ("http://x/api/%2e%2e/%2e%2e/etc", Err(BAD)),
        ];
        assert!(cases.len() >= 30);
        for (target, want) in cases {
            match want {
                Ok(line) => assert_eq!(request_line(target).as_deref(), Some(*line), "{target}"),
                Err(action) => assert_eq!(get(target).0, *action, "{target}"),
            }
        }
        // With a catch-all route, what climbs out of /api must reach "/" routing, not /api's.
        let with_root = Routes::parse(["/api=http://api:1", "/=http://root:1/r"]).unwrap();
        let (action, head) = plan_with(
            "GET /api/../admin HTTP/1.1\r\nHost: h\r\n\r\n",
            &with_root,
            None,
        );
        assert!(
            matches!(action, Action::Forward { route } if with_root.routes[route].prefix == "/")
        );
        assert!(head.starts_with("GET /r/admin HTTP/1.1\r\n"), "{head}");
    }

    /// Finding 7: the authority of an absolute-form target replaces Host (RFC 9112 3.2.2).
    #[test]
    fn absolute_form_authority_is_the_host() {
        let (_, head) =
            plan("GET http://evil.example/api/x HTTP/1.1\r\nHost: good.example\r\n\r\n");
        assert!(head.contains("\r\nHost: evil.example\r\n"), "{head}");
        assert!(!head.contains("good.example"), "{head}");
        let (_, head) = get("/h/x");
        assert!(head.contains("\r\nHost: h:1\r\n"), "upstream-host: {head}");
        let (_, head) = plan("GET /api/x HTTP/1.0\r\n\r\n");
        assert!(head.contains("\r\nHost: api:1\r\n"), "no Host: {head}");
    }

    #[test]
    fn local_answers() {
        assert_eq!(get("/healthz").0, Action::Answer(Answer::Health));
        assert_eq!(get("/").0, Action::Answer(Answer::Index));
        assert_eq!(get("/nope").0, NOT_FOUND);
        assert_eq!(
            get("/api?x").0,
            Action::Answer(Answer::Redirect(Status::MOVED_PERMANENTLY))
        );
        assert_eq!(get("/api?x").1, "/api/?x");
        let post = plan("POST /api HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n\r\nx");
        assert_eq!(
            post.0,
            Action::Answer(Answer::Redirect(Status::PERMANENT_REDIRECT))
        );
        let big = plan("POST /api/ HTTP/1.1\r\nHost: h\r\nContent-Length: 101\r\n\r\n");
        assert_eq!(
            big.0,
            Action::Answer(Answer::Error(Status::CONTENT_TOO_LARGE))
        );
        let connect = plan("CONNECT h:1 HTTP/1.1\r\nHost: h:1\r\n\r\n");
        assert_eq!(
            connect.0,
            Action::Answer(Answer::Error(Status::METHOD_NOT_ALLOWED))
        );
        let (action, location) = plan_with(
            "GET /api/a/../b?q HTTP/1.1\r\nHost: good.example:8080\r\n\r\n",
            &table(),
            Some(8443),
        );
        assert_eq!(
            action,
            Action::Answer(Answer::Redirect(Status::PERMANENT_REDIRECT))
        );
        assert_eq!(location, "https://good.example:8443/api/b?q");
        let (health, _) = plan_with(
            "GET /healthz HTTP/1.1\r\nHost: h\r\n\r\n",
            &table(),
            Some(8443),
        );
        assert_eq!(health, Action::Answer(Answer::Health));
    }

    #[test]
    fn forwarding_fields_are_set_afresh() {
        let (_, head) = plan(
            "GET /api/x HTTP/1.1\r\nHost: good.example\r\nX-Forwarded-For: 6.6.6.6\r\n\
             X_Forwarded_For: 6.6.6.6\r\nForwarded: for=6.6.6.6\r\nX-Real-IP: 6.6.6.6\r\n\r\n",
        );
        assert!(!head.contains("6.6.6.6"), "{head}");
        assert!(head.contains("X-Forwarded-For: 192.0.2.1\r\n"), "{head}");
        assert!(head.ends_with("\r\n\r\n") && !head.ends_with("\r\n\r\n\r\n"));
    }
}
