//! The flags of a meta command, read once before the command runs, as memcached's pre-parse
//! does: a repeated flag (or a byte over 126) and an unknown flag stop at once; a bad value is
//! remembered and parsing goes on, the last error message winning.
//!
//! Flags that only shape the reply (`k s t c f O l h` …) are re-read in order by each command,
//! because their order is the reply's order and some (`T`, `N`) change the item mid-way.

use super::base64;
use crate::number::{strtol32, strtoul32, strtoull};
use crate::store::Store;

/// Default error text.
pub const BAD_FORMAT: &str = "CLIENT_ERROR bad command line format";
/// Value error text of `N T R C`.
const BAD_TOKEN: &str = "CLIENT_ERROR bad token in command line format";

/// What the flags ask for.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Flags {
    /// `b`: the key was base64; it is decoded in `key`.
    pub binary: bool,
    /// `q`: leave out the nominal replies.
    pub quiet: bool,
    /// `v`: return the value.
    pub value: bool,
    /// `u`: do not count a fetch (no bump).
    pub no_update: bool,
    /// `N<ttl>`: create on miss, with this absolute expiry.
    pub vivify: Option<u32>,
    /// `T<ttl>`: new absolute expiry.
    pub ttl: Option<u32>,
    /// `R<ttl>`: win a recache token when the item expires before this.
    pub recache: Option<u32>,
    /// `F<flags>`: client flags (ms).
    pub client_flags: u32,
    /// `C<cas>`: compare with this CAS unique.
    pub cas: Option<u64>,
    /// `M<c>`: mode switch (ms, ma).
    pub mode: Option<u8>,
    /// `D<n>`: delta (ma), default 1.
    pub delta: u64,
    /// `J<n>`: initial value on autovivify (ma), default 0.
    pub initial: u64,
    /// `I`: invalidate (mark stale) instead of deleting or refusing.
    pub invalidate: bool,
    /// The key, base64-decoded when `b` is given.
    pub key: Vec<u8>,
}

/// memcached's `realtime(EXPTIME_TO_POSITIVE_TIME(v))`: a negative TTL is already expired.
fn ttl(st: &Store, v: i32, now: u32) -> u32 {
    st.expiry(v, now)
}

/// Records a value error: `why`, or else keeps the message already recorded.
fn fail(e: &mut Option<&'static str>, why: Option<&'static str>) {
    *e = Some(why.unwrap_or(e.unwrap_or(BAD_FORMAT)));
}

/// Reads `tokens` (the flags after the key, or after the length for `ms`).
pub fn parse(key: &[u8], tokens: &[&[u8]], st: &Store, now: u32) -> Result<Flags, &'static str> {
    let mut f = Flags {
        delta: 1,
        key: key.to_vec(),
        ..Flags::default()
    };
    let mut seen = [false; 127];
    let mut err: Option<&'static str> = None;
    for tok in tokens {
        let o = tok[0];
        if o >= 127 || seen[o as usize] {
            return Err("CLIENT_ERROR duplicate flag");
        }
        seen[o as usize] = true;
        let arg = &tok[1..];
        match o {
            b'b' => {
                f.binary = true;
                match base64::decode(key) {
                    Some(k) => f.key = k,
                    None => {
                        f.key.clear();
                        fail(&mut err, Some("CLIENT_ERROR error decoding key"));
                    }
                }
            }
            b'N' | b'T' | b'R' => match strtol32(arg) {
                Some(v) => {
                    let at = Some(ttl(st, v, now));
                    match o {
                        b'N' => f.vivify = at,
                        b'T' => f.ttl = at,
                        _ => f.recache = at,
                    }
                }
                None => fail(&mut err, Some(BAD_TOKEN)),
            },
            b'l' | b'h' | b'O' | b'P' | b'L' | b'k' | b's' | b't' | b'c' | b'f' => {}
            b'v' => f.value = true,
            b'u' => f.no_update = true,
            b'q' => f.quiet = true,
            b'F' => match strtoul32(arg) {
                Some(v) => f.client_flags = v,
                None => fail(&mut err, None),
            },
            b'C' => match strtoull(arg) {
                Some(v) => f.cas = Some(v),
                None => fail(&mut err, Some(BAD_TOKEN)),
            },
            b'M' => {
                if tok.len() != 2 {
                    fail(&mut err, Some("CLIENT_ERROR incorrect length for M token"));
                } else {
                    f.mode = Some(tok[1]);
                }
            }
            b'J' => match strtoull(arg) {
                Some(v) => f.initial = v,
                None => fail(&mut err, Some("CLIENT_ERROR invalid numeric initial value")),
            },
            b'D' => match strtoull(arg) {
                Some(v) => f.delta = v,
                None => fail(&mut err, Some("CLIENT_ERROR invalid numeric delta value")),
            },
            b'I' => f.invalidate = true,
            _ => return Err("CLIENT_ERROR invalid flag"),
        }
    }
    match err {
        Some(e) => Err(e),
        None => Ok(f),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::testing::store;

    fn p(toks: &[&str]) -> Result<Flags, &'static str> {
        let t: Vec<&[u8]> = toks.iter().map(|s| s.as_bytes()).collect();
        parse(b"Zm9v", &t, &store(), 1000)
    }

    #[test]
    fn reads_values_and_switches() {
        let f = p(&["b", "v", "q", "T0", "C5", "MS", "D7", "J9", "F3", "I", "u"]).unwrap();
        assert_eq!(f.key, b"foo");
        assert!(f.binary && f.value && f.quiet && f.invalidate && f.no_update);
        assert_eq!(
            (f.ttl, f.cas, f.mode, f.delta, f.initial, f.client_flags),
            (Some(0), Some(5), Some(b'S'), 7, 9, 3)
        );
        assert_eq!(p(&["T-1"]).unwrap().ttl, Some(1));
        assert_eq!(p(&[]).unwrap().delta, 1);
    }

    #[test]
    fn errors_like_memcached() {
        assert_eq!(p(&["v", "v"]), Err("CLIENT_ERROR duplicate flag"));
        assert_eq!(p(&["T1", "Tx"]), Err("CLIENT_ERROR duplicate flag"));
        assert_eq!(p(&["x"]), Err("CLIENT_ERROR invalid flag"));
        assert_eq!(p(&["E5"]), Err("CLIENT_ERROR invalid flag"));
        assert_eq!(p(&["Tx"]), Err(BAD_TOKEN));
        assert_eq!(p(&["Fx"]), Err(BAD_FORMAT));
        assert_eq!(
            p(&["Dx", "Tx"]),
            Err("CLIENT_ERROR bad token in command line format")
        );
        assert_eq!(
            p(&["MSS"]),
            Err("CLIENT_ERROR incorrect length for M token")
        );
        assert_eq!(
            p(&["Jx"]),
            Err("CLIENT_ERROR invalid numeric initial value")
        );
        assert_eq!(p(&["Tx", "x"]), Err("CLIENT_ERROR invalid flag"));
    }
}
