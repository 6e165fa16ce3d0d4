//! From a parsed request head to a queued response: method check, path resolution, file lookup,
//! conditional and range evaluation, and the response head and (in-memory) body.
//!
//! The only I/O here is the file lookup (stat/open through [`Files`]); sockets belong to the
//! session, which sends a large file's body with sendfile from the [`FileBody`] returned here.

use std::fs::File;
use std::rc::Rc;

use common::buffer::Buffer;
use common::http::request::{RequestHead, Version};
use common::http::response::{self, Canned, Head};
use common::http::status::Status;

use crate::conditional::{self, Conditions, Outcome};
use crate::files::{Accepts, Files, Found, Lookup, Meta};
use crate::resolve::{self, Reject, Resolved};

/// The server name in `Server` headers.
pub const SERVER: &str = "static";

/// A byte range of an open file still to be sent with sendfile.
pub struct FileBody {
    pub file: File,
    pub offset: u64,
    pub end: u64,
}

/// What was queued, for the access log and the session.
pub struct Sent {
    pub status: Status,
    pub body_bytes: u64,
    pub file: Option<FileBody>,
}

/// Writes the response to `head` into `out`.
pub fn respond(
    files: &mut Files,
    opts: &resolve::Options,
    head: &RequestHead,
    date: &[u8],
    keep_alive: bool,
    out: &mut Buffer,
) -> Sent {
    let canned = Canned {
        date,
        server: SERVER,
        keep_alive,
        version: head.version,
        head_only: head.is_head(),
    };
    if head.method != "GET" && head.method != "HEAD" {
        return error(
            out,
            Status::METHOD_NOT_ALLOWED,
            &canned,
            &[("Allow", b"GET, HEAD")],
        );
    }
    let (relative, trailing_slash) = match resolve::resolve(head.target, opts) {
        Ok(Resolved::Path {
            relative,
            trailing_slash,
        }) => (relative, trailing_slash),
        Err(Reject::BadRequest) => return error(out, Status::BAD_REQUEST, &canned, &[]),
        Err(Reject::NotFound) => return not_found(files, out, &canned),
    };
    let accepts = head
        .header("accept-encoding")
        .map_or(Accepts::default(), |v| Accepts {
            br: conditional::accepts_encoding(v, "br"),
            gzip: conditional::accepts_encoding(v, "gzip"),
        });
    match files.lookup(&relative, trailing_slash, accepts) {
        Ok(Lookup::Found(found)) => send_file(head, found, &canned, out),
        Ok(Lookup::RedirectToDirectory) => {
            let location = directory_location(&opts.base_path, &relative, head.target);
            let n =
                response::redirect(out, Status::MOVED_PERMANENTLY, location.as_bytes(), &canned);
            sent(Status::MOVED_PERMANENTLY, n)
        }
        Ok(Lookup::NotFound) => not_found(files, out, &canned),
        Ok(Lookup::Forbidden) => error(out, Status::FORBIDDEN, &canned, &[]),
        Err(e) if common::event_loop::is_resource_exhaustion(&e) => {
            // Out of descriptors (every connection sending a large file holds one more): a
            // temporary condition of this server, logged once per episode, not per request.
            common::log::exhausted(format_args!("cannot open files: {e}"));
            error(
                out,
                Status::SERVICE_UNAVAILABLE,
                &canned,
                &[("Retry-After", b"1")],
            )
        }
        Err(e) => {
            common::log::error(format_args!("reading '{relative}': {e}"));
            error(out, Status::INTERNAL_SERVER_ERROR, &canned, &[])
        }
    }
}

/// Writes a canned error response.
pub fn error(out: &mut Buffer, status: Status, canned: &Canned, extra: &[(&str, &[u8])]) -> Sent {
    let n = response::error(out, status, canned, extra);
    sent(status, n)
}

fn sent(status: Status, body_bytes: u64) -> Sent {
    Sent {
        status,
        body_bytes,
        file: None,
    }
}

/// 404 with the site's own `404.html` when it has one.
fn not_found(files: &mut Files, out: &mut Buffer, canned: &Canned) -> Sent {
    let Some(page) = files.not_found_page() else {
        return error(out, Status::NOT_FOUND, canned, &[]);
    };
    let body = page.bytes.as_deref().unwrap_or_default();
    let mut h = Head::start(out, Status::NOT_FOUND, canned.date, SERVER);
    h.lines(&page.entity)
        .header_u64("Content-Length", body.len() as u64);
    h.finish(canned.keep_alive, canned.version);
    if canned.head_only {
        return sent(Status::NOT_FOUND, 0);
    }
    out.push(body);
    sent(Status::NOT_FOUND, body.len() as u64)
}

fn send_file(head: &RequestHead, found: Found, canned: &Canned, out: &mut Buffer) -> Sent {
    let meta: Rc<Meta> = found.meta;
    let size = meta.stat.size;
    let conditions = Conditions {
        if_match: head.header("if-match"),
        if_none_match: head.header("if-none-match"),
        if_modified_since: head.header("if-modified-since"),
        if_unmodified_since: head.header("if-unmodified-since"),
        if_range: head.header("if-range"),
        // Range applies to GET only (RFC 9110 section 14.2): HEAD reports the plain 200.
        range: if head.is_head() {
            None
        } else {
            head.header("range")
        },
    };
    let (status, start, end) =
        match conditional::evaluate(&conditions, true, &meta.etag, meta.last_modified, size) {
            Outcome::Full => (Status::OK, 0, size),
            Outcome::Partial {
                start,
                end_inclusive,
            } => (Status::PARTIAL_CONTENT, start, end_inclusive + 1),
            Outcome::NotModified => {
                let mut h = Head::start(out, Status::NOT_MODIFIED, canned.date, SERVER);
                h.lines(&meta.validators);
                h.finish(canned.keep_alive, canned.version);
                return sent(Status::NOT_MODIFIED, 0);
            }
            Outcome::PreconditionFailed => {
                return error(out, Status::PRECONDITION_FAILED, canned, &[])
            }
            Outcome::NotSatisfiable => {
                let range = format!("bytes */{size}");
                return error(
                    out,
                    Status::RANGE_NOT_SATISFIABLE,
                    canned,
                    &[("Content-Range", range.as_bytes())],
                );
            }
        };
    let length = end - start;
    let mut h = Head::start(out, status, canned.date, SERVER);
    h.lines(&meta.validators).lines(&meta.entity);
    h.header("Accept-Ranges", b"bytes");
    if status == Status::PARTIAL_CONTENT {
        let range = format!("bytes {start}-{}/{size}", end - 1);
        h.header("Content-Range", range.as_bytes());
    }
    h.header_u64("Content-Length", length);
    h.finish(canned.keep_alive, canned.version);
    if canned.head_only || length == 0 {
        return sent(status, 0);
    }
    match (&meta.bytes, found.file) {
        (Some(bytes), _) => {
            // Both bounds come from `evaluate`, which keeps them within the file's size.
            let slice = bytes.get(start as usize..end as usize).unwrap_or_default();
            out.push(slice);
            sent(status, slice.len() as u64)
        }
        (None, Some(file)) => Sent {
            status,
            body_bytes: length,
            file: Some(FileBody {
                file,
                offset: start,
                end,
            }),
        },
        (None, None) => sent(status, 0),
    }
}

/// `Location` for a directory requested without its slash: `./<last segment>/` plus the
/// original query. A relative reference resolves against the URL the client actually used, so
/// the redirect stays right behind a proxy that strips a path prefix (`/a/docs` seen here as
/// `/docs`), which an absolute path would break. The segment is the normalised, re-encoded name
/// (never raw target bytes), and the `./` keeps a name like `x:y` from reading as a scheme, so
/// the redirect can never leave the site.
fn directory_location(base_path: &str, relative: &str, target: &[u8]) -> String {
    let last = if relative.is_empty() {
        base_path
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or_default()
    } else {
        relative.rsplit('/').next().unwrap_or_default()
    };
    let mut location = String::with_capacity(last.len() + 8);
    location.push_str("./");
    location.push_str(&resolve::encode_path(last));
    location.push('/');
    if let Some(q) = target.iter().position(|&b| b == b'?') {
        // httparse admits only visible ASCII in the target, so the query is header-safe.
        location.push_str(&String::from_utf8_lossy(&target[q..]));
    }
    location
}

/// Whether a response to a request of this version on this connection may keep it open.
pub fn may_keep_alive(requested: bool, version: Version, draining: bool) -> bool {
    requested && !draining && matches!(version, Version::Http10 | Version::Http11)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directory_locations_are_normalised() {
        assert_eq!(directory_location("/", "docs", b"/docs"), "./docs/");
        assert_eq!(directory_location("/", "a/b/docs", b"/a/b/docs"), "./docs/");
        assert_eq!(directory_location("/a", "", b"/a?x=1"), "./a/?x=1");
        assert_eq!(directory_location("/a/b", "", b"/a/b"), "./b/");
        assert_eq!(directory_location("/a", "x y", b"/a/x%20y"), "./x%20y/");
        assert_eq!(
            directory_location("/", "evil.example", b"//evil.example"),
            "./evil.example/"
        );
        assert_eq!(directory_location("/", "http:x", b"/http:x"), "./http%3Ax/");
    }

    #[test]
    fn draining_closes() {
        assert!(may_keep_alive(true, Version::Http11, false));
        assert!(!may_keep_alive(true, Version::Http11, true));
        assert!(!may_keep_alive(false, Version::Http10, false));
    }
}
