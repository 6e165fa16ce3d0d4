//! HTTP-date formatting and parsing (RFC 9110 §5.6.7).
//!
//! Owns: turning Unix seconds into the 29-byte IMF-fixdate used in `Date`,
//! `Last-Modified` and friends, parsing the three date formats recipients must
//! accept, and a tiny per-second cache for the `Date` header.
//!
//! Must not: do I/O, allocate, or panic on any input. The only impurity is
//! [`parse`], which reads the wall clock because RFC 850 two-digit years are
//! interpreted relative to "now"; [`parse_at`] is the pure variant.

use std::time::{SystemTime, UNIX_EPOCH};

/// Length of an IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`.
pub const LEN: usize = 29;

/// 9999-12-31T23:59:59Z: the last instant a four-digit year can express.
/// Later timestamps are clamped so `format` stays total and fixed-length.
pub const MAX_SECS: u64 = 253_402_300_799;

const SECS_PER_DAY: u64 = 86_400;

/// Short day names indexed from Sunday (the order `(days + 4) % 7` yields,
/// because 1970-01-01 was a Thursday).
const DAYS: [[u8; 3]; 7] = [
    *b"Sun", *b"Mon", *b"Tue", *b"Wed", *b"Thu", *b"Fri", *b"Sat",
];

/// Long day names used by the obsolete RFC 850 format.
const LONG_DAYS: [&[u8]; 7] = [
    b"Sunday",
    b"Monday",
    b"Tuesday",
    b"Wednesday",
    b"Thursday",
    b"Friday",
    b"Saturday",
];

const MONTHS: [[u8; 3]; 12] = [
    *b"Jan", *b"Feb", *b"Mar", *b"Apr", *b"May", *b"Jun", *b"Jul", *b"Aug", *b"Sep", *b"Oct",
    *b"Nov", *b"Dec",
];

/// Formats `unix_secs` as an IMF-fixdate. Values past year 9999 are clamped to
/// [`MAX_SECS`] (a file mtime that far out is a bogus clock, and the header
/// must stay syntactically valid).
pub fn format(unix_secs: u64) -> [u8; LEN] {
    let secs = unix_secs.min(MAX_SECS);
    let days = secs / SECS_PER_DAY;
    let rem = secs % SECS_PER_DAY;
    let (year, month, day) = civil_from_days(days);
    let weekday = ((days + 4) % 7) as usize;

    let mut out = *b"Thu, 01 Jan 1970 00:00:00 GMT";
    let [d0, d1, d2] = DAYS[weekday];
    let [m0, m1, m2] = MONTHS[(month as usize).saturating_sub(1) % 12];
    out[0] = d0;
    out[1] = d1;
    out[2] = d2;
    put2(&mut out[5..7], day);
    out[8] = m0;
    out[9] = m1;
    out[10] = m2;
    put2(&mut out[12..14], year / 100);
    put2(&mut out[14..16], year % 100);
    put2(&mut out[17..19], rem / 3600);
    put2(&mut out[20..22], rem / 60 % 60);
    put2(&mut out[23..25], rem % 60);
    out
}

fn put2(dst: &mut [u8], v: u64) {
    if let [a, b] = dst {
        *a = b'0' + (v / 10 % 10) as u8;
        *b = b'0' + (v % 10) as u8;
    }
}

/// Parses an HTTP-date in any of the three formats RFC 9110 requires
/// recipients to accept, interpreting RFC 850 two-digit years relative to the
/// current wall clock. Returns `None` for anything else (callers then ignore
/// the header, which is always the safe fallback for conditional requests).
pub fn parse(value: &[u8]) -> Option<u64> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    parse_at(value, now)
}

/// Pure variant of [`parse`]: `now_unix_secs` only matters for the RFC 850
/// two-digit year rule ("more than 50 years in the future" means the most
/// recent past year with the same last two digits).
///
/// Leading/trailing SP/HTAB are tolerated (header parsers differ in how much
/// OWS they strip); everything else is matched case-sensitively as the
/// grammar requires. The weekday name must be valid but is not cross-checked
/// against the date: a wrong weekday is a client bug, not an ambiguity.
/// Dates before 1970 are rejected (they cannot be Unix seconds as `u64`).
pub fn parse_at(value: &[u8], now_unix_secs: u64) -> Option<u64> {
    let v = trim_ows(value);
    match v {
        // IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT
        [w0, w1, w2, b',', b' ', d0, d1, b' ', m0, m1, m2, b' ', y0, y1, y2, y3, b' ', time @ .., b' ', b'G', b'M', b'T']
            if time.len() == 8 =>
        {
            short_day([*w0, *w1, *w2])?;
            let day = digits(&[*d0, *d1])?;
            let month = month([*m0, *m1, *m2])?;
            let year = digits(&[*y0, *y1, *y2, *y3])?;
            to_unix(year, month, day, time)
        }
        // asctime: Sun Nov  6 08:49:37 1994
        [w0, w1, w2, b' ', m0, m1, m2, b' ', d0, d1, b' ', time @ .., b' ', y0, y1, y2, y3]
            if time.len() == 8 =>
        {
            short_day([*w0, *w1, *w2])?;
            let month = month([*m0, *m1, *m2])?;
            let day = if *d0 == b' ' {
                digits(&[*d1])?
            } else {
                digits(&[*d0, *d1])?
            };
            let year = digits(&[*y0, *y1, *y2, *y3])?;
            to_unix(year, month, day, time)
        }
        _ => parse_rfc850(v, now_unix_secs),
    }
}

/// RFC 850: `Sunday, 06-Nov-94 08:49:37 GMT`.
fn parse_rfc850(v: &[u8], now_unix_secs: u64) -> Option<u64> {
    let comma = v.iter().position(|&b| b == b',')?;
    let (name, rest) = v.split_at(comma);
    if !LONG_DAYS.contains(&name) {
        return None;
    }
    let [b',', b' ', d0, d1, b'-', m0, m1, m2, b'-', y0, y1, b' ', time @ .., b' ', b'G', b'M', b'T'] =
        rest
    else {
        return None;
    };
    if time.len() != 8 {
        return None;
    }
    let day = digits(&[*d0, *d1])?;
    let month = month([*m0, *m1, *m2])?;
    let yy = digits(&[*y0, *y1])?;
    let now_year = civil_from_days(now_unix_secs.min(MAX_SECS) / SECS_PER_DAY).0;
    let mut year = now_year - now_year % 100 + yy;
    if year > now_year.saturating_add(50) {
        year = year.saturating_sub(100);
    }
    to_unix(year, month, day, time)
}

/// Validates field ranges and converts. `time` is `HH:MM:SS`; second 60 is
/// allowed because the grammar admits a leap second.
fn to_unix(year: u64, month: u64, day: u64, time: &[u8]) -> Option<u64> {
    let [h0, h1, b':', n0, n1, b':', s0, s1] = time else {
        return None;
    };
    let hour = digits(&[*h0, *h1])?;
    let min = digits(&[*n0, *n1])?;
    let sec = digits(&[*s0, *s1])?;
    if !(1970..=9999).contains(&year)
        || !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || min > 59
        || sec > 60
    {
        return None;
    }
    let days = days_from_civil(year, month, day)?;
    days.checked_mul(SECS_PER_DAY)?
        .checked_add(hour * 3600 + min * 60 + sec)
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

/// Decimal value of an all-digit slice (at most 4 digits here, so no overflow).
fn digits(d: &[u8]) -> Option<u64> {
    d.iter().try_fold(0u64, |acc, &b| {
        b.is_ascii_digit().then(|| acc * 10 + u64::from(b - b'0'))
    })
}

fn short_day(name: [u8; 3]) -> Option<()> {
    DAYS.contains(&name).then_some(())
}

/// 1-based month number.
fn month(name: [u8; 3]) -> Option<u64> {
    MONTHS.iter().position(|m| *m == name).map(|i| i as u64 + 1)
}

fn is_leap(year: u64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: u64, month: u64) -> u64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Howard Hinnant's `civil_from_days`, restricted to days >= 1970-01-01 so
/// everything stays unsigned. Returns (year, month 1-12, day 1-31). Input is
/// clamped to year 9999 so no intermediate can overflow whatever the caller
/// passes.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days.min(MAX_SECS / SECS_PER_DAY) + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// Inverse of [`civil_from_days`]; `None` for dates before 1970 (the caller
/// already validated the fields, this only guards the subtraction).
fn days_from_civil(year: u64, month: u64, day: u64) -> Option<u64> {
    let y = if month <= 2 {
        year.checked_sub(1)?
    } else {
        year
    };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    (era * 146_097 + doe).checked_sub(719_468)
}

/// Caches the formatted `Date` header value: servers emit one per response,
/// but it only changes once per second.
#[derive(Debug, Clone)]
pub struct DateCache {
    secs: u64,
    buf: [u8; LEN],
}

impl DateCache {
    pub fn new() -> Self {
        Self {
            secs: 0,
            buf: format(0),
        }
    }

    /// The IMF-fixdate for `unix_secs`, reformatting only when it changed.
    pub fn get(&mut self, unix_secs: u64) -> &[u8; LEN] {
        if unix_secs != self.secs {
            self.secs = unix_secs;
            self.buf = format(unix_secs);
        }
        &self.buf
    }
}

impl Default for DateCache {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2025-06-01T00:00:00Z, a fixed "now" for two-digit-year tests.
    const NOW: u64 = 1_748_736_000;

    fn fmt(secs: u64) -> String {
        String::from_utf8(format(secs).to_vec()).unwrap()
    }

    fn p(s: &str) -> Option<u64> {
        parse_at(s.as_bytes(), NOW)
    }

    #[test]
    fn known_vectors() {
        assert_eq!(fmt(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(fmt(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(fmt(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
        assert_eq!(fmt(1_000_000_000), "Sun, 09 Sep 2001 01:46:40 GMT");
        assert_eq!(fmt(2_147_483_647), "Tue, 19 Jan 2038 03:14:07 GMT");
        assert_eq!(fmt(4_107_542_400), "Mon, 01 Mar 2100 00:00:00 GMT");
        assert_eq!(fmt(NOW), "Sun, 01 Jun 2025 00:00:00 GMT");
    }

    #[test]
    fn far_future_is_clamped() {
        assert_eq!(fmt(MAX_SECS), "Fri, 31 Dec 9999 23:59:59 GMT");
        assert_eq!(fmt(MAX_SECS + 1), "Fri, 31 Dec 9999 23:59:59 GMT");
        assert_eq!(fmt(u64::MAX), "Fri, 31 Dec 9999 23:59:59 GMT");
        assert_eq!(p("Fri, 31 Dec 9999 23:59:59 GMT"), Some(MAX_SECS));
    }

    #[test]
    fn three_formats() {
        let t = Some(784_111_777);
        assert_eq!(p("Sun, 06 Nov 1994 08:49:37 GMT"), t);
        assert_eq!(p("Sunday, 06-Nov-94 08:49:37 GMT"), t);
        assert_eq!(p("Sun Nov  6 08:49:37 1994"), t);
        assert_eq!(p("Sun Nov 06 08:49:37 1994"), t);
        assert_eq!(
            p("Sun Nov 16 08:49:37 1994"),
            Some(784_111_777 + 10 * 86_400)
        );
        // OWS around the value is tolerated.
        assert_eq!(p("  Sun, 06 Nov 1994 08:49:37 GMT\t"), t);
    }

    #[test]
    fn rfc850_two_digit_years() {
        // 94 -> 2094 would be > 50 years ahead of 2025, so 1994.
        assert_eq!(p("Sunday, 06-Nov-94 08:49:37 GMT"), Some(784_111_777));
        // 75 -> 2075 is exactly 50 years ahead: not "more than", stays 2075.
        assert_eq!(
            &fmt(p("Friday, 01-Jan-75 00:00:00 GMT").unwrap())[12..16],
            "2075"
        );
        // 76 -> 2076 is 51 years ahead: 1976.
        assert_eq!(
            &fmt(p("Thursday, 01-Jan-76 00:00:00 GMT").unwrap())[12..16],
            "1976"
        );
        // 25 -> 2025.
        assert_eq!(fmt(p("Sunday, 01-Jun-25 00:00:00 GMT").unwrap()), fmt(NOW));
        // 69 at "now" 2025 -> 2069 (not 1969, which would be pre-epoch anyway).
        assert!(p("Monday, 01-Jan-69 00:00:00 GMT").is_some());
        // With now = 1970, 69 -> 1969 -> rejected as pre-epoch.
        assert_eq!(parse_at(b"Monday, 01-Jan-69 00:00:00 GMT", 0), None);
        // Short day name in RFC 850 form is invalid.
        assert_eq!(p("Sun, 06-Nov-94 08:49:37 GMT"), None);
        assert_eq!(p("Funday, 06-Nov-94 08:49:37 GMT"), None);
    }

    #[test]
    fn round_trips() {
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let secs = x % (MAX_SECS + 1);
            assert_eq!(parse_at(&format(secs), NOW), Some(secs), "{}", fmt(secs));
        }
        for secs in [0, 1, 59, 60, 86_399, 86_400, MAX_SECS] {
            assert_eq!(parse_at(&format(secs), NOW), Some(secs));
        }
    }

    #[test]
    fn every_day_from_1970_to_2400_round_trips() {
        let mut prev = None;
        for day in 0..(431 * 366) {
            let (y, m, d) = civil_from_days(day);
            assert_eq!(days_from_civil(y, m, d), Some(day));
            assert!(d >= 1 && d <= days_in_month(y, m));
            if let Some((py, pm, pd)) = prev {
                assert!((y, m, d) > (py, pm, pd));
            }
            prev = Some((y, m, d));
        }
    }

    #[test]
    fn leap_years() {
        assert_eq!(p("Tue, 29 Feb 2000 00:00:00 GMT"), Some(951_782_400));
        assert_eq!(p("Thu, 29 Feb 2024 12:00:00 GMT"), Some(1_709_208_000));
        assert_eq!(p("Mon, 29 Feb 2100 00:00:00 GMT"), None);
        assert_eq!(p("Sat, 29 Feb 2025 00:00:00 GMT"), None);
        assert_eq!(p("Sat, 30 Feb 2000 00:00:00 GMT"), None);
        assert_eq!(fmt(951_782_400 - 1), "Mon, 28 Feb 2000 23:59:59 GMT");
        assert_eq!(fmt(4_107_456_000), "Sun, 28 Feb 2100 00:00:00 GMT");
    }

    #[test]
    fn out_of_range_fields() {
        for s in [
            "Sun, 00 Nov 1994 08:49:37 GMT",
            "Sun, 31 Nov 1994 08:49:37 GMT",
            "Sun, 32 Dec 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 24:00:00 GMT",
            "Sun, 06 Nov 1994 08:60:37 GMT",
            "Sun, 06 Nov 1994 08:49:61 GMT",
            "Wed, 31 Dec 1969 23:59:59 GMT",
            "Sun, 06 Nov 0000 08:49:37 GMT",
        ] {
            assert_eq!(p(s), None, "{s}");
        }
        // Leap second is in the grammar.
        assert_eq!(p("Sun, 06 Nov 1994 08:49:60 GMT"), Some(784_111_800));
    }

    #[test]
    fn garbage() {
        for s in [
            "",
            " ",
            "0",
            "784111777",
            "sun, 06 nov 1994 08:49:37 gmt",
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sun, 06 Nov 1994 08:49:37 +0000",
            "Sun, 6 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 94 08:49:37 GMT",
            "Sun,  06 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 08:49:37 GMT ,",
            "Sun, 06 Nov 1994 08:49:37 GMTX",
            "Sun, 06 Nov 1994 8:49:37 GMT",
            "Sun, 06 Nov 1994 08-49-37 GMT",
            "Sun, +6 Nov 1994 08:49:37 GMT",
            "Xyz, 06 Nov 1994 08:49:37 GMT",
            "Sun, 06 Foo 1994 08:49:37 GMT",
            "Sun Nov  6 08:49:37 94",
            "Sun Nov 6 08:49:37 1994",
            "Sun Nov  6 08:49:37 1994 GMT",
            "Sunday, 06-Nov-1994 08:49:37 GMT",
            "Sunday, 06 Nov 94 08:49:37 GMT",
            "Sunday,06-Nov-94 08:49:37 GMT",
            "1994-11-06T08:49:37Z",
            "Sun, 06 Nov 1994 08:49:37 GMT, Sun, 06 Nov 1994 08:49:37 GMT",
            "\u{e9}\u{e9}\u{e9}, 06 Nov 1994 08:49:37 GMT",
        ] {
            assert_eq!(p(s), None, "{s:?}");
        }
        assert_eq!(parse_at(b"Sun, 06 Nov 1994 08:49:37 GMT\0", NOW), None);
        assert_eq!(parse_at(&[0xff; 29], NOW), None);
    }

    #[test]
    fn never_panics_on_noise() {
        let mut x: u64 = 88_172_645_463_325_252;
        let alphabet = b"SunMoTeWdhFriaJFbMrApyJlgOctNvDc0123456789 ,:-GMT\t";
        let base = b"Sun, 06 Nov 1994 08:49:37 GMT";
        for i in 0..50_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let mut v = base.to_vec();
            let pos = (x % 29) as usize;
            let b = alphabet[((x >> 8) % alphabet.len() as u64) as usize];
            v[pos] = b;
            if i % 3 == 0 {
                v.truncate((x >> 20) as usize % 34);
            }
            let _ = parse_at(&v, x);
            let _ = parse_at(&v, u64::MAX);
        }
    }

    #[test]
    fn system_clock_parse_agrees_on_four_digit_years() {
        assert_eq!(parse(b"Sun, 06 Nov 1994 08:49:37 GMT"), Some(784_111_777));
        assert_eq!(parse(b"nope"), None);
    }

    #[test]
    fn cache_reformats_on_change() {
        let mut c = DateCache::new();
        assert_eq!(c.get(0), &format(0));
        assert_eq!(c.get(784_111_777), b"Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(c.get(784_111_777), b"Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(c.get(784_111_778), b"Sun, 06 Nov 1994 08:49:38 GMT");
        assert_eq!(c.get(0), b"Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(DateCache::default().get(1), &format(1));
    }
}
