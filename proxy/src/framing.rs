//! Message framing decisions and the body pump.
//!
//! - [`response_framing`]: how an upstream response body is delimited (RFC 9112 section 6.3),
//!   including read-until-close bodies and the responses that never have one.
//! - [`client_framing`]: how that body is re-framed for the client (Content-Length kept,
//!   otherwise chunked for HTTP/1.1 clients, or raw with `Connection: close` for HTTP/1.0).
//! - [`Body`]: moves one message body from an input buffer to an output buffer, decoding the
//!   incoming framing and re-encoding the outgoing one, bounded by the room in the output
//!   (backpressure) and by a size limit.
//!
//! Pure: buffers in, buffers out, no sockets, no panics.

use common::buffer::Buffer;
use common::http::headers::{self, tokens};
use common::http::request::parse_content_length;

use crate::chunked::{self, ChunkError, Decoder, CHUNK_OVERHEAD, LAST_CHUNK};

/// How an incoming body is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum In {
    /// No body at all.
    None,
    Length(u64),
    Chunked,
    /// Until the sender closes the connection (responses only).
    UntilClose,
}

/// How an outgoing body is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Out {
    /// No body; a `Content-Length` from upstream is passed through (HEAD, 304).
    None,
    Length(u64),
    Chunked,
    /// Raw bytes, the end marked by closing the connection (HTTP/1.0 clients).
    Close,
}

/// The framing of an upstream response and whether its connection may be reused afterwards.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResponseFraming {
    pub body: In,
    /// False when the framing itself forbids reuse (TE and CL together, read-until-close).
    pub reusable: bool,
}

/// RFC 9112 section 6.3 for a response to a request with method `HEAD` (`head_request`) or not.
/// `Err` is an unrecoverable framing error: the response is a 502.
pub fn response_framing(
    status: u16,
    head_request: bool,
    hs: &[httparse::Header],
) -> Result<ResponseFraming, &'static str> {
    // httparse takes any three digits; a status line may only carry 100-599 (RFC 9110
    // section 15), and `010` would otherwise be re-written as the two-digit, invalid `10`.
    if !(100..=599).contains(&status) {
        return Err("status code outside 100-599");
    }
    let no_body = head_request || status < 200 || status == 204 || status == 304;
    let mut saw_te = false;
    let mut chunked_last = false;
    let mut other_codings = false;
    for value in headers::values(hs, "transfer-encoding") {
        // The field's presence counts, even with an empty value: a parser that goes by
        // presence would frame the message differently from one that goes by its codings,
        // so it is treated as Transfer-Encoding (read until close, never reused).
        saw_te = true;
        for coding in tokens(value) {
            if coding.eq_ignore_ascii_case(b"chunked") {
                if chunked_last {
                    return Err("chunked applied twice");
                }
                chunked_last = true;
            } else if coding.is_empty() {
                continue;
            } else {
                other_codings = true;
                chunked_last = false;
            }
        }
    }
    let mut length = None;
    for value in headers::values(hs, "content-length") {
        // `tokens` yields nothing for a blank value, which would make the field vanish;
        // `Content-Length = 1*DIGIT`, so an empty one is invalid like any other bad value.
        if headers::trim(value).is_empty() {
            return Err("empty Content-Length");
        }
        for item in tokens(value) {
            let n = parse_content_length(item).ok_or("invalid Content-Length")?;
            if length.is_some_and(|l| l != n) {
                return Err("conflicting Content-Length values");
            }
            length = Some(n);
        }
    }
    if no_body {
        return Ok(ResponseFraming {
            body: In::None,
            reusable: !(saw_te && length.is_some()),
        });
    }
    if saw_te {
        if other_codings && chunked_last {
            return Err("transfer codings other than chunked");
        }
        return Ok(if chunked_last {
            ResponseFraming {
                body: In::Chunked,
                reusable: length.is_none(),
            }
        } else {
            ResponseFraming {
                body: In::UntilClose,
                reusable: false,
            }
        });
    }
    Ok(match length {
        Some(0) => ResponseFraming {
            body: In::None,
            reusable: true,
        },
        Some(n) => ResponseFraming {
            body: In::Length(n),
            reusable: true,
        },
        None => ResponseFraming {
            body: In::UntilClose,
            reusable: false,
        },
    })
}

/// How a response body goes to the client: a known length stays a length; anything else is
/// chunked for HTTP/1.1 clients, or sent raw and ended by closing for HTTP/1.0 clients.
pub fn client_framing(body: In, client_http11: bool) -> Out {
    match body {
        In::None => Out::None,
        In::Length(n) => Out::Length(n),
        In::Chunked | In::UntilClose if client_http11 => Out::Chunked,
        In::Chunked | In::UntilClose => Out::Close,
    }
}

/// How a request body goes upstream: always a length or chunked (never read-until-close). A
/// body that ends with its HTTP/2 stream (`UntilClose`, no content-length) goes chunked.
pub fn request_out(body: In) -> Out {
    match body {
        In::None => Out::None,
        In::Length(n) => Out::Length(n),
        In::Chunked | In::UntilClose => Out::Chunked,
    }
}

/// Why a body could not be moved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyError {
    Malformed(&'static str),
    TooLarge,
}

impl From<ChunkError> for BodyError {
    fn from(e: ChunkError) -> Self {
        BodyError::Malformed(e.0)
    }
}

/// The input ended before the body did (see [`Body::at_eof`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Truncated;

/// One message body in transit.
#[derive(Clone, Debug)]
pub struct Body {
    input: In,
    remaining: u64,
    decoder: Decoder,
    chunked_out: bool,
    limit: u64,
    /// Body bytes moved so far (decoded payload, without framing).
    pub total: u64,
    done: bool,
}

impl Body {
    /// A body framed as `input`, written out as chunked when `chunked_out`, refused past
    /// `limit` payload bytes.
    pub fn new(input: In, chunked_out: bool, limit: u64) -> Body {
        let remaining = match input {
            In::Length(n) => n,
            _ => 0,
        };
        Body {
            input,
            remaining,
            decoder: Decoder::new(),
            chunked_out,
            limit,
            total: 0,
            done: matches!(input, In::None | In::Length(0)),
        }
    }

    /// The whole body (and its end marker) has been moved.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Moves what fits from `src` to `dst`. Returns whether anything was consumed or produced.
    pub fn pump(&mut self, src: &mut Buffer, dst: &mut Buffer) -> Result<bool, BodyError> {
        let mut progress = false;
        while !self.done {
            let room = if self.chunked_out {
                dst.remaining().saturating_sub(CHUNK_OVERHEAD)
            } else {
                dst.remaining()
            };
            let input = src.filled();
            let (consumed, data) = match self.input {
                In::None => (0, 0..0),
                In::Length(_) | In::UntilClose => {
                    let mut n = input.len().min(room);
                    if self.input != In::UntilClose {
                        n = n.min(self.remaining.min(usize::MAX as u64) as usize);
                    }
                    (n, 0..n)
                }
                In::Chunked => {
                    let step = self.decoder.decode(input, room)?;
                    (step.consumed, step.data)
                }
            };
            let len = data.len();
            if len > 0 {
                self.total += len as u64;
                if self.total > self.limit {
                    return Err(BodyError::TooLarge);
                }
                if self.chunked_out {
                    chunked::push_chunk_header(dst, len);
                }
                dst.push(&input[data]);
                if self.chunked_out {
                    dst.push(b"\r\n");
                }
            }
            src.consume(consumed);
            if let In::Length(_) = self.input {
                self.remaining -= len as u64;
                if self.remaining == 0 {
                    self.finish(dst);
                }
            } else if self.input == In::Chunked && self.decoder.is_done() {
                self.finish(dst);
            }
            if consumed == 0 && len == 0 {
                break;
            }
            progress = true;
        }
        Ok(progress)
    }

    /// The input reached end-of-stream. `Ok` when that ends the body (read-until-close), with
    /// the end marker written; `Err` when the body was truncated.
    pub fn at_eof(&mut self, dst: &mut Buffer) -> Result<(), Truncated> {
        if self.done {
            return Ok(());
        }
        if self.input == In::UntilClose {
            self.finish(dst);
            return Ok(());
        }
        Err(Truncated)
    }

    fn finish(&mut self, dst: &mut Buffer) {
        self.done = true;
        if self.chunked_out {
            dst.push(LAST_CHUNK);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h<'a>(pairs: &'a [(&'a str, &'a str)]) -> Vec<httparse::Header<'a>> {
        pairs
            .iter()
            .map(|(n, v)| httparse::Header {
                name: n,
                value: v.as_bytes(),
            })
            .collect()
    }

    #[test]
    fn response_framing_rules() {
        let f = |status, head, pairs: &[(&str, &str)]| response_framing(status, head, &h(pairs));
        assert_eq!(
            f(200, false, &[("Content-Length", "5")]).unwrap().body,
            In::Length(5)
        );
        assert_eq!(
            f(200, false, &[("Content-Length", "5, 5")]).unwrap().body,
            In::Length(5)
        );
        assert!(f(
            200,
            false,
            &[("Content-Length", "5"), ("Content-Length", "6")]
        )
        .is_err());
        assert!(f(200, false, &[("Content-Length", "-5")]).is_err());
        assert_eq!(
            f(200, false, &[("Content-Length", "0")]).unwrap().body,
            In::None
        );
        let both = f(
            200,
            false,
            &[("Content-Length", "5"), ("Transfer-Encoding", "chunked")],
        )
        .unwrap();
        assert_eq!(
            both,
            ResponseFraming {
                body: In::Chunked,
                reusable: false
            }
        );
        assert_eq!(
            f(200, false, &[("Transfer-Encoding", "gzip")])
                .unwrap()
                .body,
            In::UntilClose
        );
        assert!(f(200, false, &[("Transfer-Encoding", "gzip, chunked")]).is_err());
        // Found by fuzz/fuzz_targets/forward.rs: an empty Transfer-Encoding beside a
        // Content-Length left the upstream connection reusable.
        let empty_te = f(
            200,
            false,
            &[("Transfer-Encoding", ""), ("Content-Length", "5")],
        )
        .unwrap();
        assert_eq!(
            empty_te,
            ResponseFraming {
                body: In::UntilClose,
                reusable: false
            }
        );
        assert!(
            !f(
                304,
                false,
                &[("Transfer-Encoding", " "), ("Content-Length", "5")]
            )
            .unwrap()
            .reusable
        );
        // Found by fuzz/fuzz_targets/forward.rs: an empty Content-Length was ignored, so a
        // HEAD response with it and Transfer-Encoding left the connection reusable.
        for head in [false, true] {
            assert!(f(200, head, &[("Content-Length", "")]).is_err());
            assert!(f(
                200,
                head,
                &[("Transfer-Encoding", "chunked"), ("Content-Length", " ")]
            )
            .is_err());
        }
        // Found by fuzz/fuzz_targets/forward.rs: `HTTP/1.1 010` went out as `HTTP/1.1 10`.
        for status in [0, 10, 99, 600, 999] {
            assert!(f(status, false, &[]).is_err(), "{status}");
        }
        let none = f(200, false, &[]).unwrap();
        assert_eq!(
            none,
            ResponseFraming {
                body: In::UntilClose,
                reusable: false
            }
        );
        for (status, head) in [(204, false), (304, false), (100, false), (200, true)] {
            let r = f(status, head, &[("Content-Length", "5")]).unwrap();
            assert_eq!(
                r,
                ResponseFraming {
                    body: In::None,
                    reusable: true
                }
            );
        }
        assert_eq!(client_framing(In::UntilClose, true), Out::Chunked);
        assert_eq!(client_framing(In::Chunked, false), Out::Close);
        assert_eq!(client_framing(In::Length(3), false), Out::Length(3));
    }

    fn buf(bytes: &[u8]) -> Buffer {
        let mut b = Buffer::new(1 << 20);
        b.push(bytes);
        b
    }

    #[test]
    fn length_body_stops_at_its_end() {
        let mut body = Body::new(In::Length(5), false, u64::MAX);
        let mut src = buf(b"helloGET /");
        let mut dst = Buffer::new(3);
        assert!(body.pump(&mut src, &mut dst).unwrap());
        assert_eq!(dst.filled(), b"hel");
        assert!(!body.is_done());
        dst.clear();
        body.pump(&mut src, &mut dst).unwrap();
        assert_eq!(dst.filled(), b"lo");
        assert!(body.is_done());
        assert_eq!(src.filled(), b"GET /");
        assert!(body.at_eof(&mut dst).is_ok());
    }

    #[test]
    fn chunked_is_reencoded_and_trailers_dropped() {
        let mut body = Body::new(In::Chunked, true, u64::MAX);
        let mut src = buf(b"3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nT: 1\r\n\r\nNEXT");
        let mut dst = Buffer::new(1024);
        body.pump(&mut src, &mut dst).unwrap();
        assert!(body.is_done());
        assert_eq!(dst.filled(), b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n");
        assert_eq!(src.filled(), b"NEXT");
        assert_eq!(body.total, 5);
    }

    #[test]
    fn chunked_to_raw_and_limits() {
        let mut body = Body::new(In::Chunked, false, 4);
        let mut src = buf(b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n");
        let mut dst = Buffer::new(1024);
        assert_eq!(body.pump(&mut src, &mut dst), Err(BodyError::TooLarge));
        let mut bad = Body::new(In::Chunked, false, 100);
        assert!(matches!(
            bad.pump(&mut buf(b"0x1\r\n"), &mut dst),
            Err(BodyError::Malformed(_))
        ));
    }

    #[test]
    fn until_close_is_chunked_for_http11_and_truncation_is_detected() {
        let mut body = Body::new(In::UntilClose, true, u64::MAX);
        let mut src = buf(b"abc");
        let mut dst = Buffer::new(1024);
        body.pump(&mut src, &mut dst).unwrap();
        assert!(body.at_eof(&mut dst).is_ok());
        assert_eq!(dst.filled(), b"3\r\nabc\r\n0\r\n\r\n");
        let mut cut = Body::new(In::Length(10), false, u64::MAX);
        cut.pump(&mut buf(b"abc"), &mut dst).unwrap();
        assert!(cut.at_eof(&mut dst).is_err());
        let mut cut_chunked = Body::new(In::Chunked, true, u64::MAX);
        let mut out = Buffer::new(1024);
        cut_chunked.pump(&mut buf(b"5\r\nab"), &mut out).unwrap();
        assert!(cut_chunked.at_eof(&mut out).is_err());
        assert!(!out.filled().ends_with(LAST_CHUNK));
    }

    #[test]
    fn backpressure_leaves_input_in_place() {
        let mut body = Body::new(In::Chunked, true, u64::MAX);
        let mut src = buf(b"a\r\n0123456789\r\n0\r\n\r\n");
        let mut dst = Buffer::new(CHUNK_OVERHEAD + 4);
        body.pump(&mut src, &mut dst).unwrap();
        assert_eq!(dst.filled(), b"4\r\n0123\r\n");
        let mut out = dst.filled().to_vec();
        while !body.is_done() {
            dst.clear();
            body.pump(&mut src, &mut dst).unwrap();
            out.extend_from_slice(dst.filled());
        }
        assert_eq!(out, b"4\r\n0123\r\n4\r\n4567\r\n2\r\n89\r\n0\r\n\r\n");
    }
}
