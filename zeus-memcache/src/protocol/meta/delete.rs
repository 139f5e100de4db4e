//! `md <key> <flag>*`: `HD` deleted, `NF` no such item, `EX` CAS mismatch (`C<cas>`).
//!
//! With `I` the item is not deleted but marked stale: it gets a new CAS, its win token is
//! cleared (the next `mg` wins with `W`, all see `X`) and `T<ttl>` sets its new TTL.
//! `q` drops `HD` only.

use super::{error, key_and_flags, push_opaque_and_key};
use crate::protocol::{Ctx, Tokens};
use crate::store::slabs::ClassStat;
use crate::store::{meta, Stat};

/// Runs `md`.
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
    let mut tail = Vec::new();
    if let Err(e) = push_opaque_and_key(&mut tail, toks, &f.key, f.binary) {
        return error(out, e);
    }
    let st = cx.store;
    let code: &[u8] = st.entry(&f.key, cx.now, |e| {
        let Some(m) = e.meta() else {
            st.count(Stat::DeleteMisses, 1);
            return b"NF";
        };
        if f.cas.is_some_and(|c| c != m.cas) {
            st.count(Stat::DeleteMisses, 1);
            return b"EX";
        }
        if f.invalidate {
            if let Some(ttl) = f.ttl {
                e.set_exptime(ttl);
            }
            e.set_marks((m.marks | meta::STALE) & !meta::TOKEN_SENT);
            e.new_cas();
        } else {
            st.count(Stat::DeleteHits, 1);
            e.count_class(ClassStat::DeleteHits);
            e.remove();
        }
        b"HD"
    });
    if code == b"HD" && f.quiet {
        return;
    }
    out.extend_from_slice(code);
    out.extend_from_slice(&tail);
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use crate::protocol::testing::*;

    #[test]
    fn delete_forms() {
        let st = store();
        assert_eq!(
            s(run(
                &st,
                b"md a\r\nmd a q O1 k\r\nms a 1\r\nx\r\nmd a C999 q\r\nmd a q\r\nmg a\r\n\
                  md\r\nmd a x\r\nmd a q q\r\n"
            )),
            "NF\r\nNF O1 ka\r\nHD\r\nEX\r\nEN\r\nERROR\r\n\
             CLIENT_ERROR invalid or duplicate flag\r\nCLIENT_ERROR invalid or duplicate flag\r\n"
        );
    }

    #[test]
    fn invalidate_marks_stale() {
        let st = store();
        assert_eq!(
            s(run(
                &st,
                b"ms a 1 T100\r\nx\r\nmd a I T30\r\nmg a t v\r\nmg a t\r\n"
            )),
            "HD\r\nHD\r\nVA 1 t30 X W\r\nx\r\nHD t30 Z X\r\n"
        );
    }
}
