//! The proxy as a `common::event_loop::Service`: what every worker shares (configuration, TLS
//! configs, resolver, route index page), what each worker owns (the upstream pool), and the
//! loop callbacks, which only dispatch to the client connection (`client.rs`).
//!
//! Must not hold protocol logic itself; must not block.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use common::event_loop::{Cx, Flow, Service, Side};
use std::time::Instant;

use mio::event::Event;
use mio::net::TcpStream;
use rustls::{ClientConfig, ServerConfig};

use crate::client::Conn;
use crate::config::Config;
use crate::plan::{self, Scratch};
use crate::resolver::Resolver;
use crate::stats::ProxyStats;
use crate::stream::{Io, Stream};
use crate::tls::TlsStream;
use crate::upstream::Upstreams;

/// Read-only state of the whole process.
pub struct Shared {
    pub config: Config,
    pub index_page: Vec<u8>,
    pub server_tls: Option<Arc<ServerConfig>>,
    pub client_tls: Arc<ClientConfig>,
    pub resolver: Arc<Resolver>,
    /// Port of the HTTPS listener, for redirects.
    pub tls_port: u16,
}

impl Shared {
    /// What a request's plan depends on besides its head.
    pub fn plan_context(&self, https: bool, peer: IpAddr, trusted: bool) -> plan::Context<'_> {
        plan::Context {
            routes: &self.config.routes,
            health_path: self.config.health_path.as_bytes(),
            https,
            redirect_https: (self.server_tls.is_some() && !https).then_some(self.tls_port),
            max_body: self.config.max_body,
            peer,
            trusted,
        }
    }

    /// The HSTS value for a response on an HTTPS (`https`) connection.
    pub fn hsts(&self, https: bool) -> Option<&[u8]> {
        if https {
            self.config.hsts.as_deref().map(str::as_bytes)
        } else {
            None
        }
    }
}

/// One worker's proxy service.
pub struct Proxy {
    pub shared: Arc<Shared>,
    pub ups: Upstreams,
    /// Working space of request planning.
    pub scratch: Scratch,
    pub stats: Arc<ProxyStats>,
    /// This worker's index (its counters in `stats`).
    pub worker: usize,
}

impl Proxy {
    pub fn new(shared: Arc<Shared>, stats: Arc<ProxyStats>, worker: usize) -> Proxy {
        let ups = Upstreams::new(&shared.config.routes);
        Proxy {
            shared,
            ups,
            scratch: Scratch::default(),
            stats,
            worker,
        }
    }

    /// A connection attempt to upstream `id` failed: skip it for a while, look its name up
    /// again, count it.
    pub fn upstream_failed(&mut self, id: usize, now: Instant) {
        let shared = &*self.shared;
        self.ups
            .failed(id, &shared.config.routes, &shared.resolver, now);
        self.stats.connect_result(self.worker, id, false);
    }

    /// A connection to upstream `id` was established.
    pub fn upstream_connected(&mut self, id: usize) {
        self.ups.succeeded(id);
        self.stats.connect_result(self.worker, id, true);
    }

    /// How upstream `id` is named in logs.
    pub fn upstream_name(&self, id: usize) -> &str {
        self.shared
            .config
            .routes
            .upstreams
            .get(id)
            .map_or("?", |u| u.display.as_str())
    }
}

impl Service for Proxy {
    type Conn = Conn;

    fn accept(
        &mut self,
        cx: &mut Cx,
        stream: TcpStream,
        peer: SocketAddr,
        listener: usize,
    ) -> Option<Conn> {
        let _ = stream.set_nodelay(true);
        let https = listener == 1;
        let io = if https {
            let config = self.shared.server_tls.as_ref()?;
            Io::Tls(Box::new(TlsStream::server(config, stream).ok()?))
        } else {
            Io::Plain(stream)
        };
        let mut io = io;
        let token = cx
            .register_client(common::transport::Transport::socket(&mut io))
            .ok()?;
        let trusted = self.shared.config.trusted_proxies.contains(peer.ip());
        Some(Conn::new(
            Stream::new(io, token, cx.now),
            peer,
            https,
            trusted,
            cx.now,
        ))
    }

    fn record(&mut self, conn: &mut Conn, side: Side, event: &Event) {
        conn.on_event(side, event);
    }

    fn progress(&mut self, cx: &mut Cx, conn: &mut Conn) -> Flow {
        conn.drive(self, cx)
    }

    fn tick(&mut self, cx: &mut Cx, conn: &mut Conn) -> Flow {
        conn.tick(self, cx)
    }

    fn worker_tick(&mut self, now: Instant) {
        self.ups.sweep(now);
    }

    fn close(&mut self, cx: &mut Cx, conn: Conn) {
        conn.close(self, cx);
    }
}
