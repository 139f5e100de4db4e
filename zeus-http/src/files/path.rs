//! Mapping a request path to a file under the document root, so that no request can leave it.
//!
//! Invariants (each one a unit test below):
//! - the path is percent-decoded exactly once; an invalid escape is refused;
//! - NUL, backslash, and encoded `/` (`%2F`) are refused, as are `.` and `..` segments, also
//!   when they were encoded (`%2e%2e`);
//! - a segment starting with `.` (a dotfile or dot-directory) is hidden (not found);
//! - the file found is canonicalised and must still lie under the root, unless symlinks out
//!   of the root are allowed; its extension (before and after symlinks) must not be blocked.

use std::fs::File;
use std::os::fd::BorrowedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{openat2, OFlag, OpenHow, ResolveFlag};

/// Why a path is not served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Malformed or hostile path: 400.
    BadPath,
    /// Hidden, blocked or outside the root: 403.
    Forbidden,
    /// Nothing there (or a dotfile): 404.
    NotFound,
    /// A directory asked for without its trailing slash: 301 to `path/`.
    AddSlash,
}

/// Decodes `%XX` escapes once; refuses bad escapes, NUL, `\`, and encoded `/`.
pub fn decode(raw: &str) -> Result<Vec<u8>, Refusal> {
    let b = raw.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let c = if b[i] == b'%' {
            let hex = b.get(i + 1..i + 3).ok_or(Refusal::BadPath)?;
            let hex = std::str::from_utf8(hex).map_err(|_| Refusal::BadPath)?;
            let v = u8::from_str_radix(hex, 16).map_err(|_| Refusal::BadPath)?;
            if v == b'/' {
                return Err(Refusal::BadPath);
            }
            i += 3;
            v
        } else {
            i += 1;
            b[i - 1]
        };
        if c == 0 || c == b'\\' {
            return Err(Refusal::BadPath);
        }
        out.push(c);
    }
    Ok(out)
}

/// The relative segments of a decoded path: `.`/`..` refused, dotfiles hidden.
pub fn segments(decoded: &[u8]) -> Result<Vec<&[u8]>, Refusal> {
    if decoded.first() != Some(&b'/') {
        return Err(Refusal::BadPath);
    }
    let mut segs = Vec::new();
    for s in decoded.split(|&c| c == b'/').filter(|s| !s.is_empty()) {
        if s == b"." || s == b".." {
            return Err(Refusal::BadPath);
        }
        if s[0] == b'.' {
            return Err(Refusal::NotFound);
        }
        segs.push(s);
    }
    Ok(segs)
}

/// Request path `raw` (percent-encoded) as a path relative to the root: `.` followed by
/// the decoded segments, each a plain name (no `.`, `..`, `/`, NUL or `\\`).
pub fn relative(raw: &str) -> Result<PathBuf, Refusal> {
    let decoded = decode(raw)?;
    let mut rel = PathBuf::from(".");
    for s in segments(&decoded)? {
        rel.push(std::ffi::OsStr::from_bytes(s));
    }
    Ok(rel)
}

/// What the resolver needs from the settings.
#[derive(Debug, Clone)]
pub struct Rules<'a> {
    /// Canonical root.
    pub root: &'a Path,
    /// Index file names.
    pub index: &'a [String],
    /// Blocked extensions.
    pub blocked: &'a [String],
    /// Whether symlinks may point outside the root.
    pub follow_out: bool,
}

/// The file to serve for request path `raw` (still percent-encoded).
pub fn resolve(raw: &str, rules: &Rules<'_>) -> Result<PathBuf, Refusal> {
    let mut path = rules.root.join(relative(raw)?);
    let meta = std::fs::metadata(&path).map_err(|_| Refusal::NotFound)?;
    if meta.is_dir() {
        if !raw.ends_with('/') {
            return Err(Refusal::AddSlash);
        }
        path = rules
            .index
            .iter()
            .map(|i| path.join(i))
            .find(|p| p.is_file())
            .ok_or(Refusal::NotFound)?;
    }
    check_file(&path, rules)
}

/// An opened file to serve.
#[derive(Debug)]
pub struct Found {
    /// The open file.
    pub file: File,
    /// Its path (for the MIME type).
    pub path: PathBuf,
    /// Its metadata (one `fstat`, shared with the caller).
    pub meta: std::fs::Metadata,
}

/// Opens the file for request path `raw` (percent-encoded). Fast path: one `openat2(2)` below `root_fd` with `RESOLVE_BENEATH |
/// RESOLVE_NO_SYMLINKS`, so the kernel itself keeps the lookup under the root. A path with a
/// symlink on it (ELOOP), or a kernel without openat2, takes the `resolve` path instead,
/// which canonicalises and checks where the link leads.
pub fn open(
    raw: &str,
    rules: &Rules<'_>,
    root_fd: Option<BorrowedFd<'_>>,
) -> Result<Found, Refusal> {
    let rel = relative(raw)?;
    if let Some(dir) = root_fd {
        match open_beneath(dir, &rel) {
            Ok(file) => match fast(file, raw, &rel, rules, dir) {
                Err(Fallback) => {}
                Ok(done) => return done,
            },
            Err(Errno::ELOOP | Errno::ENOSYS | Errno::EXDEV | Errno::EPERM) => {}
            Err(_) => return Err(Refusal::NotFound),
        }
    }
    let path = resolve(raw, rules)?;
    let file = File::open(&path).map_err(|_| Refusal::NotFound)?;
    let meta = file.metadata().map_err(|_| Refusal::NotFound)?;
    Ok(Found { file, path, meta })
}

/// The fast path met a symlink: take the slow one.
struct Fallback;

/// The fast path once `rel` is open: a regular file, or a directory's index file.
fn fast(
    file: File,
    raw: &str,
    rel: &Path,
    rules: &Rules<'_>,
    dir: BorrowedFd<'_>,
) -> Result<Result<Found, Refusal>, Fallback> {
    let meta = file.metadata().map_err(|_| Fallback)?;
    if meta.is_file() {
        if blocked(rel, rules.blocked) {
            return Ok(Err(Refusal::Forbidden));
        }
        let path = rules.root.join(rel);
        return Ok(Ok(Found { file, path, meta }));
    }
    if !meta.is_dir() {
        return Ok(Err(Refusal::NotFound));
    }
    if !raw.ends_with('/') {
        return Ok(Err(Refusal::AddSlash));
    }
    for index in rules.index {
        let candidate = rel.join(index);
        match open_beneath(dir, &candidate) {
            Ok(f) => match f.metadata() {
                Ok(m) if m.is_file() => {
                    if blocked(&candidate, rules.blocked) {
                        return Ok(Err(Refusal::Forbidden));
                    }
                    let path = rules.root.join(candidate);
                    return Ok(Ok(Found {
                        file: f,
                        path,
                        meta: m,
                    }));
                }
                _ => {}
            },
            Err(Errno::ELOOP | Errno::ENOSYS | Errno::EXDEV | Errno::EPERM) => {
                return Err(Fallback)
            }
            Err(_) => {}
        }
    }
    Ok(Err(Refusal::NotFound))
}

/// `openat2(dir, rel, O_RDONLY | O_NONBLOCK | O_CLOEXEC, RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)`;
/// O_NONBLOCK so that opening a FIFO someone left in the root cannot block the worker.
fn open_beneath(dir: BorrowedFd<'_>, rel: &Path) -> Result<File, Errno> {
    let how = OpenHow::new()
        .flags(OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_SYMLINKS);
    openat2(dir, rel, how).map(File::from)
}

fn check_file(path: &Path, rules: &Rules<'_>) -> Result<PathBuf, Refusal> {
    if blocked(path, rules.blocked) {
        return Err(Refusal::Forbidden);
    }
    let real = std::fs::canonicalize(path).map_err(|_| Refusal::NotFound)?;
    if let Ok(rel) = real.strip_prefix(rules.root) {
        let hidden = rel
            .components()
            .any(|c| c.as_os_str().as_encoded_bytes().first() == Some(&b'.'));
        if hidden {
            return Err(Refusal::NotFound);
        }
    } else if !rules.follow_out {
        return Err(Refusal::Forbidden);
    }
    if blocked(&real, rules.blocked) {
        return Err(Refusal::Forbidden);
    }
    if !real.is_file() {
        return Err(Refusal::NotFound);
    }
    Ok(real)
}

fn blocked(path: &Path, blocked: &[String]) -> bool {
    let Some(ext) = path.extension().and_then(|e| e.to_str()) else {
        return false;
    };
    blocked.iter().any(|b| b.eq_ignore_ascii_case(ext))
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Site {
        dir: PathBuf,
    }

    impl Site {
        fn new(tag: &str) -> Self {
            let base =
                std::env::temp_dir().join(format!("zeus-http-path-{}-{tag}", std::process::id()));
            let _ = std::fs::remove_dir_all(&base);
            let dir = base.join("root");
            std::fs::create_dir_all(dir.join("sub")).unwrap();
            std::fs::create_dir_all(dir.join(".git")).unwrap();
            std::fs::write(dir.join("index.html"), "i").unwrap();
            std::fs::write(dir.join("a b.txt"), "a").unwrap();
            std::fs::write(dir.join("x.PHP"), "p").unwrap();
            std::fs::write(dir.join(".env"), "s").unwrap();
            std::fs::write(dir.join(".git/config"), "s").unwrap();
            std::fs::write(base.join("secret"), "s").unwrap();
            std::os::unix::fs::symlink(base.join("secret"), dir.join("out")).unwrap();
            std::os::unix::fs::symlink(dir.join("x.PHP"), dir.join("x.txt")).unwrap();
            std::os::unix::fs::symlink(dir.join("a b.txt"), dir.join("in")).unwrap();
            Self {
                dir: std::fs::canonicalize(dir).unwrap(),
            }
        }

        /// Resolves `p` by the slow path and opens it by the fast one; both must agree.
        fn get(&self, p: &str) -> Result<PathBuf, Refusal> {
            let index = ["index.html".to_string()];
            let blocked = ["php".to_string(), "phtml".to_string()];
            let rules = Rules {
                root: &self.dir,
                index: &index,
                blocked: &blocked,
                follow_out: false,
            };
            let slow = resolve(p, &rules);
            let dir = File::open(&self.dir).unwrap();
            let fast = open(p, &rules, Some(std::os::fd::AsFd::as_fd(&dir)));
            let fast = fast.map(|f| std::fs::canonicalize(f.path).unwrap());
            assert_eq!(slow, fast, "{p}: slow and fast paths disagree");
            slow
        }
    }

    impl Drop for Site {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(self.dir.parent().unwrap());
        }
    }

    #[test]
    fn serves_files_indexes_and_decoded_names() {
        let s = Site::new("ok");
        assert_eq!(s.get("/").unwrap(), s.dir.join("index.html"));
        assert_eq!(s.get("/a%20b.txt").unwrap(), s.dir.join("a b.txt"));
        assert_eq!(s.get("//a%20b.txt").unwrap(), s.dir.join("a b.txt"));
        assert_eq!(s.get("/in").unwrap(), s.dir.join("a b.txt"));
        assert_eq!(s.get("/sub"), Err(Refusal::AddSlash));
        assert_eq!(s.get("/sub/"), Err(Refusal::NotFound), "no listing");
    }

    #[test]
    fn traversal_and_hostile_paths_are_refused() {
        let s = Site::new("bad");
        for p in [
            "/../secret",
            "/sub/../../secret",
            "/%2e%2e/secret",
            "/%2E%2E/secret",
            "/sub%2f..%2f..%2fsecret",
            "/..%5csecret",
            "/a%00.txt",
            "/%zz",
            "/%2",
            "/./index.html",
        ] {
            assert_eq!(s.get(p), Err(Refusal::BadPath), "{p}");
        }
        assert_eq!(
            s.get("/out"),
            Err(Refusal::Forbidden),
            "symlink out of the root"
        );
        assert_eq!(s.get("/x.PHP"), Err(Refusal::Forbidden), "blocked type");
        assert_eq!(
            s.get("/x.txt"),
            Err(Refusal::Forbidden),
            "symlink to a blocked type"
        );
        assert_eq!(s.get("/.env"), Err(Refusal::NotFound));
        assert_eq!(s.get("/.git/config"), Err(Refusal::NotFound));
        assert_eq!(s.get("/%2egit/config"), Err(Refusal::NotFound));
        assert_eq!(s.get("/nope"), Err(Refusal::NotFound));
    }

    #[test]
    fn decode_is_single_pass() {
        // %252e decodes to "%2e", which is a name, not a dot.
        assert_eq!(decode("/%252e%252e").unwrap(), b"/%2e%2e");
    }
}
