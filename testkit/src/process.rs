//! A child process of a test: its stdout and stderr collected line by line by draining threads
//! (a pipe nobody reads would stall the child), the first line that announces it is ready, and
//! signals, exit, memory. Killed on drop.

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The binary `name` of this workspace: `<NAME>_BIN` when set, else the one cargo built next
/// to the running test (`target/<profile>/<name>`).
pub fn bin(name: &str) -> String {
    let var = format!("{}_BIN", name.to_ascii_uppercase().replace('-', "_"));
    if let Ok(path) = std::env::var(&var) {
        return path;
    }
    let exe = std::env::current_exe().expect("test executable");
    // target/<profile>/deps/<test>-<hash> -> target/<profile>/<name>
    let dir: PathBuf = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target directory")
        .to_path_buf();
    dir.join(name).to_string_lossy().into_owned()
}

/// Lines a child wrote to one of its pipes, collected by a draining thread.
#[derive(Clone, Default)]
pub struct Lines(Arc<Mutex<Vec<String>>>);

impl Lines {
    pub fn snapshot(&self) -> Vec<String> {
        self.0.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Everything so far, one line each.
    pub fn text(&self) -> String {
        self.snapshot().iter().map(|l| format!("{l}\n")).collect()
    }

    pub fn contains(&self, needle: &str) -> bool {
        self.snapshot().iter().any(|l| l.contains(needle))
    }

    /// Polls until some line satisfies `pred`, or panics after `timeout`.
    pub fn wait_for(&self, timeout: Duration, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(line) = self.snapshot().into_iter().find(|l| pred(l)) {
                return line;
            }
            assert!(
                Instant::now() < deadline,
                "no matching line within {timeout:?}; got: {:#?}",
                self.snapshot()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Which lines announce readiness, and where to send them.
type ReadySignal = (fn(&str) -> bool, mpsc::Sender<String>);

/// Drains `pipe` into `lines` (echoing to the test's stderr with `tag`); lines for which
/// `ready` holds are also sent to `tx`.
fn drain(
    pipe: impl Read + Send + 'static,
    lines: Lines,
    tag: &'static str,
    ready: Option<ReadySignal>,
) {
    std::thread::spawn(move || {
        let mut reader = BufReader::new(pipe);
        let mut raw = Vec::new();
        loop {
            raw.clear();
            match reader.read_until(b'\n', &mut raw) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            let line = String::from_utf8_lossy(&raw).trim_end().to_string();
            if !tag.is_empty() {
                eprintln!("[{tag}] {line}");
            }
            if let Some((is_ready, tx)) = &ready {
                if is_ready(&line) {
                    let _ = tx.send(line.clone());
                }
            }
            if let Ok(mut all) = lines.0.lock() {
                all.push(line);
            }
        }
    });
}

/// A running child process.
pub struct Running {
    pub child: Child,
    pub stdout: Lines,
    pub stderr: Lines,
}

impl Running {
    /// Starts `cmd` with piped output and waits until `count` stderr lines satisfy `ready`;
    /// returns them. `tag` prefixes the child's stderr echoed to the test's (empty: silent).
    pub fn spawn(
        mut cmd: Command,
        tag: &'static str,
        ready: fn(&str) -> bool,
        count: usize,
    ) -> (Running, Vec<String>) {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn the server");
        let (stdout, stderr) = (Lines::default(), Lines::default());
        let (tx, rx) = mpsc::channel();
        drain(
            child.stderr.take().expect("stderr"),
            stderr.clone(),
            tag,
            Some((ready, tx)),
        );
        drain(
            child.stdout.take().expect("stdout"),
            stdout.clone(),
            "",
            None,
        );
        let mut found = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        while found.len() < count {
            match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(line) => found.push(line),
                Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("the server did not start; stderr: {:#?}", stderr.snapshot());
                }
            }
        }
        (
            Running {
                child,
                stdout,
                stderr,
            },
            found,
        )
    }

    pub fn pid(&self) -> i32 {
        i32::try_from(self.child.id()).expect("pid fits")
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) with a pid we own and a valid signal number.
        let rc = unsafe { libc::kill(self.pid(), sig) };
        assert_eq!(rc, 0, "kill failed");
    }

    /// Waits up to `timeout` for the process to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits for the exit and returns the exit code.
    pub fn wait(&mut self, within: Duration) -> Option<i32> {
        self.wait_exit(within).and_then(|s| s.code())
    }

    /// A `VmRSS:`-style field of /proc/PID/status, in KiB.
    pub fn vm_kib(&self, field: &str) -> u64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid())).expect("/proc status");
        status
            .lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("no {field} in /proc status"))
    }

    /// Peak resident memory (VmHWM) in KiB.
    pub fn peak_rss_kib(&self) -> u64 {
        self.vm_kib("VmHWM")
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}
