//! The path the proxy routes on and forwards: the request path normalised as RFC 3986
//! section 6.2.2 describes, so that the route decision and what the upstream receives are the
//! same thing.
//!
//! - Percent-escapes of unreserved characters are decoded (`%2e` is `.`, `%41` is `A`; 6.2.2.2);
//!   other escapes are kept, with uppercase hex digits (6.2.2.1).
//! - Dot segments are removed (5.2.4 remove_dot_segments); one that would climb above `/` is
//!   an error, not clamped: such a request was written to probe, not by a browser.
//! - An encoded `/` or `\` (`%2f`, `%5c`) is an error: upstreams disagree on whether it
//!   separates segments (many decode it first), so any choice here would let a path mean one
//!   thing to the route and another to the upstream. A raw `\` likewise (IIS and others treat it
//!   as `/`). A segment that is a dot segment followed by parameters (`..;x`, `.;x`) is an
//!   error: Tomcat and Jetty strip the parameters and then climb.
//!
//! Pure: bytes in, bytes out; total on every input.

use common::http::headers::hex_value;

/// Why a path is refused (the request gets 400).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PathError {
    /// Not starting with `/`.
    NotAbsolute,
    /// `%` not followed by two hex digits.
    BadEscape,
    /// `%2f`, `%5c` or a raw `\`.
    EncodedSeparator,
    /// `..` above the root.
    AboveRoot,
    /// `..;params` or `.;params`.
    DotSegmentParams,
}

impl PathError {
    pub fn reason(self) -> &'static str {
        match self {
            PathError::NotAbsolute => "path does not start with '/'",
            PathError::BadEscape => "malformed percent-escape in path",
            PathError::EncodedSeparator => "encoded '/' or '\\' in path",
            PathError::AboveRoot => "path climbs above '/'",
            PathError::DotSegmentParams => "dot segment with parameters in path",
        }
    }
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// Decodes unreserved escapes of `raw` into `out` (cleared first) and refuses separators.
fn decode_unreserved(raw: &[u8], out: &mut Vec<u8>) -> Result<(), PathError> {
    out.clear();
    let mut i = 0;
    while i < raw.len() {
        let b = raw[i];
        match b {
            b'%' => {
                let (Some(hi), Some(lo)) = (
                    raw.get(i + 1).copied().and_then(hex_value),
                    raw.get(i + 2).copied().and_then(hex_value),
                ) else {
                    return Err(PathError::BadEscape);
                };
                let v = hi << 4 | lo;
                if v == b'/' || v == b'\\' {
                    return Err(PathError::EncodedSeparator);
                }
                if is_unreserved(v) {
                    out.push(v);
                } else {
                    const HEX: &[u8; 16] = b"0123456789ABCDEF";
                    out.extend_from_slice(&[b'%', HEX[usize::from(hi)], HEX[usize::from(lo)]]);
                }
                i += 3;
            }
            b'\\' => return Err(PathError::EncodedSeparator),
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    Ok(())
}

/// Normalises `raw` (an absolute path, without query) into `out`; `scratch` is working space.
/// Both vectors are cleared first and keep their allocations between calls.
pub fn normalize_path(
    raw: &[u8],
    out: &mut Vec<u8>,
    scratch: &mut Vec<u8>,
) -> Result<(), PathError> {
    if raw.first() != Some(&b'/') {
        return Err(PathError::NotAbsolute);
    }
    decode_unreserved(raw, scratch)?;
    out.clear();
    let segments = scratch[1..].split(|&b| b == b'/');
    let count = scratch[1..].iter().filter(|&&b| b == b'/').count() + 1;
    for (i, segment) in segments.enumerate() {
        let last = i + 1 == count;
        let bare = segment
            .iter()
            .position(|&b| b == b';')
            .map_or(segment, |p| &segment[..p]);
        if (bare == b"." || bare == b"..") && bare.len() != segment.len() {
            return Err(PathError::DotSegmentParams);
        }
        match segment {
            b"." => {}
            b".." => {
                // Remove the last output segment with its leading '/'.
                let Some(cut) = out.iter().rposition(|&b| b == b'/') else {
                    return Err(PathError::AboveRoot);
                };
                out.truncate(cut);
            }
            _ => {
                out.push(b'/');
                out.extend_from_slice(segment);
                continue;
            }
        }
        if last {
            // "/a/b/.." is "/a/": a final dot segment leaves a directory.
            out.push(b'/');
        }
    }
    if out.is_empty() {
        out.push(b'/');
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(p: &str) -> Result<String, PathError> {
        let (mut out, mut scratch) = (Vec::new(), Vec::new());
        normalize_path(p.as_bytes(), &mut out, &mut scratch)
            .map(|()| String::from_utf8(out).unwrap())
    }

    #[test]
    fn dot_segments_are_removed() {
        for (input, want) in [
            ("/", "/"),
            ("/a", "/a"),
            ("/a/", "/a/"),
            ("/a/./b", "/a/b"),
            ("/a/b/../c", "/a/c"),
            ("/a/b/..", "/a/"),
            ("/a/b/.", "/a/b/"),
            ("/a/..", "/"),
            ("/./", "/"),
            ("/.", "/"),
            ("/a//b", "/a//b"),
            ("/a/b/../../c", "/c"),
            ("/a/.../b", "/a/.../b"),
            ("/a/..b/c", "/a/..b/c"),
            ("/%2e/a", "/a"),
            ("/a/%2E%2E/b", "/b"),
            ("/a/.%2e/b", "/b"),
            ("/%7Euser/%41", "/~user/A"),
            ("/a%20b", "/a%20b"),
            ("/a%c3%a9", "/a%C3%A9"),
            ("/a;v=1/b", "/a;v=1/b"),
        ] {
            assert_eq!(norm(input).as_deref(), Ok(want), "{input}");
        }
    }

    #[test]
    fn escapes_and_climbs_are_refused() {
        for (input, err) in [
            ("a", PathError::NotAbsolute),
            ("", PathError::NotAbsolute),
            ("/..", PathError::AboveRoot),
            ("/../a", PathError::AboveRoot),
            ("/a/../..", PathError::AboveRoot),
            ("/%2e%2e/x", PathError::AboveRoot),
            ("/a%2fb", PathError::EncodedSeparator),
            ("/a%2Fb", PathError::EncodedSeparator),
            ("/a%5cb", PathError::EncodedSeparator),
            ("/a\\b", PathError::EncodedSeparator),
            ("/a%", PathError::BadEscape),
            ("/a%4", PathError::BadEscape),
            ("/a%zz", PathError::BadEscape),
            ("/a/..;/b", PathError::DotSegmentParams),
            ("/a/.;x/b", PathError::DotSegmentParams),
            ("/a/%2e%2e;/b", PathError::DotSegmentParams),
        ] {
            assert_eq!(norm(input), Err(err), "{input}");
        }
    }

    #[test]
    fn output_is_a_fixed_point() {
        for input in ["/a/./b/../c/", "/%7e/x%3a", "/a/b/..", "//x/../y"] {
            let once = norm(input).unwrap();
            assert_eq!(norm(&once).unwrap(), once, "{input}");
        }
    }
}
