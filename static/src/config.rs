//! Command line and environment of the `static` binary, parsed into a [`Command`]. Pure apart
//! from reading environment variables and checking that the root is a directory.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::PathBuf;

use common::cli::{self, ServerOptions};

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
  --show-dotfiles         serve names starting with '.' [env STATIC_SHOW_DOTFILES=1]
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
    pub cache_entry_max: usize,
    pub cache_max: usize,
    pub server: ServerOptions,
}

#[derive(Debug)]
pub enum Command {
    Serve(Config),
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
    Ok(Command::Serve(Config {
        listen,
        root,
        base_path,
        cache_control: (cache_control != "off")
            .then_some(cache_control)
            .filter(|v| is_header_safe(v)),
        show_dotfiles,
        cache_entry_max: cli::parse_count(&cache_entry_max)
            .map_err(|e| format!("--cache-entry-max: {e}"))?,
        cache_max: cli::parse_count(&cache_max).map_err(|e| format!("--cache-max: {e}"))?,
        server,
    }))
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
