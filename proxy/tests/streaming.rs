//! Large bodies stream through in both directions with bounded memory: 50 MiB up (Content-Length
//! and chunked) and 50 MiB down (Content-Length and chunked), with the proxy's peak RSS checked.

use std::io::{BufRead, BufReader, Read, Write};
use std::time::Duration;

use testkit::*;

const SIZE: usize = 50 << 20;

/// Reads a body of `n` bytes or a chunked body from `reader` without keeping it; returns the
/// byte count and a checksum.
fn drain_body(reader: &mut impl BufRead, chunked: bool, n: usize) -> (usize, u64) {
    let mut total = 0;
    let mut sum = 0u64;
    let mut buf = vec![0u8; 64 * 1024];
    let mut take = |reader: &mut dyn Read, mut left: usize| {
        while left > 0 {
            let k = reader.read(&mut buf[..left.min(64 * 1024)]).unwrap();
            assert!(k > 0, "body cut short");
            sum = buf[..k]
                .iter()
                .fold(sum, |s, &b| s.wrapping_mul(31).wrapping_add(u64::from(b)));
            total += k;
            left -= k;
        }
    };
    if !chunked {
        take(reader, n);
        return (total, sum);
    }
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let size = usize::from_str_radix(line.trim(), 16).unwrap();
        if size == 0 {
            let mut end = String::new();
            reader.read_line(&mut end).unwrap();
            return (total, sum);
        }
        take(reader, size);
        let mut crlf = [0u8; 2];
        reader.read_exact(&mut crlf).unwrap();
    }
}

fn pattern(i: usize) -> u8 {
    (i % 251) as u8
}

fn expected_sum() -> u64 {
    (0..SIZE).fold(0u64, |s, i| {
        s.wrapping_mul(31).wrapping_add(u64::from(pattern(i)))
    })
}

fn write_pattern(w: &mut impl Write, chunked: bool) {
    let mut sent = 0;
    while sent < SIZE {
        let n = (SIZE - sent).min(64 * 1024);
        let data: Vec<u8> = (sent..sent + n).map(pattern).collect();
        if chunked {
            write!(w, "{n:x}\r\n").unwrap();
        }
        w.write_all(&data).unwrap();
        if chunked {
            w.write_all(b"\r\n").unwrap();
        }
        sent += n;
    }
    if chunked {
        w.write_all(b"0\r\n\r\n").unwrap();
    }
}

#[test]
fn fifty_mib_both_ways_with_small_memory() {
    let up = Upstream::start(|s| {
        let mut reader = BufReader::new(s.try_clone().unwrap());
        let mut s = s;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let mut length = 0;
            let mut chunked = false;
            loop {
                let mut h = String::new();
                reader.read_line(&mut h).unwrap();
                let lower = h.to_ascii_lowercase();
                if let Some(v) = lower.strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap();
                }
                chunked |= lower.starts_with("transfer-encoding: chunked");
                if h == "\r\n" {
                    break;
                }
            }
            if line.starts_with("POST") {
                let (n, sum) = drain_body(&mut reader, chunked, length);
                let body = format!("{n} {sum}");
                write!(
                    s,
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                )
                .unwrap();
            } else if line.contains("/chunked") {
                s.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
                    .unwrap();
                write_pattern(&mut s, true);
            } else {
                write!(s, "HTTP/1.1 200 OK\r\nContent-Length: {SIZE}\r\n\r\n").unwrap();
                write_pattern(&mut s, false);
            }
        }
    });
    let proxy = Proxy::start(&["--route", &format!("/={}", up.url()), "--max-body", "100m"]);
    let want = format!("{SIZE} {}", expected_sum());
    let s = proxy.connect();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut w = s.try_clone().unwrap();
    let mut reader = BufReader::new(s);
    // Upload with Content-Length, then chunked, on one keep-alive connection.
    write!(
        w,
        "POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: {SIZE}\r\n\r\n"
    )
    .unwrap();
    write_pattern(&mut w, false);
    assert_eq!(read_response(&mut reader, false).unwrap().text(), want);
    w.write_all(b"POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n")
        .unwrap();
    write_pattern(&mut w, true);
    assert_eq!(read_response(&mut reader, false).unwrap().text(), want);
    // Downloads: Content-Length and chunked.
    for (path, chunked) in [("/plain", false), ("/chunked", true)] {
        write!(w, "GET {path} HTTP/1.1\r\nHost: h\r\n\r\n").unwrap();
        let mut content_length = 0;
        let mut is_chunked = false;
        loop {
            let mut h = String::new();
            reader.read_line(&mut h).unwrap();
            let lower = h.to_ascii_lowercase();
            if let Some(v) = lower.strip_prefix("content-length:") {
                content_length = v.trim().parse().unwrap();
            }
            is_chunked |= lower.starts_with("transfer-encoding: chunked");
            if h == "\r\n" {
                break;
            }
        }
        assert_eq!(is_chunked, chunked);
        let (n, sum) = drain_body(&mut reader, is_chunked, content_length);
        assert_eq!(format!("{n} {sum}"), want, "{path}");
    }
    let peak = proxy.peak_rss_kib();
    assert!(peak < 32 * 1024, "peak RSS {peak} KiB");
    eprintln!("proxy peak RSS after 200 MiB through: {peak} KiB");
}
