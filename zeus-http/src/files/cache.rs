//! A per-thread cache of static files (nginx's `open_file_cache`): small files with their
//! content, larger ones as an open descriptor. A hit answers with no `openat2`, `statx` or
//! `close` (nor `read` for a small file): four of the six system calls of a small
//! keep-alive request, three of the six of a large one (left: `recv`, `send`, `sendfile`).
//!
//! Invariants:
//! - an entry is used for at most `open_file_cache_valid` seconds after it was read, so a
//!   changed file is served within that time (nginx's `open_file_cache_valid`);
//! - content is kept only for files served from memory anyway (below `sendfile_min_bytes`,
//!   at most `MAX_FILE`), at most `MAX_ENTRIES` entries, `MAX_BYTES` of content and
//!   `MAX_FDS` descriptors per thread: a worker's memory and descriptors stay bounded;
//! - a cached descriptor is read with `sendfile` at explicit offsets only (never its file
//!   position), so responses sharing it cannot disturb each other;
//! - entries are made only after the path passed every rule of `path` (root, dotfiles,
//!   blocked types, symlinks); a hit skips the rules but serves the very bytes that passed
//!   them, never a file reached another way. Requests with `Range` are not answered here.
//! - per thread, so no lock: the thread and hybrid MPMs have one cache per worker thread.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fs::File;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Resource;

/// Most entries per thread.
pub const MAX_ENTRIES: usize = 1024;
/// Most content bytes per thread.
pub const MAX_BYTES: usize = 8 << 20;
/// Largest file whose content is kept.
pub const MAX_FILE: u64 = 64 << 10;
/// Most open descriptors per thread.
pub const MAX_FDS: usize = 64;

/// What is kept of a file.
#[derive(Debug)]
pub enum Content {
    /// Its whole content (a small file).
    Bytes(Box<[u8]>),
    /// The open file (sent with `sendfile`).
    File(Arc<File>),
}

/// A cached file: what its responses need, and its content or descriptor.
#[derive(Debug)]
pub struct Cached {
    /// Validators, type, size.
    pub res: Resource,
    /// Content or descriptor.
    pub content: Content,
}

impl Cached {
    fn bytes(&self) -> usize {
        match &self.content {
            Content::Bytes(b) => b.len(),
            Content::File(_) => 0,
        }
    }

    fn fds(&self) -> usize {
        usize::from(matches!(self.content, Content::File(_)))
    }
}

type Entries = HashMap<String, (Instant, Rc<Cached>)>;

/// Entries of one thread: per `StaticFiles` instance (`owner`), by request path.
#[derive(Debug, Default)]
pub struct Cache {
    owners: HashMap<u64, Entries>,
    entries: usize,
    bytes: usize,
    fds: usize,
}

impl Cache {
    /// The entry for `path` if it was read less than `valid` ago.
    pub fn get(
        &mut self,
        owner: u64,
        path: &str,
        valid: Duration,
        now: Instant,
    ) -> Option<Rc<Cached>> {
        let map = self.owners.get_mut(&owner)?;
        match map.get(path) {
            Some((at, c)) if now.duration_since(*at) < valid => Some(c.clone()),
            Some(_) => {
                if let Some((_, old)) = map.remove(path) {
                    self.forget(&old);
                }
                None
            }
            None => None,
        }
    }

    /// Keeps `c` for `path` if the bounds allow (dropping expired entries to make room).
    pub fn put(&mut self, owner: u64, path: &str, c: Rc<Cached>, valid: Duration, now: Instant) {
        if c.bytes() as u64 > MAX_FILE {
            return;
        }
        if !self.room_for(&c) {
            self.expire(valid, now);
            if !self.room_for(&c) {
                return;
            }
        }
        self.entries += 1;
        self.bytes += c.bytes();
        self.fds += c.fds();
        let map = self.owners.entry(owner).or_default();
        if let Some((_, old)) = map.insert(path.to_string(), (now, c)) {
            self.forget(&old);
        }
    }

    fn room_for(&self, c: &Cached) -> bool {
        self.entries < MAX_ENTRIES
            && self.bytes + c.bytes() <= MAX_BYTES
            && self.fds + c.fds() <= MAX_FDS
    }

    fn forget(&mut self, old: &Cached) {
        self.entries -= 1;
        self.bytes -= old.bytes();
        self.fds -= old.fds();
    }

    fn expire(&mut self, valid: Duration, now: Instant) {
        let (mut entries, mut bytes, mut fds) = (0, 0, 0);
        for map in self.owners.values_mut() {
            map.retain(|_, (at, e)| {
                let keep = now.duration_since(*at) < valid;
                if keep {
                    entries += 1;
                    bytes += e.bytes();
                    fds += e.fds();
                }
                keep
            });
        }
        (self.entries, self.bytes, self.fds) = (entries, bytes, fds);
    }

    /// Entries, content bytes and descriptors held.
    pub fn usage(&self) -> (usize, usize, usize) {
        (self.entries, self.bytes, self.fds)
    }
}

thread_local! {
    static CACHE: RefCell<Cache> = RefCell::new(Cache::default());
}

/// Runs `f` on this thread's cache.
pub fn with<T>(f: impl FnOnce(&mut Cache) -> T) -> T {
    CACHE.with(|c| f(&mut c.borrow_mut()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(n: usize) -> Rc<Cached> {
        Rc::new(Cached {
            res: Resource {
                size: n as u64,
                mtime: std::time::UNIX_EPOCH,
                tag: String::new(),
                modified: String::new(),
                mime: String::new(),
            },
            content: Content::Bytes(vec![b'x'; n].into_boxed_slice()),
        })
    }

    fn fd() -> Rc<Cached> {
        let f = File::open("/dev/null").unwrap();
        Rc::new(Cached {
            res: file(0).res.clone(),
            content: Content::File(Arc::new(f)),
        })
    }

    #[test]
    fn entries_expire_and_are_per_owner() {
        let mut c = Cache::default();
        let t = Instant::now();
        let valid = Duration::from_secs(1);
        c.put(1, "/a", file(3), valid, t);
        assert!(c
            .get(1, "/a", valid, t + Duration::from_millis(999))
            .is_some());
        assert!(c.get(2, "/a", valid, t).is_none(), "another StaticFiles");
        assert!(c.get(1, "/a", valid, t + valid).is_none(), "expired");
        assert_eq!(c.usage(), (0, 0, 0), "the expired entry is gone");
    }

    #[test]
    fn bounds_hold() {
        let mut c = Cache::default();
        let t = Instant::now();
        let valid = Duration::from_secs(1);
        c.put(1, "/big", file(MAX_FILE as usize + 1), valid, t);
        assert_eq!(c.usage(), (0, 0, 0));
        for i in 0..MAX_BYTES / MAX_FILE as usize + 5 {
            c.put(1, &format!("/{i}"), file(MAX_FILE as usize), valid, t);
        }
        assert!(c.usage().1 <= MAX_BYTES);
        // Once the old entries expire, new ones find room again.
        let later = t + valid;
        c.put(1, "/new", file(10), valid, later);
        assert_eq!(c.usage(), (1, 10, 0));
        for i in 0..MAX_FDS + 5 {
            c.put(1, &format!("/f{i}"), fd(), valid, later);
        }
        assert_eq!(c.usage(), (MAX_FDS + 1, 10, MAX_FDS));
        c.put(1, "/f0", fd(), valid, later); // replacing keeps the count
        assert_eq!(c.usage().2, MAX_FDS);
        for i in 0..MAX_ENTRIES + 5 {
            c.put(1, &format!("/n{i}"), file(1), valid, later);
        }
        assert_eq!(c.usage().0, MAX_ENTRIES);
    }
}
