#!/usr/bin/env python3
"""zeus-http against nginx, same machine, same files, same run: wrk loads each server in
turn on every row, for several alternating rounds, and prints req/s, p99 and the ratio.

Rows: a 1 KiB file with keep-alive; the same with `Connection: close`; a 100 KiB file; a tiny
dynamic response (zeus: the `json_api` handler of the example binary `zeus-custom`, nginx:
`return 200`); and the 1 KiB keep-alive row again against a second zeus service whose workers
are recycled every `--recycle` requests (`max_process_tasks`), so several times a round, while
wrk holds its connections (nginx: its plain row). Both servers: 2 workers, sendfile, no access
log, a 1 s open-file cache. Errors are wrk's socket errors plus non-2xx answers, and must stay 0 (the recycled row
included). Then the memory (RSS) of each whole server (every process) after the run.

Usage (a benchmark, not a test; needs nginx and wrk, installed if missing and run as root):
    cargo build --release -p zeus-examples
    python3 benches/load/http.py [--duration 10] [--rounds 3] [--connections 64] [--threads 2]
With --layout, each round is printed with where wrk's threads and the server's workers ran
(paired / split / other, see layout.py) and the sockets each worker held.
Loopback only; every wait is bounded; both servers are stopped and the temp dir removed.
"""
import argparse, os, re, shutil, signal, statistics, subprocess, sys, tempfile

from common import free_port, need, wait_port
import layout

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def tree_rss_kib(pid):
    """RSS of a process and all its descendants, in KiB."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            for line in open(f"/proc/{p}/status"):
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
            kids = open(f"/proc/{p}/task/{p}/children").read().split()
            todo += [int(k) for k in kids]
        except OSError:
            pass
    return total


def wrk(url, args, close, server_pid=None):
    """One wrk run: (req/s, p99 ms, errors, socket error kinds, layout counts or None).
    With `server_pid` and --layout, samples where wrk's threads and the server's workers run."""
    cmd = ["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{args.duration}s", "--latency"]
    if close:
        cmd += ["-H", "Connection: close"]
    w = subprocess.Popen(cmd + [url], stdout=subprocess.PIPE, text=True)
    sampler = layout.Sampler(server_pid, w.pid) if args.layout and server_pid else None
    out = w.communicate(timeout=args.duration + 60)[0]
    where = sampler.stop() if sampler else None
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    m = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", out)
    p99 = float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)] if m else float("nan")
    err = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    kinds = [int(x) for x in err.groups()] if err else [0, 0, 0, 0]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return rps, p99, sum(kinds) + (int(non2xx.group(1)) if non2xx else 0), kinds, where


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--recycle", type=int, default=20000, help="max_process_tasks of the recycled row")
    ap.add_argument("--recycle-workers", type=int, default=2,
                    help="workers of the recycled row's service (start = max = this)")
    ap.add_argument("--recycle-overlap", type=int, default=None,
                    help="recycle_overlap of the recycled row (default: zeus's own)")
    ap.add_argument("--layout", action="store_true",
                    help="print each round, with where wrk's threads and the workers ran (layout.py)")
    ap.add_argument("--only", default="", help="run only the rows whose name contains this (e.g. recycled)")
    ap.add_argument("--zeus", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")),
                                                   "release", "zeus-custom"))
    args = ap.parse_args()
    need("wrk", "wrk"); need("nginx", "nginx-light")
    nginx_bin = shutil.which("nginx") or "/usr/sbin/nginx"
    if not os.path.exists(args.zeus):
        sys.exit(f"{args.zeus} missing: cargo build --release -p zeus-examples")

    tmp = tempfile.mkdtemp(prefix="zeus-http-bench-")
    os.chmod(tmp, 0o755)  # nginx workers run as another user when started by root
    www = os.path.join(tmp, "www"); os.makedirs(www)
    open(os.path.join(www, "1k.html"), "wb").write(b"x" * 1024)
    open(os.path.join(www, "100k.bin"), "wb").write(os.urandom(100 * 1024))
    zport, nport, rport = free_port(), free_port(), free_port()
    zcfg = os.path.join(tmp, "zeus.toml")
    open(zcfg, "w").write(f'''run_dir = "{tmp}/run"
[logger]
reporting_level = "warn"
show_banner = false
[schedulers.s]
start_processes = 2
max_processes = 2
min_spare_processes = 0
max_spare_processes = 2
max_process_tasks = 0
[services.web]
scheduler_name = "s"
service_adapter = "http"
[services.web.service_settings]
listen_port = {zport}
document_root = "{www}"
mounts = {{ "/api" = "json_api" }}
[schedulers.r]
start_processes = {args.recycle_workers}
max_processes = {args.recycle_workers}
min_spare_processes = 0
max_spare_processes = {args.recycle_workers}
max_process_tasks = {args.recycle}
{"" if args.recycle_overlap is None else f"recycle_overlap = {args.recycle_overlap}"}
[services.recycled]
scheduler_name = "r"
service_adapter = "http"
[services.recycled.service_settings]
listen_port = {rport}
document_root = "{www}"
''')
    ncfg = os.path.join(tmp, "nginx.conf")
    open(ncfg, "w").write(f'''daemon off;
worker_processes 2;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
    include /etc/nginx/mime.types;
    access_log off;
    sendfile on;
    tcp_nopush on;
    # The same 1 s validity as zeus's open_file_cache_valid (zeus also keeps small files'
    # bytes; nginx keeps the open descriptor and its stat).
    open_file_cache max=1000 inactive=20s;
    open_file_cache_valid 1s;
    keepalive_requests 1000000;
    client_body_temp_path {tmp}/nginx-body;
    proxy_temp_path {tmp}/nginx-proxy;
    fastcgi_temp_path {tmp}/nginx-fastcgi;
    uwsgi_temp_path {tmp}/nginx-uwsgi;
    scgi_temp_path {tmp}/nginx-scgi;
    server {{
        listen 127.0.0.1:{nport};
        root {www};
        location = /api/hello {{ default_type application/json; return 200 '{{"hello":"world"}}\\n'; }}
    }}
}}
''')
    procs = []
    try:
        z = subprocess.Popen([args.zeus, "-c", zcfg, "start"], cwd=tmp,
                             stdout=subprocess.DEVNULL, stderr=open(os.path.join(tmp, "zeus.log"), "w"))
        procs.append(z)
        n = subprocess.Popen([nginx_bin, "-c", ncfg, "-p", tmp], stdout=subprocess.DEVNULL,
                             stderr=open(os.path.join(tmp, "nginx.log"), "w"))
        procs.append(n)
        wait_port(zport, z, "zeus"); wait_port(nport, n, "nginx"); wait_port(rport, z, "zeus (recycled)")
        # (name, path, Connection: close, zeus port)
        rows = [("1 KiB, keep-alive", "/1k.html", False, zport),
                ("1 KiB, Connection: close", "/1k.html", True, zport),
                ("100 KiB, keep-alive", "/100k.bin", False, zport),
                ("dynamic (handler / return 200)", "/api/hello", False, zport),
                (f"1 KiB, zeus recycled every {args.recycle}", "/1k.html", False, rport)]
        rows = [r for r in rows if args.only in r[0]]
        results = {(r[0], s): [] for r in rows for s in ("zeus", "nginx")}
        for rnd in range(args.rounds):
            for name, path, close, zp in rows:
                order = [("zeus", zp), ("nginx", nport)] if rnd % 2 == 0 else [("nginx", nport), ("zeus", zp)]
                for server, port in order:
                    pid = z.pid if server == "zeus" else n.pid
                    r = wrk(f"http://127.0.0.1:{port}{path}", args, close, pid)
                    results[(name, server)].append(r)
                    if args.layout:
                        print(f"round {rnd} {name:34} {server:5} {r[0]:9.0f} req/s p99 {r[1]:6.2f} ms "
                              f"{layout.describe(r[4])}", flush=True)
        print(f"wrk -t{args.threads} -c{args.connections} -d{args.duration}s, {args.rounds} alternating rounds; "
              "median req/s, median p99, total errors")
        print(f"{'row':34} {'zeus req/s':>11} {'nginx req/s':>12} {'ratio':>6} {'zeus p99':>9} {'nginx p99':>10} {'errors z/n':>11}")
        med = statistics.median
        for name, *_ in rows:
            zr, nr = results[(name, "zeus")], results[(name, "nginx")]
            zrps, nrps = med([r[0] for r in zr]), med([r[0] for r in nr])
            zp, np_ = med([r[1] for r in zr]), med([r[1] for r in nr])
            print(f"{name:34} {zrps:11.0f} {nrps:12.0f} {zrps / nrps:6.2f} {zp:8.2f}ms {np_:9.2f}ms "
                  f"{sum(r[2] for r in zr):5d}/{sum(r[2] for r in nr):<5d}")
        for name, *_ in rows:
            for server in ("zeus", "nginx"):
                kinds = [sum(r[3][k] for r in results[(name, server)]) for k in range(4)]
                if any(kinds):
                    print(f"  {server} socket errors on {name!r}: connect {kinds[0]}, read {kinds[1]}, "
                          f"write {kinds[2]}, timeout {kinds[3]}")
        print(f"command: {' '.join(sys.argv)}")
        print(f"memory after the run (RSS, whole server): zeus {tree_rss_kib(z.pid) / 1024:.1f} MiB, "
              f"nginx {tree_rss_kib(n.pid) / 1024:.1f} MiB")
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM if p is procs[0] else signal.SIGQUIT)
        for p in procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill(); p.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
