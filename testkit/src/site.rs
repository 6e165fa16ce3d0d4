//! Temporary sites for the static server: a root directory with a `secret` file beside it that
//! no response may ever contain, and deterministic content.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// What the `secret` file beside every root contains; no response may ever include it.
pub const SECRET: &[u8] = b"TOP-SECRET-c0ffee-do-not-serve";

/// A fresh directory `<tmp>/static-it-<pid>-<n>-<name>/` holding `root/` and `secret`,
/// removed on drop.
pub struct Site {
    pub base: PathBuf,
    pub root: PathBuf,
}

impl Site {
    pub fn new(name: &str) -> Site {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let base =
            std::env::temp_dir().join(format!("static-it-{}-{n}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let root = base.join("root");
        std::fs::create_dir_all(&root).expect("create root");
        std::fs::write(base.join("secret"), SECRET).expect("write secret");
        Site { base, root }
    }

    /// Writes `rel` below the root, creating parent directories.
    pub fn write(&self, rel: &str, content: impl AsRef<[u8]>) -> PathBuf {
        let path = self.root.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create dirs");
        }
        std::fs::write(&path, content).expect("write file");
        path
    }

    pub fn mkdir(&self, rel: &str) {
        std::fs::create_dir_all(self.root.join(rel)).expect("mkdir");
    }

    pub fn symlink(&self, target: impl AsRef<Path>, rel: &str) {
        std::os::unix::fs::symlink(target, self.root.join(rel)).expect("symlink");
    }

    pub fn secret_path(&self) -> PathBuf {
        self.base.join("secret")
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.base);
    }
}

/// Deterministic pseudo-random bytes (xorshift64), for large files compared byte for byte.
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// FNV-1a, to report large-body mismatches without printing megabytes.
pub fn checksum(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}
