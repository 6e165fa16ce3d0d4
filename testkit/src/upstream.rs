//! Test upstreams for the proxy: std::net servers whose every accepted connection is handed to
//! a handler on its own thread, and an echo handler that describes what it received.

use std::io::{BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::http::read_request;

/// A test upstream: every accepted connection is handed to `handler` on its own thread.
pub struct Upstream {
    pub addr: SocketAddr,
    pub accepted: Arc<AtomicUsize>,
}

impl Upstream {
    pub fn start<F>(handler: F) -> Upstream
    where
        F: Fn(TcpStream) + Send + Sync + 'static,
    {
        Self::on(TcpListener::bind("127.0.0.1:0").unwrap(), handler)
    }

    pub fn on<F>(listener: TcpListener, handler: F) -> Upstream
    where
        F: Fn(TcpStream) + Send + Sync + 'static,
    {
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        let handler = Arc::new(handler);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                count.fetch_add(1, Ordering::SeqCst);
                let handler = handler.clone();
                std::thread::spawn(move || {
                    stream.set_read_timeout(Some(Duration::from_secs(30))).ok();
                    handler(stream)
                });
            }
        });
        Upstream { addr, accepted }
    }

    /// An upstream answering every request with a description of what it received.
    pub fn echo() -> Upstream {
        Self::start(|mut s| serve_echo(&mut s))
    }

    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// Answers requests on `s` with `200` and a body naming the request line, headers and body
/// length, until the client closes.
pub fn serve_echo(s: &mut TcpStream) {
    let mut reader = BufReader::new(s.try_clone().unwrap());
    while let Some(req) = read_request(&mut reader) {
        let mut body = format!("{}\n", req.line);
        for (k, v) in &req.headers {
            body.push_str(&format!("{k}: {v}\n"));
        }
        body.push_str(&format!("body-length: {}\n", req.body.len()));
        let resp = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nX-Upstream: echo\r\n\r\n{body}",
            body.len()
        );
        if s.write_all(resp.as_bytes()).is_err() {
            return;
        }
    }
}
