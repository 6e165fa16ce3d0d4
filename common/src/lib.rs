//! The shared core of the `static` server and the `proxy`: everything both need to speak
//! HTTP/1.1 over non-blocking sockets, written once.
//!
//! - [`event_loop`]: worker threads, one mio `Poll` each, accept handling, timeouts sweep,
//!   graceful shutdown; its module doc is the loop contract every service follows.
//! - [`buffer`]: bounded byte queues for socket I/O.
//! - [`transport`]: "read/write until WouldBlock" over plain TCP (the proxy adds TLS).
//! - [`conn`]: what every connection does alike: socket endpoint with readiness, closing and
//!   lingering, header and idle timeouts, the fairness budget.
//! - [`http`]: request-head parsing with limits and RFC 9112 framing rules, response heads,
//!   canned errors, dates, statuses.
//! - [`log`]: batched access log; [`cli`]: shared flags; [`health`]: the `health` subcommand.
//! - [`metrics`]: per-worker Prometheus counters and the `--metrics-listen` endpoint.
//! - [`sys`]: the only `unsafe` (reuseport, rlimits, sendfile, openat2, signal masks).

pub mod buffer;
pub mod cli;
pub mod conn;
pub mod event_loop;
pub mod health;
pub mod http;
pub mod log;
pub mod metrics;
pub mod sys;
pub mod transport;
