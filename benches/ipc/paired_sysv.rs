//! Paired ratio for the sysv adapter's gate (round trip <= 1.1x its raw SysV queue): one
//! worker serves the adapter and a bare queue (`msgsnd` + blocking `msgrcv`, as
//! `raw/sysv_64B`) in turn, and the hub times alternating blocks of round trips over each,
//! as `paired.rs` does for mmap. Printed as `paired sysv/<placement> ÷ raw/sysv_64B: …`;
//! alone: `cargo bench -p zeus-benches --bench ipc -- paired_sysv`.

use std::time::Instant;

use nix::sys::wait::waitpid;
use zeus_ipc::{Channel, ChannelOptions, IpcAdapter, IpcName};

use crate::paired::{adapter_block, echo_adapter, report, BLOCKS, SWITCH};
use crate::raw::{msg_recv, msg_send};
use crate::{fork_on, LONG, PING, QUIT, SMALL, WORKER};

/// Prints the paired sysv ratio, the worker on `other` (cross CPU) and on CPU 0.
pub fn sysv(other: usize) {
    for (placement, cpu, per_block) in [("cross_cpu", other, 100), ("same_cpu", 0, 400)] {
        let Some(ratios) = pair(cpu, per_block) else {
            return;
        };
        report(&format!("sysv/{placement}"), "sysv_64B", &ratios);
    }
}

/// `BLOCKS` pairs of (adapter, raw) seconds per round trip; `None` if SysV is unavailable.
fn pair(cpu: usize, per_block: usize) -> Option<Vec<(f64, f64)>> {
    let name = IpcName::new(&format!("pairq{}", std::process::id()), "sysv").expect("name");
    let opts = ChannelOptions {
        max_message_size: SMALL,
        ..ChannelOptions::default()
    };
    let hub = IpcAdapter::Sysv.create(&name, &opts).ok()?;
    // SAFETY: plain integer arguments.
    let id = unsafe { libc::msgget(libc::IPC_PRIVATE, libc::IPC_CREAT | 0o600) };
    if id < 0 {
        return None;
    }
    let worker = hub.endpoint(WORKER).expect("endpoint");
    let pid = fork_on(cpu, || serve(&worker, id));
    drop(worker);
    let mut text = [PING; SMALL];
    let mut out = Vec::with_capacity(BLOCKS);
    for _ in 0..BLOCKS {
        let adapter = adapter_block(&hub, per_block);
        let start = Instant::now();
        for _ in 0..per_block {
            assert!(msg_send(id, 1, text), "msgsnd");
            text = msg_recv(id, 2).expect("msgrcv");
        }
        let raw = start.elapsed().as_secs_f64() / per_block as f64;
        assert!(msg_send(id, 1, [SWITCH; SMALL]), "msgsnd");
        out.push((adapter, raw));
    }
    let _ = hub.send(WORKER, &[QUIT; SMALL], LONG);
    let _ = waitpid(pid, None);
    // SAFETY: IPC_RMID takes no buffer.
    unsafe { libc::msgctl(id, libc::IPC_RMID, std::ptr::null_mut()) };
    Some(out)
}

/// Echoes over the adapter until `SWITCH`, then over the raw queue until `SWITCH`, and so
/// on, until a quit (or an error) on either.
fn serve(worker: &zeus_ipc::AnyChannel, id: i32) {
    loop {
        if !echo_adapter(worker) {
            return;
        }
        loop {
            let Some(text) = msg_recv(id, 1) else {
                return;
            };
            match text[0] {
                SWITCH => break,
                PING => assert!(msg_send(id, 2, text), "msgsnd"),
                _ => return,
            }
        }
    }
}
