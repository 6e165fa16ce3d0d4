//! One HTTP/2 stream: its request turned into an HTTP/1.1 head (by `h2::gateway`) and run
//! through the same parser, plan and [`Exchange`] as an HTTP/1.1 request, its request body
//! moved from DATA frames into the exchange's input, and the exchange's HTTP/1.1 response
//! turned back into HEADERS and DATA frames within the flow-control windows.
//!
//! Bounded: the stream's input buffer is at least the receive window it grants, so DATA that
//! respects flow control always fits; WINDOW_UPDATE is sent only for room the exchange freed.
//! The response waits in the stream's output buffer (the exchange's `cout`, capped like an
//! HTTP/1.1 client's) while the send window is closed, and the exchange then stops reading its
//! upstream: a client that reads one stream slowly costs a fixed amount, never more.

use common::buffer::Buffer;
use common::conn::InputEnd;
use common::event_loop::Cx;
use common::http::request::{self, header_storage, Version};
use common::http::response::Canned;
use common::http::status::Status;

use super::kept::Kept;
use crate::access::LogInfo;
use crate::exchange::{ClientSide, Exchange, Failure, Step};
use crate::forward::NAME;
use crate::framing::In;
use crate::pages;
use crate::plan::{Action, Answer, Plan};
use crate::service::Proxy;
use proxy::chunked::Decoder;
use proxy::h2::frame::{self, ErrorCode};
use proxy::h2::gateway;
use proxy::h2::hpack::HeaderList;

/// The receive window of a stream (our SETTINGS_INITIAL_WINDOW_SIZE) and its input buffer.
pub const STREAM_WINDOW: usize = 65_535;
/// Response bytes of one stream waiting for window or room (the exchange's output buffer).
const STREAM_OUTPUT: usize = crate::client::RESPONSE_BUF;
/// A window update is sent once this much room was freed (fewer, larger updates).
const WINDOW_STEP: usize = 16 * 1024;

mod response;

/// What the client still sends on this stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recv {
    /// DATA may follow; `expected` is the declared content-length.
    Open {
        expected: Option<u64>,
        received: u64,
    },
    /// END_STREAM was received.
    Ended,
}

/// Where the response stands.
enum Send {
    /// A `100 Continue` is owed before anything else (the request had `expect`).
    Continue,
    Head,
    Body(Body),
    Ended,
}

/// How the HTTP/1.1 body in the stream's output is delimited.
enum Body {
    Length(u64),
    Chunked(Decoder),
    /// Until the exchange is over (a response without framing).
    UntilDone,
}

// The exchange is inline, as on an HTTP/1.1 connection (see `client.rs`).
#[allow(clippy::large_enum_variant)]
enum Work {
    Forwarding(Exchange),
    /// Every response byte is in `cout`: an answer of the proxy's own or a finished exchange.
    Produced,
}

/// What the connection must do with a stream after a step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Open {
        progress: bool,
    },
    /// Send RST_STREAM with this code and forget the stream.
    Reset(ErrorCode),
    /// Both sides ended: forget the stream.
    Done,
}

/// A new stream, as its HEADERS frame(s) said.
pub struct Opening<'a> {
    pub id: u32,
    pub fields: &'a HeaderList,
    /// The HEADERS frame ended the stream: no body.
    pub end_stream: bool,
    /// The client's SETTINGS_INITIAL_WINDOW_SIZE.
    pub send_window: i64,
    pub peer: std::net::IpAddr,
    /// The client is a trusted proxy (`--trusted-proxies`).
    pub trusted: bool,
}

/// The connection's side of a stream step.
pub struct Link<'a> {
    /// Frames towards the client.
    pub out: &'a mut Buffer,
    /// The connection's send window.
    pub window: &'a mut i64,
    pub max_frame: usize,
    /// Scratch for header blocks.
    pub block: &'a mut Vec<u8>,
    /// Where a finished exchange leaves its upstream connection.
    pub kept: &'a mut Kept,
}

pub struct H2Stream {
    pub id: u32,
    /// The client's address, for the access log.
    peer: std::net::IpAddr,
    pub recv: Recv,
    /// What the client may still send before we grant more.
    pub recv_window: i64,
    pub send_window: i64,
    work: Work,
    send: Send,
    plan: Plan,
    log: LogInfo,
    /// The exchange's request input (head, then body bytes).
    pub cin: Buffer,
    /// The exchange's HTTP/1.1 response output.
    cout: Buffer,
}

impl H2Stream {
    /// Opens a stream for a decoded request header list.
    pub fn open(
        opening: Opening,
        kept: &mut Kept,
        p: &mut Proxy,
        cx: &mut Cx,
    ) -> Result<H2Stream, ErrorCode> {
        let Opening {
            id,
            fields,
            end_stream,
            send_window,
            peer,
            trusted,
        } = opening;
        let mut s = H2Stream {
            id,
            peer,
            recv: Recv::Ended,
            recv_window: STREAM_WINDOW as i64,
            send_window,
            work: Work::Produced,
            send: Send::Head,
            plan: Plan::default(),
            log: LogInfo::default(),
            cin: Buffer::new(STREAM_WINDOW + 1),
            cout: Buffer::new(STREAM_OUTPUT),
        };
        if !end_stream {
            s.recv = Recv::Open {
                expected: None,
                received: 0,
            };
        }
        if fields.too_large {
            // RFC 9113 section 10.5.1: the list was decoded (the table stays in step) but not
            // kept; the request gets a 431.
            s.answer(Answer::Error(Status::HEADER_FIELDS_TOO_LARGE), None, p, cx);
            return Ok(s);
        }
        let info = gateway::request_head(fields, end_stream, &mut s.cin)
            .map_err(|_| ErrorCode::ProtocolError)?;
        if let Recv::Open { expected, .. } = &mut s.recv {
            *expected = info.content_length;
        }
        let mut storage = header_storage();
        let action = match request::parse(s.cin.filled(), &mut storage, &crate::client::LIMITS) {
            Ok(Some(head)) => {
                s.log.capture(&head, cx.log.is_enabled(), cx.now);
                s.log.mark_http2();
                let context = p.shared.plan_context(true, peer, trusted);
                s.plan.make(&head, &context, &mut p.scratch);
                let head_len = head.head_len;
                s.cin.consume(head_len);
                s.plan.action
            }
            Ok(None) => Action::Answer(Answer::Error(Status::BAD_REQUEST)),
            Err(e) => {
                s.log.clear();
                s.log.mark_http2();
                s.cin.clear();
                Action::Answer(Answer::Error(e.status()))
            }
        };
        // The body ends with the stream, not with a last chunk: read it raw, send it chunked.
        if s.plan.body == In::Chunked {
            s.plan.body = In::UntilClose;
        }
        if s.plan.expect_continue {
            s.send = Send::Continue;
        }
        match action {
            Action::Answer(answer) => s.answer(answer, None, p, cx),
            Action::Forward { route } => {
                let routes = &p.shared.config.routes.routes;
                let reuse = routes.get(route).and_then(|r| kept.take_for(&r.upstreams));
                match Exchange::start(route, &s.plan, reuse, p, cx) {
                    Ok(ex) => s.work = Work::Forwarding(ex),
                    Err((failure, upstream)) => s.failed(failure, upstream, p, cx)?,
                }
            }
        }
        Ok(s)
    }

    /// Writes an answer of the proxy's own into the stream's output and logs it (naming the
    /// upstream whose failure it answers, if any).
    fn answer(&mut self, answer: Answer, upstream: Option<usize>, p: &Proxy, cx: &mut Cx) {
        let canned = Canned {
            date: cx.date,
            server: NAME,
            keep_alive: true,
            version: Version::Http11,
            head_only: self.plan.head_request,
        };
        let shared = &*p.shared;
        self.cout.clear();
        let (status, bytes) = pages::answer(
            &mut self.cout,
            answer,
            &canned,
            shared.hsts(true),
            &shared.index_page,
            self.plan.location(),
        );
        let name = upstream.map(|id| p.upstream_name(id));
        self.log.record(cx, self.peer, status, bytes, name);
        self.work = Work::Produced;
        if matches!(self.send, Send::Continue) {
            self.send = Send::Head;
        }
    }

    /// An exchange failed: an answer, or a reset when the response had begun.
    fn failed(
        &mut self,
        failure: Failure,
        upstream: usize,
        p: &mut Proxy,
        cx: &mut Cx,
    ) -> Result<(), ErrorCode> {
        // A failure found by a step has closed the upstream connection already; one found by
        // the timeouts has not.
        if let Work::Forwarding(ex) = std::mem::replace(&mut self.work, Work::Produced) {
            ex.abandon(cx);
        }
        match failure {
            Failure::Answer { status, .. } => {
                self.answer(Answer::Error(status), Some(upstream), p, cx);
                Ok(())
            }
            Failure::Cut { status, bytes, .. } => {
                p.stats.upstream_response(p.worker, upstream, status);
                let name = p.upstream_name(upstream);
                self.log.record(cx, self.peer, status, bytes, Some(name));
                Err(ErrorCode::InternalError)
            }
            Failure::ClientGone => Err(ErrorCode::ProtocolError),
        }
    }

    /// Body bytes of a DATA frame (flow control already checked by the connection).
    pub fn data(&mut self, bytes: &[u8], end_stream: bool) -> Result<(), ErrorCode> {
        let Recv::Open { expected, received } = &mut self.recv else {
            return Err(ErrorCode::StreamClosed);
        };
        *received += bytes.len() as u64;
        // RFC 9113 section 8.1.1: DATA that does not add up to content-length is malformed.
        if expected.is_some_and(|n| *received > n || (end_stream && *received != n)) {
            return Err(ErrorCode::ProtocolError);
        }
        self.recv_window -= bytes.len() as i64;
        self.cin.push(bytes);
        if end_stream {
            self.recv = Recv::Ended;
        }
        Ok(())
    }

    /// Trailers (a HEADERS frame after the request head): dropped, but they end the stream.
    pub fn trailers(&mut self, fields: &HeaderList, end_stream: bool) -> Result<(), ErrorCode> {
        if !end_stream || fields.iter().any(|(n, _)| n.starts_with(b":")) {
            return Err(ErrorCode::ProtocolError);
        }
        self.data(&[], true)
    }

    /// Moves what can move: the exchange, window updates, response frames.
    pub fn step(&mut self, link: &mut Link, p: &mut Proxy, cx: &mut Cx) -> Outcome {
        match self.advance(link, p, cx) {
            Ok(_) if matches!(self.send, Send::Ended) => match self.recv {
                // Section 8.1: the response is complete; ask the client to stop sending.
                Recv::Open { .. } => Outcome::Reset(ErrorCode::NoError),
                Recv::Ended => Outcome::Done,
            },
            Ok(progress) => Outcome::Open { progress },
            Err(code) => Outcome::Reset(code),
        }
    }

    fn advance(&mut self, link: &mut Link, p: &mut Proxy, cx: &mut Cx) -> Result<bool, ErrorCode> {
        let mut progress = false;
        if let Work::Forwarding(ex) = &mut self.work {
            let input_end = match self.recv {
                Recv::Open { .. } => InputEnd::Open,
                Recv::Ended => InputEnd::Clean,
            };
            let client = ClientSide {
                cin: &mut self.cin,
                cout: &mut self.cout,
                input_end,
                plan: &self.plan,
                https: true,
            };
            let step = ex.step(client, p, cx);
            let upstream = ex.upstream();
            match step {
                Step::Progress(moved) => progress |= moved,
                Step::Finished(done) => {
                    p.stats.upstream_response(p.worker, upstream, done.status);
                    let name = p.upstream_name(upstream);
                    self.log
                        .record(cx, self.peer, done.status, done.bytes, Some(name));
                    if let Some(conn) = done.upstream {
                        link.kept.keep(conn, p, cx);
                    }
                    self.work = Work::Produced;
                    progress = true;
                }
                Step::Upgraded(conn) => {
                    // Upgrade is a connection-specific field HTTP/2 refuses; never reached.
                    conn.close(cx);
                    return Err(ErrorCode::InternalError);
                }
                Step::Failed(failure) => {
                    self.failed(failure, upstream, p, cx)?;
                    progress = true;
                }
            }
        }
        if let Recv::Open { .. } = self.recv {
            let free = self.cin.remaining() as i64 - self.recv_window;
            if free >= WINDOW_STEP as i64 {
                frame::put_window_update(link.out, self.id, free as u32);
                self.recv_window += free;
            }
        }
        progress |= self.send_response(link)?;
        Ok(progress)
    }

    /// Whether the response is still being sent: a window update for it is useful.
    pub fn sending(&self) -> bool {
        !matches!(self.send, Send::Ended)
    }

    /// Timeouts of the exchange (connect, body rate, inactivity).
    pub fn tick(&mut self, p: &mut Proxy, cx: &mut Cx) -> Option<ErrorCode> {
        let Work::Forwarding(ex) = &mut self.work else {
            return None;
        };
        let failure = ex.tick(&self.plan, &self.cin, p, cx)?;
        let upstream = ex.upstream();
        self.failed(failure, upstream, p, cx).err()
    }

    /// The upstream connection in use, for events and re-arming.
    pub fn upstream_conn(&mut self) -> Option<&mut crate::upstream_conn::UpstreamConn> {
        match &mut self.work {
            Work::Forwarding(ex) => ex.upstream_conn(),
            Work::Produced => None,
        }
    }

    /// The stream is dropped before it ended: close its upstream connection.
    pub fn abandon(self, cx: &Cx) {
        if let Work::Forwarding(ex) = self.work {
            ex.abandon(cx);
        }
    }
}
