//! Process credentials: look users and groups up by name, and give up root for good.
//!
//! `switch` keeps the only safe order: supplementary groups, then the group, then the user
//! (once `setuid` has run, the process can no longer change its groups). It then proves the
//! result instead of trusting it: real, effective and saved ids all equal the target, the
//! supplementary groups are just the target group, and `setuid(0)` fails. The kernel clears
//! the parent-death signal when credentials change; `switch` arms it again, since zeus relies
//! on it to end the workers of a scheduler that died. All calls go through nix's safe API.

use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::sys::prctl;
use nix::unistd::{self, Gid, Group, Uid, User};

/// Why credentials could not be switched.
#[derive(Debug, thiserror::Error)]
pub enum CredsError {
    /// A system call failed.
    #[error("{call}: {errno}")]
    Sys {
        /// The call.
        call: &'static str,
        /// Its errno.
        errno: Errno,
    },
    /// The ids after the switch are not the target everywhere.
    #[error("after the switch: uids (real, effective, saved) {uids:?}, gids {gids:?}, groups {groups:?}; wanted uid {uid} and gid {gid} everywhere")]
    Mismatch {
        /// Real, effective, saved uid.
        uids: Ids,
        /// Real, effective, saved gid.
        gids: Ids,
        /// Supplementary groups.
        groups: Vec<u32>,
        /// Wanted uid.
        uid: u32,
        /// Wanted gid.
        gid: u32,
    },
    /// `setuid(0)` or `setgid(0)` still worked: privileges could be regained.
    #[error("{call}(0) succeeded after switching to uid {uid}: privileges could be regained")]
    Regainable {
        /// The call that should have failed.
        call: &'static str,
        /// The uid switched to.
        uid: u32,
    },
    /// A file could not be handed over.
    #[error("chown {path}: {error}")]
    Chown {
        /// The file.
        path: PathBuf,
        /// The error.
        error: std::io::Error,
    },
}

fn sys(call: &'static str) -> impl FnOnce(Errno) -> CredsError {
    move |errno| CredsError::Sys { call, errno }
}

/// A user's uid and primary gid, by name (`None`: no such user).
pub fn user_by_name(name: &str) -> Result<Option<(u32, u32)>, CredsError> {
    Ok(User::from_name(name)
        .map_err(sys("getpwnam_r"))?
        .map(|u| (u.uid.as_raw(), u.gid.as_raw())))
}

/// A group's gid, by name (`None`: no such group).
pub fn group_by_name(name: &str) -> Result<Option<u32>, CredsError> {
    Ok(Group::from_name(name)
        .map_err(sys("getgrnam_r"))?
        .map(|g| g.gid.as_raw()))
}

/// A group's name, by gid.
pub fn group_name(gid: u32) -> Option<String> {
    Group::from_gid(Gid::from_raw(gid))
        .ok()
        .flatten()
        .map(|g| g.name)
}

/// The effective uid and gid of this process.
pub fn effective() -> (u32, u32) {
    (unistd::geteuid().as_raw(), unistd::getegid().as_raw())
}

/// Whether real, effective and saved ids are already `uid` and `gid`.
pub fn is_current(uid: u32, gid: u32) -> Result<bool, CredsError> {
    let (uids, gids) = ids()?;
    Ok(uids == (uid, uid, uid) && gids == (gid, gid, gid))
}

/// Real, effective and saved ids.
type Ids = (u32, u32, u32);

fn ids() -> Result<(Ids, Ids), CredsError> {
    let u = unistd::getresuid().map_err(sys("getresuid"))?;
    let g = unistd::getresgid().map_err(sys("getresgid"))?;
    Ok((
        (u.real.as_raw(), u.effective.as_raw(), u.saved.as_raw()),
        (g.real.as_raw(), g.effective.as_raw(), g.saved.as_raw()),
    ))
}

/// Gives `path` to `uid`:`gid`, so this process can still remove it after a switch (in a
/// sticky directory such as `/dev/shm` only the owner may).
pub fn give(path: &Path, uid: u32, gid: u32) -> Result<(), CredsError> {
    std::os::unix::fs::chown(path, Some(uid), Some(gid)).map_err(|error| CredsError::Chown {
        path: path.to_path_buf(),
        error,
    })
}

/// Switches the whole process to `uid` and `gid` for good; `Ok(false)` when it already runs
/// as them (nothing to do). Call it before starting threads.
pub fn switch(uid: u32, gid: u32) -> Result<bool, CredsError> {
    if is_current(uid, gid)? {
        return Ok(false);
    }
    let (u, g) = (Uid::from_raw(uid), Gid::from_raw(gid));
    let pdeath = prctl::get_pdeathsig().map_err(sys("prctl(PR_GET_PDEATHSIG)"))?;
    let parent = unistd::getppid();
    unistd::setgroups(&[g]).map_err(sys("setgroups"))?;
    unistd::setgid(g).map_err(sys("setgid"))?;
    unistd::setuid(u).map_err(sys("setuid"))?;
    if let Some(sig) = pdeath {
        prctl::set_pdeathsig(sig).map_err(sys("prctl(PR_SET_PDEATHSIG)"))?;
        // The parent may have died while the signal was disarmed.
        if unistd::getppid() != parent {
            let _ = nix::sys::signal::raise(sig);
        }
    }
    verify(uid, gid)?;
    Ok(true)
}

fn verify(uid: u32, gid: u32) -> Result<(), CredsError> {
    let (uids, gids) = ids()?;
    let groups: Vec<u32> = unistd::getgroups()
        .map_err(sys("getgroups"))?
        .into_iter()
        .map(Gid::as_raw)
        .collect();
    if uids != (uid, uid, uid) || gids != (gid, gid, gid) || groups.iter().any(|&x| x != gid) {
        return Err(CredsError::Mismatch {
            uids,
            gids,
            groups,
            uid,
            gid,
        });
    }
    if uid != 0 {
        if unistd::setuid(Uid::from_raw(0)).is_ok() {
            return Err(CredsError::Regainable {
                call: "setuid",
                uid,
            });
        }
        if gid != 0 && unistd::setgid(Gid::from_raw(0)).is_ok() {
            return Err(CredsError::Regainable {
                call: "setgid",
                uid,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_and_unknown_names_resolve() {
        assert_eq!(user_by_name("root").unwrap(), Some((0, 0)));
        assert_eq!(group_by_name("root").unwrap(), Some(0));
        assert_eq!(group_name(0).as_deref(), Some("root"));
        assert_eq!(user_by_name("no-such-user-zeus").unwrap(), None);
        assert_eq!(group_by_name("no-such-group-zeus").unwrap(), None);
    }

    #[test]
    fn switching_to_the_current_ids_is_a_no_op() {
        let (uid, gid) = effective();
        if is_current(uid, gid).unwrap() {
            assert!(!switch(uid, gid).unwrap());
        }
    }
}
