//! HPACK (`proxy::h2::hpack`, `huffman`) and the stream-to-HTTP/1.1 gateway
//! (`proxy::h2::gateway`) on arbitrary header blocks.
//!
//! Invariants:
//! - the decoder never panics, keeps no more than the list limit of field bytes however much
//!   the block would expand (HPACK bombs), and fails rather than accept an index, integer or
//!   Huffman code outside the rules; a run of blocks shares one dynamic table, as on a
//!   connection;
//! - Huffman and the field encoder round-trip any bytes;
//! - a header list the gateway accepts becomes exactly one HTTP/1.1 request head for the
//!   proxy's own parser: complete, ending where the gateway's output ends (nothing that could
//!   read as a second request), or refused with a status; never a partial head.
#![no_main]

use common::buffer::Buffer;
use common::http::request::{self, header_storage, Limits};
use libfuzzer_sys::fuzz_target;
use proxy::h2::hpack::{self, Decoder, HeaderList};
use proxy::h2::{gateway, huffman};

const LIMIT: usize = 2048;

fuzz_target!(|data: &[u8]| {
    let Some((&knob, input)) = data.split_first() else {
        return;
    };
    let mut decoder = Decoder::new(usize::from(knob) * 16);
    let mut list = HeaderList::default();
    let cut = usize::from(knob) % 7 + 1;
    for block in input.split(|&b| b == 0xfe).take(cut) {
        if decoder.decode(block, &mut list, LIMIT).is_err() {
            break;
        }
        let kept: usize = list.iter().map(|(n, v)| n.len() + v.len() + 32).sum();
        assert!(kept <= LIMIT, "kept {kept} bytes");
        assert_eq!(list.too_large, list.size > LIMIT);
        if list.too_large {
            continue;
        }
        let mut out = Buffer::new(1 << 20);
        if gateway::request_head(&list, knob & 1 == 1, &mut out).is_ok() {
            let mut storage = header_storage();
            let limits = Limits {
                max_head: 1 << 20,
                max_target: 1 << 20,
            };
            match request::parse(out.filled(), &mut storage, &limits) {
                Ok(Some(head)) => assert_eq!(head.head_len, out.len(), "one whole head"),
                Ok(None) => panic!("partial head from the gateway: {:?}", out.filled()),
                Err(_) => {}
            }
        }
    }
    // Round trips.
    let mut coded = Vec::new();
    huffman::encode(input, &mut coded);
    assert_eq!(coded.len(), huffman::encoded_len(input));
    let mut back = Vec::new();
    huffman::decode(&coded, &mut back, usize::MAX).unwrap();
    assert_eq!(back, input);
    let half = input.len() / 2;
    let name: Vec<u8> = input[..half].iter().map(|b| b.to_ascii_lowercase()).collect();
    let mut block = Vec::new();
    hpack::encode_field(&mut block, &name, &input[half..]);
    let mut fresh = Decoder::new(0);
    fresh.decode(&block, &mut list, usize::MAX).unwrap();
    let (n, v) = list.iter().next().unwrap();
    assert_eq!((n, v), (&name[..], &input[half..]));
});
