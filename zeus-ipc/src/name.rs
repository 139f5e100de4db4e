//! Names of OS objects, their ownership, and clean-up after crashes.
//!
//! Every object a channel makes is named `zeus.<instance>.<scope>.<suffix>`:
//!
//! | adapter | objects                                                        | where        |
//! |---------|----------------------------------------------------------------|--------------|
//! | fifo    | `….<mailbox>.fifo`, one FIFO per mailbox                        | run dir      |
//! | socket  | `….<mailbox>.sock`, one datagram socket per mailbox             | run dir      |
//! | mmap    | `….mmap`, one segment holding a ring per mailbox                | `/dev/shm`   |
//! | sysv    | `….sysv` marker file + 2 queues + 1 semaphore set               | `/dev/shm`, kernel |
//!
//! System V objects have no names, only 32-bit keys; the keys are hashes of the object name
//! ([`crate::sysv::SysvKeys`]). A hash cannot be reversed, so [`list`] could not tell our
//! keys from another program's: the creator therefore also leaves the `….sysv` marker
//! (created first, with `O_EXCL`, removed last) that names the keys.
//!
//! Invariants: the process that created a channel removes all of its objects when its owning
//! handle is dropped (handles inherited by a forked child, and endpoints, remove nothing);
//! [`purge`] removes what a crashed instance left, [`purge_channel`] what one channel's
//! crashed creator left. Purging a *live* instance or channel breaks it: callers check that
//! its creator is dead first (zeus-core's pid file does; its manager purges a scheduler's
//! channel after reaping it).

use std::fmt;
use std::path::{Path, PathBuf};

use crate::error::{ListError, NameError};
use crate::sys;
use crate::sysv;

/// Directory of POSIX shared memory (tmpfs) on Linux.
pub const SHM_DIR: &str = "/dev/shm";

/// Longest instance or scope, so that socket paths stay under 108 bytes in usual run dirs.
pub const MAX_PART_LEN: usize = 40;

/// A validated channel name, `zeus.<instance>.<scope>`; both parts are `[A-Za-z0-9_-]+`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IpcName {
    instance: String,
    scope: String,
}

fn check_part(part: &'static str, value: &str) -> Result<(), NameError> {
    if value.is_empty() {
        return Err(NameError::Empty { part });
    }
    if value.len() > MAX_PART_LEN {
        return Err(NameError::TooLong {
            part,
            len: value.len(),
            max: MAX_PART_LEN,
        });
    }
    match value
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-'))
    {
        Some(ch) => Err(NameError::BadChar { part, ch }),
        None => Ok(()),
    }
}

impl IpcName {
    /// Validates and builds `zeus.<instance>.<scope>`.
    pub fn new(instance: &str, scope: &str) -> Result<Self, NameError> {
        check_part("instance", instance)?;
        check_part("scope", scope)?;
        Ok(Self {
            instance: instance.to_owned(),
            scope: scope.to_owned(),
        })
    }

    /// The instance part.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// The scope part.
    pub fn scope(&self) -> &str {
        &self.scope
    }

    /// The name of one object of this channel: `zeus.<instance>.<scope>.<suffix>`.
    pub fn object(&self, suffix: &str) -> String {
        format!("{self}.{suffix}")
    }
}

impl fmt::Display for IpcName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "zeus.{}.{}", self.instance, self.scope)
    }
}

/// An object left by an instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Leftover {
    /// A file: a segment or SysV marker in [`SHM_DIR`], a FIFO or socket in the run dir.
    File(PathBuf),
    /// A System V message queue, by key.
    SysvQueue {
        /// Its key.
        key: i32,
    },
    /// A System V semaphore set, by key.
    SysvSemaphores {
        /// Its key.
        key: i32,
    },
}

fn files_with_prefix(dir: &Path, prefix: &str) -> Result<Vec<PathBuf>, ListError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(ListError::Io {
                op: "read_dir",
                object: dir.display().to_string(),
                source,
            })
        }
    };
    let mut found: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.starts_with(prefix))
        })
        .map(|e| e.path())
        .collect();
    found.sort();
    Ok(found)
}

/// Everything instance `instance` has in [`SHM_DIR`], in `run_dir`, and in the SysV tables
/// (the keys named by its markers that still exist).
pub fn list(instance: &str, run_dir: &Path) -> Result<Vec<Leftover>, ListError> {
    check_part("instance", instance)?;
    list_prefix(&format!("zeus.{instance}."), run_dir)
}

/// The objects of the one channel `name` (`zeus.<instance>.<scope>.*`) that still exist:
/// what its creator left if it died before dropping its hub handle.
pub fn list_channel(name: &IpcName, run_dir: &Path) -> Result<Vec<Leftover>, ListError> {
    list_prefix(&format!("{name}."), run_dir)
}

/// Removes what [`list_channel`] finds and returns it (like [`purge`], for one channel).
pub fn purge_channel(name: &IpcName, run_dir: &Path) -> Result<Vec<Leftover>, ListError> {
    remove(list_channel(name, run_dir)?)
}

fn list_prefix(prefix: &str, run_dir: &Path) -> Result<Vec<Leftover>, ListError> {
    let mut found = Vec::new();
    for path in files_with_prefix(Path::new(SHM_DIR), prefix)? {
        if path.extension().is_some_and(|ext| ext == sysv::MARKER_EXT) {
            found.extend(sysv::marker_leftovers(&path));
        }
        found.push(Leftover::File(path));
    }
    if run_dir != Path::new(SHM_DIR) {
        found.extend(
            files_with_prefix(run_dir, prefix)?
                .into_iter()
                .map(Leftover::File),
        );
    }
    Ok(found)
}

/// Removes everything [`list`] finds and returns it. SysV objects go before their markers,
/// so an interrupted purge can be run again.
pub fn purge(instance: &str, run_dir: &Path) -> Result<Vec<Leftover>, ListError> {
    remove(list(instance, run_dir)?)
}

fn remove(found: Vec<Leftover>) -> Result<Vec<Leftover>, ListError> {
    for leftover in &found {
        match leftover {
            Leftover::SysvQueue { key } => sysv::remove_queue(*key)?,
            Leftover::SysvSemaphores { key } => sysv::remove_semaphores(*key)?,
            Leftover::File(_) => {}
        }
    }
    for leftover in &found {
        if let Leftover::File(path) = leftover {
            match std::fs::remove_file(path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => {
                    return Err(ListError::Io {
                        op: "unlink",
                        object: path.display().to_string(),
                        source,
                    })
                }
            }
        }
    }
    Ok(found)
}

/// Files owned by the process that created them: removed on drop, but only in that process
/// (a forked child dropping an inherited handle must not unlink the parent's objects).
#[derive(Debug)]
pub(crate) struct OwnedFiles {
    creator: i32,
    paths: Vec<PathBuf>,
}

impl OwnedFiles {
    /// The files it owns.
    pub(crate) fn paths(&self) -> &[PathBuf] {
        &self.paths
    }

    /// Takes ownership of `paths` for this process.
    pub(crate) fn new(paths: Vec<PathBuf>) -> Self {
        Self {
            creator: sys::current_pid(),
            paths,
        }
    }

    /// Adds a path that this process just created.
    pub(crate) fn push(&mut self, path: PathBuf) {
        self.paths.push(path);
    }

    /// Whether the calling process is the creator.
    pub(crate) fn is_creator(&self) -> bool {
        sys::current_pid() == self.creator
    }
}

impl Drop for OwnedFiles {
    fn drop(&mut self) {
        if self.is_creator() {
            for path in &self.paths {
                // Already gone is fine (purged, or never fully created).
                let _ = std::fs::remove_file(path);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_validated() {
        assert_eq!(
            IpcName::new("a-1", "s_2").unwrap().to_string(),
            "zeus.a-1.s_2"
        );
        assert_eq!(
            IpcName::new("", "s"),
            Err(NameError::Empty { part: "instance" })
        );
        assert_eq!(
            IpcName::new("a.b", "s"),
            Err(NameError::BadChar {
                part: "instance",
                ch: '.'
            })
        );
        assert!(matches!(
            IpcName::new("a", &"x".repeat(MAX_PART_LEN + 1)),
            Err(NameError::TooLong { part: "scope", .. })
        ));
        let name = IpcName::new("i", "s").unwrap();
        assert_eq!(name.object("3.fifo"), "zeus.i.s.3.fifo");
    }

    #[test]
    fn list_refuses_bad_instance_and_sees_own_files_only() {
        assert!(matches!(
            list("../x", Path::new("/tmp")),
            Err(ListError::Name(_))
        ));
        let dir = std::env::temp_dir().join(format!("zeus-ipc-name-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mine = dir.join("zeus.nametest.s.1.fifo");
        let other = dir.join("zeus.nametest2.s.1.fifo");
        std::fs::write(&mine, b"").unwrap();
        std::fs::write(&other, b"").unwrap();
        assert_eq!(
            list("nametest", &dir).unwrap(),
            vec![Leftover::File(mine.clone())]
        );
        let chan = IpcName::new("nametest", "s").unwrap();
        assert_eq!(list_channel(&chan, &dir).unwrap().len(), 1);
        let other_chan = IpcName::new("nametest", "t").unwrap();
        assert!(list_channel(&other_chan, &dir).unwrap().is_empty());
        assert_eq!(purge("nametest", &dir).unwrap().len(), 1);
        assert!(!mine.exists() && other.exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
