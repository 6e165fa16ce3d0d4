//! Chunked-body decoding (`proxy::chunked::Decoder`) and the body pump that re-frames it
//! (`proxy::framing::Body`), as used for request bodies from clients and response bodies from
//! upstreams.
//!
//! Input: the bytes after a head that said `Transfer-Encoding: chunked`. The first byte also
//! picks the read sizes and the output room, so splits are explored too.
//!
//! Invariants:
//! - every step stays inside its input (`data` within `consumed` within the input) and hands out
//!   at most `max_data` bytes;
//! - the verdict (body, where it ended, or error) is the same whether the bytes come all at once,
//!   one at a time, or in arbitrary pieces: a split cannot change what a message means;
//! - a decoded body re-encoded with the encoder helpers (one chunk, or many small ones) decodes
//!   to the same body and ends exactly at the end of the encoding: decode/encode round-trips;
//! - `Body::pump` chunked -> chunked produces a canonical encoding of the same body, and chunked
//!   -> raw produces the body itself; a limit below the body size is `TooLarge`, never a
//!   silently truncated body.
#![no_main]

use common::buffer::Buffer;
use libfuzzer_sys::fuzz_target;
use proxy::chunked::{push_chunk_header, Decoder, CHUNK_OVERHEAD, LAST_CHUNK};
use proxy::framing::{Body, BodyError, In};

/// How a decode ended.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    /// The last chunk and trailers were read; the message ended after `end` input bytes.
    Done {
        body: Vec<u8>,
        end: usize,
    },
    /// The input ran out first; `body` is what was decoded so far.
    Incomplete {
        body: Vec<u8>,
    },
    Error,
}

/// Feeds `input` in pieces of `piece` bytes (0 = all at once), asking for at most `max_data`
/// body bytes per step, like a connection reading into a buffer would.
fn decode(input: &[u8], piece: usize, max_data: usize) -> Verdict {
    let mut d = Decoder::new();
    let mut body = Vec::new();
    let mut start = 0; // first unconsumed byte
    let mut avail = if piece == 0 { input.len() } else { 0 };
    loop {
        let window = &input[start..avail];
        let step = match d.decode(window, max_data) {
            Ok(step) => step,
            Err(_) => return Verdict::Error,
        };
        assert!(step.consumed <= window.len(), "consumed past the input");
        assert!(step.data.start <= step.data.end && step.data.end <= step.consumed);
        assert!(step.data.len() <= max_data, "more data than asked for");
        body.extend_from_slice(&window[step.data.clone()]);
        start += step.consumed;
        if d.is_done() {
            return Verdict::Done { body, end: start };
        }
        if step.consumed == 0 || start == avail {
            if avail == input.len() {
                return Verdict::Incomplete { body };
            }
            avail = (avail + piece.max(1)).min(input.len());
        }
    }
}

fn encode(body: &[u8], chunk: usize) -> Vec<u8> {
    let mut out = Buffer::new(usize::MAX);
    for part in body.chunks(chunk.max(1)) {
        push_chunk_header(&mut out, part.len());
        out.push(part);
        out.push(b"\r\n");
    }
    out.push(LAST_CHUNK);
    out.filled().to_vec()
}

/// Runs a `Body` over `input` with an output buffer of `room` bytes, draining it between pumps.
fn pump(input: &[u8], chunked_out: bool, limit: u64, room: usize) -> Result<Vec<u8>, BodyError> {
    let mut body = Body::new(In::Chunked, chunked_out, limit);
    let mut src = Buffer::new(input.len().max(1));
    src.push(input);
    let mut out = Vec::new();
    loop {
        let mut dst = Buffer::new(room);
        let progress = body.pump(&mut src, &mut dst)?;
        out.extend_from_slice(dst.filled());
        if body.is_done() || !progress {
            return Ok(out);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&knob, input)) = data.split_first() else {
        return;
    };
    let piece = usize::from(knob & 0x0f) + 1;
    let max_data = usize::from(knob >> 4) + 1;

    let whole = decode(input, 0, usize::MAX);
    assert_eq!(
        decode(input, 1, usize::MAX),
        whole,
        "byte-at-a-time differs"
    );
    assert_eq!(
        decode(input, piece, max_data),
        whole,
        "split {piece}/{max_data} differs"
    );

    let Verdict::Done { body, end } = whole else {
        return;
    };
    for chunk in [body.len(), piece, 1] {
        let encoded = encode(&body, chunk);
        assert_eq!(
            decode(&encoded, 0, usize::MAX),
            Verdict::Done {
                body: body.clone(),
                end: encoded.len()
            },
            "re-encoding in chunks of {chunk} does not round-trip"
        );
    }

    // The pump, as the proxy uses it for request bodies (chunked out) and HTTP/1.0 responses
    // (raw out). Output room of at least one byte of data besides the chunk framing.
    let room = CHUNK_OVERHEAD + 1 + usize::from(knob);
    let message = &input[..end];
    let rechunked = pump(message, true, u64::MAX, room).expect("pump refused a valid body");
    assert_eq!(
        decode(&rechunked, 0, usize::MAX),
        Verdict::Done {
            body: body.clone(),
            end: rechunked.len()
        },
        "pumped chunked output is not the same body"
    );
    let raw = pump(message, false, u64::MAX, room).expect("pump refused a valid body");
    assert_eq!(raw, body, "pumped raw output is not the body");
    if !body.is_empty() {
        let limit = body.len() as u64 - 1;
        assert_eq!(
            pump(message, false, limit, room),
            Err(BodyError::TooLarge),
            "a body over the limit was not refused"
        );
    }
});
