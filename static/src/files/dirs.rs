//! Directories for `--list-dirs`: opening one beneath the root and reading its entries for a
//! listing (bounded: at most [`NAMES_READ`] names read, [`listing::MAX_ENTRIES`] stat'ed).

use std::fs::File;
use std::io;

use common::sys;

use super::{is_escape, is_missing, Files, Lookup};
use crate::listing;

/// Names read from one directory for a listing, at most.
const NAMES_READ: usize = 10_000;

impl Files {
    /// A directory to list: opened beneath the root (a link out of it is "not found").
    pub(super) fn open_directory(&mut self, relative: &str) -> io::Result<Lookup> {
        match sys::open_beneath(&self.root, &self.root_path, relative) {
            Ok(dir) => Ok(Lookup::Directory(dir)),
            Err(e) if is_missing(&e) || is_escape(&e) => Ok(Lookup::NotFound),
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => Ok(Lookup::Forbidden),
            Err(e) => Err(e),
        }
    }

    /// The entries of a directory opened by [`Files::lookup`] (`relative` is its path), for a
    /// listing: the first [`listing::MAX_ENTRIES`] names in byte order, each stat'ed beneath
    /// the root (a link leading out of it is left out, as it would be "not found"), dotfiles
    /// only with `show_dotfiles`. Returns them with the count of names left out. At most
    /// [`NAMES_READ`] names are read, so one request costs the worker a bounded amount.
    pub fn listing(
        &mut self,
        dir: File,
        relative: &str,
        show_dotfiles: bool,
    ) -> io::Result<(Vec<listing::Entry>, usize)> {
        let (mut names, more) = sys::dir_names(dir, NAMES_READ)?;
        names.retain(|n| show_dotfiles || !n.starts_with('.'));
        names.sort_unstable();
        let omitted = names.len().saturating_sub(listing::MAX_ENTRIES) + usize::from(more);
        names.truncate(listing::MAX_ENTRIES);
        let mut entries = Vec::with_capacity(names.len());
        for name in names {
            let path = if relative.is_empty() {
                name.clone()
            } else {
                format!("{relative}/{name}")
            };
            let Ok(stat) = sys::stat_beneath(&self.root, &self.root_path, &path, &mut self.scratch)
            else {
                continue;
            };
            if !stat.is_dir && !stat.is_file {
                continue; // sockets, FIFOs, devices: nothing a client can fetch
            }
            entries.push(listing::Entry {
                name,
                is_dir: stat.is_dir,
                size: if stat.is_dir { 0 } else { stat.size },
                mtime: u64::try_from(stat.mtime_secs).unwrap_or(0),
            });
        }
        listing::sort(&mut entries);
        Ok((entries, omitted))
    }
}
