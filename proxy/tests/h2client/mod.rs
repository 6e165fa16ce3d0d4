//! A raw HTTP/2 client for the tests: TLS with ALPN `h2` (trusting the test's self-signed
//! certificate), frames written byte by byte as a test wants them, frames read back one by
//! one, requests encoded and responses decoded with the proxy's own HPACK (which its unit
//! tests check against RFC 7541's examples, and curl, nghttp and h2load check against theirs).

#![allow(dead_code)]

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use proxy::h2::frame;
use proxy::h2::hpack::{self, Decoder, HeaderList};
use rustls::pki_types::{CertificateDer, ServerName};
use testkit::*;

pub type Tls = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

/// One frame as read.
#[derive(Debug, Clone)]
pub struct Frame {
    pub kind: u8,
    pub flags: u8,
    pub stream: u32,
    pub payload: Vec<u8>,
}

impl Frame {
    pub fn code(&self) -> u32 {
        match self.kind {
            frame::GOAWAY => frame::word(&self.payload[4..8]),
            _ => frame::word(&self.payload[..4]),
        }
    }
}

/// A response read to its END_STREAM.
#[derive(Debug, Default)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub data_frames: usize,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// How a connection ended, as far as the client saw.
#[derive(Debug, PartialEq, Eq)]
pub enum End {
    GoAway { last: u32, code: u32 },
    Closed,
}

/// The proxy with a TLS listener and a certificate the client trusts.
pub struct H2Proxy {
    pub proxy: Proxy,
    pub config: Arc<rustls::ClientConfig>,
    /// The certificate it serves (a client config for other ALPN lists trusts it).
    pub cert: std::path::PathBuf,
}

/// Starts the proxy with HTTPS, `route` and `extra` arguments.
pub fn start_h2(tag: &str, routes: &[String], extra: &[&str]) -> H2Proxy {
    start_with(tag, routes, extra, &[])
}

pub fn start_with(tag: &str, routes: &[String], extra: &[&str], env: &[(&str, &str)]) -> H2Proxy {
    let dir = std::env::temp_dir().join(format!("proxy-h2-{tag}-{}", std::process::id()));
    let (cert, key) = self_signed(&dir, 2);
    let mut args = Vec::new();
    for r in routes {
        args.extend(["--route", r.as_str()]);
    }
    args.extend_from_slice(extra);
    let proxy = Proxy::start_tls_with(&cert, &key, &args, env);
    H2Proxy {
        proxy,
        config: client_config(&cert, &[b"h2"]),
        cert,
    }
}

pub fn client_config(cert: &Path, alpn: &[&[u8]]) -> Arc<rustls::ClientConfig> {
    let pem = std::fs::read(cert).unwrap();
    let der: CertificateDer<'static> = rustls_pemfile::certs(&mut &pem[..])
        .next()
        .unwrap()
        .unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(der).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

pub struct H2 {
    pub tls: Tls,
    input: Vec<u8>,
    decoder: Decoder,
    /// Frames read while waiting for something else.
    pub seen: Vec<Frame>,
}

impl H2Proxy {
    pub fn addr(&self) -> SocketAddr {
        self.proxy.https.unwrap()
    }

    /// A TLS connection that negotiated h2, with nothing sent yet.
    pub fn raw(&self) -> H2 {
        let sock = TcpStream::connect(self.addr()).unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let conn = rustls::ClientConnection::new(
            self.config.clone(),
            ServerName::try_from("localhost").unwrap(),
        )
        .unwrap();
        let mut tls = rustls::StreamOwned::new(conn, sock);
        while tls.conn.is_handshaking() {
            tls.conn.complete_io(&mut tls.sock).unwrap();
        }
        assert_eq!(tls.conn.alpn_protocol(), Some(&b"h2"[..]), "ALPN h2");
        H2 {
            tls,
            input: Vec::new(),
            decoder: Decoder::new(4096),
            seen: Vec::new(),
        }
    }

    /// A connection past the preface and a SETTINGS frame with `settings`.
    pub fn connect_with(&self, settings: &[(u16, u32)]) -> H2 {
        let mut c = self.raw();
        c.send_raw(frame::PREFACE);
        c.settings(settings);
        c
    }

    pub fn connect(&self) -> H2 {
        self.connect_with(&[])
    }
}

/// The request header list of a GET for `path`.
pub fn get_fields(path: &str) -> Vec<(String, String)> {
    request_fields("GET", path, &[])
}

pub fn request_fields(method: &str, path: &str, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut f: Vec<(String, String)> = vec![
        (":method".into(), method.into()),
        (":scheme".into(), "https".into()),
        (":path".into(), path.into()),
        (":authority".into(), "localhost".into()),
    ];
    f.extend(extra.iter().map(|(n, v)| (n.to_string(), v.to_string())));
    f
}

/// Appends one frame to `out`: bursts of many frames are written in one go.
pub fn put_frame(out: &mut Vec<u8>, kind: u8, flags: u8, stream: u32, payload: &[u8]) {
    let len = (payload.len() as u32).to_be_bytes();
    out.extend([len[1], len[2], len[3], kind, flags]);
    out.extend(stream.to_be_bytes());
    out.extend_from_slice(payload);
}

/// An HPACK block of literal fields (never indexed: the tests' blocks leave no state).
pub fn block(fields: &[(String, String)]) -> Vec<u8> {
    let mut b = Vec::new();
    for (n, v) in fields {
        hpack::encode_field(&mut b, n.as_bytes(), v.as_bytes());
    }
    b
}

impl H2 {
    pub fn send_raw(&mut self, bytes: &[u8]) {
        let _ = self.tls.write_all(bytes);
        let _ = self.tls.flush();
    }

    /// Writes one frame; errors (the proxy closed) are ignored: what it sent tells.
    pub fn frame(&mut self, kind: u8, flags: u8, stream: u32, payload: &[u8]) {
        let mut bytes = Vec::new();
        put_frame(&mut bytes, kind, flags, stream, payload);
        self.send_raw(&bytes);
    }

    pub fn settings(&mut self, values: &[(u16, u32)]) {
        let mut p = Vec::new();
        for (id, v) in values {
            p.extend(id.to_be_bytes());
            p.extend(v.to_be_bytes());
        }
        self.frame(frame::SETTINGS, 0, 0, &p);
    }

    pub fn headers(&mut self, stream: u32, fields: &[(String, String)], end_stream: bool) {
        let flags = frame::END_HEADERS | if end_stream { frame::END_STREAM } else { 0 };
        self.frame(frame::HEADERS, flags, stream, &block(fields));
    }

    pub fn get(&mut self, stream: u32, path: &str) {
        self.headers(stream, &get_fields(path), true);
    }

    pub fn data(&mut self, stream: u32, bytes: &[u8], end_stream: bool) {
        let flags = if end_stream { frame::END_STREAM } else { 0 };
        self.frame(frame::DATA, flags, stream, bytes);
    }

    pub fn window_update(&mut self, stream: u32, increment: u32) {
        self.frame(frame::WINDOW_UPDATE, 0, stream, &increment.to_be_bytes());
    }

    pub fn rst(&mut self, stream: u32, code: u32) {
        self.frame(frame::RST_STREAM, 0, stream, &code.to_be_bytes());
    }

    pub fn ping(&mut self, data: [u8; 8]) {
        self.frame(frame::PING, 0, 0, &data);
    }

    /// The next frame, or `None` when the connection closed or nothing came within `within`.
    pub fn next_within(&mut self, within: Duration) -> Option<Frame> {
        let deadline = Instant::now() + within;
        loop {
            if self.input.len() >= 9 {
                let len = (usize::from(self.input[0]) << 16)
                    | (usize::from(self.input[1]) << 8)
                    | usize::from(self.input[2]);
                if self.input.len() >= 9 + len {
                    let f = Frame {
                        kind: self.input[3],
                        flags: self.input[4],
                        stream: frame::u31(&self.input[5..9]),
                        payload: self.input[9..9 + len].to_vec(),
                    };
                    self.input.drain(..9 + len);
                    return Some(f);
                }
            }
            if Instant::now() >= deadline {
                return None;
            }
            let mut buf = [0u8; 16 * 1024];
            match self.tls.read(&mut buf) {
                Ok(0) => return None,
                Ok(n) => self.input.extend_from_slice(&buf[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(_) => return None,
            }
        }
    }

    pub fn next(&mut self) -> Option<Frame> {
        self.next_within(TIMEOUT)
    }

    /// Reads until a frame matches `pred`; the others are kept in `seen`.
    pub fn until(&mut self, mut pred: impl FnMut(&Frame) -> bool) -> Option<Frame> {
        while let Some(f) = self.next() {
            if pred(&f) {
                return Some(f);
            }
            self.seen.push(f);
        }
        None
    }

    /// Reads until the connection ends: the GOAWAY it sent, or that it just closed.
    pub fn end(&mut self) -> End {
        match self.until(|f| f.kind == frame::GOAWAY) {
            Some(f) => End::GoAway {
                last: frame::u31(&f.payload),
                code: f.code(),
            },
            None => End::Closed,
        }
    }

    /// Asserts the connection ends with a GOAWAY carrying `code`.
    pub fn expect_goaway(&mut self, code: frame::ErrorCode) {
        match self.end() {
            End::GoAway { code: got, .. } => assert_eq!(got, code as u32, "GOAWAY code"),
            End::Closed => panic!("connection closed without GOAWAY {code:?}"),
        }
    }

    /// Asserts stream `id` is reset with `code`.
    pub fn expect_rst(&mut self, id: u32, code: frame::ErrorCode) {
        let f = self
            .until(|f| (f.kind == frame::RST_STREAM && f.stream == id) || f.kind == frame::GOAWAY)
            .unwrap_or_else(|| panic!("no RST_STREAM on stream {id}"));
        assert_eq!(
            f.kind,
            frame::RST_STREAM,
            "expected a RST_STREAM, got {f:?}"
        );
        assert_eq!(f.code(), code as u32, "RST_STREAM code");
    }

    /// Decodes a header block with the connection's decoder.
    pub fn decode(&mut self, block: &[u8]) -> Vec<(String, String)> {
        let mut list = HeaderList::default();
        self.decoder
            .decode(block, &mut list, 1 << 20)
            .expect("a valid header block from the proxy");
        list.iter()
            .map(|(n, v)| {
                (
                    String::from_utf8_lossy(n).into_owned(),
                    String::from_utf8_lossy(v).into_owned(),
                )
            })
            .collect()
    }

    /// Reads the response on `id` to its END_STREAM (frames of other streams go to `seen`),
    /// granting window as DATA arrives. Panics on a reset.
    pub fn response(&mut self, id: u32) -> Reply {
        let mut reply = Reply::default();
        let mut block = Vec::new();
        loop {
            // Frames of this stream read earlier (while waiting for something else) first.
            let earlier = self.seen.iter().position(|f| f.stream == id);
            let f = match earlier {
                Some(i) => self.seen.remove(i),
                None => self
                    .next()
                    .unwrap_or_else(|| panic!("stream {id}: connection ended, got {reply:?}")),
            };
            if f.stream != id {
                self.seen.push(f);
                continue;
            }
            match f.kind {
                frame::HEADERS | frame::CONTINUATION => {
                    block.extend_from_slice(&f.payload);
                    if f.flags & frame::END_HEADERS != 0 {
                        let fields = self.decode(&block);
                        block.clear();
                        let status: u16 = fields[0].1.parse().unwrap();
                        assert_eq!(fields[0].0, ":status");
                        if status >= 200 {
                            reply.status = status;
                            reply.headers = fields[1..].to_vec();
                        }
                    }
                }
                frame::DATA => {
                    reply.body.extend_from_slice(&f.payload);
                    reply.data_frames += 1;
                    if !f.payload.is_empty() {
                        let n = f.payload.len() as u32;
                        self.window_update(0, n);
                        if f.flags & frame::END_STREAM == 0 {
                            self.window_update(id, n);
                        }
                    }
                }
                frame::RST_STREAM => panic!("stream {id} reset with {}", f.code()),
                _ => {}
            }
            if f.flags & frame::END_STREAM != 0 && matches!(f.kind, frame::HEADERS | frame::DATA) {
                return reply;
            }
        }
    }

    /// GET `path` on stream `id` and read the response.
    pub fn fetch(&mut self, id: u32, path: &str) -> Reply {
        self.get(id, path);
        self.response(id)
    }
}
