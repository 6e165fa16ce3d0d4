//! File extension -> `Content-Type`.
//!
//! Owns: the static, table-driven mapping from the (ASCII case-insensitive)
//! extension of a path's last segment to a media type.
//!
//! Must not: sniff file contents, touch the filesystem, allocate, or panic.
//! Unknown types fall back to `application/octet-stream`, which browsers
//! never render inline; the caller should also send
//! `X-Content-Type-Options: nosniff` so that fallback cannot be overridden by
//! sniffing. For precompressed siblings (`app.js.br`) the caller must look up
//! the type of the *uncompressed* name and send `Content-Encoding` separately.

/// Returned for unknown or missing extensions.
pub const DEFAULT: &str = "application/octet-stream";

/// Textual types carry an explicit charset so browsers never guess one
/// (guessing is how UTF-7 style XSS used to work). JSON, XML-based and
/// WebAssembly types define their own encoding and take no charset.
const TABLE: &[(&str, &str)] = &[
    // Documents and code.
    ("html", "text/html; charset=utf-8"),
    ("htm", "text/html; charset=utf-8"),
    ("xhtml", "application/xhtml+xml"),
    ("css", "text/css; charset=utf-8"),
    ("js", "text/javascript; charset=utf-8"),
    ("mjs", "text/javascript; charset=utf-8"),
    ("cjs", "text/javascript; charset=utf-8"),
    ("json", "application/json"),
    ("map", "application/json"),
    ("jsonld", "application/ld+json"),
    ("webmanifest", "application/manifest+json"),
    ("xml", "application/xml"),
    ("rss", "application/rss+xml"),
    ("atom", "application/atom+xml"),
    ("txt", "text/plain; charset=utf-8"),
    ("md", "text/markdown; charset=utf-8"),
    ("markdown", "text/markdown; charset=utf-8"),
    ("csv", "text/csv; charset=utf-8"),
    ("ics", "text/calendar; charset=utf-8"),
    ("wasm", "application/wasm"),
    ("pdf", "application/pdf"),
    // Images.
    ("svg", "image/svg+xml"),
    ("png", "image/png"),
    ("apng", "image/apng"),
    ("jpg", "image/jpeg"),
    ("jpeg", "image/jpeg"),
    ("gif", "image/gif"),
    ("webp", "image/webp"),
    ("avif", "image/avif"),
    ("jxl", "image/jxl"),
    ("ico", "image/x-icon"),
    ("bmp", "image/bmp"),
    ("tif", "image/tiff"),
    ("tiff", "image/tiff"),
    // Fonts.
    ("woff", "font/woff"),
    ("woff2", "font/woff2"),
    ("ttf", "font/ttf"),
    ("otf", "font/otf"),
    // Audio and video.
    ("mp4", "video/mp4"),
    ("m4v", "video/mp4"),
    ("webm", "video/webm"),
    ("ogv", "video/ogg"),
    ("mp3", "audio/mpeg"),
    ("m4a", "audio/mp4"),
    ("ogg", "audio/ogg"),
    ("oga", "audio/ogg"),
    ("opus", "audio/ogg"),
    ("wav", "audio/wav"),
    ("flac", "audio/flac"),
    ("vtt", "text/vtt; charset=utf-8"),
    // Archives. These are served as the archive itself (no Content-Encoding).
    ("zip", "application/zip"),
    ("gz", "application/gzip"),
    ("tgz", "application/gzip"),
    ("br", "application/x-brotli"),
    ("zst", "application/zstd"),
    ("xz", "application/x-xz"),
    ("tar", "application/x-tar"),
    ("7z", "application/x-7z-compressed"),
];

/// Media type for `path`, chosen by the extension of its last `/`-separated
/// segment. A leading dot alone is not an extension (`.bashrc` has none), nor
/// is a trailing one (`file.`).
pub fn content_type(path: &str) -> &'static str {
    let name = path.rsplit('/').next().unwrap_or(path);
    let ext = match name.rfind('.') {
        Some(0) | None => return DEFAULT,
        Some(i) => name.get(i + 1..).unwrap_or(""),
    };
    if ext.is_empty() {
        return DEFAULT;
    }
    TABLE
        .iter()
        .find(|(e, _)| e.eq_ignore_ascii_case(ext))
        .map_or(DEFAULT, |&(_, t)| t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn required_types() {
        for (p, t) in [
            ("index.html", "text/html; charset=utf-8"),
            ("a/b.htm", "text/html; charset=utf-8"),
            ("s.css", "text/css; charset=utf-8"),
            ("app.js", "text/javascript; charset=utf-8"),
            ("mod.mjs", "text/javascript; charset=utf-8"),
            ("d.json", "application/json"),
            ("i.svg", "image/svg+xml"),
            ("i.png", "image/png"),
            ("i.jpg", "image/jpeg"),
            ("i.jpeg", "image/jpeg"),
            ("i.gif", "image/gif"),
            ("i.webp", "image/webp"),
            ("i.avif", "image/avif"),
            ("favicon.ico", "image/x-icon"),
            ("f.woff", "font/woff"),
            ("f.woff2", "font/woff2"),
            ("f.ttf", "font/ttf"),
            ("f.otf", "font/otf"),
            ("robots.txt", "text/plain; charset=utf-8"),
            ("sitemap.xml", "application/xml"),
            ("m.wasm", "application/wasm"),
            ("doc.pdf", "application/pdf"),
            ("app.js.map", "application/json"),
            ("site.webmanifest", "application/manifest+json"),
            ("README.md", "text/markdown; charset=utf-8"),
            ("data.csv", "text/csv; charset=utf-8"),
            ("v.mp4", "video/mp4"),
            ("v.webm", "video/webm"),
            ("a.mp3", "audio/mpeg"),
            ("a.ogg", "audio/ogg"),
            ("x.zip", "application/zip"),
            ("x.tar.gz", "application/gzip"),
            ("x.br", "application/x-brotli"),
        ] {
            assert_eq!(content_type(p), t, "{p}");
        }
    }

    #[test]
    fn case_insensitive() {
        assert_eq!(content_type("INDEX.HTML"), "text/html; charset=utf-8");
        assert_eq!(content_type("Photo.JpEg"), "image/jpeg");
        assert_eq!(content_type("F.WOFF2"), "font/woff2");
    }

    #[test]
    fn only_last_segment_counts() {
        assert_eq!(content_type("dir.html/file"), DEFAULT);
        assert_eq!(content_type("a.css/b.js"), "text/javascript; charset=utf-8");
        assert_eq!(content_type("/x.png/"), DEFAULT);
    }

    #[test]
    fn defaults() {
        for p in [
            "",
            "/",
            "noext",
            ".bashrc",
            "dir/.env",
            "file.",
            "file.unknownext",
            "file.exe",
            "a..",
            ".",
            "..",
            "caf\u{e9}.\u{e9}",
        ] {
            assert_eq!(content_type(p), DEFAULT, "{p:?}");
        }
    }

    #[test]
    fn dotfile_with_extension_uses_it() {
        assert_eq!(
            content_type(".well-known/security.txt"),
            "text/plain; charset=utf-8"
        );
        assert_eq!(content_type(".config.json"), "application/json");
    }

    #[test]
    fn table_is_sane() {
        for (i, (ext, ty)) in TABLE.iter().enumerate() {
            assert!(
                !ext.is_empty()
                    && ext
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            );
            assert!(ty.contains('/') && ty.is_ascii() && !ty.contains(['\r', '\n']));
            assert!(
                TABLE.iter().skip(i + 1).all(|(e, _)| e != ext),
                "duplicate {ext}"
            );
        }
    }
}
