//! Mutation tests of the parsers, without a fuzzing toolchain: valid requests are mutated
//! (bytes flipped, inserted, deleted, truncated) by a fixed-seed generator, and every result
//! must keep the invariants a fuzz target would check: no panic, a complete head never longer
//! than the buffer nor over the limits, a target in origin form, a chunked body never over
//! its limit.

use super::{parse_head, Framing, Limits};
use crate::body::decode_chunked;
use crate::files::path::decode;

const LIM: Limits = Limits {
    max_head_bytes: 512,
    max_uri_bytes: 128,
    max_headers: 16,
    max_body_bytes: 64,
};

const SEEDS: [&[u8]; 5] = [
    b"GET /a/b?c=d HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n",
    b"POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\nhello",
    b"POST /p HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;e=1\r\nhello\r\n0\r\nT: 1\r\n\r\n",
    b"GET http://h:1/%2e%2e/x%00 HTTP/1.0\r\nRange: bytes=0-1\r\n\r\n",
    b"HEAD / HTTP/1.1\r\nHost: x\r\nContent-Length: 1, 1\r\n\r\nz",
];

/// xorshift64*: deterministic, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    const INTERESTING: &[u8] = b"\r\n :;,%0-9aZ\x00\x7f\xff/.?";
    let mut v = input.to_vec();
    for _ in 0..=rng.below(4) {
        let at = rng.below(v.len() + 1);
        match rng.below(4) {
            0 if at < v.len() => v[at] = INTERESTING[rng.below(INTERESTING.len())],
            1 => v.insert(at, INTERESTING[rng.below(INTERESTING.len())]),
            2 if at < v.len() => {
                v.remove(at);
            }
            _ => v.truncate(at),
        }
    }
    v
}

#[test]
fn mutated_requests_keep_the_parser_invariants() {
    let peer = "127.0.0.1:1".parse().expect("addr");
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut complete = 0;
    for i in 0..40_000 {
        let input = mutate(&mut rng, SEEDS[i % SEEDS.len()]);
        let Ok(Some(h)) = parse_head(&input, peer, &LIM) else {
            continue;
        };
        complete += 1;
        assert!(
            h.len <= input.len() && h.len <= LIM.max_head_bytes,
            "{input:?}"
        );
        assert!(h.request.path.starts_with('/'), "{input:?}");
        assert!(
            h.request.path.len() + h.request.query.as_ref().map_or(0, |q| q.len() + 1)
                <= LIM.max_uri_bytes
        );
        if let Framing::Length(n) = h.framing {
            assert!(n > 0 && n <= LIM.max_body_bytes, "{input:?}");
        }
        if h.framing == Framing::Chunked {
            if let Ok(Some(d)) = decode_chunked(&input[h.len..], LIM.max_body_bytes) {
                assert!(d.body.len() as u64 <= LIM.max_body_bytes);
                assert!(h.len + d.used <= input.len());
            }
        }
        if let Ok(p) = decode(&h.request.path) {
            assert!(!p.contains(&0) && !p.contains(&b'\\'), "{input:?}");
        }
    }
    assert!(
        complete > 1000,
        "the mutations left too few complete heads ({complete})"
    );
}
