//! HTTP/1.1 message handling without I/O: parsing request heads, writing response heads,
//! header helpers, dates and status codes.

pub mod date;
pub mod headers;
pub mod request;
pub mod response;
pub mod status;
