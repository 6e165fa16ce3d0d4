//! The static server's feature decisions (`compress`, `headers`, `listing`), on hostile input.
//!
//! Input: bytes split into a header value, a path and a name.
//!
//! Invariants:
//! - `Wanted::order` lists each coding once, weights in 0..=1000, identity refused only last;
//! - gzip output always inflates back to its input, with the right CRC-32 and length;
//! - a rule that parses has a token name and a header-safe value, and the glob match on any
//!   path terminates (bounded) with `*` matching everything;
//! - listing HTML never contains the raw `<`, `"` of a name, and JSON never a raw control byte.
#![no_main]

use libfuzzer_sys::fuzz_target;
use static_server::compress::{self, Coding, Wanted};
use static_server::headers::{glob_match, Rule};
use static_server::listing::{self, Entry};

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(3, |&b| b == 0xff);
    let header = parts.next().unwrap_or_default();
    let path = String::from_utf8_lossy(parts.next().unwrap_or_default());
    let name = String::from_utf8_lossy(parts.next().unwrap_or_default());

    let wanted = Wanted::from_header(Some(header));
    let order = wanted.order();
    for c in [Coding::Br, Coding::Gzip, Coding::Identity] {
        assert_eq!(order.iter().filter(|(x, _)| *x == c).count(), 1);
    }
    assert!(order.iter().all(|(_, w)| *w <= 1000));
    if wanted.identity == 0 {
        assert_eq!(order[2].0, Coding::Identity);
    }

    if header.len() <= 4096 {
        let packed = compress::gzip(header);
        let inflated = miniz_oxide::inflate::decompress_to_vec(&packed[10..packed.len() - 8])
            .expect("our own deflate stream");
        assert_eq!(inflated, header);
        let crc = u32::from_le_bytes(packed[packed.len() - 8..packed.len() - 4].try_into().unwrap());
        assert_eq!(crc, compress::crc32(header));
    }

    if let Ok(rule) = Rule::parse(&format!("{path}: {name}")) {
        assert!(rule.name.bytes().all(|b| b.is_ascii_graphic() && b != b':'));
        assert!(rule.value.bytes().all(|b| b == b'\t' || (0x20..0x7f).contains(&b)));
        let _ = glob_match(&rule.pattern, &path);
    }
    assert!(glob_match("*", &path));
    assert!(glob_match(&path.replace(['*', '?'], "x"), &path) || path.contains(['*', '?']));

    let entries = [Entry {
        name: name.to_string(),
        is_dir: false,
        size: data.len() as u64,
        mtime: 0,
    }];
    let html = listing::html("/", &entries, 0);
    let body = html.split("<tbody>").nth(1).unwrap_or_default();
    if name.contains('<') {
        assert!(!body.contains(&format!(">{name}<")));
    }
    let json = listing::json("/", &entries, 0);
    assert!(json.bytes().all(|b| b >= 0x20 || b == b'\n'));
});
