//! Creating a SysV channel: check the kernel limits, write the marker, then make the queues
//! and the semaphore set, each exclusively (`IPC_EXCL`), so two instances never share one.
//! Anything made before a failure is removed again by the partly filled [`Owner`].

use std::io::Write as _;
use std::sync::Arc;

use nix::errno::Errno;
use nix::fcntl::{open, OFlag};
use nix::sys::stat::Mode;

use super::{marker_path, Owner, Shared, SysvChannel, SysvKeys, ADAPTER, PERMS};
use crate::channel::{ChannelOptions, Mailbox};
use crate::error::CreateError;
use crate::name::{IpcName, OwnedFiles};
use crate::sys;

fn limit(
    what: &'static str,
    requested: usize,
    key: &str,
    source_of_limit: &'static str,
) -> Result<(), CreateError> {
    match sys::kernel_limit(key) {
        Some(limit) if requested > limit => Err(CreateError::ExceedsLimit {
            adapter: ADAPTER,
            what,
            requested,
            limit,
            source_of_limit,
        }),
        _ => Ok(()),
    }
}

fn kernel_error(name: &IpcName, op: &'static str, key: i32, e: Errno) -> CreateError {
    let object = format!("sysv key {key:#010x}");
    match e {
        Errno::EEXIST => CreateError::AlreadyExists {
            adapter: ADAPTER,
            name: name.to_string(),
            path: object,
        },
        e => CreateError::Io {
            adapter: ADAPTER,
            op,
            object,
            source: e.into(),
        },
    }
}

pub(super) fn create(name: &IpcName, opts: &ChannelOptions) -> Result<SysvChannel, CreateError> {
    opts.validate()?;
    let max = opts.max_message_size;
    limit("max_message_size", max, "kernel/msgmax", "kernel.msgmax")?;
    limit("max_message_size", max, "kernel/msgmnb", "kernel.msgmnb")?;
    let nsems = opts.workers as usize + 1;
    // kernel/sem is "SEMMSL SEMMNS SEMOPM SEMMNI"; SEMMSL bounds one set.
    let semmsl = std::fs::read_to_string("/proc/sys/kernel/sem")
        .ok()
        .and_then(|t| t.split_whitespace().next()?.parse::<usize>().ok());
    if let Some(semmsl) = semmsl.filter(|&m| nsems > m) {
        return Err(CreateError::ExceedsLimit {
            adapter: ADAPTER,
            what: "semaphores (1 per mailbox)",
            requested: nsems,
            limit: semmsl,
            source_of_limit: "kernel.sem SEMMSL",
        });
    }

    let keys = SysvKeys::for_name(name);
    let marker = marker_path(name);
    let marker_io = |op, source| CreateError::Io {
        adapter: ADAPTER,
        op,
        object: marker.display().to_string(),
        source,
    };
    let flags = OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_WRONLY | OFlag::O_CLOEXEC;
    let fd = match open(&marker, flags, Mode::from_bits_truncate(0o600)) {
        Ok(fd) => fd,
        Err(Errno::EEXIST) => {
            return Err(CreateError::AlreadyExists {
                adapter: ADAPTER,
                name: name.to_string(),
                path: marker.display().to_string(),
            })
        }
        Err(e) => return Err(marker_io("open", e.into())),
    };
    let mut owner = Owner {
        queues: Vec::new(),
        semaphores: None,
        marker: OwnedFiles::new(vec![marker.clone()]),
    };
    std::fs::File::from(fd)
        .write_all(keys.marker_text().as_bytes())
        .map_err(|e| marker_io("write", e))?;

    let exclusive = libc::IPC_CREAT | libc::IPC_EXCL | PERMS;
    for key in [keys.to_hub, keys.to_workers] {
        let id = sys::msg_get(key, exclusive).map_err(|e| kernel_error(name, "msgget", key, e))?;
        owner.queues.push(id);
        sys::msg_limit_bytes(id, Some(opts.capacity as u64))
            .map_err(|e| kernel_error(name, "msgctl(IPC_SET)", key, e))?;
    }
    // nsems <= MAX_WORKERS + 1, far below i32::MAX.
    let sems = sys::sem_get(keys.semaphores, nsems as i32, exclusive)
        .map_err(|e| kernel_error(name, "semget", keys.semaphores, e))?;
    owner.semaphores = Some(sems);

    let waits =
        super::wait::WaitLines::new(opts.workers).map_err(|(op, source)| CreateError::Io {
            adapter: ADAPTER,
            op,
            object: format!("{name} wait lines"),
            source,
        })?;
    let shared = Arc::new(Shared {
        to_hub: owner.queues[0],
        to_workers: owner.queues[1],
        semaphores: sems,
        workers: opts.workers,
        max,
        hub_pid: sys::current_pid(),
        bell: super::bell::Bell::new(),
        waits,
        spin: opts.spin,
    });
    Ok(SysvChannel::bound(Mailbox::HUB, shared, Some(owner)))
}
