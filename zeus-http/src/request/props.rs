//! Property tests (proptest) of everything a client's bytes reach before a handler: request
//! heads, bodies (by length or chunked) and the request path. Requests are generated from
//! hostile pieces, pipelined, mutated byte by byte, and fed in random pieces as a
//! connection would receive them. Properties:
//! - no panic, whatever the bytes;
//! - bounded buffers: an incomplete head never holds more than `max_head_bytes`, and a
//!   pending body never fills the connection's read cap (`conn::read_cap`), where it could
//!   neither complete nor be refused;
//! - a complete head is within its limits, and a valid request is never refused because it
//!   arrived in pieces (every prefix of it is "incomplete", never an error);
//! - the path as the file server uses it never leaves the root: relative, `.` then plain
//!   names only (no `..`, `.`, `/`, `\`, NUL, no dotfile).
//!
//! `PROPTEST_CASES` sets the number of cases (default 256 per property; 16 for the heavy
//! chunked bodies).

use std::path::{Component, Path};

use proptest::prelude::*;

use super::{parse_head, Framing, Limits};
use crate::body::decode_chunked;
use crate::files::path::{decode, relative};

const LIM: Limits = Limits {
    max_head_bytes: 1024,
    max_uri_bytes: 128,
    max_headers: 16,
    max_body_bytes: 256,
};

const PATH_TOKENS: &[&str] = &[
    "/", "a", "b.txt", "..", ".", "%2e", "%2E", "%2e%2e", "%2f", "%2F", "%00", "%5c", "\\", "%",
    "%2", "%zz", ".git", "%252e", "é", "//", "x%20y", "%c0%ae", "%ff", "~", "*",
];

fn raw_path() -> impl Strategy<Value = String> {
    let tokens = prop::collection::vec(prop::sample::select(PATH_TOKENS), 0..12);
    prop_oneof![
        tokens.clone().prop_map(|v| v.concat()),
        tokens.prop_map(|v| format!("/{}", v.concat())),
        any::<String>(),
    ]
}

const HEADERS: &[&str] = &[
    "Host: x",
    "Host: y",
    "Content-Length: 0",
    "Content-Length: 5",
    "Content-Length: 300",
    "Content-Length: 5, 5",
    "Content-Length: +5",
    "Content-Length: 99999999999999999999999",
    "Transfer-Encoding: chunked",
    "Transfer-Encoding: gzip, chunked",
    "Transfer-Encoding: chunked, identity",
    "Expect: 100-continue",
    "Expect: tea",
    "Connection: close",
    "Connection: keep-alive",
    "Range: bytes=0-1,3-",
    "X-Empty:",
    " folded",
    "Bad Name: v",
];

/// A body: raw bytes, or chunks (sizes, with an extension on some) and maybe trailers.
fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(Vec::new()),
        prop::collection::vec(any::<u8>(), 0..64),
        chunked_body(64)
    ]
}

/// A chunked body of up to 48 small chunks with extensions up to `max_ext` bytes.
fn chunked_body(max_ext: usize) -> impl Strategy<Value = Vec<u8>> {
    (
        prop::collection::vec((0usize..6, 0..max_ext), 0..48),
        any::<bool>(),
    )
        .prop_map(|(chunks, trailer)| {
            let mut b = Vec::new();
            for (n, ext) in chunks.into_iter().filter(|c| c.0 > 0) {
                b.extend_from_slice(format!("{n:x};{}\r\n", "e".repeat(ext)).as_bytes());
                b.extend(std::iter::repeat_n(b'z', n));
                b.extend_from_slice(b"\r\n");
            }
            b.extend_from_slice(if trailer {
                b"0\r\nT: 1\r\n\r\n"
            } else {
                b"0\r\n\r\n"
            });
            b
        })
}

/// A chunked POST whose framing (24 to 48 one-byte chunks with 1000 to 4000 bytes of
/// extension each, under `body::MAX_LINE` per line) is mostly over the connection's read cap.
fn heavy_chunked_request() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(1000usize..4000, 24..48).prop_map(|exts| {
        let mut r = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        for ext in exts {
            r.extend_from_slice(format!("1;{}\r\nz\r\n", "e".repeat(ext)).as_bytes());
        }
        r.extend_from_slice(b"0\r\n\r\n");
        r
    })
}

/// A request the parser should accept, with a body its framing announces.
fn valid_request() -> impl Strategy<Value = Vec<u8>> {
    let path = prop::collection::vec(
        prop::sample::select(&["a", "b.txt", "%20", "%2e", "x"][..]),
        0..6,
    )
    .prop_map(|v| format!("/{}", v.join("/")));
    let body = prop::collection::vec(any::<u8>(), 0..40);
    (0u8..4, path, body, chunked_body(64), any::<bool>()).prop_map(
        |(kind, path, body, chunks, close)| {
            let conn = if close { "Connection: close\r\n" } else { "" };
            let (head, body) = match kind {
                0 => (
                    format!("GET {path}?q=1 HTTP/1.1\r\nHost: x\r\n{conn}\r\n"),
                    vec![],
                ),
                1 => (format!("HEAD {path} HTTP/1.0\r\n\r\n"), vec![]),
                2 => (
                    format!(
                        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n{conn}\r\n",
                        body.len()
                    ),
                    body,
                ),
                _ => (
                    format!(
                        "POST {path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                    ),
                    chunks,
                ),
            };
            [head.into_bytes(), body].concat()
        },
    )
}

fn request() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![2 => valid_request(), 1 => hostile_request()]
}

/// Anything from hostile pieces: methods, paths, versions, header lines, bodies.
fn hostile_request() -> impl Strategy<Value = Vec<u8>> {
    let method = prop::sample::select(&["GET", "HEAD", "POST", "PUT", "BREW", "get", ""][..]);
    let version = prop::sample::select(&["HTTP/1.1", "HTTP/1.0", "HTTP/2.0", "HTTP/1.1x"][..]);
    let headers = prop::collection::vec(prop::sample::select(HEADERS), 0..6);
    (method, raw_path(), version, headers, body()).prop_map(|(m, p, v, h, b)| {
        let mut r = format!("{m} {p} {v}\r\n").into_bytes();
        for line in h {
            r.extend_from_slice(line.as_bytes());
            r.extend_from_slice(b"\r\n");
        }
        r.extend_from_slice(b"\r\n");
        r.extend(b);
        r
    })
}

/// Up to three pipelined requests, then up to four byte mutations.
fn stream() -> impl Strategy<Value = Vec<u8>> {
    let edits = prop_oneof![
        Just(Vec::new()),
        prop::collection::vec((any::<prop::sample::Index>(), 0u8..3, any::<u8>()), 1..4),
    ];
    (prop::collection::vec(request(), 1..4), edits).prop_map(|(reqs, edits)| {
        let mut s = reqs.concat();
        for (at, kind, byte) in edits {
            let i = at.index(s.len() + 1);
            match kind {
                0 if i < s.len() => s[i] = byte,
                1 => s.insert(i, byte),
                _ if i < s.len() => {
                    s.remove(i);
                }
                _ => {}
            }
        }
        s
    })
}

/// Feeds `input` in pieces of the given sizes, handling requests as a connection does, and
/// checks the invariants at every step. Returns the number of complete requests.
fn feed(input: &[u8], sizes: &[usize]) -> usize {
    let peer = "127.0.0.1:1".parse().expect("addr");
    let mut buf = Vec::new();
    let mut pending: Option<Framing> = None;
    // A connection stops reading at its cap: waiting with a full buffer would never end.
    let cap = crate::conn::read_cap(&LIM);
    let mut done = 0;
    let mut rest = input;
    let mut sizes = sizes.iter().cycle();
    while !rest.is_empty() {
        // Small pieces (a byte to 64) or large ones (to 8 KiB), as a network delivers them.
        let s = *sizes.next().expect("cycle");
        let n = if s.is_multiple_of(2) {
            s / 2 % 64
        } else {
            s / 2 % 8192
        } + 1;
        let n = n.min(rest.len());
        buf.extend_from_slice(&rest[..n]);
        rest = &rest[n..];
        loop {
            let framing = match pending.take() {
                Some(f) => f,
                None => match parse_head(&buf, peer, &LIM) {
                    Ok(None) => {
                        assert!(
                            buf.len() <= LIM.max_head_bytes,
                            "incomplete head over the limit"
                        );
                        break;
                    }
                    Err(_) => return done, // the connection answers and closes
                    Ok(Some(h)) => {
                        assert!(h.len <= buf.len() && h.len <= LIM.max_head_bytes);
                        let r = &h.request;
                        assert!(r.path.starts_with('/'));
                        let q = r.query.as_ref().map_or(0, |q| q.len() + 1);
                        assert!(r.path.len() + q <= LIM.max_uri_bytes);
                        assert!(r.minor_version <= 1);
                        buf.drain(..h.len);
                        h.framing
                    }
                },
            };
            match framing {
                Framing::None => {}
                Framing::Length(n) => {
                    assert!(n <= LIM.max_body_bytes);
                    if (buf.len() as u64) < n {
                        assert!(buf.len() < cap);
                        pending = Some(framing);
                        break;
                    }
                    buf.drain(..n as usize);
                }
                Framing::Chunked => match decode_chunked(&buf, LIM.max_body_bytes) {
                    Ok(Some(d)) => {
                        assert!(d.body.len() as u64 <= LIM.max_body_bytes);
                        assert!(d.used <= buf.len());
                        buf.drain(..d.used);
                    }
                    Ok(None) => {
                        assert!(buf.len() < cap, "pending chunked body fills the read cap");
                        pending = Some(framing);
                        break;
                    }
                    Err(_) => return done,
                },
            }
            done += 1;
        }
    }
    done
}

/// The path properties: what `relative` accepts is `.` followed by plain names.
fn check_path(raw: &str) {
    if let Ok(d) = decode(raw) {
        assert!(!d.contains(&0) && !d.contains(&b'\\'), "{raw:?}");
    }
    let Ok(rel) = relative(raw) else {
        return;
    };
    assert!(rel.is_relative(), "{raw:?} -> {rel:?}");
    let mut parts = rel.components();
    assert_eq!(parts.next(), Some(Component::CurDir), "{raw:?} -> {rel:?}");
    for c in parts {
        let Component::Normal(name) = c else {
            panic!("{raw:?} -> {rel:?}: {c:?}");
        };
        let b = std::os::unix::ffi::OsStrExt::as_bytes(name);
        assert!(!b.is_empty() && b[0] != b'.', "{raw:?} -> {rel:?}");
        assert!(!b.contains(&0) && !b.contains(&b'/') && !b.contains(&b'\\'));
    }
    // So joined to a root, the path stays under it lexically.
    let root = Path::new("/srv/www");
    assert!(root.join(&rel).starts_with(root));
}

proptest! {
    #[test]
    fn requests_in_pieces_keep_the_invariants(
        input in stream(),
        sizes in prop::collection::vec(any::<usize>(), 1..8),
    ) {
        feed(&input, &sizes);
    }

    #[test]
    fn random_bytes_keep_the_invariants(
        input in prop::collection::vec(any::<u8>(), 0..2048),
        sizes in prop::collection::vec(any::<usize>(), 1..8),
    ) {
        feed(&input, &sizes);
    }

    #[test]
    fn a_complete_head_is_never_refused_for_arriving_in_pieces(input in request()) {
        let peer = "127.0.0.1:1".parse().expect("addr");
        if let Ok(Some(whole)) = parse_head(&input, peer, &LIM) {
            for k in 0..whole.len {
                let part = parse_head(&input[..k], peer, &LIM);
                prop_assert!(matches!(part, Ok(None)), "prefix {k} of {input:?}: {part:?}");
            }
            let again = parse_head(&input[..whole.len], peer, &LIM)
                .expect("same head")
                .expect("complete");
            prop_assert_eq!(again.request.path, whole.request.path);
            prop_assert_eq!(again.framing, whole.framing);
        }
    }

    #[test]
    fn the_path_never_leaves_the_root(raw in raw_path()) {
        check_path(&raw);
    }

    #[test]
    fn the_path_of_any_parsed_request_never_leaves_the_root(input in request()) {
        let peer = "127.0.0.1:1".parse().expect("addr");
        if let Ok(Some(h)) = parse_head(&input, peer, &LIM) {
            check_path(&h.request.path);
        }
    }
}

proptest! {
    // Fewer cases: each body is up to 200 KB, decoded again as every piece arrives.
    #![proptest_config(ProptestConfig::with_cases(16))]

    #[test]
    fn a_pending_chunked_body_never_fills_the_read_cap(
        input in heavy_chunked_request(),
        sizes in prop::collection::vec(any::<usize>(), 1..8),
    ) {
        feed(&input, &sizes);
    }
}

#[test]
fn generated_streams_reach_complete_requests() {
    // The generators must produce requests the parser accepts, or the properties above
    // would only ever test refusals.
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let strat = stream();
    let complete: usize = (0..300)
        .map(|_| {
            let s = strat.new_tree(&mut runner).expect("value").current();
            feed(&s, &[7, 13, 64])
        })
        .sum();
    assert!(
        complete > 30,
        "only {complete} complete requests in 300 streams"
    );
}
