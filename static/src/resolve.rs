//! Request-target -> safe path relative to the served root (the security core).
//!
//! Owns: parsing the raw request-target, percent-decoding it exactly once,
//! rejecting anything ambiguous, matching and stripping the configured base
//! path, and normalising dot segments so the result can be joined under the
//! root without ever escaping it.
//!
//! Must not: touch the filesystem (symlinks, existence and directory checks are
//! the caller's job, e.g. with `openat` + `O_NOFOLLOW`/`RESOLVE_BENEATH`),
//! decode more than once, treat `\` as anything but an error, or panic on any
//! input.
//!
//! Pipeline (each step documented where it happens):
//! 1. target form: origin-form `/p?q` or absolute-form `http(s)://auth/p?q`;
//!    anything else (asterisk, authority-form, relative) is a 400.
//! 2. raw checks: `#`, controls and space anywhere are a 400; query dropped.
//! 3. percent-decode once; malformed escapes, controls (incl. NUL/CR/LF/DEL),
//!    `\` and invalid UTF-8 (which covers overlong `%c0%ae`) are a 400.
//! 4. base path: must match on a segment boundary, else 404; stripped.
//! 5. segments: empty and `.` dropped, `..` pops (above the root is a 400),
//!    dot-names are a 404 unless enabled (`.well-known` always allowed).

use common::http::headers::hex_value;

/// Resolution settings, fixed at startup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// URL prefix the site is mounted at, in decoded form: `/` or e.g. `/a`
    /// or `/a/b`. A trailing `/` is tolerated and ignored. Matching is
    /// byte-exact (case-sensitive) and on segment boundaries.
    pub base_path: String,
    /// Serve names starting with `.`; off by default because `.git`, `.env`
    /// and `.htpasswd` are the classic accidental leaks.
    pub show_dotfiles: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            base_path: "/".to_owned(),
            show_dotfiles: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved {
    /// Relative path under the root ("" for the root itself), segments joined
    /// by '/', no leading slash, no empty/`.`/`..` segments, no `\`, no
    /// control bytes, valid UTF-8.
    ///
    /// `trailing_slash` tells whether the decoded path (after the base path)
    /// ended in '/' or in a `.`/`..` segment (RFC 3986 §5.2.4 treats `/x/.`
    /// as `/x/`). The caller uses it for directory handling: a directory
    /// without it gets a redirect, a file with it is a 404. The bare base
    /// path (`/a` with base `/a`) resolves to `""` with `trailing_slash:
    /// false`, so it redirects to `/a/` like any other directory.
    Path {
        relative: String,
        trailing_slash: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reject {
    /// 400: unsupported target form, `#`, bad percent-encoding, control
    /// bytes, backslash, invalid UTF-8, or `..` above the root.
    BadRequest,
    /// 404: outside the base path, or a hidden dot-name.
    NotFound,
}

/// Name that stays reachable even when dotfiles are hidden: ACME challenges
/// and `security.txt` live there and users expect it to work like in
/// Caddy/nginx setups. Only the exact lowercase name; nested dot-names inside
/// it stay hidden.
const WELL_KNOWN: &str = ".well-known";

/// Resolves a raw request-target (as it appears in the request line) to a
/// path relative to the served root. Pure; see the module docs for the steps.
///
/// Encoded slashes: `%2F` decodes to `/` and is then an ordinary separator.
/// We decode before splitting so there is exactly one notion of "segment";
/// since no Unix file name can contain `/`, nothing reachable is lost, and
/// since `..` handling runs after decoding, `%2F` cannot help escape either
/// the root or the base path.
pub fn resolve(target: &[u8], opts: &Options) -> Result<Resolved, Reject> {
    let raw_path = path_of_target(target)?;
    let decoded = percent_decode(raw_path)?;
    // Controls can smuggle header injection (CR/LF) or truncate C strings
    // (NUL); backslash is a separator on other platforms and in some
    // proxies, so it is ambiguous and never passed on.
    if decoded.iter().any(|&b| b < 0x20 || b == 0x7f || b == b'\\') {
        return Err(Reject::BadRequest);
    }
    // Strict UTF-8 rejects overlong forms (`%c0%ae` = '.', `%c1%9c` = '\'),
    // surrogates and out-of-range code points: one byte sequence, one meaning.
    let decoded = std::str::from_utf8(&decoded).map_err(|_| Reject::BadRequest)?;
    let rest = strip_base(decoded, &opts.base_path).ok_or(Reject::NotFound)?;
    normalize(rest, opts.show_dotfiles)
}

/// Extracts the still-encoded path from origin-form or absolute-form,
/// dropping the query. Rejects `#` and raw whitespace/controls anywhere: a
/// conforming client never sends them, and accepting them would only create
/// disagreements with other parsers in front of us.
fn path_of_target(target: &[u8]) -> Result<&[u8], Reject> {
    if target.iter().any(|&b| b == b'#' || b <= 0x20 || b == 0x7f) {
        return Err(Reject::BadRequest);
    }
    let before_query =
        |s: &'_ [u8]| -> usize { s.iter().position(|&b| b == b'?').unwrap_or(s.len()) };
    if target.first() == Some(&b'/') {
        return Ok(target.get(..before_query(target)).unwrap_or_default());
    }
    let after_scheme = strip_prefix_ci(target, b"http://")
        .or_else(|| strip_prefix_ci(target, b"https://"))
        .ok_or(Reject::BadRequest)?;
    // The authority ends at the first '/' or '?'; its content is the
    // caller's business (Host handling), but an empty host is invalid for
    // http(s) URIs (RFC 9110 §4.2.1).
    let auth_end = after_scheme
        .iter()
        .position(|&b| b == b'/' || b == b'?')
        .unwrap_or(after_scheme.len());
    if auth_end == 0 {
        return Err(Reject::BadRequest);
    }
    let path_and_query = after_scheme.get(auth_end..).unwrap_or_default();
    match path_and_query.get(..before_query(path_and_query)) {
        // An empty path in absolute-form means "/" (RFC 9112 §3.2.2).
        Some(p) if !p.is_empty() => Ok(p),
        _ => Ok(b"/"),
    }
}

fn strip_prefix_ci<'a>(s: &'a [u8], prefix: &[u8]) -> Option<&'a [u8]> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| s.get(prefix.len()..))
        .flatten()
}

/// Decodes `%XX` escapes exactly once. A `%` not followed by two hex digits
/// is an error rather than a literal: lenient decoders are how `%%32%65`
/// style double-decoding tricks work. Other bytes pass through unchanged
/// (validation is the caller's job; [`resolve`] does it).
pub fn percent_decode(input: &[u8]) -> Result<Vec<u8>, Reject> {
    let mut out = Vec::with_capacity(input.len());
    let mut bytes = input.iter();
    while let Some(&b) = bytes.next() {
        if b == b'%' {
            let hi = bytes.next().and_then(|&h| hex_value(h));
            let lo = bytes.next().and_then(|&l| hex_value(l));
            match (hi, lo) {
                (Some(hi), Some(lo)) => out.push(hi << 4 | lo),
                _ => return Err(Reject::BadRequest),
            }
        } else {
            out.push(b);
        }
    }
    Ok(out)
}

/// Returns the part after the base path ("" or starting with '/'), or `None`
/// when the path is outside it. Matching happens on the decoded path before
/// dot-segment removal, so `/a/../b` with base `/a` stays inside `/a` and
/// then fails as a traversal instead of silently reaching `/b`.
fn strip_base<'a>(path: &'a str, base: &str) -> Option<&'a str> {
    let base = base.trim_end_matches('/');
    if base.is_empty() {
        return Some(path);
    }
    let rest = path.strip_prefix(base)?;
    (rest.is_empty() || rest.starts_with('/')).then_some(rest)
}

/// Removes dot segments without ever going above the root, and hides
/// dot-names. A hidden name is rejected even if a later `..` would pop it
/// (`/.git/../x`): there is no legitimate reason to send that, and checking
/// every segment keeps the rule simple to audit.
fn normalize(rest: &str, show_dotfiles: bool) -> Result<Resolved, Reject> {
    let mut segments: Vec<&str> = Vec::new();
    for seg in rest.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if segments.pop().is_none() {
                    return Err(Reject::BadRequest);
                }
            }
            s if s.starts_with('.') && !show_dotfiles && s != WELL_KNOWN => {
                return Err(Reject::NotFound);
            }
            s => segments.push(s),
        }
    }
    let trailing_slash =
        matches!(rest.rsplit('/').next(), Some("" | "." | "..")) && !rest.is_empty();
    Ok(Resolved::Path {
        relative: segments.join("/"),
        trailing_slash,
    })
}

/// Percent-encodes a resolved relative path for use in a URL (e.g. a
/// `Location` header when redirecting `dir` to `dir/`). Everything except
/// RFC 3986 unreserved characters and `/` is encoded, so the output is plain
/// ASCII, safe in a header, and resolves back to the same path.
pub fn encode_path(path: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(path.len());
    for &b in path.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(base: &str, dot: bool) -> Options {
        Options {
            base_path: base.to_owned(),
            show_dotfiles: dot,
        }
    }

    fn r(target: &[u8]) -> Result<Resolved, Reject> {
        resolve(target, &Options::default())
    }

    fn path(rel: &str, trailing: bool) -> Result<Resolved, Reject> {
        Ok(Resolved::Path {
            relative: rel.to_owned(),
            trailing_slash: trailing,
        })
    }

    #[track_caller]
    fn ok(target: &str, rel: &str, trailing: bool) {
        assert_eq!(r(target.as_bytes()), path(rel, trailing), "{target:?}");
    }

    #[track_caller]
    fn bad(target: &[u8]) {
        assert_eq!(
            r(target),
            Err(Reject::BadRequest),
            "{:?}",
            String::from_utf8_lossy(target)
        );
    }

    #[track_caller]
    fn nf(target: &str) {
        assert_eq!(r(target.as_bytes()), Err(Reject::NotFound), "{target:?}");
    }

    #[test]
    fn simple_paths() {
        ok("/", "", true);
        ok("/index.html", "index.html", false);
        ok("/a/b/", "a/b", true);
        ok("/a/b", "a/b", false);
        ok("//a//b//", "a/b", true);
        ok("/a/%2f/b", "a/b", false);
        ok("/a%20b.txt", "a b.txt", false);
        ok("/~user/x-y_z.txt", "~user/x-y_z.txt", false);
        ok("/a;b=c,d", "a;b=c,d", false);
    }

    #[test]
    fn query_is_stripped_and_never_decoded() {
        ok("/a/b?x=1", "a/b", false);
        ok("/?q", "", true);
        ok("/a?", "a", false);
        ok("/a?b/../../c", "a", false);
        ok("/a?%zz%00", "a", false);
        ok("/a?x\\y", "a", false);
        ok("/a/?x=/..", "a", true);
    }

    #[test]
    fn fragment_is_rejected() {
        bad(b"/a#frag");
        bad(b"/a?x#y");
        bad(b"/#");
    }

    #[test]
    fn absolute_form() {
        ok("http://example.com/a/b?c", "a/b", false);
        ok("http://example.com", "", true);
        ok("http://example.com/", "", true);
        ok("HTTPS://example.com:8443?x", "", true);
        ok("Http://user@h:1/x/", "x", true);
        bad(b"http:///a");
        bad(b"http://?x");
        bad(b"http://");
        bad(b"http://h/../x");
        bad(b"ftp://h/a");
        bad(b"http:/h/a");
    }

    #[test]
    fn other_target_forms() {
        ok("/h/a", "h/a", false);
        bad(b"*");
        bad(b"example.com:443");
        bad(b"");
        bad(b"a/b");
        bad(b"index.html");
        bad(b"?x");
        bad(b"\\a");
    }

    #[test]
    fn traversal_plain() {
        bad(b"/../etc/passwd");
        bad(b"/..");
        bad(b"/a/../../x");
        bad(b"/a/b/../../../x");
        ok("/a/./b", "a/b", false);
        ok("/a/../b", "b", false);
        ok("/a/b/c/../../../x", "x", false);
        ok("/a/..", "", true);
        ok("/a/.", "a", true);
        ok("/.", "", true);
        ok("/a/b/..", "a", true);
    }

    #[test]
    fn traversal_encoded() {
        bad(b"/%2e%2e/etc/passwd");
        bad(b"/%2E%2e%2fetc/passwd");
        bad(b"/%2F%2E%2E%2F");
        bad(b"/.%2e/etc");
        bad(b"/%2e./etc");
        bad(b"/.%2E");
        bad(b"/a/%2e%2e/%2e%2e/x");
        bad(b"/a%2f..%2f..%2fx");
        ok("/%2e", "", true);
        ok("/a/%2e/b", "a/b", false);
    }

    #[test]
    fn traversal_with_backslash() {
        bad(b"/%2e%2e%5cetc");
        bad(b"/..\\etc");
        bad(b"/a\\b");
        bad(b"/a%5Cb");
        bad(b"/a%5cb");
    }

    #[test]
    fn tomcat_style_path_parameter_is_a_literal_name() {
        // "..;" is not a dot segment; it is a hidden name (404), never a pop.
        nf("/..;/etc");
        nf("/a/..;/..;/x");
        assert_eq!(resolve(b"/..;/x", &opts("/", true)), path("..;/x", false));
    }

    #[test]
    fn double_encoding_decodes_once() {
        ok("/%252e%252e/x", "%2e%2e/x", false);
        ok("/%252e%252e%252f", "%2e%2e%2f", false);
        ok("/%25", "%", false);
        ok("/%255c", "%5c", false);
        bad(b"/%%32%65");
        bad(b"/%%35c");
    }

    #[test]
    fn overlong_and_invalid_utf8() {
        bad(b"/%c0%ae%c0%ae/x");
        bad(b"/%c0%af");
        bad(b"/%e0%80%ae");
        bad(b"/%c1%9c");
        bad(b"/%c1%1c");
        bad(b"/%f0%80%80%ae");
        bad(b"/%ff");
        bad(b"/\xff");
        bad(b"/%ED%A0%80");
        bad(b"/%F4%90%80%80");
        bad(b"/%C3");
        bad(b"/caf\xc3");
    }

    #[test]
    fn malformed_escapes() {
        bad(b"/%");
        bad(b"/%2");
        bad(b"/a%");
        bad(b"/%zz");
        bad(b"/%g0");
        bad(b"/%0g");
        bad(b"/%u002e");
        bad(b"/% 2e");
        bad(b"/%+2e");
        bad(b"/%-1");
    }

    #[test]
    fn nul_and_controls() {
        bad(b"/%00");
        bad(b"/a%00.html");
        bad(b"/a\0b");
        bad(b"/a%0d%0aSet-Cookie:x");
        bad(b"/a%0A");
        bad(b"/a%0D");
        bad(b"/a\r\nb");
        bad(b"/a%09");
        bad(b"/a\tb");
        bad(b"/a%1f");
        bad(b"/a%7f");
        bad(b"/a\x7f");
        bad(b"/a b");
        bad(b"/a?x y");
        bad(b"/a?\0");
    }

    #[test]
    fn unicode_names() {
        ok("/caf%C3%A9.html", "caf\u{e9}.html", false);
        ok("/caf%c3%a9.html", "caf\u{e9}.html", false);
        ok("/caf\u{e9}.html", "caf\u{e9}.html", false);
        ok("/%E2%88%95etc", "\u{2215}etc", false);
        ok("/%EF%BC%8F..%EF%BC%8F", "\u{ff0f}..\u{ff0f}", false);
        ok("/%F0%9F%A6%80", "\u{1f980}", false);
        // C1 controls are valid UTF-8 characters, harmless in file names.
        ok("/%C2%85", "\u{85}", false);
    }

    #[test]
    fn base_path() {
        let o = opts("/a", false);
        assert_eq!(resolve(b"/a", &o), path("", false));
        assert_eq!(resolve(b"/a/", &o), path("", true));
        assert_eq!(resolve(b"/a?x", &o), path("", false));
        assert_eq!(resolve(b"/a/x", &o), path("x", false));
        assert_eq!(resolve(b"/a/x/y/", &o), path("x/y", true));
        assert_eq!(resolve(b"/a%2fx", &o), path("x", false));
        assert_eq!(resolve(b"/%61/x", &o), path("x", false));
        assert_eq!(resolve(b"http://h/a/x", &o), path("x", false));
        assert_eq!(resolve(b"/a/b/../x", &o), path("x", false));
        assert_eq!(resolve(b"/ab", &o), Err(Reject::NotFound));
        assert_eq!(resolve(b"/ab/x", &o), Err(Reject::NotFound));
        assert_eq!(resolve(b"/", &o), Err(Reject::NotFound));
        assert_eq!(resolve(b"/b/a/x", &o), Err(Reject::NotFound));
        assert_eq!(resolve(b"//a/x", &o), Err(Reject::NotFound));
        assert_eq!(resolve(b"/A/x", &o), Err(Reject::NotFound));
        assert_eq!(resolve(b"/./a/x", &o), Err(Reject::NotFound));
        assert_eq!(resolve(b"/b/../a/x", &o), Err(Reject::NotFound));
        // Dot segments can never cross the base boundary.
        assert_eq!(resolve(b"/a/..", &o), Err(Reject::BadRequest));
        assert_eq!(resolve(b"/a/../x", &o), Err(Reject::BadRequest));
        assert_eq!(resolve(b"/a/%2e%2e/x", &o), Err(Reject::BadRequest));
        assert_eq!(resolve(b"/a%2f..%2fx", &o), Err(Reject::BadRequest));
        // Encoding errors are 400 even outside the base.
        assert_eq!(resolve(b"/b/%00", &o), Err(Reject::BadRequest));
    }

    #[test]
    fn base_path_variants() {
        let o = opts("/a/", false);
        assert_eq!(resolve(b"/a", &o), path("", false));
        assert_eq!(resolve(b"/a/x", &o), path("x", false));
        assert_eq!(resolve(b"/ab", &o), Err(Reject::NotFound));
        let o = opts("/a/b", false);
        assert_eq!(resolve(b"/a/b/c", &o), path("c", false));
        assert_eq!(resolve(b"/a/bc", &o), Err(Reject::NotFound));
        assert_eq!(resolve(b"/a", &o), Err(Reject::NotFound));
        assert_eq!(resolve(b"/a/", &o), Err(Reject::NotFound));
        for root in ["/", "", "//"] {
            assert_eq!(resolve(b"/x", &opts(root, false)), path("x", false));
        }
        let o = opts("/caf\u{e9}", false);
        assert_eq!(resolve(b"/caf%C3%A9/x", &o), path("x", false));
    }

    #[test]
    fn dotfiles_hidden_by_default() {
        nf("/.git/config");
        nf("/.git");
        nf("/.git/");
        nf("/.env");
        nf("/a/.htpasswd");
        nf("/%2egit/config");
        nf("/%2Eenv");
        nf("/.git/../index.html");
        nf("/...");
        nf("/.well-known/.secret");
        nf("/.WELL-KNOWN/x");
        nf("/.well-knownx/x");
        nf("/a/.well-known/../.env");
    }

    #[test]
    fn well_known_always_allowed() {
        ok(
            "/.well-known/acme-challenge/tok",
            ".well-known/acme-challenge/tok",
            false,
        );
        ok(
            "/.well-known/security.txt",
            ".well-known/security.txt",
            false,
        );
        ok("/%2ewell-known/", ".well-known", true);
        ok("/a/.well-known/x", "a/.well-known/x", false);
    }

    #[test]
    fn dotfiles_when_enabled() {
        let o = opts("/", true);
        assert_eq!(resolve(b"/.env", &o), path(".env", false));
        assert_eq!(resolve(b"/.git/config", &o), path(".git/config", false));
        assert_eq!(resolve(b"/...", &o), path("...", false));
        assert_eq!(resolve(b"/.git/../x", &o), path("x", false));
        assert_eq!(resolve(b"/../.env", &o), Err(Reject::BadRequest));
        assert_eq!(resolve(b"/%2e%2e/.env", &o), Err(Reject::BadRequest));
    }

    #[test]
    fn percent_decode_direct() {
        assert_eq!(percent_decode(b""), Ok(vec![]));
        assert_eq!(percent_decode(b"a%41%6a%6A"), Ok(b"aAjj".to_vec()));
        assert_eq!(percent_decode(b"%00%ff"), Ok(vec![0, 0xff]));
        assert_eq!(percent_decode(b"%"), Err(Reject::BadRequest));
        assert_eq!(percent_decode(b"%a"), Err(Reject::BadRequest));
        assert_eq!(percent_decode(b"%xa"), Err(Reject::BadRequest));
    }

    #[test]
    fn encode_path_round_trips() {
        assert_eq!(encode_path("a b/caf\u{e9}?#%"), "a%20b/caf%C3%A9%3F%23%25");
        assert_eq!(encode_path("x/y-z_~.txt"), "x/y-z_~.txt");
        for rel in ["a b/c", "caf\u{e9}", "%2e%2e", "a?b#c", "\u{1f980}/;,"] {
            let target = format!("/{}", encode_path(rel));
            assert_eq!(r(target.as_bytes()), path(rel, false), "{target}");
        }
    }

    /// Deterministic fuzzing: ~100k generated targets built from tokens that
    /// matter for traversal plus random bytes. Checks that resolve never
    /// panics and that every accepted path satisfies the documented
    /// invariants and is a fixed point under re-encoding.
    #[test]
    fn generated_inputs_hold_invariants() {
        const TOKENS: &[&[u8]] = &[
            b"/",
            b"/",
            b"/",
            b".",
            b"..",
            b"%2e",
            b"%2E",
            b"%2f",
            b"%2F",
            b"%5c",
            b"\\",
            b"%00",
            b"\0",
            b"%",
            b"%2",
            b"%c0%ae",
            b"%c0",
            b"%ae",
            b"%e0%80%ae",
            b"a",
            b"b",
            b"x.html",
            b"\xc3\xa9",
            b"%C3%A9",
            b"%c3",
            b"?",
            b"#",
            b"%25",
            b"%252e",
            b"2e",
            b";",
            b".git",
            b".well-known",
            b"\r",
            b"%0d%0a",
            b"%ff",
            b"http://h",
            b"~",
            b" ",
            b"%20",
            b"*",
            b"%2e%2e",
            b"../",
            b"./",
        ];
        let option_sets = [
            opts("/", false),
            opts("/", true),
            opts("/a", false),
            opts("/a/b", true),
        ];
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut accepted = 0u32;
        for i in 0..100_000u32 {
            let mut t = Vec::new();
            if next() % 10 != 0 {
                t.push(b'/');
            }
            let n = next() % 12;
            for _ in 0..n {
                let v = next();
                if v % 16 == 0 {
                    t.push((v >> 8) as u8);
                } else {
                    let k = (v >> 8) as usize % TOKENS.len();
                    t.extend_from_slice(TOKENS.get(k).copied().unwrap_or_default());
                }
            }
            let o = &option_sets[i as usize % option_sets.len()];
            let Ok(Resolved::Path {
                relative,
                trailing_slash,
            }) = resolve(&t, o)
            else {
                continue;
            };
            accepted += 1;
            let shown = String::from_utf8_lossy(&t);
            assert!(!relative.starts_with('/'), "{shown:?} -> {relative:?}");
            assert!(
                !relative.contains('\\') && !relative.contains('\0'),
                "{shown:?}"
            );
            assert!(
                !relative.bytes().any(|b| b < 0x20 || b == 0x7f),
                "{shown:?}"
            );
            if !relative.is_empty() {
                for seg in relative.split('/') {
                    assert!(
                        !seg.is_empty() && seg != "." && seg != "..",
                        "{shown:?} -> {relative:?}"
                    );
                    if !o.show_dotfiles {
                        assert!(!seg.starts_with('.') || seg == WELL_KNOWN, "{shown:?}");
                    }
                }
            }
            // Fixed point: the canonical URL for the result resolves to it.
            let base = o.base_path.trim_end_matches('/');
            let mut again = format!("{base}/{}", encode_path(&relative));
            if trailing_slash && !relative.is_empty() {
                again.push('/');
            }
            // `again` always ends in '/' when the result is the root.
            let expect_trailing = trailing_slash || relative.is_empty();
            assert_eq!(
                resolve(again.as_bytes(), o),
                path(&relative, expect_trailing),
                "{shown:?} -> {again:?}"
            );
        }
        // The generator must actually exercise the accepting paths.
        assert!(accepted > 5_000, "only {accepted} accepted");
    }
}
