//! Test certificates made with the openssl CLI at test time (nothing secret is committed).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A self-signed EC P-256 end-entity certificate for `localhost` and 127.0.0.1, valid `days` days from now, written to
/// `dir` as `c.pem` and its key as `k.pem`; returns (certificate, key).
pub fn self_signed(dir: &Path, days: u32) -> (PathBuf, PathBuf) {
    std::fs::create_dir_all(dir).expect("certificate directory");
    let days = days.to_string();
    let status = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "k.pem",
            "-out",
            "c.pem",
            "-days",
            &days,
            "-subj",
            "/CN=localhost",
            // An end-entity certificate (rustls refuses a CA one as a server's), which a
            // client can then trust as its own anchor.
            "-addext",
            "basicConstraints=critical,CA:FALSE",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ])
        .current_dir(dir)
        .stderr(Stdio::null())
        .status()
        .expect("openssl CLI");
    assert!(status.success(), "openssl req failed");
    (dir.join("c.pem"), dir.join("k.pem"))
}
