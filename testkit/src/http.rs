//! HTTP/1.1 messages as tests see them: requests as a test upstream reads them, responses as
//! a test client reads them (Content-Length, chunked, or until close), and builders.

use std::io::BufRead;

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

pub fn read_head(reader: &mut impl BufRead) -> Option<(String, Vec<(String, String)>)> {
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

fn field<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
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
    let body = if field(&headers, "transfer-encoding").is_some() {
        read_chunked(reader)?
    } else if let Some(n) = field(&headers, "content-length") {
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
    /// A response with its head read and no body yet.
    pub fn head(
        version: String,
        status: u16,
        reason: String,
        headers: Vec<(String, String)>,
    ) -> Self {
        Response {
            version,
            status,
            reason,
            headers,
            body: Vec::new(),
            read_to_close: false,
        }
    }

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

/// Reads one response; `head_request` means no body. Interim 1xx responses are returned too.
pub fn read_response(reader: &mut impl BufRead, head_request: bool) -> Option<Response> {
    let (line, headers) = read_head(reader)?;
    let mut parts = line.splitn(3, ' ');
    let version = parts.next()?.to_string();
    let status: u16 = parts.next()?.parse().ok()?;
    let reason = parts.next().unwrap_or_default().to_string();
    let mut r = Response::head(version, status, reason, headers);
    if head_request || status < 200 || status == 204 || status == 304 {
        return Some(r);
    }
    if r.has("transfer-encoding") {
        r.body = read_chunked(reader)?;
    } else if let Some(n) = r.content_length() {
        let mut b = vec![0u8; usize::try_from(n).ok()?];
        reader.read_exact(&mut b).ok()?;
        r.body = b;
    } else {
        reader.read_to_end(&mut r.body).ok()?;
        r.read_to_close = true;
    }
    Some(r)
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
    Response::head(version, status, reason, headers)
}
