//! [`Item`] over one item file, with the key's lock held by the caller. Header changes
//! (expiry, marks, access time, CAS) are kept in memory and written back once, in place,
//! when the entry ends; a new value is written whole (temporary file, rename).

use std::cell::{Cell, RefCell};
use std::fs;
use std::path::PathBuf;

use super::file::{self, Header, HDR};
use super::FsBackend;
use crate::store::meta::{Item, ItemMeta, Marks, FETCHED};
use crate::store::slabs::{ntotal, ClassStat};
use crate::store::{Stat, Store};

/// A key, its file and its valid item, if any.
#[derive(Debug)]
pub struct FsEntry<'a> {
    be: &'a FsBackend,
    st: &'a Store,
    key: &'a [u8],
    h: u64,
    path: PathBuf,
    now: u32,
    /// Bytes of the file now at `path` (ours or a colliding key's), 0 if none.
    on_disk: Cell<u64>,
    hdr: Cell<Option<Header>>,
    value: RefCell<Vec<u8>>,
    dirty: Cell<bool>,
    why: Option<Stat>,
}

impl<'a> FsEntry<'a> {
    /// Reads `key`'s file; an expired or flushed item is removed (and counted as reclaimed).
    pub fn open(
        be: &'a FsBackend,
        st: &'a Store,
        key: &'a [u8],
        h: u64,
        path: PathBuf,
        now: u32,
    ) -> Self {
        let mut e = Self {
            be,
            st,
            key,
            h,
            path,
            now,
            on_disk: Cell::new(0),
            hdr: Cell::new(None),
            value: RefCell::new(Vec::new()),
            dirty: Cell::new(false),
            why: None,
        };
        let bytes = match file::read(&e.path) {
            Ok(Some(b)) => b,
            Ok(None) => return e,
            Err(err) => {
                tracing::warn!(path = %e.path.display(), error = %err, "cannot read a cache file");
                return e;
            }
        };
        e.on_disk.set(bytes.len() as u64);
        let Some(h) = Header::decode(&bytes) else {
            return e;
        };
        let (k0, v0) = (HDR, HDR + h.klen as usize);
        if bytes.len() as u64 != h.file_len() || &bytes[k0..v0] != key {
            return e;
        }
        if let Some(why) = st.invalid(h.exptime, h.time, h.cas, now) {
            if fs::remove_file(&e.path).is_ok() {
                be.removed(e.h, e.on_disk.replace(0));
            }
            st.count(Stat::Reclaimed, 1);
            e.why = Some(why);
            return e;
        }
        e.value.replace(bytes[v0..].to_vec());
        e.hdr.set(Some(h));
        e
    }

    /// Changes the header; it is written back when the entry ends, only if it changed (a
    /// second fetch within the same second writes nothing).
    fn update(&self, f: impl FnOnce(&mut Header)) {
        if let Some(old) = self.hdr.get() {
            let mut h = old;
            f(&mut h);
            if h != old {
                self.hdr.set(Some(h));
                self.dirty.set(true);
            }
        }
    }

    /// Writes `h` and `value` as the new file; false on an I/O error (logged).
    fn write(&self, h: Header, value: &[u8]) -> bool {
        match file::write(&self.path, &h, self.key, value) {
            Ok(()) => {
                let old = self.on_disk.replace(h.file_len());
                if old == 0 {
                    self.be.added(self.h, h.file_len());
                } else {
                    self.be.resized(self.h, old, h.file_len());
                }
                self.hdr.set(Some(h));
                self.value.replace(value.to_vec());
                self.dirty.set(false);
                true
            }
            Err(err) => {
                tracing::warn!(path = %self.path.display(), error = %err, "cannot write a cache file");
                false
            }
        }
    }
}

impl Drop for FsEntry<'_> {
    fn drop(&mut self) {
        if let (true, Some(h)) = (self.dirty.get(), self.hdr.get()) {
            if let Err(err) = file::write_header(&self.path, &h) {
                tracing::warn!(path = %self.path.display(), error = %err, "cannot update a cache file");
            }
        }
    }
}

impl<'a> Item<'a> for FsEntry<'a> {
    fn store(&self) -> &'a Store {
        self.st
    }

    fn meta(&self) -> Option<ItemMeta> {
        let h = self.hdr.get()?;
        Some(ItemMeta {
            cas: h.cas,
            exptime: h.exptime,
            atime: h.atime,
            flags: h.flags,
            len: h.vlen as usize - 2,
            marks: h.marks,
        })
    }

    fn miss_reason(&self) -> Option<Stat> {
        self.why
    }

    fn set_exptime(&self, exptime: u32) {
        self.update(|h| h.exptime = exptime);
    }

    fn touch(&self, exptime: u32) {
        let now = self.now;
        self.update(|h| {
            h.exptime = exptime;
            h.time = now;
            h.atime = now;
            h.marks |= FETCHED;
        });
    }

    fn set_marks(&self, marks: Marks) {
        self.update(|h| h.marks = marks);
    }

    fn count_class(&self, s: ClassStat) {
        if let Some(h) = self.hdr.get() {
            self.st
                .count_class(s, ntotal(self.key.len(), h.vlen as usize, h.flags));
        }
    }

    fn bump(&self) {
        let now = self.now;
        self.update(|h| {
            h.atime = now;
            h.marks |= FETCHED;
        });
    }

    fn new_cas(&self) -> u64 {
        if self.hdr.get().is_none() {
            return 0;
        }
        let cas = self.st.next_cas();
        self.update(|h| h.cas = cas);
        cas
    }

    fn value(&self, out: &mut Vec<u8>) {
        if self.hdr.get().is_some() {
            out.extend_from_slice(&self.value.borrow());
        }
    }

    fn overwrite(&self, data: &[u8]) -> bool {
        let Some(mut h) = self.hdr.get() else {
            return false;
        };
        if h.vlen as usize != data.len() + 2 {
            return false;
        }
        h.cas = self.st.next_cas();
        let mut v = data.to_vec();
        v.extend_from_slice(b"\r\n");
        self.write(h, &v)
    }

    fn put(&mut self, flags: u32, exptime: u32, data: &[u8], marks: Marks) -> Option<u64> {
        let h = Header {
            marks,
            flags,
            exptime,
            time: self.now,
            atime: self.now,
            cas: 0,
            klen: self.key.len() as u32,
            vlen: data.len() as u32,
        };
        if !self.be.make_room(
            self.st,
            self.h,
            &self.path,
            h.file_len(),
            self.on_disk.get(),
        ) {
            return None;
        }
        let h = Header {
            cas: self.st.next_cas(),
            ..h
        };
        if !self.write(h, data) {
            return None;
        }
        self.st.note_write(self.key.len(), data.len(), flags);
        Some(h.cas)
    }

    fn remove(&mut self) {
        if self.hdr.take().is_some() {
            self.dirty.set(false);
            if fs::remove_file(&self.path).is_ok() {
                self.be.removed(self.h, self.on_disk.replace(0));
            }
        }
    }
}
