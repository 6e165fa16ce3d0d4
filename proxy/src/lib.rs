//! The pure, I/O-free parts of the `proxy`, as a library so that the fuzz targets in `fuzz/`
//! (and anything else that wants to test them in isolation) call the very functions the binary
//! uses. Sockets, TLS, DNS and the state machines stay in the binary.
//!
//! - [`plan`]: the request plan: route, normalised path, rewritten head, or a local answer.
//! - [`response`]: the response plan: framing, reuse, keep-alive, the rewritten head.
//! - [`normalize`]: RFC 3986 path normalisation (dot segments, escapes).
//! - [`routes`]: route specifications, longest-prefix matching.
//! - [`forward`]: header rewriting in both directions (hop-by-hop, forwarding fields).
//! - [`trust`]: `--trusted-proxies` ranges.
//! - [`chunked`]: the strict streaming chunked decoder and encoder helpers.
//! - [`framing`]: request/response framing decisions and the body pump.
//! - [`pages`]: the responses the proxy writes itself (index, errors, HTTPS redirects).
//! - [`x509`]: a certificate's notAfter, for the expiry metric.
//! - [`h2`]: HTTP/2 framing, HPACK and the stream-to-HTTP/1.1 gateway.

pub mod chunked;
pub mod forward;
pub mod framing;
pub mod h2;
pub mod normalize;
pub mod pages;
pub mod plan;
pub mod response;
pub mod routes;
pub mod trust;
pub mod x509;
