//! Command line and environment: the proxy's flags, their `PROXY_*` fallbacks, `--help`, and
//! validation into a [`Config`]. Parsing is pure (it reads no files and binds nothing); `main`
//! reports errors with exit status 2.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use common::cli::{self, ServerOptions};

use crate::routes::{Routes, ROUTE_HELP};
use crate::trust::TrustedProxies;

/// Everything the proxy was told to do.
#[derive(Clone, Debug)]
pub struct Config {
    pub listen: SocketAddr,
    /// Only set when a certificate is configured.
    pub tls_listen: Option<SocketAddr>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    pub routes: Routes,
    pub upstream_ca: Option<PathBuf>,
    pub server: ServerOptions,
    pub max_body: u64,
    pub connect_timeout: Duration,
    pub upstream_timeout: Duration,
    pub health_path: String,
    pub hsts: Option<String>,
    pub dns_ttl: Duration,
    pub trusted_proxies: TrustedProxies,
}

/// What the command line asks for.
pub enum Command {
    Serve(Box<Config>),
    Health(Option<String>, SocketAddr, String),
    Help,
    Version,
}

pub fn help() -> String {
    let shared = cli::SERVER_OPTIONS_HELP.replace("{P}", "PROXY");
    format!(
        "\
proxy {version}: a path-prefix reverse proxy for HTTP/1.1, with HTTPS and HTTP/2

Usage: proxy [OPTIONS]
       proxy health [URL]     check a running proxy (exit 0 when it answers 2xx/3xx)
                              default URL: http://127.0.0.1:<port of --listen><health path>

Options (each falls back to the environment variable shown):
  --listen ADDR           plain HTTP listener [env PROXY_LISTEN; default 0.0.0.0:8080]
  --tls-listen ADDR       HTTPS listener, used only with --cert [env PROXY_TLS_LISTEN; default 0.0.0.0:8443]
  --cert FILE             PEM certificate chain; enables HTTPS (ALPN h2 and http/1.1), and the
                          plain listener then redirects (308) everything but the health path to
                          HTTPS [env PROXY_CERT]
  --key FILE              PEM private key for --cert [env PROXY_KEY]
                          SIGHUP re-reads --cert and --key; a bad pair keeps the old one
  --route PREFIX=URL      a route, repeatable (see below) [env PROXY_ROUTES, comma-separated]
  --upstream-ca FILE      extra PEM CA certificates for HTTPS upstreams (besides the
                          webpki roots) [env PROXY_UPSTREAM_CA]
  --max-body SIZE         largest request body, e.g. 512k, 100m, 1g (413 past it)
                          [env PROXY_MAX_BODY; default 100m]
  --connect-timeout DUR   upstream connect timeout (504) [env PROXY_CONNECT_TIMEOUT; default 5s]
  --upstream-timeout DUR  upstream inactivity timeout during an exchange (504)
                          [env PROXY_UPSTREAM_TIMEOUT; default 60s]
  --health-path PATH      answered by the proxy itself with 200 [env PROXY_HEALTH_PATH; default /healthz]
  --hsts VALUE|off        Strict-Transport-Security on HTTPS responses
                          [env PROXY_HSTS; default max-age=31536000]
  --dns-ttl DUR           how long resolved upstream addresses are used before a new lookup
                          [env PROXY_DNS_TTL; default 5s]
  --trusted-proxies LIST  comma-separated CIDR ranges (10.0.0.0/8,fd00::/8) of proxies in front
                          of this one, such as a load balancer: their X-Forwarded-For is kept
                          and appended to, their X-Forwarded-Proto/-Host, X-Real-IP and
                          Forwarded kept [env PROXY_TRUSTED_PROXIES; default: none]
{shared}
  -h, --help              this text
  -V, --version           the version

{ROUTE_HELP}

Paths: routing and forwarding use the normalised path: escapes of unreserved characters
decoded ('%2e' is '.'), dot segments removed ('/a/../b' is '/b'). 400 for a path that climbs
above '/', an encoded '/' or '\' ('%2f', '%5c'), a raw '\', '..;' segments, or bad escapes.
Requests: hop-by-hop headers are removed both ways. Forwarding headers (Forwarded,
X-Forwarded-*, X-Real-IP, and their '_' spellings) from clients are removed and set afresh:
X-Forwarded-For is the peer address, X-Forwarded-Proto the scheme, X-Forwarded-Host the host
asked for, X-Real-IP the peer (see --trusted-proxies). Via gets '1.1 proxy'. Host is passed
through (an absolute-form target's authority replaces it). Upstream Server and Date headers
are kept. '/' lists the routes when no route covers it.
Startup prints 'proxy: listening on http://ADDR' (and https://ADDR) to stderr; the access log
goes to stdout. SIGTERM/SIGINT drain: stop accepting, finish in-flight requests, exit 0.
Exit status 2 on a configuration or startup error.
",
        version = env!("CARGO_PKG_VERSION"),
    )
}

/// `123`, `512k`, `100m`, `1g` (binary multiples; `b` suffix optional).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let lower = s.trim().to_ascii_lowercase();
    let lower = lower.strip_suffix('b').unwrap_or(&lower);
    let (digits, mult) = match lower.chars().last() {
        Some('k') => (&lower[..lower.len() - 1], 1u64 << 10),
        Some('m') => (&lower[..lower.len() - 1], 1 << 20),
        Some('g') => (&lower[..lower.len() - 1], 1 << 30),
        _ => (lower, 1),
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .ok_or_else(|| format!("invalid size '{s}' (use e.g. 512k, 100m, 1g)"))
}

/// The proxy's own flags that take a value.
const OWN_FLAGS: [&str; 13] = [
    "listen",
    "tls-listen",
    "cert",
    "key",
    "route",
    "upstream-ca",
    "max-body",
    "connect-timeout",
    "upstream-timeout",
    "health-path",
    "hsts",
    "dns-ttl",
    "trusted-proxies",
];

struct Raw {
    listen: String,
    tls_listen: String,
    cert: Option<String>,
    key: Option<String>,
    routes: Vec<String>,
    env_routes: Option<String>,
    upstream_ca: Option<String>,
    max_body: String,
    connect_timeout: String,
    upstream_timeout: String,
    health_path: String,
    hsts: String,
    dns_ttl: String,
    trusted_proxies: String,
}

impl Raw {
    fn from_env() -> Raw {
        let get = |name: &str, default: &str| cli::env(name).unwrap_or_else(|| default.to_string());
        Raw {
            listen: get("PROXY_LISTEN", "0.0.0.0:8080"),
            tls_listen: get("PROXY_TLS_LISTEN", "0.0.0.0:8443"),
            cert: cli::env("PROXY_CERT"),
            key: cli::env("PROXY_KEY"),
            routes: Vec::new(),
            env_routes: cli::env("PROXY_ROUTES"),
            upstream_ca: cli::env("PROXY_UPSTREAM_CA"),
            max_body: get("PROXY_MAX_BODY", "100m"),
            connect_timeout: get("PROXY_CONNECT_TIMEOUT", "5s"),
            upstream_timeout: get("PROXY_UPSTREAM_TIMEOUT", "60s"),
            health_path: get("PROXY_HEALTH_PATH", "/healthz"),
            hsts: get("PROXY_HSTS", "max-age=31536000"),
            dns_ttl: get("PROXY_DNS_TTL", "5s"),
            trusted_proxies: get("PROXY_TRUSTED_PROXIES", ""),
        }
    }
}

/// Parses the process arguments (without the program name).
pub fn parse(args: Vec<std::ffi::OsString>) -> Result<Command, String> {
    use lexopt::prelude::*;
    let mut raw = Raw::from_env();
    let mut server = ServerOptions::from_env("PROXY")?;
    let mut parser = lexopt::Parser::from_args(args);
    let mut health: Option<Option<String>> = None;
    while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
        match arg {
            Short('h') | Long("help") => return Ok(Command::Help),
            Short('V') | Long("version") => return Ok(Command::Version),
            Value(v) if health.is_none() && v == "health" => health = Some(None),
            Value(v) if matches!(health, Some(None)) => {
                health =
                    Some(Some(v.into_string().map_err(|_| {
                        "the health URL is not valid UTF-8".to_string()
                    })?))
            }
            Long(flag) => {
                let flag = flag.to_string();
                if !OWN_FLAGS.contains(&flag.as_str()) && !ServerOptions::is_flag(&flag) {
                    return Err(format!("unknown option '--{flag}'"));
                }
                let value = cli::value(&mut parser, &flag)?;
                match flag.as_str() {
                    "listen" => raw.listen = value,
                    "tls-listen" => raw.tls_listen = value,
                    "cert" => raw.cert = Some(value),
                    "key" => raw.key = Some(value),
                    "route" => raw.routes.push(value),
                    "upstream-ca" => raw.upstream_ca = Some(value),
                    "max-body" => raw.max_body = value,
                    "connect-timeout" => raw.connect_timeout = value,
                    "upstream-timeout" => raw.upstream_timeout = value,
                    "health-path" => raw.health_path = value,
                    "hsts" => raw.hsts = value,
                    "dns-ttl" => raw.dns_ttl = value,
                    "trusted-proxies" => raw.trusted_proxies = value,
                    other => {
                        if !server
                            .set(other, &value)
                            .map_err(|e| format!("--{other}: {e}"))?
                        {
                            return Err(format!("unknown option '--{other}'"));
                        }
                    }
                }
            }
            other => return Err(other.unexpected().to_string()),
        }
    }
    let listen = cli::parse_addr(&raw.listen).map_err(|e| format!("--listen: {e}"))?;
    let health_path = raw.health_path.clone();
    if !health_path.starts_with('/') || health_path.bytes().any(|b| b <= b' ' || b >= 0x7f) {
        return Err(format!(
            "--health-path '{health_path}' must be a path starting with '/'"
        ));
    }
    if let Some(url) = health {
        return Ok(Command::Health(url, listen, health_path));
    }
    let specs: Vec<String> = if raw.routes.is_empty() {
        raw.env_routes
            .as_deref()
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect()
    } else {
        raw.routes
    };
    let routes = Routes::parse(specs.iter().map(String::as_str))?;
    let (cert, key) = match (raw.cert, raw.key) {
        (Some(c), Some(k)) => (Some(PathBuf::from(c)), Some(PathBuf::from(k))),
        (None, None) => (None, None),
        _ => return Err("--cert and --key go together".to_string()),
    };
    let tls_listen = match cert {
        Some(_) => {
            Some(cli::parse_addr(&raw.tls_listen).map_err(|e| format!("--tls-listen: {e}"))?)
        }
        None => None,
    };
    let public: Vec<SocketAddr> = std::iter::once(listen).chain(tls_listen).collect();
    server.check_metrics_apart(&public)?;
    let hsts = match raw.hsts.as_str() {
        "off" | "" => None,
        v if v.bytes().all(|b| (b' '..=b'~').contains(&b)) => Some(v.to_string()),
        v => return Err(format!("--hsts '{v}' is not a valid header value")),
    };
    Ok(Command::Serve(Box::new(Config {
        listen,
        tls_listen,
        cert,
        key,
        routes,
        upstream_ca: raw.upstream_ca.map(PathBuf::from),
        server,
        max_body: parse_size(&raw.max_body).map_err(|e| format!("--max-body: {e}"))?,
        connect_timeout: cli::parse_duration(&raw.connect_timeout)
            .map_err(|e| format!("--connect-timeout: {e}"))?,
        upstream_timeout: cli::parse_duration(&raw.upstream_timeout)
            .map_err(|e| format!("--upstream-timeout: {e}"))?,
        health_path,
        hsts,
        dns_ttl: cli::parse_duration(&raw.dns_ttl).map_err(|e| format!("--dns-ttl: {e}"))?,
        trusted_proxies: TrustedProxies::parse(&raw.trusted_proxies)
            .map_err(|e| format!("--trusted-proxies: {e}"))?,
    })))
}

/// The URL `proxy health` checks by default: the plain listener on loopback.
pub fn default_health_url(listen: SocketAddr, path: &str) -> String {
    let host = match listen {
        SocketAddr::V4(a) if a.ip().is_unspecified() => "127.0.0.1".to_string(),
        SocketAddr::V4(a) => a.ip().to_string(),
        SocketAddr::V6(a) if a.ip().is_unspecified() => "[::1]".to_string(),
        SocketAddr::V6(a) => format!("[{}]", a.ip()),
    };
    format!("http://{host}:{}{path}", listen.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<std::ffi::OsString> {
        list.iter().map(Into::into).collect()
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("100m").unwrap(), 100 << 20);
        assert_eq!(parse_size("512K").unwrap(), 512 << 10);
        assert_eq!(parse_size("1gb").unwrap(), 1 << 30);
        assert_eq!(parse_size("12").unwrap(), 12);
        assert!(parse_size("x").is_err());
        assert!(parse_size("-1").is_err());
        assert!(parse_size("99999999999999999g").is_err());
    }

    #[test]
    fn flags() {
        let Ok(Command::Serve(c)) = parse(args(&[
            "--listen",
            "127.0.0.1:0",
            "--route",
            "/a=http://a:1",
            "--route",
            "/b=https://b|https://c;keep-prefix",
            "--max-body",
            "1k",
            "--hsts",
            "off",
            "--workers",
            "2",
        ])) else {
            panic!("parse failed")
        };
        assert_eq!(c.routes.routes.len(), 2);
        assert_eq!(c.max_body, 1024);
        assert!(c.hsts.is_none() && c.tls_listen.is_none());
        assert_eq!(c.server.workers, 2);
        assert!(parse(args(&["--route", "nope"])).is_err());
        assert!(parse(args(&["--cert", "x"])).is_err());
        assert!(parse(args(&["--bogus", "1"])).is_err());
        assert_eq!(
            parse(args(&["--bogus"])).err().as_deref(),
            Some("unknown option '--bogus'")
        );
        assert!(matches!(
            parse(args(&["health"])),
            Ok(Command::Health(None, _, _))
        ));
        assert!(matches!(
            parse(args(&["health", "http://x/"])),
            Ok(Command::Health(Some(_), _, _))
        ));
    }

    #[test]
    fn health_urls() {
        assert_eq!(
            default_health_url("0.0.0.0:8080".parse().unwrap(), "/healthz"),
            "http://127.0.0.1:8080/healthz"
        );
        assert_eq!(
            default_health_url("[::]:81".parse().unwrap(), "/h"),
            "http://[::1]:81/h"
        );
    }
}
