//! zeus-memcache's integration tests: properties of `protocol::step` over random and
//! mutated command bytes, fed in random pieces the way a connection reads them.
//!
//! Checked for every input: no panic; every step uses only bytes it was given and makes
//! progress; one step never appends more than `out_limit` plus one item (a multiget pauses
//! and resumes); the parser never waits for more than a get line or one value can need; a
//! storage command announcing a value too large (up to 2 GiB and past) is answered from its
//! line alone, never waited for. `PROPTEST_CASES` scales the run (default: a few seconds).

use std::sync::OnceLock;

use proptest::prelude::*;
use zeus_memcache::protocol::{step, Ctx, ServerInfo, Step, MAX_GET_LINE};
use zeus_memcache::store::{BackendKind, Store, StoreConfig};

const ITEM_SIZE_MAX: usize = 64 << 10;
/// Bytes one step may append beyond `out_limit`: one item and its header, or a `stats` reply.
const SLACK: usize = ITEM_SIZE_MAX + 4096;

fn new_store() -> Store {
    Store::new(&StoreConfig {
        memory_limit: 8 << 20,
        item_size_max: ITEM_SIZE_MAX,
        evictions: true,
        backend: BackendKind::Shm,
    })
    .expect("a small store")
}

/// The store the random commands run against (shared by the cases: it sees all of them).
fn store() -> &'static Store {
    static STORE: OnceLock<Store> = OnceLock::new();
    STORE.get_or_init(new_store)
}

/// A store only the multiget property writes to (random commands could flush the other).
fn quiet_store() -> &'static Store {
    static STORE: OnceLock<Store> = OnceLock::new();
    STORE.get_or_init(new_store)
}

fn info() -> ServerInfo {
    ServerInfo {
        max_connections: 16,
        memory_limit: 8 << 20,
        item_size_max: ITEM_SIZE_MAX as u64,
        evictions: true,
        idle_timeout: 0,
    }
}

/// What a connection saw: replies (in order) and whether it was closed.
struct Seen {
    out: Vec<u8>,
    closed: bool,
}

/// Feeds `pieces` as successive reads, stepping like the server's connection loop, and
/// checks the per-step invariants.
fn feed(pieces: &[Vec<u8>], out_limit: usize) -> Result<Seen, TestCaseError> {
    feed_into(store(), pieces, out_limit)
}

fn feed_into(st: &Store, pieces: &[Vec<u8>], out_limit: usize) -> Result<Seen, TestCaseError> {
    let info = info();
    let mut cx = Ctx {
        store: st,
        now: zeus_memcache::store::now(),
        info: &info,
        batch_start: 0,
        out_limit,
        resume: 0,
    };
    let mut buf: Vec<u8> = Vec::new();
    let mut skip = 0usize;
    let mut seen = Seen {
        out: Vec::new(),
        closed: false,
    };
    for piece in pieces {
        let drop = skip.min(piece.len());
        skip -= drop;
        buf.extend_from_slice(&piece[drop..]);
        while !buf.is_empty() && skip == 0 {
            let mut out = Vec::new();
            let got = step(&buf, &mut out, &cx);
            prop_assert!(
                out.len() <= out_limit + SLACK,
                "one step appended {} bytes",
                out.len()
            );
            seen.out.extend_from_slice(&out);
            let resumed = cx.resume;
            cx.resume = 0;
            match got {
                Step::Done(n) => {
                    prop_assert!(n >= 1 && n <= buf.len(), "Done({n}) of {}", buf.len());
                    buf.drain(..n);
                }
                Step::Skip(n, s) => {
                    prop_assert!(n >= 1 && n <= buf.len(), "Skip({n}) of {}", buf.len());
                    buf.drain(..n);
                    let k = s.min(buf.len());
                    buf.drain(..k);
                    skip = s - k;
                }
                Step::Close(n) => {
                    prop_assert!(n <= buf.len());
                    seen.closed = true;
                    return Ok(seen);
                }
                Step::Partial(k) => {
                    prop_assert!(k > resumed, "Partial({k}) after {resumed}: no progress");
                    cx.resume = k;
                }
                Step::NeedMore => {
                    prop_assert!(
                        buf.len() <= MAX_GET_LINE + ITEM_SIZE_MAX + 2,
                        "waits with {} bytes buffered",
                        buf.len()
                    );
                    break;
                }
            }
        }
    }
    Ok(seen)
}

/// A number as a client might send it: small, boundary, huge, negative or junk.
fn number() -> impl Strategy<Value = String> {
    prop_oneof![
        (0u32..100).prop_map(|n| n.to_string()),
        (0u64..u64::MAX).prop_map(|n| n.to_string()),
        Just("-1".to_string()),
        Just("2147483647".to_string()),
        Just("2147483648".to_string()),
        Just("4294967296".to_string()),
        Just("18446744073709551616".to_string()),
        "[0-9a-z+-]{0,6}",
    ]
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        "k[0-9]".prop_map(String::from),
        "[!-~]{1,12}",
        (240usize..260).prop_map(|n| "k".repeat(n)),
    ]
}

/// One command line (with a data block for storage commands, of the announced length or not).
fn command() -> impl Strategy<Value = Vec<u8>> {
    let storage = (
        prop::sample::select(vec!["set", "add", "replace", "append", "prepend", "cas"]),
        key(),
        number(),
        number(),
        prop_oneof![(0usize..300).prop_map(|n| n.to_string()), number()],
        number(),
        any::<bool>(),
        prop::collection::vec(any::<u8>(), 0..300),
    )
        .prop_map(|(cmd, k, flags, exp, len, cas, noreply, data)| {
            let cas = if cmd == "cas" {
                format!(" {cas}")
            } else {
                String::new()
            };
            let nr = if noreply { " noreply" } else { "" };
            let mut v = format!("{cmd} {k} {flags} {exp} {len}{cas}{nr}\r\n").into_bytes();
            // The announced length when it is small, else whatever was drawn.
            match len.parse::<usize>() {
                Ok(n) if n <= 300 => v.extend(std::iter::repeat_n(b'v', n)),
                _ => v.extend_from_slice(&data),
            }
            v.extend_from_slice(b"\r\n");
            v
        });
    let other = (
        prop::sample::select(vec![
            "get",
            "gets",
            "gat",
            "gats",
            "bget",
            "delete",
            "incr",
            "decr",
            "touch",
            "flush_all",
            "verbosity",
            "version",
            "stats",
            "mn",
            "quit",
            "shutdown",
            "mg",
            "ms",
            "md",
            "ma",
            "me",
            "GET",
            "",
        ]),
        prop::collection::vec(prop_oneof![key(), number(), Just("noreply".into())], 0..6),
    )
        .prop_map(|(cmd, args)| format!("{cmd} {}\r\n", args.join(" ")).into_bytes());
    prop_oneof![
        3 => storage,
        3 => other,
        1 => prop::collection::vec(any::<u8>(), 0..200),
    ]
}

/// A session of commands, then a few random mutations of its bytes.
fn session() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::collection::vec(command(), 1..12),
        prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 0..6),
    )
        .prop_map(|(cmds, edits)| {
            let mut bytes = cmds.concat();
            for (at, b, how) in edits {
                if bytes.is_empty() {
                    break;
                }
                let i = at.index(bytes.len());
                match how {
                    0 => bytes[i] = b,
                    1 => bytes.insert(i, b),
                    _ => {
                        bytes.remove(i);
                    }
                }
            }
            bytes
        })
}

/// Splits `bytes` at the given cut points.
fn pieces(bytes: &[u8], cuts: &[prop::sample::Index]) -> Vec<Vec<u8>> {
    let mut at: Vec<usize> = cuts.iter().map(|c| c.index(bytes.len() + 1)).collect();
    at.push(0);
    at.push(bytes.len());
    at.sort_unstable();
    at.windows(2).map(|w| bytes[w[0]..w[1]].to_vec()).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_and_mutated_commands_in_pieces(
        bytes in session(),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..16),
        out_limit in prop_oneof![Just(usize::MAX / 2), 0usize..8192],
    ) {
        feed(&pieces(&bytes, &cuts), out_limit)?;
    }

    #[test]
    fn pure_noise_in_pieces(
        bytes in prop::collection::vec(any::<u8>(), 0..4096),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..16),
    ) {
        feed(&pieces(&bytes, &cuts), 1 << 20)?;
    }

    #[test]
    fn an_oversized_value_is_refused_from_its_line(
        cmd in prop::sample::select(vec!["set", "add", "replace", "append", "prepend", "cas"]),
        len in prop_oneof![
            Just(2u64 << 30),
            Just(i32::MAX as u64),
            (ITEM_SIZE_MAX as u64 + 1)..(4u64 << 30),
        ],
        noreply in any::<bool>(),
    ) {
        let cas = if cmd == "cas" { " 1" } else { "" };
        let nr = if noreply { " noreply" } else { "" };
        let line = format!("{cmd} big 0 0 {len}{cas}{nr}\r\n");
        let seen = feed(&[line.clone().into_bytes(), b"tail of the value".to_vec()], 1 << 20)?;
        let info = info();
        let cx = Ctx {
            store: store(),
            now: zeus_memcache::store::now(),
            info: &info,
            batch_start: 0,
            out_limit: 1 << 20,
            resume: 0,
        };
        let mut out = Vec::new();
        let got = step(line.as_bytes(), &mut out, &cx);
        prop_assert!(
            matches!(got, Step::Done(n) | Step::Skip(n, _) if n == line.len()),
            "{got:?}"
        );
        let reply = String::from_utf8_lossy(&out).into_owned();
        prop_assert!(!seen.closed);
        if noreply {
            prop_assert_eq!(reply, "");
        } else {
            prop_assert!(
                reply == "SERVER_ERROR object too large for cache\r\n"
                    || reply == "CLIENT_ERROR bad command line format\r\n",
                "{}", reply
            );
        }
    }

    #[test]
    fn a_paused_multiget_equals_the_whole_one(
        reps in 1usize..80,
        out_limit in 0usize..20_000,
    ) {
        let setup = b"set pa 1 0 3000\r\n".iter().copied()
            .chain(std::iter::repeat_n(b'a', 3000))
            .chain(b"\r\nset pb 2 0 5\r\nhello\r\n".iter().copied())
            .collect::<Vec<u8>>();
        let st = quiet_store();
        feed_into(st, &[setup], usize::MAX / 2)?;
        let keys: Vec<&str> = (0..reps).map(|i| ["pa", "pb", "nope"][i % 3]).collect();
        let get = format!("get {}\r\n", keys.join(" ")).into_bytes();
        let whole = feed_into(st, std::slice::from_ref(&get), usize::MAX / 2)?;
        let paused = feed_into(st, &[get], out_limit)?;
        prop_assert_eq!(whole.out, paused.out);
    }
}
