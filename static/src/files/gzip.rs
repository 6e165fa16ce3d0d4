//! The gzip variant of a compressible file, made once per file version and kept in the cache
//! under its own key (see the parent module's doc).

use std::io::{self, Read};
use std::rc::Rc;

use common::sys::FileStat;

use super::{same_file, Files, Found, Lookup};
use crate::compress;

impl Files {
    /// The gzip variant of `path`, made once per file version and cached. A file whose variant
    /// is not worth it (or would not fit a cache entry) is cached as a marker without bytes, so
    /// the next request sends identity without compressing again.
    pub(super) fn gzip_variant(&mut self, path: &str, stat: FileStat) -> io::Result<Lookup> {
        let key = format!("{path}\0gzip-made");
        let cached = self.cache.get(&key).filter(|m| same_file(&m.stat, &stat));
        if let Some(meta) = cached {
            if meta.bytes.is_none() {
                return self.open_cached(path, stat, None, path);
            }
            return Ok(Lookup::Found(Found {
                meta: meta.clone(),
                file: None,
            }));
        }
        let identity = match self.open_cached(path, stat, None, path)? {
            Lookup::Found(found) => found,
            other => return Ok(other),
        };
        let source = identity.meta;
        let read;
        let bytes = match (&source.bytes, identity.file) {
            (Some(bytes), _) => &bytes[..],
            (None, Some(mut file)) => {
                // Too large for the cache but small enough to compress: read it once, here.
                let mut buf = Vec::with_capacity(stat.size as usize);
                (&mut file).take(stat.size).read_to_end(&mut buf)?;
                read = buf;
                &read[..]
            }
            (None, None) => return Ok(Lookup::NotFound),
        };
        if bytes.len() as u64 != source.stat.size {
            return Ok(Lookup::NotFound); // changed while read: the next request sees the new one
        }
        let packed = compress::gzip(bytes);
        let usable =
            compress::worth_it(bytes.len(), packed.len()) && packed.len() <= self.policy.max_entry;
        let mut meta = self.meta(source.stat, Some("gzip"), path, true);
        if !usable {
            self.insert(&key, Rc::new(meta));
            return self.open_cached(path, stat, None, path);
        }
        meta.len = packed.len() as u64;
        meta.bytes = Some(packed.into_boxed_slice());
        let meta = Rc::new(meta);
        self.insert(&key, meta.clone());
        Ok(Lookup::Found(Found { meta, file: None }))
    }
}
