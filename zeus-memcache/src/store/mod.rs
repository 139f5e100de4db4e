//! The item store: one shared-memory segment created before the workers exist, so every
//! worker process and thread sees the same cache.
//!
//! Contract:
//! - the segment never grows: its whole size, metadata included, is at most `memory_limit`;
//! - keys are spread over power-of-two shards by hash; each shard has its own robust
//!   process-shared mutex, hash chains and ring of segments, so no lock is global;
//! - a worker killed while holding a shard lock leaves that shard empty, never corrupt: the
//!   next locker sees `EOWNERDEAD`, wipes the shard and marks the lock consistent;
//! - CAS uniques come from one 64-bit counter and change on every write;
//! - times are unix seconds; expiry follows memcached (0 never, negative already expired,
//!   up to 30 days relative, beyond that an absolute unix time).
//!
//! Backends (`service_settings.backend`, see [`backend`]): `shm` is the segment above,
//! `memory` the same segment in a process-private mapping, `filesystem` keeps items as files
//! ([`fs`]) and uses the segment only for its header (counters, CAS, flush marks) and shard
//! locks. Every command reaches items through the per-key [`Item`] seam (`ops` for the
//! classic commands, `protocol::meta` for the meta ones), so their semantics exist once.

pub mod backend;
mod conns;
pub mod fs;
mod layout;
pub mod meta;
mod ops;
mod segment_entry;
mod shard;
pub mod slabs;
mod stats;

pub use backend::{Backend, BackendKind};
pub use conns::{Connections, Slot as ConnSlot};
pub use layout::{Geometry, TooSmall};
pub use meta::{Entry, Item, ItemMeta, Marks};
pub use stats::Stat;

use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;

use layout::{hdr, item, MEMCACHED_ITEM_OVERHEAD};
use segment_entry::SegmentEntry;
use shard::Shard;

use crate::error::StoreError;
use crate::sys::Region;

/// Relative expiry times above this are absolute unix times (memcached's 30 days).
pub const REALTIME_MAXDELTA: i64 = 60 * 60 * 24 * 30;

/// What a store is built from.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// Bytes of shared memory, all included.
    pub memory_limit: usize,
    /// Largest item (memcached's `-I`).
    pub item_size_max: usize,
    /// Evict when full; otherwise refuse writes with `SERVER_ERROR out of memory`.
    pub evictions: bool,
    /// Where the items live.
    pub backend: BackendKind,
}

/// How a storage command treats an existing item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Always store.
    Set,
    /// Only if absent.
    Add,
    /// Only if present.
    Replace,
    /// Add after the existing value.
    Append,
    /// Add before the existing value.
    Prepend,
    /// Only if the CAS unique still matches.
    Cas(u64),
}

/// Result of a storage command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    /// Written.
    Stored,
    /// Condition not met (add, replace, append, prepend).
    NotStored,
    /// cas: the item changed since it was read.
    Exists,
    /// cas: no such item.
    NotFound,
    /// No room and evictions are off (or the result would exceed `item_size_max`).
    OutOfMemory,
}

/// Result of incr/decr.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delta {
    /// The new value.
    Value(u64),
    /// No such item.
    NotFound,
    /// The value is not a decimal number.
    NonNumeric,
    /// No room for the longer number.
    OutOfMemory,
}

/// The shared item store.
#[derive(Debug)]
pub struct Store {
    region: Region,
    conns: Connections,
    geo: Geometry,
    evictions: bool,
    item_size_max: usize,
    /// Items kept outside the segment (`None`: in the segment itself).
    ext: Option<Box<dyn Backend>>,
}

/// Current unix time in seconds.
pub fn now() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as u32)
        .unwrap_or(0)
}

/// The key hash: picks the shard (high bits) and the bucket (low bits).
pub fn hash(key: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ key.len() as u64;
    for chunk in key.chunks(8) {
        let mut w = [0u8; 8];
        w[..chunk.len()].copy_from_slice(chunk);
        h = (h ^ u64::from_le_bytes(w)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        h ^= h >> 29;
    }
    h ^= h >> 32;
    h.wrapping_mul(0xbf58_476d_1ce4_e5b9)
}

impl Store {
    /// Maps and initialises a store; call before forking the workers.
    pub fn new(cfg: &StoreConfig) -> Result<Self, StoreError> {
        let geo = Geometry::new(cfg.memory_limit, cfg.item_size_max)
            .map_err(|t| StoreError::TooSmall { min: t.min })?;
        let private = matches!(cfg.backend, BackendKind::Memory);
        let region = Region::new(geo.len, private).map_err(StoreError::Map)?;
        debug_assert!(region.len() <= cfg.memory_limit);
        for s in 0..geo.shards {
            region.mutex_init(geo.shard(s)).map_err(StoreError::Lock)?;
        }
        let mut st = Self {
            region,
            conns: Connections::new().map_err(StoreError::Map)?,
            geo,
            evictions: cfg.evictions,
            item_size_max: cfg.item_size_max,
            ext: None,
        };
        st.hdr(hdr::VERSION).store(layout::VERSION, Relaxed);
        st.hdr(hdr::LEN).store(geo.len as u64, Relaxed);
        st.hdr(hdr::STARTED).store(u64::from(now()), Relaxed);
        st.hdr(hdr::MAGIC).store(layout::MAGIC, Relaxed);
        if let BackendKind::Filesystem(dir) = &cfg.backend {
            let fs = fs::FsBackend::open(dir, cfg.memory_limit as u64, &st)
                .map_err(|e| StoreError::Directory(dir.clone(), e))?;
            st.ext = Some(Box::new(fs));
        }
        Ok(st)
    }

    /// Runs `f` on `key`'s entry with its lock held (an expired or flushed item is removed
    /// first and counts as absent).
    pub fn entry<R>(&self, key: &[u8], now: u32, f: impl FnOnce(&mut Entry<'_>) -> R) -> R {
        match &self.ext {
            None => f(&mut SegmentEntry::new(self, key, now)),
            Some(b) => {
                let mut f = Some(f);
                let mut r = None;
                b.entry(self, key, now, &mut |e| {
                    if let Some(f) = f.take() {
                        r = Some(f(e));
                    }
                });
                r.expect("invariant: a backend runs the entry closure once")
            }
        }
    }

    /// Why an item with these header fields may not be served: `None` when it is valid
    /// (expired, or older than a `flush_all` that has taken effect).
    pub fn invalid(&self, exptime: u32, time: u32, cas: u64, now: u32) -> Option<Stat> {
        if exptime != 0 && exptime <= now {
            return Some(Stat::GetExpired);
        }
        let live = self.hdr(hdr::OLDEST_LIVE).load(Relaxed);
        if live != 0 && live <= u64::from(now) {
            let oldest_cas = self.hdr(hdr::OLDEST_CAS).load(Relaxed);
            if u64::from(time) <= live || (oldest_cas != 0 && cas < oldest_cas) {
                return Some(Stat::GetFlushed);
            }
        }
        None
    }

    /// Notes a newly written item of this size (class marked used, `total_items`).
    pub fn note_write(&self, klen: usize, vlen: usize, flags: u32) {
        self.mark_class(slabs::class_of(slabs::ntotal(klen, vlen, flags)));
        self.count(Stat::TotalItems, 1);
    }

    /// The evictions setting.
    pub fn evictions(&self) -> bool {
        self.evictions
    }

    /// Raises the CAS counter to at least `cas` (items found on disk at start).
    pub fn cas_at_least(&self, cas: u64) {
        self.hdr(hdr::CAS).fetch_max(cas, Relaxed);
    }

    /// Locks the shard of hash `h` (backends outside the segment use these locks too).
    pub fn lock_hash(&self, h: u64) -> impl Sized + '_ {
        self.lock(h)
    }

    fn hdr(&self, off: usize) -> &AtomicU64 {
        self.region.u64(off)
    }

    /// The store's layout.
    pub fn geometry(&self) -> &Geometry {
        &self.geo
    }

    /// Adds to a counter; returns its previous value.
    pub fn count(&self, s: Stat, n: u64) -> u64 {
        self.hdr(s.offset()).fetch_add(n, Relaxed)
    }

    /// A counter's value (`CurrConnections`: the open connections of live workers).
    pub fn stat(&self, s: Stat) -> u64 {
        match s {
            Stat::CurrConnections => self.conns.total(None),
            _ => self.hdr(s.offset()).load(Relaxed),
        }
    }

    /// The open-connection table (each worker thread claims a slot in it).
    pub fn connections(&self) -> &Connections {
        &self.conns
    }

    /// Sets every counter but the connection gauges back to zero (`stats reset`).
    pub fn reset_stats(&self) {
        for s in Stat::ALL {
            if s != Stat::CurrConnections {
                self.hdr(s.offset()).store(0, Relaxed);
            }
        }
    }

    /// Unix time the store was created.
    pub fn started(&self) -> u32 {
        self.hdr(hdr::STARTED).load(Relaxed) as u32
    }

    /// Live items and their bytes, over all shards.
    pub fn usage(&self) -> (u64, u64) {
        if let Some(b) = &self.ext {
            return b.usage();
        }
        (0..self.geo.shards).fold((0, 0), |(n, b), s| {
            let off = self.geo.shard(s);
            (
                n + self.region.u64(off + layout::shard::ITEMS).load(Relaxed),
                b + self
                    .region
                    .u64(off + layout::shard::BYTES_USED)
                    .load(Relaxed),
            )
        })
    }

    /// Whether memcached would call this item too large (`vlen` includes "\r\n"); memcached
    /// stores non-zero flags in 4 extra bytes, which counts towards its limit.
    pub fn too_large(&self, klen: usize, flags: u32, vlen: usize) -> bool {
        let suffix = if flags == 0 { 0 } else { 4 };
        MEMCACHED_ITEM_OVERHEAD + suffix + klen + vlen > self.item_size_max
    }

    /// memcached's `realtime()`: a protocol exptime as an absolute unix time (0 = never).
    pub fn expiry(&self, exptime: i32, now: u32) -> u32 {
        let e = i64::from(exptime);
        if e == 0 {
            0
        } else if e < 0 {
            1
        } else if e > REALTIME_MAXDELTA {
            if e <= i64::from(self.started()) {
                1
            } else {
                e as u32
            }
        } else {
            now.saturating_add(e as u32)
        }
    }

    /// A fresh CAS unique.
    pub fn next_cas(&self) -> u64 {
        self.hdr(hdr::CAS).fetch_add(1, Relaxed) + 1
    }

    fn shard_of(&self, h: u64) -> usize {
        (h >> 40) as usize & (self.geo.shards - 1)
    }

    fn lock(&self, h: u64) -> Shard<'_> {
        Shard::lock(self, self.shard_of(h))
    }

    /// Allocates, fills and links an item with meta `bits` (under `sh`'s lock); false when
    /// out of memory.
    #[allow(clippy::too_many_arguments)]
    fn write(
        &self,
        sh: &Shard<'_>,
        key: &[u8],
        h: u64,
        flags: u32,
        exptime: u32,
        data: &[u8],
        now: u32,
        bits: u32,
    ) -> bool {
        let Some(it) = sh.alloc(key.len(), data.len()) else {
            return false;
        };
        self.mark_class(slabs::class_of(slabs::ntotal(key.len(), data.len(), flags)));
        sh.set64(it, item::CAS, self.next_cas());
        sh.set32(it, item::EXPTIME, exptime);
        sh.set32(it, item::TIME, now);
        sh.set32(it, item::ATIME, now);
        sh.set32(it, item::BITS, bits);
        sh.set32(it, item::FLAGS, flags);
        sh.set32(it, item::VLEN, data.len() as u32);
        sh.set32(it, item::KLEN, key.len() as u32);
        sh.set32(it, item::STATE, item::DEAD);
        self.region.write(it + item::HDR, key);
        self.region.write(it + item::HDR + key.len(), data);
        sh.link(key, h, it);
        self.count(Stat::TotalItems, 1);
        true
    }

    /// flush_all: invalidates every item now, or at `exptime` (memcached's rules).
    pub fn flush(&self, exptime: i32, now: u32) {
        self.count(Stat::CmdFlush, 1);
        let at = if exptime > 0 {
            self.expiry(exptime, now)
        } else {
            now
        };
        let live = u64::from(at.saturating_sub(1));
        self.hdr(hdr::OLDEST_LIVE).store(live, Relaxed);
        if live <= u64::from(now) {
            self.hdr(hdr::OLDEST_CAS).store(self.next_cas(), Relaxed);
            if let Some(b) = &self.ext {
                b.flushed(self, now);
            }
        }
        if let Some(b) = &self.ext {
            b.flush_marked(self, now);
        }
    }

    /// The `flush_all` time mark: items written at or before this second are flushed once
    /// it has passed (0: none).
    pub fn flush_mark(&self) -> u64 {
        self.hdr(hdr::OLDEST_LIVE).load(Relaxed)
    }

    /// Restores a time mark kept by a backend over a restart (a delayed `flush_all`).
    pub fn restore_flush_mark(&self, live: u64) {
        self.hdr(hdr::OLDEST_LIVE).store(live, Relaxed);
    }
}

/// Appends " <n>".
fn push_num(out: &mut Vec<u8>, n: u64) {
    out.push(b' ');
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

#[cfg(test)]
mod conformance;
#[cfg(test)]
mod tests;
