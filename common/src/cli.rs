//! Command-line plumbing both binaries share: flags that fall back to environment variables,
//! the options every server has (workers, limits, timeouts, log format), value parsers, and the
//! uniform "name: error: ...; exit 2" failure. Parsing is pure; only [`fail`] exits.

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use crate::event_loop::LoopConfig;
use crate::log::LogFormat;

/// Prints `NAME: error: MESSAGE` and a hint, then exits with status 2 (a usage error).
pub fn fail(program: &str, message: impl std::fmt::Display) -> ! {
    eprintln!("{program}: error: {message}\nTry '{program} --help' for more information.");
    std::process::exit(2)
}

/// The value of environment variable `name`, when set and not empty.
pub fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// `host:port`, `:port` (all IPv4 interfaces), `[v6]:port`, or a name that resolves.
pub fn parse_addr(s: &str) -> Result<SocketAddr, String> {
    let full = if let Some(port) = s.strip_prefix(':') {
        format!("0.0.0.0:{port}")
    } else {
        s.to_string()
    };
    if let Ok(addr) = full.parse() {
        return Ok(addr);
    }
    full.to_socket_addrs()
        .map_err(|e| format!("invalid address '{s}': {e}"))?
        .next()
        .ok_or_else(|| format!("address '{s}' resolves to nothing"))
}

/// The longest duration any flag takes. Every deadline is `now + duration`; a bound keeps that
/// sum far from overflowing `Instant` (which would panic, and with `panic = "abort"` end the
/// process on the first request), and nobody means a timeout of more than a week.
pub const MAX_DURATION: Duration = Duration::from_secs(7 * 24 * 3600);

/// `10`, `10s`, `500ms`, `2m`, `1h` (seconds by default). Zero is refused (a zero timeout is a
/// typo), and so is anything above [`MAX_DURATION`].
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let (digits, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("invalid duration '{s}'"))?;
    let seconds_per_unit = match unit {
        "ms" => None,
        "s" => Some(1),
        "m" => Some(60),
        "h" => Some(3600),
        _ => {
            return Err(format!(
                "invalid duration '{s}' (use e.g. 500ms, 10s, 2m, 1h)"
            ))
        }
    };
    let d = match seconds_per_unit {
        None => Duration::from_millis(n),
        Some(k) => Duration::from_secs(n.saturating_mul(k)),
    };
    if d.is_zero() {
        return Err(format!("duration '{s}' must be greater than zero"));
    }
    if d > MAX_DURATION {
        return Err(format!("duration '{s}' is too long (at most 168h)"));
    }
    Ok(d)
}

/// A positive integer.
pub fn parse_count(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("'{s}' is not a positive number")),
    }
}

/// The CPUs this process may use (affinity and cgroup quota aware).
pub fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Options every server has, with their flags and environment variables.
#[derive(Clone, Debug)]
pub struct ServerOptions {
    pub workers: usize,
    pub max_connections: usize,
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
    pub shutdown_grace: Duration,
    pub log_format: LogFormat,
    /// Where Prometheus metrics are served (`--metrics-listen`); off when `None`.
    pub metrics_listen: Option<SocketAddr>,
}

/// Help text for [`ServerOptions`]; `{P}` is replaced by the environment prefix. The first
/// line is not written after a `\` continuation, which would strip its indentation.
pub const SERVER_OPTIONS_HELP: &str = "  --workers N             worker threads [env {P}_WORKERS; default: usable CPUs]
  --max-connections N     open connections before accepting pauses [env {P}_MAX_CONNECTIONS; default 10000]
  --header-timeout DUR    time to receive a request head [env {P}_HEADER_TIMEOUT; default 10s]
  --idle-timeout DUR      keep-alive idle time [env {P}_IDLE_TIMEOUT; default 60s]
  --shutdown-grace DUR    time to finish requests after SIGTERM [env {P}_SHUTDOWN_GRACE; default 10s]
  --log-format FORMAT     access log: combined, json or off [env {P}_LOG_FORMAT; default combined]
  --metrics-listen ADDR   Prometheus metrics at http://ADDR/metrics, never a public port [env {P}_METRICS_LISTEN; default off]";

/// The flags of [`ServerOptions`] (without `--`) and the suffix of their environment variable.
const SERVER_FLAGS: [(&str, &str); 7] = [
    ("workers", "WORKERS"),
    ("max-connections", "MAX_CONNECTIONS"),
    ("header-timeout", "HEADER_TIMEOUT"),
    ("idle-timeout", "IDLE_TIMEOUT"),
    ("shutdown-grace", "SHUTDOWN_GRACE"),
    ("log-format", "LOG_FORMAT"),
    ("metrics-listen", "METRICS_LISTEN"),
];

impl ServerOptions {
    /// Whether `flag` (without `--`) is one of these options. Lets a parser tell an unknown
    /// option from a known one whose value is missing before it asks for the value.
    pub fn is_flag(flag: &str) -> bool {
        SERVER_FLAGS.iter().any(|(f, _)| *f == flag)
    }

    /// Defaults, overridden by `PREFIX_*` environment variables.
    pub fn from_env(prefix: &str) -> Result<Self, String> {
        let mut o = ServerOptions {
            workers: default_workers(),
            max_connections: 10_000,
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            shutdown_grace: Duration::from_secs(10),
            log_format: LogFormat::Combined,
            metrics_listen: None,
        };
        for (flag, var) in SERVER_FLAGS {
            let name = format!("{prefix}_{var}");
            if let Some(value) = env(&name) {
                o.set(flag, &value).map_err(|e| format!("{name}: {e}"))?;
            }
        }
        Ok(o)
    }

    /// Applies `--flag value` if `flag` is one of ours; `Ok(false)` when it is not.
    pub fn set(&mut self, flag: &str, value: &str) -> Result<bool, String> {
        match flag {
            "workers" => self.workers = parse_count(value)?.min(256),
            "max-connections" => self.max_connections = parse_count(value)?,
            "header-timeout" => self.header_timeout = parse_duration(value)?,
            "idle-timeout" => self.idle_timeout = parse_duration(value)?,
            "shutdown-grace" => self.shutdown_grace = parse_duration(value)?,
            "log-format" => {
                self.log_format = LogFormat::parse(value)
                    .ok_or_else(|| format!("unknown log format '{value}' (combined, json, off)"))?
            }
            "metrics-listen" => self.metrics_listen = Some(parse_addr(value)?),
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Refuses a metrics listener that would share a port with a public one: metrics are for
    /// the operator's network, never for the clients (and binding it would fail later anyway).
    pub fn check_metrics_apart(&self, public: &[SocketAddr]) -> Result<(), String> {
        let Some(m) = self.metrics_listen else {
            return Ok(());
        };
        // Port 0 asks the kernel for a free port: two of those never clash.
        let clash = public.iter().any(|p| {
            m.port() != 0
                && p.port() == m.port()
                && (p.ip() == m.ip() || p.ip().is_unspecified() || m.ip().is_unspecified())
        });
        if clash {
            return Err(format!(
                "--metrics-listen {m}: must not share a port with a public listener"
            ));
        }
        Ok(())
    }

    /// The event-loop settings, with the connection limit split over the workers and capped by
    /// the descriptors the process may open (two per proxied connection, plus headroom).
    pub fn loop_config(
        &self,
        fds_per_connection: usize,
        metrics: std::sync::Arc<crate::metrics::Metrics>,
    ) -> LoopConfig {
        let nofile = crate::sys::raise_nofile_limit().unwrap_or(1024) as usize;
        let by_fds = nofile.saturating_sub(64) / fds_per_connection.max(1);
        let total = self.max_connections.min(by_fds).max(1);
        LoopConfig {
            max_connections: (total / self.workers.max(1)).max(1),
            shutdown_grace: self.shutdown_grace,
            log_format: self.log_format,
            metrics,
        }
    }
}

/// Reads the value of a lexopt option as UTF-8, with a clear message otherwise.
pub fn value(parser: &mut lexopt::Parser, flag: &str) -> Result<String, String> {
    parser
        .value()
        .map_err(|e| e.to_string())?
        .into_string()
        .map_err(|_| format!("the value of --{flag} is not valid UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert_eq!(
            parse_addr(":8080").unwrap(),
            "0.0.0.0:8080".parse().unwrap()
        );
        assert_eq!(parse_addr("[::1]:80").unwrap(), "[::1]:80".parse().unwrap());
        assert!(parse_addr("nonsense").is_err());
        assert!(parse_addr("1.2.3.4:99999").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert!(parse_duration("0").is_err());
        assert!(parse_duration("-1").is_err());
        assert_eq!(parse_duration("5h").unwrap(), Duration::from_secs(5 * 3600));
        assert!(parse_duration("5d").is_err());
        // Found by review: `now + 2^64 s` overflowed Instant and aborted the process.
        for huge in ["18446744073709551615", "99999999999m", "169h", "604801"] {
            let e = parse_duration(huge).unwrap_err();
            assert!(e.contains("too long"), "{huge}: {e}");
        }
        assert_eq!(parse_duration("168h").unwrap(), MAX_DURATION);
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn server_options_flags() {
        let mut o = ServerOptions::from_env("TEST_NOTHING_SET").unwrap();
        assert!(o.set("workers", "3").unwrap());
        assert_eq!(o.workers, 3);
        assert!(o.set("workers", "0").is_err());
        assert!(o.set("log-format", "xml").is_err());
        assert!(!o.set("root", "/x").unwrap());
        assert!(ServerOptions::is_flag("idle-timeout"));
        assert!(!ServerOptions::is_flag("bogus"));
        let cfg = o.loop_config(1, std::sync::Arc::new(crate::metrics::Metrics::new("t", 1)));
        assert!(cfg.max_connections >= 1);
    }

    #[test]
    fn help_lines_are_indented() {
        for line in SERVER_OPTIONS_HELP.lines() {
            assert!(line.starts_with("  --"), "{line:?}");
        }
    }
}
