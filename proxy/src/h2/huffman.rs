//! The HPACK Huffman code (RFC 7541 Appendix B): the table, a canonical decoder and the
//! encoder. Pure; no allocation beyond the caller's output.
//!
//! The code is canonical (codes of one length are consecutive, shorter codes sort first), so
//! decoding needs, per length, the first code and where its symbols start in symbol order:
//! tables built at compile time from the RFC's list.

/// `(code, bit length)` of symbols 0..=255 and EOS (256), RFC 7541 Appendix B.
const CODES: [(u32, u8); 257] = [
    (0x1ff8, 13),
    (0x7fffd8, 23),
    (0xfffffe2, 28),
    (0xfffffe3, 28),
    (0xfffffe4, 28),
    (0xfffffe5, 28),
    (0xfffffe6, 28),
    (0xfffffe7, 28),
    (0xfffffe8, 28),
    (0xffffea, 24),
    (0x3ffffffc, 30),
    (0xfffffe9, 28),
    (0xfffffea, 28),
    (0x3ffffffd, 30),
    (0xfffffeb, 28),
    (0xfffffec, 28),
    (0xfffffed, 28),
    (0xfffffee, 28),
    (0xfffffef, 28),
    (0xffffff0, 28),
    (0xffffff1, 28),
    (0xffffff2, 28),
    (0x3ffffffe, 30),
    (0xffffff3, 28),
    (0xffffff4, 28),
    (0xffffff5, 28),
    (0xffffff6, 28),
    (0xffffff7, 28),
    (0xffffff8, 28),
    (0xffffff9, 28),
    (0xffffffa, 28),
    (0xffffffb, 28),
    (0x14, 6),
    (0x3f8, 10),
    (0x3f9, 10),
    (0xffa, 12),
    (0x1ff9, 13),
    (0x15, 6),
    (0xf8, 8),
    (0x7fa, 11),
    (0x3fa, 10),
    (0x3fb, 10),
    (0xf9, 8),
    (0x7fb, 11),
    (0xfa, 8),
    (0x16, 6),
    (0x17, 6),
    (0x18, 6),
    (0x0, 5),
    (0x1, 5),
    (0x2, 5),
    (0x19, 6),
    (0x1a, 6),
    (0x1b, 6),
    (0x1c, 6),
    (0x1d, 6),
    (0x1e, 6),
    (0x1f, 6),
    (0x5c, 7),
    (0xfb, 8),
    (0x7ffc, 15),
    (0x20, 6),
    (0xffb, 12),
    (0x3fc, 10),
    (0x1ffa, 13),
    (0x21, 6),
    (0x5d, 7),
    (0x5e, 7),
    (0x5f, 7),
    (0x60, 7),
    (0x61, 7),
    (0x62, 7),
    (0x63, 7),
    (0x64, 7),
    (0x65, 7),
    (0x66, 7),
    (0x67, 7),
    (0x68, 7),
    (0x69, 7),
    (0x6a, 7),
    (0x6b, 7),
    (0x6c, 7),
    (0x6d, 7),
    (0x6e, 7),
    (0x6f, 7),
    (0x70, 7),
    (0x71, 7),
    (0x72, 7),
    (0xfc, 8),
    (0x73, 7),
    (0xfd, 8),
    (0x1ffb, 13),
    (0x7fff0, 19),
    (0x1ffc, 13),
    (0x3ffc, 14),
    (0x22, 6),
    (0x7ffd, 15),
    (0x3, 5),
    (0x23, 6),
    (0x4, 5),
    (0x24, 6),
    (0x5, 5),
    (0x25, 6),
    (0x26, 6),
    (0x27, 6),
    (0x6, 5),
    (0x74, 7),
    (0x75, 7),
    (0x28, 6),
    (0x29, 6),
    (0x2a, 6),
    (0x7, 5),
    (0x2b, 6),
    (0x76, 7),
    (0x2c, 6),
    (0x8, 5),
    (0x9, 5),
    (0x2d, 6),
    (0x77, 7),
    (0x78, 7),
    (0x79, 7),
    (0x7a, 7),
    (0x7b, 7),
    (0x7ffe, 15),
    (0x7fc, 11),
    (0x3ffd, 14),
    (0x1ffd, 13),
    (0xffffffc, 28),
    (0xfffe6, 20),
    (0x3fffd2, 22),
    (0xfffe7, 20),
    (0xfffe8, 20),
    (0x3fffd3, 22),
    (0x3fffd4, 22),
    (0x3fffd5, 22),
    (0x7fffd9, 23),
    (0x3fffd6, 22),
    (0x7fffda, 23),
    (0x7fffdb, 23),
    (0x7fffdc, 23),
    (0x7fffdd, 23),
    (0x7fffde, 23),
    (0xffffeb, 24),
    (0x7fffdf, 23),
    (0xffffec, 24),
    (0xffffed, 24),
    (0x3fffd7, 22),
    (0x7fffe0, 23),
    (0xffffee, 24),
    (0x7fffe1, 23),
    (0x7fffe2, 23),
    (0x7fffe3, 23),
    (0x7fffe4, 23),
    (0x1fffdc, 21),
    (0x3fffd8, 22),
    (0x7fffe5, 23),
    (0x3fffd9, 22),
    (0x7fffe6, 23),
    (0x7fffe7, 23),
    (0xffffef, 24),
    (0x3fffda, 22),
    (0x1fffdd, 21),
    (0xfffe9, 20),
    (0x3fffdb, 22),
    (0x3fffdc, 22),
    (0x7fffe8, 23),
    (0x7fffe9, 23),
    (0x1fffde, 21),
    (0x7fffea, 23),
    (0x3fffdd, 22),
    (0x3fffde, 22),
    (0xfffff0, 24),
    (0x1fffdf, 21),
    (0x3fffdf, 22),
    (0x7fffeb, 23),
    (0x7fffec, 23),
    (0x1fffe0, 21),
    (0x1fffe1, 21),
    (0x3fffe0, 22),
    (0x1fffe2, 21),
    (0x7fffed, 23),
    (0x3fffe1, 22),
    (0x7fffee, 23),
    (0x7fffef, 23),
    (0xfffea, 20),
    (0x3fffe2, 22),
    (0x3fffe3, 22),
    (0x3fffe4, 22),
    (0x7ffff0, 23),
    (0x3fffe5, 22),
    (0x3fffe6, 22),
    (0x7ffff1, 23),
    (0x3ffffe0, 26),
    (0x3ffffe1, 26),
    (0xfffeb, 20),
    (0x7fff1, 19),
    (0x3fffe7, 22),
    (0x7ffff2, 23),
    (0x3fffe8, 22),
    (0x1ffffec, 25),
    (0x3ffffe2, 26),
    (0x3ffffe3, 26),
    (0x3ffffe4, 26),
    (0x7ffffde, 27),
    (0x7ffffdf, 27),
    (0x3ffffe5, 26),
    (0xfffff1, 24),
    (0x1ffffed, 25),
    (0x7fff2, 19),
    (0x1fffe3, 21),
    (0x3ffffe6, 26),
    (0x7ffffe0, 27),
    (0x7ffffe1, 27),
    (0x3ffffe7, 26),
    (0x7ffffe2, 27),
    (0xfffff2, 24),
    (0x1fffe4, 21),
    (0x1fffe5, 21),
    (0x3ffffe8, 26),
    (0x3ffffe9, 26),
    (0xffffffd, 28),
    (0x7ffffe3, 27),
    (0x7ffffe4, 27),
    (0x7ffffe5, 27),
    (0xfffec, 20),
    (0xfffff3, 24),
    (0xfffed, 20),
    (0x1fffe6, 21),
    (0x3fffe9, 22),
    (0x1fffe7, 21),
    (0x1fffe8, 21),
    (0x7ffff3, 23),
    (0x3fffea, 22),
    (0x3fffeb, 22),
    (0x1ffffee, 25),
    (0x1ffffef, 25),
    (0xfffff4, 24),
    (0xfffff5, 24),
    (0x3ffffea, 26),
    (0x7ffff4, 23),
    (0x3ffffeb, 26),
    (0x7ffffe6, 27),
    (0x3ffffec, 26),
    (0x3ffffed, 26),
    (0x7ffffe7, 27),
    (0x7ffffe8, 27),
    (0x7ffffe9, 27),
    (0x7ffffea, 27),
    (0x7ffffeb, 27),
    (0xffffffe, 28),
    (0x7ffffec, 27),
    (0x7ffffed, 27),
    (0x7ffffee, 27),
    (0x7ffffef, 27),
    (0x7fffff0, 27),
    (0x3ffffee, 26),
    (0x3fffffff, 30),
];

const EOS: u16 = 256;
const MAX_LEN: usize = 30;

/// Per bit length: the first code of that length, how many codes have it, and where they
/// start in [`SORTED`].
struct Canonical {
    first: [u32; MAX_LEN + 1],
    count: [u16; MAX_LEN + 1],
    offset: [u16; MAX_LEN + 1],
    sorted: [u16; 257],
}

const fn canonical() -> Canonical {
    let mut count = [0u16; MAX_LEN + 1];
    let mut first = [u32::MAX; MAX_LEN + 1];
    let mut i = 0;
    while i < 257 {
        let (code, len) = CODES[i];
        count[len as usize] += 1;
        if code < first[len as usize] {
            first[len as usize] = code;
        }
        i += 1;
    }
    let mut offset = [0u16; MAX_LEN + 1];
    let mut len = 1;
    let mut at = 0u16;
    while len <= MAX_LEN {
        offset[len] = at;
        at += count[len];
        len += 1;
    }
    // Within a length, symbols are in code order, which is symbol order for a canonical code.
    let mut sorted = [0u16; 257];
    let mut fill = offset;
    let mut len = 1;
    while len <= MAX_LEN {
        let mut s = 0;
        while s < 257 {
            if CODES[s].1 as usize == len {
                sorted[fill[len] as usize] = s as u16;
                fill[len] += 1;
            }
            s += 1;
        }
        len += 1;
    }
    Canonical {
        first,
        count,
        offset,
        sorted,
    }
}

static TABLE: Canonical = canonical();

/// Why a Huffman string was refused (RFC 7541 section 5.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HuffmanError {
    /// A code no symbol has, or the EOS symbol inside the string.
    BadCode,
    /// More than 7 bits of padding, or padding that is not a prefix of EOS (all ones).
    BadPadding,
    /// The decoded string would exceed the caller's limit.
    TooLong,
}

/// Appends the decoding of `input` to `out`, refusing to grow `out` past `limit` bytes.
pub fn decode(input: &[u8], out: &mut Vec<u8>, limit: usize) -> Result<(), HuffmanError> {
    let t = &TABLE;
    let mut acc: u64 = 0;
    let mut bits: u32 = 0;
    for &byte in input {
        acc = (acc << 8) | u64::from(byte);
        bits += 8;
        // Decode every whole symbol now available (the longest code is 30 bits).
        'symbols: while bits >= 5 {
            let mut len = 5;
            while len as u32 <= bits && len <= MAX_LEN {
                let code = ((acc >> (bits - len as u32)) & ((1u64 << len) - 1)) as u32;
                let n = t.count[len];
                if n > 0 && code >= t.first[len] && code - t.first[len] < u32::from(n) {
                    let symbol = t.sorted[(t.offset[len] + (code - t.first[len]) as u16) as usize];
                    if symbol == EOS {
                        return Err(HuffmanError::BadCode);
                    }
                    if out.len() >= limit {
                        return Err(HuffmanError::TooLong);
                    }
                    out.push(symbol as u8);
                    bits -= len as u32;
                    acc &= (1u64 << bits) - 1;
                    continue 'symbols;
                }
                len += 1;
            }
            if bits as usize >= MAX_LEN {
                return Err(HuffmanError::BadCode);
            }
            break;
        }
    }
    // What is left must be padding: fewer than 8 bits, all ones.
    if bits > 7 {
        return Err(HuffmanError::BadPadding);
    }
    let mask = (1u64 << bits) - 1;
    if acc & mask != mask {
        return Err(HuffmanError::BadPadding);
    }
    Ok(())
}

/// Length in bytes of the Huffman encoding of `input`.
pub fn encoded_len(input: &[u8]) -> usize {
    let bits: usize = input.iter().map(|&b| CODES[b as usize].1 as usize).sum();
    bits.div_ceil(8)
}

/// Appends the Huffman encoding of `input` to `out`, padded with the EOS prefix.
pub fn encode(input: &[u8], out: &mut Vec<u8>) {
    let mut acc: u64 = 0;
    let mut bits: u32 = 0;
    for &b in input {
        let (code, len) = CODES[b as usize];
        acc = (acc << len) | u64::from(code);
        bits += u32::from(len);
        while bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
        acc &= (1u64 << bits) - 1;
    }
    if bits > 0 {
        let pad = 8 - bits;
        out.push(((acc << pad) | ((1u64 << pad) - 1)) as u8);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(s: &[u8]) {
        let mut enc = Vec::new();
        encode(s, &mut enc);
        assert_eq!(enc.len(), encoded_len(s));
        let mut dec = Vec::new();
        decode(&enc, &mut dec, usize::MAX).unwrap();
        assert_eq!(dec, s);
    }

    /// RFC 7541 C.4.1: "www.example.com" is f1e3 c2e5 f23a 6ba0 ab90 f4ff.
    #[test]
    fn rfc_example() {
        let mut enc = Vec::new();
        encode(b"www.example.com", &mut enc);
        assert_eq!(
            enc,
            [0xf1, 0xe3, 0xc2, 0xe5, 0xf2, 0x3a, 0x6b, 0xa0, 0xab, 0x90, 0xf4, 0xff]
        );
        let mut dec = Vec::new();
        decode(&enc, &mut dec, 100).unwrap();
        assert_eq!(dec, b"www.example.com");
    }

    #[test]
    fn every_byte_round_trips() {
        let all: Vec<u8> = (0..=255).collect();
        round_trip(&all);
        round_trip(b"");
        round_trip(b"no-cache");
        for b in 0..=255u8 {
            round_trip(&[b, b, b]);
        }
    }

    #[test]
    fn bad_padding_and_eos_are_refused() {
        // 'a' is 00011 (5 bits): padded with zeros is invalid.
        assert_eq!(
            decode(&[0b0001_1000], &mut Vec::new(), 10),
            Err(HuffmanError::BadPadding)
        );
        // A whole byte of ones is padding longer than 7 bits.
        let mut enc = Vec::new();
        encode(b"a", &mut enc);
        enc.push(0xff);
        assert_eq!(
            decode(&enc, &mut Vec::new(), 10),
            Err(HuffmanError::BadPadding)
        );
        // EOS itself (30 ones) inside the string.
        assert!(decode(&[0xff, 0xff, 0xff, 0xff], &mut Vec::new(), 10).is_err());
        assert_eq!(
            decode(&[0xf1, 0xe3], &mut Vec::new(), 1),
            Err(HuffmanError::TooLong)
        );
    }
}
