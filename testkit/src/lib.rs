//! The integration-test kit of both packages (a dev-dependency): the real binaries started on
//! ephemeral ports ([`process`], [`servers`]), a raw HTTP/1.1 client and message readers
//! ([`client`], [`http`]), test upstreams ([`upstream`]), temporary sites ([`site`]), and
//! polling helpers. Std only; everything blocks with timeouts, so a server that hangs fails
//! its test instead of CI.
//!
//! Binaries are found next to the test executable (`target/<profile>/<name>`), or where
//! `<NAME>_BIN` says (`PROXY_BIN=/old/proxy cargo test -p proxy` runs the proxy's tests
//! against another build, e.g. to show a regression test failing on an older one).
#![allow(dead_code)]

pub mod client;
pub mod http;
pub mod json;
pub mod pki;
pub mod process;
pub mod servers;
pub mod site;
pub mod upstream;

pub use client::Client;
pub use http::*;
pub use json::parse_flat_json;
pub use pki::self_signed;
pub use process::{bin, Lines, Running};
pub use servers::{
    exchange, get, metrics_addr, raw_until_close, run, sample, scrape, start, Proxy, Server,
};
pub use site::{checksum, pattern, Site, SECRET};
pub use upstream::{serve_echo, Upstream};

use std::time::{Duration, Instant};

/// How long any single socket read or write, or a startup, may block before the test fails.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// The same, under the name the static tests use.
pub const IO_TIMEOUT: Duration = TIMEOUT;

/// Polls `f` until it returns true or `within` passes; returns whether it did.
pub fn eventually(within: Duration, mut f: impl FnMut() -> bool) -> bool {
    wait_for_value(within, || f().then_some(())).is_some()
}

/// Polls `f` until it returns `Some`, or panics naming `what` after `timeout`.
pub fn wait_for<T>(timeout: Duration, what: &str, f: impl FnMut() -> Option<T>) -> T {
    wait_for_value(timeout, f).unwrap_or_else(|| panic!("timed out waiting for {what}"))
}

fn wait_for_value<T>(within: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
