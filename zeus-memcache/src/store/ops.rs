//! The classic commands (`get gets gat gats`, storage modes, `delete`, `touch`, `incr decr`),
//! written once over the [`Item`](super::meta::Item) seam so every backend answers them the
//! same way.

use super::slabs::{self, ClassStat};
use super::{push_num, Delta, Mode, Stat, Store, Stored};
use crate::number::strtoull;

impl Store {
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
        let (cmd, hit, miss, cs) = match touch {
            Some(_) => (
                Stat::CmdTouch,
                Stat::TouchHits,
                Stat::TouchMisses,
                ClassStat::TouchHits,
            ),
            None => (
                Stat::CmdGet,
                Stat::GetHits,
                Stat::GetMisses,
                ClassStat::GetHits,
            ),
        };
        self.entry(key, now, |e| {
            self.count(cmd, 1);
            let Some(m) = e.meta() else {
                self.count(miss, 1);
                if let (Some(w), None) = (e.miss_reason(), touch) {
                    self.count(w, 1);
                }
                return false;
            };
            self.count(hit, 1);
            e.count_class(cs);
            match touch {
                Some(exp) => e.touch(exp),
                None => e.bump(),
            }
            out.extend_from_slice(b"VALUE ");
            out.extend_from_slice(key);
            push_num(out, u64::from(m.flags));
            push_num(out, m.len as u64);
            if with_cas {
                push_num(out, m.cas);
            }
            out.extend_from_slice(b"\r\n");
            e.value(out);
            true
        })
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
        self.entry(key, now, |e| {
            let existing = e.meta();
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
                (Mode::Cas(c), Some(m)) => {
                    if m.cas != c {
                        self.count(Stat::CasBadval, 1);
                        e.count_class(ClassStat::CasBadval);
                        return Stored::Exists;
                    }
                    self.count(Stat::CasHits, 1);
                    e.count_class(ClassStat::CasHits);
                    data
                }
                (Mode::Append | Mode::Prepend, Some(m)) => {
                    flags = m.flags;
                    exptime = m.exptime;
                    if mode == Mode::Prepend {
                        joined.extend_from_slice(&data[..data.len() - 2]);
                    }
                    e.value(&mut joined);
                    if mode == Mode::Append {
                        joined.truncate(joined.len() - 2);
                        joined.extend_from_slice(data);
                    }
                    if self.too_large(key.len(), flags, joined.len()) {
                        return Stored::OutOfMemory;
                    }
                    &joined
                }
            };
            match e.put(flags, exptime, data, 0) {
                Some(_) => Stored::Stored,
                None => {
                    if mode == Mode::Set {
                        e.remove();
                    }
                    Stored::OutOfMemory
                }
            }
        })
    }

    /// Deletes `key`; true if a valid item was removed.
    pub fn delete(&self, key: &[u8], now: u32) -> bool {
        let hit = self.entry(key, now, |e| {
            if e.meta().is_none() {
                return false;
            }
            e.count_class(ClassStat::DeleteHits);
            e.remove();
            true
        });
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
        self.entry(key, now, |e| {
            self.count(Stat::CmdTouch, 1);
            if e.meta().is_none() {
                self.count(Stat::TouchMisses, 1);
                return false;
            }
            e.touch(exptime);
            self.count(Stat::TouchHits, 1);
            e.count_class(ClassStat::TouchHits);
            true
        })
    }

    /// incr (wrapping at 2^64) or decr (flooring at 0), as memcached: a shorter result is
    /// written in place, padded with spaces.
    pub fn delta(&self, key: &[u8], incr: bool, by: u64, now: u32) -> Delta {
        let (hit, miss, cs) = if incr {
            (Stat::IncrHits, Stat::IncrMisses, ClassStat::IncrHits)
        } else {
            (Stat::DecrHits, Stat::DecrMisses, ClassStat::DecrHits)
        };
        self.entry(key, now, |e| {
            let Some(m) = e.meta() else {
                self.count(miss, 1);
                return Delta::NotFound;
            };
            let mut cur = Vec::with_capacity(m.len + 2);
            e.value(&mut cur);
            let Some(v) = strtoull(&cur) else {
                return Delta::NonNumeric;
            };
            self.count(hit, 1);
            e.count_class(cs);
            let v = if incr {
                v.wrapping_add(by)
            } else {
                v.saturating_sub(by)
            };
            let mut text = v.to_string().into_bytes();
            if text.len() <= m.len {
                text.resize(m.len, b' ');
                e.overwrite(&text);
                return Delta::Value(v);
            }
            text.extend_from_slice(b"\r\n");
            match e.put(m.flags, m.exptime, &text, 0) {
                Some(_) => Delta::Value(v),
                None => Delta::OutOfMemory,
            }
        })
    }
}
