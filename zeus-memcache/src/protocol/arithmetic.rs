//! `incr|decr <key> <delta> [noreply]`: 64-bit unsigned arithmetic on a decimal value; incr
//! wraps, decr stops at 0; a result shorter than the value is padded with spaces in place, as
//! memcached does.

use super::{Ctx, Step, Tokens, KEY_MAX};
use crate::error::MemcacheError;
use crate::number::strtoull;
use crate::store::Delta;

/// Runs `incr` or `decr`.
pub fn run(t: &Tokens<'_>, used: usize, out: &mut Vec<u8>, cx: &Ctx<'_>) -> (Step, bool) {
    let quiet = t.noreply();
    let key = t.get(1);
    let reply = if key.len() > KEY_MAX {
        Err(MemcacheError::BadFormat)
    } else if let Some(by) = strtoull(t.get(2)) {
        match cx.store.delta(key, t.get(0) == b"incr", by, cx.now) {
            Delta::Value(v) => Ok(v),
            Delta::NotFound => {
                out.extend_from_slice(b"NOT_FOUND\r\n");
                return (Step::Done(used), quiet);
            }
            Delta::NonNumeric => Err(MemcacheError::NonNumeric),
            Delta::OutOfMemory => Err(MemcacheError::OutOfMemory),
        }
    } else {
        Err(MemcacheError::InvalidDelta)
    };
    match reply {
        Ok(v) => {
            out.extend_from_slice(v.to_string().as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        Err(e) => out.extend_from_slice(e.to_response()),
    }
    (Step::Done(used), quiet)
}

#[cfg(test)]
mod tests {
    use crate::protocol::testing::*;

    #[test]
    fn wrap_floor_padding() {
        let st = store();
        assert_eq!(
            s(run(
                &st,
                b"set n 0 0 2\r\n10\r\ndecr n 1\r\nget n\r\nincr n 18446744073709551615\r\n\
                  incr n 2\r\ndecr n 100\r\nincr q 1\r\n"
            )),
            "STORED\r\n9\r\nVALUE n 0 2\r\n9 \r\nEND\r\n8\r\n10\r\n0\r\nNOT_FOUND\r\n"
        );
    }

    #[test]
    fn bad_values_and_deltas() {
        let st = store();
        assert_eq!(
            s(run(
                &st,
                b"set a 0 0 1\r\nx\r\nincr a 1\r\nincr a x\r\nincr a -1\r\n\
                  set m 0 0 3\r\n 12\r\nincr m 1\r\nset m 0 0 2\r\n-1\r\nincr m 1\r\n\
                  set g 0 0 22\r\n1234567890123456789012\r\nincr g 1\r\n"
            )),
            "STORED\r\nCLIENT_ERROR cannot increment or decrement non-numeric value\r\n\
             CLIENT_ERROR invalid numeric delta argument\r\nCLIENT_ERROR invalid numeric delta argument\r\n\
             STORED\r\n13\r\nSTORED\r\nCLIENT_ERROR cannot increment or decrement non-numeric value\r\n\
             STORED\r\nCLIENT_ERROR cannot increment or decrement non-numeric value\r\n"
        );
    }

    #[test]
    fn growing_number_gets_a_new_item() {
        let st = store();
        assert_eq!(
            s(run(
                &st,
                b"set n 7 0 1\r\n9\r\nincr n 1\r\nget n\r\nincr n 1 noreply\r\nget n\r\n"
            )),
            "STORED\r\n10\r\nVALUE n 7 2\r\n10\r\nEND\r\nVALUE n 7 2\r\n11\r\nEND\r\n"
        );
    }
}
