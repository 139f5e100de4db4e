//! A per-thread cache of small static files (nginx's `open_file_cache`, with the content):
//! a hit answers from memory with no `openat2`, `statx`, `read` or `close`, which are four
//! of the six system calls of a small keep-alive request.
//!
//! Invariants:
//! - an entry is used for at most `open_file_cache_valid` seconds after it was read, so a
//!   changed file is served within that time (nginx's `open_file_cache_valid`);
//! - only files served whole from memory anyway (below `sendfile_min_bytes`, and at most
//!   `MAX_FILE`) are kept, at most `MAX_ENTRIES` and `MAX_BYTES` per thread: a worker's
//!   memory stays bounded whatever the site;
//! - entries are made only after the path passed every rule of `path` (root, dotfiles,
//!   blocked types, symlinks); a hit skips the rules but serves the very bytes that passed
//!   them, never a file reached another way. Requests with `Range` are not answered here.
//! - per thread, so no lock: the thread and hybrid MPMs have one cache per worker thread.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

use super::Resource;

/// Most entries per thread.
pub const MAX_ENTRIES: usize = 1024;
/// Most content bytes per thread.
pub const MAX_BYTES: usize = 8 << 20;
/// Largest file kept.
pub const MAX_FILE: u64 = 64 << 10;

/// A cached file: what its responses need, and its bytes.
#[derive(Debug)]
pub struct Cached {
    /// Validators, type, size.
    pub res: Resource,
    /// The whole content.
    pub bytes: Box<[u8]>,
}

type Entries = HashMap<String, (Instant, Rc<Cached>)>;

/// Entries of one thread: per `StaticFiles` instance (`owner`), by request path.
#[derive(Debug, Default)]
pub struct Cache {
    owners: HashMap<u64, Entries>,
    entries: usize,
    bytes: usize,
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
                    self.entries -= 1;
                    self.bytes -= old.bytes.len();
                }
                None
            }
            None => None,
        }
    }

    /// Keeps `c` for `path` if the bounds allow (dropping expired entries to make room).
    pub fn put(&mut self, owner: u64, path: &str, c: Rc<Cached>, valid: Duration, now: Instant) {
        let len = c.bytes.len();
        if len as u64 > MAX_FILE {
            return;
        }
        if self.entries >= MAX_ENTRIES || self.bytes + len > MAX_BYTES {
            self.expire(valid, now);
            if self.entries >= MAX_ENTRIES || self.bytes + len > MAX_BYTES {
                return;
            }
        }
        let map = self.owners.entry(owner).or_default();
        if let Some((_, old)) = map.insert(path.to_string(), (now, c)) {
            self.entries -= 1;
            self.bytes -= old.bytes.len();
        }
        self.entries += 1;
        self.bytes += len;
    }

    fn expire(&mut self, valid: Duration, now: Instant) {
        let (mut entries, mut bytes) = (0, 0);
        for map in self.owners.values_mut() {
            map.retain(|_, (at, e)| {
                let keep = now.duration_since(*at) < valid;
                if keep {
                    entries += 1;
                    bytes += e.bytes.len();
                }
                keep
            });
        }
        (self.entries, self.bytes) = (entries, bytes);
    }

    /// Entries and content bytes held.
    pub fn usage(&self) -> (usize, usize) {
        (self.entries, self.bytes)
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
            bytes: vec![b'x'; n].into_boxed_slice(),
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
        assert_eq!(c.usage(), (0, 0), "the expired entry is gone");
    }

    #[test]
    fn bounds_hold() {
        let mut c = Cache::default();
        let t = Instant::now();
        let valid = Duration::from_secs(1);
        c.put(1, "/big", file(MAX_FILE as usize + 1), valid, t);
        assert_eq!(c.usage(), (0, 0));
        for i in 0..MAX_BYTES / MAX_FILE as usize + 5 {
            c.put(1, &format!("/{i}"), file(MAX_FILE as usize), valid, t);
        }
        assert!(c.usage().1 <= MAX_BYTES);
        // Once the old entries expire, new ones find room again.
        let later = t + valid;
        c.put(1, "/new", file(10), valid, later);
        assert_eq!(c.usage(), (1, 10));
        for i in 0..MAX_ENTRIES + 5 {
            c.put(1, &format!("/n{i}"), file(1), valid, later);
        }
        assert_eq!(c.usage().0, MAX_ENTRIES);
    }
}
