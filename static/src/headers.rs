//! Response headers by path (`--header 'PATTERN: Name: value'`), pure: parsing and checking a
//! rule, matching patterns against the path of the file served, and which headers a 304 keeps.
//!
//! Patterns are globs on the site-relative path of the file that is sent (after `--base-path`,
//! so `/` is matched as `/index.html` and a fallback page by its own name): `*` matches any run
//! of characters including `/`, `?` one character, anything else itself; a pattern starts with
//! `/` or `*`. For one header name the last matching rule wins, and a rule replaces the
//! server's own header of that name (`Cache-Control`, `Content-Type`, `Vary`, ...). Headers
//! that frame the message or are the server's validators cannot be set.

/// One `--header` rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    pub pattern: String,
    pub name: String,
    pub value: String,
}

/// Longest pattern, name and value accepted (a response head is bounded too).
const MAX_PATTERN: usize = 512;
const MAX_NAME: usize = 64;
const MAX_VALUE: usize = 4096;

/// Headers the server owns: framing, connection management and the validators it computes.
const RESERVED: &[&str] = &[
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "proxy-connection",
    "upgrade",
    "te",
    "trailer",
    "content-range",
    "content-encoding",
    "accept-ranges",
    "etag",
    "last-modified",
    "date",
    "server",
];

impl Rule {
    /// Parses `PATTERN: Name: value`.
    pub fn parse(spec: &str) -> Result<Rule, String> {
        let bad = |why: &str| format!("--header '{spec}': {why} (expected 'PATTERN: Name: value')");
        let (pattern, rest) = spec
            .split_once(':')
            .ok_or_else(|| bad("no ':' after the pattern"))?;
        let (name, value) = rest
            .split_once(':')
            .ok_or_else(|| bad("no ':' after the header name"))?;
        let (pattern, name, value) = (pattern.trim(), name.trim(), value.trim());
        if !(pattern.starts_with('/') || pattern.starts_with('*')) {
            return Err(bad("the pattern must start with '/' or '*'"));
        }
        if pattern.len() > MAX_PATTERN || !pattern.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(bad("the pattern must be visible ASCII, at most 512 bytes"));
        }
        if name.is_empty() || name.len() > MAX_NAME || !name.bytes().all(is_tchar) {
            return Err(bad("invalid header name"));
        }
        if RESERVED.iter().any(|r| r.eq_ignore_ascii_case(name)) {
            return Err(bad(&format!("{name} is set by the server")));
        }
        if value.is_empty()
            || value.len() > MAX_VALUE
            || !value
                .bytes()
                .all(|b| b == b'\t' || (0x20..0x7f).contains(&b))
        {
            return Err(bad(
                "the value must be 1 to 4096 bytes of visible ASCII, spaces or tabs",
            ));
        }
        Ok(Rule {
            pattern: pattern.to_string(),
            name: name.to_string(),
            value: value.to_string(),
        })
    }
}

/// Parses the rules of `STATIC_HEADERS`: one per line, blank lines ignored.
pub fn parse_lines(text: &str) -> Result<Vec<Rule>, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(Rule::parse)
        .collect()
}

/// The headers for `path`: each name once (the last matching rule's value), in the order the
/// names first matched.
pub fn for_path<'a>(rules: &'a [Rule], path: &str) -> Vec<(&'a str, &'a str)> {
    let mut out: Vec<(&str, &str)> = Vec::new();
    for rule in rules.iter().filter(|r| glob_match(&r.pattern, path)) {
        match out
            .iter_mut()
            .find(|(n, _)| n.eq_ignore_ascii_case(&rule.name))
        {
            Some(slot) => slot.1 = &rule.value,
            None => out.push((&rule.name, &rule.value)),
        }
    }
    out
}

/// Whether a 304 carries this header: RFC 9110 15.4.5 lists Content-Location, Date, ETag,
/// Vary, and Cache-Control and Expires.
pub fn goes_with_304(name: &str) -> bool {
    ["cache-control", "expires", "content-location", "vary"]
        .iter()
        .any(|n| n.eq_ignore_ascii_case(name))
}

/// Glob match: `*` any run (including `/`), `?` one byte. Linear backtracking on the last
/// star: O(pattern x path) at worst, and both are bounded.
pub fn glob_match(pattern: &str, path: &str) -> bool {
    let (p, s) = (pattern.as_bytes(), path.as_bytes());
    let (mut pi, mut si) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        match p.get(pi) {
            Some(b'*') => {
                star = Some((pi, si));
                pi += 1;
            }
            Some(&c) if c == b'?' || c == s[si] => {
                pi += 1;
                si += 1;
            }
            _ => match star {
                Some((sp, ss)) => {
                    pi = sp + 1;
                    si = ss + 1;
                    star = Some((sp, ss + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

/// RFC 9110 5.6.2 `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("/assets/*", "/assets/app.js"));
        assert!(glob_match("/assets/*", "/assets/js/app.js"));
        assert!(!glob_match("/assets/*", "/assetsx"));
        assert!(glob_match("*.html", "/index.html"));
        assert!(glob_match("*.html", "/a/b/c.html"));
        assert!(!glob_match("*.html", "/a.htm"));
        assert!(glob_match("/a?c", "/abc"));
        assert!(!glob_match("/a?c", "/ac"));
        assert!(glob_match("*", "/"));
        assert!(glob_match("/*/x/*.js", "/1/2/x/y.js"));
        assert!(!glob_match("/index.html", "/index.htmlx"));
        // Pathological patterns stay bounded (quadratic at worst).
        let path = "/".to_string() + &"a".repeat(4000);
        assert!(!glob_match("*a*a*a*a*a*b", &path));
    }

    #[test]
    fn rules_parse_and_refuse() {
        let r =
            Rule::parse("/assets/*: Cache-Control: public, max-age=31536000, immutable").unwrap();
        assert_eq!(r.pattern, "/assets/*");
        assert_eq!(r.name, "Cache-Control");
        assert_eq!(r.value, "public, max-age=31536000, immutable");
        let csp = Rule::parse("*.html: Content-Security-Policy: default-src 'self'").unwrap();
        assert_eq!(csp.value, "default-src 'self'");
        for bad in [
            "no colon",
            "/x: NoValue",
            "x: Name: v",
            "/x: Bad Name: v",
            "/x: Content-Length: 5",
            "/x: transfer-encoding: chunked",
            "/x: ETag: \"a\"",
            "/x: Name: ",
            "/x: Name: bad\u{7f}",
            "/x y: Name: v",
        ] {
            assert!(Rule::parse(bad).is_err(), "{bad}");
        }
        assert!(Rule::parse(&format!("/x: N: {}", "v".repeat(4097))).is_err());
    }

    #[test]
    fn last_rule_wins_per_name() {
        let rules = parse_lines(
            "*: Cache-Control: no-cache\n\n/assets/*: Cache-Control: max-age=60\n*.js: X-A: 1\n",
        )
        .unwrap();
        assert_eq!(
            for_path(&rules, "/assets/app.js"),
            [("Cache-Control", "max-age=60"), ("X-A", "1")]
        );
        assert_eq!(
            for_path(&rules, "/index.html"),
            [("Cache-Control", "no-cache")]
        );
    }

    #[test]
    fn headers_of_a_304() {
        assert!(goes_with_304("Cache-Control"));
        assert!(goes_with_304("expires"));
        assert!(!goes_with_304("Content-Security-Policy"));
    }
}
