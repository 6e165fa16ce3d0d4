//! Header-field helpers shared by request parsing, responses and the proxy's rewriting:
//! case-insensitive lookup, iteration over repeated fields, comma-separated token lists.
//! Pure functions over httparse's header slices; no allocation.

/// All values of header `name` (case-insensitive), in order.
pub fn values<'h, 'b: 'h>(
    headers: &'h [httparse::Header<'b>],
    name: &'h str,
) -> impl Iterator<Item = &'b [u8]> + Clone + 'h {
    headers
        .iter()
        .filter(move |h| h.name.eq_ignore_ascii_case(name))
        .map(|h| h.value)
}

/// The first value of header `name`.
pub fn find<'b>(headers: &[httparse::Header<'b>], name: &str) -> Option<&'b [u8]> {
    headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case(name))
        .map(|h| h.value)
}

/// The elements of a comma-separated list (`#token` in RFC 9110), trimmed of optional white
/// space. Empty elements are kept so callers can reject them where the grammar forbids them;
/// a value made only of white space yields nothing.
pub fn tokens(value: &[u8]) -> impl Iterator<Item = &[u8]> + Clone {
    let blank = value.iter().all(|b| *b == b' ' || *b == b'\t');
    value
        .split(|&b| b == b',')
        .map(trim)
        .filter(move |_| !blank)
}

/// True when any value in `values` lists `token` (case-insensitive).
pub fn has_token<'a>(mut values: impl Iterator<Item = &'a [u8]>, token: &str) -> bool {
    values.any(|v| tokens(v).any(|t| t.eq_ignore_ascii_case(token.as_bytes())))
}

/// The value of one hexadecimal digit (percent-escapes, chunk sizes).
pub fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Trims spaces and tabs at both ends.
pub fn trim(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// RFC 9110 `token`: one or more tchar.
pub fn is_token(s: &[u8]) -> bool {
    !s.is_empty()
        && s.iter().all(|&b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'!' | b'#'
                        | b'$'
                        | b'%'
                        | b'&'
                        | b'\''
                        | b'*'
                        | b'+'
                        | b'-'
                        | b'.'
                        | b'^'
                        | b'_'
                        | b'`'
                        | b'|'
                        | b'~'
                )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_lists() {
        let v: Vec<&[u8]> = tokens(b" keep-alive ,Upgrade,, close").collect();
        assert_eq!(v, vec![&b"keep-alive"[..], b"Upgrade", b"", b"close"]);
        assert_eq!(tokens(b"  ").count(), 0);
        assert!(has_token([&b"a, Close"[..]].into_iter(), "close"));
        assert!(!has_token([&b"closed"[..]].into_iter(), "close"));
    }

    #[test]
    fn lookup_is_case_insensitive() {
        let headers = [
            httparse::Header {
                name: "Host",
                value: b"a",
            },
            httparse::Header {
                name: "X-Y",
                value: b"1",
            },
            httparse::Header {
                name: "x-y",
                value: b"2",
            },
        ];
        assert_eq!(find(&headers, "host"), Some(&b"a"[..]));
        assert_eq!(
            values(&headers, "X-y").collect::<Vec<_>>(),
            vec![&b"1"[..], b"2"]
        );
        assert_eq!(find(&headers, "z"), None);
    }

    #[test]
    fn token_syntax() {
        assert!(is_token(b"chunked"));
        assert!(!is_token(b"chunked;q=1"));
        assert!(!is_token(b""));
        assert!(!is_token(b"a b"));
    }
}
