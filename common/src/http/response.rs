//! Response-head writing and the canned error responses both servers send.
//!
//! Writes straight into a connection's output [`Buffer`]; never touches a socket. Every head
//! starts with the status line, `Date` and `Server`, and ends with the `Connection` header the
//! keep-alive decision calls for, so no response path can forget them.

use super::request::Version;
use super::status::Status;
use crate::buffer::Buffer;

/// A response head being written into an output buffer.
pub struct Head<'a> {
    out: &'a mut Buffer,
}

impl<'a> Head<'a> {
    /// Writes the status line, `Date` and `Server`.
    pub fn start(out: &'a mut Buffer, status: Status, date: &[u8], server: &str) -> Self {
        out.push(b"HTTP/1.1 ");
        push_u64(out, u64::from(status.code()));
        out.push(b" ");
        out.push(status.reason().as_bytes());
        out.push(b"\r\nDate: ");
        out.push(date);
        out.push(b"\r\nServer: ");
        out.push(server.as_bytes());
        out.push(b"\r\n");
        Head { out }
    }

    /// Adds one header line. `value` must already be a valid field value (no CR/LF).
    pub fn header(&mut self, name: &str, value: &[u8]) -> &mut Self {
        self.out.push(name.as_bytes());
        self.out.push(b": ");
        self.out.push(value);
        self.out.push(b"\r\n");
        self
    }

    /// Adds pre-rendered header lines (each ending in CRLF).
    pub fn lines(&mut self, lines: &[u8]) -> &mut Self {
        self.out.push(lines);
        self
    }

    /// Adds a header whose value is a number.
    pub fn header_u64(&mut self, name: &str, value: u64) -> &mut Self {
        self.out.push(name.as_bytes());
        self.out.push(b": ");
        push_u64(self.out, value);
        self.out.push(b"\r\n");
        self
    }

    /// Ends the head with the `Connection` header that matches the keep-alive decision.
    pub fn finish(self, keep_alive: bool, client: Version) {
        if !keep_alive {
            self.out.push(b"Connection: close\r\n");
        } else if client == Version::Http10 {
            self.out.push(b"Connection: keep-alive\r\n");
        }
        self.out.push(b"\r\n");
    }

    /// The buffer, for a body that follows the head.
    pub fn body(&mut self) -> &mut Buffer {
        self.out
    }
}

/// Appends the decimal digits of `n` without going through `fmt`.
pub fn push_u64(out: &mut Buffer, n: u64) {
    let mut digits = [0u8; 20];
    out.push(format_u64(n, &mut digits));
}

/// Formats `n` into `scratch` and returns the digits.
pub fn format_u64(mut n: u64, scratch: &mut [u8; 20]) -> &[u8] {
    let mut i = scratch.len();
    loop {
        i -= 1;
        scratch[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    &scratch[i..]
}

/// Everything a canned response needs besides its status.
pub struct Canned<'a> {
    pub date: &'a [u8],
    pub server: &'a str,
    pub keep_alive: bool,
    pub version: Version,
    /// HEAD requests get the head only.
    pub head_only: bool,
}

/// A complete small HTML error response, e.g. `404 Not Found`. `extra` headers (such as
/// `Allow` for 405) go before the body. Returns the body length, for the access log.
pub fn error(out: &mut Buffer, status: Status, c: &Canned, extra: &[(&str, &[u8])]) -> u64 {
    let mut body = [0u8; 160];
    let body = error_body(status, &mut body);
    let mut head = Head::start(out, status, c.date, c.server);
    for (name, value) in extra {
        head.header(name, value);
    }
    head.header("Content-Type", b"text/html; charset=utf-8")
        .header_u64("Content-Length", body.len() as u64)
        .header("X-Content-Type-Options", b"nosniff");
    head.finish(c.keep_alive, c.version);
    if c.head_only {
        return 0;
    }
    out.push(body);
    body.len() as u64
}

fn error_body(status: Status, scratch: &mut [u8; 160]) -> &[u8] {
    let mut len = 0;
    let mut put = |bytes: &[u8]| {
        let end = (len + bytes.len()).min(scratch.len());
        scratch[len..end].copy_from_slice(&bytes[..end - len]);
        len = end;
    };
    let mut digits = [0u8; 20];
    let code = format_u64(u64::from(status.code()), &mut digits);
    put(b"<!doctype html>\n<title>");
    put(code);
    put(b" ");
    put(status.reason().as_bytes());
    put(b"</title>\n<h1>");
    put(code);
    put(b" ");
    put(status.reason().as_bytes());
    put(b"</h1>\n");
    &scratch[..len]
}

/// A redirect to `location` (already a valid header value) with a tiny body.
pub fn redirect(out: &mut Buffer, status: Status, location: &[u8], c: &Canned) -> u64 {
    error(out, status, c, &[("Location", location)])
}

#[cfg(test)]
mod tests {
    use super::*;

    const DATE: &[u8] = b"Sun, 06 Nov 1994 08:49:37 GMT";

    fn canned(keep_alive: bool, version: Version, head_only: bool) -> Canned<'static> {
        Canned {
            date: DATE,
            server: "test",
            keep_alive,
            version,
            head_only,
        }
    }

    #[test]
    fn head_has_date_server_and_connection() {
        let mut out = Buffer::new(1024);
        let mut head = Head::start(&mut out, Status::OK, DATE, "test");
        head.header_u64("Content-Length", 0);
        head.finish(false, Version::Http11);
        let text = String::from_utf8(out.filled().to_vec()).unwrap();
        assert_eq!(
            text,
            "HTTP/1.1 200 OK\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\nServer: test\r\n\
             Content-Length: 0\r\nConnection: close\r\n\r\n"
        );
    }

    #[test]
    fn http10_keep_alive_is_explicit() {
        let mut out = Buffer::new(1024);
        Head::start(&mut out, Status::OK, DATE, "t").finish(true, Version::Http10);
        assert!(out.filled().ends_with(b"Connection: keep-alive\r\n\r\n"));
    }

    #[test]
    fn error_response_has_matching_length() {
        let mut out = Buffer::new(1024);
        let n = error(
            &mut out,
            Status::METHOD_NOT_ALLOWED,
            &canned(true, Version::Http11, false),
            &[("Allow", b"GET, HEAD")],
        );
        let text = String::from_utf8(out.filled().to_vec()).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"));
        assert!(head.contains("\r\nAllow: GET, HEAD\r\n"));
        assert!(head.contains(&format!("\r\nContent-Length: {}\r\n", body.len())));
        assert_eq!(n as usize, body.len());
        assert!(body.contains("405 Method Not Allowed"));
    }

    #[test]
    fn head_only_error_has_no_body() {
        let mut out = Buffer::new(1024);
        error(
            &mut out,
            Status::NOT_FOUND,
            &canned(true, Version::Http11, true),
            &[],
        );
        assert!(out.filled().ends_with(b"\r\n\r\n"));
    }

    #[test]
    fn numbers_format() {
        let mut s = [0u8; 20];
        assert_eq!(format_u64(0, &mut s), b"0");
        assert_eq!(format_u64(u64::MAX, &mut s), b"18446744073709551615");
    }
}
