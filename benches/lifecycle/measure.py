#!/usr/bin/env python3
"""Lifecycle figures of a real `zeus` (release build), printed as a table.

  1. start → first echo answered, with 8 process workers (median of N starts);
  2. SIGKILL of an idle worker → its replacement WAITING in the scoreboard (median of N kills);
  3. PSS (proportional set size, /proc/PID/smaps_rollup) of an idle process worker.

Usage: cargo build --release && python3 benches/lifecycle/measure.py [--zeus target/release/zeus] [--runs 10]
Loopback only; every wait is bounded; the instance is stopped and its run dir removed.
"""
import argparse, json, os, shutil, signal, socket, statistics, subprocess, sys, tempfile, time

def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p

def echo_once(port, deadline):
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"ping\n")
                if s.recv(16) == b"ping\n":
                    return True
        except OSError:
            time.sleep(0.0005)
    return False

def status(zeus, env, service=None):
    args = [zeus, "status", "--json"] + ([service] if service else [])
    out = subprocess.run(args, env=env, capture_output=True, text=True, timeout=10)
    return json.loads(out.stdout) if out.returncode == 0 else None

def start(zeus, workdir, port):
    env = dict(os.environ, ZEUS_RUN_DIR=os.path.join(workdir, "run"),
               ZEUS_SERVICES__ECHO__SERVICE_SETTINGS__LISTEN_PORT=str(port),
               ZEUS_LOGGER__REPORTING_LEVEL="warn", ZEUS_LOGGER__SHOW_BANNER="false")
    t0 = time.monotonic()
    proc = subprocess.Popen([zeus, "start"], cwd=workdir, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ok = echo_once(port, t0 + 10)
    return proc, env, (time.monotonic() - t0) if ok else None

def stop(proc):
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill(); proc.wait()

def waiting_workers(st):
    return {w["pid"] for w in st["services"][0]["workers"] if w["state"] == "WAITING"}

def replacement_ms(zeus, env):
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        st = status(zeus, env, "echo")
        if st and len(waiting_workers(st)) == 8:
            break
        time.sleep(0.01)
    before = waiting_workers(st)
    victim = sorted(before)[0]
    t0 = time.monotonic()
    os.kill(victim, signal.SIGKILL)
    while time.monotonic() < t0 + 5:
        st = status(zeus, env, "echo")
        now = waiting_workers(st) if st else set()
        if victim not in now and len(now - before) >= 1:
            return (time.monotonic() - t0) * 1000
    return None

def pss_kib(pid):
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Pss:"):
                return int(line.split()[1])
    return None

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--zeus", default="target/release/zeus")
    ap.add_argument("--runs", type=int, default=10)
    a = ap.parse_args()
    zeus = os.path.abspath(a.zeus)
    starts, repl, pss = [], [], []
    for _ in range(a.runs):
        work = tempfile.mkdtemp(prefix="zeus-bench-")
        proc = None
        try:
            proc, env, t = start(zeus, work, free_port())
            if t is not None:
                starts.append(t * 1000)
            r = replacement_ms(zeus, env)
            if r is not None:
                repl.append(r)
            time.sleep(0.3)
            st = status(zeus, env, "echo")
            pss.extend(pss_kib(w["pid"]) for w in st["services"][0]["workers"] if w["state"] == "WAITING")
        finally:
            if proc:
                stop(proc)
            shutil.rmtree(work, ignore_errors=True)
    def line(name, xs, unit, aim):
        if not xs:
            print(f"{name:44} no measurement"); return
        print(f"{name:44} median {statistics.median(xs):8.2f} {unit}  min {min(xs):8.2f}  max {max(xs):8.2f}  (n={len(xs)}, aim {aim})")
    print(f"zeus lifecycle, {a.runs} runs, binary {zeus}")
    line("start -> first echo (8 workers)", starts, "ms", "< 100 ms")
    line("worker SIGKILL -> replacement WAITING", repl, "ms", "< 20 ms")
    line("PSS of an idle process worker", [p / 1024 for p in pss if p], "MiB", "< 1 MiB")
    return 0 if starts and repl and pss else 1

if __name__ == "__main__":
    sys.exit(main())
