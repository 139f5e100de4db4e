#!/usr/bin/env python3
"""How often an idle scheduler wakes up: starts an echo service (4 `process` workers, no
client) with each `ipc_adapter`, and counts the scheduler's voluntary context switches
(`/proc/PID/status`) over `--seconds`. Every wake-up of an idle scheduler is one.

Usage (a measurement, not a test):
    cargo build --release -p zeus-examples
    python3 benches/load/idle_wakeups.py [--zeus target/release/zeus-custom] [--seconds 10]
Loopback only; every wait is bounded; the server is stopped and the temp dir removed."""
import argparse, os, shutil, signal, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(__file__))
from common import free_port, wait_port  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def children(pid):
    out = []
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            out += [int(c) for c in open(f"/proc/{pid}/task/{task}/children").read().split()]
        except OSError:
            pass
    return out


def switches(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("voluntary_ctxt_switches"):
            return int(line.split()[1])
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--adapters", default="mmap,socket,fifo,sysv")
    ap.add_argument("--zeus", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")),
                                                   "release", "zeus-custom"))
    args = ap.parse_args()
    for adapter in args.adapters.split(","):
        tmp = tempfile.mkdtemp(prefix="zeus-idle-")
        port = free_port()
        cfg = os.path.join(tmp, "zeus.toml")
        open(cfg, "w").write(f'''run_dir = "{tmp}/run"
[logger]
reporting_level = "warn"
show_banner = false
[schedulers.s]
start_processes = 4
max_processes = 8
min_spare_processes = 1
max_spare_processes = 4
ipc_adapter = "{adapter}"
[services.echo]
scheduler_name = "s"
service_adapter = "echo"
[services.echo.service_settings]
listen_port = {port}
''')
        z = subprocess.Popen([args.zeus, "-c", cfg, "start"], cwd=tmp, stdout=subprocess.DEVNULL,
                             stderr=open(os.path.join(tmp, "zeus.log"), "w"))
        try:
            wait_port(port, z, "zeus")
            time.sleep(2)  # the pool is up and settled
            sched = children(z.pid)
            if len(sched) != 1:
                sys.exit(f"expected one scheduler under the manager, found {sched}")
            before, t0 = switches(sched[0]), time.monotonic()
            time.sleep(args.seconds)
            n, dt = switches(sched[0]) - before, time.monotonic() - t0
            print(f"ipc_adapter {adapter:7} idle scheduler: {n} voluntary context switches in {dt:.1f} s "
                  f"({n / dt:.1f}/s)")
        finally:
            z.send_signal(signal.SIGTERM)
            try:
                z.wait(timeout=15)
            except subprocess.TimeoutExpired:
                z.kill(); z.wait()
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"command: {' '.join(sys.argv)}")


if __name__ == "__main__":
    main()
