//! Validators, conditional requests and byte ranges (RFC 9110 §8.8, §13, §14),
//! plus `Accept-Encoding` negotiation for precompressed files.
//!
//! Owns: the ETag format, parsing of `If-Match`, `If-None-Match`,
//! `If-Modified-Since`, `If-Unmodified-Since`, `If-Range`, `Range` and
//! `Accept-Encoding`, and the §13.2.2 precedence that turns them into one
//! [`Outcome`].
//!
//! Must not: do I/O, build responses or headers (the caller maps [`Outcome`]
//! to 200/206/304/412/416 and writes `Content-Range`), or panic on any header
//! value. Every malformed input degrades to the safe, RFC-sanctioned
//! behaviour: ignore the header and send the full representation, except
//! `If-Match`, where "no match" (412) is the only safe reading.

use common::http::date;

/// Strong entity-tag for a file served byte-for-byte as stored.
///
/// Why this is a sound *strong* validator: the body we send is exactly the
/// file's bytes, and any write changes the mtime (nanosecond resolution on
/// modern filesystems) and usually the size, while atomic-rename deploys
/// change the inode even when size and mtime are preserved (`cp -p`,
/// `rsync -t`). Each precompressed variant (`x.js.br`) is its own file, so it
/// gets its own tag, as strong validators require per representation. The
/// residual risk, a same-size rewrite within one timestamp tick on a
/// coarse-mtime filesystem, is shared by every mtime-based server (nginx,
/// Apache) and accepted. The inode is cheap to add and leaks nothing useful.
///
/// Format: `"<mtime ns hex>-<size hex>-<inode hex>"`, quoted, ASCII only.
pub fn etag(size: u64, mtime_secs: u64, mtime_nanos: u32, ino: u64) -> String {
    // u128 cannot overflow: (2^64 - 1) * 10^9 + 2^32 < 2^128.
    let mtime_ns = u128::from(mtime_secs) * 1_000_000_000 + u128::from(mtime_nanos);
    format!("\"{mtime_ns:x}-{size:x}-{ino:x}\"")
}

/// Raw request header values (OWS-trimmed or not; repeated headers combined
/// by the caller with ", ", which is valid list syntax for the list-valued
/// ones and makes the single-valued ones invalid, hence ignored, as RFC 9110
/// asks for e.g. a multi-member `If-Modified-Since`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Conditions<'a> {
    pub if_match: Option<&'a [u8]>,
    pub if_none_match: Option<&'a [u8]>,
    pub if_modified_since: Option<&'a [u8]>,
    pub if_unmodified_since: Option<&'a [u8]>,
    pub if_range: Option<&'a [u8]>,
    pub range: Option<&'a [u8]>,
}

/// What to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// 200 with the whole body.
    Full,
    /// 304, no body.
    NotModified,
    /// 412, no body.
    PreconditionFailed,
    /// 206 with `Content-Range: bytes start-end_inclusive/size`.
    /// Always `start <= end_inclusive < size`.
    Partial { start: u64, end_inclusive: u64 },
    /// 416 with `Content-Range: bytes */size`.
    NotSatisfiable,
}

/// Evaluates the conditional headers in RFC 9110 §13.2.2 order, then `Range`.
///
/// `etag` is the quoted tag from [`etag`]; `last_modified_secs` the value sent
/// as `Last-Modified`; `size` the full body length.
///
/// Range is honoured only when `is_get_or_head` is true. RFC 9110 §14.2 says
/// Range MUST be ignored for any method but GET, so for HEAD the caller must
/// pass `range: None` (a HEAD then reports the 200 headers a plain GET
/// would get). Only single ranges are served: a multi-range request gets the
/// full body (allowed by §14.2) because `multipart/byteranges` adds
/// complexity for a feature browsers and media players do not need, and it
/// sidesteps the many-small-ranges amplification attack.
pub fn evaluate(
    c: &Conditions,
    is_get_or_head: bool,
    etag: &str,
    last_modified_secs: u64,
    size: u64,
) -> Outcome {
    let ours = own_tag(etag);

    // Steps 1-2: If-Match, else If-Unmodified-Since (ignored if not a date).
    if let Some(v) = c.if_match {
        if !list_matches(v, ours, strong_eq) {
            return Outcome::PreconditionFailed;
        }
    } else if let Some(since) = c.if_unmodified_since.and_then(date::parse) {
        if last_modified_secs > since {
            return Outcome::PreconditionFailed;
        }
    }

    // Steps 3-4: If-None-Match, else If-Modified-Since (GET/HEAD only).
    if let Some(v) = c.if_none_match {
        if list_matches(v, ours, weak_eq) {
            return if is_get_or_head {
                Outcome::NotModified
            } else {
                Outcome::PreconditionFailed
            };
        }
    } else if is_get_or_head {
        if let Some(since) = c.if_modified_since.and_then(date::parse) {
            if last_modified_secs <= since {
                return Outcome::NotModified;
            }
        }
    }

    // Step 5: Range, guarded by If-Range.
    let Some(range) = c.range.filter(|_| is_get_or_head) else {
        return Outcome::Full;
    };
    if let Some(v) = c.if_range {
        if !if_range_matches(v, ours, last_modified_secs) {
            return Outcome::Full;
        }
    }
    match parse_single_range(range) {
        Some(spec) => satisfy(spec, size),
        None => Outcome::Full,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Tag<'a> {
    weak: bool,
    /// Between the quotes.
    opaque: &'a [u8],
}

fn strong_eq(a: Tag, b: Tag) -> bool {
    !a.weak && !b.weak && a.opaque == b.opaque
}

fn weak_eq(a: Tag, b: Tag) -> bool {
    a.opaque == b.opaque
}

/// Our own tag; `None` only if the caller passed something malformed, in
/// which case no client tag can match it (but `*` still does).
fn own_tag(etag: &str) -> Option<Tag<'_>> {
    match parse_tag(etag.as_bytes().trim_ascii()) {
        Some((t, [])) => Some(t),
        _ => None,
    }
}

/// Parses one `entity-tag` at the start of `s`: `[W/] DQUOTE *etagc DQUOTE`.
/// Commas are legal inside the quotes, which is why lists are not split on
/// ',' up front.
fn parse_tag(s: &[u8]) -> Option<(Tag<'_>, &[u8])> {
    let (weak, s) = match s {
        [b'W', b'/', rest @ ..] => (true, rest),
        _ => (false, s),
    };
    let [b'"', rest @ ..] = s else {
        return None;
    };
    let end = rest.iter().position(|&b| b == b'"')?;
    let (opaque, after) = rest.split_at(end);
    let etagc = |b: u8| b == 0x21 || (0x23..=0x7e).contains(&b) || b >= 0x80;
    if !opaque.iter().all(|&b| etagc(b)) {
        return None;
    }
    Some((Tag { weak, opaque }, after.get(1..)?))
}

/// `*` or `1#entity-tag`. True for `*` or when any listed tag equals ours
/// under `eq`; false for no match and for malformed values (ignoring a
/// malformed If-None-Match means sending 200; for If-Match it means 412).
fn list_matches(value: &[u8], ours: Option<Tag>, eq: fn(Tag, Tag) -> bool) -> bool {
    let v = trim_ows(value);
    if v == b"*" {
        return true;
    }
    let mut rest = v;
    let mut found = false;
    let mut any = false;
    loop {
        // Empty list elements are allowed for recipients (RFC 9110 §5.6.1.2).
        while let [b' ' | b'\t' | b',', tail @ ..] = rest {
            rest = tail;
        }
        if rest.is_empty() {
            break;
        }
        let Some((tag, after)) = parse_tag(rest) else {
            return false;
        };
        any = true;
        found |= ours.is_some_and(|o| eq(tag, o));
        rest = trim_ows(after);
        if !matches!(rest, [] | [b',', ..]) {
            return false;
        }
    }
    any && found
}

/// `If-Range = entity-tag / HTTP-date`: a strong tag match or a date exactly
/// equal to Last-Modified. Weak tags never match (§13.1.5), and anything
/// unparsable fails, so the client gets the full, consistent body.
fn if_range_matches(value: &[u8], ours: Option<Tag>, last_modified_secs: u64) -> bool {
    let v = trim_ows(value);
    if let [b'"' | b'W', ..] = v {
        if let Some((tag, rest)) = parse_tag(v) {
            if trim_ows(rest).is_empty() {
                return ours.is_some_and(|o| strong_eq(tag, o));
            }
        }
        // Not a complete tag: "Wed, ..." is a date, so fall through to the
        // date parser, which rejects everything else.
    }
    date::parse(v) == Some(last_modified_secs)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Spec {
    /// `first-last` or `first-` (last = None).
    From(u64, Option<u64>),
    /// `-n`: the last n bytes.
    Suffix(u64),
}

/// Parses `bytes=<spec>` with exactly one non-empty range-spec. `None` means
/// "ignore the header": wrong unit, syntax error (including `last < first`
/// and numbers overflowing u64), or more than one range. OWS around list
/// elements is tolerated (`bytes= 0-1`), as nginx does; none inside a spec.
fn parse_single_range(value: &[u8]) -> Option<Spec> {
    let v = trim_ows(value);
    let eq = v.iter().position(|&b| b == b'=')?;
    let (unit, set) = v.split_at(eq);
    // Range units are case-insensitive (§14.1).
    if !unit.eq_ignore_ascii_case(b"bytes") {
        return None;
    }
    let mut single = None;
    for elem in set.get(1..)?.split(|&b| b == b',') {
        let elem = trim_ows(elem);
        if elem.is_empty() {
            continue;
        }
        let spec = parse_spec(elem)?;
        if single.replace(spec).is_some() {
            return None;
        }
    }
    single
}

fn parse_spec(s: &[u8]) -> Option<Spec> {
    let dash = s.iter().position(|&b| b == b'-')?;
    let (first, last) = s.split_at(dash);
    let last = last.get(1..)?;
    if first.is_empty() {
        return Some(Spec::Suffix(number(last)?));
    }
    let first = number(first)?;
    if last.is_empty() {
        return Some(Spec::From(first, None));
    }
    let last = number(last)?;
    (first <= last).then_some(Spec::From(first, Some(last)))
}

/// `1*DIGIT` as u64; `None` on empty, non-digits or overflow.
fn number(s: &[u8]) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    s.iter().try_fold(0u64, |acc, &b| {
        if !b.is_ascii_digit() {
            return None;
        }
        acc.checked_mul(10)?.checked_add(u64::from(b - b'0'))
    })
}

fn satisfy(spec: Spec, size: u64) -> Outcome {
    let Some(last_byte) = size.checked_sub(1) else {
        // Nothing of an empty body can be selected.
        return Outcome::NotSatisfiable;
    };
    match spec {
        Spec::From(start, _) if start > last_byte => Outcome::NotSatisfiable,
        Spec::From(start, last) => Outcome::Partial {
            start,
            end_inclusive: last.map_or(last_byte, |l| l.min(last_byte)),
        },
        Spec::Suffix(0) => Outcome::NotSatisfiable,
        // A suffix longer than the body selects all of it (§14.1.3).
        Spec::Suffix(n) => Outcome::Partial {
            start: size.saturating_sub(n),
            end_inclusive: last_byte,
        },
    }
}

/// Whether `coding` (e.g. "br", "gzip") is acceptable per an
/// `Accept-Encoding` value (RFC 9110 §12.5.3): [`encoding_weight`] above 0.
pub fn accepts_encoding(accept_encoding: &[u8], coding: &str) -> bool {
    encoding_weight(accept_encoding, coding) > 0
}

/// How much the client wants `coding`, in thousandths (`q=0.5` is 500), per an
/// `Accept-Encoding` value (RFC 9110 §12.5.3).
///
/// An explicit entry for the coding wins over `*`; `q=0` means "not
/// acceptable"; an entry whose parameters are malformed (bad qvalue, unknown
/// parameter) counts as not acceptable; if the coding is listed more than
/// once, the lowest weight counts (the conservative reading of a confused
/// client). Without any match only `identity` is acceptable, with the
/// lowest positive weight (1), so that any coding the client lists is
/// preferred to it. The caller decides what a *missing* header means (we
/// recommend: no compression).
pub fn encoding_weight(accept_encoding: &[u8], coding: &str) -> u16 {
    let coding = coding.as_bytes();
    let mut explicit: Option<u16> = None;
    let mut wildcard: Option<u16> = None;
    for entry in accept_encoding.split(|&b| b == b',') {
        let mut parts = entry.split(|&b| b == b';');
        let name = trim_ows(parts.next().unwrap_or_default());
        if name.is_empty() {
            continue;
        }
        let weight = entry_weight(parts);
        let slot = if name.eq_ignore_ascii_case(coding) {
            &mut explicit
        } else if name == b"*" {
            &mut wildcard
        } else {
            continue;
        };
        *slot = Some(slot.map_or(weight, |w| w.min(weight)));
    }
    explicit
        .or(wildcard)
        .unwrap_or_else(|| u16::from(coding.eq_ignore_ascii_case(b"identity")))
}

/// The weight of one entry: 1000 without parameters, its `q=` otherwise;
/// 0 when the parameters are anything but exactly one valid `q=`.
fn entry_weight<'a>(params: impl Iterator<Item = &'a [u8]>) -> u16 {
    let mut q = None;
    for p in params {
        let p = trim_ows(p);
        let val = match p {
            [b'q' | b'Q', b'=', val @ ..] if q.is_none() => val,
            _ => return 0,
        };
        match qvalue(val) {
            Some(v) => q = Some(v),
            None => return 0,
        }
    }
    q.unwrap_or(1000)
}

/// `qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )` in
/// thousandths.
fn qvalue(v: &[u8]) -> Option<u16> {
    let (int, frac) = match v {
        [i] => (*i, &[][..]),
        [i, b'.', frac @ ..] if frac.len() <= 3 => (*i, frac),
        _ => return None,
    };
    let mut thousandths: u16 = 0;
    let mut scale: u16 = 100;
    for &d in frac {
        if !d.is_ascii_digit() {
            return None;
        }
        thousandths += u16::from(d - b'0') * scale;
        scale /= 10;
    }
    match int {
        b'0' => Some(thousandths),
        b'1' if thousandths == 0 => Some(1000),
        _ => None,
    }
}

fn trim_ows(mut v: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = v {
        v = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = v {
        v = rest;
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    const TAG: &str = "\"abc\"";
    /// Sun, 06 Nov 1994 08:49:37 GMT
    const LM: u64 = 784_111_777;
    const LM_STR: &[u8] = b"Sun, 06 Nov 1994 08:49:37 GMT";
    const BEFORE: &[u8] = b"Sun, 06 Nov 1994 08:49:36 GMT";
    const AFTER: &[u8] = b"Sun, 06 Nov 1994 08:49:38 GMT";
    const SIZE: u64 = 1000;

    fn get(c: Conditions) -> Outcome {
        evaluate(&c, true, TAG, LM, SIZE)
    }

    fn post(c: Conditions) -> Outcome {
        evaluate(&c, false, TAG, LM, SIZE)
    }

    fn range(r: &str) -> Outcome {
        get(Conditions {
            range: Some(r.as_bytes()),
            ..Default::default()
        })
    }

    fn part(start: u64, end_inclusive: u64) -> Outcome {
        Outcome::Partial {
            start,
            end_inclusive,
        }
    }

    use Outcome::{Full, NotModified, NotSatisfiable, PreconditionFailed};

    #[test]
    fn etag_format() {
        assert_eq!(etag(0, 0, 0, 0), "\"0-0-0\"");
        assert_eq!(etag(255, 1, 5, 16), "\"3b9aca05-ff-10\"");
        let e = etag(u64::MAX, u64::MAX, u32::MAX, u64::MAX);
        assert!(own_tag(&e).is_some_and(|t| !t.weak));
        assert_ne!(etag(1, 2, 3, 4), etag(1, 2, 4, 4));
        assert_ne!(etag(1, 2, 3, 4), etag(2, 2, 3, 4));
        assert_ne!(etag(1, 2, 3, 4), etag(1, 2, 3, 5));
    }

    #[test]
    fn no_conditions() {
        assert_eq!(get(Conditions::default()), Full);
        assert_eq!(post(Conditions::default()), Full);
    }

    #[test]
    fn if_match() {
        let c = |v: &'static [u8]| Conditions {
            if_match: Some(v),
            ..Default::default()
        };
        assert_eq!(get(c(b"\"abc\"")), Full);
        assert_eq!(get(c(b"*")), Full);
        assert_eq!(get(c(b" * ")), Full);
        assert_eq!(get(c(b"\"x\", \"abc\"")), Full);
        assert_eq!(get(c(b"\"x\",\"abc\" ,")), Full);
        assert_eq!(get(c(b"\"x\"")), PreconditionFailed);
        // Strong comparison: weak tags never match.
        assert_eq!(get(c(b"W/\"abc\"")), PreconditionFailed);
        assert_eq!(get(c(b"abc")), PreconditionFailed);
        assert_eq!(get(c(b"")), PreconditionFailed);
        assert_eq!(get(c(b"\"abc\" \"x\"")), PreconditionFailed);
        assert_eq!(get(c(b"*, \"abc\"")), PreconditionFailed);
        assert_eq!(post(c(b"\"nope\"")), PreconditionFailed);
        assert_eq!(post(c(b"\"abc\"")), Full);
        // Our own tag being weak means If-Match can never match it.
        let weak = Conditions {
            if_match: Some(b"W/\"abc\""),
            ..Default::default()
        };
        assert_eq!(
            evaluate(&weak, true, "W/\"abc\"", LM, SIZE),
            PreconditionFailed
        );
    }

    #[test]
    fn if_match_takes_precedence_over_if_unmodified_since() {
        let c = Conditions {
            if_match: Some(b"\"abc\""),
            if_unmodified_since: Some(BEFORE),
            ..Default::default()
        };
        assert_eq!(get(c), Full);
    }

    #[test]
    fn if_unmodified_since() {
        let c = |v: &'static [u8]| Conditions {
            if_unmodified_since: Some(v),
            ..Default::default()
        };
        assert_eq!(get(c(LM_STR)), Full);
        assert_eq!(get(c(AFTER)), Full);
        assert_eq!(get(c(BEFORE)), PreconditionFailed);
        assert_eq!(post(c(BEFORE)), PreconditionFailed);
        assert_eq!(get(c(b"garbage")), Full);
        assert_eq!(
            get(c(b"Sunday, 06-Nov-94 08:49:36 GMT")),
            PreconditionFailed
        );
    }

    #[test]
    fn if_none_match() {
        let c = |v: &'static [u8]| Conditions {
            if_none_match: Some(v),
            ..Default::default()
        };
        assert_eq!(get(c(b"\"abc\"")), NotModified);
        // Weak comparison.
        assert_eq!(get(c(b"W/\"abc\"")), NotModified);
        assert_eq!(get(c(b"*")), NotModified);
        assert_eq!(get(c(b"\"x\", W/\"abc\"")), NotModified);
        assert_eq!(get(c(b"  \"x\" ,\t\"y\",  \"abc\"  ")), NotModified);
        assert_eq!(get(c(b"\"a,b\", \"abc\"")), NotModified);
        assert_eq!(get(c(b"\"x\"")), Full);
        assert_eq!(get(c(b"\"ABC\"")), Full);
        assert_eq!(get(c(b"w/\"abc\"")), Full);
        assert_eq!(get(c(b"abc")), Full);
        assert_eq!(get(c(b"\"abc")), Full);
        assert_eq!(get(c(b"\"abc\"x")), Full);
        assert_eq!(get(c(b"\"ab c\"")), Full);
        assert_eq!(get(c(b"")), Full);
        assert_eq!(get(c(b",")), Full);
        assert_eq!(post(c(b"\"abc\"")), PreconditionFailed);
        assert_eq!(post(c(b"*")), PreconditionFailed);
        assert_eq!(post(c(b"\"x\"")), Full);
    }

    #[test]
    fn if_none_match_takes_precedence_over_if_modified_since() {
        // Tag differs: full response even though the date says unmodified.
        let c = Conditions {
            if_none_match: Some(b"\"old\""),
            if_modified_since: Some(AFTER),
            ..Default::default()
        };
        assert_eq!(get(c), Full);
        // Tag matches: 304 even though the date says modified.
        let c = Conditions {
            if_none_match: Some(b"\"abc\""),
            if_modified_since: Some(BEFORE),
            ..Default::default()
        };
        assert_eq!(get(c), NotModified);
    }

    #[test]
    fn if_modified_since() {
        let c = |v: &'static [u8]| Conditions {
            if_modified_since: Some(v),
            ..Default::default()
        };
        assert_eq!(get(c(LM_STR)), NotModified);
        assert_eq!(get(c(AFTER)), NotModified);
        assert_eq!(get(c(BEFORE)), Full);
        assert_eq!(get(c(b"Sun Nov  6 08:49:37 1994")), NotModified);
        assert_eq!(get(c(b"not a date")), Full);
        assert_eq!(
            get(c(
                b"Sun, 06 Nov 1994 08:49:37 GMT, Sun, 06 Nov 1994 08:49:37 GMT"
            )),
            Full
        );
        // Only GET/HEAD.
        assert_eq!(post(c(LM_STR)), Full);
    }

    #[test]
    fn precondition_failure_beats_not_modified() {
        let c = Conditions {
            if_match: Some(b"\"other\""),
            if_none_match: Some(b"\"abc\""),
            ..Default::default()
        };
        assert_eq!(get(c), PreconditionFailed);
        let c = Conditions {
            if_unmodified_since: Some(BEFORE),
            if_modified_since: Some(AFTER),
            ..Default::default()
        };
        assert_eq!(get(c), PreconditionFailed);
    }

    #[test]
    fn not_modified_beats_range() {
        let c = Conditions {
            if_none_match: Some(b"\"abc\""),
            range: Some(b"bytes=0-1"),
            ..Default::default()
        };
        assert_eq!(get(c), NotModified);
    }

    #[test]
    fn single_ranges() {
        assert_eq!(range("bytes=0-0"), part(0, 0));
        assert_eq!(range("bytes=0-499"), part(0, 499));
        assert_eq!(range("bytes=500-999"), part(500, 999));
        assert_eq!(range("bytes=500-"), part(500, 999));
        assert_eq!(range("bytes=999-"), part(999, 999));
        assert_eq!(range("bytes=900-5000"), part(900, 999));
        assert_eq!(range("bytes=-1"), part(999, 999));
        assert_eq!(range("bytes=-500"), part(500, 999));
        assert_eq!(range("bytes=-1000"), part(0, 999));
        assert_eq!(range("bytes=-5000"), part(0, 999));
        assert_eq!(range("BYTES=1-2"), part(1, 2));
        assert_eq!(range("Bytes=0-"), part(0, 999));
        assert_eq!(range("bytes=00001-00002"), part(1, 2));
        assert_eq!(range("bytes=0-18446744073709551615"), part(0, 999));
    }

    #[test]
    fn range_whitespace_and_empty_elements() {
        assert_eq!(range("bytes= 0-1"), part(0, 1));
        assert_eq!(range(" bytes=0-1 "), part(0, 1));
        assert_eq!(range("bytes=0-1 ,"), part(0, 1));
        assert_eq!(range("bytes=,0-1"), part(0, 1));
        assert_eq!(range("bytes=0 -1"), Full);
        assert_eq!(range("bytes=0- 1"), Full);
        assert_eq!(range("bytes =0-1"), Full);
    }

    #[test]
    fn unsatisfiable_ranges() {
        assert_eq!(range("bytes=1000-"), NotSatisfiable);
        assert_eq!(range("bytes=1000-2000"), NotSatisfiable);
        assert_eq!(range("bytes=18446744073709551615-"), NotSatisfiable);
        assert_eq!(range("bytes=-0"), NotSatisfiable);
        let empty = |r: &'static [u8]| {
            evaluate(
                &Conditions {
                    range: Some(r),
                    ..Default::default()
                },
                true,
                TAG,
                LM,
                0,
            )
        };
        assert_eq!(empty(b"bytes=0-"), NotSatisfiable);
        assert_eq!(empty(b"bytes=0-0"), NotSatisfiable);
        assert_eq!(empty(b"bytes=-5"), NotSatisfiable);
        assert_eq!(empty(b"bytes=5-2"), Full);
    }

    #[test]
    fn invalid_ranges_are_ignored() {
        for r in [
            "bytes=5-2",
            "bytes=",
            "bytes",
            "bytes=-",
            "bytes=--1",
            "bytes=1--2",
            "bytes=a-b",
            "bytes=1-b",
            "bytes=+1-2",
            "bytes=1-2-3",
            "bytes=0x10-",
            "bytes=18446744073709551616-",
            "bytes=0-18446744073709551616",
            "bytes=-18446744073709551616",
            "bytes=99999999999999999999999999999-",
            "items=0-1",
            "bit=0-1",
            "=0-1",
            "0-1",
            "",
            "bytes=0-1;x",
            "bytes=\u{e9}-1",
        ] {
            assert_eq!(range(r), Full, "{r:?}");
        }
    }

    #[test]
    fn multiple_ranges_get_full_body() {
        assert_eq!(range("bytes=0-1,2-3"), Full);
        assert_eq!(range("bytes=0-1, -5"), Full);
        assert_eq!(range("bytes=0-1,0-1"), Full);
        assert_eq!(range("bytes=2000-,3000-"), Full);
        assert_eq!(range("bytes=0-1,5-2"), Full);
    }

    #[test]
    fn range_only_for_get() {
        let c = Conditions {
            range: Some(b"bytes=0-1"),
            ..Default::default()
        };
        assert_eq!(post(c), Full);
        let c = Conditions {
            range: Some(b"bytes=5000-"),
            ..Default::default()
        };
        assert_eq!(post(c), Full);
    }

    #[test]
    fn if_range() {
        let c = |ir: &'static [u8]| {
            get(Conditions {
                if_range: Some(ir),
                range: Some(b"bytes=0-9"),
                ..Default::default()
            })
        };
        assert_eq!(c(b"\"abc\""), part(0, 9));
        assert_eq!(c(b" \"abc\" "), part(0, 9));
        assert_eq!(c(b"\"other\""), Full);
        assert_eq!(c(b"W/\"abc\""), Full);
        assert_eq!(c(b"\"abc\", \"x\""), Full);
        assert_eq!(c(LM_STR), part(0, 9));
        assert_eq!(c(b"Sunday, 06-Nov-94 08:49:37 GMT"), part(0, 9));
        assert_eq!(c(BEFORE), Full);
        assert_eq!(c(AFTER), Full);
        assert_eq!(c(b"Wed, 09 Nov 1994 08:49:37 GMT"), Full);
        assert_eq!(c(b"garbage"), Full);
        assert_eq!(c(b""), Full);
        // If-Range failing wins even over an unsatisfiable range.
        let c = Conditions {
            if_range: Some(b"\"other\""),
            range: Some(b"bytes=5000-"),
            ..Default::default()
        };
        assert_eq!(get(c), Full);
        // If-Range without Range is meaningless.
        let c = Conditions {
            if_range: Some(b"\"abc\""),
            ..Default::default()
        };
        assert_eq!(get(c), Full);
        // A "Wed, ..." date must not be mistaken for a weak tag.
        let wed = common::http::date::parse(b"Wed, 09 Nov 1994 08:49:37 GMT").unwrap_or(0);
        let c = Conditions {
            if_range: Some(b"Wed, 09 Nov 1994 08:49:37 GMT"),
            range: Some(b"bytes=1-"),
            ..Default::default()
        };
        assert_eq!(evaluate(&c, true, TAG, wed, SIZE), part(1, 999));
    }

    #[test]
    fn encoding_weights() {
        let w = |v: &str, c: &str| encoding_weight(v.as_bytes(), c);
        assert_eq!(w("gzip;q=0.5, identity", "gzip"), 500);
        assert_eq!(w("gzip;q=0.5, identity", "identity"), 1000);
        assert_eq!(w("gzip", "identity"), 1);
        assert_eq!(w("gzip, identity;q=0", "identity"), 0);
        assert_eq!(w("*;q=0", "identity"), 0);
        assert_eq!(w("*;q=0.3", "gzip"), 300);
        assert_eq!(w("gzip;q=0.8, gzip;q=0.2", "gzip"), 200);
        assert_eq!(w("gzip;level=9", "gzip"), 0);
        assert_eq!(w("br", "gzip"), 0);
    }

    #[test]
    fn accept_encoding() {
        let a = |v: &str, c: &str| accepts_encoding(v.as_bytes(), c);
        assert!(a("br", "br"));
        assert!(a("gzip, deflate, br", "br"));
        assert!(a("gzip, deflate, br, zstd", "gzip"));
        assert!(a("GZIP", "gzip"));
        assert!(a("gzip", "GZip"));
        assert!(a(" br ; q=0.5 ,gzip", "br"));
        assert!(a("br;q=1", "br"));
        assert!(a("br;Q=1.000", "br"));
        assert!(a("br;q=0.001", "br"));
        assert!(a("br;q=1.", "br"));
        assert!(a("*", "br"));
        assert!(a("gzip, *;q=0.1", "br"));
        assert!(a(",,br,,", "br"));
        assert!(!a("br;q=0", "br"));
        assert!(!a("br;q=0.0", "br"));
        assert!(!a("br;q=0.000", "br"));
        assert!(!a("br; q=0", "br"));
        assert!(!a("gzip", "br"));
        assert!(!a("", "br"));
        assert!(!a("   ", "br"));
        assert!(!a("brotli", "br"));
        assert!(!a("b", "br"));
        assert!(!a("*;q=0", "br"));
        assert!(!a("*, br;q=0", "br"));
        assert!(a("*;q=0, br", "br"));
        assert!(!a("br, br;q=0", "br"));
        // Malformed weights make the entry unacceptable.
        for v in [
            "br;q=",
            "br;q=2",
            "br;q=1.5",
            "br;q=0.0001",
            "br;q=-1",
            "br;q=.5",
            "br;q=abc",
            "br;q = 0.5",
            "br;level=5",
            "br;q=0.5;q=0.5",
            "br;",
        ] {
            assert!(!a(v, "br"), "{v:?}");
        }
        // Identity is acceptable unless excluded.
        assert!(a("", "identity"));
        assert!(a("gzip", "identity"));
        assert!(!a("identity;q=0", "identity"));
        assert!(!a("*;q=0", "identity"));
        assert!(a("*;q=0, identity", "identity"));
    }

    #[test]
    fn qvalues() {
        assert_eq!(qvalue(b"0"), Some(0));
        assert_eq!(qvalue(b"0.5"), Some(500));
        assert_eq!(qvalue(b"0.25"), Some(250));
        assert_eq!(qvalue(b"0.125"), Some(125));
        assert_eq!(qvalue(b"0.999"), Some(999));
        assert_eq!(qvalue(b"1"), Some(1000));
        assert_eq!(qvalue(b"1.000"), Some(1000));
        assert_eq!(qvalue(b"1.001"), None);
        assert_eq!(qvalue(b"0.1234"), None);
        assert_eq!(qvalue(b""), None);
    }

    #[test]
    fn noise_never_panics() {
        let alphabet = b"bytes=0123456789-, ;qW/\"*\t\xffabcGMT:";
        let mut x: u64 = 0x1234_5678_9abc_def1;
        for i in 0..30_000u64 {
            let mut v = Vec::new();
            for _ in 0..(i % 40) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                v.push(alphabet[(x % alphabet.len() as u64) as usize]);
            }
            let c = Conditions {
                if_match: (i % 7 == 0).then_some(&v[..]),
                if_none_match: (i % 3 == 0).then_some(&v[..]),
                if_modified_since: (i % 5 == 0).then_some(&v[..]),
                if_unmodified_since: (i % 11 == 0).then_some(&v[..]),
                if_range: (i % 2 == 0).then_some(&v[..]),
                range: Some(&v[..]),
            };
            for size in [0, 1, x, u64::MAX] {
                if let Outcome::Partial {
                    start,
                    end_inclusive,
                } = evaluate(&c, true, TAG, x, size)
                {
                    assert!(start <= end_inclusive && end_inclusive < size);
                }
            }
            let _ = accepts_encoding(&v, "br");
            assert!(encoding_weight(&v, "gzip") <= 1000);
        }
    }
}
