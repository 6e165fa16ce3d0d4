//! One worker thread's loop: its `Poll`, listeners and slab of connections; recording each
//! event with the connection its token names, then driving every connection that got one,
//! once per batch; accepting (paused at the limit or on descriptor
//! exhaustion); the periodic sweep; and the drain on shutdown. The contract it keeps is in the
//! parent module's doc.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use mio::event::Event;
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Registry, Token};

use super::{
    is_resource_exhaustion, Control, Cx, Flow, LoopConfig, Service, Side, DRAIN_SWEEP,
    LISTENER_BASE, SLOT_MASK, SWEEP, WAKER,
};
use crate::http::date::DateCache;
use crate::log::{self, AccessLog};
use crate::metrics::Metrics;

pub(super) struct Worker<S: Service> {
    poll: Poll,
    listeners: Vec<TcpListener>,
    service: S,
    config: LoopConfig,
    slots: Vec<Option<S::Conn>>,
    free: Vec<usize>,
    /// Slots closed during the current batch; reusable after it.
    freed_this_turn: Vec<usize>,
    /// Slots that got events in the current batch, each once, in order of their first event.
    touched: Vec<usize>,
    /// `marked[slot]`: the slot is in `touched`.
    marked: Vec<bool>,
    live: usize,
    accept_paused: bool,
    date: DateCache,
    parts: CxParts,
}

/// What one turn of the loop hands every connection it touches: the clock read once after
/// `poll`, the `Date` value of that second, and whether shutdown has begun.
#[derive(Clone, Copy)]
struct Turn {
    now: Instant,
    date: [u8; 29],
    draining: bool,
}

/// What every [`Cx`] of this worker lends out.
pub(super) struct CxParts {
    log: AccessLog,
    /// The last upstream-token generation handed out.
    generation: usize,
    metrics: Arc<Metrics>,
    /// This worker's index in `metrics.workers`.
    index: usize,
}

impl<S: Service> Worker<S> {
    pub(super) fn new(
        poll: Poll,
        set: Vec<std::net::TcpListener>,
        service: S,
        config: LoopConfig,
        index: usize,
    ) -> io::Result<Self> {
        let mut listeners = Vec::new();
        for (i, std_listener) in set.into_iter().enumerate() {
            std_listener.set_nonblocking(true)?;
            let mut listener = TcpListener::from_std(std_listener);
            poll.registry().register(
                &mut listener,
                Token(LISTENER_BASE + i),
                Interest::READABLE,
            )?;
            listeners.push(listener);
        }
        Ok(Worker {
            poll,
            listeners,
            service,
            parts: CxParts {
                log: AccessLog::new(config.log_format),
                generation: 0,
                metrics: config.metrics.clone(),
                index,
            },
            config,
            slots: Vec::new(),
            free: Vec::new(),
            freed_this_turn: Vec::new(),
            touched: Vec::new(),
            marked: Vec::new(),
            live: 0,
            accept_paused: false,
            date: DateCache::new(),
        })
    }

    pub(super) fn run(mut self, control: &Control) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        let mut next_sweep = Instant::now() + SWEEP;
        let mut drain_deadline: Option<Instant> = None;
        loop {
            let now = Instant::now();
            let timeout = next_sweep.saturating_duration_since(now);
            if let Err(e) = self.poll.poll(&mut events, Some(timeout)) {
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
            let now = Instant::now();
            let unix = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            let turn = Turn {
                now,
                date: *self.date.get(unix),
                draining: drain_deadline.is_some(),
            };
            let mut accept_ready = false;
            // All of a batch's readiness is recorded before any connection acts on it: one
            // that got several events (an HTTP/2 connection's upstreams answering together)
            // then works once, with everything it was told, and writes to its client once.
            for event in events.iter() {
                match event.token() {
                    WAKER => {}
                    Token(t) if t >= LISTENER_BASE => accept_ready = true,
                    Token(t) => self.record(t, event),
                }
            }
            let mut touched = std::mem::take(&mut self.touched);
            for slot in touched.drain(..) {
                self.progress(slot, &turn);
            }
            self.touched = touched;
            if control.shutdown.load(Ordering::SeqCst) && drain_deadline.is_none() {
                drain_deadline = Some(now + self.config.shutdown_grace);
                // Connections whose handshake completed wait in the listen backlog; closing the
                // listener would reset them, with any request already sent. Take them in first:
                // the drain tick below reads what they sent and answers it, or closes them.
                self.accept_all(&turn);
                for mut listener in self.listeners.drain(..) {
                    let _ = self.poll.registry().deregister(&mut listener);
                }
                next_sweep = now;
            }
            if accept_ready || (self.accept_paused && self.live < self.config.max_connections) {
                self.accept_all(&turn);
            }
            if now >= next_sweep {
                self.sweep(&Turn {
                    draining: drain_deadline.is_some(),
                    ..turn
                });
                next_sweep = now
                    + if drain_deadline.is_some() {
                        DRAIN_SWEEP
                    } else {
                        SWEEP
                    };
            }
            self.free.append(&mut self.freed_this_turn);
            self.parts.log.flush();
            if let Some(deadline) = drain_deadline {
                if self.live == 0 || now >= deadline {
                    if self.live > 0 {
                        log::error(format_args!(
                            "shutdown grace period over: dropping {} connection(s)",
                            self.live
                        ));
                    }
                    self.close_all(&turn);
                    self.parts.log.flush();
                    return Ok(());
                }
            }
        }
    }

    fn cx<'a>(
        registry: &'a Registry,
        parts: &'a mut CxParts,
        turn: &'a Turn,
        slot: usize,
    ) -> Cx<'a> {
        let metrics = parts.metrics.worker(parts.index);
        Cx {
            registry,
            now: turn.now,
            date: &turn.date,
            log: &mut parts.log,
            metrics,
            draining: turn.draining,
            slot,
            generation: &mut parts.generation,
        }
    }

    /// Hands an event to the connection its token names and marks the slot for this batch.
    fn record(&mut self, token: usize, event: &Event) {
        let slot = (token & SLOT_MASK) / 2;
        let side = if token % 2 == 0 {
            Side::Client
        } else {
            Side::Upstream
        };
        let Some(Some(conn)) = self.slots.get_mut(slot) else {
            return; // A stale event for a connection closed in an earlier batch.
        };
        self.service.record(conn, side, event);
        if self.marked.len() <= slot {
            self.marked.resize(slot + 1, false);
        }
        if !self.marked[slot] {
            self.marked[slot] = true;
            self.touched.push(slot);
        }
    }

    /// Lets a connection act on what was recorded for it in this batch.
    fn progress(&mut self, slot: usize, turn: &Turn) {
        self.marked[slot] = false;
        let Some(Some(conn)) = self.slots.get_mut(slot) else {
            return; // Closed while another connection was driven (never today; harmless).
        };
        let mut cx = Self::cx(self.poll.registry(), &mut self.parts, turn, slot);
        if self.service.progress(&mut cx, conn) == Flow::Close {
            self.close_slot(slot, turn);
        }
    }

    fn close_slot(&mut self, slot: usize, turn: &Turn) {
        if let Some(conn) = self.slots.get_mut(slot).and_then(Option::take) {
            let mut cx = Self::cx(self.poll.registry(), &mut self.parts, turn, slot);
            self.service.close(&mut cx, conn);
            self.freed_this_turn.push(slot);
            self.live -= 1;
            self.parts.metrics.worker(self.parts.index).closed();
        }
    }

    fn sweep(&mut self, turn: &Turn) {
        // A worker that is still not accepting keeps the exhaustion episode open even when no
        // new connection runs into the limit; the episode ends once no worker reports it.
        if self.accept_paused {
            log::still_exhausted();
        }
        log::exhaustion_sweep();
        log::report_drops();
        self.service.worker_tick(turn.now);
        for slot in 0..self.slots.len() {
            if let Some(conn) = self.slots[slot].as_mut() {
                let mut cx = Self::cx(self.poll.registry(), &mut self.parts, turn, slot);
                if self.service.tick(&mut cx, conn) == Flow::Close {
                    self.close_slot(slot, turn);
                }
            }
        }
    }

    fn close_all(&mut self, turn: &Turn) {
        let turn = Turn {
            draining: true,
            ..*turn
        };
        for slot in 0..self.slots.len() {
            self.close_slot(slot, &turn);
        }
    }

    /// Accepts until WouldBlock, the connection limit, or descriptor exhaustion. Both limits
    /// are logged once per episode (see [`log::exhausted`]), not once per connection refused.
    fn accept_all(&mut self, turn: &Turn) {
        self.accept_paused = false;
        for index in 0..self.listeners.len() {
            loop {
                if self.live >= self.config.max_connections {
                    // Only reached with a connection waiting (a listener event, or a paused
                    // worker with room again): new connections queue in the listen backlog.
                    log::exhausted(format_args!(
                        "accept paused: connection limit reached ({} connections in this \
                         worker; see --max-connections and the open-files limit)",
                        self.live
                    ));
                    self.accept_paused = true;
                    break;
                }
                match self.listeners[index].accept() {
                    Ok((stream, peer)) => self.admit(stream, peer, index, turn),
                    Err(e) => match e.kind() {
                        io::ErrorKind::WouldBlock => break,
                        io::ErrorKind::Interrupted | io::ErrorKind::ConnectionAborted => continue,
                        _ if is_resource_exhaustion(&e) => {
                            log::exhausted(format_args!(
                                "accept paused: {e} ({} connections open in this worker)",
                                self.live
                            ));
                            self.accept_paused = true;
                            break;
                        }
                        _ => {
                            log::error(format_args!("accept failed: {e}"));
                            break;
                        }
                    },
                }
            }
        }
    }

    fn admit(&mut self, stream: TcpStream, peer: SocketAddr, listener: usize, turn: &Turn) {
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None => {
                self.slots.push(None);
                self.slots.len() - 1
            }
        };
        // A connection is accepted as not draining, even when shutdown began this turn (the
        // listen backlog taken in at the signal): the drain sweep deals with it next.
        let turn = Turn {
            draining: false,
            ..*turn
        };
        let mut cx = Self::cx(self.poll.registry(), &mut self.parts, &turn, slot);
        match self.service.accept(&mut cx, stream, peer, listener) {
            Some(conn) => {
                self.slots[slot] = Some(conn);
                self.live += 1;
                self.parts.metrics.worker(self.parts.index).accepted();
            }
            None => self.free.push(slot),
        }
    }
}
