//! HTTP/2 framing (`proxy::h2::frame`): the frame splitter, padding, the HEADERS priority
//! fields and SETTINGS validation, on arbitrary bytes.
//!
//! Invariants:
//! - nothing panics; a frame is handed out only when all of it is there, and its payload is
//!   exactly the length its header says, inside the input;
//! - a frame longer than the size limit is an error as soon as its header is read, never
//!   buffered;
//! - unpadding stays inside the payload and removes exactly pad length + 1 + pad bytes;
//! - SETTINGS either fails or yields one setting per 6 bytes;
//! - what the writers produce splits back into the same frames.
#![no_main]

use common::buffer::Buffer;
use libfuzzer_sys::fuzz_target;
use proxy::h2::frame::{self, FrameHead};

fuzz_target!(|data: &[u8]| {
    let Some((&knob, input)) = data.split_first() else {
        return;
    };
    let max = if knob & 1 == 0 { frame::MIN_MAX_FRAME } else { 64 };
    let mut at = 0;
    while at < input.len() {
        match frame::next_frame(&input[at..], max) {
            Ok(None) => {
                assert!(input.len() - at < frame::HEADER_LEN || {
                    let h = &input[at..];
                    let len = (usize::from(h[0]) << 16) | (usize::from(h[1]) << 8) | usize::from(h[2]);
                    len <= max && h.len() < frame::HEADER_LEN + len
                });
                break;
            }
            Err(_) => {
                let h = &input[at..];
                let len = (usize::from(h[0]) << 16) | (usize::from(h[1]) << 8) | usize::from(h[2]);
                assert!(len > max);
                break;
            }
            Ok(Some((head, payload))) => {
                assert_eq!(payload.len(), head.len);
                assert!(head.len <= max && head.stream < 1 << 31);
                check_payload(&head, payload);
                at += frame::HEADER_LEN + head.len;
            }
        }
    }
    // Writers split back into what they wrote.
    let mut out = Buffer::new(1 << 16);
    let stream = u32::from_be_bytes([0, knob, knob, knob]) & 0x7fff_ffff;
    frame::put_window_update(&mut out, stream, u32::from(knob) + 1);
    frame::put_rst_stream(&mut out, stream, frame::ErrorCode::Cancel);
    frame::put_goaway(&mut out, stream, frame::ErrorCode::NoError);
    frame::put_ping_ack(&mut out, &[knob; 8]);
    let kinds = [frame::WINDOW_UPDATE, frame::RST_STREAM, frame::GOAWAY, frame::PING];
    let mut rest = out.filled();
    for kind in kinds {
        let (head, payload) = frame::next_frame(rest, frame::MIN_MAX_FRAME).unwrap().unwrap();
        assert_eq!(head.kind, kind);
        rest = &rest[frame::HEADER_LEN + payload.len()..];
    }
    assert!(rest.is_empty());
});

fn check_payload(head: &FrameHead, payload: &[u8]) {
    if let Ok((removed, range)) = frame::unpad(head, payload) {
        assert!(range.end <= payload.len() && range.start <= range.end);
        if head.has(frame::PADDED) {
            assert_eq!(removed, usize::from(payload[0]) + 1);
            assert_eq!(payload.len() - range.len(), removed);
        } else {
            assert_eq!(range, 0..payload.len());
        }
    }
    if let Ok((fragment, dependency)) = frame::headers_fragment(head, payload) {
        assert!(fragment.len() <= payload.len());
        assert_eq!(dependency.is_some(), head.has(frame::PRIORITY_FLAG));
    }
    if let Ok(settings) = frame::settings(payload) {
        assert_eq!(payload.len() % 6, 0);
        assert_eq!(settings.count(), payload.len() / 6);
    }
}
