//! `ms <key> <datalen> <flag>*` then the data block: `HD` stored, `NS` not stored, `EX` CAS
//! mismatch, `NF` CAS given but no item.
//!
//! Flags: `F` client flags, `T` TTL, `C` compare CAS, `I` with `C`: a CAS older than the
//! item's still stores, but as a stale value keeping the old TTL (`mg` then says `X`), `M`
//! mode (`S` set, `E` add, `A` append, `P` prepend, `R` replace), `q` drops `HD`, `b`, `k`,
//! `O`, `c` (the new CAS, 0 when nothing was stored).
//!
//! As memcached: a line error before the flags are read (bad length, long key) is answered
//! without reading the data block; any later error swallows the block.

use super::flags::{self, Flags, BAD_FORMAT};
use super::{error, flag_num, flag_tokens, push_key, MAX_OPAQUE, MAX_TOKENS, OPAQUE_TOO_LONG};
use crate::error::MemcacheError;
use crate::number::strtol32;
use crate::protocol::{Ctx, Step, Tokens, KEY_MAX};
use crate::store::slabs::{ntotal, ClassStat};
use crate::store::{meta, Entry, Stat};

/// What `ms` does with an existing item (memcached's NREAD_* after the mode switch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Comm {
    Set,
    Add,
    Append,
    Prepend,
    Replace,
    Cas,
}

/// Runs `ms`; the block is `input[used..]`.
pub fn run(
    t: &Tokens<'_>,
    used: usize,
    input: &[u8],
    out: &mut Vec<u8>,
    cx: &Ctx<'_>,
) -> (Step, bool) {
    let done = (Step::Done(used), false);
    if t.n < 3 {
        out.extend_from_slice(b"ERROR\r\n");
        return done;
    }
    let key = t.get(1);
    if key.len() > KEY_MAX || t.n == 3 {
        error(out, BAD_FORMAT);
        return done;
    }
    if t.n > MAX_TOKENS {
        error(out, "CLIENT_ERROR options flags too long");
        return done;
    }
    let vlen = match strtol32(t.get(2)) {
        Some(v) if (0..=i32::MAX - 2).contains(&v) => v as usize + 2,
        _ => {
            error(out, BAD_FORMAT);
            return done;
        }
    };
    let swallow = |out: &mut Vec<u8>, msg: &str| {
        error(out, msg);
        (Step::Skip(used, vlen), false)
    };
    let toks = flag_tokens(t, 3);
    let f = match flags::parse(key, toks, cx.store, cx.now) {
        Ok(f) => f,
        Err(e) => return swallow(out, e),
    };
    let long_opaque = toks
        .iter()
        .any(|tok| tok[0] == b'O' && tok.len() > MAX_OPAQUE);
    let mut comm = match f.mode {
        None | Some(b'S') => Comm::Set,
        Some(b'E') => Comm::Add,
        Some(b'A') => Comm::Append,
        Some(b'P') => Comm::Prepend,
        Some(b'R') => Comm::Replace,
        Some(_) => return swallow(out, "CLIENT_ERROR invalid mode for ms M token"),
    };
    if f.cas.is_some() && matches!(comm, Comm::Set | Comm::Replace) {
        comm = Comm::Cas;
    }
    if long_opaque {
        return swallow(out, OPAQUE_TOO_LONG);
    }
    if cx.store.too_large(f.key.len(), f.client_flags, vlen) {
        cx.store.delete(&f.key, cx.now);
        return swallow(out, "SERVER_ERROR object too large for cache");
    }
    if input.len() < used + vlen {
        return (Step::NeedMore, false);
    }
    let done = (Step::Done(used + vlen), false);
    let data = &input[used..used + vlen];
    if !data.ends_with(b"\r\n") {
        out.extend_from_slice(MemcacheError::BadDataChunk.to_response());
        return done;
    }
    cx.store.count(Stat::CmdSet, 1);
    cx.store
        .count_class(ClassStat::CmdSet, ntotal(f.key.len(), vlen, f.client_flags));
    let r = cx.store.entry(&f.key, cx.now, |e| store(e, comm, &f, data));
    let (code, cas): (&[u8], u64) = match r {
        Some(Outcome::Stored(cas)) => (b"HD", cas),
        Some(Outcome::NotStored) => (b"NS", 0),
        Some(Outcome::Exists) => (b"EX", 0),
        Some(Outcome::NotFound) => (b"NF", 0),
        None => {
            out.extend_from_slice(MemcacheError::OutOfMemoryStoring.to_response());
            return done;
        }
    };
    if code == b"HD" && f.quiet {
        return done;
    }
    out.extend_from_slice(code);
    for tok in toks {
        match tok[0] {
            b'O' => {
                out.push(b' ');
                out.extend_from_slice(tok);
            }
            b'k' => push_key(out, &f.key, f.binary),
            b'c' => flag_num(out, b'c', cas),
            _ => {}
        }
    }
    out.extend_from_slice(b"\r\n");
    done
}

/// How a store went; `None` from [`store`] is out of memory.
enum Outcome {
    Stored(u64),
    NotStored,
    Exists,
    NotFound,
}

/// memcached's `do_store_item` for one meta set, under the item lock.
fn store(e: &mut Entry<'_>, comm: Comm, f: &Flags, data: &[u8]) -> Option<Outcome> {
    let st = e.store();
    let marks = if f.binary { meta::KEY_BINARY } else { 0 };
    let exptime = f.ttl.unwrap_or(0);
    let want = f.cas.unwrap_or(0);
    let stored = |cas: Option<u64>| cas.map(Outcome::Stored);
    let Some(old) = e.meta() else {
        return match comm {
            Comm::Add | Comm::Set => stored(e.put(f.client_flags, exptime, data, marks)),
            Comm::Cas => {
                st.count(Stat::CasMisses, 1);
                Some(Outcome::NotFound)
            }
            _ => Some(Outcome::NotStored),
        };
    };
    let matches = want != 0 && want == old.cas;
    let stale = want != 0 && !matches && f.invalidate && comm == Comm::Cas && want < old.cas;
    match comm {
        Comm::Add => Some(Outcome::NotStored),
        Comm::Set | Comm::Replace => stored(e.put(f.client_flags, exptime, data, marks)),
        Comm::Cas if matches => {
            st.count(Stat::CasHits, 1);
            e.count_class(ClassStat::CasHits);
            stored(e.put(f.client_flags, exptime, data, marks))
        }
        Comm::Cas if stale => {
            st.count(Stat::CasHits, 1);
            e.count_class(ClassStat::CasHits);
            let keep = meta::STALE | (old.marks & meta::TOKEN_SENT);
            stored(e.put(f.client_flags, old.exptime, data, marks | keep))
        }
        Comm::Cas => {
            st.count(Stat::CasBadval, 1);
            e.count_class(ClassStat::CasBadval);
            Some(Outcome::Exists)
        }
        Comm::Append | Comm::Prepend => {
            if want != 0 && !matches {
                return Some(Outcome::Exists);
            }
            let mut joined = Vec::with_capacity(old.len + data.len());
            if comm == Comm::Prepend {
                joined.extend_from_slice(&data[..data.len() - 2]);
            }
            e.value(&mut joined);
            if comm == Comm::Append {
                joined.truncate(joined.len() - 2);
                joined.extend_from_slice(data);
            }
            if st.too_large(f.key.len(), old.flags, joined.len()) {
                return Some(Outcome::NotStored);
            }
            match e.put(old.flags, old.exptime, &joined, 0) {
                Some(cas) => Some(Outcome::Stored(cas)),
                None => Some(Outcome::NotStored),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::protocol::testing::*;

    #[test]
    fn modes() {
        let st = store();
        assert_eq!(
            s(run(
                &st,
                b"ms a 1 ME\r\nx\r\nms a 1 ME\r\ny\r\nms a 2 MA\r\nzz\r\nms a 1 MP\r\nw\r\n\
                  ms b 1 MR\r\nx\r\nms b 1 MA\r\nx\r\nms a 1 MX\r\nx\r\nmg a v\r\n"
            )),
            "HD\r\nNS\r\nHD\r\nHD\r\nNS\r\nNS\r\n\
             CLIENT_ERROR invalid mode for ms M token\r\nVA 4\r\nwxzz\r\n"
        );
    }

    #[test]
    fn flags_and_quiet() {
        let st = store();
        assert_eq!(
            s(run(
                &st,
                b"ms a 1 q\r\nx\r\nms a 1 ME q O5 k c\r\nx\r\nms a 2 F9 T0 q\r\nxy\r\nmg a f v\r\n"
            )),
            "NS O5 ka c0\r\nVA 2 f9\r\nxy\r\n"
        );
    }

    #[test]
    fn errors_and_swallowing() {
        let st = store();
        assert_eq!(
            s(run(
                &st,
                b"ms a\r\nms a x\r\nms a 1 x\r\nabc\r\nms a 1 v v\r\nx\r\nms a 1\r\nxyz\r\n\
                  ms a 1 C1\r\nx\r\n"
            )),
            "CLIENT_ERROR bad command line format\r\nCLIENT_ERROR bad command line format\r\n\
             CLIENT_ERROR invalid flag\r\nERROR\r\nCLIENT_ERROR duplicate flag\r\n\
             CLIENT_ERROR bad data chunk\r\nERROR\r\nNF\r\n"
        );
    }

    #[test]
    fn stale_set_with_invalidate() {
        let st = store();
        assert_eq!(
            s(run(
                &st,
                b"ms z 1\r\nx\r\nms z 1\r\nx\r\nms a 1 T100\r\nx\r\nms a 1 C999 T5\r\ny\r\nms a 1 C1 I T5\r\nz\r\nmg a v t\r\n"
            )),
            "HD\r\nHD\r\nHD\r\nEX\r\nHD\r\nVA 1 t100 X W\r\nz\r\n"
        );
    }
}
