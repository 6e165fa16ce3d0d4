//! Compression decisions and the gzip encoder, pure (no I/O):
//!
//! - [`is_compressible`]: which content types are worth compressing (text, scripts, data,
//!   SVG, wasm, fonts that are not compressed already).
//! - [`Wanted`]: what a request's `Accept-Encoding` says about each coding we can send, with
//!   its weights (RFC 9110 12.5.3), and [`Wanted::order`], the order to try them in.
//! - [`gzip`]: an RFC 1952 member around miniz_oxide's deflate. The output depends only on the
//!   input (no timestamp, no file name), so one file version always compresses to the same
//!   bytes: its ETag can be strong and byte ranges of it stay consistent between requests.
//!
//! `files.rs` makes the compressed variant once per file version and caches it.

use crate::conditional::encoding_weight;

/// Files smaller than this are sent as they are: the gzip framing (18 bytes) and the response
/// headers dominate, and the CPU is better spent elsewhere (nginx's `gzip_min_length` idea).
pub const MIN_SIZE: u64 = 1024;

/// Larger files are sent as they are: compressing a megabyte takes the worker about 10 ms,
/// once per file version; more would stall every connection of the worker for longer.
pub const MAX_SOURCE: u64 = 1 << 20;

/// Deflate level: 6 is zlib's default and nginx's usual `gzip_comp_level`. Higher levels cost
/// two to three times the CPU for a few percent, and the first request of each file version
/// waits for it.
const LEVEL: u8 = 6;

/// Keep the compressed variant only if it saves at least an eighth: below that the savings do
/// not pay for `Content-Encoding` (already-compressed payloads mislabelled as text, say).
pub fn worth_it(original: usize, compressed: usize) -> bool {
    compressed <= original - original / 8
}

/// Types worth compressing. Images other than SVG, audio, video, archives and WOFF/WOFF2 fonts
/// are compressed formats already.
pub fn is_compressible(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    essence.starts_with("text/")
        || matches!(
            essence,
            "application/json"
                | "application/ld+json"
                | "application/manifest+json"
                | "application/javascript"
                | "application/xml"
                | "application/xhtml+xml"
                | "application/rss+xml"
                | "application/atom+xml"
                | "application/wasm"
                | "image/svg+xml"
                | "image/x-icon"
                | "font/ttf"
                | "font/otf"
                | "application/vnd.ms-fontobject"
        )
}

/// A content coding we can send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Coding {
    Br,
    Gzip,
    Identity,
}

/// The client's weight of each coding, in thousandths (0: not acceptable).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Wanted {
    pub br: u16,
    pub gzip: u16,
    pub identity: u16,
}

impl Default for Wanted {
    /// No `Accept-Encoding`: identity only. RFC 9110 12.5.3 would allow any coding, but a
    /// client that does not ask may not decode (as nginx, Caddy and browsers assume).
    fn default() -> Self {
        Wanted {
            br: 0,
            gzip: 0,
            identity: 1000,
        }
    }
}

impl Wanted {
    pub fn from_header(accept_encoding: Option<&[u8]>) -> Wanted {
        match accept_encoding {
            None => Wanted::default(),
            Some(v) => Wanted {
                br: encoding_weight(v, "br"),
                gzip: encoding_weight(v, "gzip"),
                identity: encoding_weight(v, "identity"),
            },
        }
    }

    /// The acceptable codings, most wanted first; equal weights prefer the smaller output
    /// (br, then gzip, then identity). Identity comes last even when the client refused it:
    /// when nothing it accepts is available, RFC 9110 12.5.3 lets the server send the
    /// representation without a coding, which is what nginx and Caddy do, rather than 406.
    pub fn order(&self) -> [(Coding, u16); 3] {
        let mut order = [
            (Coding::Br, self.br),
            (Coding::Gzip, self.gzip),
            (Coding::Identity, self.identity),
        ];
        // Stable: ties keep the order above.
        order.sort_by_key(|&(_, weight)| std::cmp::Reverse(weight));
        if self.identity == 0 {
            order.sort_by_key(|&(c, _)| c == Coding::Identity);
        }
        order
    }
}

/// `data` as one gzip member (RFC 1952): the 10-byte header without a timestamp or name, the
/// deflate stream, then CRC-32 and the length modulo 2^32.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let deflated = miniz_oxide::deflate::compress_to_vec(data, LEVEL);
    let mut out = Vec::with_capacity(deflated.len() + 18);
    // ID1 ID2, CM=8 (deflate), FLG=0, MTIME=0 (none), XFL=0, OS=255 (unknown).
    out.extend_from_slice(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255]);
    out.extend_from_slice(&deflated);
    out.extend_from_slice(&crc32(data).to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}

/// CRC-32 (IEEE 802.3, reflected, as gzip uses), one table lookup per byte.
pub fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc = CRC_TABLE[((crc ^ u32::from(b)) & 0xff) as usize] ^ (crc >> 8);
    }
    !crc
}

const CRC_TABLE: [u32; 256] = crc_table();

const fn crc_table() -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xedb8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gunzip(member: &[u8]) -> Vec<u8> {
        assert_eq!(&member[..3], &[0x1f, 0x8b, 8]);
        let body = &member[10..member.len() - 8];
        let data = miniz_oxide::inflate::decompress_to_vec(body).expect("valid deflate");
        let tail = &member[member.len() - 8..];
        assert_eq!(
            u32::from_le_bytes(tail[..4].try_into().unwrap()),
            crc32(&data)
        );
        assert_eq!(
            u32::from_le_bytes(tail[4..].try_into().unwrap()),
            data.len() as u32
        );
        data
    }

    #[test]
    fn crc32_known_values() {
        assert_eq!(crc32(b""), 0);
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
        assert_eq!(
            crc32(b"The quick brown fox jumps over the lazy dog"),
            0x414f_a339
        );
    }

    #[test]
    fn gzip_round_trips_and_is_deterministic() {
        let page = "<p>hello, world</p>\n".repeat(500);
        let packed = gzip(page.as_bytes());
        assert!(packed.len() < page.len() / 10);
        assert_eq!(gunzip(&packed), page.as_bytes());
        assert_eq!(gzip(page.as_bytes()), packed);
        assert_eq!(gunzip(&gzip(b"")), b"");
    }

    #[test]
    fn compressible_types() {
        for t in [
            "text/html; charset=utf-8",
            "text/css",
            "text/javascript; charset=utf-8",
            "application/json",
            "image/svg+xml",
            "application/wasm",
            "font/ttf",
        ] {
            assert!(is_compressible(t), "{t}");
        }
        for t in [
            "image/png",
            "font/woff2",
            "font/woff",
            "application/gzip",
            "video/mp4",
            "application/octet-stream",
        ] {
            assert!(!is_compressible(t), "{t}");
        }
    }

    #[test]
    fn codings_in_order_of_preference() {
        let order = |v: &str| {
            Wanted::from_header(Some(v.as_bytes()))
                .order()
                .iter()
                .filter(|(_, w)| *w > 0)
                .map(|(c, _)| *c)
                .collect::<Vec<_>>()
        };
        use Coding::*;
        assert_eq!(order("gzip, deflate, br"), [Br, Gzip, Identity]);
        assert_eq!(order("gzip"), [Gzip, Identity]);
        assert_eq!(order("gzip;q=0"), [Identity]);
        assert_eq!(order("br;q=0.5, gzip"), [Gzip, Br, Identity]);
        assert_eq!(order("gzip;q=0.5, identity"), [Identity, Gzip]);
        assert_eq!(order("identity;q=0, gzip"), [Gzip]);
        assert_eq!(order("*"), [Br, Gzip, Identity]);
        let refused = Wanted::from_header(Some(b"identity;q=0")).order();
        assert_eq!(refused[2], (Identity, 0), "identity stays the last resort");
        assert_eq!(
            Wanted::from_header(None).order()[0],
            (Identity, 1000),
            "no header: identity"
        );
    }

    #[test]
    fn worth_it_needs_an_eighth() {
        assert!(worth_it(800, 700));
        assert!(!worth_it(800, 701));
    }
}
