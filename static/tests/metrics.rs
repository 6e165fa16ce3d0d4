//! Prometheus metrics of the real `static` binary: an opt-in listener of its own, counters
//! that follow the traffic, and no metrics on the public port.

use testkit::{metrics_addr, run, sample, scrape, start, Site};

#[test]
fn metrics_follow_the_traffic_on_their_own_listener() {
    let site = Site::new("metrics");
    site.write("index.html", "<h1>home</h1>");
    let server = start(&site.root, &["--metrics-listen", "127.0.0.1:0"]);
    let addr = metrics_addr(&server);
    assert_ne!(addr, server.addr);

    let before = scrape(addr);
    assert_eq!(before.status, 200);
    assert!(before
        .header("content-type")
        .unwrap_or_default()
        .starts_with("text/plain; version=0.0.4"));
    let text = before.text();
    for family in [
        "# TYPE static_http_requests_total counter",
        "# TYPE static_http_request_duration_seconds histogram",
        "# TYPE static_connections_active gauge",
        "# TYPE static_connections_accepted_total counter",
        "# TYPE static_http_response_bytes_total counter",
    ] {
        assert!(text.contains(family), "{family} missing:\n{text}");
    }

    for _ in 0..3 {
        assert_eq!(server.get("/").status, 200);
    }
    assert_eq!(server.get("/nope").status, 404);
    let mut c = server.connect();
    c.send(&testkit::request("DELETE", "/", &[("Connection", "close")]));
    assert_eq!(c.read_response().status, 405);

    let text = scrape(addr).text();
    let ok = r#"static_http_requests_total{method="GET",status_class="2xx"}"#;
    assert_eq!(sample(&text, ok), 3, "{text}");
    let missing = r#"static_http_requests_total{method="GET",status_class="4xx"}"#;
    assert_eq!(sample(&text, missing), 1);
    let deleted = r#"static_http_requests_total{method="DELETE",status_class="4xx"}"#;
    assert_eq!(sample(&text, deleted), 1);
    assert_eq!(
        sample(&text, "static_http_request_duration_seconds_count"),
        5
    );
    assert_eq!(sample(&text, "static_connections_accepted_total"), 5);
    assert!(sample(&text, "static_http_response_bytes_total") >= 3 * 13);

    // Not on the public port; only /metrics on the metrics port.
    assert_eq!(server.get("/metrics").status, 404);
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    use std::io::Write;
    s.write_all(b"GET / HTTP/1.1\r\nHost: m\r\n\r\n").unwrap();
    let r = testkit::read_response(&mut std::io::BufReader::new(s), false).unwrap();
    assert_eq!(r.status, 404);
}

#[test]
fn metrics_never_share_the_public_port() {
    let site = Site::new("metrics-clash");
    let root = site.root.to_str().unwrap();
    for args in [
        &[
            "--listen",
            "127.0.0.1:18555",
            "--metrics-listen",
            "127.0.0.1:18555",
        ][..],
        &[
            "--listen",
            "0.0.0.0:18555",
            "--metrics-listen",
            "127.0.0.1:18555",
        ],
        &["--metrics-listen", "nonsense"],
    ] {
        let out = run(&[&["--root", root][..], args].concat());
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("metrics-listen"),
            "{args:?}"
        );
    }
}
