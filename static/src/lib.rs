//! The pure, I/O-free parts of the `static` server, as a library so that the fuzz targets in
//! `fuzz/` (and anything else that wants to test them in isolation) can call them directly.
//! The binary (`main.rs`) uses them from here; everything that touches sockets or files stays
//! in the binary.
//!
//! - [`resolve`]: request-target -> safe relative path (percent-decoding, dot segments, base
//!   path, dotfiles); the security core.
//! - [`conditional`]: ETags, conditional requests, byte ranges, `Accept-Encoding`.
//! - [`mime`]: file extension -> `Content-Type`.
//! - [`compress`]: what is worth compressing, the coding a request gets, the gzip encoder.
//! - [`headers`]: `--header` rules (glob on the path, name, value), parsed and matched.
//! - [`listing`]: directory listings as HTML or JSON, escaped.

pub mod compress;
pub mod conditional;
pub mod headers;
pub mod listing;
pub mod mime;
pub mod resolve;
