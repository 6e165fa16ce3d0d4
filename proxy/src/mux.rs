//! One HTTP/2 connection (RFC 9113) on the proxy's TLS listener, after ALPN chose `h2`: the
//! preface and SETTINGS exchange, the frame loop, connection-level flow control, GOAWAY, and
//! the budgets that keep every peer-triggered cost bounded. Each request stream is an
//! [`H2Stream`] (`mux/stream.rs`) running the ordinary HTTP/1.1 exchange to an upstream.
//!
//! Bounded, whatever the client sends:
//! - frames are taken only while the output towards the client is below [`OUTPUT_HIGH_WATER`]
//!   (PING and SETTINGS acknowledgements included), so a client that never reads stops being
//!   read;
//! - at most [`MAX_STREAMS`] streams; each holds buffers of fixed size (its receive window is
//!   its input buffer), and the connection window is replenished only as DATA lands in them;
//! - a header block is at most [`MAX_BLOCK`] bytes across CONTINUATION frames, checked before
//!   any decoding (CVE-2024-27316); the decoded list is capped by HPACK itself;
//! - resets, whether the client sends them (Rapid Reset, CVE-2023-44487) or makes us send them
//!   by misbehaving (MadeYouReset, CVE-2025-8671), draw from one token bucket; frames that do
//!   no work for us (PING, SETTINGS, PRIORITY, empty DATA, unknown types, CONTINUATION, window
//!   updates while nothing is being sent) from another. Past either: GOAWAY ENHANCE_YOUR_CALM.
//!
//! Must not block, must not buffer beyond the bounds above.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use common::buffer::Buffer;
use common::event_loop::Cx;
use mio::event::Event;

use crate::service::Proxy;
use proxy::h2::frame::{self, ConnError, ErrorCode, FrameHead, Setting};
use proxy::h2::hpack::{Decoder, HeaderList};

mod kept;
mod stream;

use kept::Kept;

use stream::{H2Stream, Link, Opening, Outcome, STREAM_WINDOW};

/// Concurrent streams a client may open (SETTINGS_MAX_CONCURRENT_STREAMS).
pub const MAX_STREAMS: usize = 128;
/// Decoded header list size (SETTINGS_MAX_HEADER_LIST_SIZE), the HTTP/1.1 head limit.
pub const MAX_HEADER_LIST: usize = 8 * 1024;
/// Most bytes of one header block across HEADERS and CONTINUATION frames.
pub const MAX_BLOCK: usize = 16 * 1024;
/// HPACK dynamic table size we allow the client's encoder (the default).
const TABLE_SIZE: usize = 4096;
/// Connection receive window: the sum the client may have in flight across streams.
const CONN_WINDOW: i64 = 1 << 20;
/// Bytes read from the client at most per buffer fill (one maximal frame plus change).
pub const INPUT_BUF: usize = 32 * 1024;
/// Stop taking frames (and making DATA) while this much is queued for the client.
pub const OUTPUT_HIGH_WATER: usize = 32 * 1024;
/// Capacity of the output towards the client: room above the high-water mark for the
/// control frames and header blocks of one round.
pub const OUTPUT_BUF: usize = 64 * 1024;
/// CONTINUATION frames one header block may have.
const MAX_CONTINUATIONS: u32 = 32;

/// A token bucket: `burst` at once, refilled at `per_second`.
struct Budget {
    tokens: u32,
    burst: u32,
    per_second: u32,
    since: Instant,
}

impl Budget {
    fn new(burst: u32, per_second: u32, now: Instant) -> Budget {
        Budget {
            tokens: burst,
            burst,
            per_second,
            since: now,
        }
    }

    /// Takes one token; false when the budget is spent.
    fn charge(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.since);
        let earned = (elapsed.as_millis() as u64 * u64::from(self.per_second) / 1000) as u32;
        if earned > 0 {
            self.tokens = self.tokens.saturating_add(earned).min(self.burst);
            self.since = now;
        }
        if self.tokens == 0 {
            return false;
        }
        self.tokens -= 1;
        true
    }
}

const CALM: ConnError = ConnError(ErrorCode::EnhanceYourCalm, "budget spent");

enum Phase {
    /// Waiting for the client's connection preface.
    Preface,
    Frames,
    /// Inside a header block: only CONTINUATION frames of `stream` may come.
    Continuation {
        stream: u32,
        end_stream: bool,
        frames: u32,
    },
}

/// What the connection around the multiplexer provides for a step.
pub struct Io<'a> {
    pub cin: &'a mut Buffer,
    pub cout: &'a mut Buffer,
    pub peer: IpAddr,
    pub trusted: bool,
}

/// Where the frame handlers write, and who the client is.
struct Out<'a> {
    cout: &'a mut Buffer,
    peer: IpAddr,
    trusted: bool,
}

/// The multiplexer is finished: the connection flushes its output (a GOAWAY) and closes.
#[derive(Debug)]
pub struct Finished;

pub struct Mux {
    phase: Phase,
    decoder: Decoder,
    fields: HeaderList,
    /// The header block being assembled.
    block: Vec<u8>,
    /// Scratch for response header blocks.
    out_block: Vec<u8>,
    /// Boxed: each holds its exchange inline (hundreds of bytes), and the vector is rotated
    /// every round and shifted on every removal: pointers move, not streams.
    #[allow(clippy::vec_box)]
    streams: Vec<Box<H2Stream>>,
    /// Upstream connections between streams.
    kept: Kept,
    /// The highest stream id the client used; lower unknown ids are closed streams.
    last_stream: u32,
    /// Streams closed lately: (id, whether we reset it). See [`Mux::closed_lately`].
    closed: [(u32, bool); 32],
    closed_at: usize,
    send_window: i64,
    peer_initial_window: i64,
    peer_max_frame: usize,
    recv_window: i64,
    /// GOAWAY was sent: no stream above this id is opened.
    goaway: Option<u32>,
    resets: Budget,
    chatter: Budget,
    /// When the connection last had no stream (the idle timeout counts from here).
    idle_since: Option<Instant>,
}

impl Mux {
    /// A new HTTP/2 connection; queues our SETTINGS (the server preface) into `cout`.
    pub fn new(cout: &mut Buffer, now: Instant) -> Mux {
        frame::put_settings(
            cout,
            &[
                (3, MAX_STREAMS as u32),
                (4, STREAM_WINDOW as u32),
                (6, MAX_HEADER_LIST as u32),
            ],
        );
        frame::put_window_update(cout, 0, (CONN_WINDOW - frame::DEFAULT_WINDOW) as u32);
        Mux {
            phase: Phase::Preface,
            decoder: Decoder::new(TABLE_SIZE),
            fields: HeaderList::default(),
            block: Vec::new(),
            out_block: Vec::new(),
            streams: Vec::new(),
            kept: Kept::default(),
            last_stream: 0,
            closed: [(0, false); 32],
            closed_at: 0,
            send_window: frame::DEFAULT_WINDOW,
            peer_initial_window: frame::DEFAULT_WINDOW,
            peer_max_frame: frame::MIN_MAX_FRAME,
            recv_window: CONN_WINDOW,
            goaway: None,
            resets: Budget::new(100, 10, now),
            chatter: Budget::new(1000, 200, now),
            idle_since: Some(now),
        }
    }

    /// Records an upstream event for the stream whose socket it names.
    pub fn record(&mut self, event: &Event) {
        if self.kept.record(event) {
            return;
        }
        for s in &mut self.streams {
            if let Some(up) = s.upstream_conn() {
                if up.stream.token == event.token() {
                    up.record(event);
                    return;
                }
            }
        }
    }

    /// Re-arms every upstream socket (the connection yielded with work left).
    pub fn rearm(&mut self, cx: &Cx) {
        for s in &mut self.streams {
            if let Some(up) = s.upstream_conn() {
                let _ = up.stream.rearm(cx);
            }
        }
    }

    /// Makes all the progress possible now. `Err`: the connection is over; what is queued in
    /// `cout` (a GOAWAY) should still be flushed.
    pub fn step(&mut self, io: &mut Io, p: &mut Proxy, cx: &mut Cx) -> Result<bool, Finished> {
        if cx.draining && self.goaway.is_none() {
            self.go_away(io.cout, ErrorCode::NoError);
        }
        let mut progress = match self.read_frames(io, p, cx) {
            Ok(progress) => progress,
            Err(e) => return Err(self.fail(io.cout, e, cx)),
        };
        progress |= self.step_streams(io, p, cx);
        if self.recv_window <= CONN_WINDOW / 2 {
            frame::put_window_update(io.cout, 0, (CONN_WINDOW - self.recv_window) as u32);
            self.recv_window = CONN_WINDOW;
        }
        if self.streams.is_empty() {
            self.idle_since.get_or_insert(cx.now);
            if self.goaway.is_some() {
                return Err(Finished);
            }
        } else {
            self.idle_since = None;
        }
        Ok(progress)
    }

    /// Sends GOAWAY with the last stream id we will process.
    fn go_away(&mut self, cout: &mut Buffer, code: ErrorCode) {
        if self.goaway.is_none() {
            frame::put_goaway(cout, self.last_stream, code);
            self.goaway = Some(self.last_stream);
        }
    }

    /// A connection error: GOAWAY with its code, every stream dropped.
    fn fail(&mut self, cout: &mut Buffer, e: ConnError, cx: &Cx) -> Finished {
        self.goaway = None;
        self.go_away(cout, e.0);
        self.abandon(cx);
        Finished
    }

    /// Drops every stream (closing its upstream connection) and the kept connections (which
    /// [`Mux::release`] gives back to the pool first, where the connection ends normally).
    pub fn abandon(&mut self, cx: &Cx) {
        for s in self.streams.drain(..) {
            s.abandon(cx);
        }
        self.kept.close_all(cx);
    }

    /// The client connection closes: kept upstream connections go back to the pool.
    pub fn release(&mut self, p: &mut Proxy, cx: &Cx) {
        self.kept.release_all(p, cx);
    }

    fn read_frames(&mut self, io: &mut Io, p: &mut Proxy, cx: &mut Cx) -> Result<bool, ConnError> {
        let mut progress = false;
        if let Phase::Preface = self.phase {
            let have = io.cin.filled();
            let n = have.len().min(frame::PREFACE.len());
            if have[..n] != frame::PREFACE[..n] {
                return Err(ConnError(
                    ErrorCode::ProtocolError,
                    "bad connection preface",
                ));
            }
            if n < frame::PREFACE.len() {
                return Ok(false);
            }
            io.cin.consume(n);
            self.phase = Phase::Frames;
            progress = true;
        }
        let mut out = Out {
            cout: &mut *io.cout,
            peer: io.peer,
            trusted: io.trusted,
        };
        while out.cout.len() < OUTPUT_HIGH_WATER {
            let Some((head, payload)) = frame::next_frame(io.cin.filled(), frame::MIN_MAX_FRAME)?
            else {
                break;
            };
            self.frame(head, payload, &mut out, p, cx)?;
            io.cin.consume(frame::HEADER_LEN + head.len);
            progress = true;
        }
        Ok(progress)
    }

    fn index(&self, id: u32) -> Option<usize> {
        self.streams.iter().position(|s| s.id == id)
    }

    /// A stream id the client never used: frames other than HEADERS and PRIORITY on it are a
    /// connection error (section 5.1, "idle").
    fn is_idle(&self, id: u32) -> bool {
        id > self.last_stream
    }

    fn frame(
        &mut self,
        head: FrameHead,
        payload: &[u8],
        out: &mut Out,
        p: &mut Proxy,
        cx: &mut Cx,
    ) -> Result<(), ConnError> {
        let protocol = |why| ConnError(ErrorCode::ProtocolError, why);
        if let Phase::Continuation { stream, .. } = self.phase {
            // Section 6.10: nothing may interleave a header block.
            if head.kind != frame::CONTINUATION || head.stream != stream {
                return Err(protocol("frame inside a header block"));
            }
        }
        let now = cx.now;
        match head.kind {
            frame::DATA => self.data(head, payload, out, cx),
            frame::HEADERS => {
                if head.stream == 0 || head.stream % 2 == 0 {
                    return Err(protocol("HEADERS on stream 0 or an even stream"));
                }
                let (fragment, dependency) = frame::headers_fragment(&head, payload)?;
                if dependency == Some(head.stream) {
                    // Section 5.3.1: a stream cannot depend on itself. A stream error, but the
                    // block would still have to be decoded: the connection error is simpler.
                    return Err(protocol("stream depends on itself"));
                }
                self.block.clear();
                self.append_block(fragment)?;
                let end_stream = head.has(frame::END_STREAM);
                if head.has(frame::END_HEADERS) {
                    self.headers(head.stream, end_stream, out, p, cx)
                } else {
                    self.phase = Phase::Continuation {
                        stream: head.stream,
                        end_stream,
                        frames: 0,
                    };
                    Ok(())
                }
            }
            frame::CONTINUATION => {
                let Phase::Continuation {
                    stream,
                    end_stream,
                    frames,
                } = self.phase
                else {
                    return Err(protocol("CONTINUATION without a header block"));
                };
                if frames >= MAX_CONTINUATIONS || !self.chatter.charge(now) {
                    return Err(CALM);
                }
                self.append_block(payload)?;
                if head.has(frame::END_HEADERS) {
                    self.phase = Phase::Frames;
                    self.headers(stream, end_stream, out, p, cx)
                } else {
                    self.phase = Phase::Continuation {
                        stream,
                        end_stream,
                        frames: frames + 1,
                    };
                    Ok(())
                }
            }
            frame::PRIORITY => {
                if head.stream == 0 {
                    return Err(protocol("PRIORITY on stream 0"));
                }
                self.calm(now)?;
                if head.len != 5 {
                    return self.reset(out.cout, head.stream, ErrorCode::FrameSizeError, now);
                }
                if frame::dependency(payload) == head.stream {
                    return self.reset(out.cout, head.stream, ErrorCode::ProtocolError, now);
                }
                Ok(())
            }
            frame::RST_STREAM => {
                if head.stream == 0 || self.is_idle(head.stream) {
                    return Err(protocol("RST_STREAM on stream 0 or an idle stream"));
                }
                if head.len != 4 {
                    return Err(ConnError(ErrorCode::FrameSizeError, "RST_STREAM length"));
                }
                if let Some(i) = self.index(head.stream) {
                    if !self.resets.charge(now) {
                        return Err(CALM);
                    }
                    self.streams.remove(i).abandon(cx);
                    self.remember_closed(head.stream, false);
                }
                Ok(())
            }
            frame::SETTINGS => self.settings(head, payload, out.cout, now),
            frame::PING => {
                if head.stream != 0 {
                    return Err(protocol("PING on a stream"));
                }
                if head.len != 8 {
                    return Err(ConnError(ErrorCode::FrameSizeError, "PING length"));
                }
                self.calm(now)?;
                if !head.has(frame::ACK) {
                    frame::put_ping_ack(out.cout, payload);
                }
                Ok(())
            }
            frame::GOAWAY => {
                if head.stream != 0 {
                    return Err(protocol("GOAWAY on a stream"));
                }
                // The client is leaving: finish what is in flight, then close.
                self.go_away(out.cout, ErrorCode::NoError);
                Ok(())
            }
            frame::WINDOW_UPDATE => self.window_update(head, payload, out.cout, cx),
            frame::PUSH_PROMISE => Err(protocol("PUSH_PROMISE from a client")),
            // Section 5.5: unknown frame types are ignored.
            _ => self.calm(now),
        }
    }

    /// Charges the chatter budget.
    fn calm(&mut self, now: Instant) -> Result<(), ConnError> {
        if self.chatter.charge(now) {
            Ok(())
        } else {
            Err(CALM)
        }
    }

    fn append_block(&mut self, fragment: &[u8]) -> Result<(), ConnError> {
        if self.block.len() + fragment.len() > MAX_BLOCK {
            return Err(ConnError(
                ErrorCode::EnhanceYourCalm,
                "header block too large",
            ));
        }
        self.block.extend_from_slice(fragment);
        Ok(())
    }

    /// Sends RST_STREAM for a stream error the client caused; it counts as a reset.
    fn reset(
        &mut self,
        cout: &mut Buffer,
        id: u32,
        code: ErrorCode,
        now: Instant,
    ) -> Result<(), ConnError> {
        if !self.resets.charge(now) {
            return Err(CALM);
        }
        frame::put_rst_stream(cout, id, code);
        self.remember_closed(id, true);
        Ok(())
    }

    /// A complete header block for `id`: a new request, or trailers.
    fn headers(
        &mut self,
        id: u32,
        end_stream: bool,
        out: &mut Out,
        p: &mut Proxy,
        cx: &mut Cx,
    ) -> Result<(), ConnError> {
        // Decoded whatever becomes of the stream: the dynamic table must stay in step.
        self.decoder
            .decode(&self.block, &mut self.fields, MAX_HEADER_LIST)
            .map_err(|e| ConnError(ErrorCode::CompressionError, e.0))?;
        self.phase = Phase::Frames;
        let now = cx.now;
        if let Some(i) = self.index(id) {
            let result = self.streams[i].trailers(&self.fields, end_stream);
            if let Err(code) = result {
                self.streams.remove(i).abandon(cx);
                self.reset(out.cout, id, code, now)?;
            }
            return Ok(());
        }
        if !self.is_idle(id) {
            return match self.closed_lately(id) {
                Some(true) => Ok(()),
                Some(false) => Err(ConnError(
                    ErrorCode::StreamClosed,
                    "HEADERS on a closed stream",
                )),
                None => Err(ConnError(
                    ErrorCode::ProtocolError,
                    "stream id not increasing",
                )),
            };
        }
        self.last_stream = id;
        if let Some(last) = self.goaway {
            if id > last {
                // Section 6.8: streams above the GOAWAY's last id are ignored.
                return Ok(());
            }
        }
        if self.streams.len() >= MAX_STREAMS {
            return self.reset(out.cout, id, ErrorCode::RefusedStream, now);
        }
        let opening = Opening {
            id,
            fields: &self.fields,
            end_stream,
            send_window: self.peer_initial_window,
            peer: out.peer,
            trusted: out.trusted,
        };
        match H2Stream::open(opening, &mut self.kept, p, cx) {
            Ok(stream) => self.streams.push(Box::new(stream)),
            Err(code) => self.reset(out.cout, id, code, now)?,
        }
        Ok(())
    }

    fn data(
        &mut self,
        head: FrameHead,
        payload: &[u8],
        out: &mut Out,
        cx: &Cx,
    ) -> Result<(), ConnError> {
        let now = cx.now;
        if head.stream == 0 || self.is_idle(head.stream) {
            return Err(ConnError(
                ErrorCode::ProtocolError,
                "DATA on stream 0 or an idle stream",
            ));
        }
        // Section 6.9.1: the whole frame, padding included, counts against the window.
        let len = head.len as i64;
        if len > self.recv_window {
            return Err(ConnError(
                ErrorCode::FlowControlError,
                "connection window exceeded",
            ));
        }
        self.recv_window -= len;
        let (_, range) = frame::unpad(&head, payload)?;
        let end_stream = head.has(frame::END_STREAM);
        if range.is_empty() && !end_stream {
            self.calm(now)?;
        }
        let Some(i) = self.index(head.stream) else {
            if self.closed_lately(head.stream) == Some(true) {
                return Ok(());
            }
            return self.reset(out.cout, head.stream, ErrorCode::StreamClosed, now);
        };
        let s = &mut self.streams[i];
        let result = if len > s.recv_window {
            Err(ErrorCode::FlowControlError)
        } else {
            // Padding is consumed at once: the window shrinks by the data only.
            s.recv_window -= len - range.len() as i64;
            s.data(&payload[range], end_stream)
        };
        if let Err(code) = result {
            self.streams.remove(i).abandon(cx);
            return self.reset(out.cout, head.stream, code, now);
        }
        Ok(())
    }

    fn settings(
        &mut self,
        head: FrameHead,
        payload: &[u8],
        cout: &mut Buffer,
        now: Instant,
    ) -> Result<(), ConnError> {
        if head.stream != 0 {
            return Err(ConnError(ErrorCode::ProtocolError, "SETTINGS on a stream"));
        }
        if head.has(frame::ACK) {
            if head.len != 0 {
                return Err(ConnError(
                    ErrorCode::FrameSizeError,
                    "SETTINGS ACK with a payload",
                ));
            }
            return Ok(());
        }
        self.calm(now)?;
        for setting in frame::settings(payload)? {
            match setting {
                Setting::InitialWindowSize(v) => {
                    // Section 6.9.2: the change applies to every open stream's window.
                    let delta = i64::from(v) - self.peer_initial_window;
                    self.peer_initial_window = i64::from(v);
                    for s in &mut self.streams {
                        s.send_window += delta;
                        if s.send_window > frame::MAX_WINDOW {
                            return Err(ConnError(ErrorCode::FlowControlError, "window overflow"));
                        }
                    }
                }
                Setting::MaxFrameSize(v) => self.peer_max_frame = v as usize,
                _ => {}
            }
        }
        frame::put_settings_ack(cout);
        Ok(())
    }

    fn window_update(
        &mut self,
        head: FrameHead,
        payload: &[u8],
        cout: &mut Buffer,
        cx: &Cx,
    ) -> Result<(), ConnError> {
        let now = cx.now;
        if head.len != 4 {
            return Err(ConnError(ErrorCode::FrameSizeError, "WINDOW_UPDATE length"));
        }
        let increment = i64::from(frame::word(payload) & 0x7fff_ffff);
        if head.stream == 0 {
            if increment == 0 {
                return Err(ConnError(ErrorCode::ProtocolError, "zero window increment"));
            }
            // A grant while a response is being sent is flow control at work; one while
            // nothing is sent is chatter (a WINDOW_UPDATE flood).
            let useful = self.streams.iter().any(|s| s.sending());
            self.send_window += increment;
            if self.send_window > frame::MAX_WINDOW {
                return Err(ConnError(
                    ErrorCode::FlowControlError,
                    "connection window overflow",
                ));
            }
            if !useful {
                self.calm(now)?;
            }
            return Ok(());
        }
        if self.is_idle(head.stream) {
            return Err(ConnError(
                ErrorCode::ProtocolError,
                "WINDOW_UPDATE on an idle stream",
            ));
        }
        let Some(i) = self.index(head.stream) else {
            return self.calm(now);
        };
        let s = &mut self.streams[i];
        let code = if increment == 0 {
            Some(ErrorCode::ProtocolError)
        } else {
            let useful = s.sending();
            s.send_window += increment;
            if !useful {
                self.calm(now)?;
            }
            (self.streams[i].send_window > frame::MAX_WINDOW).then_some(ErrorCode::FlowControlError)
        };
        if let Some(code) = code {
            self.streams.remove(i).abandon(cx);
            return self.reset(cout, head.stream, code, now);
        }
        Ok(())
    }

    /// Steps every stream once, starting one further each time (fairness for the room).
    fn step_streams(&mut self, io: &mut Io, p: &mut Proxy, cx: &mut Cx) -> bool {
        let mut progress = false;
        if self.streams.len() > 1 {
            self.streams.rotate_left(1);
        }
        let mut i = 0;
        while i < self.streams.len() {
            let mut link = Link {
                out: io.cout,
                high_water: OUTPUT_HIGH_WATER,
                window: &mut self.send_window,
                max_frame: self.peer_max_frame,
                block: &mut self.out_block,
                kept: &mut self.kept,
            };
            match self.streams[i].step(&mut link, p, cx) {
                Outcome::Open { progress: moved } => {
                    progress |= moved;
                    i += 1;
                }
                outcome => {
                    let stream = self.streams.remove(i);
                    let reset = matches!(outcome, Outcome::Reset(_));
                    if let Outcome::Reset(code) = outcome {
                        frame::put_rst_stream(io.cout, stream.id, code);
                    }
                    self.remember_closed(stream.id, reset);
                    stream.abandon(cx);
                    progress = true;
                }
            }
        }
        progress
    }

    fn remember_closed(&mut self, id: u32, reset_by_us: bool) {
        self.closed[self.closed_at % self.closed.len()] = (id, reset_by_us);
        self.closed_at += 1;
    }

    /// Whether stream `id` closed lately, and if so whether we reset it. Frames still in
    /// flight on a stream we reset are ignored (section 5.1, "closed"); other frames on a
    /// closed stream are STREAM_CLOSED errors; an id below the highest one used that was
    /// never opened is a PROTOCOL_ERROR (section 5.1.1). Older ids are treated as never seen.
    fn closed_lately(&self, id: u32) -> Option<bool> {
        self.closed
            .iter()
            .find(|(closed, _)| *closed == id && id != 0)
            .map(|&(_, reset)| reset)
    }

    /// Periodic work: the streams' exchange timeouts, the preface and idle timeouts, the
    /// zero-window stall. `Err`: close the connection (a GOAWAY may be queued).
    pub fn tick(
        &mut self,
        cout: &mut Buffer,
        timeouts: (Duration, Duration),
        p: &mut Proxy,
        cx: &mut Cx,
    ) -> Result<(), Finished> {
        let (header_timeout, idle_timeout) = timeouts;
        let now = cx.now;
        let mut i = 0;
        while i < self.streams.len() {
            match self.streams[i].tick(p, cx) {
                Some(code) => {
                    let id = self.streams[i].id;
                    frame::put_rst_stream(cout, id, code);
                    self.remember_closed(id, true);
                    self.streams.remove(i).abandon(cx);
                }
                None => i += 1,
            }
        }
        if let Some(since) = self.idle_since {
            // No stream: the upstream connections are better off in the worker's pool.
            self.kept.release_all(p, cx);
            let limit = match self.phase {
                Phase::Preface => header_timeout,
                _ => idle_timeout,
            };
            if now.saturating_duration_since(since) >= limit || cx.draining {
                self.go_away(cout, ErrorCode::NoError);
                return Err(Finished);
            }
        }
        Ok(())
    }
}
