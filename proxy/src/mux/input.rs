//! The frames a client sends, one at a time, in the order RFC 9113 requires: header blocks
//! (HEADERS and CONTINUATION, bounded before decoding) that open streams or end them with
//! trailers, DATA within the windows, and the rest dispatched to `control.rs`. Every error is
//! a connection error (`Err`) or a stream reset, never a panic.

use common::event_loop::Cx;
use proxy::h2::frame::{self, ConnError, ErrorCode, FrameHead};

use super::stream::{H2Stream, Opening};
use super::{Mux, Out, Phase, CALM, MAX_BLOCK, MAX_CONTINUATIONS, MAX_HEADER_LIST, MAX_STREAMS};
use crate::service::Proxy;

impl Mux {
    pub(super) fn frame(
        &mut self,
        head: FrameHead,
        payload: &[u8],
        out: &mut Out,
        p: &mut Proxy,
        cx: &mut Cx,
    ) -> Result<(), ConnError> {
        let protocol = |why| ConnError(ErrorCode::ProtocolError, why);
        match self.phase {
            // Section 6.10: nothing may interleave a header block.
            Phase::Continuation { stream, .. }
                if head.kind != frame::CONTINUATION || head.stream != stream =>
            {
                return Err(protocol("frame inside a header block"));
            }
            Phase::Settings if head.kind != frame::SETTINGS || head.has(frame::ACK) => {
                return Err(protocol("the preface is not followed by SETTINGS"));
            }
            Phase::Settings => self.phase = Phase::Frames,
            _ => {}
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
                if frame::u31(payload) == head.stream {
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

    pub(super) fn append_block(&mut self, fragment: &[u8]) -> Result<(), ConnError> {
        if self.block.len() + fragment.len() > MAX_BLOCK {
            return Err(ConnError(
                ErrorCode::EnhanceYourCalm,
                "header block too large",
            ));
        }
        self.block.extend_from_slice(fragment);
        Ok(())
    }

    /// A complete header block for `id`: a new request, or trailers.
    pub(super) fn headers(
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

    pub(super) fn data(
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
            // The whole frame counts against the stream window as well (the client counts it
            // so); the padding never reaches the buffer, so its share comes back with the
            // next window update. `data` takes off the rest.
            s.recv_window -= len - range.len() as i64;
            s.data(&payload[range], end_stream)
        };
        if let Err(code) = result {
            self.streams.remove(i).abandon(cx);
            return self.reset(out.cout, head.stream, code, now);
        }
        Ok(())
    }
}
