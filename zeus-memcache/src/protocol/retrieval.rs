//! `get|gets <key>*`, `gat|gats <exptime> <key>*` (and memcached's legacy `bget`).
//!
//! One `VALUE <key> <flags> <bytes> [<cas>]` block per hit, then `END`. As memcached: a key
//! over 250 bytes drops every reply queued in the current batch and answers only
//! `CLIENT_ERROR bad command line format`; a bad gat exptime answers
//! `CLIENT_ERROR invalid exptime argument` without `END`. Keys are checked before any is
//! answered, so a multiget paused past `Ctx::out_limit` (its output written in pieces)
//! never has to take back what was sent.

use super::{Ctx, Tokens, KEY_MAX};
use crate::error::MemcacheError;
use crate::number::strtol32;

/// Runs a retrieval command from key `cx.resume` on; `Some(keys answered)` when it paused
/// with its output past `cx.out_limit`.
pub fn run(t: &Tokens<'_>, out: &mut Vec<u8>, cx: &Ctx<'_>) -> Option<usize> {
    let cmd = t.get(0);
    let with_cas = cmd == b"gets" || cmd == b"gats";
    let touch = cmd == b"gat" || cmd == b"gats";
    let (keys, exptime) = if touch {
        match strtol32(t.get(1)) {
            Some(e) => (t.from(2), Some(cx.store.expiry(e, cx.now))),
            None => {
                out.extend_from_slice(MemcacheError::InvalidExptime.to_response());
                return None;
            }
        }
    } else {
        (t.from(1), None)
    };
    if cx.resume == 0 && keys.clone().any(|k| k.len() > KEY_MAX) {
        out.truncate(cx.batch_start);
        out.extend_from_slice(MemcacheError::BadFormat.to_response());
        return None;
    }
    for (i, key) in keys.enumerate().skip(cx.resume) {
        if out.len() > cx.out_limit && i > cx.resume {
            return Some(i);
        }
        cx.store.get(key, cx.now, exptime, with_cas, out);
    }
    out.extend_from_slice(b"END\r\n");
    None
}

#[cfg(test)]
mod tests {
    use crate::protocol::testing::*;

    #[test]
    fn many_keys_hits_and_misses() {
        let st = store();
        let r = run(
            &st,
            b"set a 1 0 1\r\nx\r\nset b 2 0 2\r\nyy\r\nget a nope b\r\n",
        );
        assert_eq!(
            s(r),
            "STORED\r\nSTORED\r\nVALUE a 1 1\r\nx\r\nVALUE b 2 2\r\nyy\r\nEND\r\n"
        );
        let r = s(run(&st, b"gets a\r\n"));
        assert!(
            r.starts_with("VALUE a 1 1 ") && r.ends_with("\r\nx\r\nEND\r\n"),
            "{r}"
        );
    }

    #[test]
    fn a_multiget_past_the_output_limit_pauses_and_resumes() {
        let st = store();
        let v = "v".repeat(1000);
        let mut cmd = String::new();
        for i in 0..20 {
            cmd.push_str(&format!("set k{i} {i} 0 1000\r\n{v}\r\n"));
        }
        run(&st, cmd.as_bytes());
        let keys: Vec<String> = (0..20).map(|i| format!("k{i} nope")).collect();
        let cmd = format!("gets {}\r\nget k3\r\n", keys.join(" "));
        let whole = s(run(&st, cmd.as_bytes()));
        let pieces = s(run_limited(&st, cmd.as_bytes(), 2500));
        assert_eq!(whole.matches("VALUE").count(), 21);
        assert_eq!(whole, pieces);
        // Each pause happens right after the key that passed the limit.
        let info = info();
        let cx = crate::protocol::Ctx {
            store: &st,
            now: crate::store::now(),
            info: &info,
            batch_start: 0,
            out_limit: 2500,
            resume: 0,
        };
        let mut out = Vec::new();
        let got = crate::protocol::step(b"get k1 k2 k3 k4 k5\r\n", &mut out, &cx);
        assert_eq!(got, crate::protocol::Step::Partial(3));
        assert!(out.len() > 2500 && out.len() < 2500 + 1100);
    }

    #[test]
    fn gat_touches_and_validates() {
        let st = store();
        assert_eq!(
            s(run(&st, b"set a 0 0 1\r\nx\r\ngat 10\r\ngat x a\r\ngat -1 a\r\nget a\r\n")),
            "STORED\r\nEND\r\nCLIENT_ERROR invalid exptime argument\r\nVALUE a 0 1\r\nx\r\nEND\r\nEND\r\n"
        );
    }

    #[test]
    fn long_key_drops_the_batch() {
        let st = store();
        let cmd = format!("set a 0 0 1\r\nx\r\nget a b {}\r\n", "k".repeat(251));
        assert_eq!(
            s(run(&st, cmd.as_bytes())),
            "CLIENT_ERROR bad command line format\r\n"
        );
        let ok = format!("set {k} 0 0 1\r\nx\r\nget {k}\r\n", k = "k".repeat(250));
        assert!(s(run(&st, ok.as_bytes())).ends_with("x\r\nEND\r\n"));
    }

    #[test]
    fn expired_and_control_char_keys() {
        let st = store();
        assert_eq!(
            s(run(
                &st,
                b"set a 5 -1 1\r\nx\r\nget a\r\nset t\x01 0 0 1\r\nx\r\nget t\x01 a\tb\r\n"
            )),
            "STORED\r\nEND\r\nSTORED\r\nVALUE t\x01 0 1\r\nx\r\nEND\r\n"
        );
    }
}
