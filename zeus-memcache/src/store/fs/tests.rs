//! Filesystem-only behaviour: persistence, start-up clean-up, refusals.

use std::fs;

use super::*;
use crate::store::conformance::TempDir;
use crate::store::{BackendKind, Mode, StoreConfig, Stored};

fn open(dir: &Path) -> Store {
    Store::new(&StoreConfig {
        memory_limit: 8 << 20,
        item_size_max: 1 << 20,
        evictions: true,
        backend: BackendKind::Filesystem(dir.to_path_buf()),
    })
    .unwrap()
}

fn cas(st: &Store, key: &[u8]) -> Option<u64> {
    st.entry(key, now(), |e| e.meta().map(|m| m.cas))
}

#[test]
fn items_survive_a_restart_and_cas_keeps_growing() {
    let dir = TempDir::new("fs-persist");
    let now = now();
    let old = {
        let st = open(&dir.0);
        for i in 0..50 {
            st.store(Mode::Set, format!("k{i}").as_bytes(), 3, 0, b"v\r\n", now);
        }
        st.store(Mode::Set, b"short", 0, now + 3600, b"v\r\n", now);
        cas(&st, b"k49").unwrap()
    };
    let st = open(&dir.0);
    assert_eq!(st.usage().0, 51);
    assert_eq!(cas(&st, b"k49"), Some(old));
    assert_eq!(
        st.store(Mode::Set, b"new", 0, 0, b"x\r\n", now),
        Stored::Stored
    );
    assert!(
        cas(&st, b"new").unwrap() > old,
        "no CAS reused after a restart"
    );
    let mut out = Vec::new();
    assert!(st.get(b"k7", now, None, false, &mut out));
    assert_eq!(out, b"VALUE k7 3 1\r\nv\r\n");
}

#[test]
fn start_removes_temporary_and_expired_files_and_keeps_foreign_ones() {
    let dir = TempDir::new("fs-clean");
    let now = now();
    {
        let st = open(&dir.0);
        st.store(Mode::Set, b"old", 0, now + 1, b"v\r\n", now);
        st.store(Mode::Set, b"keep", 0, 0, b"v\r\n", now);
    }
    let sub = dir.0.join("00");
    fs::write(sub.join(".tmp.999999999.2"), b"writer gone").unwrap();
    let live = format!(".tmp.{}.7", std::process::id());
    fs::write(sub.join(&live), b"a live writer's").unwrap();
    let stale = format!(".tmp.{}.8", std::process::id());
    fs::File::create(sub.join(&stale))
        .unwrap()
        .set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(120))
        .unwrap();
    fs::write(sub.join("kdeadbeef"), b"garbage, not an item").unwrap();
    fs::write(sub.join("README"), b"not ours").unwrap();
    // Expire "old" by rewriting its header's exptime into the past.
    let p = dir
        .0
        .join(file::subdir(crate::store::hash(b"old")))
        .join(file::name(b"old"));
    let mut h = file::read_header(&p).unwrap().unwrap();
    h.exptime = 1;
    file::write_header(&p, &h).unwrap();
    let st = open(&dir.0);
    assert!(!sub.join(".tmp.999999999.2").exists(), "its writer is gone");
    assert!(
        sub.join(&live).exists(),
        "a live writer's temporary file is left alone"
    );
    assert!(!sub.join(&stale).exists(), "over a minute old");
    assert!(!sub.join("kdeadbeef").exists(), "corrupt item removed");
    assert!(sub.join("README").exists(), "foreign files are left alone");
    assert!(!p.exists(), "expired removed at start");
    assert_eq!(st.usage().0, 1);
}

#[test]
fn a_worker_dying_mid_command_leaves_the_store_usable() {
    let dir = TempDir::new("fs-crash");
    let st = open(&dir.0);
    let now = now();
    st.store(Mode::Set, b"k", 0, 0, b"old\r\n", now);
    crate::sys::in_child_that_dies(|| std::mem::forget(st.lock_hash(crate::store::hash(b"k"))));
    let mut out = Vec::new();
    assert!(
        st.get(b"k", now, None, false, &mut out),
        "files outlive a lock repair"
    );
    assert_eq!(out, b"VALUE k 0 3\r\nold\r\n");
    assert_eq!(st.stat(Stat::LockRepairs), 1);
}

#[test]
fn probe_refuses_missing_non_directory_and_unwritable() {
    let dir = TempDir::new("fs-probe");
    assert!(probe(&dir.0).is_ok());
    assert!(probe(&dir.0.join("missing")).is_err());
    let f = dir.0.join("file");
    fs::write(&f, b"x").unwrap();
    assert!(probe(&f).is_err());
    assert!(
        fs::read_dir(&dir.0).unwrap().count() == 1,
        "the probe file is removed"
    );
}

#[test]
fn a_delayed_flush_all_pending_at_a_stop_still_takes_effect_after_a_restart() {
    let dir = TempDir::new("fs-flush-pending");
    let mark = dir.0.join(FLUSH_MARK);
    let now = now();
    {
        let st = open(&dir.0);
        st.store(Mode::Set, b"old", 0, 0, b"v\r\n", now);
        st.flush(100, now);
    }
    assert!(
        mark.exists(),
        "the pending flush_all is kept in the directory"
    );
    let st = open(&dir.0);
    let mut out = Vec::new();
    assert!(st.get(b"old", now, None, false, &mut out), "not due yet");
    assert!(
        !st.get(b"old", now + 100, None, false, &mut out),
        "flushed once due, after the restart"
    );
    st.store(Mode::Set, b"new", 0, 0, b"v\r\n", now + 100);
    assert!(st.get(b"new", now + 100, None, false, &mut out));
    // An immediate flush_all replaces the pending one: nothing left to keep.
    st.flush(0, now);
    assert!(!mark.exists());
}

#[test]
fn a_delayed_flush_all_that_fell_due_while_stopped_is_applied_at_the_start() {
    let dir = TempDir::new("fs-flush-due");
    let now = now();
    {
        let st = open(&dir.0);
        // Written 100 s ago, flushed by a flush_all of 50 s issued then: due 50 s ago.
        st.store(Mode::Set, b"old", 0, 0, b"v\r\n", now - 100);
        st.flush(50, now - 100);
        st.store(Mode::Set, b"new", 0, 0, b"v\r\n", now);
    }
    assert!(dir.0.join(FLUSH_MARK).exists());
    let st = open(&dir.0);
    assert_eq!(st.usage().0, 1, "the flushed file is removed at the start");
    let mut out = Vec::new();
    assert!(!st.get(b"old", now, None, false, &mut out));
    assert!(st.get(b"new", now, None, false, &mut out));
    assert!(
        !dir.0.join(FLUSH_MARK).exists(),
        "applied, so no longer kept"
    );
}
