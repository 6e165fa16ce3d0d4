//! The worker event loop: one mio `Poll` per thread, its own SO_REUSEPORT listeners, a slab of
//! connections, a periodic sweep for timeouts, and graceful shutdown.
//!
//! # The loop contract (what a [`Service`] may rely on and must uphold)
//! - Sockets are registered once for READABLE | WRITABLE, edge-triggered, and never re-registered
//!   for interest changes: the kernel reports *changes* of readiness. A connection records the
//!   readiness it was told about and keeps it until an operation returns `WouldBlock`; that is
//!   its "event" half. Its "interest" half is its own state: it reads only while it has room and
//!   writes only while it has bytes queued. Backpressure is simply not reading.
//! - Events are handed over in two passes per `epoll_wait` batch: [`Service::record`] for every
//!   event (readiness only, no I/O), then [`Service::progress`] once for every connection that
//!   got any. A connection thus acts on everything the batch said about all of its sockets at
//!   once (several upstreams of an HTTP/2 connection answering together cost one client write).
//! - Because no new event comes for a socket that was not drained, a service that stops early
//!   (buffer full) must resume by itself once it has room, and bytes already in user space
//!   (a pipelined request in the read buffer, TLS plaintext) must be processed before returning.
//! - Fairness: a service should bound the work one event buys (a client that keeps both
//!   directions busy can otherwise hold the worker indefinitely). To yield before reaching
//!   `WouldBlock`, re-arm the socket with `reregister` and the *same* token and interest: that
//!   is not an interest change, and the kernel queues an event if the socket is still ready.
//! - Tokens: slot `i` owns token `2i` (client side) and tokens `2i + 1 + (generation << 40)`
//!   (upstream side). A slot freed during a batch of events is reused only after the batch, so a
//!   stale event can never reach a new connection. An upstream socket can be replaced inside one
//!   batch (a round-robin switch, a reconnect), so each upstream registration gets a fresh
//!   generation through [`Cx::register_upstream`], and a connection ignores an event whose
//!   token is not the one its current upstream socket was registered with.
//! - Accepting pauses at the connection limit and on EMFILE/ENFILE (either logged once per
//!   episode through `log::exhausted`, however many connections meet it) and
//!   resumes when a connection closes or on the next sweep.
//! - [`Service::tick`] runs for every connection once per sweep (every second; more often while
//!   draining): that is where header, idle and upstream timeouts are enforced. A one-second
//!   sweep rather than a timer wheel: every timeout here is seconds long, and one pass over the
//!   slots per second costs less than keeping a wheel in step with every read and write.
//!   [`Service::worker_tick`] runs once per sweep for the worker itself.
//! - SIGTERM/SIGINT: the listen backlog is accepted, listeners are closed, `Cx::draining`
//!   becomes true and every connection is ticked at once; services finish in-flight exchanges
//!   and close idle connections, after reading once more from them (a request that arrived
//!   unnoticed before the signal is answered, not dropped). The worker returns when no
//!   connection is left or the grace period is over. SIGHUP runs the reload hook.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::event::Event;
use mio::net::TcpStream;
use mio::{Interest, Poll, Registry, Token, Waker};

use crate::log::{self, AccessLog, LogFormat};
use crate::metrics::{Metrics, WorkerMetrics};

/// Which of a connection's sockets an event or token is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Client,
    Upstream,
}

/// What a service wants done with a connection after handling it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Close,
}

/// What a service sees of the loop while handling one connection.
pub struct Cx<'a> {
    pub registry: &'a Registry,
    /// Taken once per loop turn.
    pub now: Instant,
    /// The current `Date` header value.
    pub date: &'a [u8; 29],
    pub log: &'a mut AccessLog,
    /// This worker's counters (see [`crate::metrics`]).
    pub metrics: &'a WorkerMetrics,
    /// Shutdown has begun: finish what is in flight, start nothing new, keep nothing alive.
    pub draining: bool,
    slot: usize,
    generation: &'a mut usize,
}

/// Bits of a token below the upstream generation: side (bit 0) and slot.
const SLOT_BITS: u32 = 40;
const SLOT_MASK: usize = (1 << SLOT_BITS) - 1;
/// Generations wrap below bit 63, so no connection token reaches the listener tokens.
const GENERATION_MASK: usize = (1 << 23) - 1;

/// Both directions, edge-triggered: the only interest any socket is registered with.
const BOTH: Interest = Interest::READABLE.add(Interest::WRITABLE);

impl Cx<'_> {
    /// Registers this connection's client socket (readable and writable) and returns its token.
    pub fn register_client(&self, socket: &mut TcpStream) -> io::Result<Token> {
        let token = Token(self.slot * 2);
        self.registry.register(socket, token, BOTH)?;
        Ok(token)
    }

    /// Registers a new upstream socket of this connection under a token that no earlier
    /// upstream socket of the slot had (see the module doc) and returns it.
    pub fn register_upstream(&mut self, socket: &mut TcpStream) -> io::Result<Token> {
        *self.generation = (*self.generation + 1) & GENERATION_MASK;
        let token = Token((*self.generation << SLOT_BITS) | (self.slot * 2 + 1));
        self.registry.register(socket, token, BOTH)?;
        Ok(token)
    }

    /// Re-arms a socket that is still ready but was left to yield to other connections: the
    /// same token and interest, so not an interest change; the kernel queues an event if the
    /// socket is ready, which brings the connection back on a later turn of the loop.
    pub fn rearm(&self, socket: &mut TcpStream, token: Token) -> io::Result<()> {
        self.registry.reregister(socket, token, BOTH)
    }

    /// Removes a socket from the poller before it is dropped or pooled.
    pub fn deregister(&self, socket: &mut TcpStream) {
        // Fails only for a socket that was never registered; nothing to undo then.
        let _ = self.registry.deregister(socket);
    }
}

/// The protocol logic a worker runs: static file serving or proxying.
pub trait Service {
    type Conn;

    /// A client connection was accepted on listener number `listener`. Register `stream` with
    /// [`Cx::register_client`], or return `None` to drop it.
    fn accept(
        &mut self,
        cx: &mut Cx,
        stream: TcpStream,
        peer: SocketAddr,
        listener: usize,
    ) -> Option<Self::Conn>;

    /// The kernel reported readiness on one side of `conn`: remember it, and do nothing else
    /// (no I/O). For the upstream side, compare `event.token()` with the token of the current
    /// upstream socket: it may be stale.
    fn record(&mut self, conn: &mut Self::Conn, side: Side, event: &Event);

    /// Act on the readiness recorded for `conn`. Called once per batch of events for every
    /// connection that got at least one, after all of the batch was recorded.
    fn progress(&mut self, cx: &mut Cx, conn: &mut Self::Conn) -> Flow;

    /// Periodic check: timeouts, and closing idle connections while draining.
    fn tick(&mut self, cx: &mut Cx, conn: &mut Self::Conn) -> Flow;

    /// Periodic work of the worker itself, once per sweep before the connections are ticked,
    /// whether or not any connection is open (expiring pooled upstream connections, say).
    fn worker_tick(&mut self, now: Instant) {
        let _ = now;
    }

    /// The connection is done: deregister its sockets (dropping them closes them).
    fn close(&mut self, cx: &mut Cx, conn: Self::Conn);
}

/// Settings of every worker loop.
#[derive(Clone, Debug)]
pub struct LoopConfig {
    /// Connections per worker before accepting pauses.
    pub max_connections: usize,
    /// How long in-flight exchanges may take to finish after SIGTERM.
    pub shutdown_grace: Duration,
    pub log_format: LogFormat,
    /// The counters, one set per worker (index = worker number).
    pub metrics: Arc<Metrics>,
}

/// State shared between the signal thread and the workers.
struct Control {
    shutdown: AtomicBool,
    wakers: Vec<Waker>,
}

/// Run on SIGHUP, on the signal thread.
pub type ReloadHook = Box<dyn Fn() + Send + Sync>;

const WAKER: Token = Token(usize::MAX);
const LISTENER_BASE: usize = usize::MAX - 64;
const SWEEP: Duration = Duration::from_secs(1);
const DRAIN_SWEEP: Duration = Duration::from_millis(50);

/// Binds `workers` SO_REUSEPORT listeners on each address, before any worker starts, so that
/// "address in use" and permission errors surface at startup. Returns one set per worker.
pub fn bind_listeners(
    addrs: &[SocketAddr],
    workers: usize,
) -> io::Result<Vec<Vec<std::net::TcpListener>>> {
    let mut per_worker: Vec<Vec<std::net::TcpListener>> =
        (0..workers).map(|_| Vec::new()).collect();
    for &addr in addrs {
        // Port 0 picks a free port; every worker must share the one the first listener got.
        let first = crate::sys::reuseport_listener(addr, 4096)?;
        let actual = first.local_addr()?;
        for (i, set) in per_worker.iter_mut().enumerate() {
            let listener = if i == 0 {
                first.try_clone()?
            } else {
                crate::sys::reuseport_listener(actual, 4096)?
            };
            set.push(listener);
        }
    }
    Ok(per_worker)
}

/// Runs one worker per listener set until shutdown. `make_service(worker_index)` builds each
/// worker's service on its own thread. Signals must already be blocked (see [`crate::sys::block_signals`]).
pub fn run<S, F>(
    listeners: Vec<Vec<std::net::TcpListener>>,
    config: LoopConfig,
    make_service: F,
    reload: Option<ReloadHook>,
) -> io::Result<()>
where
    S: Service,
    F: Fn(usize) -> io::Result<S> + Sync,
{
    let mut polls = Vec::new();
    let mut wakers = Vec::new();
    for _ in &listeners {
        let poll = Poll::new()?;
        wakers.push(Waker::new(poll.registry(), WAKER)?);
        polls.push(poll);
    }
    let control = Arc::new(Control {
        shutdown: AtomicBool::new(false),
        wakers,
    });
    spawn_signal_thread(control.clone(), reload)?;
    let results: Vec<io::Result<()>> = std::thread::scope(|scope| {
        let handles: Vec<_> = polls
            .into_iter()
            .zip(listeners)
            .enumerate()
            .map(|(index, (poll, set))| {
                let control = &control;
                let config = &config;
                let make_service = &make_service;
                std::thread::Builder::new()
                    .name(format!("worker-{index}"))
                    .spawn_scoped(scope, move || {
                        let service = make_service(index)?;
                        Worker::new(poll, set, service, config.clone(), index)?.run(control)
                    })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| match h {
                Ok(handle) => handle
                    .join()
                    .unwrap_or_else(|_| Err(io::Error::other("worker panicked"))),
                Err(e) => Err(e),
            })
            .collect()
    });
    // The last access-log lines of the drain are still queued for the writer thread.
    log::flush_pending(Duration::from_secs(2));
    results.into_iter().collect()
}

/// Waits for SIGTERM/SIGINT (shutdown) and SIGHUP (reload) on a thread of its own, so that no
/// work happens in a signal handler.
fn spawn_signal_thread(control: Arc<Control>, reload: Option<ReloadHook>) -> io::Result<()> {
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || loop {
            let signals = [libc::SIGTERM, libc::SIGINT, libc::SIGHUP];
            match crate::sys::wait_for_signal(&signals) {
                Ok(libc::SIGHUP) => {
                    if let Some(hook) = &reload {
                        hook();
                    }
                }
                Ok(_) => {
                    control.shutdown.store(true, Ordering::SeqCst);
                    for waker in &control.wakers {
                        let _ = waker.wake();
                    }
                }
                Err(e) => {
                    log::error(format_args!("waiting for signals failed: {e}"));
                    return;
                }
            }
        })
        .map(drop)
}

mod worker;
use worker::Worker;

/// Whether `e` means the process (or the system) ran out of descriptors or memory: a condition
/// to report once per episode with [`log::exhausted`], not per request.
pub fn is_resource_exhaustion(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE) | Some(libc::ENFILE) | Some(libc::ENOBUFS) | Some(libc::ENOMEM)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every upstream registration of a slot gets a token no earlier one had, and every token
    /// still decodes to its slot and side (finding 5 of the proxy-core review).
    #[test]
    fn upstream_tokens_are_fresh_per_registration() {
        let poll = Poll::new().unwrap();
        let mut log = AccessLog::new(LogFormat::Off);
        let mut generation = 0;
        let metrics = crate::metrics::WorkerMetrics::default();
        let date = [b' '; 29];
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let mut seen = std::collections::HashSet::new();
        for slot in [0usize, 7, 123_456] {
            for _ in 0..3 {
                let mut cx = Cx {
                    registry: poll.registry(),
                    now: Instant::now(),
                    date: &date,
                    log: &mut log,
                    metrics: &metrics,
                    draining: false,
                    slot,
                    generation: &mut generation,
                };
                let mut socket = TcpStream::connect(addr).unwrap();
                let token = cx.register_upstream(&mut socket).unwrap();
                assert!(seen.insert(token), "token {token:?} handed out twice");
                assert_eq!((token.0 & SLOT_MASK) / 2, slot);
                assert_eq!(token.0 % 2, 1, "upstream side");
                assert!(token.0 < LISTENER_BASE);
                let client = cx
                    .register_client(&mut TcpStream::connect(addr).unwrap())
                    .unwrap();
                assert_eq!(client, Token(slot * 2));
            }
        }
    }
}
