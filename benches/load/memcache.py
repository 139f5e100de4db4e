#!/usr/bin/env python3
"""zeus-memcache against Debian's memcached, same machine, same run: throughput with
memaslap (the issue's tool: `memcaslap -T 2 -c 64 -X 100`, 90% get / 10% set of 100-byte
values) and throughput plus latency percentiles with `mc-load` (benches crate: the same mix,
64 closed-loop connections, per-request latency; memaslap prints no percentiles), then p99 at
a fixed `--rate` below saturation (mc-load paced), for every
zeus MPM, alternating servers within each round; then the memory each server needs per
100-byte item.

Servers: memcached `-t 2 -m MEM_MB -c 4096`; zeus `memcache` with 2 workers under each MPM
(`process`: 2 processes, `thread`: 2 threads, `hybrid`: 1 process of 2 threads), the same
memory limit, all started once and loaded one at a time.

Server CPU per request: the CPU time of the server's whole process tree (manager and
scheduler included for zeus) over each saturated mc-load run, divided by its requests; the
other load on a shared machine moves it far less than the ops/s. `--baseline BIN` loads a
second zeus binary (rows `base/MPM`) in the same alternating rounds, for an A/B of two builds.

Memory: fresh memcached and zeus (process MPM) instances, `--items` sets of a 10-byte key and
a 100-byte value; bytes per item = growth of the proportional set size (PSS: the shared store
is counted once over zeus's processes) divided by the items, and the servers' own `stats
bytes` per item.

Usage (a benchmark, not a test; run as root to let apt-get install what is missing):
    python3 benches/load/memcache.py [--seconds 10] [--rounds 3] [--mpms process,thread,hybrid]
                                     [--zeus BIN] [--baseline BIN] [--items 0] [--no-build]
Loopback only; every wait is bounded; every server is stopped and the temp dir removed.
"""
import argparse, json, os, re, shutil, signal, socket, statistics, subprocess, sys, tempfile, time

from common import free_port, need, wait_port

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))


def tree(pid):
    """A process and all its descendants."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop(); out.append(p)
        try:
            todo += [int(k) for k in open(f"/proc/{p}/task/{p}/children").read().split()]
        except OSError:
            pass
    return out


def cpu_ticks(pid):
    """User + system clock ticks of a process and its descendants (all their threads)."""
    total = 0
    for p in tree(pid):
        try:
            f = open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()
            total += int(f[11]) + int(f[12])
        except (OSError, IndexError, ValueError):
            pass
    return total


def pss_kib(pid):
    total = 0
    for p in tree(pid):
        try:
            for line in open(f"/proc/{p}/smaps_rollup"):
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total


def stats(port):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"stats\r\n"); data = b""
        while not data.endswith(b"END\r\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    return {l.split()[1]: l.split()[2] for l in data.decode().splitlines() if l.startswith("STAT ")}


def fill(port, items, value=100):
    """`items` sets of a 10-byte key and a `value`-byte value, pipelined 1000 at a time."""
    v = b"v" * value
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        for start in range(0, items, 1000):
            n = min(1000, items - start)
            s.sendall(b"".join(b"set k%09d 0 0 %d\r\n%s\r\n" % (i, value, v) for i in range(start, start + n)))
            want, got = 8 * n, b""
            while len(got) < want:
                chunk = s.recv(want - len(got))
                if not chunk:
                    sys.exit("server closed during fill")
                got += chunk
            if got != b"STORED\r\n" * n:
                sys.exit(f"fill refused: {got[:80]!r}")


class Servers:
    def __init__(self, args):
        self.args, self.procs, self.dir = args, [], tempfile.mkdtemp(prefix="zeus-mc-bench-")

    def memcached(self):
        port = free_port()
        cmd = ["memcached", "-U", "0", "-l", "127.0.0.1", "-p", str(port), "-m", str(self.args.mem_mb),
               "-t", "2", "-c", "4096"]
        if os.geteuid() == 0:
            cmd += ["-u", "root"]
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs.append(p); wait_port(port, p, "memcached")
        return port, p

    def zeus(self, mpm, binary=None):
        port = free_port()
        d = os.path.join(self.dir, f"{mpm}-{port}"); os.makedirs(d)
        threads = "threads_per_process = 2\n" if mpm == "hybrid" else ""
        cfg = f"""run_dir = "{d}/run"
[logger]
show_banner = false
reporting_level = "warn"
[schedulers.bench]
multiprocessing_module = "{mpm}"
{threads}start_processes = 2
max_processes = 2
min_spare_processes = 0
max_spare_processes = 2
max_process_tasks = 0
[services.mc]
scheduler_name = "bench"
service_adapter = "memcache"
[services.mc.service_settings]
listen_port = {port}
memory_limit = {self.args.mem_mb << 20}
max_connections = 4096
"""
        open(os.path.join(d, "zeus.toml"), "w").write(cfg)
        p = subprocess.Popen([binary or os.path.join(TARGET, "release", "zeus"), "start", "--config", os.path.join(d, "zeus.toml")],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs.append(p); wait_port(port, p, f"zeus/{mpm}")
        return port, p

    def stop(self, p):
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill(); p.wait()

    def close(self):
        for p in self.procs:
            self.stop(p)
        shutil.rmtree(self.dir, ignore_errors=True)


def memaslap(port, a):
    out = subprocess.run(["memcaslap", "-s", f"127.0.0.1:{port}", "-T", str(a.threads), "-c", str(a.conns),
                          "-X", "100", "-t", f"{a.seconds}s"], capture_output=True, text=True,
                         timeout=a.seconds + 60).stdout
    m = re.search(r"TPS: (\d+)", out)
    return float(m.group(1)) if m else float("nan")


def mc_load(port, a, rate=0, pid=None):
    """mc-load's JSON; with `pid`, also `cpu_us`: the server's CPU time (its whole process
    tree) per request over the run, a figure the other load on a shared machine moves far
    less than the ops/s."""
    before = cpu_ticks(pid) if pid else 0
    out = subprocess.run([os.path.join(TARGET, "release", "mc-load"), "--port", str(port), "--threads", str(a.threads),
                          "--conns", str(a.conns), "--seconds", str(a.seconds), "--rate", str(rate)],
                         capture_output=True, text=True, timeout=a.seconds + 60)
    if out.returncode != 0:
        sys.exit(f"mc-load failed: {out.stderr}")
    j = json.loads(out.stdout)
    if pid:
        j["cpu_us"] = (cpu_ticks(pid) - before) * 1e6 / os.sysconf("SC_CLK_TCK") / max(j["ops"], 1)
    return j


def memory(a, servers):
    rows = []
    for name, start in [("memcached", servers.memcached), ("zeus/process", lambda: servers.zeus("process"))]:
        port, p = start()
        time.sleep(0.5)
        before = pss_kib(p.pid)
        fill(port, a.items)
        time.sleep(0.5)
        after = pss_kib(p.pid)
        st = stats(port)
        rows.append((name, (after - before) * 1024 / a.items, int(st.get("bytes", 0)) / a.items,
                     int(st.get("curr_items", 0)), after))
        servers.stop(p)
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=int(os.environ.get("SECS", 10)))
    ap.add_argument("--rounds", type=int, default=int(os.environ.get("ROUNDS", 3)))
    ap.add_argument("--conns", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--mem-mb", type=int, default=64)
    ap.add_argument("--items", type=int, default=200_000)
    ap.add_argument("--mpms", default="process,thread,hybrid")
    ap.add_argument("--rate", type=int, default=30000, help="mc-load's paced run (ops/s; 0: none)")
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--zeus", default=os.path.join(TARGET, "release", "zeus"), help="the zeus binary to load")
    ap.add_argument("--baseline", help="a second zeus binary (say, main's), loaded in the same rounds as base/MPM")
    a = ap.parse_args()
    need("memcached", "memcached"); need("memcaslap", "libmemcached-tools")
    if not a.no_build:
        subprocess.run(["cargo", "build", "--release", "-q", "-p", "zeus-bin", "-p", "zeus-benches"], cwd=ROOT, check=True)
    mpms = [m for m in a.mpms.split(",") if m]
    servers = Servers(a)
    try:
        targets = [("memcached",) + servers.memcached()] + [(f"zeus/{m}",) + servers.zeus(m, a.zeus) for m in mpms]
        if a.baseline:
            targets += [(f"base/{m}",) + servers.zeus(m, a.baseline) for m in mpms]
        res = {name: {"tps": [], "ops": [], "p50": [], "p99": [], "rp99": [], "cpu": []} for name, _, _ in targets}
        print(f"{'round':<6}{'server':<14}{'memaslap ops/s':>15}{'mc-load ops/s':>15}{'p50 us':>9}{'p99 us':>9}"
              f"{f'p99 us @{a.rate}/s':>18}{'cpu us/req':>11}", flush=True)
        for r in range(1, a.rounds + 1):
            # Rotate the order every round, so no server always follows the same one.
            order = targets[(r - 1) % len(targets):] + targets[:(r - 1) % len(targets)]
            tps = {name: memaslap(port, a) for name, port, _ in order}
            ops = {name: mc_load(port, a, pid=p.pid) for name, port, p in order}
            paced = {name: mc_load(port, a, a.rate)["p99_us"] if a.rate else 0 for name, port, _ in order}
            for name, _, _ in targets:
                j, rr = ops[name], res[name]
                rr["tps"].append(tps[name]); rr["ops"].append(j["ops_per_s"])
                rr["p50"].append(j["p50_us"]); rr["p99"].append(j["p99_us"]); rr["rp99"].append(paced[name])
                rr["cpu"].append(j["cpu_us"])
                print(f"{r:<6}{name:<14}{tps[name]:>15.0f}{j['ops_per_s']:>15.0f}{j['p50_us']:>9}{j['p99_us']:>9}"
                      f"{paced[name]:>18}{j['cpu_us']:>11.2f}", flush=True)
        mc = res["memcached"]
        print(f"\nover {a.rounds} alternating rounds of {a.seconds} s ({a.conns} connections, {a.threads} client threads,"
              f" load average {os.getloadavg()[0]:.1f}); ratios of summed ops/s, p99 = median of the rounds' p99"
              f" (saturated: closed loop; paced: {a.rate} ops/s); server CPU = median over the rounds of the"
              f" server's CPU time (all its processes and threads) per mc-load request, saturated")
        print("| server | memaslap ops/s | ratio | mc-load ops/s | ratio | p99 saturated | p99 paced | server CPU per request |")
        print("|---|---|---|---|---|---|---|---|")
        for name, _, _ in targets:
            z = res[name]
            print(f"| {name} | {statistics.mean(z['tps']):.0f} | {sum(z['tps']) / sum(mc['tps']):.2f}x"
                  f" | {statistics.mean(z['ops']):.0f} | {sum(z['ops']) / sum(mc['ops']):.2f}x"
                  f" | {statistics.median(z['p99']) / 1000:.2f} ms | {statistics.median(z['rp99']) / 1000:.2f} ms"
                  f" | {statistics.median(z['cpu']):.2f} µs |")
        for _, _, p in targets:
            servers.stop(p)
        if a.items > 0:
            print(f"\nmemory for {a.items} items of a 10-byte key and a 100-byte value (fresh servers)")
            print("| server | PSS growth per item | `stats bytes` per item | curr_items | PSS after |")
            print("|---|---|---|---|---|")
            for name, per, b, n, after in memory(a, servers):
                print(f"| {name} | {per:.0f} B | {b:.0f} B | {n} | {after / 1024:.1f} MiB |")
    finally:
        servers.close()


if __name__ == "__main__":
    main()
