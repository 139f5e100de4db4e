//! The process title seen by `ps` and `top`: this process's argument area rewritten in place
//! (what `/proc/PID/cmdline` shows), and the thread name (`comm`, 15 bytes, `prctl(PR_SET_NAME)`).
//!
//! The writable region is `[arg_start, arg_end)` as the kernel reports it in `/proc/self/stat`
//! (fields 48 and 49): the original argv strings. When the environment strings follow them
//! (`env_start == arg_end`, fields 50 and 51) and the process runs a single thread, they are
//! first copied to the heap and `environ` is pointed at the copies (as nginx and PostgreSQL
//! do), which extends the region over them, up to `MAX_TITLE` bytes; otherwise a title is cut
//! to the argv length. Invariants:
//! - nothing is written outside the region, and its last byte stays NUL, so every C string
//!   that pointed into it (argv[i], glibc's `program_invocation_name`) still ends inside it;
//! - environment strings are moved before any byte over them is written, and only while the
//!   process has one thread (nobody can be reading `environ` meanwhile);
//! - writers are serialised by one mutex; a title change is a `memcpy` plus clearing what the
//!   previous title used beyond the new one: no system call (the region is found once).
//!
//! Consequences, documented for library users: once a title is set, `std::env::args()` returns
//! the title (read the arguments at start, as `main` does), and `/proc/PID/environ` shows the
//! cleared area. A forked child inherits the region and the title; `reset` restores the
//! original command line (a scheduler that has no title plugin must not read "manager").

use std::ffi::{CStr, CString};
use std::sync::{Mutex, PoisonError};

/// Longest title kept when the region extends over the environment.
const MAX_TITLE: usize = 512;
/// An argument area larger than this is not believed (the kernel's ARG_MAX is 2 MiB by default).
const MAX_AREA: usize = 4 << 20;
/// `comm` holds 15 bytes and a NUL.
const COMM_LEN: usize = 15;

/// Why a title cannot be set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TitleError {
    /// `/proc/self/stat` could not be read.
    #[error("cannot read /proc/self/stat: {0}")]
    Stat(std::io::ErrorKind),
    /// The kernel reports no usable argument area.
    #[error(
        "/proc/self/stat reports no usable argument area (arg_start {start:#x}, arg_end {end:#x})"
    )]
    NoArea {
        /// `arg_start`.
        start: usize,
        /// `arg_end`.
        end: usize,
    },
    /// `prctl(PR_SET_NAME)` failed.
    #[error("prctl(PR_SET_NAME): {0}")]
    Name(nix::errno::Errno),
}

/// Addresses from `/proc/self/stat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Bounds {
    arg_start: usize,
    arg_end: usize,
    env_start: usize,
    env_end: usize,
}

/// Fields 48 to 51 of a `/proc/PID/stat` line. The command name (field 2) may hold spaces and
/// parentheses, so fields are counted from the last `)`.
fn parse_stat(stat: &str) -> Option<Bounds> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3.
    let field = |n: usize| fields.get(n - 3)?.parse::<usize>().ok();
    Some(Bounds {
        arg_start: field(48)?,
        arg_end: field(49)?,
        env_start: field(50)?,
        env_end: field(51)?,
    })
}

fn read_bounds() -> Result<Bounds, TitleError> {
    let stat =
        std::fs::read_to_string("/proc/self/stat").map_err(|e| TitleError::Stat(e.kind()))?;
    let no_area = |b: Option<Bounds>| TitleError::NoArea {
        start: b.map_or(0, |b| b.arg_start),
        end: b.map_or(0, |b| b.arg_end),
    };
    let b = parse_stat(&stat).ok_or_else(|| no_area(None))?;
    if b.arg_start == 0 || b.arg_end <= b.arg_start || b.arg_end - b.arg_start > MAX_AREA {
        return Err(no_area(Some(b)));
    }
    Ok(b)
}

/// How many bytes of title the argv strings alone can hold (no side effect: the region is not
/// claimed and the environment is not moved). Used to check support before anything starts.
pub fn probe() -> Result<usize, TitleError> {
    read_bounds().map(|b| b.arg_end - b.arg_start - 1)
}

/// The claimed region.
struct Area {
    start: usize,
    len: usize,
    /// Bytes `[0, dirty)` may be non-NUL; every byte from `dirty` on is NUL.
    dirty: usize,
    /// The argv strings as the kernel laid them out, for `reset`.
    original: Vec<u8>,
    /// A title has been written (here or in a process this one was forked from).
    titled: bool,
}

static AREA: Mutex<Option<Result<Area, TitleError>>> = Mutex::new(None);
/// The process name before the first `set_thread_name`, for `reset`.
static ORIGINAL_NAME: Mutex<Option<CString>> = Mutex::new(None);

impl Area {
    fn claim() -> Result<Self, TitleError> {
        let b = read_bounds()?;
        let arg_len = b.arg_end - b.arg_start;
        // SAFETY: `[arg_start, arg_end)` is this process's argv strings as the kernel reports
        // them: mapped and readable for the life of the process, and nothing writes it while
        // the AREA lock (held by our caller) is taken.
        let original = unsafe { std::slice::from_raw_parts(b.arg_start as *const u8, arg_len) };
        let original = original.to_vec();
        let mut len = arg_len;
        let single = super::fork::thread_count().is_ok_and(|n| n == 1);
        if b.env_start == b.arg_end && b.env_end > b.env_start && single {
            relocate_environ(b.env_start..b.env_end);
            len = (b.env_end - b.arg_start).min(MAX_TITLE).max(arg_len);
        }
        Ok(Self {
            start: b.arg_start,
            len,
            dirty: len,
            original,
            titled: false,
        })
    }

    fn write(&mut self, title: &[u8]) {
        let n = title.len().min(self.len - 1);
        // SAFETY: `[start, start + len)` is the argv strings, possibly extended over
        // environment strings that `relocate_environ` has already moved (nothing refers to
        // them any more): mapped read-write for the life of the process. The AREA lock held
        // by the caller serialises every writer, and no Rust reference into the region exists
        // (std keeps raw argv pointers only, and zeus does not read them after start).
        let area = unsafe { std::slice::from_raw_parts_mut(self.start as *mut u8, self.len) };
        area[..n].copy_from_slice(&title[..n]);
        if self.dirty > n {
            area[n..self.dirty].fill(0);
        }
        self.dirty = n;
    }
}

/// Points every `environ` entry that lies in `range` at a heap copy of its string, so the
/// region can be overwritten. Must run while the process has a single thread.
fn relocate_environ(range: std::ops::Range<usize>) {
    // SAFETY: a plain read of libc's `environ` pointer; the process is single-threaded
    // (checked by the caller), so no `setenv` can replace it concurrently.
    let env = unsafe { libc::environ };
    if env.is_null() {
        return;
    }
    for i in 0.. {
        let slot = env.wrapping_add(i);
        // SAFETY: `environ` is a NULL-terminated array and the loop stops at its terminator,
        // so `slot` is one of its elements.
        let s = unsafe { slot.read() };
        if s.is_null() {
            break;
        }
        if !range.contains(&(s as usize)) {
            continue; // set by setenv: already on the heap
        }
        // SAFETY: `s` is an environment string laid out by the kernel inside `range`:
        // NUL-terminated within it, readable, and not yet overwritten.
        let copy: CString = unsafe { CStr::from_ptr(s) }.to_owned();
        // SAFETY: `slot` is an element of the writable `environ` array (see above); the
        // process is single-threaded, so no reader sees a torn pointer. The copy is leaked on
        // purpose: libc keeps using it as the variable's storage.
        unsafe { slot.write(copy.into_raw()) };
    }
}

fn with_area<T>(f: impl FnOnce(&mut Area) -> T) -> Result<T, TitleError> {
    let mut guard = AREA.lock().unwrap_or_else(PoisonError::into_inner);
    let state = guard.get_or_insert_with(Area::claim);
    match state {
        Ok(area) => Ok(f(area)),
        Err(e) => Err(e.clone()),
    }
}

/// Sets the title `ps` shows (cut to the region, at a character boundary). The first call in
/// a process reads `/proc/self/stat`; later calls are a copy into memory.
pub fn set(title: &str) -> Result<(), TitleError> {
    with_area(|area| {
        let cut = floor_char_boundary(title, area.len - 1);
        area.write(&title.as_bytes()[..cut]);
        area.titled = true;
    })
}

/// Restores the original command line and process name if a title was set (in this process or
/// inherited). Call it from the main thread.
pub fn reset() {
    if let Some(name) = ORIGINAL_NAME
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .as_ref()
    {
        let _ = nix::sys::prctl::set_name(name);
    }
    let mut guard = AREA.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(Ok(area)) = guard.as_mut() {
        if area.titled {
            let original = std::mem::take(&mut area.original);
            area.write(&original);
            area.original = original;
            area.titled = false;
        }
    }
}

/// Sets the calling thread's name (`comm`, what `top` shows), cut to 15 bytes. For the main
/// thread this is the process name. One system call: not for a per-task path.
pub fn set_thread_name(name: &str) -> Result<(), TitleError> {
    let clean: String = name.chars().filter(|&c| c != '\0').collect();
    let cut = floor_char_boundary(&clean, COMM_LEN);
    let c = CString::new(&clean[..cut]).expect("invariant: NUL bytes were removed");
    let mut original = ORIGINAL_NAME.lock().unwrap_or_else(PoisonError::into_inner);
    if original.is_none() {
        *original = nix::sys::prctl::get_name().ok();
    }
    nix::sys::prctl::set_name(&c).map_err(TitleError::Name)
}

/// The largest `i <= max` that is a char boundary of `s`.
fn floor_char_boundary(s: &str, max: usize) -> usize {
    if s.len() <= max {
        return s.len();
    }
    (0..=max)
        .rev()
        .find(|&i| s.is_char_boundary(i))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_from_the_last_parenthesis() {
        let mut line = String::from("42 (zeus: a) b) (c) S");
        for n in 4..=52 {
            line.push_str(&format!(" {}", n * 10));
        }
        let b = parse_stat(&line).unwrap();
        assert_eq!(
            b,
            Bounds {
                arg_start: 480,
                arg_end: 490,
                env_start: 500,
                env_end: 510
            }
        );
        assert_eq!(parse_stat("1 (x) S 2 3"), None);
    }

    #[test]
    fn this_process_has_an_argument_area() {
        let b = read_bounds().unwrap();
        assert!(b.arg_end > b.arg_start);
        assert!(probe().unwrap() > 0);
    }

    #[test]
    fn cuts_keep_characters_whole() {
        assert_eq!(floor_char_boundary("abc", 5), 3);
        assert_eq!(floor_char_boundary("aé", 2), 1);
        assert_eq!(floor_char_boundary("aé", 3), 3);
    }

    #[test]
    fn a_title_replaces_the_command_line_and_reset_restores_it() {
        let cmdline = || std::fs::read("/proc/self/cmdline").unwrap();
        let before = cmdline();
        set("zeus: unit test [RUNNING] 1 task").unwrap();
        let now = cmdline();
        let first = now.split(|&b| b == 0).next().unwrap();
        let room = probe().unwrap();
        let want = &b"zeus: unit test [RUNNING] 1 task"[..];
        assert_eq!(first, &want[..want.len().min(room)]);
        set("zeus: x").unwrap();
        let now = cmdline();
        assert!(now.starts_with(b"zeus: x\0"), "{now:?}");
        assert!(now[7..].iter().all(|&b| b == 0), "older title cleared");
        reset();
        assert_eq!(cmdline(), before);
    }
}
