//! The pure parts of HTTP/2: framing ([`frame`]), HPACK ([`hpack`], [`huffman`]) and the
//! mapping between a stream's header list and the HTTP/1.1 messages the proxy forwards
//! ([`gateway`]). The connection state machine that uses them is the binary's `mux`.

pub mod frame;
pub mod gateway;
pub mod hpack;
pub mod huffman;
