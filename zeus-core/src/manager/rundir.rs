//! The run directory and the instance's named objects.
//!
//! An instance is identified by its run directory: `zeus.pid` (an `flock`ed pid file: the
//! lock, not the file's presence, says whether the instance runs), `zeus.sock` (the control
//! socket), its scoreboards `/dev/shm/zeus.<instance>.<service>.scoreboard`, and its
//! schedulers' channels `zeus.<instance>.<service>-<pid>.*` (in `/dev/shm`, the run dir and
//! the SysV tables), where `<instance>` is a hash of the run directory's path. Leftovers of a
//! dead instance are purged by the next start.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

use crate::error::CoreError;

const SHM_DIR: &str = "/dev/shm";

/// A resolved run directory.
#[derive(Debug, Clone)]
pub struct RunDir {
    dir: PathBuf,
    instance: String,
}

impl RunDir {
    /// The run dir from config, else `$XDG_RUNTIME_DIR/zeus`, else `/tmp/zeus-<uid>`.
    pub fn resolve(configured: Option<&Path>) -> Self {
        let dir = match configured {
            Some(d) => d.to_path_buf(),
            None => match std::env::var_os("XDG_RUNTIME_DIR") {
                Some(x) if !x.is_empty() => PathBuf::from(x).join("zeus"),
                _ => PathBuf::from(format!("/tmp/zeus-{}", nix::unistd::getuid())),
            },
        };
        let dir = std::path::absolute(&dir).unwrap_or(dir);
        let instance = format!("{:08x}", fnv1a(dir.as_os_str().as_encoded_bytes()) as u32);
        Self { dir, instance }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// The instance id used in shared-memory names.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// Path of the pid file.
    pub fn pid_file(&self) -> PathBuf {
        self.dir.join("zeus.pid")
    }

    /// Path of the control socket.
    pub fn socket(&self) -> PathBuf {
        self.dir.join("zeus.sock")
    }

    /// Path of a service's scoreboard segment.
    pub fn scoreboard(&self, service: &str) -> PathBuf {
        Path::new(SHM_DIR).join(format!("zeus.{}.{service}.scoreboard", self.instance))
    }

    /// Scoreboards of this instance present in `/dev/shm`, as (service, path).
    pub fn scoreboards(&self) -> Vec<(String, PathBuf)> {
        let prefix = format!("zeus.{}.", self.instance);
        let Ok(rd) = std::fs::read_dir(SHM_DIR) else {
            return Vec::new();
        };
        let mut v: Vec<(String, PathBuf)> = rd
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                let service = name
                    .strip_prefix(&prefix)?
                    .strip_suffix(".scoreboard")?
                    .to_string();
                Some((service, e.path()))
            })
            .collect();
        v.sort();
        v
    }

    /// Pid of the running manager, or `None` when no instance holds the lock.
    pub fn running_pid(&self) -> Option<i32> {
        let mut f = File::open(self.pid_file()).ok()?;
        let mut s = String::new();
        f.read_to_string(&mut s).ok()?;
        match Flock::lock(f, FlockArg::LockSharedNonblock) {
            Ok(_unlocked_on_drop) => None,
            Err((_, _)) => s.trim().parse().ok(),
        }
    }

    /// Creates the directory, takes the instance lock and purges a dead instance's leftovers.
    pub fn acquire(&self) -> Result<InstanceLock, CoreError> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
            .map_err(CoreError::path(&self.dir))?;
        let path = self.pid_file();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o644)
            .open(&path)
            .map_err(CoreError::path(&path))?;
        let mut lock = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(l) => l,
            Err((mut f, _)) => {
                let mut s = String::new();
                let _ = f.read_to_string(&mut s);
                return Err(CoreError::AlreadyRunning {
                    pid: s.trim().parse().unwrap_or(0),
                    run_dir: self.dir.clone(),
                });
            }
        };
        // The pid first: `zeus status` meanwhile tells this manager from the dead one whose
        // scoreboards `purge` is about to remove.
        lock.set_len(0).map_err(CoreError::path(&path))?;
        lock.rewind().map_err(CoreError::path(&path))?;
        writeln!(lock, "{}", std::process::id()).map_err(CoreError::path(&path))?;
        self.purge();
        Ok(InstanceLock {
            _lock: lock,
            run: self.clone(),
            owner: std::process::id(),
        })
    }

    /// Removes the control socket, scoreboards and scheduler channels (`/dev/shm`, run dir
    /// files, SysV queues and semaphores) left by a dead instance.
    fn purge(&self) {
        let _ = std::fs::remove_file(self.socket());
        for (service, path) in self.scoreboards() {
            tracing::info!("removing stale scoreboard of {service}: {}", path.display());
            let _ = std::fs::remove_file(path);
        }
        match zeus_ipc::name::purge(&self.instance, &self.dir) {
            Ok(left) if !left.is_empty() => {
                tracing::info!("removed stale channel objects: {left:?}")
            }
            Ok(_) => {}
            Err(e) => tracing::warn!("cannot purge stale channel objects: {e}"),
        }
    }
}

/// Held by the manager while the instance runs; removes the pid file and socket on drop.
#[derive(Debug)]
pub struct InstanceLock {
    _lock: Flock<File>,
    run: RunDir,
    owner: u32,
}

impl InstanceLock {
    /// The locked pid file's descriptor; children close it, so the lock means "the manager
    /// is alive", not "some process of the instance is".
    pub fn raw_fd(&self) -> std::os::fd::RawFd {
        use std::os::fd::AsRawFd;
        self._lock.as_raw_fd()
    }
}

impl Drop for InstanceLock {
    fn drop(&mut self) {
        if self.owner == std::process::id() {
            let _ = std::fs::remove_file(self.run.socket());
            let _ = std::fs::remove_file(self.run.pid_file());
        }
    }
}

/// FNV-1a, 64-bit: a stable, dependency-free hash for instance names.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_names_differ_per_dir_and_are_stable() {
        let a = RunDir::resolve(Some(Path::new("/tmp/a")));
        let b = RunDir::resolve(Some(Path::new("/tmp/b")));
        assert_ne!(a.instance(), b.instance());
        assert_eq!(
            a.instance(),
            RunDir::resolve(Some(Path::new("/tmp/a"))).instance()
        );
        assert_eq!(
            a.scoreboard("echo"),
            PathBuf::from(format!("/dev/shm/zeus.{}.echo.scoreboard", a.instance()))
        );
    }
}
