//! The access log: one line per request, batched per worker and handed once per event-loop turn
//! (or when the batch grows large) to a writer thread, so logging costs no syscall per request
//! under load and a worker never blocks on its output. Bytes that come from the client are
//! escaped, so a request cannot forge log lines.
//!
//! Nothing here blocks a worker: a stalled reader of stdout (a full pipe, a paused log
//! collector) stalls only stdout's writer thread. Its queue is bounded ([`QUEUE_BATCHES`]);
//! batches that do not fit are dropped and counted, and the count is reported on stderr every
//! second ([`report_drops`]). Errors go through stderr's own writer thread ([`error`]); they are
//! rare by construction. Resource exhaustion is the exception (every connection of a flood runs into
//! it), so it is reported through [`exhausted`], which logs once per episode.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How access-log lines look.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// The combined log format of Apache and nginx.
    Combined,
    /// One JSON object per line.
    Json,
    /// No access log.
    Off,
}

impl LogFormat {
    pub fn parse(s: &str) -> Option<LogFormat> {
        match s {
            "combined" => Some(LogFormat::Combined),
            "json" => Some(LogFormat::Json),
            "off" | "none" => Some(LogFormat::Off),
            _ => None,
        }
    }
}

/// What is logged about one request.
pub struct Entry<'a> {
    pub peer: IpAddr,
    pub method: &'a str,
    pub target: &'a [u8],
    /// `HTTP/1.1`, `HTTP/1.0` or `HTTP/2.0`.
    pub protocol: &'a str,
    pub status: u16,
    pub body_bytes: u64,
    pub referer: Option<&'a [u8]>,
    pub user_agent: Option<&'a [u8]>,
    /// The upstream that answered, for the proxy.
    pub upstream: Option<&'a str>,
}

/// Flush a batch past this size even in the middle of a turn.
const FLUSH_AT: usize = 32 * 1024;

/// A worker's batch of access-log lines.
pub struct AccessLog {
    format: LogFormat,
    batch: Vec<u8>,
}

impl AccessLog {
    pub fn new(format: LogFormat) -> Self {
        AccessLog {
            format,
            batch: Vec::new(),
        }
    }

    pub fn is_enabled(&self) -> bool {
        self.format != LogFormat::Off
    }

    /// Appends one line. `date` is the current IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`).
    pub fn record(&mut self, date: &[u8; 29], e: &Entry) {
        match self.format {
            LogFormat::Off => return,
            LogFormat::Combined => combined_line(&mut self.batch, date, e),
            LogFormat::Json => json_line(&mut self.batch, date, e),
        }
        if self.batch.len() >= FLUSH_AT {
            self.flush();
        }
    }

    /// Hands the batch to the writer thread (never blocks; see the module doc).
    pub fn flush(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let lines = self.batch.iter().filter(|&&b| b == b'\n').count() as u64;
        let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(1024));
        STDOUT.submit(batch, lines);
    }
}

/// Batches waiting for the stdout writer at most: a stalled stdout costs at most this many
/// batches of memory (each about [`FLUSH_AT`] bytes or less).
pub const QUEUE_BATCHES: usize = 64;
/// Lines waiting for the stderr writer at most.
const QUEUE_LINES: usize = 256;

enum Msg {
    Bytes(Vec<u8>),
    /// Answered once everything queued before it was written.
    Flushed(SyncSender<()>),
}

/// One output (stdout or stderr) with its own writer thread, so a stalled stdout never holds
/// back the error that reports it.
struct Output {
    fd: i32,
    capacity: usize,
    writer: OnceLock<Option<SyncSender<Msg>>>,
    /// Lines dropped because the queue was full, not yet reported.
    dropped: AtomicU64,
}

static STDOUT: Output = Output::new(1, QUEUE_BATCHES);
static STDERR: Output = Output::new(2, QUEUE_LINES);

impl Output {
    const fn new(fd: i32, capacity: usize) -> Output {
        Output {
            fd,
            capacity,
            writer: OnceLock::new(),
            dropped: AtomicU64::new(0),
        }
    }

    fn sender(&'static self) -> Option<&'static SyncSender<Msg>> {
        self.writer
            .get_or_init(|| {
                let (tx, rx) = mpsc::sync_channel(self.capacity);
                let fd = self.fd;
                std::thread::Builder::new()
                    .name(format!("log-writer-{fd}"))
                    .spawn(move || write_loop(fd, rx))
                    .ok()
                    .map(|_| tx)
            })
            .as_ref()
    }

    /// Queues `bytes` (`lines` lines of them) without ever blocking; counts them when full.
    fn submit(&'static self, bytes: Vec<u8>, lines: u64) {
        let sent = self
            .sender()
            .is_some_and(|tx| tx.try_send(Msg::Bytes(bytes)).is_ok());
        if !sent {
            self.dropped.fetch_add(lines.max(1), Ordering::Relaxed);
        }
    }

    /// Waits (until `deadline`) for what was queued so far to be written.
    fn flush(&'static self, deadline: Instant) {
        let Some(tx) = self.sender() else {
            return;
        };
        let (done_tx, done_rx) = mpsc::sync_channel(1);
        let mut msg = Msg::Flushed(done_tx);
        loop {
            match tx.try_send(msg) {
                Ok(()) => break,
                Err(TrySendError::Full(back)) if Instant::now() < deadline => {
                    msg = back;
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(_) => return,
            }
        }
        let _ = done_rx.recv_timeout(deadline.saturating_duration_since(Instant::now()));
    }
}

/// A writer thread: the only place that writes (and may block on) its descriptor.
fn write_loop(fd: i32, rx: Receiver<Msg>) {
    for msg in rx {
        match msg {
            Msg::Bytes(bytes) => {
                let _ = crate::sys::write_all_fd(fd, &bytes);
            }
            Msg::Flushed(done) => {
                let _ = done.send(());
            }
        }
    }
}

/// Reports lines dropped because their output was not being read. Cheap (two atomic swaps);
/// called on every sweep of every worker.
pub fn report_drops() {
    let access = STDOUT.dropped.swap(0, Ordering::Relaxed);
    if access > 0 {
        error(format_args!(
            "access log: {access} line(s) dropped: stdout is not being read fast enough"
        ));
    }
    let errors = STDERR.dropped.swap(0, Ordering::Relaxed);
    if errors > 0 {
        error(format_args!(
            "{errors} error line(s) dropped: stderr is not being read"
        ));
    }
}

/// Waits (at most `within`) until everything queued so far is written: called once when the
/// process is about to exit, so the last lines are not lost. A stalled output gives up.
pub fn flush_pending(within: Duration) {
    report_drops();
    let deadline = Instant::now() + within;
    STDOUT.flush(deadline);
    STDERR.flush(deadline);
}

/// Queues an error line for stderr (never blocks the caller).
pub fn error(args: std::fmt::Arguments) {
    STDERR.submit(format!("error: {args}\n").into_bytes(), 1);
}

/// Queues an informational line for stderr (never blocks the caller).
pub fn notice(args: std::fmt::Arguments) {
    STDERR.submit(format!("{args}\n").into_bytes(), 1);
}

/// An exhaustion episode ends after this long without a report.
pub const EXHAUSTION_QUIET: Duration = Duration::from_secs(5);

struct Episode {
    since: Instant,
    last: Instant,
    /// Reports absorbed after the one that was logged.
    more: u64,
}

/// The current episode, shared by all workers: one line for the whole process, not per worker.
static EPISODE: Mutex<Option<Episode>> = Mutex::new(None);

/// Reports resource exhaustion (descriptor limit, connection limit). The first report of an
/// episode is logged; later ones are only counted until [`exhaustion_sweep`] sees none for
/// [`EXHAUSTION_QUIET`], which logs the end. A flood of connections therefore costs two log
/// lines, not one per connection. Called on failure paths only.
pub fn exhausted(what: std::fmt::Arguments) {
    let now = Instant::now();
    let Ok(mut episode) = EPISODE.lock() else {
        return;
    };
    match episode.as_mut() {
        Some(e) => {
            e.last = now;
            e.more += 1;
        }
        None => {
            *episode = Some(Episode {
                since: now,
                last: now,
                more: 0,
            });
            drop(episode);
            error(format_args!(
                "{what} (logged once until it clears; further occurrences are counted)"
            ));
        }
    }
}

/// Keeps an episode open without counting a new occurrence: the condition still holds (a
/// worker is still not accepting) although nothing new ran into it.
pub fn still_exhausted() {
    if let Ok(mut episode) = EPISODE.lock() {
        if let Some(e) = episode.as_mut() {
            e.last = Instant::now();
        }
    }
}

/// Ends the current episode once nothing was reported for [`EXHAUSTION_QUIET`], logging how
/// long it lasted. Cheap enough for every sweep of every worker.
pub fn exhaustion_sweep() {
    let now = Instant::now();
    let Ok(mut episode) = EPISODE.lock() else {
        return;
    };
    let over = episode
        .as_ref()
        .is_some_and(|e| now.saturating_duration_since(e.last) >= EXHAUSTION_QUIET);
    if over {
        if let Some(e) = episode.take() {
            drop(episode);
            error(format_args!(
                "resources available again after {:.1}s ({} more occurrence(s) not logged)",
                e.last.saturating_duration_since(e.since).as_secs_f64(),
                e.more
            ));
        }
    }
}

fn month_number(name: &[u8]) -> &'static [u8] {
    const MONTHS: [&[u8]; 12] = [
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
        b"Dec",
    ];
    const NUMBERS: [&[u8]; 12] = [
        b"01", b"02", b"03", b"04", b"05", b"06", b"07", b"08", b"09", b"10", b"11", b"12",
    ];
    MONTHS
        .iter()
        .position(|m| *m == name)
        .map_or(b"00", |i| NUMBERS[i])
}

/// `1.2.3.4 - - [06/Nov/1994:08:49:37 +0000] "GET / HTTP/1.1" 200 123 "ref" "ua"`
fn combined_line(out: &mut Vec<u8>, date: &[u8; 29], e: &Entry) {
    use std::io::Write;
    let _ = write!(out, "{} - - [", e.peer);
    out.extend_from_slice(&date[5..7]);
    out.push(b'/');
    out.extend_from_slice(&date[8..11]);
    out.push(b'/');
    out.extend_from_slice(&date[12..16]);
    out.push(b':');
    out.extend_from_slice(&date[17..25]);
    out.extend_from_slice(b" +0000] \"");
    escape_log(out, e.method.as_bytes());
    out.push(b' ');
    escape_log(out, e.target);
    out.push(b' ');
    out.extend_from_slice(e.protocol.as_bytes());
    let _ = write!(out, "\" {} {} \"", e.status, e.body_bytes);
    escape_log(out, e.referer.unwrap_or(b"-"));
    out.extend_from_slice(b"\" \"");
    escape_log(out, e.user_agent.unwrap_or(b"-"));
    out.push(b'"');
    if let Some(upstream) = e.upstream {
        out.extend_from_slice(b" upstream=");
        escape_log(out, upstream.as_bytes());
    }
    out.push(b'\n');
}

/// nginx-style escaping: quotes, backslashes, control and non-ASCII bytes become `\xHH`.
fn escape_log(out: &mut Vec<u8>, bytes: &[u8]) {
    for &b in bytes {
        if b == b'"' || b == b'\\' || !(0x20..0x7f).contains(&b) {
            out.extend_from_slice(&[b'\\', b'x', hex(b >> 4), hex(b & 15)]);
        } else {
            out.push(b);
        }
    }
}

fn hex(n: u8) -> u8 {
    b"0123456789abcdef"[usize::from(n & 15)]
}

fn json_line(out: &mut Vec<u8>, date: &[u8; 29], e: &Entry) {
    use std::io::Write;
    out.extend_from_slice(b"{\"time\":\"");
    out.extend_from_slice(&date[12..16]);
    out.push(b'-');
    out.extend_from_slice(month_number(&date[8..11]));
    out.push(b'-');
    out.extend_from_slice(&date[5..7]);
    out.push(b'T');
    out.extend_from_slice(&date[17..25]);
    let _ = write!(out, "Z\",\"remote_addr\":\"{}\",\"method\":\"", e.peer);
    escape_json(out, e.method.as_bytes());
    out.extend_from_slice(b"\",\"target\":\"");
    escape_json(out, e.target);
    let _ = write!(
        out,
        "\",\"protocol\":\"{}\",\"status\":{},\"body_bytes\":{}",
        e.protocol, e.status, e.body_bytes
    );
    for (key, value) in [("referer", e.referer), ("user_agent", e.user_agent)] {
        if let Some(v) = value {
            let _ = write!(out, ",\"{key}\":\"");
            escape_json(out, v);
            out.push(b'"');
        }
    }
    if let Some(upstream) = e.upstream {
        out.extend_from_slice(b",\"upstream\":\"");
        escape_json(out, upstream.as_bytes());
        out.push(b'"');
    }
    out.extend_from_slice(b"}\n");
}

/// JSON string escaping; bytes outside printable ASCII become `\u00HH` so the line stays valid
/// JSON whatever the client sent.
fn escape_json(out: &mut Vec<u8>, bytes: &[u8]) {
    for &b in bytes {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            0x20..=0x7e => out.push(b),
            _ => out.extend_from_slice(&[b'\\', b'u', b'0', b'0', hex(b >> 4), hex(b & 15)]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DATE: &[u8; 29] = b"Sun, 06 Nov 1994 08:49:37 GMT";

    fn entry<'a>(target: &'a [u8], ua: Option<&'a [u8]>) -> Entry<'a> {
        Entry {
            peer: "192.0.2.1".parse().unwrap(),
            method: "GET",
            target,
            protocol: "HTTP/1.1",
            status: 200,
            body_bytes: 5,
            referer: None,
            user_agent: ua,
            upstream: None,
        }
    }

    #[test]
    fn combined_format() {
        let mut out = Vec::new();
        combined_line(&mut out, DATE, &entry(b"/a b", Some(b"curl/8")));
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "192.0.2.1 - - [06/Nov/1994:08:49:37 +0000] \"GET /a b HTTP/1.1\" 200 5 \"-\" \"curl/8\"\n"
        );
    }

    #[test]
    fn client_bytes_cannot_break_lines() {
        let mut out = Vec::new();
        combined_line(&mut out, DATE, &entry(b"/x\"\n\xff", Some(b"a\r\nb")));
        let line = String::from_utf8(out).unwrap();
        assert_eq!(line.matches('\n').count(), 1);
        assert!(line.contains("/x\\x22\\x0a\\xff"));
    }

    #[test]
    fn json_format_is_valid_json_shape() {
        let mut out = Vec::new();
        json_line(&mut out, DATE, &entry(b"/\"q\x01", None));
        let line = String::from_utf8(out).unwrap();
        assert!(line.starts_with("{\"time\":\"1994-11-06T08:49:37Z\""));
        assert!(line.contains("\"target\":\"/\\\"q\\u0001\""));
        assert!(line.ends_with("}\n"));
    }
}
