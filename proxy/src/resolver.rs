//! Upstream name resolution, kept off the event loop.
//!
//! `getaddrinfo` blocks, so a single resolver thread per process owns every lookup: it resolves
//! each configured upstream host at startup, again whenever its entry is older than the TTL
//! (libc reports no DNS TTL, so a fixed one is used, 5 s by default), and at once when a worker
//! reports a connect failure. Workers only read the cached addresses (a mutex held for a copy
//! of an `Arc`), and only when they open a new upstream connection, never per request.
//! A failed lookup keeps the previous addresses (a DNS hiccup must not take routes down) and is
//! retried every second. IP literals are never looked up.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

struct Entry {
    name: String,
    port: u16,
    state: Mutex<State>,
}

struct State {
    addrs: Arc<[SocketAddr]>,
    resolved_at: Option<Instant>,
    /// Last lookup attempt (successful or not).
    tried_at: Option<Instant>,
    refresh: bool,
    error_logged: bool,
}

/// The shared cache of upstream addresses.
pub struct Resolver {
    entries: Vec<Entry>,
    ttl: Duration,
    wake: Mutex<u64>,
    cond: Condvar,
}

const RETRY: Duration = Duration::from_secs(1);
/// Lookups asked for after connect failures are at least this far apart.
const REFRESH_GAP: Duration = Duration::from_millis(200);
const POLL: Duration = Duration::from_millis(250);

impl Resolver {
    /// One entry per (host, port), in the order of `Routes::hosts`.
    pub fn new(hosts: &[(String, u16)], ttl: Duration) -> Arc<Resolver> {
        let entries = hosts
            .iter()
            .map(|(name, port)| {
                let literal = name
                    .parse::<IpAddr>()
                    .ok()
                    .map(|ip| SocketAddr::new(ip, *port));
                Entry {
                    name: name.clone(),
                    port: *port,
                    state: Mutex::new(State {
                        addrs: literal.into_iter().collect(),
                        resolved_at: None,
                        tried_at: None,
                        refresh: false,
                        error_logged: false,
                    }),
                }
            })
            .collect();
        Arc::new(Resolver {
            entries,
            ttl,
            wake: Mutex::new(0),
            cond: Condvar::new(),
        })
    }

    fn is_literal(&self, id: usize) -> bool {
        self.entries
            .get(id)
            .is_some_and(|e| e.name.parse::<IpAddr>().is_ok())
    }

    /// Starts the resolver thread and waits up to `initial_wait` for the first round of
    /// lookups, so that the first requests find addresses.
    pub fn start(self: &Arc<Self>, initial_wait: Duration) -> std::io::Result<()> {
        let me = self.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("resolver".into())
            .spawn(move || {
                me.round(Instant::now());
                let _ = tx.send(());
                me.run();
            })?;
        let _ = rx.recv_timeout(initial_wait);
        Ok(())
    }

    fn run(&self) {
        loop {
            if let Ok(guard) = self.wake.lock() {
                let _ = self.cond.wait_timeout(guard, POLL);
            }
            self.round(Instant::now());
        }
    }

    /// Looks up every entry that is due.
    fn round(&self, now: Instant) {
        for (id, entry) in self.entries.iter().enumerate() {
            if self.is_literal(id) {
                continue;
            }
            let due = match entry.state.lock() {
                Ok(s) => {
                    let since_try = s.tried_at.map(|t| now.duration_since(t));
                    let expired = s
                        .resolved_at
                        .map_or(true, |t| now.duration_since(t) >= self.ttl);
                    (s.refresh && since_try.map_or(true, |d| d >= REFRESH_GAP))
                        || (expired && since_try.map_or(true, |d| d >= RETRY))
                }
                Err(_) => false,
            };
            if !due {
                continue;
            }
            let result = (entry.name.as_str(), entry.port)
                .to_socket_addrs()
                .map(|it| it.collect::<Vec<_>>());
            let Ok(mut s) = entry.state.lock() else {
                continue;
            };
            s.tried_at = Some(Instant::now());
            s.refresh = false;
            match result {
                Ok(addrs) if !addrs.is_empty() => {
                    if *s.addrs != *addrs {
                        s.addrs = addrs.into();
                    }
                    s.resolved_at = Some(Instant::now());
                    s.error_logged = false;
                }
                other => {
                    if !s.error_logged {
                        let why = match other {
                            Err(e) => e.to_string(),
                            Ok(_) => "no addresses".to_string(),
                        };
                        common::log::error(format_args!(
                            "cannot resolve upstream {}: {why}",
                            entry.name
                        ));
                        s.error_logged = true;
                    }
                }
            }
        }
    }

    /// The cached addresses of host `id` (possibly empty when it never resolved).
    pub fn addrs(&self, id: usize) -> Arc<[SocketAddr]> {
        self.entries
            .get(id)
            .and_then(|e| e.state.lock().ok().map(|s| s.addrs.clone()))
            .unwrap_or_else(|| Arc::from(Vec::new()))
    }

    /// Asks for a fresh lookup of host `id` (after a connect failure).
    pub fn refresh(&self, id: usize) {
        if self.is_literal(id) {
            return;
        }
        if let Some(Ok(mut s)) = self.entries.get(id).map(|e| e.state.lock()) {
            if s.refresh {
                return;
            }
            s.refresh = true;
        }
        if let Ok(mut n) = self.wake.lock() {
            *n += 1;
        }
        self.cond.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_need_no_lookup_and_names_resolve() {
        let r = Resolver::new(
            &[
                ("127.0.0.1".into(), 81),
                ("localhost".into(), 82),
                ("::1".into(), 83),
            ],
            Duration::from_secs(5),
        );
        assert_eq!(&*r.addrs(0), &["127.0.0.1:81".parse().unwrap()]);
        assert_eq!(&*r.addrs(2), &["[::1]:83".parse().unwrap()]);
        assert!(r.addrs(1).is_empty());
        r.round(Instant::now());
        assert!(r
            .addrs(1)
            .iter()
            .all(|a| a.ip().is_loopback() && a.port() == 82));
        assert!(!r.addrs(1).is_empty());
        assert!(r.addrs(9).is_empty());
    }
}
