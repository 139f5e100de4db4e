//! The `filesystem` backend: one file per item under a directory.
//!
//! - layout: `DIR/xx/NAME`, 256 subdirectories `xx` picked by the key hash, `NAME` the hex of
//!   the key (a hash for keys over 100 bytes); see [`file`](mod@file) for the file format;
//! - atomicity: every command runs under the key's lock shard — the same robust process-shared
//!   mutexes as the segment store, so a worker killed holding one does not hang the others —
//!   and a new value is written to a temporary file then renamed, so a reader never sees a
//!   torn item; a worker killed mid-write leaves only a temporary file, removed at the next
//!   start (or `zeus list`/`check`, which prepare the service too: only temporary files whose
//!   writer process is gone or which are over a minute old, never a live writer's);
//! - CAS counter, flush marks and statistics live in the store's shared header; items and
//!   bytes in a small shared mapping;
//! - bounded: the bytes of all item files (header and key included) stay under
//!   `memory_limit`, split evenly over the lock shards as the segment store splits its memory
//!   (a shard holds at least 8 items of `item_size_max`); when a write would pass its shard's
//!   share, the oldest files (by modification time) of that shard are evicted, or with
//!   `evictions = false` the write is refused (`SERVER_ERROR out of memory storing object`);
//! - persistence: items survive a restart (the directory is scanned at start: temporary and
//!   expired files removed, items and bytes counted, the CAS counter raised past every
//!   item's); an immediate `flush_all` removes the flushed files; a delayed one is kept in
//!   `DIR/.flush_all` (its time mark in decimal unix seconds) while pending, so it still
//!   takes effect after a restart (at the start, when it fell due while stopped). Nothing is
//!   fsync'ed: a power loss may lose recent writes.

mod entry;
pub mod file;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::Relaxed;

use super::backend::Backend;
use super::meta::Entry;
use super::slabs::ntotal;
use super::{now, Stat, Store};
use crate::sys::Region;
use entry::FsEntry;
use file::Header;

/// Counter words: live items, then the bytes of each lock shard.
const ITEMS: usize = 0;
const BYTES: usize = 8;
const MAX_SHARDS: usize = 64;

/// The file keeping a pending delayed `flush_all` (its time mark) over a restart.
const FLUSH_MARK: &str = ".flush_all";

/// Items as files under a directory.
#[derive(Debug)]
pub struct FsBackend {
    dir: PathBuf,
    /// Bytes each lock shard may hold.
    share: u64,
    shards: u64,
    counters: Region,
}

/// Checks that `dir` is a directory this process can create and remove files in.
pub fn probe(dir: &Path) -> io::Result<()> {
    let md = fs::metadata(dir)?;
    if !md.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::NotADirectory,
            "not a directory",
        ));
    }
    let p = dir.join(format!(".probe.{}", std::process::id()));
    let ctx = |what: &str, e: io::Error| io::Error::new(e.kind(), format!("cannot {what}: {e}"));
    fs::File::create(&p).map_err(|e| ctx("create a file there", e))?;
    fs::remove_file(&p).map_err(|e| ctx("remove a file there", e))
}

impl FsBackend {
    /// Opens `dir` (which must exist and be writable): creates the subdirectories, removes
    /// temporary and expired files, counts the items and raises `st`'s CAS counter past
    /// theirs.
    pub fn open(dir: &Path, limit: u64, st: &Store) -> io::Result<Self> {
        probe(dir)?;
        let shards = st.geometry().shards.min(MAX_SHARDS) as u64;
        let be = Self {
            dir: dir.to_path_buf(),
            share: limit / shards,
            shards,
            counters: Region::new(BYTES + 8 * MAX_SHARDS, false)?,
        };
        let now = now();
        // A delayed flush_all pending at the last stop: restore it; when it fell due while
        // stopped, the files it flushes go below with the expired ones.
        let mark = be.read_mark();
        if mark != 0 {
            st.restore_flush_mark(mark);
        }
        let due = mark != 0 && mark <= u64::from(now);
        let mark = u32::try_from(mark).unwrap_or(u32::MAX);
        let (mut items, mut max_cas) = (0u64, 0u64);
        for d in 0..256u64 {
            let sub = be.dir.join(file::subdir(d << 40));
            match fs::create_dir(&sub) {
                Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(e),
                _ => {}
            }
            for de in fs::read_dir(&sub)? {
                let de = de?;
                let name = de.file_name();
                let name = name.to_string_lossy();
                let path = de.path();
                if name.starts_with(file::TMP_PREFIX) {
                    if file::abandoned(&name, &de.metadata()?) {
                        fs::remove_file(&path)?;
                    }
                    continue;
                }
                if !file::is_item(&name) {
                    continue;
                }
                match file::read_header(&path).ok().flatten() {
                    Some(h) if !(h.exptime != 0 && h.exptime <= now || due && h.time <= mark) => {
                        items += 1;
                        be.bytes(d << 40).fetch_add(de.metadata()?.len(), Relaxed);
                        max_cas = max_cas.max(h.cas);
                    }
                    _ => fs::remove_file(&path)?,
                }
            }
        }
        be.counters.u64(ITEMS).store(items, Relaxed);
        st.cas_at_least(max_cas);
        if due {
            fs::remove_file(be.dir.join(FLUSH_MARK))?;
        }
        Ok(be)
    }

    /// The time mark kept in [`FLUSH_MARK`] (0: none, or unreadable). A write torn by a
    /// crash leaves a prefix of the number: a mark decades in the past, which flushes
    /// nothing written since.
    fn read_mark(&self) -> u64 {
        fs::read_to_string(self.dir.join(FLUSH_MARK))
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0)
    }

    fn path(&self, h: u64, key: &[u8]) -> PathBuf {
        self.dir.join(file::subdir(h)).join(file::name(key))
    }

    /// The byte counter of hash `h`'s lock shard.
    fn bytes(&self, h: u64) -> &std::sync::atomic::AtomicU64 {
        self.counters
            .u64(BYTES + 8 * ((h >> 40) & (self.shards - 1)) as usize)
    }

    /// Accounts a file of hash `h` appearing.
    fn added(&self, h: u64, len: u64) {
        self.counters.u64(ITEMS).fetch_add(1, Relaxed);
        self.bytes(h).fetch_add(len, Relaxed);
    }

    /// Accounts a file of hash `h` going.
    fn removed(&self, h: u64, len: u64) {
        self.counters.u64(ITEMS).fetch_sub(1, Relaxed);
        self.bytes(h).fetch_sub(len, Relaxed);
    }

    /// Accounts a file of hash `h` replaced by one of another size.
    fn resized(&self, h: u64, old: u64, new: u64) {
        self.bytes(h).fetch_add(new, Relaxed);
        self.bytes(h).fetch_sub(old, Relaxed);
    }

    /// Makes room for `need` more bytes in hash `h`'s shard (`freed` will go with the
    /// replaced file) by evicting the shard's oldest files (the caller holds its lock), never
    /// `path` itself; false when there is no room.
    fn make_room(&self, st: &Store, h: u64, path: &Path, need: u64, freed: u64) -> bool {
        let fits = || self.bytes(h).load(Relaxed) + need <= self.share + freed;
        if fits() {
            return true;
        }
        if !st.evictions() {
            return false;
        }
        let shard = (h >> 40) & (self.shards - 1);
        let mut files: Vec<(std::time::SystemTime, u64, PathBuf)> = Vec::new();
        for d in (shard..256).step_by(self.shards as usize) {
            let Ok(rd) = fs::read_dir(self.dir.join(file::subdir(d << 40))) else {
                continue;
            };
            files.extend(
                rd.filter_map(Result::ok)
                    .filter(|de| file::is_item(&de.file_name().to_string_lossy()))
                    .filter(|de| de.path() != path)
                    .filter_map(|de| {
                        let md = de.metadata().ok()?;
                        Some((md.modified().ok()?, md.len(), de.path()))
                    }),
            );
        }
        files.sort();
        for (_, len, p) in files {
            if fits() {
                break;
            }
            if fs::remove_file(&p).is_ok() {
                self.removed(h, len);
                st.count(Stat::Evictions, 1);
            }
        }
        fits()
    }

    /// Every item file of subdirectory `d` with its header, under its lock.
    fn each(&self, st: &Store, d: u64, mut f: impl FnMut(&Path, &Header)) {
        let _lock = st.lock_hash(d << 40);
        let Ok(rd) = fs::read_dir(self.dir.join(file::subdir(d << 40))) else {
            return;
        };
        for de in rd.filter_map(Result::ok) {
            if !file::is_item(&de.file_name().to_string_lossy()) {
                continue;
            }
            if let Ok(Some(h)) = file::read_header(&de.path()) {
                f(&de.path(), &h);
            }
        }
    }
}

impl Backend for FsBackend {
    fn entry(&self, st: &Store, key: &[u8], now: u32, f: &mut dyn FnMut(&mut Entry<'_>)) {
        let h = super::hash(key);
        let _lock = st.lock_hash(h);
        let mut e = FsEntry::open(self, st, key, h, self.path(h, key), now);
        f(&mut e);
    }

    fn usage(&self) -> (u64, u64) {
        let bytes = (0..self.shards).map(|s| self.bytes(s << 40).load(Relaxed));
        (self.counters.u64(ITEMS).load(Relaxed), bytes.sum())
    }

    fn walk(&self, st: &Store, f: &mut dyn FnMut(usize, u64, u32)) {
        for d in 0..256 {
            self.each(st, d, |_, h| {
                f(
                    ntotal(h.klen as usize, h.vlen as usize, h.flags),
                    h.cas,
                    h.time,
                )
            });
        }
    }

    fn flush_marked(&self, st: &Store, now: u32) {
        // Under a lock, from the shared mark, so that of two concurrent flush_all the file
        // ends with the mark that the store ends with.
        let _lock = st.lock_hash(0);
        let mark = st.flush_mark();
        let path = self.dir.join(FLUSH_MARK);
        let result = if mark > u64::from(now) {
            fs::write(&path, format!("{mark}\n"))
        } else {
            match fs::remove_file(&path) {
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
                r => r,
            }
        };
        if let Err(e) = result {
            tracing::warn!(
                "cannot keep the delayed flush_all in {}: {e}",
                path.display()
            );
        }
    }

    fn flushed(&self, st: &Store, now: u32) {
        for d in 0..256 {
            self.each(st, d, |p, h| {
                if st.invalid(h.exptime, h.time, h.cas, now).is_some() && fs::remove_file(p).is_ok()
                {
                    self.removed(d << 40, h.file_len());
                }
            });
        }
    }
}

#[cfg(test)]
mod tests;
