//! Responses the proxy writes itself: the route index at `/`, the health answer, redirects and
//! error pages (with HSTS on HTTPS). Pure writers into a [`Buffer`]; no I/O.

use common::buffer::Buffer;
use common::http::html;
use common::http::response::{self, Canned, Head};
use common::http::status::Status;

use crate::plan::Answer;
use crate::routes::Routes;

/// The small HTML page listing the routes, built once at startup.
pub fn index_page(routes: &Routes) -> Vec<u8> {
    let mut html = String::from(
        "<!doctype html>\n<html lang=\"en\">\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>Sites</title>\n\
         <style>body{font:16px/1.5 system-ui,sans-serif;max-width:40em;margin:2em auto;padding:0 1em}</style>\n\
         <h1>Sites</h1>\n<ul>\n",
    );
    let mut prefixes: Vec<(&str, bool)> = routes
        .routes
        .iter()
        .map(|r| (r.prefix.as_str(), r.strip))
        .collect();
    prefixes.sort();
    for (prefix, strip) in prefixes {
        let href = if strip && prefix != "/" {
            format!("{prefix}/")
        } else {
            prefix.to_string()
        };
        html.push_str("<li><a href=\"");
        html::escape_into(&mut html, &href);
        html.push_str("\">");
        html::escape_into(&mut html, &href);
        html.push_str("</a></li>\n");
    }
    if routes.routes.is_empty() {
        html.push_str("<li>No routes are configured.</li>\n");
    }
    html.push_str("</ul>\n</html>\n");
    html.into_bytes()
}

/// A 200 page with `body`. Returns the body bytes sent (for the log).
pub fn page(
    out: &mut Buffer,
    content_type: &[u8],
    body: &[u8],
    c: &Canned,
    hsts: Option<&[u8]>,
) -> u64 {
    let mut head = Head::start(out, Status::OK, c.date, c.server);
    head.header("Content-Type", content_type)
        .header_u64("Content-Length", body.len() as u64)
        .header("Cache-Control", b"no-store")
        .header("X-Content-Type-Options", b"nosniff");
    if let Some(v) = hsts {
        head.header("Strict-Transport-Security", v);
    }
    head.finish(c.keep_alive, c.version);
    if c.head_only {
        return 0;
    }
    out.push(body);
    body.len() as u64
}

/// An error (or redirect, with `location`) page.
pub fn error(
    out: &mut Buffer,
    status: Status,
    c: &Canned,
    hsts: Option<&[u8]>,
    location: Option<&[u8]>,
) -> u64 {
    let mut extra: [(&str, &[u8]); 2] = [("", b""); 2];
    let mut n = 0;
    if let Some(l) = location {
        extra[n] = ("Location", l);
        n += 1;
    }
    if let Some(v) = hsts {
        extra[n] = ("Strict-Transport-Security", v);
        n += 1;
    }
    response::error(out, status, c, &extra[..n])
}

/// Writes an answer of the proxy's own; `location` is the redirect target. Returns the status
/// and the body bytes sent (for the log).
pub fn answer(
    out: &mut Buffer,
    answer: Answer,
    c: &Canned,
    hsts: Option<&[u8]>,
    index_page: &[u8],
    location: &[u8],
) -> (u16, u64) {
    match answer {
        Answer::Health => (
            200,
            page(out, b"text/plain; charset=utf-8", b"ok\n", c, hsts),
        ),
        Answer::Index => (
            200,
            page(out, b"text/html; charset=utf-8", index_page, c, hsts),
        ),
        Answer::Error(s) => (s.code(), error(out, s, c, hsts, None)),
        Answer::Redirect(s) => (s.code(), error(out, s, c, hsts, Some(location))),
    }
}

/// `https://<host without port>[:port]<target>` for the HTTP-to-HTTPS redirect, or `None` when
/// the Host cannot be reflected safely.
pub fn https_location(
    host: &[u8],
    tls_port: u16,
    path: &[u8],
    query: &[u8],
    out: &mut Vec<u8>,
) -> bool {
    if host.is_empty() || !common::http::request::is_valid_host(host) || path.first() != Some(&b'/')
    {
        return false;
    }
    let name = if host.first() == Some(&b'[') {
        match host.iter().position(|&b| b == b']') {
            Some(end) => &host[..=end],
            None => return false,
        }
    } else {
        match host.iter().position(|&b| b == b':') {
            Some(i) => &host[..i],
            None => host,
        }
    };
    if name.is_empty() {
        return false;
    }
    out.extend_from_slice(b"https://");
    out.extend_from_slice(name);
    if tls_port != 443 {
        out.push(b':');
        out.extend_from_slice(tls_port.to_string().as_bytes());
    }
    out.extend_from_slice(path);
    out.extend_from_slice(query);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_lists_routes_escaped() {
        let routes = Routes::parse([
            "/a=http://x:1",
            "/k=http://y:1;keep-prefix",
            "/<b>=http://z:1",
        ])
        .unwrap();
        let page = String::from_utf8(index_page(&routes)).unwrap();
        assert!(page.contains("<a href=\"/a/\">/a/</a>"));
        assert!(page.contains("<a href=\"/k\">/k</a>"));
        assert!(page.contains("/&lt;b&gt;/"));
    }

    #[test]
    fn https_locations() {
        let loc = |host: &[u8], port, target: &[u8]| {
            let mut v = Vec::new();
            https_location(host, port, target, b"", &mut v).then(|| String::from_utf8(v).unwrap())
        };
        let mut v = Vec::new();
        assert!(https_location(
            b"example.com:8080",
            8443,
            b"/x",
            b"?y",
            &mut v
        ));
        assert_eq!(v, b"https://example.com:8443/x?y");
        assert_eq!(
            loc(b"example.com", 443, b"/").as_deref(),
            Some("https://example.com/")
        );
        assert_eq!(
            loc(b"[::1]:80", 443, b"/").as_deref(),
            Some("https://[::1]/")
        );
        assert_eq!(loc(b"", 443, b"/"), None);
        assert_eq!(loc(b"a b", 443, b"/"), None);
        assert_eq!(loc(b"a\r\nX: y", 443, b"/"), None);
        assert_eq!(loc(b":80", 443, b"/"), None);
        assert_eq!(loc(b"a", 443, b"*"), None);
    }
}
