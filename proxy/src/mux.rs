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
use proxy::h2::frame::{self, ConnError, ErrorCode};
use proxy::h2::hpack::{Decoder, HeaderList};

mod budget;
mod control;
mod input;
mod kept;
mod stream;

use budget::Budget;
use kept::Kept;

use stream::{H2Stream, Link, Outcome, STREAM_WINDOW};

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

const CALM: ConnError = ConnError(ErrorCode::EnhanceYourCalm, "budget spent");

enum Phase {
    /// Waiting for the client's connection preface.
    Preface,
    /// The preface came; its first frame must be SETTINGS (RFC 9113 section 3.4).
    Settings,
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
    /// The code of the last GOAWAY sent, for the metrics.
    goaway_code: Option<ErrorCode>,
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
            // Every limit explicit, defaults included (RFC 9113 section 6.5.2).
            &[
                (1, TABLE_SIZE as u32),
                (2, 0),
                (3, MAX_STREAMS as u32),
                (4, STREAM_WINDOW as u32),
                (5, frame::MIN_MAX_FRAME as u32),
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
            goaway_code: None,
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
            self.goaway_code = Some(code);
        }
    }

    /// A connection error: GOAWAY with its code, every stream dropped.
    fn fail(&mut self, cout: &mut Buffer, e: ConnError, cx: &Cx) -> Finished {
        self.goaway = None;
        self.go_away(cout, e.0);
        self.drop_streams(cx);
        Finished
    }

    /// Drops every open stream, closing its upstream connection (a request may be half sent).
    fn drop_streams(&mut self, cx: &Cx) {
        for s in self.streams.drain(..) {
            s.abandon(cx);
        }
    }

    /// The connection ends: open streams are dropped, the kept upstream connections go back
    /// to the pool for the next client, and the GOAWAY sent (if any) is counted.
    pub fn end(mut self, p: &mut Proxy, cx: &Cx) {
        self.drop_streams(cx);
        self.kept.release_all(p, cx);
        if let Some(code) = self.goaway_code {
            p.stats.h2_goaway(p.worker, code);
        }
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
            self.phase = Phase::Settings;
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

    /// Whether no stream is open (the connection only waits for the client).
    pub fn has_no_streams(&self) -> bool {
        self.streams.is_empty() && matches!(self.phase, Phase::Frames)
    }

    /// Frees the scratch an idle connection does not need (it grows again on the next
    /// request): thousands of idle HTTP/2 clients then cost their TLS state, not our buffers.
    pub fn release_memory(&mut self) {
        self.fields = HeaderList::default();
        self.block = Vec::new();
        self.out_block = Vec::new();
        self.streams = Vec::new();
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
                Phase::Preface | Phase::Settings => header_timeout,
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
