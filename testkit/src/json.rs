//! A strict reader of the flat JSON objects the access log writes, for log-format tests.

/// A minimal JSON checker for the flat objects the access log writes: `{"k":"v","n":1,...}`.
/// Returns the members, values as their decoded strings (numbers verbatim).
pub fn parse_flat_json(line: &str) -> Option<Vec<(String, String)>> {
    let bytes = line.as_bytes();
    let mut i = 0;
    let mut members = Vec::new();
    let expect =
        |i: &mut usize, c: u8| -> Option<()> { (bytes.get(*i) == Some(&c)).then(|| *i += 1) };
    fn string(bytes: &[u8], i: &mut usize) -> Option<String> {
        if bytes.get(*i) != Some(&b'"') {
            return None;
        }
        *i += 1;
        let mut out = String::new();
        loop {
            let c = *bytes.get(*i)?;
            *i += 1;
            match c {
                b'"' => return Some(out),
                b'\\' => {
                    let e = *bytes.get(*i)?;
                    *i += 1;
                    match e {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'n' => out.push('\n'),
                        b't' => out.push('\t'),
                        b'r' => out.push('\r'),
                        b'u' => {
                            let hex = std::str::from_utf8(bytes.get(*i..*i + 4)?).ok()?;
                            let v = u32::from_str_radix(hex, 16).ok()?;
                            out.push(char::from_u32(v)?);
                            *i += 4;
                        }
                        _ => return None,
                    }
                }
                0x00..=0x1f => return None,
                _ => out.push(char::from(c)),
            }
        }
    }
    expect(&mut i, b'{')?;
    loop {
        let key = string(bytes, &mut i)?;
        expect(&mut i, b':')?;
        let value = if bytes.get(i) == Some(&b'"') {
            string(bytes, &mut i)?
        } else {
            let start = i;
            while bytes.get(i).is_some_and(|b| b.is_ascii_digit()) {
                i += 1;
            }
            if i == start {
                return None;
            }
            line.get(start..i)?.to_string()
        };
        members.push((key, value));
        match bytes.get(i) {
            Some(b',') => i += 1,
            Some(b'}') if i + 1 == bytes.len() => return Some(members),
            _ => return None,
        }
    }
}
