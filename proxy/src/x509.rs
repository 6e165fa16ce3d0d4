//! The one thing the proxy reads from its certificate itself: `notAfter`, for the
//! `proxy_tls_certificate_not_after_seconds` metric. A minimal DER walk (RFC 5280 4.1), pure and
//! fuzzed; anything unexpected is `None`, never a panic.
//!
//! Certificate ::= SEQUENCE { tbsCertificate SEQUENCE { [0] version OPTIONAL, serialNumber,
//! signature, issuer, validity SEQUENCE { notBefore, notAfter }, ... }, ... }, where each time is
//! a UTCTime (`YYMMDDHHMMSSZ`, years 1950-2049) or a GeneralizedTime (`YYYYMMDDHHMMSSZ`).

/// `notAfter` of a DER certificate, in seconds since the Unix epoch.
pub fn not_after(der: &[u8]) -> Option<u64> {
    let (cert, _) = element(der, 0x30)?;
    let (tbs, _) = element(cert, 0x30)?;
    let mut rest = tbs;
    if rest.first() == Some(&0xa0) {
        rest = element(rest, 0xa0)?.1; // version
    }
    rest = element(rest, 0x02)?.1; // serialNumber
    rest = element(rest, 0x30)?.1; // signature
    rest = element(rest, 0x30)?.1; // issuer
    let (validity, _) = element(rest, 0x30)?;
    let (_, after_not_before) = any_time(validity)?;
    let (not_after, _) = any_time(after_not_before)?;
    Some(not_after)
}

/// One TLV with tag `tag`: (its contents, what follows it).
fn element(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (&t, rest) = input.split_first()?;
    if t != tag {
        return None;
    }
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        rest = &rest[n..];
        len
    };
    if rest.len() < len {
        return None;
    }
    Some(rest.split_at(len))
}

/// A UTCTime or GeneralizedTime: (seconds since the epoch, what follows it).
fn any_time(input: &[u8]) -> Option<(u64, &[u8])> {
    match input.first()? {
        0x17 => {
            let (t, rest) = element(input, 0x17)?;
            let yy = digits(t.get(..2)?)?;
            // RFC 5280 4.1.2.5.1: YY >= 50 is 19YY, else 20YY.
            let year = if yy >= 50 { 1900 + yy } else { 2000 + yy };
            Some((civil(year, t.get(2..)?)?, rest))
        }
        0x18 => {
            let (t, rest) = element(input, 0x18)?;
            Some((civil(digits(t.get(..4)?)?, t.get(4..)?)?, rest))
        }
        _ => None,
    }
}

/// `MMDDHHMMSSZ` after the year, to Unix seconds.
fn civil(year: u64, t: &[u8]) -> Option<u64> {
    if t.len() != 11 || t[10] != b'Z' || year < 1970 {
        return None;
    }
    let (month, day) = (digits(&t[0..2])?, digits(&t[2..4])?);
    let (hour, min, sec) = (digits(&t[4..6])?, digits(&t[6..8])?, digits(&t[8..10])?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || min > 59 || sec > 60 {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm), for the proleptic Gregorian calendar.
    let (y, m) = if month <= 2 {
        (year - 1, month + 9)
    } else {
        (year, month - 3)
    };
    let era = y / 400;
    let yoe = y % 400;
    let doy = (153 * m + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = (era * 146_097 + doe).checked_sub(719_468)?;
    Some(days * 86_400 + hour * 3600 + min * 60 + sec)
}

fn digits(d: &[u8]) -> Option<u64> {
    if d.is_empty() || !d.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(d.iter().fold(0, |acc, &b| acc * 10 + u64::from(b - b'0')))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(civil(1970, b"0101000000Z"), Some(0));
        assert_eq!(civil(2000, b"0301000000Z"), Some(951_868_800));
        assert_eq!(civil(2026, b"1201151248Z"), Some(1_796_137_968));
        assert_eq!(civil(2026, b"1301000000Z"), None);
        assert_eq!(civil(2026, b"120115124Z"), None);
        let utc = [
            0x17, 13, b'4', b'9', b'1', b'2', b'3', b'1', b'2', b'3', b'5', b'9', b'5', b'9', b'Z',
        ];
        assert_eq!(any_time(&utc).map(|t| t.0), Some(2_524_607_999));
    }

    /// A real certificate made by openssl, 30 years long (a GeneralizedTime past 2049), against
    /// what `openssl x509 -enddate` and `date` make of it.
    #[test]
    fn reads_a_real_certificate() {
        let dir = std::env::temp_dir().join(format!("x509-{}", std::process::id()));
        let (cert, _key) = testkit::self_signed(&dir, 10950);
        let run = |cmd: &str, args: &[&str]| {
            let out = std::process::Command::new(cmd)
                .args(args)
                .output()
                .expect(cmd);
            String::from_utf8(out.stdout).unwrap()
        };
        let end = run(
            "openssl",
            &["x509", "-noout", "-enddate", "-in", cert.to_str().unwrap()],
        );
        let end = end.trim().trim_start_matches("notAfter=");
        let want: u64 = run("date", &["-u", "-d", end, "+%s"])
            .trim()
            .parse()
            .unwrap();
        let pem = std::fs::read(&cert).unwrap();
        let der = rustls_pemfile::certs(&mut &pem[..])
            .next()
            .unwrap()
            .unwrap();
        assert_eq!(not_after(&der), Some(want));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn garbage_is_none() {
        assert_eq!(not_after(b""), None);
        assert_eq!(not_after(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]), None);
        assert_eq!(not_after(&[0x30, 0x03, 0x30, 0x01, 0x00]), None);
    }
}
