//! `mg <key> <flag>*`: `VA <len> <flags>*` + value (with `v`), `HD <flags>*` on a hit, `EN`
//! on a miss.
//!
//! Reply flags: `s` size, `t` TTL left (`-1` never), `c` CAS, `f` client flags, `l` seconds
//! since last access, `h` fetched before (0/1), `k` key, `O` opaque. Item flags: `T` new TTL,
//! `N` create an empty item on a miss (and win), `R` win when the TTL left is below the
//! value, `u` do not count the fetch. After the flags: `Z` when a win token was already
//! handed out, `X` when the item is stale (and `W` if nobody won it yet), `W` on a win.

use super::flags;
use super::key_and_flags;
use super::{error, flag_num, push_key, push_opaque, push_opaque_and_key, push_ttl};
use crate::protocol::{Ctx, Tokens};
use crate::store::slabs::ClassStat;
use crate::store::{meta, Entry, Stat};

/// Runs `mg`.
pub fn run(t: &Tokens<'_>, out: &mut Vec<u8>, cx: &Ctx<'_>) {
    let Some((toks, f)) =
        key_and_flags(t, out, cx, "CLIENT_ERROR options flags are too long", None)
    else {
        return;
    };
    let mark = out.len();
    let r = cx
        .store
        .entry(&f.key, cx.now, |e| answer(e, &f, toks, cx.now, out));
    if let Err(e) = r {
        out.truncate(mark);
        error(out, e);
    }
}

fn answer(
    e: &mut Entry<'_>,
    f: &flags::Flags,
    toks: &[&[u8]],
    now: u32,
    out: &mut Vec<u8>,
) -> Result<(), &'static str> {
    let st = e.store();
    let touching = f.ttl.is_some();
    let mut created = false;
    if e.meta().is_none() && f.vivify.is_some() {
        created = e.put(0, 0, b"\r\n", 0).is_some();
    }
    let Some(mut m) = e.meta() else {
        if touching {
            st.count(Stat::CmdTouch, 1);
            st.count(Stat::TouchMisses, 1);
        } else {
            st.count(Stat::CmdGet, 1);
            st.count(Stat::GetMisses, 1);
        }
        let mark = out.len();
        out.extend_from_slice(b"EN");
        push_opaque_and_key(out, toks, &f.key, f.binary)?;
        out.extend_from_slice(b"\r\n");
        if f.quiet {
            out.truncate(mark);
        }
        return Ok(());
    };
    if f.value {
        out.extend_from_slice(b"VA ");
        out.extend_from_slice(m.len.to_string().as_bytes());
    } else {
        out.extend_from_slice(b"HD");
    }
    let mut won = false;
    for tok in toks {
        match tok[0] {
            b'T' => {
                m.exptime = f.ttl.unwrap_or(0);
                e.set_exptime(m.exptime);
            }
            b'N' if created => {
                m.exptime = f.vivify.unwrap_or(0);
                e.set_exptime(m.exptime);
                won = true;
            }
            b'R' => {
                let recache = f.recache.unwrap_or(0);
                if m.marks & meta::TOKEN_SENT == 0
                    && !created
                    && m.exptime != 0
                    && m.exptime < recache
                {
                    won = true;
                }
            }
            b's' => flag_num(out, b's', m.len as u64),
            b't' => push_ttl(out, m.exptime, now),
            b'c' => flag_num(out, b'c', m.cas),
            b'f' => flag_num(out, b'f', u64::from(m.flags)),
            b'l' => flag_num(out, b'l', u64::from(now.wrapping_sub(m.atime))),
            b'h' => flag_num(out, b'h', u64::from(m.marks & meta::FETCHED != 0)),
            b'O' => push_opaque(out, tok)?,
            b'k' => push_key(out, &f.key, m.marks & meta::KEY_BINARY != 0),
            _ => {}
        }
    }
    let sent = m.marks & meta::TOKEN_SENT != 0;
    if sent {
        out.extend_from_slice(b" Z");
    }
    if m.marks & meta::STALE != 0 {
        out.extend_from_slice(b" X");
        won |= !sent;
    }
    if won {
        out.extend_from_slice(b" W");
        e.set_marks(m.marks | meta::TOKEN_SENT);
    }
    out.extend_from_slice(b"\r\n");
    if f.value {
        e.value(out);
    }
    if !f.no_update {
        e.bump();
    }
    if touching {
        st.count(Stat::CmdTouch, 1);
        st.count(Stat::TouchHits, 1);
        e.count_class(ClassStat::TouchHits);
    } else {
        st.count(Stat::CmdGet, 1);
        st.count(Stat::GetHits, 1);
        e.count_class(ClassStat::GetHits);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::protocol::testing::*;

    #[test]
    fn hit_miss_and_flag_order() {
        let st = store();
        let r = s(run(
            &st,
            b"mg a v\r\nmg a q v\r\nmg a k O9\r\nms a 1 F5\r\nx\r\nmg a v s f t h\r\n\
              mg a h T30 t\r\nmg a t T60\r\nmg a q k\r\n",
        ));
        assert_eq!(
            r,
            "EN\r\nEN ka O9\r\nHD\r\nVA 1 s1 f5 t-1 h0\r\nx\r\nHD h1 t30\r\nHD t30\r\nHD ka\r\n"
        );
    }

    #[test]
    fn vivify_and_win_tokens() {
        let st = store();
        let r = s(run(
            &st,
            b"mg v N30 s t\r\nmg v s t\r\nmd v I q\r\nmg v\r\nmg v\r\nmg w T10 R30\r\n\
              ms w 1 T10\r\nx\r\nmg w R30\r\nmg w R30\r\nmg w R5\r\n",
        ));
        assert_eq!(
            r,
            "HD s0 t30 W\r\nHD s0 t30 Z\r\nHD X W\r\nHD Z X\r\nEN\r\nHD\r\nHD W\r\nHD Z\r\nHD Z\r\n"
        );
    }

    #[test]
    fn base64_keys() {
        let st = store();
        assert_eq!(
            s(run(
                &st,
                b"ms Zm9v 1 b\r\nx\r\nmg foo k v\r\nmg Zm9v b k s\r\nmg ! b\r\n"
            )),
            "HD\r\nVA 1 kZm9v b\r\nx\r\nHD kZm9v b s1\r\nCLIENT_ERROR error decoding key\r\n"
        );
    }
}
