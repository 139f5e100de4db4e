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

mod conns;
mod layout;
pub mod meta;
mod shard;
pub mod slabs;
mod stats;

pub use conns::{Connections, Slot as ConnSlot};
pub use layout::{Geometry, TooSmall};
pub use meta::{Entry, ItemMeta, Marks};
pub use stats::Stat;

use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;

use layout::{hdr, item, MEMCACHED_ITEM_OVERHEAD};
use shard::Shard;
use slabs::ClassStat;

use crate::error::StoreError;
use crate::number::strtoull;
use crate::sys::Region;

/// Relative expiry times above this are absolute unix times (memcached's 30 days).
pub const REALTIME_MAXDELTA: i64 = 60 * 60 * 24 * 30;

/// What a store is built from.
#[derive(Debug, Clone, Copy)]
pub struct StoreConfig {
    /// Bytes of shared memory, all included.
    pub memory_limit: usize,
    /// Largest item (memcached's `-I`).
    pub item_size_max: usize,
    /// Evict when full; otherwise refuse writes with `SERVER_ERROR out of memory`.
    pub evictions: bool,
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
        let region = Region::new(geo.len).map_err(StoreError::Map)?;
        debug_assert!(region.len() <= cfg.memory_limit);
        for s in 0..geo.shards {
            region.mutex_init(geo.shard(s)).map_err(StoreError::Lock)?;
        }
        let st = Self {
            region,
            conns: Connections::new().map_err(StoreError::Map)?,
            geo,
            evictions: cfg.evictions,
            item_size_max: cfg.item_size_max,
        };
        st.hdr(hdr::VERSION).store(layout::VERSION, Relaxed);
        st.hdr(hdr::LEN).store(geo.len as u64, Relaxed);
        st.hdr(hdr::STARTED).store(u64::from(now()), Relaxed);
        st.hdr(hdr::MAGIC).store(layout::MAGIC, Relaxed);
        Ok(st)
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

    fn next_cas(&self) -> u64 {
        self.hdr(hdr::CAS).fetch_add(1, Relaxed) + 1
    }

    fn shard_of(&self, h: u64) -> usize {
        (h >> 40) as usize & (self.geo.shards - 1)
    }

    fn lock(&self, h: u64) -> Shard<'_> {
        Shard::lock(self, self.shard_of(h))
    }

    /// Appends `VALUE key flags bytes [cas]\r\n<data>\r\n` for a hit; `touch` sets a new
    /// exptime first (gat). Returns whether the key was found.
    pub fn get(
        &self,
        key: &[u8],
        now: u32,
        touch: Option<u32>,
        with_cas: bool,
        out: &mut Vec<u8>,
    ) -> bool {
        let h = hash(key);
        let sh = self.lock(h);
        let (hit, miss) = match touch {
            Some(_) => (Stat::TouchHits, Stat::TouchMisses),
            None => (Stat::GetHits, Stat::GetMisses),
        };
        self.count(
            if touch.is_some() {
                Stat::CmdTouch
            } else {
                Stat::CmdGet
            },
            1,
        );
        let it = match sh.lookup(key, h, now) {
            Ok(it) => it,
            Err(why) => {
                self.count(miss, 1);
                if let (Some(w), None) = (why, touch) {
                    self.count(w, 1);
                }
                return false;
            }
        };
        self.count(hit, 1);
        let cs = if touch.is_some() {
            ClassStat::TouchHits
        } else {
            ClassStat::GetHits
        };
        self.count_class(cs, sh.ntotal(it));
        if let Some(exp) = touch {
            sh.set32(it, item::EXPTIME, exp);
            sh.set32(it, item::TIME, now);
        }
        sh.bump(it, now);
        let vlen = sh.vlen(it);
        out.extend_from_slice(b"VALUE ");
        out.extend_from_slice(key);
        push_num(out, u64::from(sh.get32(it, item::FLAGS)));
        push_num(out, (vlen - 2) as u64);
        if with_cas {
            push_num(out, sh.get64(it, item::CAS));
        }
        out.extend_from_slice(b"\r\n");
        self.region.read_into(sh.data(it), vlen, out);
        true
    }

    /// A storage command; `data` includes the trailing "\r\n".
    pub fn store(
        &self,
        mode: Mode,
        key: &[u8],
        flags: u32,
        exptime: u32,
        data: &[u8],
        now: u32,
    ) -> Stored {
        self.count(Stat::CmdSet, 1);
        self.count_class(
            ClassStat::CmdSet,
            slabs::ntotal(key.len(), data.len(), flags),
        );
        let h = hash(key);
        let sh = self.lock(h);
        let existing = sh.lookup(key, h, now).ok();
        let mut flags = flags;
        let mut exptime = exptime;
        let mut joined = Vec::new();
        let data = match (mode, existing) {
            (Mode::Set, _) => data,
            (Mode::Add, Some(_)) => return Stored::NotStored,
            (Mode::Replace | Mode::Append | Mode::Prepend, None) => return Stored::NotStored,
            (Mode::Add | Mode::Replace, _) => data,
            (Mode::Cas(_), None) => {
                self.count(Stat::CasMisses, 1);
                return Stored::NotFound;
            }
            (Mode::Cas(c), Some(it)) => {
                if sh.get64(it, item::CAS) != c {
                    self.count(Stat::CasBadval, 1);
                    self.count_class(ClassStat::CasBadval, sh.ntotal(it));
                    return Stored::Exists;
                }
                self.count(Stat::CasHits, 1);
                self.count_class(ClassStat::CasHits, sh.ntotal(it));
                data
            }
            (Mode::Append | Mode::Prepend, Some(it)) => {
                flags = sh.get32(it, item::FLAGS);
                exptime = sh.get32(it, item::EXPTIME);
                let old = sh.vlen(it) - 2;
                if mode == Mode::Prepend {
                    joined.extend_from_slice(&data[..data.len() - 2]);
                }
                self.region.read_into(sh.data(it), old, &mut joined);
                if mode == Mode::Append {
                    joined.extend_from_slice(data);
                } else {
                    joined.extend_from_slice(b"\r\n");
                }
                if self.too_large(key.len(), flags, joined.len()) {
                    return Stored::OutOfMemory;
                }
                &joined
            }
        };
        match self.write(&sh, key, h, flags, exptime, data, now, 0) {
            true => Stored::Stored,
            false => {
                if mode == Mode::Set {
                    sh.remove(key, h, now);
                }
                Stored::OutOfMemory
            }
        }
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

    /// Deletes `key`; true if a valid item was removed.
    pub fn delete(&self, key: &[u8], now: u32) -> bool {
        let h = hash(key);
        let sh = self.lock(h);
        let found = sh.lookup(key, h, now).ok();
        if let Some(it) = found {
            self.count_class(ClassStat::DeleteHits, sh.ntotal(it));
        }
        let hit = found.is_some() && sh.remove(key, h, now);
        self.count(
            if hit {
                Stat::DeleteHits
            } else {
                Stat::DeleteMisses
            },
            1,
        );
        hit
    }

    /// Sets a new exptime; true if the key exists.
    pub fn touch(&self, key: &[u8], exptime: u32, now: u32) -> bool {
        let h = hash(key);
        let sh = self.lock(h);
        self.count(Stat::CmdTouch, 1);
        match sh.lookup(key, h, now) {
            Ok(it) => {
                sh.set32(it, item::EXPTIME, exptime);
                sh.set32(it, item::TIME, now);
                sh.bump(it, now);
                self.count(Stat::TouchHits, 1);
                self.count_class(ClassStat::TouchHits, sh.ntotal(it));
                true
            }
            Err(_) => {
                self.count(Stat::TouchMisses, 1);
                false
            }
        }
    }

    /// incr (wrapping at 2^64) or decr (flooring at 0), as memcached: a shorter result is
    /// written in place, padded with spaces.
    pub fn delta(&self, key: &[u8], incr: bool, by: u64, now: u32) -> Delta {
        let h = hash(key);
        let sh = self.lock(h);
        let (hit, miss) = if incr {
            (Stat::IncrHits, Stat::IncrMisses)
        } else {
            (Stat::DecrHits, Stat::DecrMisses)
        };
        let Ok(it) = sh.lookup(key, h, now) else {
            self.count(miss, 1);
            return Delta::NotFound;
        };
        let vlen = sh.vlen(it);
        let mut cur = Vec::with_capacity(vlen);
        self.region.read_into(sh.data(it), vlen, &mut cur);
        let Some(v) = strtoull(&cur) else {
            return Delta::NonNumeric;
        };
        self.count(hit, 1);
        let cs = if incr {
            ClassStat::IncrHits
        } else {
            ClassStat::DecrHits
        };
        self.count_class(cs, sh.ntotal(it));
        let v = if incr {
            v.wrapping_add(by)
        } else {
            v.saturating_sub(by)
        };
        let mut text = v.to_string().into_bytes();
        if text.len() + 2 <= vlen {
            text.resize(vlen - 2, b' ');
            self.region.write(sh.data(it), &text);
            sh.set64(it, item::CAS, self.next_cas());
            return Delta::Value(v);
        }
        text.extend_from_slice(b"\r\n");
        let (flags, exptime) = (sh.get32(it, item::FLAGS), sh.get32(it, item::EXPTIME));
        if self.write(&sh, key, h, flags, exptime, &text, now, 0) {
            Delta::Value(v)
        } else {
            Delta::OutOfMemory
        }
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
        }
    }
}

/// Appends " <n>".
fn push_num(out: &mut Vec<u8>, n: u64) {
    out.push(b' ');
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    let mut n = n;
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

#[cfg(test)]
mod tests;
