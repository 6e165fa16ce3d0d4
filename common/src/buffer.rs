//! A byte queue with a hard capacity: bytes are appended at the end and consumed from the front.
//!
//! Used for every socket buffer in both servers (request bytes read, response bytes queued). It
//! owns no socket and does no I/O: transports fill it through [`Buffer::spare`] / [`Buffer::commit`]
//! and drain it through [`Buffer::filled`] / [`Buffer::consume`]. Memory is allocated lazily and
//! can be released while a connection is idle, so idle keep-alive connections stay cheap.

/// How much [`Buffer::spare`] grows an allocation at most per call.
pub const GROW_STEP: usize = 4096;

/// A bounded FIFO of bytes.
///
/// `data[start..end]` holds the bytes; `data` itself is initialised memory kept between uses
/// (its length only grows, up to what the traffic needed), so handing out room for a read
/// zero-fills nothing once the buffer has been used: zero-filling 16 KiB before every read cost
/// 5% of the static server's CPU and 10% of the proxy's.
#[derive(Debug)]
pub struct Buffer {
    data: Vec<u8>,
    start: usize,
    end: usize,
    capacity: usize,
}

impl Buffer {
    /// An empty buffer that will never hold more than `capacity` bytes. Nothing is allocated yet.
    pub fn new(capacity: usize) -> Self {
        Buffer {
            data: Vec::new(),
            start: 0,
            end: 0,
            capacity,
        }
    }

    /// The bytes waiting to be consumed.
    pub fn filled(&self) -> &[u8] {
        &self.data[self.start..self.end]
    }

    /// Number of bytes waiting.
    pub fn len(&self) -> usize {
        self.end - self.start
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True when no more bytes can be appended.
    pub fn is_full(&self) -> bool {
        self.len() >= self.capacity
    }

    /// How many more bytes fit.
    pub fn remaining(&self) -> usize {
        self.capacity.saturating_sub(self.len())
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Drops `n` bytes from the front (all of them when `n` is larger than what is filled).
    pub fn consume(&mut self, n: usize) {
        self.start = (self.start + n).min(self.end);
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Appends as much of `bytes` as fits and returns how many bytes were taken.
    pub fn extend(&mut self, bytes: &[u8]) -> usize {
        let n = bytes.len().min(self.remaining());
        self.push(&bytes[..n]);
        n
    }

    /// Appends all of `bytes`, even past the capacity. The capacity is a soft limit for
    /// producers of output: they check [`Buffer::remaining`] before starting a response, and a
    /// response head is never cut in half.
    pub fn push(&mut self, bytes: &[u8]) {
        let n = bytes.len();
        self.make_room(n);
        self.data[self.end..self.end + n].copy_from_slice(bytes);
        self.end += n;
    }

    /// Free space at the end for a read of at most `max` bytes (bounded by the capacity).
    /// Fill a prefix of it, then call [`Buffer::commit`] with the number of bytes written.
    ///
    /// The allocation grows by at most [`GROW_STEP`] per call beyond what it already has: a
    /// fresh buffer asked for a 16 KiB read would otherwise touch 16 KiB for a 100-byte
    /// request. Thousands of connections opening at once would then hold (and, freed, leave
    /// the allocator holding) several times the memory their bytes need. A buffer kept busy
    /// has its capacity already, and reads at full size.
    pub fn spare(&mut self, max: usize) -> &mut [u8] {
        let free = self.data.capacity().saturating_sub(self.end);
        let n = max.min(self.remaining()).min(free.max(GROW_STEP));
        self.make_room(n);
        &mut self.data[self.end..self.end + n]
    }

    /// Keeps `n` bytes of the region handed out by the last [`Buffer::spare`].
    pub fn commit(&mut self, spare_len: usize, n: usize) {
        self.end += n.min(spare_len);
    }

    /// Forgets everything; keeps the allocation.
    pub fn clear(&mut self) {
        self.start = 0;
        self.end = 0;
    }

    /// Returns the allocation to the allocator when the buffer is empty (idle connections).
    pub fn release_if_empty(&mut self) {
        if self.is_empty() && self.data.capacity() > 0 {
            self.data = Vec::new();
            self.start = 0;
            self.end = 0;
        }
    }

    /// Makes `data[end..end + n]` exist: moves the filled bytes to the front when that avoids
    /// growing the allocation, and initialises only memory never used before.
    fn make_room(&mut self, n: usize) {
        if self.start > 0 && self.end + n > self.data.capacity() {
            self.data.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end + n > self.data.len() {
            self.data.resize(self.end + n, 0);
        }
    }
}

/// Anything bytes can be appended to: lets head writers fill a [`Buffer`] or a `Vec`.
pub trait Sink {
    fn put(&mut self, bytes: &[u8]);
}

impl Sink for Buffer {
    fn put(&mut self, bytes: &[u8]) {
        self.push(bytes);
    }
}

impl Sink for Vec<u8> {
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extend_is_bounded_by_capacity() {
        let mut b = Buffer::new(4);
        assert_eq!(b.extend(b"abcdef"), 4);
        assert!(b.is_full());
        assert_eq!(b.filled(), b"abcd");
        assert_eq!(b.extend(b"x"), 0);
    }

    #[test]
    fn consume_then_refill_compacts() {
        let mut b = Buffer::new(6);
        b.extend(b"abcdef");
        b.consume(4);
        assert_eq!(b.filled(), b"ef");
        assert_eq!(b.remaining(), 4);
        assert_eq!(b.extend(b"ghij"), 4);
        assert_eq!(b.filled(), b"efghij");
        b.consume(100);
        assert!(b.is_empty());
    }

    #[test]
    fn spare_and_commit_keep_only_written_bytes() {
        let mut b = Buffer::new(8);
        b.extend(b"ab");
        let spare = b.spare(100);
        assert_eq!(spare.len(), 6);
        spare[..2].copy_from_slice(b"cd");
        let len = spare.len();
        b.commit(len, 2);
        assert_eq!(b.filled(), b"abcd");
        let len = b.spare(1).len();
        b.commit(len, 0);
        assert_eq!(b.filled(), b"abcd");
    }

    #[test]
    fn spare_grows_a_fresh_allocation_by_steps() {
        let mut b = Buffer::new(64 * 1024);
        let n = b.spare(16 * 1024).len();
        assert_eq!(n, GROW_STEP, "a fresh buffer reads one step first");
        b.commit(n, n);
        let n = b.spare(16 * 1024).len();
        assert_eq!(n, GROW_STEP, "a full allocation grows by one step");
        b.commit(n, 0);
        b.consume(usize::MAX);
        assert!(
            b.spare(16 * 1024).len() >= 2 * GROW_STEP,
            "capacity already there is used whole"
        );
    }

    #[test]
    fn release_frees_only_when_empty() {
        let mut b = Buffer::new(8);
        b.extend(b"abc");
        b.release_if_empty();
        assert_eq!(b.filled(), b"abc");
        b.consume(3);
        b.release_if_empty();
        assert!(b.is_empty());
        assert_eq!(b.extend(b"z"), 1);
    }
}
