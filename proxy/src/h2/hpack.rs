//! HPACK (RFC 7541): the decoder of request header blocks, with its dynamic table, and a
//! stateless encoder for response headers.
//!
//! Pure and bounded: the decoder's dynamic table never exceeds the size we advertised
//! (`SETTINGS_HEADER_TABLE_SIZE`), every string is refused past a length limit before it is
//! copied, and the decoded header list is cut off at the caller's limit (an HPACK bomb, a few
//! bytes indexing a large entry many times, costs no more than the bytes that carry it: once
//! over the limit nothing more is copied, but the block is still decoded so that the dynamic
//! table stays in step with the peer's). The encoder never inserts into a dynamic table, so
//! it keeps no state and the peer's table costs us nothing.

use std::collections::VecDeque;
use std::ops::Range;

use super::huffman;

/// The static table (RFC 7541 Appendix A), index 1 first.
const STATIC: [(&[u8], &[u8]); 61] = [
    (b":authority", b""),
    (b":method", b"GET"),
    (b":method", b"POST"),
    (b":path", b"/"),
    (b":path", b"/index.html"),
    (b":scheme", b"http"),
    (b":scheme", b"https"),
    (b":status", b"200"),
    (b":status", b"204"),
    (b":status", b"206"),
    (b":status", b"304"),
    (b":status", b"400"),
    (b":status", b"404"),
    (b":status", b"500"),
    (b"accept-charset", b""),
    (b"accept-encoding", b"gzip, deflate"),
    (b"accept-language", b""),
    (b"accept-ranges", b""),
    (b"accept", b""),
    (b"access-control-allow-origin", b""),
    (b"age", b""),
    (b"allow", b""),
    (b"authorization", b""),
    (b"cache-control", b""),
    (b"content-disposition", b""),
    (b"content-encoding", b""),
    (b"content-language", b""),
    (b"content-length", b""),
    (b"content-location", b""),
    (b"content-range", b""),
    (b"content-type", b""),
    (b"cookie", b""),
    (b"date", b""),
    (b"etag", b""),
    (b"expect", b""),
    (b"expires", b""),
    (b"from", b""),
    (b"host", b""),
    (b"if-match", b""),
    (b"if-modified-since", b""),
    (b"if-none-match", b""),
    (b"if-range", b""),
    (b"if-unmodified-since", b""),
    (b"last-modified", b""),
    (b"link", b""),
    (b"location", b""),
    (b"max-forwards", b""),
    (b"proxy-authenticate", b""),
    (b"proxy-authorization", b""),
    (b"range", b""),
    (b"referer", b""),
    (b"refresh", b""),
    (b"retry-after", b""),
    (b"server", b""),
    (b"set-cookie", b""),
    (b"strict-transport-security", b""),
    (b"transfer-encoding", b""),
    (b"user-agent", b""),
    (b"vary", b""),
    (b"via", b""),
    (b"www-authenticate", b""),
];

/// Per-entry overhead in table size accounting (RFC 7541 section 4.1).
const ENTRY_OVERHEAD: usize = 32;

/// Why a header block cannot be decoded: always a connection error of type
/// COMPRESSION_ERROR (RFC 9113 section 4.3), since the table state is then unknown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HpackError(pub &'static str);

/// A decoded header list: names and values stored back to back in one buffer.
#[derive(Default, Debug)]
pub struct HeaderList {
    bytes: Vec<u8>,
    fields: Vec<(Range<usize>, Range<usize>)>,
    /// RFC 9113 section 6.5.2 size (name + value + 32 per field) of everything decoded,
    /// including what was not kept once over the limit.
    pub size: usize,
    /// The list went over the caller's limit: its fields are incomplete.
    pub too_large: bool,
}

impl HeaderList {
    pub fn clear(&mut self) {
        self.bytes.clear();
        self.fields.clear();
        self.size = 0;
        self.too_large = false;
    }

    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.fields
            .iter()
            .map(|(n, v)| (&self.bytes[n.clone()], &self.bytes[v.clone()]))
    }

    pub fn len(&self) -> usize {
        self.fields.len()
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }
}

/// The dynamic table: newest entry at the front (index 62).
#[derive(Default, Debug)]
struct Table {
    entries: VecDeque<(Vec<u8>, Vec<u8>)>,
    size: usize,
    max: usize,
}

impl Table {
    fn evict_to(&mut self, max: usize) {
        while self.size > max {
            match self.entries.pop_back() {
                Some((n, v)) => self.size -= n.len() + v.len() + ENTRY_OVERHEAD,
                None => break,
            }
        }
    }

    fn insert(&mut self, name: &[u8], value: &[u8]) {
        let size = name.len() + value.len() + ENTRY_OVERHEAD;
        // An entry larger than the table empties it and is not added (section 4.4).
        self.evict_to(self.max.saturating_sub(size));
        if size <= self.max {
            self.entries.push_front((name.to_vec(), value.to_vec()));
            self.size += size;
        }
    }

    fn get(&self, index: usize) -> Option<(&[u8], &[u8])> {
        if index == 0 {
            return None;
        }
        if index <= STATIC.len() {
            return Some(STATIC[index - 1]);
        }
        self.entries
            .get(index - STATIC.len() - 1)
            .map(|(n, v)| (n.as_slice(), v.as_slice()))
    }
}

/// The decoding context of one connection.
#[derive(Debug)]
pub struct Decoder {
    table: Table,
    /// The table size we advertised: the most a size update may ask for.
    limit: usize,
    name: Vec<u8>,
    value: Vec<u8>,
}

impl Decoder {
    /// A decoder whose table may grow to `table_size` bytes (our SETTINGS_HEADER_TABLE_SIZE).
    pub fn new(table_size: usize) -> Decoder {
        Decoder {
            table: Table {
                max: table_size,
                ..Table::default()
            },
            limit: table_size,
            name: Vec::new(),
            value: Vec::new(),
        }
    }

    /// Decodes one complete header block into `list` (cleared first), keeping at most
    /// `max_list` bytes of fields (RFC 9113 size accounting); strings longer than `max_list`
    /// are refused outright.
    pub fn decode(
        &mut self,
        block: &[u8],
        list: &mut HeaderList,
        max_list: usize,
    ) -> Result<(), HpackError> {
        list.clear();
        let mut at = 0;
        let mut first = true;
        while at < block.len() {
            let b = block[at];
            if b & 0x80 != 0 {
                // Indexed header field (section 6.1).
                let index = integer(block, &mut at, 7)?;
                let (n, v) = self
                    .table
                    .get(index)
                    .ok_or(HpackError("index out of range"))?;
                emit(list, n, v, max_list);
            } else if b & 0xe0 == 0x20 {
                // Dynamic table size update (section 6.3): only at the start of a block.
                if !first {
                    return Err(HpackError("table size update after a field"));
                }
                let size = integer(block, &mut at, 5)?;
                if size > self.limit {
                    return Err(HpackError("table size update above the limit"));
                }
                self.table.max = size;
                self.table.evict_to(size);
                continue;
            } else {
                // Literal: with incremental indexing (01), without (0000) or never (0001).
                let (prefix, index) = if b & 0xc0 == 0x40 {
                    (6, true)
                } else {
                    (4, false)
                };
                let name_index = integer(block, &mut at, prefix)?;
                self.name.clear();
                if name_index == 0 {
                    string(block, &mut at, &mut self.name, max_list)?;
                } else {
                    let (n, _) = self
                        .table
                        .get(name_index)
                        .ok_or(HpackError("index out of range"))?;
                    self.name.extend_from_slice(n);
                }
                self.value.clear();
                string(block, &mut at, &mut self.value, max_list)?;
                emit(list, &self.name, &self.value, max_list);
                if index {
                    self.table.insert(&self.name, &self.value);
                }
            }
            first = false;
        }
        Ok(())
    }
}

fn emit(list: &mut HeaderList, name: &[u8], value: &[u8], max_list: usize) {
    list.size = list
        .size
        .saturating_add(name.len() + value.len() + ENTRY_OVERHEAD);
    if list.size > max_list {
        list.too_large = true;
    }
    if list.too_large {
        return;
    }
    let n = list.bytes.len();
    list.bytes.extend_from_slice(name);
    let v = list.bytes.len();
    list.bytes.extend_from_slice(value);
    list.fields.push((n..v, v..list.bytes.len()));
}

/// Reads an integer with an `prefix`-bit prefix (section 5.1). Refuses values past 2^28,
/// far above any size or index we accept, so arithmetic never overflows.
fn integer(block: &[u8], at: &mut usize, prefix: u32) -> Result<usize, HpackError> {
    let max_prefix = (1usize << prefix) - 1;
    let first = *block.get(*at).ok_or(HpackError("truncated integer"))? as usize & max_prefix;
    *at += 1;
    if first < max_prefix {
        return Ok(first);
    }
    let mut value = max_prefix;
    let mut shift = 0;
    loop {
        let b = *block.get(*at).ok_or(HpackError("truncated integer"))?;
        *at += 1;
        value += ((b & 0x7f) as usize) << shift;
        if b & 0x80 == 0 {
            return Ok(value);
        }
        shift += 7;
        if shift > 21 {
            return Err(HpackError("integer too large"));
        }
    }
}

/// Reads a string literal (section 5.2) into `out`, refusing one longer than `limit`.
fn string(block: &[u8], at: &mut usize, out: &mut Vec<u8>, limit: usize) -> Result<(), HpackError> {
    let huffman = block.get(*at).ok_or(HpackError("truncated string"))? & 0x80 != 0;
    let len = integer(block, at, 7)?;
    let end = at
        .checked_add(len)
        .filter(|&e| e <= block.len())
        .ok_or(HpackError("truncated string"))?;
    let raw = &block[*at..end];
    *at = end;
    if huffman {
        huffman::decode(raw, out, limit).map_err(|e| match e {
            huffman::HuffmanError::TooLong => HpackError("string too long"),
            _ => HpackError("bad Huffman code"),
        })
    } else if raw.len() > limit {
        Err(HpackError("string too long"))
    } else {
        out.extend_from_slice(raw);
        Ok(())
    }
}

/// Appends an integer with an `prefix`-bit prefix whose high bits are `flags`.
fn put_integer(out: &mut Vec<u8>, flags: u8, prefix: u32, value: usize) {
    let max_prefix = (1usize << prefix) - 1;
    if value < max_prefix {
        out.push(flags | value as u8);
        return;
    }
    out.push(flags | max_prefix as u8);
    let mut rest = value - max_prefix;
    while rest >= 0x80 {
        out.push((rest as u8 & 0x7f) | 0x80);
        rest >>= 7;
    }
    out.push(rest as u8);
}

/// Appends a string literal, Huffman-coded when that is shorter.
fn put_string(out: &mut Vec<u8>, s: &[u8]) {
    let coded = huffman::encoded_len(s);
    if coded < s.len() {
        put_integer(out, 0x80, 7, coded);
        huffman::encode(s, out);
    } else {
        put_integer(out, 0, 7, s.len());
        out.extend_from_slice(s);
    }
}

/// The static-table index of `name` (its first entry), for the names a response carries.
/// A `match` rather than a scan of the table: this runs for every response header.
fn static_name(name: &[u8]) -> usize {
    match name {
        b":status" => 8,
        b"accept-ranges" => 18,
        b"access-control-allow-origin" => 20,
        b"age" => 21,
        b"allow" => 22,
        b"cache-control" => 24,
        b"content-disposition" => 25,
        b"content-encoding" => 26,
        b"content-language" => 27,
        b"content-length" => 28,
        b"content-location" => 29,
        b"content-range" => 30,
        b"content-type" => 31,
        b"date" => 33,
        b"etag" => 34,
        b"expires" => 36,
        b"last-modified" => 44,
        b"link" => 45,
        b"location" => 46,
        b"proxy-authenticate" => 48,
        b"refresh" => 52,
        b"retry-after" => 53,
        b"server" => 54,
        b"set-cookie" => 55,
        b"strict-transport-security" => 56,
        b"transfer-encoding" => 57,
        b"vary" => 59,
        b"via" => 60,
        b"www-authenticate" => 61,
        _ => 0,
    }
}

/// Appends one field as a literal without indexing (RFC 7541 section 6.2.2), with the static
/// name index when there is one. `name` must be lowercase. Nothing is added to any table, so
/// the encoder keeps no state.
pub fn encode_field(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    let name_index = static_name(name);
    put_integer(out, 0, 4, name_index);
    if name_index == 0 {
        put_string(out, name);
    }
    put_string(out, value);
}

/// Appends a `:status` field: indexed for the seven codes the static table has.
pub fn encode_status(out: &mut Vec<u8>, status: u16) {
    let index = match status {
        200 => 8,
        204 => 9,
        206 => 10,
        304 => 11,
        400 => 12,
        404 => 13,
        500 => 14,
        _ => 0,
    };
    if index > 0 {
        put_integer(out, 0x80, 7, index);
        return;
    }
    let digits = [
        b'0' + (status / 100 % 10) as u8,
        b'0' + (status / 10 % 10) as u8,
        b'0' + (status % 10) as u8,
    ];
    encode_field(out, b":status", &digits);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(list: &HeaderList) -> Vec<(String, String)> {
        list.iter()
            .map(|(n, v)| {
                (
                    String::from_utf8_lossy(n).into_owned(),
                    String::from_utf8_lossy(v).into_owned(),
                )
            })
            .collect()
    }

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// RFC 7541 C.4: three requests with Huffman coding sharing one dynamic table.
    #[test]
    fn rfc_c4_requests() {
        let mut d = Decoder::new(4096);
        let mut list = HeaderList::default();
        d.decode(
            &hex("8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff"),
            &mut list,
            8192,
        )
        .unwrap();
        assert_eq!(
            fields(&list),
            [
                (":method".into(), "GET".into()),
                (":scheme".into(), "http".into()),
                (":path".into(), "/".into()),
                (":authority".into(), "www.example.com".into()),
            ]
        );
        d.decode(&hex("8286 84be 5886 a8eb 1064 9cbf"), &mut list, 8192)
            .unwrap();
        assert_eq!(
            fields(&list)[4],
            ("cache-control".into(), "no-cache".into())
        );
        d.decode(
            &hex("8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf"),
            &mut list,
            8192,
        )
        .unwrap();
        assert_eq!(
            fields(&list)[4],
            ("custom-key".into(), "custom-value".into())
        );
        assert_eq!(d.table.size, 164);
    }

    #[test]
    fn size_updates_and_index_errors() {
        let mut d = Decoder::new(4096);
        let mut list = HeaderList::default();
        // Update to 0 then an indexed static field.
        d.decode(&[0x20, 0x82], &mut list, 100).unwrap();
        // Above the advertised size.
        assert!(d.decode(&hex("3fe2 1f"), &mut list, 100).is_err());
        // After a field.
        assert!(d.decode(&[0x82, 0x20], &mut list, 100).is_err());
        // Index 0 and an index past both tables.
        assert!(d.decode(&[0x80], &mut list, 100).is_err());
        assert!(d.decode(&[0xbe], &mut list, 100).is_err());
        // Truncated string, oversized integer.
        assert!(d.decode(&[0x40, 0x05, b'a'], &mut list, 100).is_err());
        assert!(d
            .decode(&[0xff, 0xff, 0xff, 0xff, 0xff, 0x7f], &mut list, 100)
            .is_err());
    }

    /// A block that indexes one large entry many times decodes without copying past the limit.
    #[test]
    fn bomb_is_cut_off() {
        let mut d = Decoder::new(4096);
        let mut block = vec![0x40, 0x01, b'x', 0x7f, 0xb9, 0x16];
        block.extend(std::iter::repeat_n(b'a', 3000));
        block.extend(std::iter::repeat_n(0xbe, 10_000));
        let mut list = HeaderList::default();
        d.decode(&block, &mut list, 16 * 1024).unwrap();
        assert!(list.too_large);
        assert!(list.bytes.len() <= 16 * 1024);
        assert!(list.size > 1_000_000);
    }

    /// The names the encoder indexes are the table's.
    #[test]
    fn static_names_match_the_table() {
        for (i, (name, _)) in STATIC.iter().enumerate() {
            let index = static_name(name);
            if index != 0 {
                assert_eq!(STATIC[index - 1].0, *name);
                assert!(index <= i + 1, "first entry of {name:?}");
            }
        }
        for code in [200, 204, 206, 304, 400, 404, 500] {
            let mut out = Vec::new();
            encode_status(&mut out, code);
            assert_eq!(out.len(), 1);
            let (n, v) = STATIC[(out[0] & 0x7f) as usize - 1];
            assert_eq!((n, v), (&b":status"[..], code.to_string().as_bytes()));
        }
    }

    #[test]
    fn encoder_round_trips() {
        let mut out = Vec::new();
        encode_status(&mut out, 200);
        encode_status(&mut out, 502);
        encode_field(&mut out, b"content-type", b"text/html; charset=utf-8");
        encode_field(&mut out, b"x-custom", b"\x01\xff value");
        encode_field(&mut out, b"server", &[b'a'; 200]);
        assert_eq!(out[0], 0x88);
        let mut d = Decoder::new(0);
        let mut list = HeaderList::default();
        d.decode(&out, &mut list, 8192).unwrap();
        let f = fields(&list);
        assert_eq!(f[0].1, "200");
        assert_eq!(f[1].1, "502");
        assert_eq!(f[2].1, "text/html; charset=utf-8");
        assert_eq!(list.iter().nth(3).unwrap().1, b"\x01\xff value");
        assert_eq!(f[4].1.len(), 200);
    }
}
