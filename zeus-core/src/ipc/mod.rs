//! The scheduler–worker channel (`ipc_adapter`): a [`zeus_ipc`] channel per scheduler, for
//! the traffic that is not per task. The scoreboard stays the per-task state; nothing here
//! runs on a task's path.
//!
//! ```text
//!   scheduler ── Hub (mailbox 0) ◄── Started / Exiting(reason) / Log(line) ── workers
//!             ── Stop(why) / ReopenLogs ──► mailbox slot+1 (one per scoreboard slot)
//! ```
//!
//! Invariants:
//! - the channel is created by the scheduler before any worker exists, named
//!   `zeus.<instance>.<service>-<scheduler pid>` (a reload's successor runs beside its
//!   predecessor), and every worker endpoint is made then, before any fork or thread;
//! - the scheduler's [`Hub`] owns the OS objects: [`Hub::close`] (or its drop) removes them;
//!   the manager purges those of a scheduler that died without closing ([`channel_name`]);
//! - nobody ever waits on the channel: every send is a try-send, a full mailbox is reported
//!   to the caller, which has a path that does not need the channel (a signal, a direct write);
//! - a slot's mailbox may hold mail for the slot's previous worker, so commands carry the
//!   worker id and a worker drops mail that is not its own;
//! - every endpoint's way to the hub is opened before any fork (the fifo and socket adapters
//!   open it lazily, and check permissions then), so workers that drop privileges
//!   (`drop_privileges`) keep using the `mmap`, `fifo` and `socket` channels. `sysv` cannot:
//!   the kernel checks a queue's permissions (0600, the scheduler's user) at every call, so
//!   such workers fall back (direct log writes, stop by signal); the scheduler warns.

mod message;

pub use message::{DecodeError, ToHub, ToWorker, LOG_OVERHEAD};

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use zeus_ipc::{
    AnyChannel, Channel, ChannelOptions, IpcAdapter, IpcName, Mailbox, NameError, Readiness,
    RecvError, Wait,
};

use crate::error::CoreError;

/// Largest message: every adapter's default limit (a FIFO frame fits one `PIPE_BUF` write).
pub const MAX_MESSAGE: usize = zeus_ipc::DEFAULT_MAX_MESSAGE;
/// Bytes each mailbox holds before senders are pushed back.
const CAPACITY: usize = 64 * 1024;
/// Messages the scheduler handles per drain, so a flood of log lines cannot starve its loop.
const DRAIN_BUDGET: usize = 512;

/// The channel's name for the scheduler `pid` of `service`: the service name keeps
/// `[A-Za-z0-9_-]` (others become `_`) and at most 28 characters.
pub fn channel_name(instance: &str, service: &str, pid: u32) -> Result<IpcName, NameError> {
    let svc: String = service
        .chars()
        .take(28)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    IpcName::new(instance, &format!("{svc}-{pid}"))
}

/// The scheduler's end: receives reports and log lines, sends commands.
#[derive(Debug)]
pub struct Hub {
    chan: Option<AnyChannel>,
    adapter: IpcAdapter,
    name: IpcName,
    run_dir: PathBuf,
    buf: Box<[u8]>,
    out: Vec<u8>,
    /// Only the creating process removes the objects (a forked worker holds a copy).
    creator: u32,
    /// The last drain found nothing: an adapter that said "ready" is not believed again
    /// (a message still being written, a dead writer's slot) until a drain finds mail.
    drained_empty: bool,
}

/// The workers' ends, one per scoreboard slot (mailbox `slot + 1`), made before any worker.
#[derive(Debug)]
pub struct Inboxes(Vec<AnyChannel>);

impl Hub {
    /// Creates the channel with `adapter` and `slots` worker mailboxes, and every endpoint.
    pub fn create(
        adapter: IpcAdapter,
        name: IpcName,
        run_dir: &Path,
        slots: usize,
    ) -> Result<(Self, Arc<Inboxes>), CoreError> {
        let opts = ChannelOptions {
            workers: slots as u32,
            max_message_size: MAX_MESSAGE,
            capacity: CAPACITY,
            run_dir: run_dir.to_path_buf(),
            ..ChannelOptions::default()
        };
        let chan = adapter.create(&name, &opts)?;
        let inboxes = (1..=slots as u32)
            .map(|m| chan.endpoint(Mailbox::new(m)))
            .collect::<Result<Vec<_>, _>>()?;
        // One empty message from each endpoint, received at once: the fifo and socket
        // adapters open (and permission-check) an endpoint's way to the hub on first use, and
        // a worker that drops privileges (plugin `drop_privileges`) could not do it later.
        let mut buf = [0u8; 1];
        for inbox in &inboxes {
            if inbox.try_send(Mailbox::HUB, &[]).is_ok() {
                let _ = chan.try_recv(&mut buf);
            }
        }
        let hub = Self {
            adapter: chan.adapter(),
            chan: Some(chan),
            name,
            run_dir: run_dir.to_path_buf(),
            buf: vec![0; MAX_MESSAGE].into_boxed_slice(),
            out: Vec::with_capacity(MAX_MESSAGE),
            creator: std::process::id(),
            drained_empty: false,
        };
        Ok((hub, Arc::new(Inboxes(inboxes))))
    }

    /// The adapter in use (never `auto`).
    pub fn adapter(&self) -> IpcAdapter {
        self.adapter
    }

    /// Gives the channel's OS objects to `uid`:`gid` ([`Channel::grant`]), for workers that
    /// drop privileges.
    pub fn grant(&self, uid: u32, gid: u32) -> std::io::Result<()> {
        self.chan.as_ref().map_or(Ok(()), |c| c.grant(uid, gid))
    }

    /// The channel's name.
    pub fn name(&self) -> &IpcName {
        &self.name
    }

    /// Sends `cmd` to the worker on `slot` without waiting; false if it could not be sent
    /// (mailbox full, worker gone, channel closed): the caller falls back on signals.
    pub fn command(&mut self, slot: usize, cmd: &ToWorker<'_>) -> bool {
        let Some(chan) = &self.chan else {
            return false;
        };
        cmd.encode(&mut self.out);
        match chan.try_send(Mailbox::new(slot as u32 + 1), &self.out) {
            Ok(()) => true,
            Err(e) => {
                tracing::debug!("command to slot {slot} not sent: {e}");
                false
            }
        }
    }

    /// Prepares to sleep until mail may wait ([`Readiness::arm`]): a descriptor to poll,
    /// `Ready` (drain first), or `Timer` (no descriptor: no doorbell, or a closed channel).
    pub fn arm(&self) -> Wait<'_> {
        match self.chan.as_ref().map(Readiness::arm) {
            Some(Wait::Ready) if self.drained_empty => {
                self.disarm();
                Wait::Timer
            }
            Some(w) => w,
            None => Wait::Timer,
        }
    }

    /// After the sleep, whatever ended it ([`Readiness::disarm`]).
    pub fn disarm(&self) {
        if let Some(chan) = &self.chan {
            chan.disarm();
        }
    }

    /// Hands every waiting message (up to a budget) to `f`; returns how many there were.
    pub fn drain(&mut self, f: impl FnMut(ToHub<'_>)) -> usize {
        let n = self.drain_some(f);
        self.drained_empty = n == 0;
        n
    }

    fn drain_some(&mut self, mut f: impl FnMut(ToHub<'_>)) -> usize {
        let Some(chan) = &self.chan else {
            return 0;
        };
        for n in 0..DRAIN_BUDGET {
            match chan.try_recv(&mut self.buf) {
                Ok(0) => {} // a left-over of the warm-up in `create`
                Ok(len) => match ToHub::decode(&self.buf[..len]) {
                    Ok(msg) => f(msg),
                    Err(e) => tracing::warn!("scheduler channel: {e}; dropped"),
                },
                Err(RecvError::Empty(_)) => return n,
                Err(e) => {
                    tracing::warn!("scheduler channel: {e}");
                    return n;
                }
            }
        }
        DRAIN_BUDGET
    }

    /// Removes the channel's OS objects (idempotent). Endpoints that still exist in worker
    /// threads fail from then on, and their callers fall back.
    pub fn close(&mut self) {
        if self.chan.take().is_some() && self.creator == std::process::id() {
            // The drop removed them; a purge catches what an odd adapter state left.
            if let Ok(left) = zeus_ipc::name::purge_channel(&self.name, &self.run_dir) {
                if !left.is_empty() {
                    tracing::warn!("scheduler channel {}: removed {left:?}", self.name);
                }
            }
        }
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        self.close();
    }
}

impl Inboxes {
    /// The endpoint of the worker on `slot`.
    pub fn of(&self, slot: usize) -> &AnyChannel {
        &self.0[slot]
    }
}

/// What a worker holds of the channel: its slot's endpoint and its own id.
#[derive(Debug, Clone, Copy)]
pub struct Inbox<'a> {
    chan: &'a AnyChannel,
    worker_id: u64,
}

impl<'a> Inbox<'a> {
    /// The inbox of worker `worker_id` on `slot`.
    pub fn new(inboxes: &'a Inboxes, slot: usize, worker_id: u64) -> Self {
        Self {
            chan: inboxes.of(slot),
            worker_id,
        }
    }

    /// The endpoint, to send log lines with.
    pub fn channel(&self) -> &'a AnyChannel {
        self.chan
    }

    /// Reports `msg` to the scheduler without waiting; false if it could not be sent.
    pub fn report(&self, msg: &ToHub<'_>) -> bool {
        let mut out = Vec::with_capacity(64);
        msg.encode(&mut out);
        self.chan.send(Mailbox::HUB, &out, Duration::ZERO).is_ok()
    }

    /// Hands this worker's waiting commands to `f` (others' are dropped).
    pub fn read(&self, mut f: impl FnMut(ToWorker<'_>)) {
        let mut buf = [0u8; 256];
        loop {
            match self.chan.try_recv(&mut buf) {
                Ok(len) => match ToWorker::decode(&buf[..len]) {
                    Ok(cmd) if cmd.worker_id() == self.worker_id => f(cmd),
                    Ok(_) => {} // for the slot's previous worker
                    Err(e) => tracing::warn!("worker channel: {e}; dropped"),
                },
                Err(RecvError::Empty(_)) => return,
                Err(e) => {
                    tracing::debug!("worker channel: {e}");
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_mailbox_never_makes_a_worker_wait() {
        let dir = std::env::temp_dir().join(format!("zeus-core-ipc-full-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let name = channel_name(&format!("f{}", std::process::id()), "unit", 1).unwrap();
        let (mut hub, inboxes) = Hub::create(IpcAdapter::Mmap, name, &dir, 1).unwrap();
        let inbox = Inbox::new(&inboxes, 0, 1);
        let line = [b'x'; 1000];
        let t0 = std::time::Instant::now();
        let sent = (0..1000)
            .take_while(|_| inbox.report(&ToHub::Log(&line)))
            .count();
        assert!(sent < 1000, "the mailbox is bounded");
        assert!(t0.elapsed() < Duration::from_secs(1), "no send waited");
        assert_eq!(hub.drain(|_| {}), sent.min(DRAIN_BUDGET));
        assert!(inbox.report(&ToHub::Log(&line)), "room again once drained");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn names_are_sanitised_and_unique_per_scheduler() {
        let n = channel_name("0badcafe", "web.api", 42).unwrap();
        assert_eq!(n.to_string(), "zeus.0badcafe.web_api-42");
        let long = channel_name("i", &"x".repeat(60), 4_000_000).unwrap();
        assert!(long.scope().len() <= zeus_ipc::name::MAX_PART_LEN);
    }

    #[test]
    fn hub_and_inbox_talk_and_close_removes_everything() {
        let dir = std::env::temp_dir().join(format!("zeus-core-ipc-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let name = channel_name(&format!("t{}", std::process::id()), "unit", 1).unwrap();
        let (mut hub, inboxes) = Hub::create(IpcAdapter::Fifo, name.clone(), &dir, 2).unwrap();
        assert_eq!(hub.adapter(), IpcAdapter::Fifo);
        let inbox = Inbox::new(&inboxes, 1, 7);
        assert!(inbox.report(&ToHub::Log(b"line\n")));
        let mut got = Vec::new();
        assert_eq!(hub.drain(|m| got.push(format!("{m:?}"))), 1);
        assert_eq!(got, vec![format!("{:?}", ToHub::Log(b"line\n"))]);
        assert!(hub.command(1, &ToWorker::ReopenLogs { worker_id: 6 }));
        assert!(hub.command(
            1,
            &ToWorker::Stop {
                worker_id: 7,
                why: "test"
            }
        ));
        let mut cmds = Vec::new();
        inbox.read(|c| cmds.push(format!("{c:?}")));
        assert_eq!(
            cmds.len(),
            1,
            "the previous worker's mail is dropped: {cmds:?}"
        );
        drop(inboxes);
        hub.close();
        assert!(!hub.command(0, &ToWorker::ReopenLogs { worker_id: 1 }));
        assert!(zeus_ipc::name::list_channel(&name, &dir)
            .unwrap()
            .is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
