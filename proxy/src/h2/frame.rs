//! HTTP/2 framing (RFC 9113 sections 4 and 6): the frame header, the payload rules of each
//! frame type that can be checked without connection state, SETTINGS values, and the writers
//! of the frames the proxy sends. Pure: no I/O, no connection state, never panics on input.

use common::buffer::Buffer;

/// The client connection preface (RFC 9113 section 3.4).
pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// Length of a frame header.
pub const HEADER_LEN: usize = 9;
/// The smallest SETTINGS_MAX_FRAME_SIZE, and the one we advertise (section 6.5.2).
pub const MIN_MAX_FRAME: usize = 16_384;
/// The largest flow-control window (section 6.9.1).
pub const MAX_WINDOW: i64 = (1 << 31) - 1;
/// The initial window of every stream and of the connection until SETTINGS change it.
pub const DEFAULT_WINDOW: i64 = 65_535;

pub const DATA: u8 = 0x0;
pub const HEADERS: u8 = 0x1;
pub const PRIORITY: u8 = 0x2;
pub const RST_STREAM: u8 = 0x3;
pub const SETTINGS: u8 = 0x4;
pub const PUSH_PROMISE: u8 = 0x5;
pub const PING: u8 = 0x6;
pub const GOAWAY: u8 = 0x7;
pub const WINDOW_UPDATE: u8 = 0x8;
pub const CONTINUATION: u8 = 0x9;

pub const END_STREAM: u8 = 0x1;
pub const ACK: u8 = 0x1;
pub const END_HEADERS: u8 = 0x4;
pub const PADDED: u8 = 0x8;
pub const PRIORITY_FLAG: u8 = 0x20;

/// Error codes (section 7).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum ErrorCode {
    NoError = 0x0,
    ProtocolError = 0x1,
    InternalError = 0x2,
    FlowControlError = 0x3,
    SettingsTimeout = 0x4,
    StreamClosed = 0x5,
    FrameSizeError = 0x6,
    RefusedStream = 0x7,
    Cancel = 0x8,
    CompressionError = 0x9,
    EnhanceYourCalm = 0xb,
}

impl ErrorCode {
    /// Every code the proxy sends, for counting them.
    pub const ALL: [ErrorCode; 11] = [
        ErrorCode::NoError,
        ErrorCode::ProtocolError,
        ErrorCode::InternalError,
        ErrorCode::FlowControlError,
        ErrorCode::SettingsTimeout,
        ErrorCode::StreamClosed,
        ErrorCode::FrameSizeError,
        ErrorCode::RefusedStream,
        ErrorCode::Cancel,
        ErrorCode::CompressionError,
        ErrorCode::EnhanceYourCalm,
    ];

    /// The name in RFC 9113 section 7, lowercase (a metric label).
    pub fn name(self) -> &'static str {
        match self {
            ErrorCode::NoError => "no_error",
            ErrorCode::ProtocolError => "protocol_error",
            ErrorCode::InternalError => "internal_error",
            ErrorCode::FlowControlError => "flow_control_error",
            ErrorCode::SettingsTimeout => "settings_timeout",
            ErrorCode::StreamClosed => "stream_closed",
            ErrorCode::FrameSizeError => "frame_size_error",
            ErrorCode::RefusedStream => "refused_stream",
            ErrorCode::Cancel => "cancel",
            ErrorCode::CompressionError => "compression_error",
            ErrorCode::EnhanceYourCalm => "enhance_your_calm",
        }
    }
}

/// A connection error: GOAWAY with this code, then close (section 5.4.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnError(pub ErrorCode, pub &'static str);

/// A parsed frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHead {
    pub len: usize,
    pub kind: u8,
    pub flags: u8,
    pub stream: u32,
}

impl FrameHead {
    pub fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }
}

/// The first frame in `input` if it is all there: its header and payload. A frame longer than
/// `max_frame` is a FRAME_SIZE_ERROR (section 4.2), reported as soon as its header is read.
pub fn next_frame(input: &[u8], max_frame: usize) -> Result<Option<(FrameHead, &[u8])>, ConnError> {
    let Some(h) = input.get(..HEADER_LEN) else {
        return Ok(None);
    };
    let head = FrameHead {
        len: (usize::from(h[0]) << 16) | (usize::from(h[1]) << 8) | usize::from(h[2]),
        kind: h[3],
        flags: h[4],
        // The reserved bit is ignored on receipt (section 4.1).
        stream: u31(&h[5..]),
    };
    if head.len > max_frame {
        return Err(ConnError(
            ErrorCode::FrameSizeError,
            "frame larger than SETTINGS_MAX_FRAME_SIZE",
        ));
    }
    Ok(input
        .get(HEADER_LEN..HEADER_LEN + head.len)
        .map(|payload| (head, payload)))
}

/// The payload of a PADDED frame without its padding (section 6.1): the pad length must be
/// less than the payload that follows it, else PROTOCOL_ERROR.
pub fn unpad(
    head: &FrameHead,
    payload: &[u8],
) -> Result<(usize, std::ops::Range<usize>), ConnError> {
    if !head.has(PADDED) {
        return Ok((0, 0..payload.len()));
    }
    let Some((&pad, _)) = payload.split_first() else {
        return Err(ConnError(
            ErrorCode::FrameSizeError,
            "padded frame without pad length",
        ));
    };
    let pad = usize::from(pad);
    if pad >= payload.len() {
        return Err(ConnError(
            ErrorCode::ProtocolError,
            "padding exceeds the payload",
        ));
    }
    Ok((pad + 1, 1..payload.len() - pad))
}

/// The header block fragment of a HEADERS frame and, if it carried priority, its dependency.
pub fn headers_fragment<'a>(
    head: &FrameHead,
    payload: &'a [u8],
) -> Result<(&'a [u8], Option<u32>), ConnError> {
    let (_, range) = unpad(head, payload)?;
    let body = &payload[range];
    if head.has(PRIORITY_FLAG) {
        if body.len() < 5 {
            return Err(ConnError(
                ErrorCode::FrameSizeError,
                "HEADERS too short for priority",
            ));
        }
        return Ok((&body[5..], Some(u31(body))));
    }
    Ok((body, None))
}

/// A SETTINGS parameter the proxy acts on (section 6.5.2); others are ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Setting {
    HeaderTableSize(u32),
    EnablePush(u32),
    MaxConcurrentStreams(u32),
    InitialWindowSize(u32),
    MaxFrameSize(u32),
    MaxHeaderListSize(u32),
    Other,
}

/// Parses and validates a SETTINGS payload (sections 6.5 and 6.5.2).
pub fn settings(payload: &[u8]) -> Result<impl Iterator<Item = Setting> + '_, ConnError> {
    if payload.len() % 6 != 0 {
        return Err(ConnError(
            ErrorCode::FrameSizeError,
            "SETTINGS length not a multiple of 6",
        ));
    }
    let parse = |c: &[u8]| {
        let value = u32::from_be_bytes([c[2], c[3], c[4], c[5]]);
        match u16::from_be_bytes([c[0], c[1]]) {
            1 => Setting::HeaderTableSize(value),
            2 => Setting::EnablePush(value),
            3 => Setting::MaxConcurrentStreams(value),
            4 => Setting::InitialWindowSize(value),
            5 => Setting::MaxFrameSize(value),
            6 => Setting::MaxHeaderListSize(value),
            _ => Setting::Other,
        }
    };
    for setting in payload.chunks_exact(6).map(parse) {
        match setting {
            Setting::EnablePush(v) if v > 1 => {
                return Err(ConnError(
                    ErrorCode::ProtocolError,
                    "SETTINGS_ENABLE_PUSH not 0 or 1",
                ))
            }
            Setting::InitialWindowSize(v) if i64::from(v) > MAX_WINDOW => {
                return Err(ConnError(
                    ErrorCode::FlowControlError,
                    "initial window above 2^31-1",
                ))
            }
            Setting::MaxFrameSize(v) if !(MIN_MAX_FRAME as u32..=(1 << 24) - 1).contains(&v) => {
                return Err(ConnError(
                    ErrorCode::ProtocolError,
                    "SETTINGS_MAX_FRAME_SIZE out of range",
                ))
            }
            _ => {}
        }
    }
    Ok(payload.chunks_exact(6).map(parse))
}

/// Appends a frame header.
pub fn put_head(out: &mut Buffer, len: usize, kind: u8, flags: u8, stream: u32) {
    let l = (len as u32).to_be_bytes();
    let s = stream.to_be_bytes();
    out.push(&[l[1], l[2], l[3], kind, flags, s[0], s[1], s[2], s[3]]);
}

/// Appends a SETTINGS frame with `(identifier, value)` pairs.
pub fn put_settings(out: &mut Buffer, values: &[(u16, u32)]) {
    put_head(out, values.len() * 6, SETTINGS, 0, 0);
    for (id, value) in values {
        out.push(&id.to_be_bytes());
        out.push(&value.to_be_bytes());
    }
}

pub fn put_settings_ack(out: &mut Buffer) {
    put_head(out, 0, SETTINGS, ACK, 0);
}

pub fn put_ping_ack(out: &mut Buffer, data: &[u8]) {
    put_head(out, 8, PING, ACK, 0);
    out.push(data);
}

pub fn put_window_update(out: &mut Buffer, stream: u32, increment: u32) {
    put_head(out, 4, WINDOW_UPDATE, 0, stream);
    out.push(&increment.to_be_bytes());
}

pub fn put_rst_stream(out: &mut Buffer, stream: u32, code: ErrorCode) {
    put_head(out, 4, RST_STREAM, 0, stream);
    out.push(&(code as u32).to_be_bytes());
}

pub fn put_goaway(out: &mut Buffer, last_stream: u32, code: ErrorCode) {
    put_head(out, 8, GOAWAY, 0, 0);
    out.push(&last_stream.to_be_bytes());
    out.push(&(code as u32).to_be_bytes());
}

/// The 32-bit big-endian value at the front of `bytes` (0 when there are fewer than four): an
/// error code of RST_STREAM or GOAWAY.
pub fn word(bytes: &[u8]) -> u32 {
    match bytes {
        [a, b, c, d, ..] => u32::from_be_bytes([*a, *b, *c, *d]),
        _ => 0,
    }
}

/// The same without its reserved high bit, ignored on receipt (section 4.1): a stream
/// identifier (of a frame, of a priority dependency) or a window increment.
pub fn u31(bytes: &[u8]) -> u32 {
    word(bytes) & 0x7fff_ffff
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_split_and_sized() {
        let mut b = Buffer::new(1024);
        put_window_update(&mut b, 3, 100);
        let (head, payload) = next_frame(b.filled(), MIN_MAX_FRAME).unwrap().unwrap();
        assert_eq!((head.kind, head.stream, head.len), (WINDOW_UPDATE, 3, 4));
        assert_eq!(word(payload), 100);
        assert_eq!(next_frame(&b.filled()[..12], MIN_MAX_FRAME), Ok(None));
        let big = [0, 0x40, 0x01, 0, 0, 0, 0, 0, 1];
        assert!(next_frame(&big, MIN_MAX_FRAME).is_err());
        // The reserved bit of the stream id is ignored.
        let r = [0, 0, 0, PING, 0, 0x80, 0, 0, 0];
        assert_eq!(next_frame(&r, MIN_MAX_FRAME).unwrap().unwrap().0.stream, 0);
    }

    #[test]
    fn padding_rules() {
        let h = |len| FrameHead {
            len,
            kind: DATA,
            flags: PADDED,
            stream: 1,
        };
        assert_eq!(unpad(&h(4), &[2, b'a', 0, 0]), Ok((3, 1..2)));
        assert!(unpad(&h(3), &[3, 0, 0]).is_err());
        assert!(unpad(&h(0), &[]).is_err());
        let hp = FrameHead {
            len: 6,
            kind: HEADERS,
            flags: PRIORITY_FLAG,
            stream: 1,
        };
        assert_eq!(
            headers_fragment(&hp, &[0, 0, 0, 1, 16, 0x82]),
            Ok((&[0x82][..], Some(1)))
        );
        assert!(headers_fragment(&hp, &[0, 0, 0]).is_err());
    }

    #[test]
    fn settings_validation() {
        let s = |id: u16, v: u32| {
            let mut p = id.to_be_bytes().to_vec();
            p.extend(v.to_be_bytes());
            p
        };
        assert!(settings(&s(2, 2)).is_err());
        assert_eq!(
            settings(&s(4, 1 << 31)).err().unwrap().0,
            ErrorCode::FlowControlError
        );
        assert!(settings(&s(5, 16_383)).is_err());
        assert!(settings(&s(5, 1 << 24)).is_err());
        assert!(settings(&[0; 5]).is_err());
        let ok: Vec<_> = settings(&s(0xff, 7)).unwrap().collect();
        assert_eq!(ok, [Setting::Other]);
        let ok: Vec<_> = settings(&s(4, 100)).unwrap().collect();
        assert_eq!(ok, [Setting::InitialWindowSize(100)]);
    }
}
