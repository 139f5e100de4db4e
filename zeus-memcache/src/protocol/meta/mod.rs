//! memcached 1.6's meta commands, answered byte for byte as memcached 1.6.18 answers them:
//! `mg` (get), `ms` (set), `md` (delete), `ma` (arithmetic), `me` (debug) and `mn` (no-op).
//!
//! Common rules, all from memcached:
//! - `<cmd> <key> <flag>*`; a flag is one character, maybe followed by a value (`T30`);
//!   at most 20 tokens counting memcached's terminal one, so 17 flags (16 for ms, whose
//!   length takes a token);
//! - reply flags come in the order the client gave them, and flags that change the item
//!   (`T`, `N`) act where they stand: `mg k T30 t` shows the new TTL, `mg k t T30` the old;
//! - `q` drops the nominal reply (`EN` for mg, `HD` for ms md ma), never an error, nor `NF`
//!   from md/ma or `EX`/`NS`; `mn` then marks the end of a quiet batch;
//! - `O<opaque>` (up to 32 bytes) is echoed, `k` echoes the key, `b` means the key is given in
//!   base64 (and echoed so).
//!
//! memcached 1.6.18 knows no `E` (explicit new CAS, a later addition), no `x` on md and no
//! `S` on ms: zeus refuses them as 1.6.18 does (`CLIENT_ERROR invalid flag`, or
//! `CLIENT_ERROR invalid or duplicate flag` from md and ma). `s` on ms, `P` and `L` (proxy
//! hints) are accepted and ignored, as in 1.6.18.
//!
//! One memcached behaviour is not reproduced: when an `mg v`/`get` reply still holds an item
//! in the same batch, memcached's `ma`/`incr` cannot update it in place and stores a new,
//! unpadded value; zeus always updates in place (padding with spaces, as memcached does when
//! nothing holds the item).

mod arith;
mod base64;
mod debug;
mod delete;
mod flags;
mod get;
mod set;

use super::{Ctx, Step, Tokens, KEY_MAX};
use crate::error::MemcacheError;

/// memcached's MFLAG_MAX_OPT_LENGTH: more tokens than this (terminal included) is refused.
const MAX_TOKENS: usize = 20;
/// memcached's MFLAG_MAX_OPAQUE_LENGTH (the `O` included).
const MAX_OPAQUE: usize = 32;
/// An `O` token over `MAX_OPAQUE` bytes.
const OPAQUE_TOO_LONG: &str = "CLIENT_ERROR opaque token too long";

/// Runs a two-letter command starting with `m`.
pub fn run(
    t: &Tokens<'_>,
    used: usize,
    input: &[u8],
    out: &mut Vec<u8>,
    cx: &Ctx<'_>,
) -> (Step, bool) {
    let done = (Step::Done(used), false);
    match t.get(0).get(1) {
        Some(b'g') => get::run(t, out, cx),
        Some(b's') => return set::run(t, used, input, out, cx),
        Some(b'd') => delete::run(t, out, cx),
        Some(b'a') => arith::run(t, out, cx),
        Some(b'e') => debug::run(t, out, cx),
        Some(b'n') => out.extend_from_slice(b"MN\r\n"),
        _ => out.extend_from_slice(MemcacheError::UnknownCommand.to_response()),
    }
    done
}

/// The flag tokens from index `start` (after the key, or the length for `ms`).
fn flag_tokens<'a, 'b>(t: &'b Tokens<'a>, start: usize) -> &'b [&'a [u8]] {
    let end = (t.n - 1).min(t.counted().len());
    t.counted().get(start..end).unwrap_or(&[])
}

/// What `mg`, `md` and `ma` check before their flags, in memcached's order: a key is given
/// (`ERROR`), not over 250 bytes, not too many flags (`too_long`); then the flags parse, whose
/// error is `flag_error` when given (md, ma) or the parser's own (mg). `None` once the error
/// reply is written.
fn key_and_flags<'a, 'b>(
    t: &'b Tokens<'a>,
    out: &mut Vec<u8>,
    cx: &Ctx<'_>,
    too_long: &str,
    flag_error: Option<&str>,
) -> Option<(&'b [&'a [u8]], flags::Flags)> {
    if t.n < 3 {
        out.extend_from_slice(b"ERROR\r\n");
        return None;
    }
    let key = t.get(1);
    if key.len() > KEY_MAX {
        error(out, flags::BAD_FORMAT);
        return None;
    }
    if t.n > MAX_TOKENS {
        error(out, too_long);
        return None;
    }
    let toks = flag_tokens(t, 2);
    match flags::parse(key, toks, cx.store, cx.now) {
        Ok(f) => Some((toks, f)),
        Err(e) => {
            error(out, flag_error.unwrap_or(e));
            None
        }
    }
}

/// Appends an error line.
fn error(out: &mut Vec<u8>, msg: &str) {
    out.extend_from_slice(msg.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// Appends " <c><n>".
fn flag_num(out: &mut Vec<u8>, c: u8, n: u64) {
    out.push(b' ');
    out.push(c);
    out.extend_from_slice(n.to_string().as_bytes());
}

/// Appends " k<key>", or " k<base64> b" for a binary key.
fn push_key(out: &mut Vec<u8>, key: &[u8], binary: bool) {
    out.extend_from_slice(b" k");
    if binary {
        base64::encode(key, out);
        out.extend_from_slice(b" b");
    } else {
        out.extend_from_slice(key);
    }
}

/// Appends " <O-token>", or fails when it is too long.
fn push_opaque(out: &mut Vec<u8>, tok: &[u8]) -> Result<(), &'static str> {
    if tok.len() > MAX_OPAQUE {
        return Err(OPAQUE_TOO_LONG);
    }
    out.push(b' ');
    out.extend_from_slice(tok);
    Ok(())
}

/// The `O` and `k` flags of a reply without an item (EN, NF, EX, NS).
fn push_opaque_and_key(
    out: &mut Vec<u8>,
    toks: &[&[u8]],
    key: &[u8],
    binary: bool,
) -> Result<(), &'static str> {
    for tok in toks {
        match tok[0] {
            b'O' => push_opaque(out, tok)?,
            b'k' => push_key(out, key, binary),
            _ => {}
        }
    }
    Ok(())
}

/// Appends " t<remaining TTL>" (`-1` for never).
fn push_ttl(out: &mut Vec<u8>, exptime: u32, now: u32) {
    if exptime == 0 {
        out.extend_from_slice(b" t-1");
    } else {
        flag_num(out, b't', u64::from(exptime.wrapping_sub(now)));
    }
}

#[cfg(test)]
mod tests {
    use crate::protocol::testing::*;

    #[test]
    fn dispatch_and_noop() {
        let st = store();
        assert_eq!(
            s(run(&st, b"mn\r\nmz a\r\nmnx\r\n")),
            "MN\r\nERROR\r\nERROR\r\n"
        );
    }

    #[test]
    fn random_meta_lines_never_panic() {
        let st = store();
        let cmds = ["mg", "ms", "md", "ma", "me", "mn"];
        let toks = [
            "k", "Zm9v", "b", "v", "q", "T0", "T-1", "Tx", "N30", "R5", "C1", "C0", "I", "MA",
            "MP", "ME", "M-", "MD", "D5", "J9", "F1", "O1", "s", "t", "c", "f", "l", "h", "u",
            "E1", "0", "1", "2", "=", "\u{e9}", "x",
        ];
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = |n: usize| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % n as u64) as usize
        };
        let mut input = String::new();
        for _ in 0..3000 {
            input.push_str(cmds[next(cmds.len())]);
            for _ in 0..next(8) {
                input.push(' ');
                input.push_str(toks[next(toks.len())]);
            }
            input.push_str("\r\n");
            if next(3) == 0 {
                input.push_str("ab\r\n");
            }
        }
        let r = s(run(&st, input.as_bytes()));
        assert!(!r.contains("<CLOSED>"));
        assert!(r.matches("\r\n").count() > 2000, "ran through: {}", r.len());
    }

    #[test]
    fn too_many_flags() {
        let st = store();
        let many = (0..19).map(|i| format!(" O{i}")).collect::<String>();
        assert_eq!(
            s(run(&st, format!("mg a{many}\r\nmd a{many}\r\n").as_bytes())),
            "CLIENT_ERROR options flags are too long\r\nCLIENT_ERROR options flags too long\r\n"
        );
    }
}
