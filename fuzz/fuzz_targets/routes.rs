//! Route matching and everything the proxy derives from a client's request-target
//! (`proxy::routes`, `proxy::pages::https_location`), plus route-spec parsing.
//!
//! Input: text lines. Lines before the first empty line are route specifications
//! (`PREFIX=URL[;option]`); the remaining lines are request-targets. Targets are matched against
//! the parsed table (when it parses) and against a fixed table with nested, root and
//! keep-prefix routes.
//!
//! Invariants:
//! - a route matches only on a segment boundary (`/a` matches `/a` and `/a/x`, never `/ab`),
//!   and the match is the longest such prefix (reference implementation below);
//! - `split_target` yields a path starting with `/` and a query that is empty or starts with `?`;
//! - the normalised path (`proxy::normalize`) starts with `/`, holds no dot segment and
//!   normalises to itself;
//! - the HTTPS redirect location is `https://` + exactly the client's host name (+ port), so
//!   a crafted `Host` can never redirect elsewhere, and holds no white space or controls;
//! - parsed tables are well-formed (prefixes, indices, sorted longest first).
#![no_main]

use libfuzzer_sys::fuzz_target;
use proxy::normalize::normalize_path;
use proxy::pages::{https_location, index_page};
use proxy::routes::{split_target, Match, Routes};

const FIXED: &[&str] = &[
    "/=http://root:1/r",
    "/a=http://a:1",
    "/a/b=http://ab:2/base/",
    "/api=http://api:3|http://[::1]:4;keep-prefix;upstream-host",
    "/%2e=http://dot:5",
];

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut lines = text.split('\n');
    let specs: Vec<&str> = lines.by_ref().take_while(|l| !l.is_empty()).collect();
    let targets: Vec<&str> = lines.collect();
    let (specs, targets) = if targets.is_empty() {
        (Vec::new(), specs)
    } else {
        (specs, targets)
    };

    let fixed = Routes::parse(FIXED.iter().copied()).expect("fixed table");
    let parsed = Routes::parse(specs.iter().copied()).ok();
    if let Some(t) = &parsed {
        check_table(t);
    }
    for target in &targets {
        let target = target.as_bytes();
        // httparse hands the proxy only targets of visible ASCII.
        if target.is_empty() || !target.iter().all(|&b| (0x21..0x7f).contains(&b)) {
            continue;
        }
        check_target(&fixed, target);
        if let Some(t) = &parsed {
            check_target(t, target);
        }
        check_location(target, data.len() as u16);
    }
});

fn check_table(t: &Routes) {
    assert!(!t.routes.is_empty() || t.upstreams.is_empty());
    for w in t.routes.windows(2) {
        assert!(w[0].prefix.len() >= w[1].prefix.len(), "not longest-first");
        assert_ne!(w[0].prefix, w[1].prefix, "duplicate prefix");
    }
    for r in &t.routes {
        assert!(r.prefix.starts_with('/'));
        assert!(r.prefix == "/" || !r.prefix.ends_with('/'));
        assert!(!r
            .prefix
            .bytes()
            .any(|b| b <= b' ' || b == b'?' || b == b'#'));
        assert!(!r.upstreams.is_empty());
        for &u in &r.upstreams {
            let up = &t.upstreams[u];
            assert!(up.host_id < t.hosts.len());
            assert!(up.base.is_empty() || (up.base.starts_with('/') && !up.base.ends_with('/')));
            for s in [&up.authority, &up.display, &up.base] {
                assert!(!s.bytes().any(|b| b <= b' ' || b == 0x7f), "{s:?}");
            }
        }
    }
    let page = index_page(t);
    assert!(std::str::from_utf8(&page).is_ok());
}

fn check_target(t: &Routes, target: &[u8]) {
    let (path, query) = split_target(target);
    assert_eq!(path.first(), Some(&b'/'), "path {path:?}");
    assert!(!path.contains(&b'?'));
    assert!(query.is_empty() || query[0] == b'?');

    // Reference: the longest prefix that matches on a segment boundary ('/' matches all).
    let on_boundary = |prefix: &str| {
        prefix == "/"
            || path
                .strip_prefix(prefix.as_bytes())
                .is_some_and(|rest| rest.is_empty() || rest[0] == b'/')
    };
    let best = t
        .routes
        .iter()
        .enumerate()
        .filter(|(_, r)| on_boundary(&r.prefix))
        .max_by_key(|(_, r)| r.prefix.len())
        .map(|(i, _)| i);
    let expected = match best {
        None => Match::NotFound,
        Some(i) => {
            let r = &t.routes[i];
            if r.strip && r.prefix != "/" && path == r.prefix.as_bytes() {
                Match::AddSlash
            } else {
                Match::Forward { route: i }
            }
        }
    };
    let got = t.find(path);
    assert_eq!(got, expected, "path {:?}", String::from_utf8_lossy(path));

    // What the proxy routes on: the normalised path, a fixed point without dot segments.
    let (mut normalized, mut scratch) = (Vec::new(), Vec::new());
    if normalize_path(path, &mut normalized, &mut scratch).is_ok() {
        assert_eq!(normalized.first(), Some(&b'/'));
        for segment in normalized.split(|&b| b == b'/') {
            assert!(segment != b"." && segment != b"..", "{normalized:?}");
        }
        let mut again = Vec::new();
        normalize_path(&normalized, &mut again, &mut scratch).expect("normalised path refused");
        assert_eq!(again, normalized, "normalisation is not idempotent");
    }
}

fn check_location(target: &[u8], port: u16) {
    // The Host header is client-controlled too: try the target's bytes as a Host.
    let (path, query) = split_target(target);
    for host in [target, b"example.com:80", b"[::1]:8080"] {
        let mut out = Vec::new();
        if !https_location(host, port, path, query, &mut out) {
            continue;
        }
        assert!(out.iter().all(|&b| (0x21..0x7f).contains(&b)), "{out:?}");
        let after = out.strip_prefix(b"https://").expect("https:// first");
        let authority_end = after.iter().position(|&b| b == b'/').expect("a path");
        let authority = &after[..authority_end];
        let name = if host.first() == Some(&b'[') {
            &host[..=host.iter().position(|&b| b == b']').expect("bracket")]
        } else {
            host.split(|&b| b == b':').next().unwrap_or_default()
        };
        let mut expected = name.to_vec();
        if port != 443 {
            expected.extend_from_slice(format!(":{port}").as_bytes());
        }
        assert_eq!(
            authority,
            &expected[..],
            "redirect authority is not the host"
        );
        assert!(
            !authority.iter().any(|&b| b"@/?#\\".contains(&b)),
            "authority {authority:?} could point elsewhere"
        );
        assert_eq!(&after[authority_end..], [path, query].concat().as_slice());
    }
}
