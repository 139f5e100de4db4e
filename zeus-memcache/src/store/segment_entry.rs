//! [`Item`] over the segment store (the `shm` and `memory` backends): a key with its shard
//! locked and the offset of its valid item.

use super::layout::item;
use super::meta::{Item, ItemMeta, Marks};
use super::shard::Shard;
use super::slabs::ClassStat;
use super::{hash, Stat, Store};

/// A key and its valid item, if any, with the shard locked.
pub struct SegmentEntry<'a> {
    st: &'a Store,
    sh: Shard<'a>,
    key: &'a [u8],
    h: u64,
    now: u32,
    it: Option<usize>,
    why: Option<Stat>,
}

impl std::fmt::Debug for SegmentEntry<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry")
            .field("shard", &self.sh.s)
            .field("item", &self.it)
            .finish()
    }
}

impl<'a> SegmentEntry<'a> {
    /// Locks `key`'s shard and looks the key up (an expired or flushed item is unlinked).
    pub fn new(st: &'a Store, key: &'a [u8], now: u32) -> Self {
        let h = hash(key);
        let sh = st.lock(h);
        let (it, why) = match sh.lookup(key, h, now) {
            Ok(it) => (Some(it), None),
            Err(why) => (None, why),
        };
        Self {
            st,
            sh,
            key,
            h,
            now,
            it,
            why,
        }
    }
}

impl<'a> Item<'a> for SegmentEntry<'a> {
    fn store(&self) -> &'a Store {
        self.st
    }

    fn meta(&self) -> Option<ItemMeta> {
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

    fn miss_reason(&self) -> Option<Stat> {
        self.why
    }

    fn set_exptime(&self, exptime: u32) {
        if let Some(it) = self.it {
            self.sh.set32(it, item::EXPTIME, exptime);
        }
    }

    fn touch(&self, exptime: u32) {
        if let Some(it) = self.it {
            self.sh.set32(it, item::EXPTIME, exptime);
            self.sh.set32(it, item::TIME, self.now);
            self.sh.bump(it, self.now);
        }
    }

    fn set_marks(&self, marks: Marks) {
        if let Some(it) = self.it {
            self.sh.set32(it, item::BITS, marks);
        }
    }

    fn count_class(&self, s: ClassStat) {
        if let Some(it) = self.it {
            self.st.count_class(s, self.sh.ntotal(it));
        }
    }

    fn bump(&self) {
        if let Some(it) = self.it {
            self.sh.bump(it, self.now);
        }
    }

    fn new_cas(&self) -> u64 {
        match self.it {
            Some(it) => {
                let cas = self.st.next_cas();
                self.sh.set64(it, item::CAS, cas);
                cas
            }
            None => 0,
        }
    }

    fn value(&self, out: &mut Vec<u8>) {
        if let Some(it) = self.it {
            self.st
                .region
                .read_into(self.sh.data(it), self.sh.vlen(it), out);
        }
    }

    fn overwrite(&self, data: &[u8]) -> bool {
        match self.it {
            Some(it) if self.sh.vlen(it) == data.len() + 2 => {
                self.st.region.write(self.sh.data(it), data);
                self.new_cas();
                true
            }
            _ => false,
        }
    }

    fn put(&mut self, flags: u32, exptime: u32, data: &[u8], marks: Marks) -> Option<u64> {
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

    fn remove(&mut self) {
        if self.it.take().is_some() {
            self.sh.remove(self.key, self.h, self.now);
        }
    }
}
