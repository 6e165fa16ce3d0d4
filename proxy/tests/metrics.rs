//! Prometheus metrics of the real proxy: requests by method and status class, upstream
//! responses by route, connect failures and upstream state, on a listener of its own.

use std::net::TcpListener;

use testkit::*;

#[test]
fn upstream_metrics_follow_the_traffic() {
    let up = Upstream::echo();
    // A port nothing listens on: every connection attempt is refused.
    let dead = TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_url = format!("http://{}", dead.local_addr().unwrap());
    drop(dead);
    let proxy = Proxy::start(&[
        "--route",
        &format!("/a={}", up.url()),
        "--route",
        &format!("/dead={dead_url}"),
        "--metrics-listen",
        "127.0.0.1:0",
    ]);
    let addr = metrics_addr(&proxy);
    for _ in 0..4 {
        assert_eq!(get(&proxy, "/a/x").status, 200);
    }
    assert_eq!(get(&proxy, "/dead/x").status, 502);
    assert_eq!(get(&proxy, "/nowhere").status, 404);

    let text = scrape(addr).text();
    let s = |series: &str| sample(&text, series);
    assert_eq!(
        s(r#"proxy_http_requests_total{method="GET",status_class="2xx"}"#),
        4,
        "{text}"
    );
    assert_eq!(
        s(r#"proxy_http_requests_total{method="GET",status_class="5xx"}"#),
        1
    );
    assert_eq!(
        s(r#"proxy_http_requests_total{method="GET",status_class="4xx"}"#),
        1
    );
    assert_eq!(
        s(r#"proxy_upstream_requests_total{route="/a",status_class="2xx"}"#),
        4
    );
    // The 502 is the proxy's own answer, not an upstream response.
    assert_eq!(
        s(r#"proxy_upstream_requests_total{route="/dead",status_class="5xx"}"#),
        0
    );
    assert!(s(r#"proxy_upstream_connect_failures_total{route="/dead"}"#) >= 1);
    assert_eq!(s(r#"proxy_upstream_connect_failures_total{route="/a"}"#), 0);
    let up_a = format!(r#"proxy_upstream_up{{route="/a",upstream="{}"}}"#, up.url());
    assert_eq!(s(&up_a), 1, "{text}");
    let up_dead = format!(r#"proxy_upstream_up{{route="/dead",upstream="{dead_url}"}}"#);
    assert!(text.contains(&format!("{up_dead} 0")), "{text}");
    assert_eq!(s("proxy_http_request_duration_seconds_count"), 6);
    assert!(
        !text.contains("proxy_tls_certificate_not_after_seconds"),
        "no --cert"
    );
}

#[test]
fn metrics_stay_off_the_public_port() {
    let proxy = Proxy::start(&["--metrics-listen", "127.0.0.1:0"]);
    assert_eq!(get(&proxy, "/metrics").status, 404);
    let out = std::process::Command::new(bin("proxy"))
        .args([
            "--listen",
            "127.0.0.1:18556",
            "--metrics-listen",
            "0.0.0.0:18556",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--metrics-listen"));
}
