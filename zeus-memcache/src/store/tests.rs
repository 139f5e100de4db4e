//! Store unit tests: limits, eviction, no-eviction, crash repair.

use super::*;

fn small(evictions: bool) -> Store {
    Store::new(&StoreConfig {
        memory_limit: 5 << 20,
        item_size_max: 1 << 20,
        evictions,
        backend: BackendKind::Shm,
    })
    .unwrap()
}

fn val(n: usize) -> Vec<u8> {
    let mut v = vec![b'v'; n];
    v.extend_from_slice(b"\r\n");
    v
}

#[test]
fn mapping_never_exceeds_the_limit() {
    let st = small(true);
    assert!(st.region.len() <= 5 << 20);
    assert_eq!(st.hdr(hdr::MAGIC).load(Relaxed), layout::MAGIC);
}

#[test]
fn full_store_evicts_and_counts() {
    let st = small(true);
    let now = now();
    for i in 0..200 {
        let k = format!("key{i}");
        assert_eq!(
            st.store(Mode::Set, k.as_bytes(), 0, 0, &val(100_000), now),
            Stored::Stored
        );
    }
    assert!(st.stat(Stat::Evictions) > 0);
    let (items, bytes) = st.usage();
    assert!(items < 200 && bytes <= 5 << 20);
    let mut out = Vec::new();
    assert!(st.get(b"key199", now, None, false, &mut out));
}

#[test]
fn no_evictions_means_out_of_memory_but_reuses_dead_space() {
    let st = small(false);
    let now = now();
    let mut stored = 0;
    for i in 0..200 {
        let k = format!("key{i}");
        match st.store(Mode::Set, k.as_bytes(), 0, 0, &val(100_000), now) {
            Stored::Stored => stored += 1,
            Stored::OutOfMemory => break,
            other => panic!("{other:?}"),
        }
    }
    assert!(stored > 5 && stored < 200);
    assert_eq!(st.stat(Stat::Evictions), 0);
    let mut out = Vec::new();
    assert!(
        st.get(b"key0", now, None, false, &mut out),
        "no-evict keeps old items"
    );
    for i in 0..stored {
        assert!(st.delete(format!("key{i}").as_bytes(), now));
    }
    assert_eq!(
        st.store(Mode::Set, b"again", 0, 0, &val(100_000), now),
        Stored::Stored
    );
}

#[test]
fn overwrites_keep_one_live_copy() {
    let st = small(true);
    let now = now();
    for i in 0..1000 {
        let v = format!("value{i}\r\n");
        st.store(Mode::Set, b"k", 0, 0, v.as_bytes(), now);
    }
    assert_eq!(st.usage().0, 1);
    let mut out = Vec::new();
    st.get(b"k", now, None, false, &mut out);
    assert_eq!(out, b"VALUE k 0 8\r\nvalue999\r\n");
}

#[test]
fn cas_changes_on_every_write() {
    let st = small(true);
    let now = now();
    let cas_of = |st: &Store| {
        let mut out = Vec::new();
        st.get(b"k", now, None, true, &mut out);
        String::from_utf8(out).unwrap()
    };
    st.store(Mode::Set, b"k", 0, 0, b"1\r\n", now);
    let a = cas_of(&st);
    st.delta(b"k", true, 1, now);
    let b = cas_of(&st);
    st.touch(b"k", 0, now);
    st.store(Mode::Append, b"k", 0, 0, b"0\r\n", now);
    let c = cas_of(&st);
    assert!(a != b && b != c, "{a} {b} {c}");
}

#[test]
fn expiry_rules() {
    let st = small(true);
    let now = 2_000_000_000;
    assert_eq!(st.expiry(0, now), 0);
    assert_eq!(st.expiry(-1, now), 1);
    assert_eq!(st.expiry(10, now), now + 10);
    assert_eq!(
        st.expiry(REALTIME_MAXDELTA as i32, now),
        now + REALTIME_MAXDELTA as u32
    );
    assert_eq!(
        st.expiry(REALTIME_MAXDELTA as i32 + 1, now),
        1,
        "absolute past"
    );
    assert_eq!(st.expiry(i32::MAX, now), i32::MAX as u32);
}

#[test]
fn too_large_matches_memcached_boundary() {
    let st = small(true);
    // memcached -I 1m: item header 48 + cas 8 + key + NUL + value + CRLF must fit 1 MiB.
    assert!(!st.too_large(1, 0, (1 << 20) - 58));
    assert!(st.too_large(1, 0, (1 << 20) - 57));
    assert!(!st.too_large(1, 7, (1 << 20) - 62));
    assert!(st.too_large(1, 7, (1 << 20) - 61));
}

#[test]
fn a_worker_dying_with_a_lock_empties_only_its_shard() {
    let st = Store::new(&StoreConfig {
        memory_limit: 64 << 20,
        item_size_max: 1 << 20,
        evictions: true,
        backend: BackendKind::Shm,
    })
    .unwrap();
    let now = now();
    for i in 0..2000 {
        st.store(Mode::Set, format!("k{i}").as_bytes(), 0, 0, b"v\r\n", now);
    }
    let victim = st.shard_of(hash(b"k0"));
    crate::sys::in_child_that_dies(|| std::mem::forget(st.lock(hash(b"k0"))));
    // The next locker repairs instead of hanging.
    let mut out = Vec::new();
    assert!(!st.get(b"k0", now, None, false, &mut out), "shard emptied");
    assert_eq!(st.stat(Stat::LockRepairs), 1);
    let mut kept = 0;
    for i in 0..2000 {
        let k = format!("k{i}");
        let mut out = Vec::new();
        let hit = st.get(k.as_bytes(), now, None, false, &mut out);
        if st.shard_of(hash(k.as_bytes())) == victim {
            assert!(!hit);
        } else {
            assert!(hit, "other shards keep their items");
            kept += 1;
        }
    }
    assert!(kept > 1500);
    assert_eq!(
        st.store(Mode::Set, b"k0", 0, 0, b"w\r\n", now),
        Stored::Stored
    );
}

#[test]
fn meta_marks_survive_compaction_and_reset_on_rewrite() {
    use super::meta::{FETCHED, STALE, TOKEN_SENT};
    let st = small(false);
    let now = now();
    // "pre" sits before "marked" in its segment; once it is deleted, compaction moves
    // "marked" (header included) to the segment's front.
    st.store(Mode::Set, b"pre", 0, 0, &val(1000), now);
    st.store(Mode::Set, b"marked", 3, 0, b"m\r\n", now);
    let before = format!("{:?}", st.entry(b"marked", now, |e| format!("{e:?}")));
    st.delete(b"pre", now);
    st.entry(b"marked", now, |e| {
        e.bump();
        e.set_marks(e.meta().unwrap().marks | STALE | TOKEN_SENT);
    });
    // Fill the shard ring, delete the filler: compaction slides "marked" within its segment.
    let mut keys = Vec::new();
    for i in 0..200 {
        let k = format!("fill{i}");
        match st.store(Mode::Set, k.as_bytes(), 0, 0, &val(100_000), now) {
            Stored::Stored => keys.push(k),
            _ => break,
        }
    }
    for k in &keys {
        st.delete(k.as_bytes(), now);
    }
    for k in &keys {
        st.store(Mode::Set, k.as_bytes(), 0, 0, &val(100_000), now);
    }
    let after = format!("{:?}", st.entry(b"marked", now, |e| format!("{e:?}")));
    assert_ne!(before, after, "moved by compaction");
    let m = st
        .entry(b"marked", now, |e| e.meta())
        .expect("kept (no evictions)");
    assert_eq!(m.marks, FETCHED | STALE | TOKEN_SENT);
    assert_eq!((m.flags, m.len), (3, 1));
    st.store(Mode::Set, b"marked", 0, 0, b"n\r\n", now);
    assert_eq!(st.entry(b"marked", now, |e| e.meta()).unwrap().marks, 0);
}

#[test]
fn entry_put_overwrite_remove() {
    let st = small(true);
    let now = now();
    let cas = st.entry(b"e", now, |e| {
        assert!(e.meta().is_none());
        e.put(9, 0, b"12\r\n", 0).unwrap()
    });
    st.entry(b"e", now, |e| {
        assert_eq!(e.meta().unwrap().cas, cas);
        assert!(e.overwrite(b"7 "));
        assert!(!e.overwrite(b"123"), "lengths differ");
        assert_ne!(e.meta().unwrap().cas, cas);
        let mut v = Vec::new();
        e.value(&mut v);
        assert_eq!(v, b"7 \r\n");
        e.remove();
        assert!(e.meta().is_none());
    });
    assert!(st.entry(b"e", now, |e| e.meta()).is_none());
    assert_eq!(st.usage().0, 0);
}
