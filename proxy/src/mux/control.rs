//! The connection-level frames of an HTTP/2 connection (SETTINGS, WINDOW_UPDATE), the budget
//! checks, and the bookkeeping of closed streams (RFC 9113 sections 5.1, 6.5, 6.9).

use std::time::Instant;

use common::buffer::Buffer;
use common::event_loop::Cx;
use proxy::h2::frame::{self, ConnError, ErrorCode, FrameHead, Setting};

use super::{Mux, CALM};

impl Mux {
    /// Charges the chatter budget.
    pub(super) fn calm(&mut self, now: Instant) -> Result<(), ConnError> {
        if self.chatter.charge(now) {
            Ok(())
        } else {
            Err(CALM)
        }
    }

    /// Sends RST_STREAM for a stream error the client caused; it counts as a reset.
    pub(super) fn reset(
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

    pub(super) fn settings(
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

    pub(super) fn window_update(
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
        let increment = i64::from(frame::u31(payload));
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

    pub(super) fn remember_closed(&mut self, id: u32, reset_by_us: bool) {
        self.closed[self.closed_at % self.closed.len()] = (id, reset_by_us);
        self.closed_at += 1;
    }

    /// Whether stream `id` closed lately, and if so whether we reset it. Frames still in
    /// flight on a stream we reset are ignored (section 5.1, "closed"); other frames on a
    /// closed stream are STREAM_CLOSED errors; an id below the highest one used that was
    /// never opened is a PROTOCOL_ERROR (section 5.1.1). Older ids are treated as never seen.
    pub(super) fn closed_lately(&self, id: u32) -> Option<bool> {
        self.closed
            .iter()
            .find(|(closed, _)| *closed == id && id != 0)
            .map(|&(_, reset)| reset)
    }
}
