#!/usr/bin/env python3
"""Echo under each MPM (process, thread, hybrid): throughput and p99 with 64 concurrent
clients, time to grow from 2 to 64 workers, and PSS per idle worker.

Usage: cargo build --release -p zeus-bin -p zeus-benches && python3 benches/mpm/measure.py
Loopback only; every wait bounded; every instance is stopped and its files removed.
"""
import argparse, json, os, shutil, signal, socket, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p

class Zeus:
    def __init__(self, zeus, mpm, port, **sched):
        self.zeus, self.dir = zeus, tempfile.mkdtemp(prefix="zeus-mpm-")
        sched.setdefault("threads_per_process", 8)
        lines = [f'run_dir = "{self.dir}/run"', "[logger]", 'reporting_level = "warn"', "show_banner = false",
                 "[schedulers.s]", f'multiprocessing_module = "{mpm}"']
        lines += [f"{k} = {v}" for k, v in sched.items()]
        lines += ["[services.echo]", 'scheduler_name = "s"', 'service_adapter = "echo"',
                  "[services.echo.service_settings]", f"listen_port = {port}"]
        self.cfg = os.path.join(self.dir, "zeus.toml")
        open(self.cfg, "w").write("\n".join(lines) + "\n")
        self.proc = subprocess.Popen([zeus, "-c", self.cfg, "start"], cwd=self.dir,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def status(self):
        r = subprocess.run([self.zeus, "-c", self.cfg, "status", "echo", "--json"], capture_output=True, text=True, timeout=10)
        return json.loads(r.stdout)["services"][0] if r.returncode == 0 else None

    def wait(self, pred, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            st = self.status()
            if st and pred(st):
                return st
            time.sleep(0.01)
        raise TimeoutError("zeus did not reach the expected state")

    def close(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill(); self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)

def pss_kib(pid):
    try:
        for line in open(f"/proc/{pid}/smaps_rollup"):
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0

def throughput(zeus, load, mpm, seconds):
    port = free_port()
    z = Zeus(zeus, mpm, port, start_processes=64, max_processes=64, min_spare_processes=1,
             max_spare_processes=64, max_process_tasks=0)
    try:
        z.wait(lambda st: st["workers_by_state"].get("WAITING", 0) == 64)
        out = subprocess.run([load, "--port", str(port), "--clients", "64", "--seconds", str(seconds)],
                             capture_output=True, text=True, timeout=seconds + 60)
        return json.loads(out.stdout)
    finally:
        z.close()

def growth(zeus, mpm):
    port = free_port()
    z = Zeus(zeus, mpm, port, start_processes=2 if mpm != "hybrid" else 8, max_processes=64,
             min_spare_processes=1, max_spare_processes=64, max_process_tasks=0)
    socks = []
    try:
        z.wait(lambda st: st["workers_total"] >= 2 and st["workers_by_state"].get("WAITING", 0) >= 1)
        t0 = time.monotonic()
        for _ in range(64):
            socks.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        z.wait(lambda st: st["workers_by_state"].get("RUNNING", 0) >= 64, timeout=30)
        return time.monotonic() - t0
    finally:
        for s in socks:
            s.close()
        z.close()

def pss_per_worker(zeus, mpm):
    def measure(n):
        port = free_port()
        z = Zeus(zeus, mpm, port, start_processes=n, max_processes=64, min_spare_processes=1,
                 max_spare_processes=64, max_process_tasks=0)
        try:
            st = z.wait(lambda st: st["workers_by_state"].get("WAITING", 0) == n)
            time.sleep(0.3)
            pids = {w["pid"] for w in st["workers"]}
            if mpm == "thread":
                return pss_kib(st["scheduler_pid"])
            return sum(pss_kib(p) for p in pids)
        finally:
            z.close()
    if mpm == "process":
        return measure(16) / 16
    small, big = measure(8), measure(64)
    return (big - small) / 56

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--zeus", default=os.path.join(ROOT, "target/release/zeus"))
    ap.add_argument("--load", default=os.path.join(ROOT, "target/release/zeus-load"))
    ap.add_argument("--seconds", type=float, default=5)
    a = ap.parse_args()
    print(f"{'mpm':8} {'req/s':>10} {'p50 us':>8} {'p99 us':>8} {'errors':>6} {'grow 2->64 s':>13} {'PSS/idle worker KiB':>20}")
    for mpm in ("process", "thread", "hybrid"):
        t = throughput(a.zeus, a.load, mpm, a.seconds)
        g = growth(a.zeus, mpm)
        p = pss_per_worker(a.zeus, mpm)
        print(f"{mpm:8} {t['rps']:>10.0f} {t['p50_us']:>8} {t['p99_us']:>8} {t['errors']:>6} {g:>13.2f} {p:>20.0f}", flush=True)

if __name__ == "__main__":
    sys.exit(main())
