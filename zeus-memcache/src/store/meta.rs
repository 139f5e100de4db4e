//! One key under its lock: the [`Item`] trait every backend implements (the seam between
//! the protocol and where items live). Command semantics — CAS checks, append/prepend,
//! incr/decr, expiry, meta marks and win tokens — are written once over this trait (in
//! `protocol/` and `store::ops`), never per backend.
//!
//! The meta commands read an item's header, decide flag by flag (in the order the client gave
//! them) and write back, all as one step, so a win token (`W`) goes to exactly one client.
//! The closure given to [`Store::entry`](super::Store::entry) runs with the key's lock held:
//! it must not call back into the store's item operations.

use super::slabs::ClassStat;
use super::{Stat, Store};

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

/// A key and its valid item, if any, with the key's lock held (an expired or flushed item
/// was removed on the way and counts as absent).
pub trait Item<'a>: std::fmt::Debug {
    /// The store (for counters and size checks; never lock from here).
    fn store(&self) -> &'a Store;

    /// The item's header, `None` when there is no valid item.
    fn meta(&self) -> Option<ItemMeta>;

    /// Why the key had no valid item: expired or flushed (`None` if absent or present).
    fn miss_reason(&self) -> Option<Stat>;

    /// Sets the expiry (no-op without an item).
    fn set_exptime(&self, exptime: u32);

    /// `touch`/`gat`: sets the expiry and the last-store time, then records an access.
    fn touch(&self, exptime: u32);

    /// Replaces the meta marks (no-op without an item).
    fn set_marks(&self, marks: Marks);

    /// Counts a per-slab-class event for the item (no-op without one).
    fn count_class(&self, s: ClassStat);

    /// Records a fetch: marks the item fetched, updates its access time.
    fn bump(&self);

    /// Gives the item a fresh CAS unique and returns it (0 without an item).
    fn new_cas(&self) -> u64;

    /// Appends the value with its "\r\n".
    fn value(&self, out: &mut Vec<u8>);

    /// Overwrites the value with `data` of the same length (without "\r\n") and gives the item
    /// a fresh CAS; false when the lengths differ or there is no item.
    fn overwrite(&self, data: &[u8]) -> bool;

    /// Stores a new item for the key (replacing any), `data` with its "\r\n"; returns its CAS,
    /// `None` when out of memory (the old item, if any, is left alone).
    fn put(&mut self, flags: u32, exptime: u32, data: &[u8], marks: Marks) -> Option<u64>;

    /// Removes the item, if any.
    fn remove(&mut self);
}

/// The entry handed to [`Store::entry`](super::Store::entry)'s closure.
pub type Entry<'a> = dyn Item<'a> + 'a;
