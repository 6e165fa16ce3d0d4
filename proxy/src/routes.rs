//! The route table: parsing `PREFIX=URL[|URL...][;option...]` specifications, longest-prefix
//! matching on path-segment boundaries, and building the upstream request-target.
//!
//! Pure functions and plain data only: no I/O, no DNS (names are resolved by `resolver`), no
//! sockets. Every function here is total on arbitrary input (no panics).

use std::fmt::Write as _;

/// One upstream server of a route, as configured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Upstream {
    pub tls: bool,
    /// Host name or IP literal, without brackets.
    pub host: String,
    pub port: u16,
    /// Path prefix to prepend (no trailing slash; empty when none).
    pub base: String,
    /// `host[:port]` as it appears in a `Host` header (port omitted when default).
    pub authority: String,
    /// `http://host:port/base`, for logs and the index page.
    pub display: String,
    /// Index of the (host, port) pair in the resolver's table.
    pub host_id: usize,
}

/// A configured route.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    /// Starts with `/`; no trailing slash unless it is exactly `/`.
    pub prefix: String,
    /// Indices into [`Routes::upstreams`]; never empty.
    pub upstreams: Vec<usize>,
    /// Remove the prefix from the path before forwarding (the default).
    pub strip: bool,
    /// Send the upstream's own authority as `Host` instead of the client's.
    pub upstream_host: bool,
}

/// All routes, longest prefix first, and all upstreams.
#[derive(Clone, Debug, Default)]
pub struct Routes {
    pub routes: Vec<Route>,
    pub upstreams: Vec<Upstream>,
    /// Distinct (host, port) pairs to resolve, indexed by `Upstream::host_id`.
    pub hosts: Vec<(String, u16)>,
}

/// What a request path maps to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Match {
    /// Forward through route `route`.
    Forward { route: usize },
    /// The path is a strip-prefix route's prefix without its trailing slash: redirect to `prefix/`.
    AddSlash,
    /// No route covers the path.
    NotFound,
}

/// Help text for the route syntax.
pub const ROUTE_HELP: &str = "\
Routes: PREFIX=URL[|URL...][;OPTION...]
  PREFIX  a path starting with '/'; matched on segment boundaries ('/a' matches '/a/x', never '/ab');
          the longest matching prefix wins; '/' is a catch-all
  URL     http://host[:port][/base] or https://host[:port][/base]; several URLs separated by '|'
          are used in turn (round robin), skipping one that fails to connect
  OPTION  keep-prefix    forward the path unchanged instead of removing PREFIX
          upstream-host  send the upstream's host as Host instead of the client's
  The path sent upstream is BASE + (path without PREFIX); '/a' (exact) redirects to '/a/' unless
  keep-prefix is set. PROXY_ROUTES holds a comma-separated list of routes.
  Example: --route /a=http://web-a:8080 --route '/api=http://api1:9000|http://api2:9000;keep-prefix'";

impl Routes {
    /// Builds the table from route specifications, in any order.
    pub fn parse<'a>(specs: impl IntoIterator<Item = &'a str>) -> Result<Routes, String> {
        let mut table = Routes::default();
        for spec in specs {
            table.add(spec)?;
        }
        table.routes.sort_by(|a, b| {
            b.prefix
                .len()
                .cmp(&a.prefix.len())
                .then(a.prefix.cmp(&b.prefix))
        });
        Ok(table)
    }

    fn add(&mut self, spec: &str) -> Result<(), String> {
        let spec = spec.trim();
        let (prefix, rest) = spec
            .split_once('=')
            .ok_or_else(|| format!("route '{spec}' is not PREFIX=URL"))?;
        let prefix = normalize_prefix(prefix.trim()).ok_or_else(|| {
            format!("route '{spec}': prefix must start with '/' and contain no spaces, '?' or '#'")
        })?;
        if self.routes.iter().any(|r| r.prefix == prefix) {
            return Err(format!("route prefix '{prefix}' is given twice"));
        }
        let mut parts = rest.split(';');
        let urls = parts.next().unwrap_or("");
        let mut route = Route {
            prefix,
            upstreams: Vec::new(),
            strip: true,
            upstream_host: false,
        };
        for option in parts {
            match option.trim() {
                "keep-prefix" => route.strip = false,
                "strip-prefix" => route.strip = true,
                "upstream-host" => route.upstream_host = true,
                "" => {}
                other => {
                    return Err(format!(
                        "route '{spec}': unknown option '{other}' (keep-prefix, upstream-host)"
                    ))
                }
            }
        }
        for url in urls.split('|') {
            let mut upstream = parse_url(url.trim()).map_err(|e| format!("route '{spec}': {e}"))?;
            let key = (upstream.host.clone(), upstream.port);
            upstream.host_id = match self.hosts.iter().position(|h| *h == key) {
                Some(i) => i,
                None => {
                    self.hosts.push(key);
                    self.hosts.len() - 1
                }
            };
            route.upstreams.push(self.upstreams.len());
            self.upstreams.push(upstream);
        }
        self.routes.push(route);
        Ok(())
    }

    /// Finds the route for a request path (the target without its query).
    pub fn find(&self, path: &[u8]) -> Match {
        for (i, route) in self.routes.iter().enumerate() {
            let prefix = route.prefix.as_bytes();
            if prefix == b"/" {
                return Match::Forward { route: i };
            }
            if let Some(rest) = path.strip_prefix(prefix) {
                match rest.first() {
                    None if route.strip => return Match::AddSlash,
                    None | Some(b'/') => return Match::Forward { route: i },
                    _ => {}
                }
            }
        }
        Match::NotFound
    }
}

/// `/a/` -> `/a`, `/` stays; refuses what cannot be a path prefix.
fn normalize_prefix(p: &str) -> Option<String> {
    if !p.starts_with('/')
        || p.bytes()
            .any(|b| b <= b' ' || b == b'?' || b == b'#' || b >= 0x7f)
    {
        return None;
    }
    let trimmed = p.trim_end_matches('/');
    Some(if trimmed.is_empty() {
        "/".to_string()
    } else {
        trimmed.to_string()
    })
}

/// Parses `http[s]://host[:port][/base]`.
pub fn parse_url(url: &str) -> Result<Upstream, String> {
    let (tls, rest) = if let Some(r) = url.strip_prefix("http://") {
        (false, r)
    } else if let Some(r) = url.strip_prefix("https://") {
        (true, r)
    } else {
        return Err(format!(
            "upstream '{url}' must start with http:// or https://"
        ));
    };
    let (authority, base) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if authority.contains('@') || base.contains(['?', '#']) {
        return Err(format!(
            "upstream '{url}' may not carry user info, a query or a fragment"
        ));
    }
    if base.bytes().any(|b| b <= b' ' || b >= 0x7f) {
        return Err(format!("upstream '{url}' has an invalid path"));
    }
    let default_port = if tls { 443 } else { 80 };
    let (host, port) = split_authority(authority, default_port)
        .ok_or_else(|| format!("upstream '{url}' has an invalid host or port"))?;
    let bracketed = if host.contains(':') {
        format!("[{host}]")
    } else {
        host.clone()
    };
    let authority = if port == default_port {
        bracketed.clone()
    } else {
        format!("{bracketed}:{port}")
    };
    let base = base.trim_end_matches('/').to_string();
    let mut display = String::new();
    let _ = write!(
        display,
        "{}://{bracketed}:{port}{base}",
        if tls { "https" } else { "http" }
    );
    Ok(Upstream {
        tls,
        host,
        port,
        base,
        authority,
        display,
        host_id: 0,
    })
}

/// `host`, `host:port`, `[v6]`, `[v6]:port` -> (host without brackets, port).
fn split_authority(authority: &str, default_port: u16) -> Option<(String, u16)> {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (h, after) = rest.split_once(']')?;
        if h.parse::<std::net::Ipv6Addr>().is_err() {
            return None;
        }
        match after {
            "" => (h, None),
            p => (h, Some(p.strip_prefix(':')?)),
        }
    } else {
        match authority.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    let valid_char = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b':');
    if host.is_empty() || !host.bytes().all(valid_char) {
        return None;
    }
    let port = match port {
        None => default_port,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 => n,
            _ => return None,
        },
    };
    Some((host.to_ascii_lowercase(), port))
}

/// The path part of a request-target: origin-form up to `?`, or the path of an absolute-form
/// target (`/` when it has none). Returns (path, query-and-rest) where the second part starts
/// with `?` or is empty.
pub fn split_target(target: &[u8]) -> (&[u8], &[u8]) {
    let origin = if target.first() == Some(&b'/') {
        target
    } else {
        // absolute-form: skip "scheme://authority"
        let after_scheme = find(target, b"://").map_or(target.len(), |i| i + 3);
        let rest = target.get(after_scheme..).unwrap_or(b"");
        match rest.iter().position(|&b| b == b'/' || b == b'?') {
            Some(i) => &rest[i..],
            None => b"",
        }
    };
    let q = origin
        .iter()
        .position(|&b| b == b'?')
        .unwrap_or(origin.len());
    let (path, query) = origin.split_at(q);
    if path.is_empty() {
        (b"/", query)
    } else {
        (path, query)
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(specs: &[&str]) -> Routes {
        Routes::parse(specs.iter().copied()).unwrap()
    }

    fn prefix_of(t: &Routes, path: &str) -> Option<String> {
        match t.find(path.as_bytes()) {
            Match::Forward { route } => Some(t.routes[route].prefix.clone()),
            Match::AddSlash => Some("redirect".into()),
            Match::NotFound => None,
        }
    }

    #[test]
    fn longest_prefix_on_segment_boundaries() {
        let t = table(&[
            "/a=http://a:1",
            "/a/b=http://ab:1",
            "/c=http://c:1;keep-prefix",
        ]);
        assert_eq!(prefix_of(&t, "/a/x").as_deref(), Some("/a"));
        assert_eq!(prefix_of(&t, "/a/").as_deref(), Some("/a"));
        assert_eq!(prefix_of(&t, "/a/b").as_deref(), Some("redirect"));
        assert_eq!(prefix_of(&t, "/a/b/c").as_deref(), Some("/a/b"));
        assert_eq!(prefix_of(&t, "/a/bc").as_deref(), Some("/a"));
        assert_eq!(prefix_of(&t, "/ab"), None);
        assert_eq!(prefix_of(&t, "/a").as_deref(), Some("redirect"));
        assert_eq!(prefix_of(&t, "/c").as_deref(), Some("/c"));
        assert_eq!(prefix_of(&t, "/"), None);
        let with_root = table(&["/=http://root:1", "/a=http://a:1"]);
        assert_eq!(prefix_of(&with_root, "/ab").as_deref(), Some("/"));
        assert_eq!(prefix_of(&with_root, "/a/x").as_deref(), Some("/a"));
    }

    #[test]
    fn url_parsing() {
        let u = parse_url("http://Web-A:8080/base/").unwrap();
        assert_eq!(
            (u.tls, u.host.as_str(), u.port, u.base.as_str()),
            (false, "web-a", 8080, "/base")
        );
        assert_eq!(u.authority, "web-a:8080");
        let s = parse_url("https://example.org").unwrap();
        assert_eq!(
            (s.port, s.authority.as_str(), s.base.as_str()),
            (443, "example.org", "")
        );
        let v6 = parse_url("http://[::1]:81").unwrap();
        assert_eq!(
            (v6.host.as_str(), v6.authority.as_str()),
            ("::1", "[::1]:81")
        );
        for bad in [
            "ftp://x",
            "http://",
            "http://a:0",
            "http://a:99999",
            "http://u@a",
            "http://a/?q",
            "http://a b",
            "http://[zz]:1",
            "http://a:1x",
        ] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn route_specs() {
        let t = table(&["/api/=http://a1:1|https://a2;keep-prefix;upstream-host"]);
        let r = &t.routes[0];
        assert_eq!(r.prefix, "/api");
        assert_eq!(r.upstreams, vec![0, 1]);
        assert!(!r.strip && r.upstream_host);
        assert_eq!(t.hosts.len(), 2);
        assert!(Routes::parse(["a=http://x"]).is_err());
        assert!(Routes::parse(["/a"]).is_err());
        assert!(Routes::parse(["/a=http://x;bogus"]).is_err());
        assert!(Routes::parse(["/a=http://x", "/a/=http://y"]).is_err());
        assert!(Routes::parse(["/a b=http://x"]).is_err());
        let shared = table(&["/a=http://h:1", "/b=http://h:1/x"]);
        assert_eq!(shared.hosts.len(), 1);
    }

    #[test]
    fn targets() {
        assert_eq!(split_target(b"/a/b?x=1"), (&b"/a/b"[..], &b"?x=1"[..]));
        assert_eq!(split_target(b"/"), (&b"/"[..], &b""[..]));
        assert_eq!(split_target(b"http://h:1/a?q"), (&b"/a"[..], &b"?q"[..]));
        assert_eq!(split_target(b"http://h:1"), (&b"/"[..], &b""[..]));
        assert_eq!(split_target(b"http://h?q"), (&b"/"[..], &b"?q"[..]));
    }
}
