//! Process facts read from `/proc`: whether a process still exists (telling a reused pid from
//! the original by its start time), its parent, its children.

use std::fs;

/// A process identified by pid *and* start time, so a recycled pid is not mistaken for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcId {
    /// Process id.
    pub pid: i32,
    start: u64,
}

/// State letter, parent pid and start time (clock ticks since boot) from `/proc/PID/stat`.
fn stat(pid: i32) -> Option<(char, i32, u64)> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) S ppid …": comm may hold spaces and parentheses, so split after the last ')'.
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let state = fields.first()?.chars().next()?;
    let ppid = fields.get(1)?.parse().ok()?;
    let start = fields.get(19)?.parse().ok()?;
    Some((state, ppid, start))
}

impl ProcId {
    /// The process `pid` as it is now, if it exists.
    pub fn of(pid: i32) -> Option<Self> {
        stat(pid).map(|(_, _, start)| Self { pid, start })
    }

    fn now(&self) -> Option<char> {
        match stat(self.pid) {
            Some((state, _, start)) if start == self.start => Some(state),
            _ => None,
        }
    }

    /// Still running (a zombie does not count: it runs no code and holds no resources but its
    /// pid; orphans here are reparented to a PID 1 that may never reap them).
    pub fn running(&self) -> bool {
        self.now().is_some_and(|s| s != 'Z' && s != 'X')
    }

    /// Gone for good: exited *and* reaped by its parent.
    pub fn reaped(&self) -> bool {
        self.now().is_none()
    }
}

/// Parent pid of `pid`.
pub fn ppid(pid: i32) -> Option<i32> {
    stat(pid).map(|(_, ppid, _)| ppid)
}

/// Live (non-zombie) children of `parent`, sorted.
pub fn children_of(parent: i32) -> Vec<i32> {
    let mut out: Vec<i32> = fs::read_dir("/proc")
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
                .filter(|&pid| matches!(stat(pid), Some((s, pp, _)) if pp == parent && s != 'Z'))
                .collect()
        })
        .unwrap_or_default();
    out.sort_unstable();
    out
}
