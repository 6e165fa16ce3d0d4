//! Command line and environment of the `static` binary, parsed into a [`Command`]. Pure apart
//! from reading environment variables and checking that the root is a directory.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::PathBuf;

use common::cli::{self, ServerOptions};
use static_server::headers::{self, Rule};

pub const HELP: &str = "\
static - a tiny, hardened static file server

Usage: static [OPTIONS]
       static health [URL]     exit 0 when the server at URL answers 2xx/3xx
                               (default http://127.0.0.1:<listen port><base path>/)

Options (each also read from the environment variable shown):
  --listen ADDR           address to listen on [env STATIC_LISTEN; default 0.0.0.0:8080]
  --root DIR              directory to serve [env STATIC_ROOT; default /html]
  --base-path PREFIX      URL prefix the site lives under, stripped before lookup; other
                          paths are 404 [env STATIC_BASE_PATH; default /]
  --cache-control VALUE   Cache-Control of file responses, or 'off' [env STATIC_CACHE_CONTROL;
                          default no-cache (browsers revalidate with ETag; 304 if unchanged)]
  --show-dotfiles         serve (and list) names starting with '.' [env STATIC_SHOW_DOTFILES=1]
  --compress on|off       gzip compressible files (text, JS, JSON, SVG, wasm, fonts) of 1 KiB to
                          1 MiB for clients that accept it, made once per file version and cached;
                          .br/.gz sidecar files win [env STATIC_COMPRESS; default on]
  --header 'PATTERN: Name: value'
                          add a response header to files whose site path matches the glob
                          PATTERN ('*' any characters including '/', '?' one), e.g.
                          '/assets/*: Cache-Control: public, max-age=31536000, immutable' or
                          \"*.html: Content-Security-Policy: default-src 'self'\"; repeatable;
                          replaces our header of that name; the last matching rule wins
                          [env STATIC_HEADERS, one rule per line, applied before the flags]
  --fallback PATH         single-page apps: a GET/HEAD for a missing page (no file extension,
                          or Accept: text/html) gets this file with 200, e.g. /index.html;
                          missing assets stay 404 [env STATIC_FALLBACK]
  --list-dirs             list directories that have no index.html (HTML, or JSON with
                          Accept: application/json or ?format=json) [env STATIC_LIST_DIRS=1]
  --cache-entry-max SIZE  largest file kept in memory, in bytes [env STATIC_CACHE_ENTRY_MAX; default 65536]
  --cache-max SIZE        memory for cached files per worker, in bytes [env STATIC_CACHE_MAX; default 16777216]
{SERVER_OPTIONS}
  -h, --help              show this help
  -V, --version           show the version

Signals: SIGTERM/SIGINT stop accepting, finish in-flight responses and exit 0.
";

#[derive(Debug)]
pub struct Config {
    pub listen: SocketAddr,
    pub root: PathBuf,
    pub base_path: String,
    pub cache_control: Option<String>,
    pub show_dotfiles: bool,
    pub compress: bool,
    pub headers: Vec<Rule>,
    /// Site-relative path of the fallback page, without the leading '/'.
    pub fallback: Option<String>,
    pub list_dirs: bool,
    pub cache_entry_max: usize,
    pub cache_max: usize,
    pub server: ServerOptions,
}

#[derive(Debug)]
pub enum Command {
    Serve(Box<Config>),
    Health(String),
    Help,
    Version,
}

pub fn help() -> String {
    HELP.replace(
        "{SERVER_OPTIONS}",
        &cli::SERVER_OPTIONS_HELP.replace("{P}", "STATIC"),
    )
}

/// Parses arguments (without the program name) over the environment's defaults.
pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Command, String> {
    use lexopt::prelude::*;
    let mut listen = cli::env("STATIC_LISTEN").unwrap_or_else(|| "0.0.0.0:8080".into());
    let mut root = cli::env("STATIC_ROOT").unwrap_or_else(|| "/html".into());
    let mut base_path = cli::env("STATIC_BASE_PATH").unwrap_or_else(|| "/".into());
    let mut cache_control = cli::env("STATIC_CACHE_CONTROL").unwrap_or_else(|| "no-cache".into());
    let mut show_dotfiles =
        cli::env("STATIC_SHOW_DOTFILES").is_some_and(|v| v == "1" || v == "true");
    let mut compress = cli::env("STATIC_COMPRESS").unwrap_or_else(|| "on".into());
    let mut header_rules = match cli::env("STATIC_HEADERS") {
        Some(text) => headers::parse_lines(&text).map_err(|e| format!("STATIC_HEADERS: {e}"))?,
        None => Vec::new(),
    };
    let mut fallback = cli::env("STATIC_FALLBACK");
    let mut list_dirs = cli::env("STATIC_LIST_DIRS").is_some_and(|v| v == "1" || v == "true");
    let mut cache_entry_max = cli::env("STATIC_CACHE_ENTRY_MAX").unwrap_or_else(|| "65536".into());
    let mut cache_max = cli::env("STATIC_CACHE_MAX").unwrap_or_else(|| "16777216".into());
    let mut server = ServerOptions::from_env("STATIC")?;
    let mut parser = lexopt::Parser::from_args(args);
    let mut health: Option<Option<String>> = None;
    while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
        match arg {
            Short('h') | Long("help") => return Ok(Command::Help),
            Short('V') | Long("version") => return Ok(Command::Version),
            Long("listen") => listen = cli::value(&mut parser, "listen")?,
            Long("root") => root = cli::value(&mut parser, "root")?,
            Long("base-path") => base_path = cli::value(&mut parser, "base-path")?,
            Long("cache-control") => cache_control = cli::value(&mut parser, "cache-control")?,
            Long("show-dotfiles") => show_dotfiles = true,
            Long("compress") => compress = cli::value(&mut parser, "compress")?,
            Long("header") => {
                header_rules.push(Rule::parse(&cli::value(&mut parser, "header")?)?);
            }
            Long("fallback") => fallback = Some(cli::value(&mut parser, "fallback")?),
            Long("list-dirs") => list_dirs = true,
            Long("cache-entry-max") => {
                cache_entry_max = cli::value(&mut parser, "cache-entry-max")?
            }
            Long("cache-max") => cache_max = cli::value(&mut parser, "cache-max")?,
            Long(flag) if !ServerOptions::is_flag(flag) => {
                return Err(format!("unknown option '--{flag}'"));
            }
            Long(flag) => {
                let flag = flag.to_string();
                let value = cli::value(&mut parser, &flag)?;
                if !server
                    .set(&flag, &value)
                    .map_err(|e| format!("--{flag}: {e}"))?
                {
                    return Err(format!("unknown option '--{flag}'"));
                }
            }
            Value(v) if health.is_none() && v == "health" => health = Some(None),
            Value(v) if matches!(health, Some(None)) => {
                health =
                    Some(Some(v.into_string().map_err(|_| {
                        "the health URL is not valid UTF-8".to_string()
                    })?))
            }
            other => return Err(other.unexpected().to_string()),
        }
    }
    let listen = cli::parse_addr(&listen)?;
    server.check_metrics_apart(&[listen])?;
    let base_path = normalise_base_path(&base_path)?;
    if let Some(url) = health {
        let default = format!(
            "http://{}:{}{}",
            loopback_for(listen),
            listen.port(),
            base_path.trim_end_matches('/')
        );
        return Ok(Command::Health(url.unwrap_or(default + "/")));
    }
    let root = PathBuf::from(&root)
        .canonicalize()
        .map_err(|e| format!("root directory '{root}': {e}"))?;
    if !root.is_dir() {
        return Err(format!("root '{}' is not a directory", root.display()));
    }
    Ok(Command::Serve(Box::new(Config {
        listen,
        root,
        base_path,
        cache_control: (cache_control != "off")
            .then_some(cache_control)
            .filter(|v| is_header_safe(v)),
        show_dotfiles,
        compress: match compress.as_str() {
            "on" => true,
            "off" => false,
            other => return Err(format!("--compress: expected on or off, got '{other}'")),
        },
        headers: header_rules,
        fallback: fallback.map(|f| fallback_path(&f)).transpose()?,
        list_dirs,
        cache_entry_max: cli::parse_count(&cache_entry_max)
            .map_err(|e| format!("--cache-entry-max: {e}"))?,
        cache_max: cli::parse_count(&cache_max).map_err(|e| format!("--cache-max: {e}"))?,
        server,
    })))
}

/// Where `health` connects for a server listening on `listen`.
fn loopback_for(listen: SocketAddr) -> String {
    match listen {
        SocketAddr::V4(a) if a.ip().is_unspecified() => "127.0.0.1".into(),
        SocketAddr::V6(a) if a.ip().is_unspecified() => "[::1]".into(),
        SocketAddr::V4(a) => a.ip().to_string(),
        SocketAddr::V6(a) => format!("[{}]", a.ip()),
    }
}

/// `/`, or `/seg[/seg...]` without a trailing slash; visible ASCII only.
fn normalise_base_path(p: &str) -> Result<String, String> {
    let trimmed = p.trim_end_matches('/');
    if trimmed.is_empty() {
        return Ok("/".into());
    }
    if !trimmed.starts_with('/')
        || trimmed.contains("//")
        || trimmed.split('/').any(|s| s == "." || s == "..")
        || !trimmed
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'?' && b != b'#' && b != b'%' && b != b'\\')
    {
        return Err(format!("invalid base path '{p}' (expected e.g. /a)"));
    }
    Ok(trimmed.into())
}

/// `--fallback`: a site path such as `/index.html`, stored without the leading `/`; no dot
/// segments, no empty segments, visible ASCII.
fn fallback_path(p: &str) -> Result<String, String> {
    let bad = || format!("--fallback '{p}': expected a file path in the site, such as /index.html");
    let rest = p.strip_prefix('/').ok_or_else(bad)?;
    if rest.is_empty()
        || rest.ends_with('/')
        || rest
            .split('/')
            .any(|s| s.is_empty() || s == "." || s == "..")
        || !rest
            .bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b'?' | b'#' | b'%' | b'\\'))
    {
        return Err(bad());
    }
    Ok(rest.to_string())
}

fn is_header_safe(v: &str) -> bool {
    v.bytes().all(|b| b == b'\t' || (0x20..0x7f).contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    #[test]
    fn base_paths() {
        assert_eq!(normalise_base_path("/").unwrap(), "/");
        assert_eq!(normalise_base_path("/a/").unwrap(), "/a");
        assert_eq!(normalise_base_path("/a/b").unwrap(), "/a/b");
        assert!(normalise_base_path("a").is_err());
        assert!(normalise_base_path("/a/../b").is_err());
        assert!(normalise_base_path("/a b").is_err());
    }

    #[test]
    fn health_default_follows_listen_and_base() {
        let cmd = parse(args(&[
            "--listen",
            "0.0.0.0:9000",
            "--base-path",
            "/a",
            "health",
        ]))
        .unwrap();
        match cmd {
            Command::Health(url) => assert_eq!(url, "http://127.0.0.1:9000/a/"),
            other => panic!("{other:?}"),
        }
        match parse(args(&["health", "http://x:1/y"])).unwrap() {
            Command::Health(url) => assert_eq!(url, "http://x:1/y"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn errors_are_clear() {
        // Unknown, with or without something that looks like its value.
        for bogus in [&["--bogus"][..], &["--bogus", "x"], &["--bogus=1"]] {
            assert_eq!(parse(args(bogus)).unwrap_err(), "unknown option '--bogus'");
        }
        assert!(parse(args(&["--root", "/definitely/not/here"]))
            .unwrap_err()
            .contains("/definitely/not/here"));
        assert!(parse(args(&["--workers", "zero"]))
            .unwrap_err()
            .contains("workers"));
        assert!(parse(args(&["--listen"])).is_err());
        assert!(parse(args(&["stray"])).is_err());
    }

    #[test]
    fn feature_flags() {
        let dir = std::env::temp_dir();
        let root = dir.to_str().unwrap();
        let cmd = parse(args(&[
            "--root",
            root,
            "--compress",
            "off",
            "--header",
            "/assets/*: Cache-Control: max-age=60",
            "--fallback",
            "/index.html",
            "--list-dirs",
        ]))
        .unwrap();
        match cmd {
            Command::Serve(c) => {
                assert!(!c.compress);
                assert_eq!(c.headers.len(), 1);
                assert_eq!(c.fallback.as_deref(), Some("index.html"));
                assert!(c.list_dirs);
            }
            other => panic!("{other:?}"),
        }
        for bad in [
            &["--compress", "maybe"][..],
            &["--header", "nope"],
            &["--header", "/x: Content-Length: 1"],
            &["--fallback", "index.html"],
            &["--fallback", "/../etc/passwd"],
            &["--fallback", "/"],
        ] {
            let mut a = vec!["--root", root];
            a.extend_from_slice(bad);
            assert!(parse(args(&a)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn serve_config() {
        let dir = std::env::temp_dir();
        let cmd = parse(args(&[
            "--root",
            dir.to_str().unwrap(),
            "--cache-control",
            "off",
            "--log-format",
            "json",
        ]))
        .unwrap();
        match cmd {
            Command::Serve(c) => {
                assert_eq!(c.cache_control, None);
                assert_eq!(c.server.log_format, common::log::LogFormat::Json);
            }
            other => panic!("{other:?}"),
        }
    }
}
