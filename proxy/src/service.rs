//! The proxy as a `common::event_loop::Service`: what every worker shares (configuration, TLS
//! configs, resolver, route index page), what each worker owns (upstream pool, scratch space),
//! and the four loop callbacks, which only dispatch to the session (`session.rs`).
//!
//! Must not hold protocol logic itself; must not block.

use std::net::SocketAddr;
use std::sync::Arc;

use common::event_loop::{Cx, Flow, Service, Side};
use mio::event::Event;
use mio::net::TcpStream;
use mio::Interest;
use rustls::{ClientConfig, ServerConfig};

use crate::config::Config;
use crate::resolver::Resolver;
use crate::session::Conn;
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
    /// Reused for building request-targets and redirect locations.
    pub scratch: Vec<u8>,
}

impl Proxy {
    pub fn new(shared: Arc<Shared>) -> Proxy {
        let ups = Upstreams::new(&shared.config.routes);
        Proxy {
            shared,
            ups,
            scratch: Vec::with_capacity(256),
        }
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
        let mut client = Stream::new(io);
        cx.registry
            .register(
                client.socket(),
                cx.token(Side::Client),
                Interest::READABLE | Interest::WRITABLE,
            )
            .ok()?;
        Some(Conn::new(client, peer, https, cx.now))
    }

    fn ready(&mut self, cx: &mut Cx, conn: &mut Conn, side: Side, event: &Event) -> Flow {
        conn.on_event(side, event);
        conn.drive(self, cx)
    }

    fn tick(&mut self, cx: &mut Cx, conn: &mut Conn) -> Flow {
        self.ups.sweep(cx.now);
        conn.tick(self, cx)
    }

    fn close(&mut self, cx: &mut Cx, conn: Conn) {
        conn.close(self, cx);
    }
}
