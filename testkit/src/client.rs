//! A raw HTTP/1.1 client over `std::net::TcpStream` with its own read buffer, so pipelined
//! responses can be read one by one and slow-reader, silence and close behaviour asserted.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::http::{find, parse_head, Response};
use crate::IO_TIMEOUT;

/// A client connection with its own read buffer, so pipelined responses can be read one by one.
pub struct Client {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT).expect("connect");
        stream.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
        stream.set_write_timeout(Some(IO_TIMEOUT)).expect("timeout");
        stream.set_nodelay(true).expect("nodelay");
        Client {
            stream,
            buf: Vec::new(),
        }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("send");
    }

    /// Sends `bytes` in pieces split at `cuts` (byte offsets), pausing between pieces.
    pub fn send_split(&mut self, bytes: &[u8], cuts: &[usize], pause: Duration) {
        let mut start = 0;
        for &cut in cuts.iter().chain(std::iter::once(&bytes.len())) {
            self.send(&bytes[start..cut]);
            start = cut;
            if start < bytes.len() {
                std::thread::sleep(pause);
            }
        }
    }

    pub fn shutdown_write(&mut self) {
        self.stream.shutdown(Shutdown::Write).expect("shutdown");
    }

    pub fn set_read_timeout(&self, t: Duration) {
        self.stream.set_read_timeout(Some(t)).expect("timeout");
    }

    /// Reads more bytes into the buffer; `Ok(0)` at EOF.
    fn fill(&mut self) -> std::io::Result<usize> {
        let mut chunk = [0u8; 64 * 1024];
        let n = self.stream.read(&mut chunk)?;
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n)
    }

    /// Reads one response to a GET (or any method whose response has a body).
    pub fn read_response(&mut self) -> Response {
        self.read_response_for(false)
    }

    /// Reads one response to a HEAD request (never a body).
    pub fn read_head_response(&mut self) -> Response {
        self.read_response_for(true)
    }

    pub fn read_response_for(&mut self, head_request: bool) -> Response {
        let mut resp = self.read_head();
        let bodyless = head_request
            || resp.status == 204
            || resp.status == 304
            || (100..200).contains(&resp.status);
        if bodyless {
            return resp;
        }
        match resp.content_length() {
            Some(len) => {
                let len = usize::try_from(len).expect("length fits");
                resp.body = self.read_exact_body(len);
            }
            None => {
                assert!(
                    resp.header("transfer-encoding").is_none(),
                    "unexpected chunked response"
                );
                resp.body = self.read_to_close();
                resp.read_to_close = true;
            }
        }
        resp
    }

    /// Reads a status line and headers; the body is left in the buffer.
    pub fn read_head(&mut self) -> Response {
        let end = loop {
            if let Some(i) = find(&self.buf, b"\r\n\r\n") {
                break i;
            }
            match self.fill() {
                Ok(0) => panic!(
                    "connection closed before a complete response head; got {:?}",
                    String::from_utf8_lossy(&self.buf)
                ),
                Ok(_) => {}
                Err(e) => panic!(
                    "reading response head: {e}; got {:?}",
                    String::from_utf8_lossy(&self.buf)
                ),
            }
        };
        let head = String::from_utf8(self.buf[..end].to_vec()).expect("ASCII head");
        self.buf.drain(..end + 4);
        parse_head(&head)
    }

    pub fn read_exact_body(&mut self, len: usize) -> Vec<u8> {
        while self.buf.len() < len {
            match self.fill() {
                Ok(0) => panic!(
                    "connection closed after {} of {len} body bytes",
                    self.buf.len()
                ),
                Ok(_) => {}
                Err(e) => panic!("reading body ({} of {len}): {e}", self.buf.len()),
            }
        }
        self.buf.drain(..len).collect()
    }

    pub fn read_to_close(&mut self) -> Vec<u8> {
        loop {
            match self.fill() {
                Ok(0) => return std::mem::take(&mut self.buf),
                Ok(_) => {}
                Err(e) => panic!("reading to close: {e}"),
            }
        }
    }

    /// Reads into the buffer up to `max` bytes more (for slow-reader tests).
    pub fn read_some(&mut self, max: usize) -> usize {
        let mut chunk = vec![0u8; max];
        let n = self.stream.read(&mut chunk).expect("read");
        self.buf.extend_from_slice(&chunk[..n]);
        n
    }

    /// Takes what is buffered.
    pub fn take_buffered(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.buf)
    }

    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Asserts that the server closed the connection: nothing more arrives, then EOF
    /// (a reset after our own unread data is tolerated as a close too).
    pub fn expect_closed(&mut self) {
        assert!(
            self.buf.is_empty(),
            "unexpected extra bytes: {:?}",
            String::from_utf8_lossy(&self.buf)
        );
        match self.fill() {
            Ok(0) => {}
            Ok(_) => panic!(
                "expected EOF, got bytes: {:?}",
                String::from_utf8_lossy(&self.buf)
            ),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
            Err(e) => panic!("expected EOF, got error {e}"),
        }
    }

    /// Asserts nothing arrives within `quiet` and the connection is still open.
    pub fn expect_silent(&mut self, quiet: Duration) {
        self.set_read_timeout(quiet);
        let result = self.fill();
        self.set_read_timeout(IO_TIMEOUT);
        match result {
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Ok(0) => panic!("connection closed unexpectedly"),
            Ok(_) => panic!("unexpected bytes: {:?}", String::from_utf8_lossy(&self.buf)),
            Err(e) => panic!("unexpected error {e}"),
        }
    }

    /// Waits up to `timeout` for EOF and returns how long it took.
    pub fn wait_closed(&mut self, timeout: Duration) -> Duration {
        let start = Instant::now();
        self.set_read_timeout(timeout);
        let result = self.fill();
        self.set_read_timeout(IO_TIMEOUT);
        match result {
            Ok(0) => start.elapsed(),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => start.elapsed(),
            Ok(_) => panic!(
                "expected close, got bytes: {:?}",
                String::from_utf8_lossy(&self.buf)
            ),
            Err(e) => panic!("connection not closed within {timeout:?}: {e}"),
        }
    }
}
