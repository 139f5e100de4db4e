//! Where everything sits in the shared segment. The segment holds no pointers, only offsets
//! from its start, so it means the same in every process that maps it.
//!
//! ```text
//! 0             header (magic, version, geometry, CAS counter, flush marks, statistics,
//!               per-slab-class counters)
//! shards_off    per shard: robust mutex (64 B) + write segment, item and byte counts (64 B)
//! ends_off      per shard per segment: bytes written into that segment (u64)
//! buckets_off   per shard: hash bucket heads (u64 offset of the first item, 0 = empty)
//! segs_off      per shard: `segs` log segments of `seg_size` bytes, filled front to back
//! ```
//!
//! An item in a segment, 8-byte aligned:
//!
//! ```text
//! +0 next u64 | +8 cas u64 | +16 exptime u32 | +20 time u32 | +24 flags u32 | +28 vlen u32
//! +32 klen u32 | +36 state u32 | +40 atime u32 | +44 bits u32 | +48 key bytes
//! | value bytes incl. "\r\n" | pad to 8
//! ```
//!
//! `atime` and `bits` serve the meta commands: last access time (`mg l`, `me la=`) and the
//! per-item marks memcached keeps in its `it_flags` (fetched, stale, win token sent, key
//! given in base64). They are written before the item is linked, like every other field.

/// `b"ZEUSMEMC"` as a little-endian word.
pub const MAGIC: u64 = u64::from_le_bytes(*b"ZEUSMEMC");
/// Layout version; bumped on any change below.
pub const VERSION: u64 = 2;

/// Header words (each a u64 at `8 * index`).
pub mod hdr {
    /// Magic.
    pub const MAGIC: usize = 0;
    /// Layout version.
    pub const VERSION: usize = 8;
    /// Mapping length in bytes.
    pub const LEN: usize = 16;
    /// Last CAS unique handed out.
    pub const CAS: usize = 24;
    /// `flush_all` time mark (unix seconds, 0 = none).
    pub const OLDEST_LIVE: usize = 32;
    /// `flush_all` CAS mark (items with a lower CAS are flushed).
    pub const OLDEST_CAS: usize = 40;
    /// Unix time the store was created.
    pub const STARTED: usize = 48;
    /// First statistics counter.
    pub const STATS: usize = 64;
    /// Per-slab-class counters (`stats slabs`): 40 classes of 8 counters.
    pub const CLASS_STATS: usize = 512;
    /// Bit mask of the slab classes that ever held an item.
    pub const CLASS_USED: usize = 3072;
    /// `stats sizes`: count items whose CAS is at least this (0 = disabled).
    pub const SIZES_FROM: usize = 3080;
}

/// Bytes of the header area (statistics included).
pub const HEADER_BYTES: usize = 4096;

// The header areas do not overlap: 40 slab classes of 8 counters fit before the class mask.
const _: () = assert!(hdr::CLASS_STATS + 40 * 8 * 8 <= hdr::CLASS_USED);
const _: () = assert!(hdr::SIZES_FROM + 8 <= HEADER_BYTES);

/// Per-shard words, after the mutex.
pub mod shard {
    /// Bytes per shard record.
    pub const BYTES: usize = 128;
    /// Segment currently written.
    pub const WRITE_SEG: usize = 64;
    /// Live items.
    pub const ITEMS: usize = 72;
    /// Live item bytes.
    pub const BYTES_USED: usize = 80;
}

/// Item field offsets.
pub mod item {
    /// Next item in the bucket chain (0 = end).
    pub const NEXT: usize = 0;
    /// CAS unique.
    pub const CAS: usize = 8;
    /// Expiry, unix seconds (0 = never).
    pub const EXPTIME: usize = 16;
    /// Last store or touch, unix seconds.
    pub const TIME: usize = 20;
    /// Client flags.
    pub const FLAGS: usize = 24;
    /// Value length including the trailing "\r\n".
    pub const VLEN: usize = 28;
    /// Key length.
    pub const KLEN: usize = 32;
    /// LIVE or DEAD.
    pub const STATE: usize = 36;
    /// Last access (store, fetch, touch), unix seconds.
    pub const ATIME: usize = 40;
    /// `bits`: FETCHED, STALE, TOKEN_SENT, KEY_BINARY.
    pub const BITS: usize = 44;
    /// Header size; the key follows.
    pub const HDR: usize = 48;
    /// Fetched at least once since stored (`mg h`, `me fetch=`).
    pub const FETCHED: u32 = 1;
    /// Marked stale by `md I` or `ms I` (`mg` answers `X`).
    pub const STALE: u32 = 2;
    /// A client was handed the win token (`W`); others see `Z`.
    pub const TOKEN_SENT: u32 = 4;
    /// The key was given in base64 (`b`): meta replies show it encoded.
    pub const KEY_BINARY: u32 = 8;
    /// Linked in the table.
    pub const LIVE: u32 = 1;
    /// Unlinked: skipped by eviction and compaction.
    pub const DEAD: u32 = 2;
}

/// memcached's per-item overhead in its own size check (item header + CAS + key NUL), so that
/// `object too large for cache` triggers at the same value size as memcached's.
pub const MEMCACHED_ITEM_OVERHEAD: usize = 48 + 8 + 1;

/// Bytes an item takes in a segment.
pub fn item_bytes(klen: usize, vlen: usize) -> usize {
    (item::HDR + klen + vlen + 7) & !7
}

/// Sizes and offsets of one store, computed once from the settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    /// Total mapping length (never above `memory_limit`).
    pub len: usize,
    /// Number of shards (power of two).
    pub shards: usize,
    /// Buckets per shard (power of two).
    pub buckets: usize,
    /// Segments per shard.
    pub segs: usize,
    /// Bytes per segment.
    pub seg_size: usize,
    /// Offset of the shard records.
    pub shards_off: usize,
    /// Offset of the segment end table.
    pub ends_off: usize,
    /// Offset of the buckets.
    pub buckets_off: usize,
    /// Offset of the segments.
    pub segs_off: usize,
}

/// Why a geometry cannot be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TooSmall {
    /// Smallest acceptable memory limit.
    pub min: usize,
}

impl Geometry {
    /// Lays out `memory_limit` bytes for items up to `item_size_max`.
    pub fn new(memory_limit: usize, item_size_max: usize) -> Result<Self, TooSmall> {
        let seg_size = item_size_max.max(1 << 20).next_multiple_of(4096);
        let min = 4 * seg_size + (1 << 20);
        if memory_limit < min {
            return Err(TooSmall { min });
        }
        let mut shards = (memory_limit / (8 * seg_size)).clamp(1, 64);
        shards = 1 << (usize::BITS - 1 - shards.leading_zeros());
        let buckets = (memory_limit / 256 / shards).next_power_of_two().max(1024);
        let shards_off = HEADER_BYTES;
        let ends_off = shards_off + shards * shard::BYTES;
        let max_segs = memory_limit / seg_size / shards;
        let buckets_off = ends_off + shards * max_segs * 8;
        let segs_off = (buckets_off + shards * buckets * 8).next_multiple_of(4096);
        let segs = memory_limit.saturating_sub(segs_off) / (shards * seg_size);
        if segs < 2 {
            return Err(TooSmall { min });
        }
        Ok(Self {
            len: segs_off + shards * segs * seg_size,
            shards,
            buckets,
            segs,
            seg_size,
            shards_off,
            ends_off,
            buckets_off,
            segs_off,
        })
    }

    /// Offset of shard `s`'s record (its mutex comes first).
    pub fn shard(&self, s: usize) -> usize {
        self.shards_off + s * shard::BYTES
    }

    /// Offset of the end-of-data word of segment `g` in shard `s`.
    pub fn seg_end(&self, s: usize, g: usize) -> usize {
        self.ends_off + (s * self.segs + g) * 8
    }

    /// Offset of bucket `b` of shard `s`.
    pub fn bucket(&self, s: usize, b: usize) -> usize {
        self.buckets_off + (s * self.buckets + b) * 8
    }

    /// Offset of segment `g` of shard `s`.
    pub fn seg(&self, s: usize, g: usize) -> usize {
        self.segs_off + (s * self.segs + g) * self.seg_size
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_geometry_fits_the_limit() {
        let g = Geometry::new(64 << 20, 1 << 20).unwrap();
        assert!(g.len <= 64 << 20);
        assert_eq!(g.shards, 8);
        assert!(g.segs >= 6, "{g:?}");
        assert!(g.buckets_off >= g.ends_off + g.shards * g.segs * 8);
    }

    #[test]
    fn too_small_is_refused() {
        assert!(Geometry::new(2 << 20, 1 << 20).is_err());
        assert!(Geometry::new(5 << 20, 1 << 20).is_ok());
    }

    #[test]
    fn big_items_get_big_segments() {
        let g = Geometry::new(256 << 20, 8 << 20).unwrap();
        assert_eq!(g.seg_size, 8 << 20);
        assert!(g.len <= 256 << 20);
    }
}
