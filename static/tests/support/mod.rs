//! Shared helpers for the `static` integration tests: a temporary site (root directory plus a
//! `secret` file beside it), the real binary started on 127.0.0.1 with an ephemeral port, and a
//! tiny raw HTTP/1.1 client over `std::net::TcpStream`.
//!
//! Everything blocks with timeouts, so a server that hangs fails the test instead of CI.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long any single socket read or write may block before the test fails.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// What the `secret` file beside every root contains; no response may ever include it.
pub const SECRET: &[u8] = b"TOP-SECRET-c0ffee-do-not-serve";

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_static")
}

/// A fresh directory `<tmp>/static-it-<pid>-<n>-<name>/` holding `root/` and `secret`,
/// removed on drop.
pub struct Site {
    pub base: PathBuf,
    pub root: PathBuf,
}

impl Site {
    pub fn new(name: &str) -> Site {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let base =
            std::env::temp_dir().join(format!("static-it-{}-{n}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let root = base.join("root");
        std::fs::create_dir_all(&root).expect("create root");
        std::fs::write(base.join("secret"), SECRET).expect("write secret");
        Site { base, root }
    }

    /// Writes `rel` below the root, creating parent directories.
    pub fn write(&self, rel: &str, content: impl AsRef<[u8]>) -> PathBuf {
        let path = self.root.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create dirs");
        }
        std::fs::write(&path, content).expect("write file");
        path
    }

    pub fn mkdir(&self, rel: &str) {
        std::fs::create_dir_all(self.root.join(rel)).expect("mkdir");
    }

    pub fn symlink(&self, target: impl AsRef<Path>, rel: &str) {
        std::os::unix::fs::symlink(target, self.root.join(rel)).expect("symlink");
    }

    pub fn secret_path(&self) -> PathBuf {
        self.base.join("secret")
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.base);
    }
}

/// Deterministic pseudo-random bytes (xorshift64), for large files compared byte for byte.
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// FNV-1a, to report large-body mismatches without printing megabytes.
pub fn checksum(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Lines a child wrote to one of its pipes, collected by a draining thread.
#[derive(Clone, Default)]
pub struct Lines(Arc<Mutex<Vec<String>>>);

impl Lines {
    pub fn snapshot(&self) -> Vec<String> {
        self.0.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Polls until some line satisfies `pred`, or panics after `timeout`.
    pub fn wait_for(&self, timeout: Duration, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(line) = self.snapshot().into_iter().find(|l| pred(l)) {
                return line;
            }
            assert!(
                Instant::now() < deadline,
                "no matching line within {timeout:?}; got: {:#?}",
                self.snapshot()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn drain_lines(
    pipe: impl Read + Send + 'static,
    lines: Lines,
    first: Option<mpsc::Sender<String>>,
) {
    std::thread::spawn(move || {
        let mut first = first;
        let mut reader = BufReader::new(pipe);
        let mut raw = Vec::new();
        loop {
            raw.clear();
            match reader.read_until(b'\n', &mut raw) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            let line = String::from_utf8_lossy(&raw).trim_end().to_string();
            if let Some(tx) = &first {
                if line.contains(": serving ") {
                    let _ = tx.send(line.clone());
                    first = None;
                }
            }
            if let Ok(mut all) = lines.0.lock() {
                all.push(line);
            }
        }
    });
}

/// A running `static` process; killed (SIGKILL) on drop unless it already exited.
pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
    pub stdout: Lines,
    pub stderr: Lines,
}

/// Starts the binary on `127.0.0.1:0` serving `root`, with `extra` arguments appended.
pub fn start(root: &Path, extra: &[&str]) -> Server {
    let mut cmd = Command::new(bin());
    cmd.arg("--listen")
        .arg("127.0.0.1:0")
        .arg("--root")
        .arg(root)
        .args(["--workers", "2"])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    clear_env(&mut cmd);
    let mut child = cmd.spawn().expect("spawn static");
    let stdout = Lines::default();
    let stderr = Lines::default();
    let (tx, rx) = mpsc::channel();
    drain_lines(
        child.stderr.take().expect("stderr"),
        stderr.clone(),
        Some(tx),
    );
    drain_lines(child.stdout.take().expect("stdout"), stdout.clone(), None);
    let line = match rx.recv_timeout(Duration::from_secs(20)) {
        Ok(line) => line,
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("no startup line; stderr: {:#?}", stderr.snapshot());
        }
    };
    let addr = parse_startup_line(&line).unwrap_or_else(|| panic!("bad startup line {line:?}"));
    Server {
        child,
        addr,
        stdout,
        stderr,
    }
}

/// `static 0.1.0: serving DIR on http://ADDR (N workers)` -> ADDR.
pub fn parse_startup_line(line: &str) -> Option<SocketAddr> {
    let after = line.rsplit_once(" on http://")?.1;
    let addr = after.split_once(" (")?.0;
    addr.parse().ok()
}

/// The tests must not inherit configuration from the environment they run in.
pub fn clear_env(cmd: &mut Command) {
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("STATIC_") {
            cmd.env_remove(key);
        }
    }
}

/// Runs the binary with `args` to completion (for the CLI tests).
pub fn run(args: &[&str]) -> Output {
    let mut cmd = Command::new(bin());
    cmd.args(args).stdin(Stdio::null());
    clear_env(&mut cmd);
    cmd.output().expect("run static")
}

impl Server {
    pub fn pid(&self) -> i32 {
        i32::try_from(self.child.id()).expect("pid fits")
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) with a pid we own and a valid signal number.
        let rc = unsafe { libc::kill(self.pid(), sig) };
        assert_eq!(rc, 0, "kill failed");
    }

    /// Waits up to `timeout` for the process to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn connect(&self) -> Client {
        Client::connect(self.addr)
    }

    /// One request on a fresh connection (`Connection: close`), one response.
    pub fn get(&self, target: &str) -> Response {
        self.get_with(target, &[])
    }

    pub fn get_with(&self, target: &str, headers: &[(&str, &str)]) -> Response {
        let mut all = vec![("Connection", "close")];
        all.extend_from_slice(headers);
        let mut c = self.connect();
        c.send(&request("GET", target, &all));
        c.read_response()
    }

    /// A raw request on a fresh connection; returns the response (HEAD framing if `head`).
    pub fn raw(&self, bytes: &[u8]) -> Response {
        let mut c = self.connect();
        c.send(bytes);
        c.read_response()
    }

    /// Asserts the server still answers a plain request on a new connection.
    pub fn assert_alive(&self) {
        let r = self.get("/__alive_probe__");
        assert!(
            r.status == 404 || r.status == 200,
            "server stopped answering: {}",
            r.status
        );
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// `METHOD target HTTP/1.1` with `Host: test` and the given headers.
pub fn request(method: &str, target: &str, headers: &[(&str, &str)]) -> Vec<u8> {
    let mut s = format!("{method} {target} HTTP/1.1\r\nHost: test\r\n");
    for (name, value) in headers {
        s.push_str(&format!("{name}: {value}\r\n"));
    }
    s.push_str("\r\n");
    s.into_bytes()
}

pub fn get_req(target: &str) -> Vec<u8> {
    request("GET", target, &[])
}

/// A parsed response.
#[derive(Debug, Clone)]
pub struct Response {
    pub version: String,
    pub status: u16,
    pub reason: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The body was delimited by the connection closing (no Content-Length).
    pub read_to_close: bool,
}

impl Response {
    /// The value of the only `name` header; panics when it is repeated.
    pub fn header(&self, name: &str) -> Option<&str> {
        let all = self.all(name);
        assert!(all.len() <= 1, "header {name} repeated: {all:?}");
        all.first().copied()
    }

    pub fn all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn has(&self, name: &str) -> bool {
        !self.all(name).is_empty()
    }

    pub fn content_length(&self) -> Option<u64> {
        self.header("content-length").map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("bad Content-Length {v:?}"))
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn closes(&self) -> bool {
        self.header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"))
    }

    /// Headers as `name: value` lines, for assertion messages.
    pub fn dump(&self) -> String {
        let mut s = format!("{} {} {}\n", self.version, self.status, self.reason);
        for (n, v) in &self.headers {
            s.push_str(&format!("{n}: {v}\n"));
        }
        s
    }
}

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

pub fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    find(haystack, needle).is_some()
}

/// Parses a status line and header lines (CRLF-separated, without the blank line).
pub fn parse_head(head: &str) -> Response {
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default().to_string();
    let status = parts
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    let reason = parts.next().unwrap_or_default().to_string();
    assert!(
        version == "HTTP/1.1",
        "unexpected version in {status_line:?}"
    );
    let headers = lines
        .map(|line| {
            let (name, value) = line
                .split_once(':')
                .unwrap_or_else(|| panic!("bad header line {line:?}"));
            assert!(
                !name.is_empty() && !name.contains(' '),
                "bad header name in {line:?}"
            );
            (name.to_string(), value.trim().to_string())
        })
        .collect();
    Response {
        version,
        status,
        reason,
        headers,
        body: Vec::new(),
        read_to_close: false,
    }
}

/// Polls `f` until it returns `Some`, or panics with `what` after `timeout`.
pub fn eventually<T>(timeout: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A minimal JSON checker for the flat objects the access log writes: `{"k":"v","n":1,...}`.
/// Returns the members, values as their decoded strings (numbers verbatim).
pub fn parse_flat_json(line: &str) -> Option<Vec<(String, String)>> {
    let bytes = line.as_bytes();
    let mut i = 0;
    let mut members = Vec::new();
    let expect =
        |i: &mut usize, c: u8| -> Option<()> { (bytes.get(*i) == Some(&c)).then(|| *i += 1) };
    fn string(bytes: &[u8], i: &mut usize) -> Option<String> {
        if bytes.get(*i) != Some(&b'"') {
            return None;
        }
        *i += 1;
        let mut out = String::new();
        loop {
            let c = *bytes.get(*i)?;
            *i += 1;
            match c {
                b'"' => return Some(out),
                b'\\' => {
                    let e = *bytes.get(*i)?;
                    *i += 1;
                    match e {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'n' => out.push('\n'),
                        b't' => out.push('\t'),
                        b'r' => out.push('\r'),
                        b'u' => {
                            let hex = std::str::from_utf8(bytes.get(*i..*i + 4)?).ok()?;
                            let v = u32::from_str_radix(hex, 16).ok()?;
                            out.push(char::from_u32(v)?);
                            *i += 4;
                        }
                        _ => return None,
                    }
                }
                0x00..=0x1f => return None,
                _ => out.push(char::from(c)),
            }
        }
    }
    expect(&mut i, b'{')?;
    loop {
        let key = string(bytes, &mut i)?;
        expect(&mut i, b':')?;
        let value = if bytes.get(i) == Some(&b'"') {
            string(bytes, &mut i)?
        } else {
            let start = i;
            while bytes.get(i).is_some_and(|b| b.is_ascii_digit()) {
                i += 1;
            }
            if i == start {
                return None;
            }
            line.get(start..i)?.to_string()
        };
        members.push((key, value));
        match bytes.get(i) {
            Some(b',') => i += 1,
            Some(b'}') if i + 1 == bytes.len() => return Some(members),
            _ => return None,
        }
    }
}
