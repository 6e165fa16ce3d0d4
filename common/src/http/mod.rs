//! HTTP/1.1 message handling without I/O: parsing request heads, writing response heads,
//! header helpers, dates, status codes and HTML escaping for the servers' own pages.

pub mod date;
pub mod headers;
pub mod html;
pub mod request;
pub mod response;
pub mod status;
