//! Directory listings (`--list-dirs`), pure: the order of entries, the HTML page and the JSON
//! document, and which of the two a request wants. Reading the directory is `files.rs`'s.
//!
//! Names are the site's content, so they are treated as hostile: HTML-escaped in text and
//! attributes, percent-encoded in links, JSON-escaped in JSON, and the page is served with a
//! `Content-Security-Policy` that runs no script. Links are relative (`./name`, `./dir/`,
//! `../`), so a listing works under `--base-path` and behind a proxy that strips a prefix; the
//! `./` keeps a name such as `javascript:x` or `a:b` from reading as a scheme.

use std::fmt::Write;

use common::http::date;
use common::http::html::escape as escape_html;

use crate::resolve::encode_path;

/// At most this many entries are shown (sorted first); the rest are counted. Bounds the page
/// (about 200 bytes an entry) and the stat calls one request costs the worker.
pub const MAX_ENTRIES: usize = 1000;

/// One entry of a directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub is_dir: bool,
    pub size: u64,
    /// Seconds since the epoch.
    pub mtime: u64,
}

/// Directories first, then by name (bytewise, so the order does not depend on a locale).
pub fn sort(entries: &mut [Entry]) {
    entries.sort_by(|a, b| b.is_dir.cmp(&a.is_dir).then_with(|| a.name.cmp(&b.name)));
}

/// Whether the request wants JSON: `?format=json`, or an `Accept` that names
/// `application/json` without naming `text/html` before it.
pub fn wants_json(accept: Option<&[u8]>, query: Option<&[u8]>) -> bool {
    if let Some(q) = query {
        if q.split(|&b| b == b'&').any(|p| p == b"format=json") {
            return true;
        }
    }
    let Some(accept) = accept else {
        return false;
    };
    for range in accept.split(|&b| b == b',') {
        let media = range.split(|&b| b == b';').next().unwrap_or_default();
        let media = media.trim_ascii();
        if media.eq_ignore_ascii_case(b"text/html") {
            return false;
        }
        if media.eq_ignore_ascii_case(b"application/json") {
            return true;
        }
    }
    false
}

/// The HTML page for the directory at site path `path` (ends with `/`).
pub fn html(path: &str, entries: &[Entry], omitted: usize) -> String {
    let mut out = String::with_capacity(600 + entries.len() * 200);
    let title = escape_html(path);
    let _ = write!(
        out,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Index of {title}</title>\
         <style>body{{font-family:system-ui,sans-serif;margin:2em}}td,th{{padding:.2em 1em;text-align:left}}\
         td.n{{text-align:right;font-variant-numeric:tabular-nums}}</style></head>\n\
         <body><h1>Index of {title}</h1>\n<table>\n<thead><tr><th>Name</th><th>Size</th><th>Last modified</th></tr></thead>\n<tbody>\n"
    );
    if path != "/" {
        out.push_str("<tr><td><a href=\"../\">../</a></td><td class=\"n\">-</td><td></td></tr>\n");
    }
    for e in entries {
        let slash = if e.is_dir { "/" } else { "" };
        let href = format!("./{}{slash}", encode_path(&e.name));
        let size = if e.is_dir {
            "-".to_string()
        } else {
            human_size(e.size)
        };
        let when = date::format(e.mtime);
        let _ = writeln!(
            out,
            "<tr><td><a href=\"{}\">{}{slash}</a></td><td class=\"n\" title=\"{} bytes\">{size}</td><td>{}</td></tr>",
            escape_html(&href),
            escape_html(&e.name),
            e.size,
            String::from_utf8_lossy(&when),
        );
    }
    out.push_str("</tbody>\n</table>\n");
    if omitted > 0 {
        let _ = writeln!(out, "<p>{omitted} more entries not shown.</p>");
    }
    out.push_str("</body></html>\n");
    out
}

/// The JSON document: `{"path": ..., "entries": [{"name", "type", "size", "mtime"}], "omitted": n}`
/// with `type` `"dir"` or `"file"` and `mtime` in seconds since the epoch.
pub fn json(path: &str, entries: &[Entry], omitted: usize) -> String {
    let mut out = String::with_capacity(64 + entries.len() * 96);
    out.push_str("{\"path\":");
    push_json_string(&mut out, path);
    out.push_str(",\"entries\":[");
    for (i, e) in entries.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"name\":");
        push_json_string(&mut out, &e.name);
        let kind = if e.is_dir { "dir" } else { "file" };
        let _ = write!(
            out,
            ",\"type\":\"{kind}\",\"size\":{},\"mtime\":{}}}",
            e.size, e.mtime
        );
    }
    let _ = writeln!(out, "],\"omitted\":{omitted}}}");
    out
}

fn push_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            // `<` too, so the document is safe even if something renders it as HTML.
            c if (c as u32) < 0x20 || c == '<' || c == '>' || c == '&' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn human_size(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, is_dir: bool) -> Entry {
        Entry {
            name: name.into(),
            is_dir,
            size: 1536,
            mtime: 0,
        }
    }

    #[test]
    fn hostile_names_are_escaped() {
        let mut entries = vec![
            entry("<script>alert(1)</script>.html", false),
            entry("a \"quoted\" & 'x'", false),
            entry("javascript:alert(1)", false),
            entry("résumé été.txt", false),
            entry("sub dir", true),
        ];
        sort(&mut entries);
        assert_eq!(entries[0].name, "sub dir", "directories first");
        let page = html("/x/<b>/", &entries, 0);
        assert!(!page.contains("<script>alert"));
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;.html"));
        assert!(page.contains("href=\"./%3Cscript%3Ealert%281%29%3C/script%3E.html\""));
        assert!(page.contains("a &quot;quoted&quot; &amp; &#39;x&#39;"));
        assert!(page.contains("href=\"./javascript%3Aalert%281%29\""));
        assert!(page.contains("href=\"./r%C3%A9sum%C3%A9%20%C3%A9t%C3%A9.txt\""));
        assert!(page.contains(">résumé été.txt<"));
        assert!(page.contains("href=\"./sub%20dir/\""));
        assert!(page.contains("<title>Index of /x/&lt;b&gt;/</title>"));
        assert!(page.contains("href=\"../\""));
        assert!(page.contains("1.5 KiB"));
        assert!(!html("/", &entries, 0).contains("href=\"../\""));
        assert!(html("/", &entries, 3).contains("3 more entries"));
    }

    #[test]
    fn json_is_escaped() {
        let doc = json("/", &[entry("a\"b\\c\n<x>", false), entry("d", true)], 0);
        assert_eq!(
            doc,
            "{\"path\":\"/\",\"entries\":[{\"name\":\"a\\\"b\\\\c\\u000a\\u003cx\\u003e\",\"type\":\"file\",\"size\":1536,\"mtime\":0},\
             {\"name\":\"d\",\"type\":\"dir\",\"size\":1536,\"mtime\":0}],\"omitted\":0}\n"
        );
    }

    #[test]
    fn json_or_html() {
        assert!(wants_json(None, Some(b"format=json")));
        assert!(wants_json(None, Some(b"a=1&format=json")));
        assert!(!wants_json(None, Some(b"format=jsonx")));
        assert!(wants_json(Some(b"application/json"), None));
        assert!(wants_json(Some(b"application/json, */*;q=0.1"), None));
        assert!(!wants_json(Some(b"text/html,application/json"), None));
        assert!(!wants_json(Some(b"*/*"), None));
        assert!(!wants_json(None, None));
    }
}
