//! The fork-related promises of the channel contract, for every adapter: handles made before
//! `fork` work in parent and children; a worker learns of the hub's death, and the hub of a
//! worker's, within a bounded time; a crashed hub's objects are purged.
//!
//! `harness = false`: libtest runs tests on threads, and forking a threaded process is only
//! safe for a child that does almost nothing. Here `main` is the only thread, so children may
//! do real work. Every wait is bounded; the summary line is `N passed, M failed`.

mod common;

use std::io::{Read as _, Write as _};
use std::os::fd::OwnedFd;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use nix::poll::PollFlags;
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, getpid, pipe, ForkResult, Pid};
use zeus_ipc::{
    AnyChannel, Channel, FifoChannel, Mailbox, MmapChannel, Readiness, RecvError, SendError,
    SocketChannel, SysvChannel, Wait,
};

use common::{tagged, untag, Env, LONG};

/// How late a death may be noticed: two liveness periods plus scheduling slack.
const DEATH_BOUND: Duration = Duration::from_secs(1);

/// Forks; the child runs `job` and exits with its code (101 if it panicked), never returning
/// into the caller's code.
fn spawn(job: impl FnOnce() -> i32) -> Pid {
    std::io::stdout().flush().unwrap();
    // SAFETY: this binary runs on one thread (harness = false, no thread spawned), so the
    // child inherits no lock held by another thread and may allocate and do I/O.
    match unsafe { fork() }.expect("fork") {
        ForkResult::Parent { child } => child,
        ForkResult::Child => {
            let code = catch_unwind(AssertUnwindSafe(job)).unwrap_or(101);
            std::process::exit(code)
        }
    }
}

fn exit_code(pid: Pid) -> i32 {
    match waitpid(pid, None).expect("waitpid") {
        WaitStatus::Exited(_, code) => code,
        other => panic!("child {pid} ended with {other:?}"),
    }
}

/// Reads `buf.len()` bytes from a pipe within `LONG`, or panics.
fn read_pipe(fd: OwnedFd, buf: &mut [u8]) {
    let mut file = std::fs::File::from(fd);
    let mut fds = [nix::poll::PollFd::new(
        std::os::fd::AsFd::as_fd(&file),
        PollFlags::POLLIN,
    )];
    let ready = nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(5000u16)).unwrap();
    assert_eq!(ready, 1, "no answer from the child within 5 s");
    file.read_exact(buf).unwrap();
}

/// Made before `fork`: two children receive from their own mailbox, answer the hub, and
/// send a few more; the hub sees each child's messages in order.
fn use_after_fork<C: Channel>() {
    let env = Env::new("fork");
    let hub = C::create(&env.name, &env.opts(2)).unwrap();
    let ends: Vec<C> = (1..=2)
        .map(|k| hub.endpoint(Mailbox::new(k)).unwrap())
        .collect();
    let children: Vec<Pid> = (1..=2u32)
        .map(|k| {
            let end = &ends[k as usize - 1];
            spawn(|| {
                let mut buf = [0u8; 64];
                let len = end.recv(&mut buf, LONG).unwrap();
                assert_eq!(untag(&buf[..len]), (0, k));
                for seq in 0..4 {
                    end.send(Mailbox::HUB, &tagged(k, seq, 32), LONG).unwrap();
                }
                0
            })
        })
        .collect();
    drop(ends);
    for k in 1..=2 {
        hub.send(Mailbox::new(k), &tagged(0, k, 16), LONG).unwrap();
    }
    let mut next = [0u32; 3];
    let mut buf = [0u8; 64];
    for _ in 0..8 {
        let len = hub.recv(&mut buf, LONG).unwrap();
        let (k, seq) = untag(&buf[..len]);
        assert_eq!(seq, next[k as usize]);
        next[k as usize] += 1;
    }
    for child in children {
        assert_eq!(exit_code(child), 0, "child failed");
    }
    drop(hub);
    env.assert_clean();
}

/// The hub's process is killed while a worker waits in `recv` with a long timeout: the
/// worker gets `Disconnected` within `DEATH_BOUND`. The worker keeps every inherited
/// descriptor (the worst case for EOF-based detection). Then the crashed hub is purged.
fn hub_death_is_seen<C: Channel>() {
    let env = Env::new("hubdeath");
    let (rx, tx) = pipe().unwrap();
    let hub_process = spawn(|| {
        let hub = C::create(&env.name, &env.opts(1)).unwrap();
        let worker = hub.endpoint(Mailbox::new(1)).unwrap();
        hub.send(Mailbox::new(1), b"before", LONG).unwrap();
        let mut report = std::fs::File::from(tx);
        // Borrowing (not moving) keeps `hub` alive in this process until the crash below.
        spawn(|| {
            let mut buf = [0u8; 16];
            let first = worker
                .recv(&mut buf, LONG)
                .ok()
                .map(|len| buf[..len].to_vec());
            let start = Instant::now();
            let second = worker.recv(&mut buf, Duration::from_secs(10));
            let took = start.elapsed().as_millis() as u32;
            let ok = first.as_deref() == Some(&b"before"[..])
                && matches!(second, Err(RecvError::Disconnected(_)));
            report.write_all(&[u8::from(ok)]).unwrap();
            report.write_all(&took.to_le_bytes()).unwrap();
            0
        });
        // Let the worker reach its wait, then crash: no destructor runs.
        std::thread::sleep(Duration::from_millis(100));
        kill(getpid(), Signal::SIGKILL).unwrap();
        1
    });
    assert!(matches!(
        waitpid(hub_process, None).unwrap(),
        WaitStatus::Signaled(_, Signal::SIGKILL, _)
    ));
    let mut answer = [0u8; 5];
    read_pipe(rx, &mut answer);
    let took = Duration::from_millis(u64::from(u32::from_le_bytes(
        answer[1..].try_into().unwrap(),
    )));
    assert_eq!(
        answer[0], 1,
        "worker did not get `before` then Disconnected"
    );
    // The worker began waiting ~100 ms before the kill.
    assert!(
        took <= DEATH_BOUND + Duration::from_millis(100),
        "took {took:?}"
    );
    assert!(!env.leftovers().is_empty(), "a crash leaves objects behind");
    assert!(!env.purge().is_empty());
    env.assert_clean();
}

/// A worker that received once exits; the hub then sends to it and gets `Disconnected`
/// (at once where the mechanism says so, after at most `DEATH_BOUND` when its mailbox
/// fills), never a timeout.
fn worker_death_is_seen<C: Channel>() {
    let env = Env::new("workerdeath");
    let opts = zeus_ipc::ChannelOptions {
        max_message_size: 64,
        capacity: 4096,
        ..env.opts(1)
    };
    let hub = C::create(&env.name, &opts).unwrap();
    let worker = hub.endpoint(Mailbox::new(1)).unwrap();
    let child = spawn(|| {
        let mut buf = [0u8; 64];
        matches!(worker.try_recv(&mut buf), Err(RecvError::Empty(_))) as i32 - 1
    });
    drop(worker);
    assert_eq!(exit_code(child), 0);
    let start = Instant::now();
    let outcome = loop {
        match hub.send(Mailbox::new(1), &[7u8; 64], Duration::from_secs(10)) {
            Ok(()) => continue,
            other => break other,
        }
    };
    assert!(
        matches!(outcome, Err(SendError::Disconnected(_))),
        "{outcome:?}"
    );
    assert!(start.elapsed() <= DEATH_BOUND, "took {:?}", start.elapsed());
    drop(hub);
    env.assert_clean();
}

/// A worker that drops root after the fork (zeus's `drop_privileges`) can still use the
/// channel once the hub granted it to that user. Needs root; passes without checking if not.
fn grant_serves_a_worker_that_dropped_root<C: Channel>() {
    const NOBODY: u32 = 65534;
    if !nix::unistd::geteuid().is_root() {
        println!("(not root: grant not checked)");
        return;
    }
    let env = Env::new("grant");
    let hub = C::create(&env.name, &env.opts(1)).unwrap();
    hub.grant(NOBODY, NOBODY).unwrap();
    let worker = hub.endpoint(Mailbox::new(1)).unwrap();
    let child = spawn(|| {
        let nobody = nix::unistd::Gid::from_raw(NOBODY);
        nix::unistd::setgroups(&[nobody]).unwrap();
        nix::unistd::setgid(nobody).unwrap();
        nix::unistd::setuid(nix::unistd::Uid::from_raw(NOBODY)).unwrap();
        worker.send(Mailbox::HUB, b"hello", LONG).unwrap();
        let mut buf = [0u8; 16];
        let len = worker.recv(&mut buf, LONG).unwrap();
        i32::from(&buf[..len] != b"reply")
    });
    drop(worker);
    let mut buf = [0u8; 16];
    let got = hub.recv(&mut buf, LONG).map(|len| buf[..len].to_vec());
    if got.is_ok() {
        hub.send(Mailbox::new(1), b"reply", LONG).unwrap();
    }
    assert_eq!(exit_code(child), 0, "the worker failed as user {NOBODY}");
    assert_eq!(got.unwrap(), b"hello");
    drop(hub);
    env.assert_clean();
}

/// The hub arms its mailbox, then a child sends: the hub's descriptor becomes readable (the
/// doorbells of `mmap` and `sysv` are made before the fork and inherited).
fn a_child_wakes_the_armed_hub<C: Channel + Readiness>() {
    let env = Env::new("bell");
    let hub = C::create(&env.name, &env.opts(1)).unwrap();
    let end = hub.endpoint(Mailbox::new(1)).unwrap();
    let Wait::Fd(fd) = hub.arm() else {
        panic!("an empty hub mailbox gives a descriptor to sleep on");
    };
    let child = spawn(|| {
        end.send(Mailbox::HUB, &tagged(1, 0, 16), LONG).unwrap();
        0
    });
    let mut fds = [nix::poll::PollFd::new(fd, PollFlags::POLLIN)];
    let ready = nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(5000u16)).unwrap();
    assert_eq!(
        ready, 1,
        "the child's message did not wake the hub within 5 s"
    );
    hub.disarm();
    let mut buf = [0u8; 64];
    let len = hub.try_recv(&mut buf).unwrap();
    assert_eq!(untag(&buf[..len]), (1, 0));
    assert_eq!(exit_code(child), 0);
}

fn cases<C: Channel + Readiness>(adapter: &str, out: &mut Vec<(String, fn())>) {
    out.push((
        format!("fork::{adapter}::grant_serves_a_worker_that_dropped_root"),
        grant_serves_a_worker_that_dropped_root::<C>,
    ));
    out.push((
        format!("fork::{adapter}::use_after_fork"),
        use_after_fork::<C>,
    ));
    out.push((
        format!("fork::{adapter}::hub_death_is_seen"),
        hub_death_is_seen::<C>,
    ));
    out.push((
        format!("fork::{adapter}::worker_death_is_seen"),
        worker_death_is_seen::<C>,
    ));
    out.push((
        format!("fork::{adapter}::a_child_wakes_the_armed_hub"),
        a_child_wakes_the_armed_hub::<C>,
    ));
}

/// A libtest-compatible front end, so both `cargo test` and cargo-nextest (which lists with
/// `--list --format terse` and runs one test with `--exact NAME`) can drive this binary.
fn main() {
    let mut all = Vec::new();
    cases::<FifoChannel>("fifo", &mut all);
    cases::<SysvChannel>("sysv", &mut all);
    cases::<MmapChannel>("mmap", &mut all);
    cases::<SocketChannel>("socket", &mut all);
    cases::<AnyChannel>("auto", &mut all);
    let args: Vec<String> = std::env::args().skip(1).collect();
    let has = |flag: &str| args.iter().any(|a| a == flag);
    let filter = args
        .iter()
        .find(|a| !a.starts_with("--") && *a != "terse")
        .cloned();
    let selected: Vec<&(String, fn())> = all
        .iter()
        .filter(|(name, _)| match &filter {
            Some(f) if has("--exact") => name == f,
            Some(f) => name.contains(f.as_str()),
            None => true,
        })
        .collect();
    if has("--list") {
        if !has("--ignored") {
            for (name, _) in &selected {
                println!("{name}: test");
            }
        }
        return;
    }
    let (mut passed, mut failed) = (0, 0);
    for (name, case) in selected {
        let start = Instant::now();
        let ok = catch_unwind(*case).is_ok();
        let verdict = if ok { "ok" } else { "FAILED" };
        println!("test {name} ... {verdict} ({:?})", start.elapsed());
        if ok {
            passed += 1;
        } else {
            failed += 1;
        }
    }
    println!(
        "\ntest result: {}. {passed} passed; {failed} failed",
        if failed == 0 { "ok" } else { "FAILED" }
    );
    std::process::exit(i32::from(failed > 0));
}
