//! The pure, I/O-free parts of the `proxy`, as a library so that the fuzz targets in `fuzz/`
//! (and anything else that wants to test them in isolation) can call them directly. The binary
//! (`main.rs`) uses them from here; sockets, TLS, DNS and the state machines stay in the binary.
//!
//! - [`routes`]: route specifications, longest-prefix matching, upstream request-targets.
//! - [`chunked`]: the strict streaming chunked decoder and encoder helpers.
//! - [`framing`]: request/response framing decisions and the body pump.
//! - [`forward`]: header rewriting in both directions (hop-by-hop removal, `X-Forwarded-*`).
//! - [`pages`]: the responses the proxy writes itself (index, errors, HTTPS redirects).

pub mod chunked;
pub mod forward;
pub mod framing;
pub mod pages;
pub mod routes;
