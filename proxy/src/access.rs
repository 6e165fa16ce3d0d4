//! What the access log and the request metrics need of a request, copied out of the read
//! buffer when its head is parsed (the head leaves the buffer at once), and the line written
//! (and the request counted) when it is answered.

use std::net::IpAddr;
use std::ops::Range;
use std::time::Instant;

use common::event_loop::Cx;
use common::http::request::RequestHead;
use common::log::Entry;

/// The logged fields of the current request.
#[derive(Default)]
pub struct LogInfo {
    buf: Vec<u8>,
    method: Range<usize>,
    target: Range<usize>,
    referer: Option<Range<usize>>,
    user_agent: Option<Range<usize>>,
    /// The protocol, `None` until a head was parsed (an unparsable request logs as `-`).
    protocol: Option<&'static str>,
    /// For the metrics: the method's label index and when the head was complete.
    method_index: usize,
    started: Option<Instant>,
}

impl LogInfo {
    pub fn capture(&mut self, head: &RequestHead, enabled: bool, now: Instant) {
        self.clear();
        self.protocol = Some(head.version.as_str());
        self.method_index = common::metrics::method_index(head.method);
        self.started = Some(now);
        if !enabled {
            return;
        }
        let mut put = |bytes: &[u8]| {
            let start = self.buf.len();
            self.buf.extend_from_slice(bytes);
            start..self.buf.len()
        };
        self.method = put(head.method.as_bytes());
        self.target = put(head.target);
        self.referer = head.header("referer").map(&mut put);
        self.user_agent = head.header("user-agent").map(&mut put);
    }

    /// The request came over HTTP/2 (its head was parsed as the HTTP/1.1 head the stream
    /// was turned into).
    pub fn mark_http2(&mut self) {
        if self.protocol.is_some() {
            self.protocol = Some("HTTP/2.0");
        }
    }

    /// Forgets the request (for answers to heads that could not be parsed).
    pub fn clear(&mut self) {
        self.buf.clear();
        self.method = 0..0;
        self.target = 0..0;
        self.referer = None;
        self.user_agent = None;
        self.protocol = None;
        self.started = None;
    }

    /// Frees the buffer (an idle connection keeps no allocation).
    pub fn release(&mut self) {
        self.clear();
        self.buf = Vec::new();
    }

    /// Writes the access-log line of the current request.
    pub fn record(
        &self,
        cx: &mut Cx,
        peer: IpAddr,
        status: u16,
        bytes: u64,
        upstream: Option<&str>,
    ) {
        // An answer to a head that was never parsed counts as method `other`.
        let method = match self.protocol {
            Some(_) => self.method_index,
            None => common::metrics::METHODS.len() - 1,
        };
        let started = self.started.unwrap_or(cx.now);
        cx.metrics.request(method, status, bytes, started);
        if !cx.log.is_enabled() {
            return;
        }
        let get = |r: &Range<usize>| self.buf.get(r.clone()).unwrap_or(b"-");
        let parsed = self.protocol.is_some();
        let method = std::str::from_utf8(get(&self.method)).unwrap_or("-");
        let date = *cx.date;
        cx.log.record(
            &date,
            &Entry {
                peer,
                method: if parsed { method } else { "-" },
                target: if parsed { get(&self.target) } else { b"-" },
                protocol: self.protocol.unwrap_or("HTTP/1.1"),
                status,
                body_bytes: bytes,
                referer: self.referer.as_ref().map(get),
                user_agent: self.user_agent.as_ref().map(get),
                upstream,
            },
        );
    }
}
