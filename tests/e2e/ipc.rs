//! The scheduler-worker channel under each adapter (`fifo`, `sysv`, `mmap`, `socket`) and
//! each MPM: echo works, `status` shows the adapter, a worker's lines reach the log with its
//! span (through the scheduler for worker processes), the reports and the stop reason travel
//! both ways, and the channel's objects (files in `/dev/shm` and the run dir, SysV queues and
//! semaphores) exist while it runs and are gone after the stop. Plus reopening a rotated log
//! file (manager SIGUSR1 or `zeus reopen-logs` → schedulers → workers).

use std::fs;
use std::path::Path;

use nix::sys::signal::Signal;

use crate::util::{free_port, names_in, wait_for, Client, Spec, ZeusProcess, SOON};

fn scheduler(mpm: &str, adapter: &str) -> String {
    format!(
        "multiprocessing_module = \"{mpm}\"\nthreads_per_process = 2\nstart_processes = 2\n\
         max_processes = 4\nmin_spare_processes = 1\nmax_spare_processes = 4\n\
         ipc_adapter = \"{adapter}\"\n"
    )
}

/// Keys (first column) of a `/proc/sysvipc` table.
fn sysv_keys(table: &str) -> Vec<String> {
    fs::read_to_string(format!("/proc/sysvipc/{table}"))
        .unwrap_or_default()
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect()
}

/// The keys a SysV channel's marker names.
fn marker_keys(marker: &Path) -> Vec<String> {
    fs::read_to_string(marker)
        .expect("read the sysv marker")
        .lines()
        .filter_map(|l| l.split_once(' ').map(|(_, k)| k.trim().to_owned()))
        .collect()
}

fn echo_over(adapter: &str, mpm: &str) {
    let port = free_port();
    let spec = Spec::echo_services(&scheduler(mpm, adapter), &[("echo", port)])
        .set("logger.reporting_level=debug");
    let mut z = ZeusProcess::start(&format!("ipc-{adapter}-{mpm}"), spec);
    Client::connect(port).assert_echo(&format!("over {adapter} under {mpm}"));
    let s = z.service("echo");
    assert_eq!(s["ipc_adapter"], adapter, "{s:#}");
    let sched = s["scheduler_pid"].as_u64().expect("scheduler pid");
    let w = &s["workers"][0];
    let (id, pid) = (w["id"].as_u64().unwrap(), w["pid"].as_u64().unwrap());

    // The channel is named after the instance and exists while the scheduler runs.
    let name = format!("zeus.{}.echo-{sched}.", z.instance());
    let run_dir = z.run_dir();
    let objects = [
        names_in(Path::new("/dev/shm"), &name),
        names_in(&run_dir, &name),
    ]
    .concat();
    assert!(
        !objects.is_empty(),
        "no {name}* object in /dev/shm or the run dir"
    );
    let keys = match adapter {
        "sysv" => {
            let keys = marker_keys(&Path::new("/dev/shm").join(format!("{name}sysv")));
            let live = [sysv_keys("msg"), sysv_keys("sem")].concat();
            assert!(
                keys.len() == 3 && keys.iter().all(|k| live.contains(k)),
                "{keys:?}"
            );
            keys
        }
        _ => Vec::new(),
    };

    // A worker's own lines, with its span; the scheduler heard its report.
    let span = format!("worker{{service=echo id={id} pid={pid}}}");
    wait_for("the worker's ready line", SOON, || {
        z.log()
            .lines()
            .any(|l| l.contains(&span) && l.contains("worker ready"))
            .then_some(())
    });
    z.wait_log(&format!("worker {id} reports it runs (pid {pid}, tid "));

    assert_eq!(z.run(&["stop"]).code, 0);
    assert!(z.wait_exit(SOON).success());
    let log = z.log();
    // The reason went to the worker with the stop, and came back in its exit report.
    assert!(
        log.lines().any(|l| l.contains(&span)
            && l.contains("worker exiting: stop requested (service stopping)")),
        "no exit line of {span}:\n{log}"
    );
    assert!(
        log.contains("tasks: stop requested (service stopping)"),
        "no reported reason:\n{log}"
    );
    let routed = routed_lines(&log);
    match mpm {
        // Threads live in the scheduler process, which writes their lines itself.
        "thread" => assert_eq!(routed, 0, "{log}"),
        _ => assert!(routed >= 4, "worker lines not routed ({routed}):\n{log}"),
    }
    // Nothing left: files (the guard checks /dev/shm too) and SysV objects.
    let left = [
        names_in(Path::new("/dev/shm"), &name),
        names_in(&run_dir, &name),
    ]
    .concat();
    assert!(left.is_empty(), "left behind: {left:?}");
    let live = [sysv_keys("msg"), sysv_keys("sem")].concat();
    assert!(
        keys.iter().all(|k| !live.contains(k)),
        "SysV objects left: {keys:?}"
    );
}

/// How many worker lines the scheduler wrote, from its stop line.
fn routed_lines(log: &str) -> u64 {
    log.lines()
        .find_map(|l| {
            l.split_once("tasks done; ")?
                .1
                .strip_suffix(" worker log lines written")
        })
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no scheduler stop line:\n{log}"))
}

/// Workers that drop privileges still use the channel: the fifo and socket adapters opened
/// their way to the scheduler before the fork, and the scheduler gave the SysV queues and
/// semaphores (checked at every call) to the workers' user.
fn dropped_privileges_keep_the_channel(adapter: &str) {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: drop_privileges needs root");
        return;
    }
    let port = free_port();
    let body = format!(
        "{}plugins = [{{ name = \"drop_privileges\", user = \"nobody\", group = \"nogroup\" }}]\n",
        scheduler("process", adapter)
    );
    let spec = Spec::echo_services(&body, &[("echo", port)]).set("logger.reporting_level=debug");
    let mut z = ZeusProcess::start(&format!("ipc-drop-{adapter}"), spec);
    Client::connect(port).assert_echo("as nobody");
    z.wait_log("privileges dropped: running as user nobody");
    assert_eq!(z.run(&["stop"]).code, 0);
    assert!(z.wait_exit(SOON).success());
    let log = z.log();
    assert!(routed_lines(&log) >= 4, "{log}");
    assert!(!log.contains("written directly"), "{log}");
    assert!(
        log.contains("tasks: stop requested (service stopping)"),
        "{log}"
    );
}

#[test]
fn dropped_privileges_keep_the_fifo_channel() {
    dropped_privileges_keep_the_channel("fifo");
}

#[test]
fn dropped_privileges_keep_the_socket_channel() {
    dropped_privileges_keep_the_channel("socket");
}

#[test]
fn dropped_privileges_keep_the_sysv_channel() {
    dropped_privileges_keep_the_channel("sysv");
}

macro_rules! ipc_cases {
    ($($name:ident: $adapter:literal, $mpm:literal;)*) => {
        $(
            #[test]
            fn $name() {
                echo_over($adapter, $mpm);
            }
        )*
    };
}

ipc_cases! {
    fifo_process: "fifo", "process";
    fifo_thread: "fifo", "thread";
    fifo_hybrid: "fifo", "hybrid";
    sysv_process: "sysv", "process";
    sysv_thread: "sysv", "thread";
    sysv_hybrid: "sysv", "hybrid";
    mmap_process: "mmap", "process";
    mmap_thread: "mmap", "thread";
    mmap_hybrid: "mmap", "hybrid";
    socket_process: "socket", "process";
    socket_thread: "socket", "thread";
    socket_hybrid: "socket", "hybrid";
}

/// Renames `out` away and waits until the manager (`who` names the trigger), the scheduler
/// and both worker processes have said in a new `out` that they reopened it.
fn rotate(out: &Path, n: u32, trigger: impl FnOnce(), who: &str) {
    let rotated = out.with_extension(format!("log.{n}"));
    fs::rename(out, &rotated).expect("rotate the log file");
    trigger();
    // The workers' lines go through the scheduler, which reopened first.
    wait_for("reopen lines in the new log file", SOON, || {
        let text = fs::read_to_string(out).ok()?;
        let reopened = |span: &str| {
            text.lines()
                .filter(|l| l.contains(span) && l.contains("log file reopened"))
                .count()
        };
        (text.contains(&format!("{who}: log file reopened"))
            && reopened("scheduler{service=echo") == 1
            && reopened("worker{service=echo") == 2)
            .then_some(())
    });
    let old = fs::read_to_string(&rotated).expect("read the rotated file");
    assert!(!old.contains(&format!("{who}: ")), "{old}");
}

/// Two rotations, one signalled (SIGUSR1) and one asked (`zeus reopen-logs`); under `hybrid`
/// the worker process relays the doorbell to its threads.
fn log_file_is_reopened_everywhere(mpm: &str) {
    let port = free_port();
    let spec = Spec::echo_services(&scheduler(mpm, "auto"), &[("echo", port)])
        .set("logger.output=out.log")
        .set("logger.reporting_level=debug");
    let z = ZeusProcess::start(&format!("ipc-reopen-{mpm}"), spec);
    let out = z.run_dir().with_file_name("out.log");
    wait_for("worker lines in the log file", SOON, || {
        let text = fs::read_to_string(&out).ok()?;
        (text.matches("worker ready").count() >= 2).then_some(())
    });
    rotate(&out, 1, || z.signal(Signal::SIGUSR1), "SIGUSR1");
    Client::connect(port).assert_echo("after the first rotation");
    let cli = || {
        let r = z.run(&["reopen-logs"]);
        assert_eq!(r.code, 0, "{r}");
        assert!(
            r.stdout.contains("log file reopened; 1 schedulers told"),
            "{r}"
        );
    };
    rotate(&out, 2, cli, "reopen-logs");
    Client::connect(port).assert_echo("after the second rotation");
}

#[test]
fn log_file_is_reopened_everywhere_under_process() {
    log_file_is_reopened_everywhere("process");
}

#[test]
fn log_file_is_reopened_everywhere_under_hybrid() {
    log_file_is_reopened_everywhere("hybrid");
}

#[test]
fn the_next_start_purges_the_channel_of_a_crashed_instance() {
    let port = free_port();
    let spec = Spec::echo_services(&scheduler("process", "sysv"), &[("echo", port)]);
    let mut z = ZeusProcess::start("ipc-crash", spec);
    let sched = z.service("echo")["scheduler_pid"].as_i64().expect("pid") as i32;
    let name = format!("zeus.{}.echo-{sched}.", z.instance());
    let marker = Path::new("/dev/shm").join(format!("{name}sysv"));
    let keys = marker_keys(&marker);
    let processes = z.processes("echo");
    // Manager and scheduler die at once: nobody is left to clean up.
    z.signal(Signal::SIGSTOP);
    let sched_pid = nix::unistd::Pid::from_raw(sched);
    nix::sys::signal::kill(sched_pid, Signal::SIGKILL).expect("kill -9 the scheduler");
    z.kill_manager();
    // The workers die with their scheduler (PDEATHSIG), a moment later; until then they
    // hold the listening socket.
    wait_for("the crashed instance's workers to exit", SOON, || {
        processes.iter().all(|p| !p.running()).then_some(())
    });
    assert!(marker.exists(), "the crash left the marker");
    let live = sysv_keys("msg");
    assert!(keys[..2].iter().all(|k| live.contains(k)), "{keys:?}");
    // The next start on the same run dir removes them before anything else.
    z.launch();
    z.wait_log("removed stale channel objects");
    assert!(!marker.exists());
    let live = [sysv_keys("msg"), sysv_keys("sem")].concat();
    assert!(keys.iter().all(|k| !live.contains(k)), "{keys:?}");
    Client::connect(port).assert_echo("after the crash");
}
