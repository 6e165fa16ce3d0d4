//! A strict, streaming decoder for the chunked transfer coding (RFC 9112 section 7.1) and the
//! matching encoder helpers.
//!
//! The decoder is fed whatever bytes have arrived, in any split, and hands back body data
//! slices; it never buffers or allocates. It is deliberately strict, because what it accepts
//! is what a differently-lenient upstream might parse another way (request smuggling):
//! - chunk size: 1 to 16 hex digits (always fits a u64), nothing else: no sign, no `0x`, no
//!   spaces inside; white space before `;` only;
//! - chunk extensions: syntax-checked loosely (visible characters, SP, HTAB, obs-text), at most
//!   [`MAX_LINE`] bytes per line, then dropped;
//! - every line ends with CRLF; a bare LF or bare CR is an error (our bare-LF policy: reject);
//! - the data of each chunk is followed by exactly CRLF;
//! - trailer fields are bounded to [`MAX_TRAILERS`] bytes in total, each must be a field line
//!   (a token, then `:`), obs-fold is refused, and they are dropped (never forwarded). A line
//!   that is not a field (`GET / HTTP/1.1` after a last chunk missing its empty line) is an
//!   error, not a trailer to skip: another parser may well read it as the next request.
//!
//! It performs no I/O and never panics.

use common::buffer::Buffer;
use common::http::headers::hex_value;
use common::http::headers::is_token;

/// Longest chunk-size line (size, extensions) accepted.
pub const MAX_LINE: usize = 4096;
/// Most bytes of trailer section accepted.
pub const MAX_TRAILERS: usize = 8192;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Size,
    SizeWs,
    Ext,
    SizeLf,
    Data,
    DataCr,
    DataLf,
    TrailerStart,
    TrailerName,
    Trailer,
    TrailerLf,
    EndLf,
    Done,
}

/// Why a chunked body was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkError(pub &'static str);

/// One decoding step: `consumed` input bytes were used; `data` is the range of input that is
/// body data (possibly empty).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    pub consumed: usize,
    pub data: std::ops::Range<usize>,
}

/// The decoder's state between calls.
#[derive(Clone, Debug)]
pub struct Decoder {
    state: State,
    remaining: u64,
    digits: u8,
    line: usize,
    trailers: usize,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Decoder {
    pub fn new() -> Self {
        Decoder {
            state: State::Size,
            remaining: 0,
            digits: 0,
            line: 0,
            trailers: 0,
        }
    }

    /// True once the last chunk and the trailer section have been read.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Decodes from the front of `input`. Stops after one run of data (at most `max_data`
    /// bytes), when the input is used up, or when the body ends.
    pub fn decode(&mut self, input: &[u8], max_data: usize) -> Result<Step, ChunkError> {
        let mut i = 0;
        while i < input.len() {
            let b = input[i];
            match self.state {
                State::Size => match hex_value(b) {
                    Some(d) => {
                        self.digits += 1;
                        if self.digits > 16 {
                            return Err(ChunkError("chunk size too large"));
                        }
                        self.remaining = (self.remaining << 4) | u64::from(d);
                    }
                    None if self.digits == 0 => return Err(ChunkError("missing chunk size")),
                    None => match b {
                        b';' => self.state = State::Ext,
                        b' ' | b'\t' => self.state = State::SizeWs,
                        b'\r' => self.state = State::SizeLf,
                        _ => return Err(ChunkError("invalid chunk size")),
                    },
                },
                State::SizeWs => match b {
                    b' ' | b'\t' => {}
                    b';' => self.state = State::Ext,
                    _ => return Err(ChunkError("invalid chunk size")),
                },
                State::Ext => match b {
                    b'\r' => self.state = State::SizeLf,
                    b'\t' | b' '..=b'~' | 0x80..=0xff => {
                        self.line += 1;
                        if self.line > MAX_LINE {
                            return Err(ChunkError("chunk extension too long"));
                        }
                    }
                    _ => return Err(ChunkError("invalid chunk extension")),
                },
                State::SizeLf => {
                    if b != b'\n' {
                        return Err(ChunkError("bare CR in chunk size line"));
                    }
                    self.state = if self.remaining == 0 {
                        State::TrailerStart
                    } else {
                        State::Data
                    };
                }
                State::Data => {
                    let available = (input.len() - i) as u64;
                    let n = self.remaining.min(available).min(max_data as u64) as usize;
                    if n == 0 {
                        return Ok(Step {
                            consumed: i,
                            data: i..i,
                        });
                    }
                    self.remaining -= n as u64;
                    if self.remaining == 0 {
                        self.state = State::DataCr;
                    }
                    return Ok(Step {
                        consumed: i + n,
                        data: i..i + n,
                    });
                }
                State::DataCr => {
                    if b != b'\r' {
                        return Err(ChunkError("missing CRLF after chunk data"));
                    }
                    self.state = State::DataLf;
                }
                State::DataLf => {
                    if b != b'\n' {
                        return Err(ChunkError("missing CRLF after chunk data"));
                    }
                    self.state = State::Size;
                    self.digits = 0;
                    self.line = 0;
                }
                State::TrailerStart => match b {
                    b'\r' => self.state = State::EndLf,
                    b' ' | b'\t' => return Err(ChunkError("obs-fold in trailer")),
                    _ if is_token(&[b]) => {
                        self.state = State::TrailerName;
                        self.count_trailer(b)?;
                    }
                    _ => return Err(ChunkError("malformed trailer field")),
                },
                State::TrailerName => match b {
                    b':' => {
                        self.state = State::Trailer;
                        self.count_trailer(b)?;
                    }
                    _ if is_token(&[b]) => self.count_trailer(b)?,
                    _ => return Err(ChunkError("malformed trailer field")),
                },
                State::Trailer => {
                    if b == b'\r' {
                        self.state = State::TrailerLf;
                    } else {
                        self.count_trailer(b)?;
                    }
                }
                State::TrailerLf => {
                    if b != b'\n' {
                        return Err(ChunkError("bare CR in trailer"));
                    }
                    self.state = State::TrailerStart;
                }
                State::EndLf => {
                    if b != b'\n' {
                        return Err(ChunkError("bare CR after last chunk"));
                    }
                    self.state = State::Done;
                    return Ok(Step {
                        consumed: i + 1,
                        data: i + 1..i + 1,
                    });
                }
                State::Done => {
                    return Ok(Step {
                        consumed: i,
                        data: i..i,
                    })
                }
            }
            i += 1;
        }
        Ok(Step {
            consumed: i,
            data: i..i,
        })
    }

    fn count_trailer(&mut self, b: u8) -> Result<(), ChunkError> {
        if b != b'\t' && (b < b' ' || b == 0x7f) {
            return Err(ChunkError("invalid byte in trailer"));
        }
        self.trailers += 1;
        if self.trailers > MAX_TRAILERS {
            return Err(ChunkError("trailer section too large"));
        }
        Ok(())
    }
}

/// Bytes of framing around one chunk's data: at most 16 hex digits and two CRLFs.
pub const CHUNK_OVERHEAD: usize = 20;

/// Appends `len` as a chunk-size line (`1a2b\r\n`).
pub fn push_chunk_header(out: &mut Buffer, len: usize) {
    let mut digits = [0u8; 18];
    let mut i = 16;
    let mut n = len as u64;
    loop {
        i -= 1;
        digits[i] = b"0123456789abcdef"[(n & 15) as usize];
        n >>= 4;
        if n == 0 {
            break;
        }
    }
    digits[16] = b'\r';
    digits[17] = b'\n';
    out.push(&digits[i..]);
}

/// The last chunk and an empty trailer section.
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes `input` fed in pieces of `split` bytes; returns the body or the error.
    fn decode_all(
        input: &[u8],
        split: usize,
        max_data: usize,
    ) -> Result<(Vec<u8>, usize), ChunkError> {
        let mut d = Decoder::new();
        let mut body = Vec::new();
        let mut pending: Vec<u8> = Vec::new();
        let mut fed = 0;
        loop {
            if !pending.is_empty() || fed < input.len() {
                let end = (fed + split).min(input.len());
                pending.extend_from_slice(&input[fed..end]);
                fed = end;
            }
            loop {
                let step = d.decode(&pending, max_data)?;
                body.extend_from_slice(&pending[step.data.clone()]);
                pending.drain(..step.consumed);
                if d.is_done() {
                    return Ok((body, pending.len() + input.len() - fed));
                }
                if step.consumed == 0 {
                    break;
                }
            }
            if fed == input.len() {
                return Err(ChunkError("incomplete"));
            }
        }
    }

    #[test]
    fn decodes_in_any_split() {
        let input =
            b"5\r\nhello\r\n1;ext=\"v\"\r\n \r\nA \t;x\r\n0123456789\r\n0\r\nX-T: 1\r\n\r\nNEXT";
        for split in [1, 2, 3, 7, 100] {
            for max in [1, 4, 1000] {
                let (body, left) = decode_all(input, split, max).unwrap();
                assert_eq!(body, b"hello 0123456789", "split {split} max {max}");
                assert_eq!(left, 4);
            }
        }
    }

    #[test]
    fn sizes_at_the_limit() {
        let (body, _) = decode_all(b"000000000000000A\r\n0123456789\r\n0\r\n\r\n", 5, 100).unwrap();
        assert_eq!(body.len(), 10);
        // 16 digits parse; the body is just not there.
        assert_eq!(
            decode_all(b"ffffffffffffffff\r\n", 100, 100),
            Err(ChunkError("incomplete"))
        );
    }

    #[test]
    fn refuses_malformed_bodies() {
        let cases: &[&[u8]] = &[
            b"-1\r\n",
            b"+1\r\na\r\n0\r\n\r\n",
            b"0x10\r\n",
            b"1 0\r\n",
            b" 1\r\n",
            b"1 \r\na\r\n0\r\n\r\n",
            b"ffffffffffffffffff\r\n",
            b"00000000000000001\r\n",
            b"\r\n",
            b";x\r\n",
            b"g\r\n",
            b"1\na\r\n0\r\n\r\n",
            b"1\rxa\r\n",
            b"1\r\nab\r\n0\r\n\r\n",
            b"1\r\na\n0\r\n\r\n",
            b"1\r\naXY0\r\n\r\n",
            b"1;a\x00b\r\n",
            b"1;a\nb\r\n",
            b"0\r\nX: y\r\n folded\r\n\r\n",
            b"0\r\nX: y\n\r\n",
            b"0\r\nX: \x01\r\n\r\n",
            b"0\r\n\rx",
            // Found by tests/adversarial (ck-zero-with-data, ck-trailer-not-a-field): lines that
            // are not field lines used to be skipped as trailers.
            b"0\r\nhello\r\n\r\n",
            b"0\r\nGET /next HTTP/1.1\r\nHost: a\r\n\r\n",
            b"0\r\n: x\r\n\r\n",
            b"0\r\nX : y\r\n\r\n",
            b"0\r\nX\r\n\r\n",
        ];
        for case in cases {
            let got = decode_all(case, 3, 100);
            assert!(
                matches!(got, Err(ChunkError(m)) if m != "incomplete"),
                "{:?} gave {:?}",
                String::from_utf8_lossy(case),
                got
            );
        }
    }

    #[test]
    fn bounded_extensions_and_trailers() {
        let mut long_ext = b"1;".to_vec();
        long_ext.extend(std::iter::repeat(b'a').take(MAX_LINE + 1));
        long_ext.extend_from_slice(b"\r\n");
        assert!(decode_all(&long_ext, 64, 10).is_err());
        let mut trailers = b"0\r\n".to_vec();
        for _ in 0..1000 {
            trailers.extend_from_slice(b"X-Some-Trailer: value\r\n");
        }
        trailers.extend_from_slice(b"\r\n");
        assert_eq!(
            decode_all(&trailers, 64, 10),
            Err(ChunkError("trailer section too large"))
        );
    }

    #[test]
    fn chunk_headers() {
        let mut out = Buffer::new(64);
        push_chunk_header(&mut out, 0x1a2b);
        push_chunk_header(&mut out, 0);
        push_chunk_header(&mut out, usize::MAX);
        assert_eq!(out.filled(), b"1a2b\r\n0\r\nffffffffffffffff\r\n");
    }
}
