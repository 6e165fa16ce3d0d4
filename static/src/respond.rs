//! From a parsed request head to a queued response: method check, path resolution, file lookup
//! (with the single-page-app fallback for missing pages), conditional and range evaluation,
//! directory listings, and the response head and (in-memory) body.
//!
//! The only I/O here is the file lookup (stat/open through [`Files`]); sockets belong to the
//! session, which sends a large file's body with sendfile from the [`FileBody`] returned here.

use std::fs::File;
use std::rc::Rc;

use common::buffer::Buffer;
use common::http::request::{RequestHead, Version};
use common::http::response::{self, Canned, Head};
use common::http::status::Status;

use crate::compress::Wanted;
use crate::conditional::{self, Conditions, Outcome};
use crate::files::{Files, Found, Lookup, Meta};
use crate::headers;
use crate::listing;
use crate::resolve::{self, Reject, Resolved};

/// How request paths map to the site.
pub struct Site {
    pub resolve: resolve::Options,
    /// `--fallback`: the site-relative file a missing page gets (single-page apps).
    pub fallback: Option<String>,
}

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
    site: &Site,
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
    let opts = &site.resolve;
    let (relative, trailing_slash) = match resolve::resolve(head.target, opts) {
        Ok(Resolved::Path {
            relative,
            trailing_slash,
        }) => (relative, trailing_slash),
        Err(Reject::BadRequest) => return error(out, Status::BAD_REQUEST, &canned, &[]),
        Err(Reject::NotFound) => return not_found(files, out, &canned),
    };
    let wanted = Wanted::from_header(head.header("accept-encoding"));
    let mut lookup = files.lookup(&relative, trailing_slash, wanted);
    if let (Ok(Lookup::NotFound), Some(fallback)) = (&lookup, &site.fallback) {
        if looks_like_page(&relative, trailing_slash, head.header("accept")) {
            lookup = files.lookup(fallback, false, wanted);
        }
    }
    match lookup {
        Ok(Lookup::Found(found)) => send_file(head, found, &canned, out),
        Ok(Lookup::Directory(dir)) => {
            let path = site_path(&opts.base_path, &relative);
            match files.listing(dir, &relative, opts.show_dotfiles) {
                Ok((entries, omitted)) => {
                    send_listing(head, &path, &entries, omitted, files, &canned, out)
                }
                Err(e) => {
                    common::log::error(format_args!("listing '{relative}': {e}"));
                    error(out, Status::INTERNAL_SERVER_ERROR, &canned, &[])
                }
            }
        }
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
    let size = meta.len;
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

/// Whether a missing path gets the fallback page: a page, not an asset. A last segment without
/// a file extension (`/app/settings`, `/app/`) is a page; one with an extension
/// (`/assets/app.js`) is an asset and stays 404, unless the client asks for HTML.
fn looks_like_page(relative: &str, trailing_slash: bool, accept: Option<&[u8]>) -> bool {
    let last = relative.rsplit('/').next().unwrap_or_default();
    let has_extension = !trailing_slash && last.rfind('.').is_some_and(|i| i > 0);
    !has_extension || accept.is_some_and(accepts_html)
}

/// `Accept` names `text/html` (with a weight above 0).
fn accepts_html(accept: &[u8]) -> bool {
    accept.split(|&b| b == b',').any(|range| {
        let mut parts = range.split(|&b| b == b';');
        let media = parts.next().unwrap_or_default().trim_ascii();
        media.eq_ignore_ascii_case(b"text/html")
            && !parts.any(|p| {
                let p = p.trim_ascii();
                p.eq_ignore_ascii_case(b"q=0")
                    || p.eq_ignore_ascii_case(b"q=0.0")
                    || p.eq_ignore_ascii_case(b"q=0.00")
                    || p.eq_ignore_ascii_case(b"q=0.000")
            })
    })
}

/// The path of `relative` as the site's clients see it (with the base path), ending in `/`.
fn site_path(base_path: &str, relative: &str) -> String {
    let base = base_path.trim_end_matches('/');
    if relative.is_empty() {
        format!("{base}/")
    } else {
        format!("{base}/{relative}/")
    }
}

/// A directory listing: HTML, or JSON when asked for. Not cached by clients (`no-cache`), varies
/// on `Accept`, and the HTML runs no script whatever the names say.
fn send_listing(
    head: &RequestHead,
    path: &str,
    entries: &[listing::Entry],
    omitted: usize,
    files: &Files,
    canned: &Canned,
    out: &mut Buffer,
) -> Sent {
    let query = head
        .target
        .iter()
        .position(|&b| b == b'?')
        .map(|q| &head.target[q + 1..]);
    let (body, content_type) = if listing::wants_json(head.header("accept"), query) {
        (listing::json(path, entries, omitted), "application/json")
    } else {
        (
            listing::html(path, entries, omitted),
            "text/html; charset=utf-8",
        )
    };
    let rules = headers::for_path(files.header_rules(), path);
    let ruled = |name: &str| rules.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
    let mut h = Head::start(out, Status::OK, canned.date, SERVER);
    for (name, value) in [
        ("Content-Type", content_type),
        ("Cache-Control", "no-cache"),
        ("Vary", "Accept"),
        ("X-Content-Type-Options", "nosniff"),
        (
            "Content-Security-Policy",
            "default-src 'none'; style-src 'unsafe-inline'",
        ),
    ] {
        if !ruled(name) {
            h.header(name, value.as_bytes());
        }
    }
    for (name, value) in &rules {
        h.header(name, value.as_bytes());
    }
    h.header_u64("Content-Length", body.len() as u64);
    h.finish(canned.keep_alive, canned.version);
    if canned.head_only {
        return sent(Status::OK, 0);
    }
    out.push(body.as_bytes());
    sent(Status::OK, body.len() as u64)
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
    fn pages_and_assets() {
        assert!(looks_like_page("app/settings", false, None));
        assert!(looks_like_page("", true, None));
        assert!(looks_like_page("docs/v1.2/", true, None));
        assert!(
            looks_like_page(".well-known", false, None),
            "a dotfile name is not an extension"
        );
        assert!(!looks_like_page("assets/app.js", false, None));
        assert!(!looks_like_page(
            "logo.png",
            false,
            Some(b"image/avif,image/*")
        ));
        assert!(looks_like_page(
            "about.html",
            false,
            Some(b"text/html,*/*;q=0.8")
        ));
        assert!(!looks_like_page("x.js", false, Some(b"text/html;q=0")));
    }

    #[test]
    fn site_paths() {
        assert_eq!(site_path("/", ""), "/");
        assert_eq!(site_path("/", "docs"), "/docs/");
        assert_eq!(site_path("/a", ""), "/a/");
        assert_eq!(site_path("/a", "x/y"), "/a/x/y/");
    }

    #[test]
    fn draining_closes() {
        assert!(may_keep_alive(true, Version::Http11, false));
        assert!(!may_keep_alive(true, Version::Http11, true));
        assert!(!may_keep_alive(false, Version::Http10, false));
    }
}
