//! `get|gets <key>*`, `gat|gats <exptime> <key>*` (and memcached's legacy `bget`).
//!
//! One `VALUE <key> <flags> <bytes> [<cas>]` block per hit, then `END`. As memcached: a key
//! over 250 bytes drops every reply queued in the current batch and answers only
//! `CLIENT_ERROR bad command line format`; a bad gat exptime answers
//! `CLIENT_ERROR invalid exptime argument` without `END`.

use super::{Ctx, Tokens, KEY_MAX};
use crate::error::MemcacheError;
use crate::number::strtol32;

/// Runs a retrieval command.
pub fn run(t: &Tokens<'_>, out: &mut Vec<u8>, cx: &Ctx<'_>) {
    let cmd = t.get(0);
    let with_cas = cmd == b"gets" || cmd == b"gats";
    let touch = cmd == b"gat" || cmd == b"gats";
    let (keys, exptime) = if touch {
        match strtol32(t.get(1)) {
            Some(e) => (&t.all[2..], Some(cx.store.expiry(e, cx.now))),
            None => {
                out.extend_from_slice(MemcacheError::InvalidExptime.to_response());
                return;
            }
        }
    } else {
        (&t.all[1..], None)
    };
    for key in keys {
        if key.len() > KEY_MAX {
            out.truncate(cx.batch_start);
            out.extend_from_slice(MemcacheError::BadFormat.to_response());
            return;
        }
        cx.store.get(key, cx.now, exptime, with_cas, out);
    }
    out.extend_from_slice(b"END\r\n");
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
