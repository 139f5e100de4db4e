//! One item file: a fixed 48-byte header, the key, then the value with its "\r\n".
//!
//! ```text
//! +0 magic "ZMF1" | +4 marks u32 | +8 flags u32 | +12 exptime u32 | +16 time u32
//! | +20 atime u32 | +24 cas u64 | +32 klen u32 | +36 vlen u32 | +40 reserved u64
//! | key bytes | value bytes incl. "\r\n"
//! ```
//!
//! Little-endian. A new value is written to a temporary file in the same directory and
//! renamed over the item (so a reader sees the old or the new file, never a torn one); header
//! fields (expiry, marks, access time, CAS) are updated in place under the key's lock.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::store::hash;

/// Header bytes.
pub const HDR: usize = 48;
const MAGIC: [u8; 4] = *b"ZMF1";
/// Prefix of temporary files (removed at start: a writer died before its rename).
pub const TMP_PREFIX: &str = ".tmp.";
/// Keys up to this length are named by their hex; longer ones by a hash.
const HEX_KEY_MAX: usize = 100;

/// An item file's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Header {
    /// Meta marks.
    pub marks: u32,
    /// Client flags.
    pub flags: u32,
    /// Absolute expiry (0 = never).
    pub exptime: u32,
    /// Last store or touch.
    pub time: u32,
    /// Last access.
    pub atime: u32,
    /// CAS unique.
    pub cas: u64,
    /// Key length.
    pub klen: u32,
    /// Value length with "\r\n".
    pub vlen: u32,
}

impl Header {
    /// The encoded header.
    pub fn encode(&self) -> [u8; HDR] {
        let mut b = [0u8; HDR];
        b[0..4].copy_from_slice(&MAGIC);
        for (off, v) in [
            (4, self.marks),
            (8, self.flags),
            (12, self.exptime),
            (16, self.time),
            (20, self.atime),
            (32, self.klen),
            (36, self.vlen),
        ] {
            b[off..off + 4].copy_from_slice(&v.to_le_bytes());
        }
        b[24..32].copy_from_slice(&self.cas.to_le_bytes());
        b
    }

    /// Decodes a header; `None` if it is not one of ours.
    pub fn decode(b: &[u8]) -> Option<Self> {
        if b.len() < HDR || b[0..4] != MAGIC {
            return None;
        }
        let w = |o: usize| u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
        let mut cas = [0u8; 8];
        cas.copy_from_slice(&b[24..32]);
        let h = Self {
            marks: w(4),
            flags: w(8),
            exptime: w(12),
            time: w(16),
            atime: w(20),
            cas: u64::from_le_bytes(cas),
            klen: w(32),
            vlen: w(36),
        };
        (h.vlen >= 2).then_some(h)
    }

    /// Bytes of the whole file.
    pub fn file_len(&self) -> u64 {
        HDR as u64 + u64::from(self.klen) + u64::from(self.vlen)
    }
}

/// The subdirectory of a key hash: 256 of them, picked by the same hash bits as the lock
/// shard, so every file in one subdirectory is guarded by one lock.
pub fn subdir(h: u64) -> String {
    format!("{:02x}", (h >> 40) & 0xff)
}

/// The file name of `key`: `k` + hex of the key, or `h` + a 128-bit hash for long keys
/// (the key is kept in the file and checked on read, so a collision is only a miss).
pub fn name(key: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(2 * key.len().min(HEX_KEY_MAX) + 1);
    if key.len() <= HEX_KEY_MAX {
        s.push('k');
        for b in key {
            let _ = write!(s, "{b:02x}");
        }
    } else {
        let mut salted = key.to_vec();
        salted.push(1);
        let _ = write!(s, "h{:016x}{:016x}", hash(key), hash(&salted));
    }
    s
}

/// Whether a file name is an item file.
pub fn is_item(name: &str) -> bool {
    name.starts_with('k') || name.starts_with('h')
}

/// Whether a temporary file `.tmp.<pid>.<n>` was left by a writer that is gone: its process
/// no longer exists, or the file is over a minute old (a live write takes microseconds).
pub fn abandoned(name: &str, md: &fs::Metadata) -> bool {
    let pid = name
        .strip_prefix(TMP_PREFIX)
        .and_then(|r| r.split('.').next())
        .and_then(|p| p.parse::<u32>().ok());
    let gone = pid.is_none_or(|p| !Path::new(&format!("/proc/{p}")).exists());
    let old = md
        .modified()
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_none_or(|age| age > std::time::Duration::from_secs(60));
    gone || old
}

/// Reads a whole item file: `Ok(None)` when it does not exist.
pub fn read(path: &Path) -> io::Result<Option<Vec<u8>>> {
    match fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Reads only the header of an item file.
pub fn read_header(path: &Path) -> io::Result<Option<Header>> {
    let mut b = [0u8; HDR];
    File::open(path)?.read_exact(&mut b)?;
    Ok(Header::decode(&b))
}

/// Writes the header in place.
pub fn write_header(path: &Path, h: &Header) -> io::Result<()> {
    OpenOptions::new()
        .write(true)
        .open(path)?
        .write_all_at(&h.encode(), 0)
}

/// Writes a whole item atomically: a temporary file in the same directory, then rename.
pub fn write(path: &Path, h: &Header, key: &[u8], value: &[u8]) -> io::Result<()> {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp: PathBuf = dir.join(format!(
        "{TMP_PREFIX}{}.{}",
        std::process::id(),
        SEQ.fetch_add(1, Relaxed)
    ));
    let mut buf = Vec::with_capacity(HDR + key.len() + value.len());
    buf.extend_from_slice(&h.encode());
    buf.extend_from_slice(key);
    buf.extend_from_slice(value);
    let r = File::create(&tmp)
        .and_then(|mut f| f.write_all(&buf))
        .and_then(|()| fs::rename(&tmp, path));
    if r.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips_and_rejects_foreign_bytes() {
        let h = Header {
            marks: 5,
            flags: 7,
            exptime: 9,
            time: 11,
            atime: 13,
            cas: u64::MAX - 1,
            klen: 3,
            vlen: 4,
        };
        assert_eq!(Header::decode(&h.encode()), Some(h));
        assert_eq!(
            Header::decode(b"not a header at all, not one of ours, no"),
            None
        );
        assert_eq!(Header::decode(&h.encode()[..10]), None);
    }

    #[test]
    fn names_are_safe_and_bounded() {
        assert_eq!(name(b"a/b"), "k612f62");
        assert_eq!(name(b""), "k");
        let long = name(&[b'.'; 250]);
        assert!(long.starts_with('h') && long.len() == 33, "{long}");
        assert!(name(&[0xff; 100]).len() < 255);
    }
}
