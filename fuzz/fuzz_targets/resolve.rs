//! Path decoding and resolution (`static_server::resolve`): request-target -> path under the
//! served root, the static server's security core. Also `mime::content_type` on the result.
//!
//! Input: a raw request-target, tried under four option sets (root and nested base paths,
//! dotfiles hidden and shown).
//!
//! Invariants on every accepted path:
//! - relative (no leading `/`), no empty, `.` or `..` segment, no `\`, NUL or other control
//!   byte: it can be joined under the root and never leaves it;
//! - hidden dot-names stay hidden unless enabled (`.well-known` excepted);
//! - the decoded path really lies under the base path (segment boundary), checked against a
//!   simple reference;
//! - a fixed point: the canonical URL for the result (`encode_path`) resolves to the same path;
//! - `encode_path` output is plain header-safe ASCII and decodes back to its input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use static_server::mime;
use static_server::resolve::{encode_path, percent_decode, resolve, Options, Reject, Resolved};

fn options() -> [Options; 4] {
    let o = |base: &str, dot: bool| Options {
        base_path: base.to_owned(),
        show_dotfiles: dot,
    };
    [
        o("/", false),
        o("/", true),
        o("/a", false),
        o("/a/b/", true),
    ]
}

fuzz_target!(|data: &[u8]| {
    for opts in options() {
        check(data, &opts);
    }
    // encode_path is total and its output is header-safe and decodes back exactly once.
    let text = String::from_utf8_lossy(data);
    let encoded = encode_path(&text);
    assert!(
        encoded
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~/%".contains(&b)),
        "encode_path produced {encoded:?}"
    );
    assert_eq!(
        percent_decode(encoded.as_bytes()).as_deref(),
        Ok(text.as_bytes())
    );
});

fn check(target: &[u8], opts: &Options) {
    let shown = String::from_utf8_lossy(target);
    let (relative, trailing_slash) = match resolve(target, opts) {
        Ok(Resolved::Path {
            relative,
            trailing_slash,
        }) => (relative, trailing_slash),
        Err(Reject::BadRequest | Reject::NotFound) => return,
    };
    assert!(
        !relative.starts_with('/'),
        "{shown:?} -> absolute {relative:?}"
    );
    assert!(
        !relative
            .bytes()
            .any(|b| b < 0x20 || b == 0x7f || b == b'\\'),
        "{shown:?} -> control or backslash in {relative:?}"
    );
    if !relative.is_empty() {
        for seg in relative.split('/') {
            assert!(
                !seg.is_empty() && seg != "." && seg != "..",
                "{shown:?} -> bad segment in {relative:?}"
            );
            if !opts.show_dotfiles {
                assert!(
                    !seg.starts_with('.') || seg == ".well-known",
                    "{shown:?} -> hidden name in {relative:?}"
                );
            }
        }
    }

    // Reference check of the base path: the decoded path (query dropped, `http(s)://host`
    // skipped) starts with the base on a segment boundary.
    let base = opts.base_path.trim_end_matches('/');
    if !base.is_empty() {
        let decoded = percent_decode(path_part(target)).expect("accepted, so it decodes");
        let rest = decoded
            .strip_prefix(base.as_bytes())
            .unwrap_or_else(|| panic!("{shown:?} accepted outside base {base:?}"));
        assert!(
            rest.is_empty() || rest[0] == b'/',
            "{shown:?} matched base {base:?} off a segment boundary"
        );
    }

    // Fixed point: the canonical URL of the result resolves to the same path.
    let mut again = format!("{base}/{}", encode_path(&relative));
    if trailing_slash && !relative.is_empty() {
        again.push('/');
    }
    let expect_trailing = trailing_slash || relative.is_empty();
    assert_eq!(
        resolve(again.as_bytes(), opts),
        Ok(Resolved::Path {
            relative: relative.clone(),
            trailing_slash: expect_trailing
        }),
        "{shown:?} -> {relative:?}, but its canonical URL {again:?} does not resolve back"
    );

    let ct = mime::content_type(&relative);
    assert!(!ct.is_empty() && ct.bytes().all(|b| (b' '..=b'~').contains(&b)));
}

/// The still-encoded path of an origin- or absolute-form target, without the query.
fn path_part(target: &[u8]) -> &[u8] {
    let t = if target.first() == Some(&b'/') {
        target
    } else {
        let after = target
            .windows(3)
            .position(|w| w == b"://")
            .map_or(target, |i| &target[i + 3..]);
        match after.iter().position(|&b| b == b'/' || b == b'?') {
            Some(i) if after[i] == b'/' => &after[i..],
            _ => b"/",
        }
    };
    let end = t.iter().position(|&b| b == b'?').unwrap_or(t.len());
    &t[..end]
}
