//! `ma <key> <flag>*`: incr/decr. `HD` (or `VA <len>` + the number with `v`), `NF` no
//! item, `EX` CAS mismatch.
//!
//! Flags: `M` mode (`I`/`+` incr, the default, `D`/`-` decr), `D` delta (default 1), `N<ttl>`
//! create a missing item with the value of `J` (default 0), `T` new TTL, `C` compare CAS, and
//! the reply flags `c t k O`. `q` drops `HD` of an update, not of a creation. As memcached,
//! a number that grows longer is stored as a new item and a `T` given then is not kept.

use super::flags;
use super::push_ttl;
use super::{error, flag_num, key_and_flags, push_key, push_opaque, push_opaque_and_key};
use crate::number::strtoull;
use crate::protocol::{Ctx, Tokens};
use crate::store::slabs::ClassStat;
use crate::store::{Entry, Stat};

/// How the item lookup went.
enum Done {
    /// Changed in place or replaced (`grown`).
    Updated { text: String, grown: bool },
    /// Created by `N`.
    Created(String),
    /// No item (`NF`) or CAS mismatch (`EX`).
    NoItem(&'static [u8]),
}

/// Runs `ma`.
pub fn run(t: &Tokens<'_>, out: &mut Vec<u8>, cx: &Ctx<'_>) {
    let flag_error = Some("CLIENT_ERROR invalid or duplicate flag");
    let Some((toks, f)) = key_and_flags(
        t,
        out,
        cx,
        "CLIENT_ERROR options flags too long",
        flag_error,
    ) else {
        return;
    };
    let incr = match f.mode {
        None | Some(b'I' | b'+') => true,
        Some(b'D' | b'-') => false,
        Some(_) => return error(out, "CLIENT_ERROR invalid mode for ma M token"),
    };
    let mark = out.len();
    let r = cx.store.entry(&f.key, cx.now, |e| {
        let done = delta(e, &f, incr)?;
        reply(e, &f, toks, done, cx.now, out)
    });
    if let Err(e) = r {
        out.truncate(mark);
        error(out, e);
    }
}

/// memcached's `do_add_delta`, plus autovivify.
fn delta(e: &mut Entry<'_>, f: &flags::Flags, incr: bool) -> Result<Done, &'static str> {
    let st = e.store();
    let non_numeric = "CLIENT_ERROR cannot increment or decrement non-numeric value";
    let Some(m) = e.meta() else {
        if f.vivify.is_some() {
            let text = f.initial.to_string();
            let data = format!("{text}\r\n");
            return match e.put(0, 0, data.as_bytes(), 0) {
                Some(_) => Ok(Done::Created(text)),
                None => Err("SERVER_ERROR Out of memory allocating new item"),
            };
        }
        st.count(
            if incr {
                Stat::IncrMisses
            } else {
                Stat::DecrMisses
            },
            1,
        );
        return Ok(Done::NoItem(b"NF"));
    };
    if m.len == 0 {
        return Err(non_numeric);
    }
    if f.cas.is_some_and(|c| c != 0 && c != m.cas) {
        return Ok(Done::NoItem(b"EX"));
    }
    let mut cur = Vec::with_capacity(m.len + 2);
    e.value(&mut cur);
    let v = strtoull(&cur).ok_or(non_numeric)?;
    st.count(if incr { Stat::IncrHits } else { Stat::DecrHits }, 1);
    e.count_class(if incr {
        ClassStat::IncrHits
    } else {
        ClassStat::DecrHits
    });
    let v = if incr {
        v.wrapping_add(f.delta)
    } else {
        v.saturating_sub(f.delta)
    };
    let text = v.to_string();
    if text.len() <= m.len {
        let mut padded = text.clone().into_bytes();
        padded.resize(m.len, b' ');
        e.overwrite(&padded);
        return Ok(Done::Updated { text, grown: false });
    }
    let data = format!("{text}\r\n");
    match e.put(m.flags, m.exptime, data.as_bytes(), 0) {
        Some(_) => Ok(Done::Updated { text, grown: true }),
        None => Err("SERVER_ERROR out of memory"),
    }
}

/// Builds the reply in flag order; `T` and `N` act where they stand.
fn reply(
    e: &mut Entry<'_>,
    f: &flags::Flags,
    toks: &[&[u8]],
    done: Done,
    now: u32,
    out: &mut Vec<u8>,
) -> Result<(), &'static str> {
    let (text, grown, created) = match done {
        Done::NoItem(code) => {
            out.extend_from_slice(code);
            push_opaque_and_key(out, toks, &f.key, f.binary)?;
            out.extend_from_slice(b"\r\n");
            return Ok(());
        }
        Done::Updated { text, grown } => (text, grown, false),
        Done::Created(text) => (text, false, true),
    };
    let Some(m) = e.meta() else {
        return Ok(());
    };
    let mark = out.len();
    if f.value {
        out.extend_from_slice(b"VA ");
        out.extend_from_slice(text.len().to_string().as_bytes());
    } else {
        out.extend_from_slice(b"HD");
    }
    let mut exptime = m.exptime;
    for tok in toks {
        match tok[0] {
            b'c' => flag_num(out, b'c', m.cas),
            b't' => push_ttl(out, exptime, now),
            b'T' => {
                exptime = f.ttl.unwrap_or(0);
                if !grown {
                    e.set_exptime(exptime);
                }
            }
            b'N' if created => {
                exptime = f.vivify.unwrap_or(0);
                e.set_exptime(exptime);
            }
            b'O' => push_opaque(out, tok)?,
            b'k' => push_key(out, &f.key, f.binary),
            _ => {}
        }
    }
    if f.value {
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(text.as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    if f.quiet && !created {
        out.truncate(mark);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::protocol::testing::*;

    #[test]
    fn incr_decr_vivify() {
        let st = store();
        assert_eq!(
            s(run(
                &st,
                b"ma n\r\nma n q O1 k\r\nma n N0 J10 v t\r\nma n v\r\nma n MD D20 v\r\n\
                  ma n q\r\nma n v M-\r\nma n MI D18446744073709551615 v\r\nma n MX\r\n"
            )),
            "NF\r\nNF O1 kn\r\nVA 2 t-1\r\n10\r\nVA 2\r\n11\r\nVA 1\r\n0\r\n\
             VA 1\r\n0\r\nVA 20\r\n18446744073709551615\r\n\
             CLIENT_ERROR invalid mode for ma M token\r\n"
        );
    }

    #[test]
    fn errors_and_cas() {
        let st = store();
        assert_eq!(
            s(run(
                &st,
                b"ms a 1\r\nx\r\nma a\r\nms e 0\r\n\r\nma e\r\nms n 1\r\n9\r\nma n C1\r\n\
                  ma n Dx\r\nma n v T30 t\r\nma n v t T0\r\n"
            )),
            "HD\r\nCLIENT_ERROR cannot increment or decrement non-numeric value\r\nHD\r\n\
             CLIENT_ERROR cannot increment or decrement non-numeric value\r\nHD\r\nEX\r\n\
             CLIENT_ERROR invalid or duplicate flag\r\nVA 2 t30\r\n10\r\nVA 2 t-1\r\n11\r\n"
        );
    }
}
