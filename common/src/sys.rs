//! The few system calls std does not offer: SO_REUSEPORT listeners, rlimits, sendfile, openat2,
//! signal masks. This is the only module with `unsafe`; every block is a plain FFI call whose
//! arguments are checked here, so callers stay safe Rust.

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Raises the soft limit on open files to the hard limit and returns the new soft limit.
/// Servers hold one descriptor per connection, and the default soft limit (often 1024) is far
/// below what the hard limit allows.
pub fn raise_nofile_limit() -> io::Result<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid, writable rlimit.
    cvt(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) })?;
    if lim.rlim_cur < lim.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: lim.rlim_max,
            rlim_max: lim.rlim_max,
        };
        // SAFETY: `raised` is a valid rlimit; failure leaves the old limit in place.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            lim = raised;
        }
    }
    Ok(lim.rlim_cur)
}

/// A non-blocking listening socket with SO_REUSEADDR and SO_REUSEPORT set, so that each worker
/// thread can own its own listener on the same address and the kernel spreads connections.
pub fn reuseport_listener(addr: SocketAddr, backlog: i32) -> io::Result<TcpListener> {
    let domain = match addr {
        SocketAddr::V4(_) => libc::AF_INET,
        SocketAddr::V6(_) => libc::AF_INET6,
    };
    // SAFETY: plain socket(2); the descriptor is owned right away so it is closed on any error.
    let fd = cvt(unsafe {
        libc::socket(
            domain,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            0,
        )
    })?;
    // SAFETY: `fd` is a fresh descriptor that nothing else owns.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    set_int_opt(fd, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)?;
    set_int_opt(fd, libc::SOL_SOCKET, libc::SO_REUSEPORT, 1)?;
    let (storage, len) = sockaddr_of(addr);
    // SAFETY: `storage` holds a valid sockaddr of length `len`.
    cvt(unsafe { libc::bind(fd, &storage as *const _ as *const libc::sockaddr, len) })?;
    // SAFETY: `fd` is a bound stream socket.
    cvt(unsafe { libc::listen(fd, backlog) })?;
    Ok(TcpListener::from(owned))
}

fn set_int_opt(
    fd: RawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    // SAFETY: the option value is a c_int of the stated size.
    cvt(unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            &value as *const libc::c_int as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    })
    .map(drop)
}

fn sockaddr_of(addr: SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: an all-zero sockaddr_storage is a valid value.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match addr {
        SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is larger than sockaddr_in and suitably aligned.
            unsafe { std::ptr::write(&mut storage as *mut _ as *mut libc::sockaddr_in, sin) };
            std::mem::size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo(),
                sin6_addr: libc::in6_addr {
                    s6_addr: a.ip().octets(),
                },
                sin6_scope_id: a.scope_id(),
            };
            // SAFETY: sockaddr_storage is larger than sockaddr_in6 and suitably aligned.
            unsafe { std::ptr::write(&mut storage as *mut _ as *mut libc::sockaddr_in6, sin6) };
            std::mem::size_of::<libc::sockaddr_in6>()
        }
    };
    (storage, len as libc::socklen_t)
}

/// One sendfile(2) call: copies up to `count` bytes of `file` from `*offset` to `socket` and
/// advances `*offset`. Returns `WouldBlock` when the socket buffer is full.
pub fn sendfile(
    socket: &impl AsRawFd,
    file: &File,
    offset: &mut u64,
    count: usize,
) -> io::Result<usize> {
    let mut off =
        i64::try_from(*offset).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // Linux transfers at most 0x7ffff000 bytes per call anyway.
    let count = count.min(0x7fff_f000);
    // SAFETY: both descriptors are open for the duration of the call; `off` is a valid off_t.
    let n = unsafe { libc::sendfile(socket.as_raw_fd(), file.as_raw_fd(), &mut off, count) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    *offset = off as u64;
    Ok(n as usize)
}

const RESOLVE_NO_MAGICLINKS: u64 = 0x02;
const RESOLVE_BENEATH: u64 = 0x08;

#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

/// Opens `relative` (no leading slash, already sanitised) for reading below the directory `root`,
/// refusing any path whose resolution leaves `root`: `..` or a symlink pointing outside. Symlinks
/// that stay inside are followed. Uses openat2(RESOLVE_BENEATH), which the kernel enforces
/// atomically; where openat2 is unavailable (old kernels, strict seccomp profiles) it falls back
/// to canonicalising the path and checking the prefix, which is racy against concurrent renames
/// but still refuses every link that points outside at the time of the check.
pub fn open_beneath(root: &File, root_path: &Path, relative: &str) -> io::Result<File> {
    let rel = if relative.is_empty() { "." } else { relative };
    let c_rel = CString::new(rel).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let how = OpenHow {
        // O_NONBLOCK: a FIFO swapped in for a file must not block the worker (regular files ignore it).
        flags: (libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NOCTTY | libc::O_NONBLOCK) as u64,
        mode: 0,
        resolve: RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
    };
    // SAFETY: `how` is a valid open_how of the size passed; the path is NUL-terminated.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            root.as_raw_fd(),
            c_rel.as_ptr(),
            &how as *const OpenHow,
            std::mem::size_of::<OpenHow>(),
        )
    };
    if fd >= 0 {
        // SAFETY: the kernel returned a new descriptor that we now own.
        return Ok(unsafe { File::from_raw_fd(fd as RawFd) });
    }
    let err = io::Error::last_os_error();
    match err.raw_os_error() {
        Some(libc::ENOSYS) | Some(libc::EPERM) => {
            let full = root_path.join(rel).canonicalize()?;
            if full.starts_with(root_path) {
                use std::os::unix::fs::OpenOptionsExt;
                std::fs::OpenOptions::new()
                    .read(true)
                    .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
                    .open(full)
            } else {
                Err(io::Error::from_raw_os_error(libc::EXDEV))
            }
        }
        _ => Err(err),
    }
}

/// What the static server needs to know about a file to validate a cached copy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileStat {
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    pub mtime_secs: i64,
    pub mtime_nanos: u32,
    pub is_dir: bool,
    pub is_file: bool,
}

impl FileStat {
    fn from_raw(st: &libc::stat) -> Self {
        let kind = st.st_mode & libc::S_IFMT;
        FileStat {
            dev: st.st_dev,
            ino: st.st_ino,
            size: st.st_size.max(0) as u64,
            mtime_secs: st.st_mtime,
            mtime_nanos: st.st_mtime_nsec.clamp(0, 999_999_999) as u32,
            is_dir: kind == libc::S_IFDIR,
            is_file: kind == libc::S_IFREG,
        }
    }
}

/// stat(2) of `relative` below the directory `root`, following symlinks, in one syscall and
/// without allocating (`scratch` holds the NUL-terminated path). Not confined to `root`: a
/// symlink leading out is followed. Callers must confirm containment before anything they
/// answer depends on where the path leads: [`open_beneath`] does for a file that is served,
/// [`stat_beneath`] for the rest (a directory redirect, say).
pub fn stat_at(root: &File, relative: &str, scratch: &mut Vec<u8>) -> io::Result<FileStat> {
    nul_terminated(relative, scratch)?;
    // SAFETY: a zeroed stat is a valid out-parameter.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `scratch` is NUL-terminated and `st` is writable.
    cvt(unsafe {
        libc::fstatat(
            root.as_raw_fd(),
            scratch.as_ptr() as *const libc::c_char,
            &mut st,
            0,
        )
    })?;
    Ok(FileStat::from_raw(&st))
}

/// `relative` (`.` when empty) NUL-terminated in `scratch`.
fn nul_terminated(relative: &str, scratch: &mut Vec<u8>) -> io::Result<()> {
    scratch.clear();
    scratch.extend_from_slice(if relative.is_empty() {
        b"."
    } else {
        relative.as_bytes()
    });
    if scratch.contains(&0) {
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    }
    scratch.push(0);
    Ok(())
}

/// stat(2) of `relative` below the directory `root`, with the same confinement as
/// [`open_beneath`]: a path whose resolution leaves `root` (`..`, a symlink pointing outside)
/// fails with EXDEV instead of describing a file outside, so a client cannot learn what
/// exists beyond the root from the difference between 404, 403 and 301. openat2(O_PATH),
/// fstat(2) and close(2): three syscalls where [`stat_at`] takes one, so it is used only where
/// containment is not confirmed otherwise.
pub fn stat_beneath(
    root: &File,
    root_path: &Path,
    relative: &str,
    scratch: &mut Vec<u8>,
) -> io::Result<FileStat> {
    nul_terminated(relative, scratch)?;
    let how = OpenHow {
        flags: (libc::O_PATH | libc::O_CLOEXEC) as u64,
        mode: 0,
        resolve: RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
    };
    // SAFETY: `how` is a valid open_how of the size passed; the path is NUL-terminated.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            root.as_raw_fd(),
            scratch.as_ptr() as *const libc::c_char,
            &how as *const OpenHow,
            std::mem::size_of::<OpenHow>(),
        )
    };
    if fd < 0 {
        let err = io::Error::last_os_error();
        return match err.raw_os_error() {
            // No openat2 here: the same containment check as `open_beneath`'s fallback.
            Some(libc::ENOSYS) | Some(libc::EPERM) => {
                let rel = if relative.is_empty() { "." } else { relative };
                let full = root_path.join(rel).canonicalize()?;
                if !full.starts_with(root_path) {
                    return Err(io::Error::from_raw_os_error(libc::EXDEV));
                }
                use std::os::unix::fs::OpenOptionsExt;
                let file = std::fs::OpenOptions::new()
                    .read(true)
                    .custom_flags(libc::O_PATH)
                    .open(full)?;
                stat_file(&file)
            }
            _ => Err(err),
        };
    }
    // SAFETY: the kernel returned a new descriptor that we now own (closed on drop).
    let file = unsafe { File::from_raw_fd(fd as RawFd) };
    stat_file(&file)
}

/// The names in an open directory, without `.` and `..`, at most `limit` of them; the flag
/// says whether more were left out. Takes the descriptor (fdopendir owns it, closedir closes
/// it). Names that are not UTF-8 are skipped: no request can name them (paths are decoded to
/// UTF-8), so listing them would only offer dead links.
pub fn dir_names(dir: File, limit: usize) -> io::Result<(Vec<String>, bool)> {
    use std::os::fd::IntoRawFd;
    let fd = dir.into_raw_fd();
    // SAFETY: `fd` is an open descriptor we own; on success the DIR stream owns it.
    let stream = unsafe { libc::fdopendir(fd) };
    if stream.is_null() {
        let err = io::Error::last_os_error();
        // SAFETY: fdopendir failed, so the descriptor is still ours to close.
        unsafe { libc::close(fd) };
        return Err(err);
    }
    let mut names = Vec::new();
    let mut more = false;
    let result = loop {
        // readdir returns NULL both at the end and on error; errno tells them apart.
        // SAFETY: errno is thread-local; `stream` is a valid DIR until closedir below.
        unsafe { *libc::__errno_location() = 0 };
        let entry = unsafe { libc::readdir(stream) };
        if entry.is_null() {
            let err = io::Error::last_os_error();
            break match err.raw_os_error() {
                Some(0) | None => Ok(()),
                Some(_) => Err(err),
            };
        }
        // SAFETY: a non-NULL dirent from readdir has a NUL-terminated d_name, valid until the
        // next readdir on this stream; it is copied before that.
        let name = unsafe { std::ffi::CStr::from_ptr((*entry).d_name.as_ptr()) };
        let bytes = name.to_bytes();
        if bytes == b"." || bytes == b".." {
            continue;
        }
        if names.len() == limit {
            more = true;
            break Ok(());
        }
        if let Ok(name) = std::str::from_utf8(bytes) {
            names.push(name.to_string());
        }
    };
    // SAFETY: `stream` came from fdopendir and is closed exactly once.
    unsafe { libc::closedir(stream) };
    result.map(|()| (names, more))
}

/// fstat(2) of an open file.
pub fn stat_file(file: &File) -> io::Result<FileStat> {
    // SAFETY: a zeroed stat is a valid out-parameter.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: the descriptor is open and `st` is writable.
    cvt(unsafe { libc::fstat(file.as_raw_fd(), &mut st) })?;
    Ok(FileStat::from_raw(&st))
}

/// Blocks `signals` in the calling thread; threads spawned afterwards inherit the mask. Call it
/// first thing in `main`, so that only the thread calling [`wait_for_signal`] receives them.
/// A no-op handler is installed too: a process that is PID 1 in its namespace gets no default
/// action for SIGTERM, and a handled signal is never dropped by the kernel.
pub fn block_signals(signals: &[libc::c_int]) -> io::Result<()> {
    extern "C" fn noop(_: libc::c_int) {}
    let set = sigset_of(signals);
    for &sig in signals {
        // SAFETY: a zeroed sigaction with a valid handler address is a valid argument.
        let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
        action.sa_sigaction = noop as extern "C" fn(libc::c_int) as usize;
        // SAFETY: installs a handler that does nothing, which is async-signal-safe.
        cvt(unsafe { libc::sigaction(sig, &action, std::ptr::null_mut()) })?;
    }
    // SAFETY: `set` is initialised; the old mask is not requested.
    let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    Ok(())
}

/// Waits until one of `signals` (previously blocked) arrives and returns it.
pub fn wait_for_signal(signals: &[libc::c_int]) -> io::Result<libc::c_int> {
    let set = sigset_of(signals);
    let mut sig: libc::c_int = 0;
    // SAFETY: `set` is initialised and `sig` is writable.
    let rc = unsafe { libc::sigwait(&set, &mut sig) };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    Ok(sig)
}

fn sigset_of(signals: &[libc::c_int]) -> libc::sigset_t {
    // SAFETY: sigemptyset initialises the set before it is read.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid sigset_t.
    unsafe { libc::sigemptyset(&mut set) };
    for &sig in signals {
        // SAFETY: `set` is initialised; an invalid number only makes sigaddset fail.
        unsafe { libc::sigaddset(&mut set, sig) };
    }
    set
}

/// Makes closing `socket` send a reset instead of an orderly FIN (SO_LINGER with a zero
/// timeout; unsent data is discarded). For a response cut short whose end a FIN would make
/// look complete: a body delimited by the close of the connection.
pub fn reset_on_close(socket: &impl AsRawFd) -> io::Result<()> {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: the option value is a `linger` of the stated size.
    cvt(unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            &linger as *const libc::linger as *const libc::c_void,
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    })
    .map(drop)
}

/// Writes all of `bytes` to a blocking descriptor such as stdout, retrying on EINTR and short
/// writes. Used for log batches, never for sockets.
pub fn write_all_fd(fd: RawFd, mut bytes: &[u8]) -> io::Result<()> {
    while !bytes.is_empty() {
        // SAFETY: `bytes` is a valid readable slice.
        let n = unsafe { libc::write(fd, bytes.as_ptr() as *const libc::c_void, bytes.len()) };
        if n < 0 {
            let err = io::Error::last_os_error();
            match err.kind() {
                io::ErrorKind::Interrupted => continue,
                io::ErrorKind::WouldBlock => {
                    std::thread::sleep(std::time::Duration::from_millis(1));
                    continue;
                }
                _ => return Err(err),
            }
        }
        bytes = &bytes[n as usize..];
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    #[test]
    fn reuseport_allows_two_listeners_on_one_port() {
        let a = reuseport_listener("127.0.0.1:0".parse().unwrap(), 16).unwrap();
        let addr = a.local_addr().unwrap();
        let b = reuseport_listener(addr, 16).unwrap();
        assert_eq!(b.local_addr().unwrap(), addr);
    }

    #[test]
    fn open_beneath_refuses_escapes() {
        let dir = std::env::temp_dir().join(format!("sys-test-{}", std::process::id()));
        let root = dir.join("root");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(dir.join("secret"), b"s").unwrap();
        std::fs::write(root.join("ok.txt"), b"ok").unwrap();
        let _ = std::fs::remove_file(root.join("out"));
        std::os::unix::fs::symlink(dir.join("secret"), root.join("out")).unwrap();
        let _ = std::fs::remove_file(root.join("in"));
        std::os::unix::fs::symlink("ok.txt", root.join("in")).unwrap();
        let root_path = root.canonicalize().unwrap();
        let root_file = File::open(&root_path).unwrap();
        let mut s = String::new();
        open_beneath(&root_file, &root_path, "ok.txt")
            .unwrap()
            .read_to_string(&mut s)
            .unwrap();
        assert_eq!(s, "ok");
        assert!(open_beneath(&root_file, &root_path, "in").is_ok());
        assert!(open_beneath(&root_file, &root_path, "out").is_err());
        assert!(open_beneath(&root_file, &root_path, "../secret").is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn sendfile_copies_from_offset() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        let path = std::env::temp_dir().join(format!("sendfile-{}", std::process::id()));
        std::fs::File::create(&path)
            .unwrap()
            .write_all(b"hello world")
            .unwrap();
        let file = File::open(&path).unwrap();
        let mut off = 6;
        assert_eq!(sendfile(&server, &file, &mut off, 100).unwrap(), 5);
        assert_eq!(off, 11);
        drop(server);
        let mut got = String::new();
        client.read_to_string(&mut got).unwrap();
        assert_eq!(got, "world");
        std::fs::remove_file(path).unwrap();
    }
}
