//! The same store contract checked against every backend (`shm`, `memory`, `filesystem`):
//! each check takes a fresh store and runs once per backend.

use std::path::PathBuf;

use super::meta::{FETCHED, STALE, TOKEN_SENT};
use super::*;

/// A directory under the system temp dir, removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let p = std::env::temp_dir().join(format!(
            "zeus-mc-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&p).unwrap();
        Self(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn cfg(limit: usize, evictions: bool, backend: BackendKind) -> StoreConfig {
    StoreConfig {
        memory_limit: limit,
        item_size_max: 1 << 20,
        evictions,
        backend,
    }
}

/// Runs `check` on a fresh store of each backend.
fn each(limit: usize, evictions: bool, check: impl Fn(&Store, &str)) {
    let dir = TempDir::new("conf");
    for (name, kind) in [
        ("shm", BackendKind::Shm),
        ("memory", BackendKind::Memory),
        ("filesystem", BackendKind::Filesystem(dir.0.clone())),
    ] {
        let st = Store::new(&cfg(limit, evictions, kind)).unwrap();
        check(&st, name);
    }
}

fn get(st: &Store, key: &[u8], now: u32) -> Option<String> {
    let mut out = Vec::new();
    st.get(key, now, None, true, &mut out)
        .then(|| String::from_utf8_lossy(&out).into_owned())
}

fn cas(st: &Store, key: &[u8], now: u32) -> u64 {
    st.entry(key, now, |e| e.meta().map_or(0, |m| m.cas))
}

fn val(n: usize) -> Vec<u8> {
    let mut v = vec![b'v'; n];
    v.extend_from_slice(b"\r\n");
    v
}

#[test]
fn storage_modes() {
    each(8 << 20, true, |st, b| {
        let now = now();
        assert_eq!(
            st.store(Mode::Add, b"a", 1, 0, b"x\r\n", now),
            Stored::Stored,
            "{b}"
        );
        assert_eq!(
            st.store(Mode::Add, b"a", 1, 0, b"y\r\n", now),
            Stored::NotStored
        );
        assert_eq!(
            st.store(Mode::Replace, b"q", 1, 0, b"y\r\n", now),
            Stored::NotStored
        );
        assert_eq!(
            st.store(Mode::Append, b"a", 9, 0, b"yz\r\n", now),
            Stored::Stored
        );
        assert_eq!(
            st.store(Mode::Prepend, b"a", 9, 0, b"w\r\n", now),
            Stored::Stored
        );
        let got = get(st, b"a", now).unwrap();
        assert!(
            got.starts_with("VALUE a 1 4 ") && got.ends_with("\r\nwxyz\r\n"),
            "{b}: {got}"
        );
        let c = cas(st, b"a", now);
        assert_eq!(
            st.store(Mode::Cas(c + 1), b"a", 0, 0, b"n\r\n", now),
            Stored::Exists
        );
        assert_eq!(
            st.store(Mode::Cas(c), b"a", 0, 0, b"n\r\n", now),
            Stored::Stored
        );
        assert_eq!(
            st.store(Mode::Cas(c), b"a", 0, 0, b"m\r\n", now),
            Stored::Exists
        );
        assert_eq!(
            st.store(Mode::Cas(1), b"zz", 0, 0, b"m\r\n", now),
            Stored::NotFound
        );
        assert_ne!(cas(st, b"a", now), c, "{b}: new CAS on write");
        assert!(st.delete(b"a", now));
        assert!(!st.delete(b"a", now));
        assert_eq!(st.usage().0, 0, "{b}");
    });
}

#[test]
fn incr_decr_pad_and_grow() {
    each(8 << 20, true, |st, b| {
        let now = now();
        st.store(Mode::Set, b"n", 5, 0, b"10\r\n", now);
        assert_eq!(st.delta(b"n", false, 1, now), Delta::Value(9), "{b}");
        assert!(get(st, b"n", now).unwrap().ends_with("\r\n9 \r\n"));
        assert_eq!(st.delta(b"n", true, 91, now), Delta::Value(100));
        assert!(get(st, b"n", now).unwrap().starts_with("VALUE n 5 3 "));
        assert_eq!(st.delta(b"q", true, 1, now), Delta::NotFound);
        st.store(Mode::Set, b"s", 0, 0, b"abc\r\n", now);
        assert_eq!(st.delta(b"s", true, 1, now), Delta::NonNumeric, "{b}");
    });
}

#[test]
fn expiry_touch_and_flush() {
    each(8 << 20, true, |st, b| {
        let now = now();
        st.store(Mode::Set, b"gone", 0, 1, b"x\r\n", now);
        assert!(get(st, b"gone", now).is_none(), "{b}: already expired");
        assert_eq!(st.stat(Stat::GetExpired), 1, "{b}");
        st.store(Mode::Set, b"t", 0, 0, b"x\r\n", now);
        assert!(st.touch(b"t", now + 10, now));
        assert!(get(st, b"t", now + 9).is_some(), "{b}");
        assert!(get(st, b"t", now + 10).is_none(), "{b}: touched expiry");
        st.store(Mode::Set, b"f", 0, 0, b"x\r\n", now);
        st.flush(100, now);
        assert!(get(st, b"f", now).is_some(), "{b}: delayed flush");
        st.flush(0, now + 1);
        assert!(get(st, b"f", now + 1).is_none(), "{b}: flushed");
        st.store(Mode::Set, b"after", 0, 0, b"x\r\n", now + 2);
        assert!(get(st, b"after", now + 2).is_some(), "{b}");
        assert_eq!(st.usage().0, 1, "{b}");
    });
}

#[test]
fn cas_changes_on_every_write() {
    each(8 << 20, true, |st, b| {
        let now = now();
        st.store(Mode::Set, b"k", 0, 0, b"1\r\n", now);
        let a = cas(st, b"k", now);
        st.delta(b"k", true, 1, now);
        let c = cas(st, b"k", now);
        st.store(Mode::Append, b"k", 0, 0, b"0\r\n", now);
        let d = cas(st, b"k", now);
        assert!(a != c && c != d && a != d, "{b}: {a} {c} {d}");
    });
}

#[test]
fn entry_api_and_marks() {
    each(8 << 20, true, |st, b| {
        let now = now();
        let c = st.entry(b"e", now, |e| {
            assert!(e.meta().is_none());
            e.put(9, 0, b"12\r\n", KEY_BINARY_FOR_TEST).unwrap()
        });
        st.entry(b"e", now, |e| {
            let m = e.meta().unwrap();
            assert_eq!(
                (m.cas, m.flags, m.len, m.marks),
                (c, 9, 2, KEY_BINARY_FOR_TEST),
                "{b}"
            );
            e.bump();
            e.set_marks(e.meta().unwrap().marks | STALE | TOKEN_SENT);
            e.set_exptime(now + 50);
        });
        st.entry(b"e", now, |e| {
            let m = e.meta().unwrap();
            assert_eq!(
                m.marks,
                KEY_BINARY_FOR_TEST | FETCHED | STALE | TOKEN_SENT,
                "{b}"
            );
            assert_eq!(m.exptime, now + 50, "{b}");
            assert!(e.overwrite(b"7 "));
            assert!(!e.overwrite(b"123"), "lengths differ");
            assert_ne!(e.meta().unwrap().cas, c);
            let mut v = Vec::new();
            e.value(&mut v);
            assert_eq!(v, b"7 \r\n", "{b}");
        });
        st.entry(b"e", now, |e| {
            let mut v = Vec::new();
            e.value(&mut v);
            assert_eq!(v, b"7 \r\n", "{b}: overwrite kept");
            e.remove();
            assert!(e.meta().is_none());
        });
        assert!(st.entry(b"e", now, |e| e.meta()).is_none(), "{b}");
        assert_eq!(st.usage().0, 0, "{b}");
    });
}

const KEY_BINARY_FOR_TEST: u32 = super::meta::KEY_BINARY;

#[test]
fn odd_and_long_keys() {
    each(8 << 20, true, |st, b| {
        let now = now();
        let keys: Vec<Vec<u8>> = vec![
            b"../etc/passwd".to_vec(),
            b"a/b\\c".to_vec(),
            vec![0, 1, 0xff, b'.'],
            vec![b'k'; 250],
            vec![b'l'; 250],
        ];
        for (i, k) in keys.iter().enumerate() {
            let v = format!("{i}\r\n");
            assert_eq!(
                st.store(Mode::Set, k, 0, 0, v.as_bytes(), now),
                Stored::Stored,
                "{b}"
            );
        }
        for (i, k) in keys.iter().enumerate() {
            let got = get(st, k, now).unwrap();
            assert!(got.ends_with(&format!("\r\n{i}\r\n")), "{b}: {got}");
        }
        assert_eq!(st.usage().0, keys.len() as u64, "{b}");
    });
}

#[test]
fn overwrites_keep_one_live_copy() {
    each(8 << 20, true, |st, b| {
        let now = now();
        for i in 0..300 {
            let v = format!("value{i}\r\n");
            st.store(Mode::Set, b"k", 0, 0, v.as_bytes(), now);
        }
        assert_eq!(st.usage().0, 1, "{b}");
        assert!(get(st, b"k", now).unwrap().ends_with("\r\nvalue299\r\n"));
    });
}

#[test]
fn bounded_with_and_without_evictions() {
    for evictions in [true, false] {
        each(5 << 20, evictions, |st, b| {
            let now = now();
            let mut oom = 0;
            for i in 0..120 {
                match st.store(
                    Mode::Set,
                    format!("key{i}").as_bytes(),
                    0,
                    0,
                    &val(100_000),
                    now,
                ) {
                    Stored::Stored => {}
                    Stored::OutOfMemory => oom += 1,
                    other => panic!("{b}: {other:?}"),
                }
            }
            let (items, bytes) = st.usage();
            assert!(items < 120 && bytes <= 5 << 20, "{b}: {items} {bytes}");
            if evictions {
                assert!(st.stat(Stat::Evictions) > 0, "{b}");
                assert!(get(st, b"key119", now).is_some(), "{b}: newest kept");
            } else {
                assert!(oom > 0 && st.stat(Stat::Evictions) == 0, "{b}");
                assert!(get(st, b"key0", now).is_some(), "{b}: oldest kept");
            }
        });
    }
}
