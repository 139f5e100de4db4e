//! The classic text protocol and memcached 1.6's meta commands (`meta/`: `mg ms md ma me
//! mn`), one command family per file. `step` takes the unread input of a connection and
//! answers at most one command:
//!
//! - a line ends at "\n" (a "\r" before it is dropped); a line with no "\n" within 2048 bytes
//!   closes the connection unless it is a `get`/`gets` (large multigets), which may reach
//!   `MAX_GET_LINE`;
//! - tokens are split on spaces; like memcached, at most 23 count towards the argument check;
//! - `noreply` silences every reply of the command it ends, errors included, as memcached's does
//!   (the meta `q` flag has its own, narrower rules: see `meta`);
//! - a storage command waits until its whole value is buffered; a value that can never fit is
//!   refused at once and its bytes are skipped as they arrive, never buffered.

mod admin;
mod arithmetic;
mod delete;
mod meta;
mod retrieval;
mod stats;
mod storage;
mod touch;

use crate::error::MemcacheError;
use crate::store::Store;

/// Longest key.
pub const KEY_MAX: usize = 250;
/// A line without "\n" longer than this closes the connection (memcached's 2048).
pub const MAX_LINE: usize = 2048;
/// Longest `get`/`gets` line accepted.
pub const MAX_GET_LINE: usize = 1 << 20;
/// memcached's MAX_TOKENS (command, 22 arguments, terminal).
const MAX_TOKENS: usize = 24;

/// What the protocol needs from its surroundings.
#[derive(Debug)]
pub struct Ctx<'a> {
    /// The shared store.
    pub store: &'a Store,
    /// Unix seconds for this batch.
    pub now: u32,
    /// Server facts for `stats`.
    pub info: &'a ServerInfo,
    /// Length of the output buffer when this batch started (a `get` with a bad key drops
    /// the replies queued since, like memcached).
    pub batch_start: usize,
    /// A multiget pauses (`Step::Partial`) once the output passes this many bytes.
    pub out_limit: usize,
    /// Keys of the multiget at the start of the input already answered (after a
    /// `Step::Partial`); 0 otherwise.
    pub resume: usize,
}

/// Facts `stats` reports that the store does not know.
#[derive(Debug, Clone)]
pub struct ServerInfo {
    /// `max_connections`.
    pub max_connections: u64,
    /// `memory_limit`.
    pub memory_limit: u64,
    /// `item_size_max`.
    pub item_size_max: u64,
    /// `evictions`.
    pub evictions: bool,
    /// Idle timeout in seconds.
    pub idle_timeout: u64,
}

/// What one step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// A command was answered; this many input bytes were used.
    Done(usize),
    /// The command is incomplete: read more.
    NeedMore,
    /// Use `n` bytes, then skip `skip` more as they arrive (a refused value).
    Skip(usize, usize),
    /// Close the connection after writing what is queued.
    Close(usize),
    /// A multiget answered this many keys and paused with its output past
    /// `Ctx::out_limit`: write the output, then call again on the same input with
    /// `Ctx::resume` set to this (so one command never buffers more than one item past
    /// the limit).
    Partial(usize),
}

/// The tokens of one line, memcached style: the first `MAX_TOKENS - 1` in a fixed array (no
/// allocation per command); a multiget's further keys are read from the line by `from`.
#[derive(Debug)]
pub struct Tokens<'a> {
    line: &'a [u8],
    first: [&'a [u8]; MAX_TOKENS - 1],
    /// Tokens held in `first`.
    held: usize,
    /// memcached's count: min(tokens, 23) + the terminal token.
    pub n: usize,
}

/// The space-separated tokens of `line`.
fn words(line: &[u8]) -> impl Iterator<Item = &[u8]> + Clone {
    line.split(|b| *b == b' ').filter(|t| !t.is_empty())
}

impl<'a> Tokens<'a> {
    fn new(line: &'a [u8]) -> Self {
        let mut first: [&[u8]; MAX_TOKENS - 1] = [b""; MAX_TOKENS - 1];
        let mut held = 0;
        for (slot, w) in first.iter_mut().zip(words(line)) {
            *slot = w;
            held += 1;
        }
        Self {
            line,
            first,
            held,
            n: held + 1,
        }
    }

    /// The counted tokens (at most `MAX_TOKENS - 1`).
    pub fn counted(&self) -> &[&'a [u8]] {
        &self.first[..self.held]
    }

    /// Every token from index `i` on, past the counted ones too (a multiget's keys).
    pub fn from(&self, i: usize) -> impl Iterator<Item = &'a [u8]> + Clone {
        words(self.line).skip(i)
    }

    /// Token `i` (empty past the end).
    pub fn get(&self, i: usize) -> &'a [u8] {
        self.counted().get(i).copied().unwrap_or(b"")
    }

    /// memcached's `set_noreply_maybe`: the last counted token is `noreply`.
    pub fn noreply(&self) -> bool {
        self.n >= 2 && self.get(self.n - 2) == b"noreply"
    }
}

/// Answers at most one command from `input`, appending replies to `out`.
pub fn step(input: &[u8], out: &mut Vec<u8>, cx: &Ctx<'_>) -> Step {
    let Some(nl) = memchr(b'\n', input) else {
        if input.len() > MAX_LINE {
            let t = input.iter().position(|b| *b != b' ').unwrap_or(input.len());
            let rest = &input[t..];
            let get = rest.starts_with(b"get ") || rest.starts_with(b"gets ");
            if t > 100 || !get || input.len() > MAX_GET_LINE {
                return Step::Close(0);
            }
        }
        return Step::NeedMore;
    };
    let mut line = &input[..nl];
    if line.len() > 1 && line.ends_with(b"\r") {
        line = &line[..line.len() - 1];
    }
    // memcached handles the line as a C string.
    if let Some(z) = memchr(0, line) {
        line = &line[..z];
    }
    let used = nl + 1;
    let t = Tokens::new(line);
    let mark = out.len();
    let (step, quiet) = dispatch(&t, used, input, out, cx);
    if quiet {
        out.truncate(mark);
    }
    step
}

/// Runs one command; returns the step and whether its replies are silenced (noreply).
fn dispatch(
    t: &Tokens<'_>,
    used: usize,
    input: &[u8],
    out: &mut Vec<u8>,
    cx: &Ctx<'_>,
) -> (Step, bool) {
    let cmd = t.get(0);
    let err = |out: &mut Vec<u8>, e: MemcacheError| {
        out.extend_from_slice(e.to_response());
        (Step::Done(used), false)
    };
    if t.n < 2 || cmd.len() < 2 {
        return err(out, MemcacheError::UnknownCommand);
    }
    match cmd {
        b"get" | b"bget" | b"gets" | b"gat" | b"gats" if t.n >= 3 => {
            match retrieval::run(t, out, cx) {
                Some(done) => (Step::Partial(done), false),
                None => (Step::Done(used), false),
            }
        }
        b"set" | b"add" | b"replace" | b"append" | b"prepend" if t.n == 6 || t.n == 7 => {
            storage::run(t, used, input, out, cx)
        }
        b"cas" if t.n == 7 || t.n == 8 => storage::run(t, used, input, out, cx),
        b"incr" | b"decr" if t.n == 4 || t.n == 5 => arithmetic::run(t, used, out, cx),
        b"delete" if (3..=5).contains(&t.n) => delete::run(t, used, out, cx),
        b"touch" if t.n == 4 || t.n == 5 => touch::run(t, used, out, cx),
        b"flush_all" if (2..=4).contains(&t.n) => admin::flush_all(t, used, out, cx),
        b"verbosity" if t.n == 3 || t.n == 4 => admin::verbosity(t, used, out),
        b"version" => admin::version(used, out),
        b"quit" => (Step::Close(used), false),
        b"shutdown" => {
            out.extend_from_slice(b"ERROR: shutdown not enabled\r\n");
            (Step::Done(used), false)
        }
        [b'm', _] => meta::run(t, used, input, out, cx),
        b"stats" => stats::run(t, used, out, cx),
        _ => err(out, MemcacheError::UnknownCommand),
    }
}

fn memchr(b: u8, s: &[u8]) -> Option<usize> {
    s.iter().position(|x| *x == b)
}

#[cfg(test)]
pub(crate) mod testing {
    //! Runs byte strings through `step` against a small private store.
    use super::*;
    use crate::store::StoreConfig;

    pub fn store() -> Store {
        Store::new(&StoreConfig {
            memory_limit: 8 << 20,
            item_size_max: 1 << 20,
            evictions: true,
            backend: crate::store::BackendKind::Shm,
        })
        .unwrap()
    }

    pub fn info() -> ServerInfo {
        ServerInfo {
            max_connections: 1024,
            memory_limit: 8 << 20,
            item_size_max: 1 << 20,
            evictions: true,
            idle_timeout: 0,
        }
    }

    /// Feeds all of `input` (as one batch) and returns the replies.
    pub fn run(st: &Store, input: &[u8]) -> Vec<u8> {
        run_limited(st, input, usize::MAX)
    }

    /// As `run`, with multigets paused past `out_limit` bytes of output and resumed.
    pub fn run_limited(st: &Store, input: &[u8], out_limit: usize) -> Vec<u8> {
        let info = info();
        let mut cx = Ctx {
            store: st,
            now: crate::store::now(),
            info: &info,
            batch_start: 0,
            out_limit,
            resume: 0,
        };
        let mut out = Vec::new();
        let mut pos = 0;
        let mut skip = 0;
        while pos < input.len() {
            if skip > 0 {
                let n = skip.min(input.len() - pos);
                pos += n;
                skip -= n;
                continue;
            }
            let got = step(&input[pos..], &mut out, &cx);
            cx.resume = 0;
            match got {
                Step::Partial(done) => cx.resume = done,
                Step::Done(n) => pos += n,
                Step::Skip(n, s) => {
                    pos += n;
                    skip = s;
                }
                Step::NeedMore => break,
                Step::Close(_) => {
                    out.extend_from_slice(b"<CLOSED>");
                    break;
                }
            }
        }
        out
    }

    pub fn s(b: Vec<u8>) -> String {
        String::from_utf8_lossy(&b).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::testing::*;

    #[test]
    fn unknown_and_short_lines() {
        let st = store();
        assert_eq!(
            s(run(&st, b"\r\n\n \r\nGET a\r\nx\r\n")),
            "ERROR\r\n".repeat(5)
        );
    }

    #[test]
    fn long_line_without_newline_closes() {
        let st = store();
        let mut l = vec![b'x'; 3000];
        l.extend_from_slice(b"\r\n");
        // a newline present: processed as memcached does (unknown command)
        assert_eq!(s(run(&st, &l)), "ERROR\r\n");
        assert_eq!(s(run(&st, &[b'x'; 3000])), "<CLOSED>");
        let mut g = b"get ".to_vec();
        g.extend_from_slice(&[b'k'; 3000]);
        assert_eq!(s(run(&st, &g)), "");
    }

    #[test]
    fn quit_closes() {
        let st = store();
        assert_eq!(s(run(&st, b"quit\r\nversion\r\n")), "<CLOSED>");
    }
}
