//! A stream's response, from the HTTP/1.1 bytes its exchange wrote to HEADERS (plus
//! CONTINUATION) and DATA frames: the head converted by `h2::gateway`, the body de-framed
//! (length or chunked) into DATA within the stream and connection send windows, no more than
//! the room below the connection's high-water mark, END_STREAM where the body ends.

use std::ops::Range;

use common::buffer::Buffer;
use proxy::chunked::Decoder;
use proxy::h2::frame::{self, ErrorCode};
use proxy::h2::{gateway, hpack};

use super::{Body, H2Stream, Link, Send, Work};
use crate::framing::In;
use crate::mux::OUTPUT_HIGH_WATER;

impl H2Stream {
    /// Turns what the exchange produced into frames, within the windows and the room.
    pub(super) fn send_response(&mut self, link: &mut Link) -> Result<bool, ErrorCode> {
        let mut progress = false;
        loop {
            match &mut self.send {
                Send::Ended => return Ok(progress),
                Send::Continue => {
                    if !matches!(self.work, Work::Forwarding(_)) {
                        self.send = Send::Head;
                        continue;
                    }
                    link.block.clear();
                    hpack::encode_status(link.block, 100);
                    put_headers(link, self.id, false);
                    self.send = Send::Head;
                    progress = true;
                }
                Send::Head => {
                    if link.out.len() >= OUTPUT_HIGH_WATER {
                        return Ok(progress);
                    }
                    let head = gateway::response_head(
                        self.cout.filled(),
                        self.plan.head_request,
                        link.block,
                    )
                    .map_err(|_| ErrorCode::InternalError)?;
                    let Some(head) = head else {
                        return Ok(progress);
                    };
                    self.cout.consume(head.head_len);
                    let body = match head.body {
                        In::None | In::Length(0) => None,
                        In::Length(n) => Some(Body::Length(n)),
                        In::Chunked => Some(Body::Chunked(Decoder::new())),
                        In::UntilClose => Some(Body::UntilDone),
                    };
                    put_headers(link, self.id, body.is_none());
                    self.send = body.map_or(Send::Ended, Send::Body);
                    progress = true;
                }
                Send::Body(body) => {
                    let produced = matches!(self.work, Work::Produced);
                    let (moved, ended) = send_data(
                        body,
                        &mut self.cout,
                        &mut self.send_window,
                        produced,
                        self.id,
                        link,
                    )?;
                    progress |= moved;
                    if ended {
                        self.send = Send::Ended;
                    }
                    return Ok(progress);
                }
            }
        }
    }
}

/// Queues the header block in `link.block` as HEADERS plus CONTINUATION frames.
fn put_headers(link: &mut Link, id: u32, end_stream: bool) {
    let block = &link.block[..];
    let mut chunks = block.chunks(link.max_frame).peekable();
    let first = chunks.next().unwrap_or_default();
    let mut flags = if end_stream { frame::END_STREAM } else { 0 };
    if chunks.peek().is_none() {
        flags |= frame::END_HEADERS;
    }
    frame::put_head(link.out, first.len(), frame::HEADERS, flags, id);
    link.out.push(first);
    while let Some(chunk) = chunks.next() {
        let flags = if chunks.peek().is_none() {
            frame::END_HEADERS
        } else {
            0
        };
        frame::put_head(link.out, chunk.len(), frame::CONTINUATION, flags, id);
        link.out.push(chunk);
    }
}

/// Sends DATA frames from `cout` while window and room allow. Returns (progress, ended).
fn send_data(
    body: &mut Body,
    cout: &mut Buffer,
    window: &mut i64,
    produced: bool,
    id: u32,
    link: &mut Link,
) -> Result<(bool, bool), ErrorCode> {
    let mut progress = false;
    loop {
        let room = OUTPUT_HIGH_WATER.saturating_sub(link.out.len() + frame::HEADER_LEN);
        let credit = (*window).min(*link.window).max(0) as usize;
        let max = credit.min(link.max_frame).min(room);
        let input = cout.filled();
        let (consumed, data, ended): (usize, Range<usize>, bool) = match body {
            Body::Length(rest) => {
                let n = input
                    .len()
                    .min(max)
                    .min(usize::try_from(*rest).unwrap_or(usize::MAX));
                *rest -= n as u64;
                (n, 0..n, *rest == 0)
            }
            Body::Chunked(decoder) => {
                let step = decoder
                    .decode(input, max)
                    .map_err(|_| ErrorCode::InternalError)?;
                (step.consumed, step.data, decoder.is_done())
            }
            Body::UntilDone => {
                let n = input.len().min(max);
                (n, 0..n, produced && n == input.len())
            }
        };
        if data.is_empty() && !ended {
            if consumed == 0 {
                return Ok((progress, false));
            }
            cout.consume(consumed);
            progress = true;
            continue;
        }
        // An empty DATA frame with END_STREAM needs no window and (nearly) no room.
        let flags = if ended { frame::END_STREAM } else { 0 };
        frame::put_head(link.out, data.len(), frame::DATA, flags, id);
        link.out.push(&input[data.clone()]);
        *window -= data.len() as i64;
        *link.window -= data.len() as i64;
        cout.consume(consumed);
        progress = true;
        if ended {
            return Ok((progress, true));
        }
    }
}
