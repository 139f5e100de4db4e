//! `me <key> [b]`: one debug line about an item without counting it as a fetch,
//! `ME <key> exp=<s> la=<s> cas=<n> fetch=<yes|no> cls=<n> size=<n>`, or `EN`.
//!
//! As memcached prints them: `exp` is now minus the expiry (negative while the item lives,
//! `-1` for never), `la` seconds since the last access. `size` and `cls` are what memcached
//! would use for this item (see `store::slabs`); zeus stores items in log segments, not
//! slabs, so these two describe memcached's accounting, not zeus's memory.

use super::flags::BAD_FORMAT;
use super::{base64, error};
use crate::protocol::{Ctx, Tokens, KEY_MAX};
use crate::store::meta;
use crate::store::slabs::{class_of, ntotal};

/// Runs `me`.
pub fn run(t: &Tokens<'_>, out: &mut Vec<u8>, cx: &Ctx<'_>) {
    let raw = t.get(1);
    if t.n < 3 || raw.len() > KEY_MAX {
        return error(out, BAD_FORMAT);
    }
    let key = if t.n >= 4 && t.get(2) == b"b" {
        match base64::decode(raw) {
            Some(k) => k,
            None => return error(out, BAD_FORMAT),
        }
    } else {
        raw.to_vec()
    };
    let now = cx.now;
    let Some(m) = cx.store.entry(&key, now, |e| e.meta()) else {
        return out.extend_from_slice(b"EN\r\n");
    };
    out.extend_from_slice(b"ME ");
    if m.marks & meta::KEY_BINARY != 0 {
        base64::encode(&key, out);
    } else {
        out.extend_from_slice(&key);
    }
    let exp = if m.exptime == 0 {
        -1
    } else {
        now.wrapping_sub(m.exptime) as i32
    };
    let size = ntotal(key.len(), m.len + 2, m.flags);
    let line = format!(
        " exp={exp} la={} cas={} fetch={} cls={} size={size}\r\n",
        now.wrapping_sub(m.atime),
        m.cas,
        if m.marks & meta::FETCHED != 0 {
            "yes"
        } else {
            "no"
        },
        class_of(size),
    );
    out.extend_from_slice(line.as_bytes());
}

#[cfg(test)]
mod tests {
    use crate::protocol::testing::*;

    #[test]
    fn debug_line() {
        let st = store();
        let r = s(run(
            &st,
            b"me a\r\nme\r\nms a 3 T0\r\nabc\r\nme a\r\nmg a\r\nme a b\r\nme YQ== b\r\n",
        ));
        let cas = r.split("cas=").nth(1).unwrap().split(' ').next().unwrap();
        assert_eq!(
            r,
            format!(
                "EN\r\nCLIENT_ERROR bad command line format\r\nHD\r\n\
                 ME a exp=-1 la=0 cas={cas} fetch=no cls=1 size=63\r\nHD\r\n\
                 CLIENT_ERROR bad command line format\r\n\
                 ME a exp=-1 la=0 cas={cas} fetch=yes cls=1 size=63\r\n"
            )
        );
    }
}
