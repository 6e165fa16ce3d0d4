//! Validator and range parsing (`static_server::conditional`) and HTTP-date parsing
//! (`common::http::date`).
//!
//! Input: text lines. Line 1: `SIZE [METHOD]` (defaults 1000 and GET); then, one per line,
//! `Range`, `If-Range`, `If-Match`, `If-None-Match`, `If-Modified-Since`,
//! `If-Unmodified-Since`, `Accept-Encoding`. An empty line means "header absent".
//!
//! Invariants:
//! - a 206 range always lies inside the body (`start <= end < size`) and only answers a GET
//!   that sent `Range`; 416 only answers a GET with `Range`;
//! - 304 only for GET/HEAD with `If-None-Match`/`If-Modified-Since`; 412 only with a
//!   precondition header; no headers at all means the full 200;
//! - a simple `bytes=N-M` / `bytes=N-` / `bytes=-N` (nothing else sent) gives exactly the range
//!   RFC 9110 section 14.1.2 defines (reference implementation below);
//! - our own ETag in `If-None-Match` is a 304 (412 for other methods); in `If-Match` it passes;
//! - dates: whatever parses re-formats and re-parses to the same second.
#![no_main]

use common::http::date;
use libfuzzer_sys::fuzz_target;
use static_server::conditional::{accepts_encoding, etag, evaluate, Conditions, Outcome};

/// Sun, 06 Nov 1994 08:49:37 GMT.
const LAST_MODIFIED: u64 = 784_111_777;
/// A fixed "now" for the RFC 850 two-digit-year rule, so runs are reproducible.
const NOW: u64 = 1_750_000_000;

fuzz_target!(|data: &[u8]| {
    let mut lines = data.split(|&b| b == b'\n');
    let first = lines.next().unwrap_or_default();
    let mut words = first.split(|&b| b == b' ');
    let size = words
        .next()
        .and_then(|w| std::str::from_utf8(w).ok())
        .and_then(|w| w.parse::<u64>().ok())
        .unwrap_or(1000);
    let get = !matches!(words.next(), Some(m) if !m.eq_ignore_ascii_case(b"GET") && !m.eq_ignore_ascii_case(b"HEAD"));
    let mut field = || lines.next().filter(|l| !l.is_empty());
    let c = Conditions {
        range: field(),
        if_range: field(),
        if_match: field(),
        if_none_match: field(),
        if_modified_since: field(),
        if_unmodified_since: field(),
    };
    let accept_encoding = field();

    let tag = etag(
        size,
        LAST_MODIFIED,
        (size % 1_000_000_000) as u32,
        size ^ 0x5a5a,
    );
    assert!(tag.starts_with('"') && tag.ends_with('"') && tag.is_ascii());

    let outcome = evaluate(&c, get, &tag, LAST_MODIFIED, size);
    match outcome {
        Outcome::Partial {
            start,
            end_inclusive,
        } => {
            assert!(get && c.range.is_some(), "206 without a GET Range");
            assert!(
                start <= end_inclusive && end_inclusive < size,
                "range {start}-{end_inclusive} outside a body of {size}"
            );
        }
        Outcome::NotSatisfiable => assert!(get && c.range.is_some(), "416 without a GET Range"),
        Outcome::NotModified => assert!(
            get && (c.if_none_match.is_some() || c.if_modified_since.is_some()),
            "304 without a GET validator"
        ),
        Outcome::PreconditionFailed => assert!(
            c.if_match.is_some()
                || c.if_unmodified_since.is_some()
                || (!get && c.if_none_match.is_some()),
            "412 without a precondition"
        ),
        Outcome::Full => {}
    }
    if c == Conditions::default() {
        assert_eq!(outcome, Outcome::Full);
    }

    // Reference for the plain single-range forms when nothing else was sent.
    if let (Some(range), true) = (c.range, get) {
        let others = Conditions { range: None, ..c };
        if others == Conditions::default() {
            if let Some(expected) = reference_range(range, size) {
                assert_eq!(
                    outcome,
                    expected,
                    "Range {:?}",
                    String::from_utf8_lossy(range)
                );
            }
        }
    }

    // Our own tag.
    let own = Conditions {
        if_none_match: Some(tag.as_bytes()),
        ..Default::default()
    };
    let expected = if get {
        Outcome::NotModified
    } else {
        Outcome::PreconditionFailed
    };
    assert_eq!(evaluate(&own, get, &tag, LAST_MODIFIED, size), expected);
    let own = Conditions {
        if_match: Some(tag.as_bytes()),
        ..Default::default()
    };
    assert_eq!(
        evaluate(&own, get, &tag, LAST_MODIFIED, size),
        Outcome::Full
    );

    // Accept-Encoding: total, and identity is acceptable unless the client said otherwise.
    if let Some(ae) = accept_encoding {
        let _ = accepts_encoding(ae, "br");
        let _ = accepts_encoding(ae, "gzip");
    }
    assert!(!accepts_encoding(b"", "br"));

    // Dates: every line is also tried as an HTTP-date. A leap second (`:60`, valid per RFC 9110
    // section 5.6.7) on 9999-12-31 is the one instant past MAX_SECS; anything else re-formats
    // and re-parses to the same second.
    for value in data.split(|&b| b == b'\n') {
        if let Some(t) = date::parse_at(value, NOW) {
            assert!(t <= date::MAX_SECS + 1, "{t} past year 9999");
            if t <= date::MAX_SECS {
                assert_eq!(date::parse_at(&date::format(t), NOW), Some(t), "{t}");
            }
        }
    }
    let secs = data
        .iter()
        .take(8)
        .fold(0u64, |acc, &b| acc << 8 | u64::from(b))
        % (date::MAX_SECS + 1);
    assert_eq!(date::parse_at(&date::format(secs), NOW), Some(secs));
});

/// RFC 9110 section 14.1.2 for one `bytes=` range-spec without white space, or `None` when the
/// value is not of that simple form (the code under test decides those on its own).
fn reference_range(value: &[u8], size: u64) -> Option<Outcome> {
    let spec = value.strip_prefix(b"bytes=")?;
    let text = std::str::from_utf8(spec).ok()?;
    let (first, last) = text.split_once('-')?;
    let num = |s: &str| -> Option<u64> {
        if s.is_empty() || s.len() > 18 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    };
    if first.is_empty() {
        let n = num(last)?;
        return Some(if n == 0 || size == 0 {
            Outcome::NotSatisfiable
        } else {
            Outcome::Partial {
                start: size.saturating_sub(n),
                end_inclusive: size - 1,
            }
        });
    }
    let start = num(first)?;
    let end = if last.is_empty() {
        None
    } else {
        Some(num(last)?)
    };
    if end.is_some_and(|e| e < start) {
        return Some(Outcome::Full); // invalid range-spec: the header is ignored
    }
    if start >= size {
        return Some(Outcome::NotSatisfiable);
    }
    Some(Outcome::Partial {
        start,
        end_inclusive: end.map_or(size - 1, |e| e.min(size - 1)),
    })
}
