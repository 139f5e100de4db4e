"""Where the kernel places a load generator's threads and a server's workers: samples, every
100 ms while a command runs, the CPU each task of both process trees last ran on
(/proc/PID/task/TID/stat field 39), then classifies each sample by where the two busiest client
threads and the two busiest server tasks were.

- paired: the two client threads on different CPUs, and the two server tasks too (2 CPUs: each
  CPU runs one of each);
- split: both client threads on one CPU, both server tasks on another;
- other: anything else (tasks moving, a server task sharing a CPU with both client threads).
"""
import os, threading, time


def tasks(pid):
    """{tid: (cpu, utime + stime ticks)} of every thread of `pid` and its descendants."""
    out, todo = {}, [pid]
    while todo:
        p = todo.pop()
        try:
            for tid in os.listdir(f"/proc/{p}/task"):
                f = open(f"/proc/{p}/task/{tid}/stat").read()
                rest = f[f.rindex(")") + 2:].split()  # rest[0] is field 3: field n is rest[n - 3]
                out[int(tid)] = (int(rest[36]), int(rest[11]) + int(rest[12]))
            todo += [int(k) for k in open(f"/proc/{p}/task/{p}/children").read().split()]
        except (OSError, ValueError):
            pass
    return out


class Sampler:
    """Samples the trees of `server_pid` and `client_pid` in a thread until `stop()`."""

    def __init__(self, server_pid, client_pid, every=0.1):
        self.samples, self._stop, self.sockets = [], threading.Event(), {}
        self._th = threading.Thread(target=self._run, args=(server_pid, client_pid, every), daemon=True)
        self._th.start()

    def _run(self, server_pid, client_pid, every):
        while not self._stop.is_set():
            self.samples.append((tasks(server_pid), tasks(client_pid)))
            if len(self.samples) == 20:  # 2 s in: connections are spread by then
                self.sockets = {t: sockets(t) for t in busiest(self.samples, 0)}
            time.sleep(every)

    def stop(self, skip=5):
        """Stops and returns {"paired": n, "split": n, "other": n}, leaving out the first
        `skip` samples (connects) and the last one (the client may be exiting)."""
        self._stop.set(); self._th.join()
        c = classify(self.samples[skip:-1])
        c["sockets"] = sorted(self.sockets.values())
        return c


def sockets(pid):
    """Open sockets of process `pid` (its connections, plus listeners and channels)."""
    try:
        return sum(1 for fd in os.listdir(f"/proc/{pid}/fd")
                   if os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:"))
    except OSError:
        return -1


def busiest(samples, which, n=2):
    if not samples:
        return []
    first, last = samples[0][which], samples[-1][which]
    used = {t: last[t][1] - first.get(t, (0, 0))[1] for t in last}
    return sorted(used, key=used.get, reverse=True)[:n]


def classify(samples):
    srv, cli = busiest(samples, 0), busiest(samples, 1)
    counts, line = {"paired": 0, "split": 0, "other": 0}, []
    for s, c in samples:
        try:
            w, k = {s[t][0] for t in srv}, {c[t][0] for t in cli}
        except KeyError:
            continue
        kind = "paired" if len(w) == 2 and len(k) == 2 else \
            "split" if len(w) == 1 and len(k) == 1 and w != k else "other"
        counts[kind] += 1
        line.append(kind[0])
    counts["timeline"] = "".join(line)
    return counts


def describe(c):
    n = (c["paired"] + c["split"] + c["other"]) or 1
    return (f"paired {c['paired'] / n:4.0%} split {c['split'] / n:4.0%} other {c['other'] / n:4.0%}"
            f" sockets {'/'.join(map(str, c['sockets']))}")


def _self_test():
    """`python3 benches/load/layout.py`: checks `classify` on made-up samples."""
    def at(cpus):  # {tid: (cpu, ticks)}: tid i used i + 1 ticks, so busiest() keeps order
        return {tid: (cpu, 10 * (tid + 1)) for tid, cpu in enumerate(cpus)}
    zero = ({t: (0, 0) for t in range(3)}, {t: (0, 0) for t in range(3)})
    # server tasks 1, 2 and client threads 1, 2 are the busiest (tid 0 is idle in both)
    paired = (at([0, 0, 1]), at([1, 1, 0]))
    split = (at([1, 0, 0]), at([0, 1, 1]))
    crowded = (at([0, 0, 1]), at([0, 1, 1]))  # server task 2 shares CPU 1 with both clients
    c = classify([zero, paired, paired, split, crowded])
    assert (c["paired"], c["split"], c["other"]) == (2, 1, 2), c  # `zero`: all on CPU 0
    assert c["timeline"] == "oppso", c
    print("layout.py: self-test passed")


if __name__ == "__main__":
    _self_test()
