//! HTTP/2 conformance (RFC 9113 sections 4 to 8, RFC 7541) of the proxy's TLS listener, as
//! an h2spec-kind suite would check it, with raw frames: the preface, frame sizes, unknown
//! frames, stream states, flow control, header rules, HPACK errors; and the mapping of streams
//! onto HTTP/1.1 exchanges, asserted on what the upstream received.

mod h2client;

use std::time::Duration;

use h2client::*;
use proxy::h2::frame::{self, ErrorCode};
use testkit::*;

fn echo_proxy(tag: &str) -> (H2Proxy, Upstream) {
    let up = Upstream::echo();
    let p = start_h2(tag, &[format!("/a={}", up.url())], &[]);
    (p, up)
}

#[test]
fn requests_become_http11_exchanges() {
    let (p, _up) = echo_proxy("map");
    let mut c = p.connect();
    // Our SETTINGS come first, then our ACK of theirs.
    let first = c.next().unwrap();
    assert_eq!((first.kind, first.flags), (frame::SETTINGS, 0));
    let r = c.fetch(1, "/a/x/../y/%7Efile?q=1");
    assert_eq!(r.status, 200);
    let seen = String::from_utf8(r.body.clone()).unwrap();
    assert!(seen.starts_with("GET /y/~file?q=1 HTTP/1.1\n"), "{seen}");
    assert!(seen.contains("X-Forwarded-Proto: https"), "{seen}");
    assert!(seen.to_lowercase().contains("host: localhost"), "{seen}");
    assert!(r.header("content-length").is_some());
    assert_eq!(r.header("x-upstream"), Some("echo"));
    assert!(r.header("connection").is_none() && r.header("keep-alive").is_none());
    assert!(r.header("strict-transport-security").is_some());
    // Cookie crumbs are joined; a request body arrives with its length, or chunked.
    let fields = request_fields("POST", "/a/p", &[("cookie", "a=1"), ("cookie", "b=2")]);
    c.headers(3, &fields, false);
    c.data(3, b"hello", false);
    c.data(3, b" world", true);
    let seen = String::from_utf8(c.response(3).body).unwrap();
    assert!(seen.contains("cookie: a=1; b=2"), "{seen}");
    assert!(seen.contains("Transfer-Encoding: chunked"), "{seen}");
    assert!(seen.contains("body-length: 11"), "{seen}");
    let fields = request_fields("PUT", "/a/p", &[("content-length", "3")]);
    c.headers(5, &fields, false);
    c.data(5, b"abc", true);
    let seen = String::from_utf8(c.response(5).body).unwrap();
    assert!(
        seen.contains("Content-Length: 3") || seen.contains("content-length: 3"),
        "{seen}"
    );
    assert!(seen.contains("body-length: 3"), "{seen}");
    // HEAD: headers only, END_STREAM on HEADERS.
    c.headers(7, &request_fields("HEAD", "/a/h", &[]), true);
    let r = c.response(7);
    assert_eq!((r.status, r.data_frames), (200, 0));
    // The proxy's own answers: index, health, 404 for no route.
    assert_eq!(c.fetch(9, "/healthz").status, 200);
    assert_eq!(c.fetch(11, "/nowhere").status, 404);
    assert_eq!(c.fetch(13, "/").status, 200);
}

#[test]
fn chunked_and_bodyless_responses_map_to_frames() {
    let body = "x".repeat(70_000);
    let chunked: &'static str = Box::leak(
        format!(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n",
            body.len()
        )
        .into_boxed_str(),
    );
    let (up, _) = Upstream::recording(chunked, "", Duration::ZERO);
    let (up204, _) = Upstream::recording("HTTP/1.1 204 No Content\r\n\r\n", "", Duration::ZERO);
    let (up304, _) = Upstream::recording(
        "HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n",
        "",
        Duration::ZERO,
    );
    let p = start_h2(
        "frames",
        &[
            format!("/c={}", up.url()),
            format!("/n={}", up204.url()),
            format!("/m={}", up304.url()),
        ],
        &[],
    );
    let mut c = p.connect();
    let r = c.fetch(1, "/c/");
    assert_eq!(r.body.len(), 70_000);
    assert!(r.header("transfer-encoding").is_none() && r.header("connection").is_none());
    // More than the initial window: the client's WINDOW_UPDATEs let it through, in frames no
    // larger than 16 KiB.
    assert!(r.data_frames >= 5);
    for (id, path, status) in [(3, "/n/", 204), (5, "/m/", 304)] {
        let r = c.fetch(id, path);
        assert_eq!((r.status, r.body.len()), (status, 0));
    }
}

#[test]
fn bad_preface_and_frame_sizes() {
    let (p, up) = echo_proxy("preface");
    let mut c = p.raw();
    c.send_raw(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    c.expect_goaway(ErrorCode::ProtocolError);
    // The preface must be followed by SETTINGS (section 3.4).
    let mut c = p.raw();
    c.send_raw(frame::PREFACE);
    c.ping([1; 8]);
    c.expect_goaway(ErrorCode::ProtocolError);
    // A frame larger than SETTINGS_MAX_FRAME_SIZE (section 4.2).
    let mut c = p.connect();
    c.headers(1, &request_fields("POST", "/a/", &[]), false);
    c.data(1, &vec![0; 16_385], true);
    c.expect_goaway(ErrorCode::FrameSizeError);
    // PING of the wrong length; SETTINGS of a length not a multiple of 6; a SETTINGS ACK
    // with a payload; WINDOW_UPDATE of 3 bytes.
    for (kind, flags, stream, payload) in [
        (frame::PING, 0, 0, vec![0; 7]),
        (frame::SETTINGS, 0, 0, vec![0; 5]),
        (frame::SETTINGS, frame::ACK, 0, vec![0; 6]),
        (frame::WINDOW_UPDATE, 0, 0, vec![0; 3]),
        (frame::RST_STREAM, 0, 1, vec![0; 3]),
    ] {
        let mut c = p.connect();
        c.get(1, "/a/");
        c.frame(kind, flags, stream, &payload);
        c.expect_goaway(ErrorCode::FrameSizeError);
    }
    // PRIORITY of the wrong length is a stream error.
    let mut c = p.connect();
    c.frame(frame::PRIORITY, 0, 3, &[0; 4]);
    c.expect_rst(3, ErrorCode::FrameSizeError);
    let _ = up;
}

#[test]
fn unknown_frames_are_ignored_and_pings_answered() {
    let (p, _up) = echo_proxy("unknown");
    let mut c = p.connect();
    c.frame(0x20, 0xff, 0, b"whatever");
    c.frame(0x21, 0, 1, b"on an idle stream");
    // PRIORITY for an idle stream is allowed and opens nothing.
    c.frame(frame::PRIORITY, 0, 9, &[0, 0, 0, 0, 16]);
    c.ping(*b"12345678");
    let ack = c.until(|f| f.kind == frame::PING).unwrap();
    assert_eq!(
        (ack.flags, &ack.payload[..]),
        (frame::ACK, &b"12345678"[..])
    );
    // A PING ACK is not answered; the connection still serves.
    c.frame(frame::PING, frame::ACK, 0, b"abcdefgh");
    assert_eq!(c.fetch(1, "/a/").status, 200);
    assert!(!c
        .seen
        .iter()
        .any(|f| f.kind == frame::PING && f.payload == b"abcdefgh"));
}

/// Connection errors a client can provoke, each with the code RFC 9113 names.
#[test]
fn connection_errors() {
    let (p, up) = echo_proxy("connerr");
    type Case = (&'static str, ErrorCode, fn(&mut H2));
    let cases: &[Case] = &[
        ("HEADERS on stream 0", ErrorCode::ProtocolError, |c| {
            c.headers(0, &get_fields("/a/"), true)
        }),
        ("HEADERS on an even stream", ErrorCode::ProtocolError, |c| {
            c.headers(2, &get_fields("/a/"), true)
        }),
        ("DATA on an idle stream", ErrorCode::ProtocolError, |c| {
            c.data(5, b"x", true)
        }),
        ("DATA on stream 0", ErrorCode::ProtocolError, |c| {
            c.data(0, b"x", true)
        }),
        (
            "RST_STREAM on an idle stream",
            ErrorCode::ProtocolError,
            |c| c.rst(7, 8),
        ),
        ("RST_STREAM on stream 0", ErrorCode::ProtocolError, |c| {
            c.rst(0, 8)
        }),
        (
            "WINDOW_UPDATE on an idle stream",
            ErrorCode::ProtocolError,
            |c| c.window_update(9, 1),
        ),
        (
            "zero connection window increment",
            ErrorCode::ProtocolError,
            |c| c.window_update(0, 0),
        ),
        ("stream ids must increase", ErrorCode::ProtocolError, |c| {
            c.get(5, "/a/");
            c.response(5);
            c.get(3, "/a/");
        }),
        (
            "CONTINUATION without HEADERS",
            ErrorCode::ProtocolError,
            |c| {
                c.frame(
                    frame::CONTINUATION,
                    frame::END_HEADERS,
                    1,
                    &block(&get_fields("/a/")),
                )
            },
        ),
        (
            "a frame inside a header block",
            ErrorCode::ProtocolError,
            |c| {
                let b = block(&get_fields("/a/"));
                c.frame(frame::HEADERS, frame::END_STREAM, 1, &b[..3]);
                c.ping([0; 8]);
            },
        ),
        (
            "CONTINUATION of another stream",
            ErrorCode::ProtocolError,
            |c| {
                let b = block(&get_fields("/a/"));
                c.frame(frame::HEADERS, frame::END_STREAM, 1, &b[..3]);
                c.frame(frame::CONTINUATION, frame::END_HEADERS, 3, &b[3..]);
            },
        ),
        (
            "PUSH_PROMISE from a client",
            ErrorCode::ProtocolError,
            |c| c.frame(frame::PUSH_PROMISE, frame::END_HEADERS, 1, &[0, 0, 0, 2]),
        ),
        ("SETTINGS on a stream", ErrorCode::ProtocolError, |c| {
            c.frame(frame::SETTINGS, 0, 1, &[])
        }),
        ("PING on a stream", ErrorCode::ProtocolError, |c| {
            c.frame(frame::PING, 0, 1, &[0; 8])
        }),
        ("SETTINGS_ENABLE_PUSH 2", ErrorCode::ProtocolError, |c| {
            c.settings(&[(2, 2)])
        }),
        (
            "SETTINGS_MAX_FRAME_SIZE too small",
            ErrorCode::ProtocolError,
            |c| c.settings(&[(5, 16_383)]),
        ),
        (
            "SETTINGS_INITIAL_WINDOW_SIZE above 2^31-1",
            ErrorCode::FlowControlError,
            |c| c.settings(&[(4, 1 << 31)]),
        ),
        (
            "connection window overflow",
            ErrorCode::FlowControlError,
            |c| c.window_update(0, 0x7fff_ffff),
        ),
        (
            "padding longer than the payload",
            ErrorCode::ProtocolError,
            |c| {
                c.headers(1, &request_fields("POST", "/a/", &[]), false);
                c.frame(frame::DATA, frame::PADDED, 1, &[5, 1, 2]);
            },
        ),
        (
            "HPACK index out of range",
            ErrorCode::CompressionError,
            |c| {
                c.frame(
                    frame::HEADERS,
                    frame::END_HEADERS | frame::END_STREAM,
                    1,
                    &[0xff, 0x7f],
                )
            },
        ),
        (
            "HPACK table size update above the setting",
            ErrorCode::CompressionError,
            |c| {
                c.frame(
                    frame::HEADERS,
                    frame::END_HEADERS | frame::END_STREAM,
                    1,
                    &[0x3f, 0xe2, 0x1f, 0x82],
                )
            },
        ),
        (
            "HPACK bad Huffman padding",
            ErrorCode::CompressionError,
            |c| {
                c.frame(
                    frame::HEADERS,
                    frame::END_HEADERS | frame::END_STREAM,
                    1,
                    &[0x40, 0x81, 0x00, 0x81, 0xff],
                )
            },
        ),
        ("HEADERS on a closed stream", ErrorCode::StreamClosed, |c| {
            c.get(1, "/a/");
            c.response(1);
            c.get(1, "/a/");
        }),
        (
            "a stream depending on itself",
            ErrorCode::ProtocolError,
            |c| {
                let mut payload = vec![0, 0, 0, 1, 16];
                payload.extend(block(&get_fields("/a/")));
                c.frame(
                    frame::HEADERS,
                    frame::END_HEADERS | frame::END_STREAM | frame::PRIORITY_FLAG,
                    1,
                    &payload,
                );
            },
        ),
    ];
    for (name, code, provoke) in cases {
        let mut c = p.connect();
        provoke(&mut c);
        match c.end() {
            End::GoAway { code: got, .. } => assert_eq!(got, *code as u32, "{name}"),
            End::Closed => panic!("{name}: closed without GOAWAY"),
        }
    }
    let _ = up;
}

/// Stream errors: the stream is reset, the connection goes on serving, and a malformed
/// request never reaches the upstream.
#[test]
fn stream_errors_and_malformed_requests() {
    let (up, seen) = Upstream::recording(
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        "",
        Duration::ZERO,
    );
    let p = start_h2("streamerr", &[format!("/a={}", up.url())], &[]);
    let mut c = p.connect();
    let malformed: &[&[(&str, &str)]] = &[
        &[
            (":method", "GET"),
            (":scheme", "https"),
            (":authority", "x"),
        ],
        &[(":method", "GET"), (":path", "/a/"), (":authority", "x")],
        &[
            (":method", "GET"),
            (":scheme", "https"),
            (":path", "/a/"),
            (":foo", "x"),
        ],
        &[
            (":method", "GET"),
            (":scheme", "https"),
            ("accept", "x"),
            (":path", "/a/"),
        ],
        &[
            (":method", "GET"),
            (":scheme", "https"),
            (":path", "/a/"),
            ("Accept", "x"),
        ],
        &[
            (":method", "GET"),
            (":scheme", "https"),
            (":path", "/a/"),
            ("connection", "close"),
        ],
        &[
            (":method", "GET"),
            (":scheme", "https"),
            (":path", "/a/"),
            ("transfer-encoding", "chunked"),
        ],
        &[
            (":method", "GET"),
            (":scheme", "https"),
            (":path", "/a/"),
            ("upgrade", "websocket"),
        ],
        &[
            (":method", "GET"),
            (":scheme", "https"),
            (":path", "/a/"),
            ("te", "gzip"),
        ],
        &[
            (":method", "GET"),
            (":scheme", "https"),
            (":path", "/a/"),
            (":status", "200"),
        ],
        &[
            (":method", "GET"),
            (":scheme", "https"),
            (":path", "/a/"),
            (":path", "/b"),
        ],
        &[
            (":method", "GET"),
            (":scheme", "https"),
            (":path", "/a/\r\nx: y"),
        ],
        &[
            (":method", "GET"),
            (":scheme", "https"),
            (":path", "/a/"),
            ("x", "a\nb"),
        ],
    ];
    let mut id = 1;
    for fields in malformed {
        let fields: Vec<(String, String)> = fields
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        c.headers(id, &fields, true);
        c.expect_rst(id, ErrorCode::ProtocolError);
        id += 2;
    }
    // Content-length that the DATA does not add up to (section 8.1.1).
    c.headers(
        id,
        &request_fields("POST", "/a/", &[("content-length", "5")]),
        false,
    );
    c.data(id, b"abc", true);
    c.expect_rst(id, ErrorCode::ProtocolError);
    id += 2;
    c.headers(
        id,
        &request_fields("POST", "/a/", &[("content-length", "2")]),
        false,
    );
    c.data(id, b"abc", true);
    c.expect_rst(id, ErrorCode::ProtocolError);
    id += 2;
    // DATA after END_STREAM (half-closed remote) is STREAM_CLOSED.
    c.headers(id, &request_fields("POST", "/a/", &[]), false);
    c.data(id, b"a", true);
    c.data(id, b"b", false);
    c.expect_rst(id, ErrorCode::StreamClosed);
    id += 2;
    // A stream window overflow is a stream error.
    c.headers(id, &request_fields("POST", "/a/", &[]), false);
    c.window_update(id, 0x7fff_ffff);
    c.expect_rst(id, ErrorCode::FlowControlError);
    id += 2;
    // Trailers without END_STREAM.
    c.headers(id, &request_fields("POST", "/a/", &[]), false);
    c.headers(id, &[("x-t".to_string(), "1".to_string())], false);
    c.expect_rst(id, ErrorCode::ProtocolError);
    id += 2;
    // After all this the connection still serves, and the upstream saw only well-formed
    // requests (the flow-control and trailer cases were forwarded before they failed).
    let r = c.fetch(id, "/a/ok");
    assert_eq!(r.status, 200);
    let lines = seen.lock().unwrap().clone();
    assert!(
        lines
            .iter()
            .all(|l| l.starts_with("POST /") || l == "GET /ok HTTP/1.1"),
        "{lines:?}"
    );
    assert!(
        !lines.iter().any(|l| l.contains("\r") || l.contains(" /a/")),
        "{lines:?}"
    );
}

/// DATA beyond the stream window is a FLOW_CONTROL_ERROR. The upstream never reads, so once
/// the buffers on the way are full the proxy grants nothing more: the client then knows its
/// window exactly and oversteps it by one byte.
#[test]
fn data_beyond_the_stream_window() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    // A small receive buffer (inherited by the accepted socket): the way fills up soon.
    let size: libc::c_int = 4096;
    // SAFETY: setsockopt on a socket we own, with a correctly sized value.
    unsafe {
        use std::os::fd::AsRawFd;
        libc::setsockopt(
            listener.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            &size as *const libc::c_int as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
    let up = Upstream::on(listener, |s| {
        std::thread::sleep(Duration::from_secs(20));
        drop(s);
    });
    let p = start_h2("window-overflow", &[format!("/a={}", up.url())], &[]);
    let mut c = p.connect();
    c.headers(1, &request_fields("POST", "/a/", &[]), false);
    let mut window: i64 = 65_535;
    loop {
        while window > 0 {
            let n = window.min(16_384) as usize;
            c.data(1, &vec![b'x'; n], false);
            window -= n as i64;
        }
        let mut granted = 0;
        while let Some(f) = c.next_within(Duration::from_millis(150)) {
            if f.kind == frame::WINDOW_UPDATE && f.stream == 1 {
                granted += i64::from(frame::u31(&f.payload));
            }
        }
        if granted == 0 {
            break;
        }
        window += granted;
    }
    c.data(1, b"!", false);
    c.expect_rst(1, ErrorCode::FlowControlError);
}

#[test]
fn request_trailers_end_the_stream_and_are_dropped() {
    let (p, _up) = echo_proxy("trailers");
    let mut c = p.connect();
    c.headers(1, &request_fields("POST", "/a/t", &[]), false);
    c.data(1, b"12345", false);
    c.headers(1, &[("x-checksum".to_string(), "abc".to_string())], true);
    let seen = String::from_utf8(c.response(1).body).unwrap();
    assert!(seen.contains("body-length: 5"), "{seen}");
    assert!(!seen.contains("x-checksum"), "{seen}");
}

#[test]
fn response_flow_control_is_respected() {
    let site = Site::new("h2-window");
    site.write("big.bin", vec![b'z'; 200_000]);
    let server = servers::start(&site.root, &[]);
    let p = start_h2("window", &[format!("/s=http://{}", server.addr)], &[]);
    // The client's stream window is 1,000 bytes: no more arrives until it grants more.
    let mut c = p.connect_with(&[(4, 1000)]);
    c.get(1, "/s/big.bin");
    let mut got = 0;
    while let Some(f) = c.next_within(Duration::from_millis(500)) {
        if f.kind == frame::DATA {
            got += f.payload.len();
        }
    }
    assert_eq!(got, 1000, "the stream window bounds what is sent");
    c.window_update(1, 500);
    let mut more = 0;
    while let Some(f) = c.next_within(Duration::from_millis(500)) {
        if f.kind == frame::DATA {
            more += f.payload.len();
        }
    }
    assert_eq!(more, 500);
    // Raising SETTINGS_INITIAL_WINDOW_SIZE opens the stream's window by the difference.
    c.settings(&[(4, 65_535)]);
    c.window_update(0, 1 << 20);
    let r = c.response(1);
    assert_eq!(got + more + r.body.len(), 200_000);
}

#[test]
fn too_many_streams_are_refused() {
    // An upstream that holds every request for a while keeps the streams open.
    let up = Upstream::start(|s| {
        std::thread::sleep(Duration::from_secs(2));
        drop(s);
    });
    let p = start_h2("refuse", &[format!("/a={}", up.url())], &[]);
    let mut c = p.connect();
    for i in 0..129u32 {
        c.get(1 + 2 * i, "/a/");
    }
    c.expect_rst(1 + 2 * 128, ErrorCode::RefusedStream);
}

#[test]
fn http11_clients_still_get_http11() {
    let up = Upstream::echo();
    let p = start_h2("alpn", &[format!("/a={}", up.url())], &[]);
    let config = client_config(&p.cert, &[b"http/1.1"]);
    let sock = std::net::TcpStream::connect(p.addr()).unwrap();
    let conn = rustls::ClientConnection::new(config, "localhost".try_into().unwrap()).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, sock);
    use std::io::Write;
    write!(
        tls,
        "GET /a/ HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let r = read_response(&mut std::io::BufReader::new(&mut tls), false).unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(tls.conn.alpn_protocol(), Some(&b"http/1.1"[..]));
}

#[test]
fn access_log_names_http2() {
    let up = Upstream::echo();
    // The last --log-format wins over the harness's "off".
    let p = start_h2(
        "log",
        &[format!("/a={}", up.url())],
        &["--log-format", "combined"],
    );
    let mut c = p.connect();
    assert_eq!(c.fetch(1, "/a/logged").status, 200);
    let line = p
        .proxy
        .stdout
        .wait_for(TIMEOUT, |l| l.contains("/a/logged"));
    assert!(line.contains("\"GET /a/logged HTTP/2.0\" 200"), "{line}");
}

/// Streams reuse upstream connections: one after another on a connection, and across client
/// connections through the worker's pool (a connect per request would be a cost per stream).
#[test]
fn upstream_connections_are_reused() {
    let up = Upstream::echo();
    let p = start_h2("reuse", &[format!("/a={}", up.url())], &["--workers", "1"]);
    let mut c = p.connect();
    for i in 0..20u32 {
        assert_eq!(c.fetch(1 + 2 * i, "/a/").status, 200);
    }
    assert_eq!(
        up.accepted(),
        1,
        "sequential streams share one upstream connection"
    );
    // Ten at once need ten connections; they are kept for the next ten.
    for round in 0..2u32 {
        for i in 0..10u32 {
            c.get(41 + round * 20 + 2 * i, "/a/");
        }
        for i in 0..10u32 {
            assert_eq!(c.response(41 + round * 20 + 2 * i).status, 200);
        }
    }
    let after = up.accepted();
    assert!(
        after <= 10,
        "{after} upstream connections for 10 concurrent streams"
    );
    drop(c);
    std::thread::sleep(Duration::from_millis(300));
    let mut c = p.connect();
    for i in 0..10u32 {
        c.get(1 + 2 * i, "/a/");
    }
    for i in 0..10u32 {
        assert_eq!(c.response(1 + 2 * i).status, 200);
    }
    assert_eq!(
        up.accepted(),
        after,
        "a new client connection takes them from the pool"
    );
}

/// The same 413, 502 and 504 as over HTTP/1.1: bodies past `--max-body` (declared or not),
/// an upstream that refuses connections, one that never answers.
#[test]
fn gateway_errors_and_limits_match_http11() {
    let up = Upstream::echo();
    let silent = Upstream::start(|s| {
        std::thread::sleep(Duration::from_secs(10));
        drop(s);
    });
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let refused = closed.local_addr().unwrap();
    drop(closed);
    let p = start_h2(
        "errors",
        &[
            format!("/a={}", up.url()),
            format!("/down=http://{refused}"),
            format!("/slow={}", silent.url()),
        ],
        &["--max-body", "100k", "--upstream-timeout", "1s"],
    );
    let mut c = p.connect();
    // Declared too large: refused before any byte is read.
    c.headers(
        1,
        &request_fields("POST", "/a/", &[("content-length", "200000")]),
        false,
    );
    assert_eq!(c.response(1).status, 413);
    // Not declared: refused when the body passes the limit.
    c.headers(3, &request_fields("POST", "/a/", &[]), false);
    let chunk = vec![b'x'; 16_384];
    let (mut sent, mut window) = (0, 65_535);
    let answered = |c: &H2| {
        c.seen
            .iter()
            .any(|f| f.stream == 3 && f.kind == frame::HEADERS)
    };
    while sent < 150_000 && !answered(&c) {
        // Within the stream window the proxy grants, as a real client would.
        let deadline = std::time::Instant::now() + TIMEOUT;
        while window < chunk.len() && !answered(&c) {
            assert!(
                std::time::Instant::now() < deadline,
                "no window and no answer"
            );
            let Some(f) = c.next_within(Duration::from_millis(200)) else {
                continue;
            };
            if f.kind == frame::WINDOW_UPDATE && f.stream == 3 {
                window += frame::u31(&f.payload) as usize;
            }
            c.seen.push(f);
        }
        if answered(&c) {
            break;
        }
        c.data(3, &chunk, false);
        sent += chunk.len();
        window -= chunk.len();
    }
    assert_eq!(c.response(3).status, 413);
    let mut c = p.connect();
    assert_eq!(c.fetch(1, "/down/").status, 502);
    let started = std::time::Instant::now();
    assert_eq!(c.fetch(3, "/slow/").status, 504);
    assert!(started.elapsed() < Duration::from_secs(5));
    // And the connection still serves.
    assert_eq!(c.fetch(5, "/a/").status, 200);
}
