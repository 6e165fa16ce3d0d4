//! Routing, prefix handling, header rewriting, keep-alive and pooling, pipelining and response
//! re-framing, against the real binary and std::net test upstreams.

use std::io::{BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use testkit::*;

#[test]
fn routes_strip_prefixes_and_answer_404_301_index_and_health() {
    let a = Upstream::echo();
    let b = Upstream::echo();
    let proxy = Proxy::start(&[
        "--route",
        &format!("/a={}/base", a.url()),
        "--route",
        &format!("/a/deeper={}", b.url()),
        "--route",
        &format!("/k={};keep-prefix", b.url()),
    ]);
    let r = get(&proxy, "/a/x/y?q=1");
    assert_eq!(r.status, 200);
    assert!(
        r.text().starts_with("GET /base/x/y?q=1 HTTP/1.1\n"),
        "{}",
        r.text()
    );
    let r = get(&proxy, "/a/deeper/z");
    assert!(
        r.text().starts_with("GET /z HTTP/1.1\n"),
        "longest prefix wins: {}",
        r.text()
    );
    let r = get(&proxy, "/a/");
    assert!(r.text().starts_with("GET /base/ HTTP/1.1\n"));
    let r = get(&proxy, "/k/x");
    assert!(r.text().starts_with("GET /k/x HTTP/1.1\n"), "{}", r.text());
    assert_eq!(get(&proxy, "/k").status, 200);
    let r = get(&proxy, "/a?x=1");
    assert_eq!((r.status, r.header("location")), (301, Some("/a/?x=1")));
    let post = exchange(
        &proxy,
        "POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n",
    );
    assert_eq!((post.status, post.header("location")), (308, Some("/a/")));
    assert_eq!(get(&proxy, "/ab").status, 404);
    assert_eq!(get(&proxy, "/nothing/here").status, 404);
    let index = get(&proxy, "/");
    assert_eq!(index.status, 200);
    assert!(index.text().contains("href=\"/a/\"") && index.text().contains("href=\"/k\""));
    let health = get(&proxy, "/healthz");
    assert_eq!((health.status, health.text().as_str()), (200, "ok\n"));
    let absolute = exchange(
        &proxy,
        "GET http://other/a/abs HTTP/1.1\r\nHost: other\r\nConnection: close\r\n\r\n",
    );
    assert!(
        absolute.text().starts_with("GET /base/abs HTTP/1.1\n"),
        "{}",
        absolute.text()
    );
    assert_eq!(
        exchange(&proxy, "CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n").status,
        405
    );
}

#[test]
fn headers_are_rewritten_both_ways() {
    let up = Upstream::start(|s| {
        let mut reader = BufReader::new(s.try_clone().unwrap());
        let mut s = s;
        while let Some(req) = read_request(&mut reader) {
            let mut body = String::new();
            for (k, v) in &req.headers {
                body.push_str(&format!("{k}: {v}\n"));
            }
            let resp = format!(
                "HTTP/1.1 200 OK\r\nServer: upstream/1\r\nConnection: keep-alive, X-Hop\r\nX-Hop: secret\r\n\
                 Keep-Alive: timeout=5\r\nProxy-Authenticate: Basic\r\nUpgrade: h2c\r\nVia: 1.1 inner\r\n\
                 Content-Length: {}\r\n\r\n{body}",
                body.len()
            );
            s.write_all(resp.as_bytes()).unwrap();
        }
    });
    let proxy = Proxy::start(&["--route", &format!("/=http://{}", up.addr)]);
    const REQUEST: &str = "GET /h HTTP/1.1\r\nHost: site.example:8080\r\nConnection: close, X-Private\r\n\
         X-Private: 1\r\nKeep-Alive: 300\r\nTE: trailers\r\nProxy-Authorization: Basic x\r\n\
         Proxy-Connection: keep-alive\r\nUpgrade: h2c\r\nX-Forwarded-For: 203.0.113.9\r\n\
         X-Forwarded-Proto: https\r\nX-Forwarded-Host: evil\r\nX_Forwarded_For: 203.0.113.8\r\n\
         Forwarded: for=203.0.113.7\r\nX-Real-IP: 203.0.113.6\r\nVia: 1.0 edge\r\nAccept: text/html\r\n\r\n";
    let r = exchange(&proxy, REQUEST);
    let sent = r.text();
    for gone in [
        "Connection",
        "X-Private",
        "Keep-Alive",
        "TE:",
        "Proxy-",
        "Upgrade",
    ] {
        assert!(!sent.contains(gone), "{gone} reached the upstream:\n{sent}");
    }
    // Forwarding fields from an untrusted client are replaced, whatever their spelling.
    assert!(
        !sent.contains("203.0.113"),
        "a forged forwarding field passed:\n{sent}"
    );
    assert!(
        !sent.contains("Forwarded:") && !sent.contains("X_Forwarded"),
        "{sent}"
    );
    for kept in [
        "Host: site.example:8080\n",
        "Accept: text/html\n",
        "X-Forwarded-For: 127.0.0.1\n",
        "X-Forwarded-Proto: http\n",
        "X-Forwarded-Host: site.example:8080\n",
        "X-Real-IP: 127.0.0.1\n",
        "Via: 1.0 edge, 1.1 proxy\n",
    ] {
        assert!(sent.contains(kept), "missing {kept:?} in:\n{sent}");
    }
    // A trusted proxy's fields are kept and X-Forwarded-For appended to (the ALB case).
    let behind_lb = Proxy::start(&[
        "--route",
        &format!("/=http://{}", up.addr),
        "--trusted-proxies",
        "10.0.0.0/8,127.0.0.0/8",
    ]);
    let sent = exchange(&behind_lb, REQUEST).text();
    for kept in [
        "X-Forwarded-For: 203.0.113.9, 127.0.0.1\n",
        "X-Forwarded-Proto: https\n",
        "X-Forwarded-Host: evil\n",
        "Forwarded: for=203.0.113.7\n",
        "X-Real-IP: 203.0.113.6\n",
    ] {
        assert!(sent.contains(kept), "missing {kept:?} in:\n{sent}");
    }
    assert!(!sent.contains("X_Forwarded_For"), "{sent}");
    assert_eq!(r.header("server"), Some("upstream/1"));
    assert_eq!(r.header("via"), Some("1.1 inner, 1.1 proxy"));
    assert!(r.header("date").is_some());
    for gone in ["x-hop", "keep-alive", "proxy-authenticate", "upgrade"] {
        assert!(r.header(gone).is_none(), "{gone} reached the client");
    }
    assert_eq!(r.header("connection"), Some("close"));
    let upstream_host = Proxy::start(&[
        "--route",
        &format!("/=http://localhost:{};upstream-host", up.addr.port()),
    ]);
    let r = get(&upstream_host, "/");
    assert!(
        r.text()
            .contains(&format!("Host: localhost:{}\n", up.addr.port())),
        "{}",
        r.text()
    );
}

#[test]
fn keep_alive_reuses_upstream_connections_and_pipelining_works() {
    let up = Upstream::echo();
    let proxy = Proxy::start(&["--route", &format!("/=http://{}", up.addr)]);
    let mut s = proxy.connect();
    let mut reader = BufReader::new(s.try_clone().unwrap());
    for i in 0..20 {
        write!(s, "GET /r{i} HTTP/1.1\r\nHost: h\r\n\r\n").unwrap();
        let r = read_response(&mut reader, false).unwrap();
        assert!(r.text().starts_with(&format!("GET /r{i} ")));
    }
    // Pipelined: three requests in one write, answered in order.
    s.write_all(b"GET /p1 HTTP/1.1\r\nHost: h\r\n\r\nHEAD /p2 HTTP/1.1\r\nHost: h\r\n\r\nGET /p3 HTTP/1.1\r\nHost: h\r\n\r\n")
        .unwrap();
    assert!(read_response(&mut reader, false)
        .unwrap()
        .text()
        .starts_with("GET /p1 "));
    let head = read_response(&mut reader, true).unwrap();
    assert_eq!(head.status, 200);
    assert!(head.header("content-length").is_some());
    assert!(read_response(&mut reader, false)
        .unwrap()
        .text()
        .starts_with("GET /p3 "));
    // Sequential connections from new clients reuse the pooled upstream connections too.
    drop(reader);
    drop(s);
    std::thread::sleep(Duration::from_millis(100));
    for _ in 0..10 {
        assert_eq!(get(&proxy, "/again").status, 200);
    }
    assert!(
        up.accepted() <= 3,
        "upstream saw {} connections",
        up.accepted()
    );
}

#[test]
fn responses_are_reframed() {
    let up = Upstream::start(|s| {
        let mut reader = BufReader::new(s.try_clone().unwrap());
        let mut s = s;
        while let Some(req) = read_request(&mut reader) {
            let path = req.line.split(' ').nth(1).unwrap_or("").to_string();
            match path.as_str() {
                "/chunked" => {
                    s.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n")
                        .unwrap();
                }
                "/http10" => {
                    s.write_all(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil close").unwrap();
                    return;
                }
                "/204" => s.write_all(b"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n").unwrap(),
                "/304" => s.write_all(b"HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n").unwrap(),
                "/continue" => s
                    .write_all(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                    .unwrap(),
                _ => s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nbody").unwrap(),
            }
        }
    });
    let proxy = Proxy::start(&["--route", &format!("/=http://{}", up.addr)]);
    let mut s = proxy.connect();
    let mut reader = BufReader::new(s.try_clone().unwrap());
    let mut ask = |path: &str, method: &str| {
        write!(s, "{method} {path} HTTP/1.1\r\nHost: h\r\n\r\n").unwrap();
        read_response(&mut reader, method == "HEAD").unwrap()
    };
    let r = ask("/chunked", "GET");
    assert_eq!(
        (r.text().as_str(), r.header("transfer-encoding")),
        ("hello world", Some("chunked"))
    );
    let r = ask("/204", "GET");
    assert_eq!((r.status, r.header("content-length")), (204, None));
    assert_eq!(ask("/304", "GET").status, 304);
    assert_eq!(ask("/continue", "GET").text(), "ok");
    let r = ask("/plain", "HEAD");
    assert_eq!((r.status, r.header("content-length")), (200, Some("4")));
    // A read-until-close body becomes chunked for an HTTP/1.1 client, and the connection lives on.
    let r = ask("/http10", "GET");
    assert_eq!(
        (r.text().as_str(), r.header("transfer-encoding")),
        ("until close", Some("chunked"))
    );
    assert_eq!(ask("/plain", "GET").text(), "body");
    // ... and is sent raw with Connection: close to an HTTP/1.0 client.
    let r = exchange(&proxy, "GET /http10 HTTP/1.0\r\n\r\n");
    assert!(r.read_to_close && r.text() == "until close", "{r:?}");
    assert_eq!(r.header("connection"), Some("close"));
    let r = exchange(
        &proxy,
        "GET /chunked HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    );
    assert!(r.read_to_close && r.text() == "hello world", "{r:?}");
}

#[test]
fn expect_100_continue_and_http10_keep_alive() {
    let up = Upstream::echo();
    let proxy = Proxy::start(&["--route", &format!("/=http://{}", up.addr)]);
    let mut s = proxy.connect();
    let mut reader = BufReader::new(s.try_clone().unwrap());
    s.write_all(
        b"PUT /up HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n",
    )
    .unwrap();
    let interim = read_response(&mut reader, false).unwrap();
    assert_eq!(interim.status, 100);
    s.write_all(b"hello").unwrap();
    let r = read_response(&mut reader, false).unwrap();
    assert!(r.text().contains("body-length: 5"), "{}", r.text());
    assert!(!r.text().to_ascii_lowercase().contains("expect"));
    let mut s10 = proxy.connect();
    let mut r10 = BufReader::new(s10.try_clone().unwrap());
    for _ in 0..2 {
        s10.write_all(b"GET /x HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            .unwrap();
        let r = read_response(&mut r10, false).unwrap();
        assert_eq!(
            (r.status, r.header("connection")),
            (200, Some("keep-alive"))
        );
    }
    let _ = TcpStream::connect(proxy.http).unwrap();
    let mut rest = Vec::new();
    s10.write_all(b"GET /x HTTP/1.0\r\n\r\n").unwrap();
    r10.read_to_end(&mut rest).unwrap();
    assert!(String::from_utf8_lossy(&rest).contains("Connection: close"));
}

#[test]
fn half_closed_clients_still_get_their_responses() {
    let up = Upstream::echo();
    let proxy = Proxy::start(&["--route", &format!("/a={}", up.url())]);
    for raw in [
        "GET /a/x HTTP/1.1\r\nHost: h\r\n\r\n",
        "GET /nothing HTTP/1.1\r\nHost: h\r\n\r\n",
        "GET /healthz HTTP/1.1\r\nHost: h\r\n\r\nGET /a/y HTTP/1.1\r\nHost: h\r\n\r\n",
    ] {
        let mut s = proxy.connect();
        s.write_all(raw.as_bytes()).unwrap();
        s.shutdown(std::net::Shutdown::Write).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        assert_eq!(
            out.matches("HTTP/1.1 ").count(),
            raw.matches("GET").count(),
            "{raw:?} -> {out}"
        );
    }
}
