//! Shared helpers of the integration tests: starting the real `proxy` binary on ephemeral ports
//! (it prints `proxy: listening on http://ADDR` to stderr), tiny std::net upstream servers, and
//! blocking HTTP/1.1 message readers. Test code only; std only.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const TIMEOUT: Duration = Duration::from_secs(10);

/// The proxy binary under test: this build's, or `PROXY_BIN` (to run a test against another
/// build, e.g. to show that a regression test fails on an older one).
pub fn bin() -> String {
    std::env::var("PROXY_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_proxy").to_string())
}

/// A running proxy process, killed on drop.
pub struct Proxy {
    pub child: Child,
    pub http: SocketAddr,
    pub https: Option<SocketAddr>,
    pub stderr: Arc<Mutex<String>>,
}

impl Proxy {
    pub fn start(args: &[&str]) -> Proxy {
        Self::start_with(args, &[])
    }

    pub fn start_with(args: &[&str], env: &[(&str, &str)]) -> Proxy {
        let mut cmd = Command::new(bin());
        cmd.args([
            "--listen",
            "127.0.0.1:0",
            "--workers",
            "2",
            "--log-format",
            "off",
        ]);
        Self::spawn(cmd, args, env)
    }

    /// Starts `cmd` (already holding the program and leading args) plus `args`.
    pub fn spawn(mut cmd: Command, args: &[&str], env: &[(&str, &str)]) -> Proxy {
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn proxy");
        let stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(addr) = line.strip_prefix("proxy: listening on ") {
                    let _ = tx.send(addr.to_string());
                }
                eprintln!("[proxy] {line}");
                sink.lock().unwrap().push_str(&(line + "\n"));
            }
        });
        let mut http = None;
        let mut https = None;
        let deadline = Instant::now() + TIMEOUT;
        while http.is_none() || (https.is_none() && args.contains(&"--cert")) {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok(line) = rx.recv_timeout(left) else {
                let _ = child.kill();
                panic!("proxy did not start: {}", log.lock().unwrap());
            };
            if let Some(a) = line.strip_prefix("http://") {
                http = Some(a.parse().unwrap());
            } else if let Some(a) = line.strip_prefix("https://") {
                https = Some(a.parse().unwrap());
            }
        }
        Proxy {
            child,
            http: http.unwrap(),
            https,
            stderr: log,
        }
    }

    pub fn connect(&self) -> TcpStream {
        let s = TcpStream::connect(self.http).expect("connect to proxy");
        s.set_read_timeout(Some(TIMEOUT)).unwrap();
        s
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: sending a signal to our own child process.
        unsafe { libc::kill(self.pid(), sig) };
    }

    /// Peak resident memory (VmHWM) in KiB.
    pub fn peak_rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }

    /// Waits for the process to exit and returns its exit code.
    pub fn wait(&mut self, within: Duration) -> Option<i32> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

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

/// A request as a test upstream sees it.
#[derive(Debug, Default)]
pub struct Request {
    pub line: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn read_head(reader: &mut impl BufRead) -> Option<(String, Vec<(String, String)>)> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let first = line.trim_end().to_string();
    let mut headers = Vec::new();
    loop {
        let mut l = String::new();
        if reader.read_line(&mut l).ok()? == 0 {
            return None;
        }
        let l = l.trim_end_matches(['\r', '\n']);
        if l.is_empty() {
            break;
        }
        let (k, v) = l.split_once(':')?;
        headers.push((k.to_string(), v.trim().to_string()));
    }
    Some((first, headers))
}

fn find<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Reads a chunked body (trailers dropped).
pub fn read_chunked(reader: &mut impl BufRead) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut size = String::new();
        reader.read_line(&mut size).ok()?;
        let n = usize::from_str_radix(size.trim().split(';').next()?, 16).ok()?;
        if n == 0 {
            loop {
                let mut t = String::new();
                reader.read_line(&mut t).ok()?;
                if t == "\r\n" || t.is_empty() {
                    return Some(body);
                }
            }
        }
        let start = body.len();
        body.resize(start + n, 0);
        reader.read_exact(&mut body[start..]).ok()?;
        let mut crlf = [0u8; 2];
        reader.read_exact(&mut crlf).ok()?;
        if &crlf != b"\r\n" {
            return None;
        }
    }
}

/// Reads one request (Content-Length or chunked body).
pub fn read_request(reader: &mut impl BufRead) -> Option<Request> {
    let (line, headers) = read_head(reader)?;
    let body = if find(&headers, "transfer-encoding").is_some() {
        read_chunked(reader)?
    } else if let Some(n) = find(&headers, "content-length") {
        let mut b = vec![0u8; n.parse().ok()?];
        reader.read_exact(&mut b).ok()?;
        b
    } else {
        Vec::new()
    };
    Some(Request {
        line,
        headers,
        body,
    })
}

/// A response as the test client sees it.
#[derive(Debug, Default)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The body ended by connection close (no framing).
    pub until_close: bool,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        find(&self.headers, name)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Reads one response; `head_request` means no body. Interim 1xx responses are returned too.
pub fn read_response(reader: &mut impl BufRead, head_request: bool) -> Option<Response> {
    let (line, headers) = read_head(reader)?;
    let status: u16 = line.split(' ').nth(1)?.parse().ok()?;
    let mut r = Response {
        status,
        headers,
        ..Default::default()
    };
    if head_request || status < 200 || status == 204 || status == 304 {
        return Some(r);
    }
    if r.header("transfer-encoding").is_some() {
        r.body = read_chunked(reader)?;
    } else if let Some(n) = r.header("content-length") {
        let mut b = vec![0u8; n.parse().ok()?];
        reader.read_exact(&mut b).ok()?;
        r.body = b;
    } else {
        reader.read_to_end(&mut r.body).ok()?;
        r.until_close = true;
    }
    Some(r)
}

/// Sends `raw` on a new connection and reads one response.
pub fn exchange(proxy: &Proxy, raw: &str) -> Response {
    let mut s = proxy.connect();
    s.write_all(raw.as_bytes()).unwrap();
    let head = raw.starts_with("HEAD ");
    read_response(&mut BufReader::new(s), head).expect("a response")
}

/// `GET path` with `Connection: close`.
pub fn get(proxy: &Proxy, path: &str) -> Response {
    exchange(
        proxy,
        &format!("GET {path} HTTP/1.1\r\nHost: test.local\r\nConnection: close\r\n\r\n"),
    )
}

/// Sends `raw` and returns everything the proxy sends until it closes the connection.
pub fn raw_until_close(proxy: &Proxy, raw: &[u8]) -> Vec<u8> {
    let mut s = proxy.connect();
    s.write_all(raw).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    out
}

/// Polls `f` until it returns true or `within` passes.
pub fn eventually(within: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}
