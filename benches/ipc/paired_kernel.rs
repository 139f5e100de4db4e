//! Paired ratios for the gates of the adapters built on a kernel object (round trip <= 1.1x
//! the raw mechanism): one worker serves the adapter and the bare mechanism in turn, and the
//! hub times alternating blocks of round trips over each, as `paired.rs` does for mmap.
//! - sysv against a bare queue (`msgsnd` + blocking `msgrcv`, as `raw/sysv_64B`);
//! - fifo against two bare pipes (`write` + blocking `read`, as `raw/pipe_64B`).
//!
//! Printed as `paired <adapter>/<placement> ÷ raw/<mechanism>: …`; alone:
//! `cargo bench -p zeus-benches --bench ipc -- paired_sysv` (or `paired_fifo`).

use std::fs::File;
use std::io::{Read as _, Write as _};
use std::time::Instant;

use nix::sys::wait::waitpid;
use nix::unistd::pipe;
use zeus_ipc::{Channel, ChannelOptions, IpcAdapter, IpcName};

use crate::paired::{adapter_block, echo_adapter, report, BLOCKS, SWITCH};
use crate::raw::{msg_recv, msg_send};
use crate::{fork_on, LONG, PING, QUIT, SMALL, WORKER};

/// The bare mechanism, both directions.
enum Raw {
    /// One private queue: type 1 hub → worker, type 2 back.
    Sysv(i32),
    /// Blocking pipes: (read, write) of hub → worker, and of worker → hub.
    Pipes {
        down: (File, File),
        up: (File, File),
    },
}

impl Raw {
    fn new(adapter: IpcAdapter) -> Option<Self> {
        if adapter == IpcAdapter::Sysv {
            // SAFETY: plain integer arguments.
            let id = unsafe { libc::msgget(libc::IPC_PRIVATE, libc::IPC_CREAT | 0o600) };
            return (id >= 0).then_some(Self::Sysv(id));
        }
        let file = |(r, w)| (File::from(r), File::from(w));
        let down = file(pipe().ok()?);
        let up = file(pipe().ok()?);
        Some(Self::Pipes { down, up })
    }

    fn label(&self) -> &'static str {
        match self {
            Self::Sysv(_) => "sysv_64B",
            Self::Pipes { .. } => "pipe_64B",
        }
    }

    /// Sends `text` one way (`up`: worker → hub); false on an error.
    fn send(&self, up: bool, text: [u8; SMALL]) -> bool {
        match self {
            Self::Sysv(id) => msg_send(*id, if up { 2 } else { 1 }, text),
            Self::Pipes { down, up: back } => {
                let w = if up { &back.1 } else { &down.1 };
                (&*w).write_all(&text).is_ok()
            }
        }
    }

    /// Receives one message sent the other way (`up`: at the hub).
    fn recv(&self, up: bool) -> Option<[u8; SMALL]> {
        match self {
            Self::Sysv(id) => msg_recv(*id, if up { 2 } else { 1 }),
            Self::Pipes { down, up: back } => {
                let r = if up { &back.0 } else { &down.0 };
                let mut text = [0; SMALL];
                (&*r).read_exact(&mut text).ok().map(|()| text)
            }
        }
    }
}

impl Drop for Raw {
    fn drop(&mut self) {
        if let Self::Sysv(id) = self {
            // SAFETY: IPC_RMID takes no buffer.
            unsafe { libc::msgctl(*id, libc::IPC_RMID, std::ptr::null_mut()) };
        }
    }
}

/// Prints the paired lines of `adapter` (sysv or fifo), the worker on `other` (cross CPU)
/// and on CPU 0.
pub fn kernel(adapter: IpcAdapter, other: usize) {
    for (placement, cpu, per_block) in [("cross_cpu", other, 100), ("same_cpu", 0, 400)] {
        let Some((raw, ratios)) = pair(adapter, cpu, per_block) else {
            eprintln!("skipping paired {adapter}: the channel or the raw mechanism failed");
            return;
        };
        report(&format!("{adapter}/{placement}"), raw, &ratios);
    }
}

/// `BLOCKS` pairs of (adapter, raw) seconds per round trip, with the raw mechanism's label.
fn pair(
    adapter: IpcAdapter,
    cpu: usize,
    per_block: usize,
) -> Option<(&'static str, Vec<(f64, f64)>)> {
    let name = IpcName::new(&format!("pairk{}", std::process::id()), adapter.as_str()).ok()?;
    let opts = ChannelOptions {
        max_message_size: SMALL,
        ..ChannelOptions::default()
    };
    let hub = adapter.create(&name, &opts).ok()?;
    let raw = Raw::new(adapter)?;
    let worker = hub.endpoint(WORKER).expect("endpoint");
    let pid = fork_on(cpu, || serve(&worker, &raw));
    drop(worker);
    let mut text = [PING; SMALL];
    let mut out = Vec::with_capacity(BLOCKS);
    for _ in 0..BLOCKS {
        let adapter = adapter_block(&hub, per_block);
        let start = Instant::now();
        for _ in 0..per_block {
            assert!(raw.send(false, text), "raw send");
            text = raw.recv(true).expect("raw recv");
        }
        let seconds = start.elapsed().as_secs_f64() / per_block as f64;
        assert!(raw.send(false, [SWITCH; SMALL]), "raw send");
        out.push((adapter, seconds));
    }
    let _ = hub.send(WORKER, &[QUIT; SMALL], LONG);
    let _ = waitpid(pid, None);
    Some((raw.label(), out))
}

/// Echoes over the adapter until `SWITCH`, then over the raw mechanism until `SWITCH`, and
/// so on, until a quit (or an error) on either.
fn serve(worker: &zeus_ipc::AnyChannel, raw: &Raw) {
    loop {
        if !echo_adapter(worker) {
            return;
        }
        loop {
            let Some(text) = raw.recv(false) else {
                return;
            };
            match text[0] {
                SWITCH => break,
                PING => assert!(raw.send(true, text), "raw send"),
                _ => return,
            }
        }
    }
}
