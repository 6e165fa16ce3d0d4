//! TLS with rustls (ring provider): the server and client configurations, certificate loading
//! and SIGHUP reloading, and [`TlsStream`], the rustls implementation of
//! `common::transport::Transport` over a non-blocking `mio::net::TcpStream`.
//!
//! The transport follows the loop contract: it reads and writes until the socket says
//! `WouldBlock` (or, for reads, a short read on a socket that did not report a hang-up, which
//! on Linux means the receive queue was emptied), drains decrypted plaintext before touching the
//! socket again, writes the alert once on a protocol error, and sends close_notify on close.
//! It knows nothing about HTTP.

use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use common::buffer::Buffer;
use common::transport::{ReadOutcome, Transport, WriteOutcome};
use mio::net::TcpStream;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::{ClientHello, ResolvesServerCert, ServerSessionMemoryCache};
use rustls::sign::CertifiedKey;
use rustls::{
    ClientConfig, ClientConnection, Connection, RootCertStore, ServerConfig, ServerConnection,
};

/// Plaintext read per call into a connection buffer.
const READ_CHUNK: usize = 16 * 1024;

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

const VERSIONS: &[&rustls::SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];

/// Reads a PEM certificate chain and private key and checks that they belong together.
pub fn load_certified_key(cert: &Path, key: &Path) -> Result<CertifiedKey, String> {
    let open = |p: &Path| {
        File::open(p)
            .map(BufReader::new)
            .map_err(|e| format!("cannot read {}: {e}", p.display()))
    };
    let chain: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut open(cert)?)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("invalid certificate file {}: {e}", cert.display()))?;
    if chain.is_empty() {
        return Err(format!("no certificate found in {}", cert.display()));
    }
    let key_der: PrivateKeyDer<'static> = rustls_pemfile::private_key(&mut open(key)?)
        .map_err(|e| format!("invalid key file {}: {e}", key.display()))?
        .ok_or_else(|| format!("no private key found in {}", key.display()))?;
    CertifiedKey::from_der(chain, key_der, &provider()).map_err(|e| {
        format!(
            "certificate {} and key {} do not work together: {e}",
            cert.display(),
            key.display()
        )
    })
}

/// The server certificate, swappable at run time (SIGHUP) without touching open connections.
#[derive(Debug)]
pub struct CertStore {
    current: RwLock<Arc<CertifiedKey>>,
    cert_path: PathBuf,
    key_path: PathBuf,
    /// Where the served certificate's notAfter is published (the expiry metric).
    expiry: RwLock<Option<Arc<AtomicU64>>>,
}

impl CertStore {
    pub fn load(cert_path: PathBuf, key_path: PathBuf) -> Result<CertStore, String> {
        let key = load_certified_key(&cert_path, &key_path)?;
        Ok(CertStore {
            current: RwLock::new(Arc::new(key)),
            cert_path,
            key_path,
            expiry: RwLock::new(None),
        })
    }

    /// Publishes the certificate's notAfter into `gauge`, now and after every reload.
    pub fn publish_expiry(&self, gauge: Arc<AtomicU64>) {
        if let Ok(mut slot) = self.expiry.write() {
            *slot = Some(gauge);
        }
        self.update_expiry();
    }

    fn update_expiry(&self) {
        let not_after = self
            .current
            .read()
            .ok()
            .and_then(|key| key.cert.first().and_then(|c| crate::x509::not_after(c)));
        if let Ok(slot) = self.expiry.read() {
            if let Some(gauge) = slot.as_ref() {
                gauge.store(not_after.unwrap_or(0), Ordering::Relaxed);
            }
        }
    }

    /// Re-reads the files; on any error the old certificate stays and the error is logged.
    pub fn reload(&self) {
        match load_certified_key(&self.cert_path, &self.key_path) {
            Ok(key) => {
                if let Ok(mut current) = self.current.write() {
                    *current = Arc::new(key);
                }
                self.update_expiry();
                common::log::notice(format_args!(
                    "proxy: reloaded certificate {}",
                    self.cert_path.display()
                ));
            }
            Err(e) => common::log::error(format_args!(
                "certificate reload failed, keeping the old one: {e}"
            )),
        }
    }
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.current.read().ok().map(|k| k.clone())
    }
}

/// TLS 1.3 and 1.2, ALPN h2 and http/1.1, session tickets and a bounded session cache.
pub fn server_config(store: Arc<CertStore>) -> Result<Arc<ServerConfig>, String> {
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(VERSIONS)
        .map_err(|e| format!("TLS setup failed: {e}"))?
        .with_no_client_auth()
        .with_cert_resolver(store);
    // RFC 9113 section 3.2: h2 preferred; rustls picks the first of ours the client offers.
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    // Every suite offered is AEAD with forward secrecy, but the server's order (AES-256-GCM,
    // then AES-128-GCM, then ChaCha20) decides rather than each client's: scanners (testssl.sh)
    // rate a server without a cipher order as a HIGH finding.
    config.ignore_client_order = true;
    config.session_storage = ServerSessionMemoryCache::new(4096);
    config.ticketer =
        rustls::crypto::ring::Ticketer::new().map_err(|e| format!("TLS ticketer: {e}"))?;
    Ok(Arc::new(config))
}

/// Upstream verification against webpki-roots plus the certificates in `extra_ca`.
pub fn client_config(extra_ca: Option<&Path>) -> Result<Arc<ClientConfig>, String> {
    let mut roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some(path) = extra_ca {
        let file = File::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let mut added = 0;
        for cert in rustls_pemfile::certs(&mut BufReader::new(file)) {
            let cert = cert.map_err(|e| format!("invalid CA file {}: {e}", path.display()))?;
            roots
                .add(cert)
                .map_err(|e| format!("invalid CA certificate in {}: {e}", path.display()))?;
            added += 1;
        }
        if added == 0 {
            return Err(format!("no certificate found in {}", path.display()));
        }
    }
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(VERSIONS)
        .map_err(|e| format!("TLS setup failed: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Reads from the socket and remembers whether the kernel returned less than asked.
struct Tracked<'a> {
    sock: &'a mut TcpStream,
    short: bool,
}

impl Read for Tracked<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let n = self.sock.read(out)?;
        self.short = n < out.len();
        Ok(n)
    }
}

/// A rustls connection (server or client side) over a non-blocking socket.
pub struct TlsStream {
    conn: Connection,
    sock: TcpStream,
    /// The last write stopped because the socket was full (not because of the handshake).
    write_blocked: bool,
    failed: bool,
    /// The input ended with a FIN but no close_notify: a truncation, as far as TLS can tell.
    unclean_eof: bool,
}

impl TlsStream {
    pub fn server(config: &Arc<ServerConfig>, sock: TcpStream) -> io::Result<TlsStream> {
        let conn = ServerConnection::new(config.clone()).map_err(io::Error::other)?;
        Ok(Self::new(Connection::Server(conn), sock))
    }

    pub fn client(
        config: &Arc<ClientConfig>,
        host: &str,
        sock: TcpStream,
    ) -> io::Result<TlsStream> {
        let name = ServerName::try_from(host.to_string())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let conn = ClientConnection::new(config.clone(), name).map_err(io::Error::other)?;
        Ok(Self::new(Connection::Client(conn), sock))
    }

    fn new(conn: Connection, sock: TcpStream) -> TlsStream {
        TlsStream {
            conn,
            sock,
            write_blocked: false,
            failed: false,
            unclean_eof: false,
        }
    }

    /// Reads plaintext into `buf`. With `trust_short_reads`, a short socket read counts as
    /// drained (valid for edge-triggered epoll when no hang-up was reported).
    /// ALPN chose HTTP/2 (RFC 9113 section 3.2).
    pub fn negotiated_h2(&self) -> bool {
        self.conn.alpn_protocol() == Some(b"h2")
    }

    pub fn read(&mut self, buf: &mut Buffer, trust_short_reads: bool) -> io::Result<ReadOutcome> {
        if self.failed {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "TLS connection failed",
            ));
        }
        let mut socket_drained = false;
        loop {
            loop {
                if buf.is_full() {
                    return Ok(ReadOutcome::BufferFull);
                }
                let spare = buf.spare(READ_CHUNK);
                let len = spare.len();
                match self.conn.reader().read(spare) {
                    Ok(0) => {
                        buf.commit(len, 0);
                        return Ok(ReadOutcome::Eof);
                    }
                    Ok(n) => buf.commit(len, n),
                    Err(e) => {
                        buf.commit(len, 0);
                        match e.kind() {
                            io::ErrorKind::WouldBlock => break,
                            // A FIN without close_notify: the end of input, but not a clean
                            // one (see `Transport::clean_eof`); HTTP framing decides whether
                            // what was received is complete.
                            io::ErrorKind::UnexpectedEof => {
                                self.unclean_eof = true;
                                return Ok(ReadOutcome::Eof);
                            }
                            _ => return Err(e),
                        }
                    }
                }
            }
            if socket_drained {
                return Ok(ReadOutcome::WouldBlock);
            }
            let mut tracked = Tracked {
                sock: &mut self.sock,
                short: false,
            };
            match self.conn.read_tls(&mut tracked) {
                Ok(n) => {
                    socket_drained = n > 0 && tracked.short && trust_short_reads;
                    if let Err(e) = self.conn.process_new_packets() {
                        self.fail();
                        return Err(io::Error::new(io::ErrorKind::InvalidData, e));
                    }
                }
                Err(e) => match e.kind() {
                    io::ErrorKind::WouldBlock => return Ok(ReadOutcome::WouldBlock),
                    io::ErrorKind::Interrupted => {}
                    _ => return Err(e),
                },
            }
        }
    }

    /// Sends the pending alert once and refuses further use.
    fn fail(&mut self) {
        self.failed = true;
        let _ = self.conn.write_tls(&mut self.sock);
    }
}

impl Transport for TlsStream {
    fn read_into(&mut self, buf: &mut Buffer, short_read_drains: bool) -> io::Result<ReadOutcome> {
        self.read(buf, short_read_drains)
    }

    fn write_from(&mut self, buf: &mut Buffer) -> io::Result<WriteOutcome> {
        self.write_blocked = false;
        if self.failed {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "TLS connection failed",
            ));
        }
        loop {
            if !buf.is_empty() {
                let n = self.conn.writer().write(buf.filled())?;
                buf.consume(n);
            }
            if self.conn.wants_write() {
                match self.conn.write_tls(&mut self.sock) {
                    Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                    Ok(_) => continue,
                    Err(e) => match e.kind() {
                        io::ErrorKind::WouldBlock => {
                            self.write_blocked = true;
                            return Ok(WriteOutcome::WouldBlock);
                        }
                        io::ErrorKind::Interrupted => continue,
                        _ => return Err(e),
                    },
                }
            }
            return Ok(if buf.is_empty() {
                WriteOutcome::Flushed
            } else {
                // rustls holds as much plaintext as it may before the handshake completes.
                WriteOutcome::WouldBlock
            });
        }
    }

    fn has_pending_output(&self) -> bool {
        self.conn.wants_write()
    }

    fn write_blocked(&self) -> bool {
        self.write_blocked
    }

    fn clean_eof(&self) -> bool {
        !self.unclean_eof
    }

    fn is_handshaking(&self) -> bool {
        self.conn.is_handshaking()
    }

    fn has_buffered_input(&self) -> bool {
        // Plaintext is always drained into the caller's buffer unless it was full.
        false
    }

    fn close_write(&mut self) {
        if !self.failed {
            self.conn.send_close_notify();
        }
        while self.conn.wants_write() {
            match self.conn.write_tls(&mut self.sock) {
                Ok(n) if n > 0 => {}
                _ => break,
            }
        }
        let _ = self.sock.shutdown(std::net::Shutdown::Write);
    }

    fn socket(&mut self) -> &mut TcpStream {
        &mut self.sock
    }
}
