//! `static`: serves a directory over HTTP/1.1. Wires the configuration to the shared event
//! loop; the request pipeline lives in `session` (connection) → `respond` (per request) →
//! `resolve` (path safety) → `files` (lookup and cache) → `conditional` (validators, ranges).

mod config;
mod files;
mod respond;
mod session;

// The pure modules live in the library (`src/lib.rs`) so the fuzz targets can reach them;
// importing them here keeps `crate::resolve` etc. working for the binary's own modules.
use static_server::{compress, conditional, headers, listing, mime, resolve};

use std::rc::Rc;
use std::sync::Arc;

use common::cli;
use common::event_loop::{self, LoopConfig};
use common::http::request::Limits;
use common::metrics::Metrics;

use config::{Command, Config};

const NAME: &str = "static";

fn main() {
    // Before any thread exists, so that only the signal thread receives these.
    if let Err(e) = common::sys::block_signals(&[libc::SIGTERM, libc::SIGINT, libc::SIGHUP]) {
        cli::fail(NAME, format!("cannot set up signal handling: {e}"));
    }
    let command = config::parse(std::env::args_os().skip(1)).unwrap_or_else(|e| cli::fail(NAME, e));
    match command {
        Command::Help => print!("{}", config::help()),
        Command::Version => println!("{NAME} {}", env!("CARGO_PKG_VERSION")),
        Command::Health(url) => std::process::exit(common::health::run(NAME, &url)),
        Command::Serve(config) => serve(*config),
    }
}

fn serve(config: Config) {
    let metrics = Arc::new(Metrics::new("static", config.server.workers));
    let loop_config: LoopConfig = config.server.loop_config(1, metrics.clone());
    let listeners = event_loop::bind_listeners(&[config.listen], config.server.workers)
        .unwrap_or_else(|e| cli::fail(NAME, format!("cannot listen on {}: {e}", config.listen)));
    if let Some(addr) = listeners
        .first()
        .and_then(|set| set.first())
        .and_then(|l| l.local_addr().ok())
    {
        common::log::notice(format_args!(
            "{NAME} {}: serving {} on http://{addr} ({} workers)",
            env!("CARGO_PKG_VERSION"),
            config.root.display(),
            config.server.workers
        ));
    }
    if let Some(addr) = config.server.metrics_listen {
        let bound = common::metrics::listen(addr, metrics).unwrap_or_else(|e| {
            cli::fail(NAME, format!("cannot listen on {addr} for metrics: {e}"))
        });
        common::log::notice(format_args!("{NAME}: metrics on http://{bound}/metrics"));
    }
    let make_service = |_worker: usize| {
        let files = files::Files::new(
            &config.root,
            files::Policy {
                cache_control: config.cache_control.clone(),
                max_entry: config.cache_entry_max,
                max_total: config.cache_max,
                compress: config.compress,
                headers: config.headers.clone(),
                list_dirs: config.list_dirs,
            },
        )?;
        let settings = Rc::new(session::Settings {
            site: respond::Site {
                resolve: resolve::Options {
                    base_path: config.base_path.clone(),
                    show_dotfiles: config.show_dotfiles,
                },
                fallback: config.fallback.clone(),
            },
            limits: Limits::default(),
            header_timeout: config.server.header_timeout,
            idle_timeout: config.server.idle_timeout,
        });
        Ok(session::StaticService::new(files, settings))
    };
    if let Err(e) = event_loop::run(listeners, loop_config, make_service, None) {
        common::log::error(format_args!("{e}"));
        std::process::exit(1);
    }
}
