//! File lookup below the root: directory index, trailing-slash rules, the representation a
//! request gets (precompressed sidecars, gzip made here, identity), and a bounded per-worker
//! cache of small files and their gzip variants that is revalidated on every request.
//!
//! Compression is paid once per file version: the gzip variant of a compressible file (from
//! [`compress::MIN_SIZE`] to [`compress::MAX_SOURCE`], when the result fits a cache entry) is
//! made on its first request and cached under its own key, checked against the file's stat like
//! any entry, so an edited file never gets the old compressed bytes. Sidecars (`.br`, `.gz`)
//! still win. Larger files are streamed as they are (sendfile) unless a sidecar exists.
//!
//! Every request costs one `stat` of the path (two for a directory index); a hit whose device,
//! inode, size and mtime still match is served from memory, so edits of mounted content show on
//! the next request. A miss opens the file with `open_beneath` (openat2 RESOLVE_BENEATH), which
//! refuses symlinks that leave the root; the cache only ever holds files opened that way, and a
//! path that later resolves elsewhere has another inode and misses. A symlink leading out of
//! the root is "not found" whatever is behind it, never a 403 or a directory redirect that would
//! tell what exists outside: the one-syscall stat is confirmed beneath the root (`stat_beneath`)
//! before a redirect, and by `open_beneath` before a file is served. Large files are never read
//! into memory: the open file is handed to the session for `sendfile`.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use common::http::date;
use common::sys::{self, FileStat};

use crate::compress::{self, Coding, Wanted};
use crate::conditional;
use crate::headers::{self, Rule};
use crate::mime;

mod dirs;
mod gzip;

/// Response metadata of one file representation, with its header lines rendered once.
pub struct Meta {
    /// The stat of the file this representation was made from: a cache hit must still match.
    pub stat: FileStat,
    /// The representation's length (the compressed length for a gzip variant made here).
    pub len: u64,
    pub etag: String,
    pub last_modified: u64,
    /// `ETag`, `Last-Modified`, `Cache-Control`, `Vary` lines, and the `--header` lines a 304
    /// keeps (RFC 9110 15.4.5): sent with 200, 206 and 304.
    pub validators: Vec<u8>,
    /// `Content-Type`, `Content-Encoding`, `X-Content-Type-Options` lines and the other
    /// `--header` lines: sent with 200 and 206.
    pub entity: Vec<u8>,
    /// The whole content, for files small enough to cache.
    pub bytes: Option<Box<[u8]>>,
}

/// A file ready to be sent.
pub struct Found {
    pub meta: Rc<Meta>,
    /// The open file when the content is not in memory (large files, sent with sendfile).
    pub file: Option<File>,
}

pub enum Lookup {
    Found(Found),
    /// A directory requested without its trailing slash.
    RedirectToDirectory,
    /// A directory without an index, with `--list-dirs`: its open descriptor (opened beneath
    /// the root) for the listing.
    Directory(File),
    NotFound,
    Forbidden,
}

/// Settings that shape every response's headers.
pub struct Policy {
    pub cache_control: Option<String>,
    pub max_entry: usize,
    pub max_total: usize,
    /// Make gzip variants of compressible files (`--compress`).
    pub compress: bool,
    /// `--header` rules.
    pub headers: Vec<Rule>,
    /// List directories without an index (`--list-dirs`).
    pub list_dirs: bool,
}

pub struct Files {
    root: File,
    root_path: PathBuf,
    policy: Policy,
    /// Keyed by [`cache_key`]: one entry per representation, not per file.
    cache: HashMap<String, Rc<Meta>>,
    cached_bytes: usize,
    scratch: Vec<u8>,
    path: String,
}

impl Files {
    /// Opens the root directory; `root_path` must be canonical (symlink-free, absolute).
    pub fn new(root_path: &Path, policy: Policy) -> io::Result<Self> {
        Ok(Files {
            root: File::open(root_path)?,
            root_path: root_path.to_path_buf(),
            policy,
            cache: HashMap::new(),
            cached_bytes: 0,
            scratch: Vec::new(),
            path: String::new(),
        })
    }

    /// Finds what to send for a resolved relative path.
    pub fn lookup(
        &mut self,
        relative: &str,
        trailing_slash: bool,
        wanted: Wanted,
    ) -> io::Result<Lookup> {
        let mut stat = match self.stat(relative)? {
            Some(stat) => stat,
            None => return Ok(Lookup::NotFound),
        };
        self.path.clear();
        self.path.push_str(relative);
        if stat.is_dir {
            if !trailing_slash {
                // The redirect would tell that a directory exists where the path leads: only
                // when it leads somewhere beneath the root.
                if self.stat_confined(relative)?.is_none() {
                    return Ok(Lookup::NotFound);
                }
                return Ok(Lookup::RedirectToDirectory);
            }
            if !self.path.is_empty() {
                self.path.push('/');
            }
            self.path.push_str("index.html");
            let path = std::mem::take(&mut self.path);
            let index = self.stat(&path);
            self.path = path;
            match index? {
                Some(s) if s.is_file => stat = s,
                _ if self.policy.list_dirs => return self.open_directory(relative),
                _ => return Ok(Lookup::NotFound),
            }
        } else if !stat.is_file || trailing_slash {
            return Ok(Lookup::NotFound);
        }
        let path = std::mem::take(&mut self.path);
        let result = self.representation(&path, stat, wanted);
        self.path = path;
        result
    }

    /// The `--header` rules.
    pub fn header_rules(&self) -> &[Rule] {
        &self.policy.headers
    }

    /// The `404.html` page at the root, if there is one.
    pub fn not_found_page(&mut self) -> Option<Rc<Meta>> {
        let stat = self.stat("404.html").ok().flatten().filter(|s| s.is_file)?;
        match self.open_cached("404.html", stat, None, "404.html") {
            Ok(Lookup::Found(Found { meta, file: None })) => Some(meta),
            _ => None,
        }
    }

    /// The fast stat of every request: one syscall, following links even out of the root
    /// (see `sys::stat_at`). What it says is only acted on after confirmation: `open_beneath`
    /// for a file served, [`Files::stat_confined`] for a directory redirect.
    fn stat(&mut self, relative: &str) -> io::Result<Option<FileStat>> {
        missing_as_none(sys::stat_at(&self.root, relative, &mut self.scratch))
    }

    /// stat confined beneath the root: a path that leaves it does not exist as far as clients
    /// can tell.
    fn stat_confined(&mut self, relative: &str) -> io::Result<Option<FileStat>> {
        let stat = sys::stat_beneath(&self.root, &self.root_path, relative, &mut self.scratch);
        missing_as_none(stat)
    }

    /// The representation the request gets: the codings it accepts, most wanted first, each
    /// tried as a sidecar (`.br`, `.gz`), gzip also as a variant made here, identity last.
    fn representation(&mut self, path: &str, stat: FileStat, wanted: Wanted) -> io::Result<Lookup> {
        if !compress::is_compressible(mime::content_type(path)) {
            return self.open_cached(path, stat, None, path);
        }
        for (coding, weight) in wanted.order() {
            if weight == 0 {
                continue;
            }
            let (suffix, name) = match coding {
                Coding::Identity => break,
                Coding::Br => (".br", "br"),
                Coding::Gzip => (".gz", "gzip"),
            };
            let sidecar = format!("{path}{suffix}");
            if let Some(s) = self.stat(&sidecar)?.filter(|s| s.is_file) {
                return self.open_cached(&sidecar, s, Some(name), path);
            }
            if coding == Coding::Gzip
                && self.policy.compress
                && (compress::MIN_SIZE..=compress::MAX_SOURCE).contains(&stat.size)
            {
                return self.gzip_variant(path, stat);
            }
        }
        self.open_cached(path, stat, None, path)
    }

    /// Serves `path` from the cache when `stat` still matches, else opens it beneath the root.
    /// `type_path` names the file whose extension gives the Content-Type (the uncompressed one).
    fn open_cached(
        &mut self,
        path: &str,
        stat: FileStat,
        coding: Option<&'static str>,
        type_path: &str,
    ) -> io::Result<Lookup> {
        let key = cache_key(path, coding);
        if let Some(meta) = self.cache.get(key.as_ref()) {
            if same_file(&meta.stat, &stat) {
                return Ok(Lookup::Found(Found {
                    meta: meta.clone(),
                    file: None,
                }));
            }
        }
        let mut file = match sys::open_beneath(&self.root, &self.root_path, path) {
            Ok(file) => file,
            Err(e) if is_missing(&e) => return Ok(Lookup::NotFound),
            Err(e) if is_escape(&e) => return Ok(Lookup::NotFound),
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => return Ok(Lookup::Forbidden),
            Err(e) => return Err(e),
        };
        let stat = sys::stat_file(&file)?;
        if !stat.is_file {
            return Ok(Lookup::NotFound);
        }
        let vary = compress::is_compressible(mime::content_type(type_path));
        let mut meta = self.meta(stat, coding, type_path, vary);
        let cacheable = stat.size as usize <= self.policy.max_entry;
        if !cacheable {
            return Ok(Lookup::Found(Found {
                meta: Rc::new(meta),
                file: Some(file),
            }));
        }
        let mut bytes = Vec::with_capacity(stat.size as usize);
        (&mut file).take(stat.size).read_to_end(&mut bytes)?;
        if bytes.len() as u64 != stat.size {
            // The file changed while we read it: serve what the stat says next time.
            return Ok(Lookup::NotFound);
        }
        meta.bytes = Some(bytes.into_boxed_slice());
        let meta = Rc::new(meta);
        self.insert(&key, meta.clone());
        Ok(Lookup::Found(Found { meta, file: None }))
    }

    fn insert(&mut self, key: &str, meta: Rc<Meta>) {
        let size = meta.bytes.as_ref().map_or(0, |b| b.len());
        if let Some(old) = self.cache.remove(key) {
            self.cached_bytes -= old.bytes.as_ref().map_or(0, |b| b.len());
        }
        // Evict arbitrary entries until the new one fits: simple, bounded, and good enough for
        // a site whose hot set fits (the common case this cache exists for).
        while self.cached_bytes + size > self.policy.max_total {
            let Some(victim) = self.cache.keys().next().cloned() else {
                break;
            };
            if let Some(old) = self.cache.remove(&victim) {
                self.cached_bytes -= old.bytes.as_ref().map_or(0, |b| b.len());
            }
        }
        if self.cached_bytes + size <= self.policy.max_total {
            self.cached_bytes += size;
            self.cache.insert(key.to_string(), meta);
        }
    }

    fn meta(
        &self,
        stat: FileStat,
        coding: Option<&'static str>,
        type_path: &str,
        vary: bool,
    ) -> Meta {
        let mtime = u64::try_from(stat.mtime_secs).unwrap_or(0);
        let mut etag = conditional::etag(stat.size, mtime, stat.mtime_nanos, stat.ino);
        if let Some(coding) = coding {
            // Each representation needs its own strong validator.
            etag.insert_str(etag.len() - 1, &format!("-{coding}"));
        }
        // `--header` rules for this file replace the defaults of the same name.
        let site_path = format!("/{type_path}");
        let rules = headers::for_path(&self.policy.headers, &site_path);
        let ruled = |name: &str| rules.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
        let mut validators = Vec::with_capacity(160);
        push_line(&mut validators, "ETag", etag.as_bytes());
        push_line(&mut validators, "Last-Modified", &date::format(mtime));
        if let Some(cc) = self
            .policy
            .cache_control
            .as_ref()
            .filter(|_| !ruled("Cache-Control"))
        {
            push_line(&mut validators, "Cache-Control", cc.as_bytes());
        }
        if vary && !ruled("Vary") {
            push_line(&mut validators, "Vary", b"Accept-Encoding");
        }
        let mut entity = Vec::with_capacity(96);
        if !ruled("Content-Type") {
            let content_type = mime::content_type(type_path);
            push_line(&mut entity, "Content-Type", content_type.as_bytes());
        }
        if let Some(coding) = coding {
            push_line(&mut entity, "Content-Encoding", coding.as_bytes());
        }
        if !ruled("X-Content-Type-Options") {
            push_line(&mut entity, "X-Content-Type-Options", b"nosniff");
        }
        for (name, value) in rules {
            let lines = if headers::goes_with_304(name) {
                &mut validators
            } else {
                &mut entity
            };
            push_line(lines, name, value.as_bytes());
        }
        Meta {
            stat,
            len: stat.size,
            etag,
            last_modified: mtime,
            validators,
            entity,
            bytes: None,
        }
    }
}

fn push_line(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// The cache key of a representation. The same file is two different responses when it is
/// requested by its own name (`app.js.gz`: `application/gzip`, no `Content-Encoding`) and when
/// it is the sidecar of `app.js` (`text/javascript`, `Content-Encoding: gzip`); sharing one
/// entry would let a request for either poison the other. Resolved paths never contain NUL,
/// so the suffix cannot collide with a real name.
fn cache_key<'a>(path: &'a str, coding: Option<&str>) -> Cow<'a, str> {
    match coding {
        None => Cow::Borrowed(path),
        Some(coding) => Cow::Owned(format!("{path}\0{coding}")),
    }
}

fn missing_as_none(stat: io::Result<FileStat>) -> io::Result<Option<FileStat>> {
    match stat {
        Ok(stat) => Ok(Some(stat)),
        Err(e) if is_missing(&e) || is_escape(&e) => Ok(None),
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => Ok(None),
        Err(e) => Err(e),
    }
}

fn same_file(a: &FileStat, b: &FileStat) -> bool {
    a.dev == b.dev
        && a.ino == b.ino
        && a.size == b.size
        && a.mtime_secs == b.mtime_secs
        && a.mtime_nanos == b.mtime_nanos
}

fn is_missing(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::NotFound
        || matches!(
            e.raw_os_error(),
            Some(libc::ENOTDIR) | Some(libc::ENAMETOOLONG) | Some(libc::ELOOP)
        )
}

/// openat2 RESOLVE_BENEATH reports an escape as EXDEV.
fn is_escape(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::EXDEV)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files_in(dir: &Path) -> Files {
        files_with(dir, 16, Vec::new())
    }

    fn files_with(dir: &Path, max_entry: usize, headers: Vec<Rule>) -> Files {
        Files::new(
            &dir.canonicalize().unwrap(),
            Policy {
                cache_control: Some("no-cache".into()),
                max_entry,
                max_total: 1 << 20,
                compress: true,
                headers,
                list_dirs: true,
            },
        )
        .unwrap()
    }

    fn both() -> Wanted {
        Wanted::from_header(Some(b"gzip, br"))
    }

    fn gzip_only() -> Wanted {
        Wanted::from_header(Some(b"gzip"))
    }

    fn text(f: &Found) -> String {
        String::from_utf8(f.meta.entity.clone()).unwrap()
            + &String::from_utf8(f.meta.validators.clone()).unwrap()
    }

    fn temp_root(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("files-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("root/sub")).unwrap();
        std::fs::write(dir.join("root/index.html"), b"<h1>home</h1>").unwrap();
        std::fs::write(dir.join("root/sub/index.html"), b"sub").unwrap();
        std::fs::write(dir.join("root/big.bin"), vec![7u8; 100]).unwrap();
        std::fs::write(dir.join("root/app.js"), b"js").unwrap();
        std::fs::write(dir.join("root/app.js.br"), b"brotli").unwrap();
        std::fs::write(dir.join("secret"), b"secret").unwrap();
        std::os::unix::fs::symlink(dir.join("secret"), dir.join("root/leak")).unwrap();
        std::fs::create_dir_all(dir.join("outside")).unwrap();
        std::fs::write(dir.join("outside/passwd"), b"root:x").unwrap();
        std::os::unix::fs::symlink(dir.join("outside"), dir.join("root/etc")).unwrap();
        dir
    }

    fn found(l: Lookup) -> Found {
        match l {
            Lookup::Found(f) => f,
            _ => panic!("expected a file"),
        }
    }

    #[test]
    fn index_redirect_and_trailing_slash_rules() {
        let dir = temp_root("index");
        let mut files = files_in(&dir.join("root"));
        let f = found(files.lookup("", true, Wanted::default()).unwrap());
        assert_eq!(f.meta.bytes.as_deref(), Some(&b"<h1>home</h1>"[..]));
        assert!(matches!(
            files.lookup("sub", false, Wanted::default()).unwrap(),
            Lookup::RedirectToDirectory
        ));
        assert!(matches!(
            files.lookup("app.js", true, Wanted::default()).unwrap(),
            Lookup::NotFound
        ));
        assert!(matches!(
            files.lookup("nope", false, Wanted::default()).unwrap(),
            Lookup::NotFound
        ));
        assert!(matches!(
            files.lookup("app.js/x", false, Wanted::default()).unwrap(),
            Lookup::NotFound
        ));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn large_files_are_not_cached_and_symlink_escape_is_refused() {
        let dir = temp_root("large");
        let mut files = files_in(&dir.join("root"));
        let f = found(files.lookup("big.bin", false, Wanted::default()).unwrap());
        assert!(f.meta.bytes.is_none());
        assert!(f.file.is_some());
        // Finding 12 of the proxy-core review: stat followed links out of the root, so `/etc`
        // answered 301 and `/etc/passwd` 403, telling what exists outside. Not found, all.
        for (path, slash) in [
            ("leak", false),
            ("etc", false),
            ("etc", true),
            ("etc/passwd", false),
            ("etc/nope", false),
        ] {
            assert!(
                matches!(
                    files.lookup(path, slash, Wanted::default()).unwrap(),
                    Lookup::NotFound
                ),
                "{path}"
            );
        }
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn sidecar_is_chosen_when_accepted() {
        let dir = temp_root("sidecar");
        let mut files = files_in(&dir.join("root"));
        let plain = found(files.lookup("app.js", false, Wanted::default()).unwrap());
        assert_eq!(plain.meta.bytes.as_deref(), Some(&b"js"[..]));
        let br = found(files.lookup("app.js", false, both()).unwrap());
        assert_eq!(br.meta.bytes.as_deref(), Some(&b"brotli"[..]));
        let entity = String::from_utf8(br.meta.entity.clone()).unwrap();
        assert!(entity.contains("Content-Encoding: br\r\n"));
        assert!(entity.contains("Content-Type: text/javascript"));
        assert_ne!(plain.meta.etag, br.meta.etag);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn sidecar_and_direct_download_do_not_share_a_cache_entry() {
        let dir = temp_root("sidecar-direct");
        let mut files = files_in(&dir.join("root"));
        let both = both();
        // Negotiated first, then fetched by its own name, then negotiated again.
        let negotiated = found(files.lookup("app.js", false, both).unwrap());
        let direct = found(files.lookup("app.js.br", false, both).unwrap());
        let again = found(files.lookup("app.js", false, both).unwrap());
        let entity = |f: &Found| String::from_utf8(f.meta.entity.clone()).unwrap();
        assert!(entity(&negotiated).contains("Content-Encoding: br\r\n"));
        assert!(!entity(&direct).contains("Content-Encoding"));
        assert!(entity(&direct).contains("Content-Type: application/x-brotli"));
        assert!(entity(&again).contains("Content-Encoding: br\r\n"));
        assert!(entity(&again).contains("Content-Type: text/javascript"));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn gzip_is_made_once_per_file_version() {
        let dir = temp_root("gzip");
        let page = "<p>compress me</p>\n".repeat(200);
        std::fs::write(dir.join("root/page.html"), &page).unwrap();
        let mut files = files_with(&dir.join("root"), 64 * 1024, Vec::new());
        let identity = found(files.lookup("page.html", false, Wanted::default()).unwrap());
        let gz = found(files.lookup("page.html", false, gzip_only()).unwrap());
        assert!(text(&gz).contains("Content-Encoding: gzip\r\n"));
        assert!(text(&gz).contains("Vary: Accept-Encoding\r\n"));
        assert!(text(&identity).contains("Vary: Accept-Encoding\r\n"));
        assert_ne!(identity.meta.etag, gz.meta.etag);
        let packed = gz.meta.bytes.as_deref().unwrap();
        assert_eq!(gz.meta.len, packed.len() as u64);
        let inflated =
            miniz_oxide::inflate::decompress_to_vec(&packed[10..packed.len() - 8]).unwrap();
        assert_eq!(inflated, page.as_bytes());
        // The second request is the cached variant itself: no compression again.
        let again = found(files.lookup("page.html", false, gzip_only()).unwrap());
        assert!(Rc::ptr_eq(&gz.meta, &again.meta));
        // q=0 refuses it.
        let refused = Wanted::from_header(Some(b"gzip;q=0"));
        let plain = found(files.lookup("page.html", false, refused).unwrap());
        assert!(!text(&plain).contains("Content-Encoding"));
        // Edited (same size, new content): never the old compressed bytes.
        std::thread::sleep(std::time::Duration::from_millis(5));
        let edited = "<p>COMPRESS ME</p>\n".repeat(200);
        std::fs::write(dir.join("root/page.html"), &edited).unwrap();
        let fresh = found(files.lookup("page.html", false, gzip_only()).unwrap());
        let packed = fresh.meta.bytes.as_deref().unwrap();
        let inflated =
            miniz_oxide::inflate::decompress_to_vec(&packed[10..packed.len() - 8]).unwrap();
        assert_eq!(inflated, edited.as_bytes());
        assert_ne!(fresh.meta.etag, gz.meta.etag);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn small_incompressible_and_large_files_stay_identity() {
        let dir = temp_root("gzip-skip");
        std::fs::write(dir.join("root/tiny.html"), "<p>hi</p>").unwrap();
        std::fs::write(dir.join("root/photo.png"), vec![1u8; 4096]).unwrap();
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let noise: Vec<u8> = (0..4096)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 56) as u8
            })
            .collect();
        std::fs::write(dir.join("root/noise.txt"), &noise).unwrap();
        std::fs::write(dir.join("root/huge.css"), "a{}\n".repeat(300_000)).unwrap();
        let mut files = files_with(&dir.join("root"), 64 * 1024, Vec::new());
        for name in ["tiny.html", "photo.png", "noise.txt", "huge.css"] {
            let f = found(files.lookup(name, false, gzip_only()).unwrap());
            assert!(!text(&f).contains("Content-Encoding"), "{name}");
            // Asked twice: the "not worth it" answer is remembered, still identity.
            let f = found(files.lookup(name, false, gzip_only()).unwrap());
            assert!(!text(&f).contains("Content-Encoding"), "{name}");
        }
        // Above the cache entry size but within MAX_SOURCE: compressed when the result fits.
        std::fs::write(dir.join("root/mid.js"), "let x = 1;\n".repeat(10_000)).unwrap();
        let f = found(files.lookup("mid.js", false, gzip_only()).unwrap());
        assert!(text(&f).contains("Content-Encoding: gzip"));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn sidecar_wins_over_a_made_variant() {
        let dir = temp_root("gzip-sidecar");
        std::fs::write(dir.join("root/app.css"), "a{}\n".repeat(1000)).unwrap();
        std::fs::write(dir.join("root/app.css.gz"), b"sidecar").unwrap();
        let mut files = files_with(&dir.join("root"), 64 * 1024, Vec::new());
        let f = found(files.lookup("app.css", false, gzip_only()).unwrap());
        assert_eq!(f.meta.bytes.as_deref(), Some(&b"sidecar"[..]));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn header_rules_replace_defaults_and_split_for_304() {
        let dir = temp_root("rules");
        let rules = crate::headers::parse_lines(
            "*.html: Cache-Control: max-age=60\n*.html: Content-Security-Policy: default-src 'self'\n/sub/*: X-Sub: 1",
        )
        .unwrap();
        let mut files = files_with(&dir.join("root"), 64 * 1024, rules);
        let home = found(files.lookup("", true, Wanted::default()).unwrap());
        let validators = String::from_utf8(home.meta.validators.clone()).unwrap();
        let entity = String::from_utf8(home.meta.entity.clone()).unwrap();
        assert!(validators.contains("Cache-Control: max-age=60\r\n"));
        assert!(!validators.contains("no-cache"));
        assert!(entity.contains("Content-Security-Policy: default-src 'self'\r\n"));
        assert!(!entity.contains("X-Sub"));
        let sub = found(files.lookup("sub", true, Wanted::default()).unwrap());
        assert!(text(&sub).contains("X-Sub: 1\r\n"));
        let js = found(files.lookup("app.js", false, Wanted::default()).unwrap());
        assert!(text(&js).contains("Cache-Control: no-cache\r\n"));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn listings_stay_beneath_the_root() {
        let dir = temp_root("listing");
        std::fs::create_dir_all(dir.join("root/empty")).unwrap();
        std::fs::write(dir.join("root/empty/.hidden"), b"x").unwrap();
        std::fs::write(dir.join("root/empty/b.txt"), b"x").unwrap();
        std::fs::create_dir_all(dir.join("root/empty/a-dir")).unwrap();
        let mut files = files_with(&dir.join("root"), 64 * 1024, Vec::new());
        let Lookup::Directory(d) = files.lookup("empty", true, Wanted::default()).unwrap() else {
            panic!("expected a listing");
        };
        let (entries, omitted) = files.listing(d, "empty", false).unwrap();
        let names: Vec<_> = entries.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["a-dir", "b.txt"]);
        assert_eq!(omitted, 0);
        // The root holds `leak` and `etc`, symlinks leading out of it: not listed.
        std::fs::remove_file(dir.join("root/index.html")).unwrap();
        let Lookup::Directory(d) = files.lookup("", true, Wanted::default()).unwrap() else {
            panic!("expected a listing of the root");
        };
        let (entries, _) = files.listing(d, "", true).unwrap();
        let names: Vec<_> = entries.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["empty", "sub", "app.js", "app.js.br", "big.bin"]);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn edits_are_seen_at_once() {
        let dir = temp_root("edit");
        let mut files = files_in(&dir.join("root"));
        let first = found(
            files
                .lookup("sub/index.html", false, Wanted::default())
                .unwrap(),
        );
        assert_eq!(first.meta.bytes.as_deref(), Some(&b"sub"[..]));
        std::fs::write(dir.join("root/sub/index.html"), b"changed!").unwrap();
        let second = found(
            files
                .lookup("sub/index.html", false, Wanted::default())
                .unwrap(),
        );
        assert_eq!(second.meta.bytes.as_deref(), Some(&b"changed!"[..]));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
