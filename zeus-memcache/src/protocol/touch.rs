//! `touch <key> <exptime> [noreply]`: `TOUCHED` or `NOT_FOUND`.

use super::{Ctx, Step, Tokens, KEY_MAX};
use crate::error::MemcacheError;
use crate::number::strtol32;

/// Runs `touch`.
pub fn run(t: &Tokens<'_>, used: usize, out: &mut Vec<u8>, cx: &Ctx<'_>) -> (Step, bool) {
    let quiet = t.noreply();
    let key = t.get(1);
    let reply: &[u8] = if key.len() > KEY_MAX {
        MemcacheError::BadFormat.to_response()
    } else if let Some(e) = strtol32(t.get(2)) {
        if cx.store.touch(key, cx.store.expiry(e, cx.now), cx.now) {
            b"TOUCHED\r\n"
        } else {
            b"NOT_FOUND\r\n"
        }
    } else {
        MemcacheError::InvalidExptime.to_response()
    };
    out.extend_from_slice(reply);
    (Step::Done(used), quiet)
}

#[cfg(test)]
mod tests {
    use crate::protocol::testing::*;

    #[test]
    fn touch_forms() {
        let st = store();
        assert_eq!(
            s(run(&st, b"touch a 10\r\nset a 0 0 1\r\nx\r\ntouch a x\r\ntouch a 10\r\ntouch a -1 noreply\r\nget a\r\n")),
            "NOT_FOUND\r\nSTORED\r\nCLIENT_ERROR invalid exptime argument\r\nTOUCHED\r\nEND\r\n"
        );
    }
}
