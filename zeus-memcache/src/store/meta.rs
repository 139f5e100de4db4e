//! One key under its shard lock, for the meta commands: they read an item's header, decide
//! flag by flag (in the order the client gave them) and write back, all as one step, so a
//! win token (`W`) goes to exactly one client.
//!
//! The closure given to [`Store::entry`] runs with the shard locked: it must not call back
//! into the store.

use super::layout::item;
use super::shard::Shard;
use super::slabs::ClassStat;
use super::{hash, Store};

pub use super::layout::item::{FETCHED, KEY_BINARY, STALE, TOKEN_SENT};

/// The meta marks an item carries (`FETCHED | STALE | TOKEN_SENT | KEY_BINARY`).
pub type Marks = u32;

/// A snapshot of an item's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ItemMeta {
    /// CAS unique.
    pub cas: u64,
    /// Absolute expiry, unix seconds (0 = never).
    pub exptime: u32,
    /// Last access, unix seconds.
    pub atime: u32,
    /// Client flags.
    pub flags: u32,
    /// Value length without the trailing "\r\n".
    pub len: usize,
    /// Meta marks.
    pub marks: Marks,
}

/// A key and its valid item, if any, with the shard locked.
pub struct Entry<'a> {
    st: &'a Store,
    sh: Shard<'a>,
    key: &'a [u8],
    h: u64,
    now: u32,
    it: Option<usize>,
}

impl std::fmt::Debug for Entry<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry")
            .field("shard", &self.sh.s)
            .field("item", &self.it)
            .finish()
    }
}

impl Store {
    /// Runs `f` on `key`'s entry with its shard locked (an expired or flushed item is
    /// unlinked first and counts as absent).
    pub fn entry<R>(&self, key: &[u8], now: u32, f: impl FnOnce(&mut Entry<'_>) -> R) -> R {
        let h = hash(key);
        let sh = self.lock(h);
        let it = sh.lookup(key, h, now).ok();
        let mut e = Entry {
            st: self,
            sh,
            key,
            h,
            now,
            it,
        };
        f(&mut e)
    }
}

impl<'a> Entry<'a> {
    /// The store (for counters and size checks; never lock from here).
    pub fn store(&self) -> &'a Store {
        self.st
    }

    /// The item's header, `None` when there is no valid item.
    pub fn meta(&self) -> Option<ItemMeta> {
        let it = self.it?;
        Some(ItemMeta {
            cas: self.sh.get64(it, item::CAS),
            exptime: self.sh.get32(it, item::EXPTIME),
            atime: self.sh.get32(it, item::ATIME),
            flags: self.sh.get32(it, item::FLAGS),
            len: self.sh.vlen(it) - 2,
            marks: self.sh.get32(it, item::BITS),
        })
    }

    /// Sets the expiry (no-op without an item).
    pub fn set_exptime(&self, exptime: u32) {
        if let Some(it) = self.it {
            self.sh.set32(it, item::EXPTIME, exptime);
        }
    }

    /// Replaces the meta marks (no-op without an item).
    pub fn set_marks(&self, marks: Marks) {
        if let Some(it) = self.it {
            self.sh.set32(it, item::BITS, marks);
        }
    }

    /// Counts a per-slab-class event for the item (no-op without one).
    pub fn count_class(&self, s: ClassStat) {
        if let Some(it) = self.it {
            self.st.count_class(s, self.sh.ntotal(it));
        }
    }

    /// Records a fetch: marks the item fetched, updates its access time.
    pub fn bump(&self) {
        if let Some(it) = self.it {
            self.sh.bump(it, self.now);
        }
    }

    /// Gives the item a fresh CAS unique and returns it (0 without an item).
    pub fn new_cas(&self) -> u64 {
        match self.it {
            Some(it) => {
                let cas = self.st.next_cas();
                self.sh.set64(it, item::CAS, cas);
                cas
            }
            None => 0,
        }
    }

    /// Appends the value with its "\r\n".
    pub fn value(&self, out: &mut Vec<u8>) {
        if let Some(it) = self.it {
            self.st
                .region
                .read_into(self.sh.data(it), self.sh.vlen(it), out);
        }
    }

    /// Overwrites the value with `data` of the same length (without "\r\n") and gives the item
    /// a fresh CAS; false when the lengths differ or there is no item.
    pub fn overwrite(&self, data: &[u8]) -> bool {
        match self.it {
            Some(it) if self.sh.vlen(it) == data.len() + 2 => {
                self.st.region.write(self.sh.data(it), data);
                self.new_cas();
                true
            }
            _ => false,
        }
    }

    /// Stores a new item for the key (replacing any), `data` with its "\r\n"; returns its CAS,
    /// `None` when out of memory (the old item, if any, is left alone).
    pub fn put(&mut self, flags: u32, exptime: u32, data: &[u8], marks: Marks) -> Option<u64> {
        let key = self.key;
        if !self
            .st
            .write(&self.sh, key, self.h, flags, exptime, data, self.now, marks)
        {
            return None;
        }
        self.it = self.sh.find_item(key, self.h);
        self.meta().map(|m| m.cas)
    }

    /// Unlinks the item, if any.
    pub fn remove(&mut self) {
        if self.it.take().is_some() {
            self.sh.remove(self.key, self.h, self.now);
        }
    }
}
