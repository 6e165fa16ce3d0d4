//! The two servers under test, started from the binaries cargo built (see [`bin`]) on
//! 127.0.0.1 with ephemeral ports; they announce their addresses on stderr. Each is a
//! [`Running`] process (killed on drop) plus its addresses and helpers to talk to it.

use std::io::{BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::ops::{Deref, DerefMut};
use std::path::Path;
use std::process::{Command, Output, Stdio};

use crate::client::Client;
use crate::http::{read_response, request, Response};
use crate::process::{bin, Running};
use crate::TIMEOUT;

/// A running `static`.
pub struct Server {
    pub process: Running,
    pub addr: SocketAddr,
}

impl Deref for Server {
    type Target = Running;
    fn deref(&self) -> &Running {
        &self.process
    }
}

impl DerefMut for Server {
    fn deref_mut(&mut self) -> &mut Running {
        &mut self.process
    }
}

/// The tests must not inherit configuration from the environment they run in.
fn clear_env(cmd: &mut Command, prefix: &str) {
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with(prefix) {
            cmd.env_remove(key);
        }
    }
}

/// `static 0.1.0: serving DIR on http://ADDR (N workers)` -> ADDR.
pub fn parse_startup_line(line: &str) -> Option<SocketAddr> {
    let after = line.rsplit_once(" on http://")?.1;
    let addr = after.split_once(" (")?.0;
    addr.parse().ok()
}

/// Starts `static` on `127.0.0.1:0` serving `root` (two workers), `extra` appended.
pub fn start(root: &Path, extra: &[&str]) -> Server {
    let mut cmd = Command::new(bin("static"));
    cmd.arg("--listen")
        .arg("127.0.0.1:0")
        .arg("--root")
        .arg(root)
        .args(["--workers", "2"])
        .args(extra);
    clear_env(&mut cmd, "STATIC_");
    let (process, lines) = Running::spawn(cmd, "", |l| l.contains(": serving "), 1);
    let addr =
        parse_startup_line(&lines[0]).unwrap_or_else(|| panic!("bad startup line {:?}", lines[0]));
    Server { process, addr }
}

/// Runs `static` with `args` to completion (for the CLI tests).
pub fn run(args: &[&str]) -> Output {
    let mut cmd = Command::new(bin("static"));
    cmd.args(args).stdin(Stdio::null());
    clear_env(&mut cmd, "STATIC_");
    cmd.output().expect("run static")
}

impl Server {
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

    /// A raw request on a fresh connection; returns the response.
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

/// A running `proxy`.
pub struct Proxy {
    pub process: Running,
    pub http: SocketAddr,
    pub https: Option<SocketAddr>,
}

impl Deref for Proxy {
    type Target = Running;
    fn deref(&self) -> &Running {
        &self.process
    }
}

impl DerefMut for Proxy {
    fn deref_mut(&mut self) -> &mut Running {
        &mut self.process
    }
}

impl Proxy {
    /// Starts the proxy on `127.0.0.1:0` (two workers, no access log), `args` appended.
    pub fn start(args: &[&str]) -> Proxy {
        Self::start_with(args, &[])
    }

    /// Starts the proxy with an HTTPS listener on `127.0.0.1:0` serving `cert` and `key`,
    /// `args` appended.
    pub fn start_tls(cert: &Path, key: &Path, args: &[&str]) -> Proxy {
        Self::start_tls_with(cert, key, args, &[])
    }

    pub fn start_tls_with(cert: &Path, key: &Path, args: &[&str], env: &[(&str, &str)]) -> Proxy {
        let (cert, key) = (cert.to_string_lossy(), key.to_string_lossy());
        let mut all = vec![
            "--tls-listen",
            "127.0.0.1:0",
            "--cert",
            &cert,
            "--key",
            &key,
        ];
        all.extend_from_slice(args);
        Self::start_with(&all, env)
    }

    pub fn start_with(args: &[&str], env: &[(&str, &str)]) -> Proxy {
        let mut cmd = Command::new(bin("proxy"));
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

    /// Starts `cmd` (already holding the program and leading args) plus `args`; waits for the
    /// `listening on` lines (two with `--cert`).
    pub fn spawn(mut cmd: Command, args: &[&str], env: &[(&str, &str)]) -> Proxy {
        cmd.args(args);
        clear_env(&mut cmd, "PROXY_");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let expected = if args.contains(&"--cert") { 2 } else { 1 };
        let (process, lines) = Running::spawn(
            cmd,
            "proxy",
            |l| l.starts_with("proxy: listening on "),
            expected,
        );
        let (mut http, mut https) = (None, None);
        for line in lines {
            let addr = line.trim_start_matches("proxy: listening on ");
            if let Some(a) = addr.strip_prefix("http://") {
                http = a.parse().ok();
            } else if let Some(a) = addr.strip_prefix("https://") {
                https = a.parse().ok();
            }
        }
        Proxy {
            process,
            http: http.expect("an http listener"),
            https,
        }
    }

    pub fn connect(&self) -> TcpStream {
        let s = TcpStream::connect(self.http).expect("connect to proxy");
        s.set_read_timeout(Some(TIMEOUT)).unwrap();
        s
    }
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

/// The metrics listener a server announced (`NAME: metrics on http://ADDR/metrics`).
pub fn metrics_addr(process: &Running) -> SocketAddr {
    let line = process
        .stderr
        .wait_for(TIMEOUT, |l| l.contains(": metrics on http://"));
    let addr = line
        .rsplit_once("http://")
        .and_then(|(_, rest)| rest.strip_suffix("/metrics"))
        .unwrap_or_else(|| panic!("bad metrics line {line:?}"));
    addr.parse().expect("a socket address")
}

/// `GET /metrics` from a metrics listener: the response.
pub fn scrape(addr: SocketAddr) -> Response {
    let mut s = TcpStream::connect(addr).expect("connect to the metrics listener");
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: metrics\r\n\r\n")
        .unwrap();
    read_response(&mut BufReader::new(s), false).expect("a metrics response")
}

/// The value of one sample (`name{labels} value`, exactly as rendered) in a scrape, or 0.
pub fn sample(text: &str, series: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0)
}
