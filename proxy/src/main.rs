//! `proxy`: a path-prefix reverse proxy for HTTP/1.1, with HTTPS and HTTP/2. This file only wires things
//! together: signals, arguments, startup checks (exit 2 with a clear message), listeners, the
//! resolver thread, and the worker loops. It holds no protocol logic.

mod access;
mod client;
mod config;
mod connector;
mod exchange;
mod mux;
mod resolver;
mod service;
mod stats;
mod stream;
mod tls;
mod tunnel;
mod upstream;
mod upstream_conn;

// The pure modules live in the library (`src/lib.rs`) so the fuzz targets can reach them;
// importing them here keeps `crate::routes` etc. working for the binary's own modules.
use proxy::{forward, framing, pages, plan, response, routes, trust, x509};

use std::sync::Arc;
use std::time::Duration;

use config::Command;
use service::{Proxy, Shared};

const NAME: &str = "proxy";

fn main() {
    if let Err(e) = common::sys::block_signals(&[libc::SIGTERM, libc::SIGINT, libc::SIGHUP]) {
        common::cli::fail(NAME, format!("cannot set up signal handling: {e}"));
    }
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    let config = match config::parse(args) {
        Ok(Command::Serve(config)) => *config,
        Ok(Command::Help) => {
            print!("{}", config::help());
            return;
        }
        Ok(Command::Version) => {
            println!("{NAME} {}", env!("CARGO_PKG_VERSION"));
            return;
        }
        Ok(Command::Health(url, listen, path)) => {
            let url = url.unwrap_or_else(|| config::default_health_url(listen, &path));
            std::process::exit(common::health::run(NAME, &url));
        }
        Err(e) => common::cli::fail(NAME, e),
    };
    if let Err(e) = serve(config) {
        common::cli::fail(NAME, e);
    }
}

fn serve(config: config::Config) -> Result<(), String> {
    let cert_store = match (&config.cert, &config.key) {
        (Some(cert), Some(key)) => Some(Arc::new(tls::CertStore::load(cert.clone(), key.clone())?)),
        _ => None,
    };
    let server_tls = match &cert_store {
        Some(store) => Some(tls::server_config(store.clone())?),
        None => None,
    };
    let client_tls = tls::client_config(config.upstream_ca.as_deref())?;
    let mut addrs = vec![config.listen];
    addrs.extend(config.tls_listen);
    let workers = config.server.workers;
    let listeners = common::event_loop::bind_listeners(&addrs, workers)
        .map_err(|e| format!("cannot listen on {}: {e}", describe(&addrs)))?;
    let bound: Vec<std::net::SocketAddr> = listeners
        .first()
        .map(|set| set.iter().filter_map(|l| l.local_addr().ok()).collect())
        .unwrap_or_default();
    let tls_port = bound.get(1).map_or(443, |a| a.port());
    if config.routes.routes.is_empty() {
        common::log::notice(format_args!(
            "{NAME}: warning: no routes configured (--route or PROXY_ROUTES)"
        ));
    }
    let resolver = resolver::Resolver::new(&config.routes.hosts, config.dns_ttl);
    resolver
        .start(Duration::from_secs(2))
        .map_err(|e| format!("cannot start the resolver thread: {e}"))?;
    let stats = Arc::new(stats::ProxyStats::new(&config.routes, workers));
    if let Some(store) = &cert_store {
        store.publish_expiry(stats.cert_not_after.clone());
    }
    let render = stats.clone();
    let metrics = Arc::new(
        common::metrics::Metrics::new("proxy", workers)
            .with_extra(Box::new(move |out| render.render(out))),
    );
    if let Some(addr) = config.server.metrics_listen {
        let bound = common::metrics::listen(addr, metrics.clone())
            .map_err(|e| format!("cannot listen on {addr} for metrics: {e}"))?;
        common::log::notice(format_args!("{NAME}: metrics on http://{bound}/metrics"));
    }
    let loop_config = config.server.loop_config(2, metrics);
    let shared = Arc::new(Shared {
        index_page: pages::index_page(&config.routes),
        config,
        server_tls,
        client_tls,
        resolver,
        tls_port,
    });
    for (i, addr) in bound.iter().enumerate() {
        let scheme = if i == 0 { "http" } else { "https" };
        common::log::notice(format_args!("{NAME}: listening on {scheme}://{addr}"));
    }
    let reload: Option<common::event_loop::ReloadHook> = cert_store.map(|store| {
        let hook: common::event_loop::ReloadHook = Box::new(move || store.reload());
        hook
    });
    common::event_loop::run(
        listeners,
        loop_config,
        |worker| Ok(Proxy::new(shared.clone(), stats.clone(), worker)),
        reload,
    )
    .map_err(|e| format!("worker failed: {e}"))?;
    Ok(())
}

fn describe(addrs: &[std::net::SocketAddr]) -> String {
    addrs
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" and ")
}
