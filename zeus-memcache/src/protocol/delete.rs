//! `delete <key> [0] [noreply]`: `DELETED` or `NOT_FOUND`. Any other argument gets memcached's
//! usage line; the hold time, long gone from memcached, is accepted only as `0`.

use super::{Ctx, Step, Tokens, KEY_MAX};
use crate::error::MemcacheError;

/// Runs `delete`.
pub fn run(t: &Tokens<'_>, used: usize, out: &mut Vec<u8>, cx: &Ctx<'_>) -> (Step, bool) {
    let mut quiet = false;
    if t.n > 3 {
        let zero = t.get(2) == b"0";
        quiet = t.noreply();
        let valid = (t.n == 4 && (zero || quiet)) || (t.n == 5 && zero && quiet);
        if !valid {
            out.extend_from_slice(MemcacheError::BadDeleteFormat.to_response());
            return (Step::Done(used), quiet);
        }
    }
    let key = t.get(1);
    if key.len() > KEY_MAX {
        out.extend_from_slice(MemcacheError::BadFormat.to_response());
    } else if cx.store.delete(key, cx.now) {
        out.extend_from_slice(b"DELETED\r\n");
    } else {
        out.extend_from_slice(b"NOT_FOUND\r\n");
    }
    (Step::Done(used), quiet)
}

#[cfg(test)]
mod tests {
    use crate::protocol::testing::*;

    #[test]
    fn forms_like_memcached() {
        let st = store();
        let usage = "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n";
        assert_eq!(
            s(run(
                &st,
                b"set a 0 0 1\r\nx\r\ndelete a 0\r\ndelete a 1\r\ndelete a noreply\r\n\
                  delete a 0 noreply\r\ndelete a x y\r\ndelete\r\ndelete a 0 noreply x\r\ndelete a\r\n"
            )),
            format!("STORED\r\nDELETED\r\n{usage}{usage}ERROR\r\nERROR\r\nNOT_FOUND\r\n")
        );
    }
}
