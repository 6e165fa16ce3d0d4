//! Test upstreams for the proxy: std::net servers whose every accepted connection is handed to
//! a handler on its own thread, and an echo handler that describes what it received.

use std::io::{BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
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

    /// An upstream that answers every request with `response`, then writes `extra` (in the
    /// same write when `delay` is zero, else `delay` later), recording the request lines it
    /// received: what the proxy let through, as the upstream saw it.
    pub fn recording(
        response: &'static str,
        extra: &'static str,
        delay: Duration,
    ) -> (Upstream, Arc<Mutex<Vec<String>>>) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let up = Self::start(move |s| {
            let mut reader = BufReader::new(s.try_clone().unwrap());
            let mut s = s;
            while let Some(req) = read_request(&mut reader) {
                log.lock().unwrap().push(req.line.clone());
                if delay.is_zero() {
                    let _ = s.write_all(format!("{response}{extra}").as_bytes());
                    continue;
                }
                if s.write_all(response.as_bytes()).is_err() {
                    return;
                }
                std::thread::sleep(delay);
                let _ = s.write_all(extra.as_bytes());
            }
        });
        (up, seen)
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
