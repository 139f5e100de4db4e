//! `set add replace append prepend cas <key> <flags> <exptime> <bytes> [cas] [noreply]`
//! followed by a data block of `<bytes>` bytes and "\r\n".
//!
//! As memcached: a malformed line is answered without reading a data block (so the block, if
//! sent, is then read as a command line); a value too large for `item_size_max` is refused at
//! once and its block skipped without buffering (a failed `set` also drops the old value); a
//! block not ending in "\r\n" gets `bad data chunk` and stores nothing.

use super::{Ctx, Step, Tokens, KEY_MAX};
use crate::error::MemcacheError;
use crate::number::{strtol32, strtoul32, strtoull};
use crate::store::{Mode, Stored};

struct Header<'a> {
    key: &'a [u8],
    flags: u32,
    exptime: i32,
    vlen: usize,
    mode: Mode,
}

fn parse<'a>(t: &Tokens<'a>) -> Result<Header<'a>, MemcacheError> {
    let key = t.get(1);
    if key.len() > KEY_MAX {
        return Err(MemcacheError::BadFormat);
    }
    let (Some(flags), Some(exptime), Some(vlen)) =
        (strtoul32(t.get(2)), strtol32(t.get(3)), strtol32(t.get(4)))
    else {
        return Err(MemcacheError::BadFormat);
    };
    let mode = match t.get(0) {
        b"set" => Mode::Set,
        b"add" => Mode::Add,
        b"replace" => Mode::Replace,
        b"append" => Mode::Append,
        b"prepend" => Mode::Prepend,
        _ => Mode::Cas(strtoull(t.get(5)).ok_or(MemcacheError::BadFormat)?),
    };
    if !(0..=i32::MAX - 2).contains(&vlen) {
        return Err(MemcacheError::BadFormat);
    }
    Ok(Header {
        key,
        flags,
        exptime,
        vlen: vlen as usize + 2,
        mode,
    })
}

/// Runs a storage command whose line is `used` bytes of `input`.
pub fn run(
    t: &Tokens<'_>,
    used: usize,
    input: &[u8],
    out: &mut Vec<u8>,
    cx: &Ctx<'_>,
) -> (Step, bool) {
    let quiet = t.noreply();
    let h = match parse(t) {
        Ok(h) => h,
        Err(e) => {
            out.extend_from_slice(e.to_response());
            return (Step::Done(used), quiet);
        }
    };
    if cx.store.too_large(h.key.len(), h.flags, h.vlen) {
        out.extend_from_slice(MemcacheError::TooLarge.to_response());
        if h.mode == Mode::Set {
            cx.store.delete(h.key, cx.now);
        }
        return (Step::Skip(used, h.vlen), quiet);
    }
    if input.len() < used + h.vlen {
        return (Step::NeedMore, quiet);
    }
    let data = &input[used..used + h.vlen];
    if !data.ends_with(b"\r\n") {
        out.extend_from_slice(MemcacheError::BadDataChunk.to_response());
        return (Step::Done(used + h.vlen), quiet);
    }
    let exp = cx.store.expiry(h.exptime, cx.now);
    let reply: &[u8] = match cx.store.store(h.mode, h.key, h.flags, exp, data, cx.now) {
        Stored::Stored => b"STORED\r\n",
        Stored::NotStored => b"NOT_STORED\r\n",
        Stored::Exists => b"EXISTS\r\n",
        Stored::NotFound => b"NOT_FOUND\r\n",
        Stored::OutOfMemory => MemcacheError::OutOfMemoryStoring.to_response(),
    };
    out.extend_from_slice(reply);
    (Step::Done(used + h.vlen), quiet)
}

#[cfg(test)]
mod tests {
    use crate::protocol::testing::*;

    #[test]
    fn set_get_and_conditions() {
        let st = store();
        let r = run(
            &st,
            b"set a 5 0 3\r\nabc\r\nget a\r\nadd a 0 0 1\r\nx\r\nreplace b 0 0 1\r\nx\r\n\
              append a 9 0 2\r\nde\r\nprepend a 0 0 1\r\nZ\r\nget a\r\n",
        );
        assert_eq!(
            s(r),
            "STORED\r\nVALUE a 5 3\r\nabc\r\nEND\r\nNOT_STORED\r\nNOT_STORED\r\n\
             STORED\r\nSTORED\r\nVALUE a 5 6\r\nZabcde\r\nEND\r\n"
        );
    }

    #[test]
    fn cas_flow() {
        let st = store();
        let r = s(run(&st, b"set c 0 0 1\r\n1\r\ngets c\r\n"));
        let cas: u64 = r.split_whitespace().nth(5).unwrap().parse().unwrap();
        let cmd = format!(
            "cas c 0 0 1 {}\r\n2\r\ncas c 0 0 1 {cas}\r\n3\r\ncas q 0 0 1 1\r\nx\r\n",
            cas + 100
        );
        assert_eq!(
            s(run(&st, cmd.as_bytes())),
            "EXISTS\r\nSTORED\r\nNOT_FOUND\r\n"
        );
        let again = format!("cas c 0 0 1 {cas}\r\n4\r\n");
        assert_eq!(s(run(&st, again.as_bytes())), "EXISTS\r\n");
    }

    #[test]
    fn errors_and_noreply_like_memcached() {
        let st = store();
        assert_eq!(
            s(run(&st, b"set a 0 0 1\r\nabc\r\n")),
            "CLIENT_ERROR bad data chunk\r\nERROR\r\n"
        );
        assert_eq!(s(run(&st, b"set a 0 0 1 noreply\r\nxyz\r\n")), "ERROR\r\n");
        assert_eq!(
            s(run(
                &st,
                b"set x 0 0 -1\r\nset x 0 0 abc\r\nset x 0 0\r\nset x 0 0 1 2 3\r\n"
            )),
            "CLIENT_ERROR bad command line format\r\n".repeat(2) + "ERROR\r\nERROR\r\n"
        );
        let long = format!("set {} 0 0 1\r\nx\r\n", "k".repeat(251));
        assert_eq!(
            s(run(&st, long.as_bytes())),
            "CLIENT_ERROR bad command line format\r\nERROR\r\n"
        );
        assert_eq!(
            s(run(&st, b"set k 4294967297 0 1\r\nx\r\nget k\r\n")),
            "STORED\r\nVALUE k 1 1\r\nx\r\nEND\r\n"
        );
    }

    #[test]
    fn too_large_is_refused_before_reading() {
        let st = store();
        assert_eq!(
            s(run(&st, b"set big 0 0 2000000000\r\n")),
            "SERVER_ERROR object too large for cache\r\n"
        );
        let mut v = b"set a 0 0 1\r\nx\r\nset a 0 0 1048576\r\n".to_vec();
        v.extend(std::iter::repeat_n(b'v', 1048576));
        v.extend_from_slice(b"\r\nget a\r\n");
        assert_eq!(
            s(run(&st, &v)),
            "STORED\r\nSERVER_ERROR object too large for cache\r\nEND\r\n"
        );
    }

    #[test]
    fn split_value_waits() {
        let st = store();
        assert_eq!(s(run(&st, b"set a 0 0 10\r\n01234")), "");
    }
}
