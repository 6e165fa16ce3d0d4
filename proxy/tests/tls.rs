//! HTTPS: serving with a test CA (made with the openssl CLI at test time), HSTS, the
//! HTTP-to-HTTPS redirect, TLS 1.2 and 1.3, certificate reload on SIGHUP without dropping open
//! connections, and HTTPS upstreams verified with an extra CA and SNI.

use std::io::{BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::{CertificateDer, ServerName};
use testkit::*;

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl CLI");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A temp dir with a CA and two leaf certificates (`a`, `b`) for localhost / 127.0.0.1.
fn pki(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("proxy-tls-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    let mut ca = vec!["req", "-x509"];
    ca.extend(ec);
    ca.extend([
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=Proxy Test CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    openssl(&dir, &ca);
    std::fs::write(
        dir.join("leaf.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
         keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    for name in ["a", "b"] {
        let key = format!("{name}.key");
        let csr = format!("{name}.csr");
        let pem = format!("{name}.pem");
        let mut req = vec!["req"];
        req.extend(ec);
        req.extend(["-keyout", &key, "-out", &csr, "-subj", "/CN=localhost"]);
        openssl(&dir, &req);
        openssl(
            &dir,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                &pem,
                "-days",
                "2",
                "-extfile",
                "leaf.ext",
            ],
        );
    }
    dir
}

fn first_cert(path: &Path) -> CertificateDer<'static> {
    let mut reader = BufReader::new(std::fs::File::open(path).unwrap());
    let cert = rustls_pemfile::certs(&mut reader).next().unwrap().unwrap();
    cert
}

fn client_config(dir: &Path, tls12_only: bool) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(first_cert(&dir.join("ca.pem"))).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let versions: &[&rustls::SupportedProtocolVersion] = if tls12_only {
        &[&rustls::version::TLS12]
    } else {
        &[&rustls::version::TLS13]
    };
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

type Tls = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

fn tls_connect(addr: SocketAddr, config: &Arc<rustls::ClientConfig>) -> Tls {
    let sock = TcpStream::connect(addr).unwrap();
    sock.set_read_timeout(Some(TIMEOUT)).unwrap();
    let conn =
        rustls::ClientConnection::new(config.clone(), ServerName::try_from("localhost").unwrap())
            .unwrap();
    let mut tls = rustls::StreamOwned::new(conn, sock);
    while tls.conn.is_handshaking() {
        tls.conn.complete_io(&mut tls.sock).unwrap();
    }
    tls
}

fn tls_get(tls: &mut Tls, path: &str) -> Response {
    write!(tls, "GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
    tls.flush().unwrap();
    read_response(&mut BufReader::new(tls), false).unwrap()
}

fn start_tls_proxy(dir: &Path, route: &str) -> Proxy {
    start_tls_proxy_with(dir, route, &[])
}

fn start_tls_proxy_with(dir: &Path, route: &str, extra: &[&str]) -> Proxy {
    let mut args = vec!["--route", route];
    args.extend_from_slice(extra);
    Proxy::start_tls(&dir.join("a.pem"), &dir.join("a.key"), &args)
}

#[test]
fn https_with_hsts_and_plain_redirects() {
    let dir = pki("serve");
    let up = Upstream::echo();
    let proxy = start_tls_proxy(&dir, &format!("/a={}", up.url()));
    let https = proxy.https.unwrap();
    for tls12 in [false, true] {
        let config = client_config(&dir, tls12);
        let mut tls = tls_connect(https, &config);
        assert_eq!(tls.conn.alpn_protocol(), Some(&b"http/1.1"[..]));
        for _ in 0..3 {
            let r = tls_get(&mut tls, "/a/x");
            assert_eq!(r.status, 200);
            assert!(
                r.text().contains("X-Forwarded-Proto: https"),
                "{}",
                r.text()
            );
            assert_eq!(
                r.header("strict-transport-security"),
                Some("max-age=31536000")
            );
        }
        assert_eq!(
            tls_get(&mut tls, "/nope").header("strict-transport-security"),
            Some("max-age=31536000")
        );
    }
    let r = exchange(
        &proxy,
        "GET /a/x?y=1 HTTP/1.1\r\nHost: localhost:8080\r\n\r\n",
    );
    assert_eq!(r.status, 308);
    assert_eq!(
        r.header("location").unwrap(),
        format!("https://localhost:{}/a/x?y=1", https.port())
    );
    assert!(r.header("strict-transport-security").is_none());
    assert_eq!(
        get(&proxy, "/healthz").status,
        200,
        "health stays on plain HTTP"
    );
    let bad = exchange(&proxy, "GET / HTTP/1.0\r\n\r\n");
    assert_eq!(bad.status, 400, "no Host to redirect to");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn sighup_reloads_the_certificate_without_dropping_connections() {
    let dir = pki("reload");
    let up = Upstream::echo();
    let proxy = start_tls_proxy(&dir, &format!("/={}", up.url()));
    let https = proxy.https.unwrap();
    let config = client_config(&dir, false);
    let mut open = tls_connect(https, &config);
    assert_eq!(tls_get(&mut open, "/1").status, 200);
    let cert_a = first_cert(&dir.join("a.pem"));
    let cert_b = first_cert(&dir.join("b.pem"));
    let served = |config: &Arc<rustls::ClientConfig>| {
        tls_connect(https, config).conn.peer_certificates().unwrap()[0].clone()
    };
    assert_eq!(served(&config), cert_a);
    std::fs::copy(dir.join("b.pem"), dir.join("a.pem")).unwrap();
    std::fs::copy(dir.join("b.key"), dir.join("a.key")).unwrap();
    proxy.signal(libc::SIGHUP);
    assert!(
        eventually(Duration::from_secs(5), || served(&config) == cert_b),
        "new handshakes see B"
    );
    assert_eq!(
        tls_get(&mut open, "/2").status,
        200,
        "the open connection keeps working"
    );
    // A broken certificate keeps the current one.
    std::fs::write(dir.join("a.pem"), "not a certificate").unwrap();
    proxy.signal(libc::SIGHUP);
    assert!(eventually(Duration::from_secs(5), || proxy
        .stderr
        .contains("reload failed")));
    assert_eq!(served(&config), cert_b);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn https_upstreams_are_verified_with_sni() {
    let dir = pki("upstream");
    let up = Upstream::echo();
    let inner = start_tls_proxy(&dir, &format!("/={}", up.url()));
    let port = inner.https.unwrap().port();
    let ca = dir.join("ca.pem");
    let outer = Proxy::start(&[
        "--route",
        &format!("/s=https://localhost:{port}/"),
        "--upstream-ca",
        ca.to_str().unwrap(),
    ]);
    let mut s = outer.connect();
    let mut reader = BufReader::new(s.try_clone().unwrap());
    for i in 0..3 {
        write!(s, "GET /s/x{i} HTTP/1.1\r\nHost: outer\r\n\r\n").unwrap();
        let r = read_response(&mut reader, false).unwrap();
        assert_eq!(r.status, 200);
        assert!(
            r.text().starts_with(&format!("GET /x{i} HTTP/1.1")),
            "{}",
            r.text()
        );
    }
    // Without the extra CA the upstream certificate is not trusted: 502.
    let untrusting = Proxy::start(&["--route", &format!("/s=https://localhost:{port}")]);
    assert_eq!(get(&untrusting, "/s/x").status, 502);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn bad_certificate_is_a_startup_error() {
    let mut cmd = Command::new(testkit::bin("proxy"));
    let out = cmd
        .args([
            "--listen",
            "127.0.0.1:0",
            "--cert",
            "/nonexistent.pem",
            "--key",
            "/nonexistent.key",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read /nonexistent.pem"));
}

/// An HTTPS upstream that answers one request with a body delimited by the close of the
/// connection, then closes: with close_notify when `clean`, else with a bare TCP FIN.
fn close_delimited_tls_upstream(dir: &Path, clean: bool) -> SocketAddr {
    let certs = vec![first_cert(&dir.join("a.pem"))];
    let mut key_file = BufReader::new(std::fs::File::open(dir.join("a.key")).unwrap());
    let key = rustls_pemfile::private_key(&mut key_file).unwrap().unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = Arc::new(
        rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap(),
    );
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for sock in listener.incoming() {
            let Ok(sock) = sock else { continue };
            let conn = rustls::ServerConnection::new(config.clone()).unwrap();
            let mut tls = rustls::StreamOwned::new(conn, sock);
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") {
                if std::io::Read::read(&mut tls, &mut byte).unwrap_or(0) == 0 {
                    break;
                }
                head.push(byte[0]);
            }
            let _ =
                tls.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\npartial-body");
            let _ = tls.flush();
            if clean {
                tls.conn.send_close_notify();
                let _ = tls.flush();
            }
            let _ = tls.sock.shutdown(std::net::Shutdown::Both);
        }
    });
    addr
}

/// Finding 8 of the proxy-core review: a TCP close without close_notify from an HTTPS upstream
/// ended a close-delimited body as if it were complete. TLS says such a stream may have been
/// cut by anyone on the path: the client must not see a complete response.
#[test]
fn https_upstream_truncation_is_never_a_complete_response() {
    let dir = pki("truncate");
    let ca = dir.join("ca.pem");
    for clean in [true, false] {
        let port = close_delimited_tls_upstream(&dir, clean).port();
        let proxy = Proxy::start(&[
            "--route",
            &format!("/s=https://localhost:{port}"),
            "--upstream-ca",
            ca.to_str().unwrap(),
        ]);
        // HTTP/1.1 client: the body is re-framed as chunked; only a clean end has the last chunk.
        let out = raw_until_close(
            &proxy,
            b"GET /s/x HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
        );
        let text = String::from_utf8_lossy(&out);
        assert!(text.starts_with("HTTP/1.1 200"), "{text}");
        assert!(text.contains("partial-body"), "{text}");
        assert_eq!(
            text.ends_with("0\r\n\r\n"),
            clean,
            "clean={clean}: the response must look complete only after close_notify:\n{text}"
        );
        // HTTP/1.0 client: the close delimits the body, so a cut one must end in a reset.
        let mut s = proxy.connect();
        s.write_all(b"GET /s/x HTTP/1.0\r\n\r\n").unwrap();
        let mut body = Vec::new();
        let ended = std::io::Read::read_to_end(&mut s, &mut body);
        assert_eq!(ended.is_ok(), clean, "clean={clean}: {ended:?}");
        if clean {
            assert!(String::from_utf8_lossy(&body).ends_with("partial-body"));
        }
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// The certificate's expiry is exported as a metric, from the certificate actually served.
#[test]
fn certificate_expiry_metric() {
    let dir = pki("metrics");
    let up = Upstream::echo();
    let route = format!("/a={}", up.url());
    let proxy = start_tls_proxy_with(&dir, &route, &["--metrics-listen", "127.0.0.1:0"]);
    let text = scrape(metrics_addr(&proxy)).text();
    let not_after = sample(&text, "proxy_tls_certificate_not_after_seconds");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    // `openssl x509 -days 2`: two days from now, give or take the test's own duration.
    assert!(
        (now + 2 * 86_400 - 600..=now + 2 * 86_400 + 600).contains(&not_after),
        "not_after {not_after}, now {now}:\n{text}"
    );
}
