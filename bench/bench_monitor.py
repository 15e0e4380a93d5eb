#!/usr/bin/env python3
# Copyright (c) 2026 imagenode-health contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""Monitor ingest: one real `imagenode-monitor run` against N simulated nodes.

The monitor is the real CLI process, pinned to CPU 0 (`--cpu 0`), CURVE on,
its own ZAP handler, a state file, /metrics on a free port, all on 127.0.0.1.
The nodes live in worker processes pinned to the other CPU(s): every node is
its own CURVE DEALER with its own key (authorized in clients/NODE.key, the
name the monitor's `--names key` rule wants), sending one heartbeat a second
built with heartbeat.encode, at evenly spread phases. Lag is measured per
heartbeat by the sender: from just before send to the ACK's receipt (so it
includes both CURVE legs and the workers' own scheduling). The monitor's own
receive lag (lag_quantiles, from /metrics) is reported next to it.

Usage: bench_monitor.py [N ...]   (default 10000; env BENCH_NODES="1000 5000 10000",
BENCH_WINDOW seconds (30), BENCH_PROFILE=1 to also cProfile the monitor at the largest N).
Prints a markdown section; bench.py puts it in bench/results.md.
"""
import array
import json
import multiprocessing
import os
import pstats
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import psutil
import zmq
import zmq.auth  # load_certificate: a submodule `import zmq` alone does not load

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROBES = os.path.join(ROOT, "probes")
sys.path.insert(0, PROBES)
from imagenode_health_core import heartbeat as hb  # noqa: E402
from imagenode_monitor.server import create_keys  # noqa: E402

MONITOR_BIN = os.path.join(PROBES, "bin", "imagenode-monitor")
WINDOW = float(os.environ.get("BENCH_WINDOW", "30"))
WARMUP = 8.0          # seconds of steady sending before the window opens
ACK_TIMEOUT = 5.0     # a heartbeat not ACKed by then counts as lost
CONNECT_BATCH = 100   # DEALERs connected (and greeted) per step during the ramp-up
TARGET_NODES, TARGET_P99 = 10000, 0.100
CHECKS = dict((name, "ok") for name in ("hub_check", "ping_check", "wifi_info", "instance_check",
                                         "latency_check", "sdcard_check", "power_check"))
PUBLIC_CERT = ("#   ZeroMQ CURVE Public Certificate (imagenode-health bench)\n\n"
               "metadata\ncurve\n    public-key = \"%s\"\n")


LAG_KEYS = {"0.5": "lag_p50", "0.9": "lag_p90", "0.99": "lag_p99"}


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def raise_fd_limit(want=65536):
    """Each DEALER costs the worker a TCP fd and a mailbox fd, the monitor one fd per node."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, want), max(hard, want)))
    except (ValueError, OSError):  # no CAP_SYS_RESOURCE: take what the hard limit allows
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def make_keys(directory, count):
    """The monitor's pair plus `count` node keys; only the public halves touch the disk."""
    create_keys(directory, "monitor")
    clients = os.path.join(directory, "clients")
    os.makedirs(clients, exist_ok=True)
    nodes = []
    for i in range(count):
        name = "node%05d" % i
        public, secret = zmq.curve_keypair()
        with open(os.path.join(clients, name + ".key"), "w") as f:
            f.write(PUBLIC_CERT % public.decode("ascii"))
        nodes.append((name, public, secret))
    server_public = zmq.auth.load_certificate(os.path.join(directory, "monitor.key"))[0]
    return nodes, server_public


def http_get(port, path, timeout=30):
    with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=timeout) as response:
        return response.read().decode("utf-8")


def scrape(port):
    """heartbeats_total and the receive-lag quantiles from /metrics (one line each, no node lines kept)."""
    out = {"time": time.monotonic()}
    for line in http_get(port, "/metrics").splitlines():
        if line.startswith("imagenode_monitor_heartbeats_total "):
            out["total"] = int(line.split()[1])
        elif line.startswith("imagenode_monitor_receive_lag_seconds{"):
            quantile = line.split('quantile="', 1)[1].split('"', 1)[0]
            out[LAG_KEYS.get(quantile, quantile)] = float(line.split()[1])
        elif line.startswith("imagenode_monitor_dropped_total{") and not line.endswith(" 0"):
            out.setdefault("dropped", []).append(line)
    return out


# --- the simulated nodes ------------------------------------------------------

class Node(object):
    __slots__ = ("name", "sock", "seq", "due", "pending")

    def __init__(self, name, sock, due):
        self.name, self.sock, self.seq, self.due, self.pending = name, sock, 0, due, None


def beat(node, boot_id, started):
    node.seq += 1
    return hb.encode({"node": node.name, "seq": node.seq, "boot_id": boot_id,
                      "uptime": round(time.monotonic() - started, 3), "sent": round(time.time(), 3),
                      "interval": 1, "status": "ok", "checks": CHECKS, "step": None, "last_action": None,
                      "events": [], "queued": 0})


def connect_all(ctx, nodes, server_public, endpoint, boot_id, started):
    """One DEALER per node, each greeted with a first heartbeat that must be ACKed
    before the schedule starts: so the window measures steady ingest, not the
    reconnect storm (whose length is reported as the ramp-up). Connects go in
    batches, and a batch waits for most of its ACKs, so the monitor's accept
    backlog (libzmq's ZMQ_BACKLOG, 100 by default) is not overrun into SYN retries."""
    out, pending = [], {}
    unused = {"lags": array.array("d"), "acked": 0}
    for i, (name, public, secret) in enumerate(nodes):
        sock = ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.SNDHWM, 100)
        sock.curve_publickey, sock.curve_secretkey, sock.curve_serverkey = public, secret, server_public
        sock.connect(endpoint)
        node = Node(name, sock, 0.0)
        sock.send_multipart(beat(node, boot_id, started))
        node.pending = (node.seq, time.monotonic())
        pending[sock] = node
        out.append(node)
        if i % CONNECT_BATCH == CONNECT_BATCH - 1:
            deadline = time.monotonic() + 10.0
            while len(pending) > CONNECT_BATCH // 2 and time.monotonic() < deadline:
                collect_acks(pending, 10, unused, (0.0, 0.0))
    deadline = time.monotonic() + 60.0
    while pending and time.monotonic() < deadline:
        collect_acks(pending, 10, unused, (0.0, 0.0))
    for node in pending.values():
        node.pending = None
    return out, len(nodes) - len(pending)


def collect_acks(pending, timeout_ms, stats, window):
    """Wait up to timeout_ms for ACKs on the sockets that owe one; record their lag."""
    if not pending:
        time.sleep(timeout_ms / 1000.0)
        return
    ready = zmq.zmq_poll([(node.sock, zmq.POLLIN) for node in pending.values()], timeout_ms)
    now = time.monotonic()
    for sock, _event in ready:
        node = pending.get(sock)
        while True:
            try:
                seq = hb.parse_ack(sock.recv_multipart(zmq.NOBLOCK))
            except zmq.Again:
                break
            if node is not None and node.pending is not None and seq == node.pending[0]:
                sent_at = node.pending[1]
                if window[0] <= sent_at < window[1]:
                    stats["lags"].append(now - sent_at)
                    stats["acked"] += 1
                node.pending = None
                del pending[sock]


def expire(pending, now, stats, window):
    for sock, node in list(pending.items()):
        if now - node.pending[1] > ACK_TIMEOUT:
            if window[0] <= node.pending[1] < window[1]:
                stats["lost"] += 1
            node.pending = None
            del pending[sock]


def worker(cpu, nodes, server_public, endpoint, conn):
    """Connect and greet every node, say so, then send one heartbeat a second per
    node on the schedule the parent sends back; report the window's counts and lags."""
    os.sched_setaffinity(0, {cpu})
    ctx = zmq.Context()
    ctx.set(zmq.MAX_SOCKETS, len(nodes) + 64)
    boot_id = "bench-%d" % os.getpid()
    started = time.monotonic()
    fleet, greeted = connect_all(ctx, nodes, server_public, endpoint, boot_id, started)
    conn.send({"greeted": greeted, "seconds": time.monotonic() - started})
    times = conn.recv()
    per = 1.0 / len(fleet)
    for k, node in enumerate(fleet):
        node.due = times["first_due"] + k * per
    window = (times["window_start"], times["window_end"])
    stats = {"sent": 0, "acked": 0, "lost": 0, "late": 0, "lags": array.array("d")}
    pending = {}
    me = psutil.Process()
    cpu_at = [None, None]  # the worker's CPU times at the window's start and end
    i, count = 0, len(fleet)
    while True:
        now = time.monotonic()
        if now >= times["stop"]:
            break
        # every node whose time has come, in phase order (the list is sorted by due time)
        for _ in range(count):
            node = fleet[i]
            if node.due > now:
                break
            frames = beat(node, boot_id, started)
            sent_at = time.monotonic()
            if node.pending is not None:  # the previous one is still unanswered: it is lost
                if window[0] <= node.pending[1] < window[1]:
                    stats["lost"] += 1
                del pending[node.sock]
            try:
                node.sock.send_multipart(frames, zmq.NOBLOCK)
            except zmq.Again:
                node.pending = None
            else:
                node.pending = (node.seq, sent_at)
                pending[node.sock] = node
            if window[0] <= sent_at < window[1]:
                stats["sent"] += 1
                if sent_at - node.due > 0.1:
                    stats["late"] += 1  # the worker itself could not keep the schedule
            node.due += 1.0
            i = (i + 1) % count
        # at least 1 ms: sends go out in small batches, so the poll's cost is shared
        wait = max(0.0, fleet[i].due - time.monotonic())
        collect_acks(pending, max(1, min(20, int(wait * 1000))), stats, window)
        now = time.monotonic()
        expire(pending, now, stats, window)
        if cpu_at[0] is None and now >= window[0]:
            cpu_at[0] = me.cpu_times()
        if cpu_at[1] is None and now >= window[1]:
            cpu_at[1] = me.cpu_times()
    cpu0, cpu1 = cpu_at[0], cpu_at[1] or me.cpu_times()
    stats["cpu"] = (cpu1.user + cpu1.system) - (cpu0.user + cpu0.system) if cpu0 else 0.0
    stats["lags"] = stats["lags"].tobytes()
    conn.send(stats)
    for node in fleet:
        node.sock.close(0)
    ctx.term()


# --- the monitor ----------------------------------------------------------------

def start_monitor(keys, workdir, profile):
    zport, hport = free_port(), free_port()
    argv = [sys.executable, MONITOR_BIN, "run", "--cpu", "0", "--bind", "tcp://127.0.0.1:%d" % zport,
            "--keys", keys, "--state", os.path.join(workdir, "state.json"), "--metrics", str(hport),
            "--max-nodes", "200000"]
    if profile:
        argv[1:1] = ["-m", "cProfile", "-o", profile]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=open(os.path.join(workdir, "monitor.log"), "w"),
                            env=dict(os.environ, PYTHONPATH=PROBES))
    deadline = time.monotonic() + 60
    while True:
        try:
            http_get(hport, "/healthz", timeout=1)
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("bench_monitor: monitor did not start: " + open(os.path.join(workdir, "monitor.log")).read())
            time.sleep(0.1)
    return proc, "tcp://127.0.0.1:%d" % zport, hport


def thread_split(proc):
    """CPU seconds per monitor thread kind: the Python loop, libzmq's I/O (CURVE, TCP), the rest."""
    split = {}
    for t in proc.threads():
        try:
            with open("/proc/%d/task/%d/comm" % (proc.pid, t.id)) as f:
                comm = f.read().strip()
        except OSError:
            comm = "?"
        kind = "python" if t.id == proc.pid else ("zmq_io" if comm.startswith("ZMQbg/IO") else "other")
        split[kind] = split.get(kind, 0.0) + t.user_time + t.system_time
    return split


def stop(proc):
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def quantile(sorted_values, p):
    if not sorted_values:
        return None
    return sorted_values[min(len(sorted_values) - 1, int(p * len(sorted_values)))]


def run(count, workers_cpus, profile=None):
    """One ingest run at `count` nodes; a dict of what was measured."""
    workdir = tempfile.mkdtemp(prefix="bench-monitor-")
    try:
        keys = os.path.join(workdir, "keys")
        t0 = time.monotonic()
        nodes, server_public = make_keys(keys, count)
        keygen = time.monotonic() - t0
        proc, endpoint, hport = start_monitor(keys, workdir, profile)
        mon = psutil.Process(proc.pid)
        # one worker per CPU (more would only share that CPU's time), unless the
        # fd limit (two per DEALER: TCP and mailbox) needs more processes
        per_worker = max(100, (resource.getrlimit(resource.RLIMIT_NOFILE)[0] - 1000) // 2)
        n_workers = max(len(workers_cpus), -(-count // per_worker))
        slices = [nodes[k::n_workers] for k in range(n_workers)]
        ctx = multiprocessing.get_context("fork")
        pipes, procs = [], []
        ramp0 = time.monotonic()
        for k, part in enumerate(slices):
            parent, child = ctx.Pipe()
            p = ctx.Process(target=worker, args=(workers_cpus[k % len(workers_cpus)], part, server_public,
                                                 endpoint, child))
            p.start()
            pipes.append(parent)
            procs.append(p)
        ready = [pipe.recv() for pipe in pipes]
        ramp = time.monotonic() - ramp0
        now = time.monotonic() + 0.5
        times = {"first_due": now, "window_start": now + WARMUP, "window_end": now + WARMUP + WINDOW}
        times["stop"] = times["window_end"] + ACK_TIMEOUT
        for pipe in pipes:
            pipe.send(times)
        time.sleep(max(0.0, times["window_start"] - 2.0 - time.monotonic()))
        before = scrape(hport)  # outside the window: a scrape renders every node
        time.sleep(max(0.0, times["window_start"] - time.monotonic()))
        cpu0, split0 = mon.cpu_times(), thread_split(mon)
        rss = []
        while time.monotonic() < times["window_end"]:
            rss.append(mon.memory_info().rss)
            time.sleep(1.0)
        cpu1, split1 = mon.cpu_times(), thread_split(mon)
        after = scrape(hport)
        results = [pipe.recv() for pipe in pipes]
        for p in procs:
            p.join(30)
        stop(proc)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    lags = array.array("d")
    for r in results:
        lags.frombytes(r["lags"])
    lags = sorted(lags)
    sent = sum(r["sent"] for r in results)
    acked = sum(r["acked"] for r in results)
    mon_cpu = (cpu1.user + cpu1.system) - (cpu0.user + cpu0.system)
    split = dict((k, split1.get(k, 0.0) - split0.get(k, 0.0)) for k in split1)
    return {"nodes": count, "keygen_s": keygen, "ramp_s": ramp, "greeted": sum(r["greeted"] for r in ready), "window_s": WINDOW, "sent_per_s": sent / WINDOW,
            "acked_per_s": acked / WINDOW, "acked_fraction": acked / float(sent) if sent else 0.0,
            "lost": sum(r["lost"] for r in results), "late_sends": sum(r["late"] for r in results),
            "p50": quantile(lags, 0.50), "p99": quantile(lags, 0.99), "max": lags[-1] if lags else None,
            "monitor_cpu_pct": 100.0 * mon_cpu / WINDOW,
            "monitor_split_pct": dict((k, 100.0 * v / WINDOW) for k, v in split.items()),
            "monitor_rss_mib": max(rss) / 1048576.0 if rss else None,
            "ingest_per_s": (after["total"] - before["total"]) / (after["time"] - before["time"]),
            "monitor_lag": dict((k, v) for k, v in after.items() if k.startswith("lag_")),
            "dropped": after.get("dropped", []),
            "workers": len(results), "worker_cpus": sorted(set(workers_cpus)),
            "worker_cpu_pct": 100.0 * sum(r["cpu"] for r in results) / WINDOW}


def profile_top(path, limit=12):
    """The monitor's heaviest functions (own time) from a cProfile dump, as text lines."""
    stats = pstats.Stats(path)
    total = stats.total_tt
    rows = sorted(stats.stats.items(), key=lambda kv: -kv[1][2])[:limit]
    out = []
    for (filename, line, func), (_cc, calls, tottime, _cum, _callers) in rows:
        where = "%s:%d" % (os.path.basename(filename), line) if line else filename
        out.append("%s %s: %.1f%% (%d calls)" % (func, where, 100.0 * tottime / total, calls))
    return out


def node_counts(argv):
    if argv:
        return [int(a) for a in argv]
    return [int(n) for n in os.environ.get("BENCH_NODES", "1000 5000 10000").split()]


def measure(counts):
    """Every run, smallest first, then (BENCH_PROFILE=1) a profiled run at the largest."""
    raise_fd_limit()
    cpus = sorted(os.sched_getaffinity(0))
    workers_cpus = [c for c in cpus if c != 0] or [0]
    runs = [run(n, workers_cpus) for n in sorted(counts)]
    prof = None
    if os.environ.get("BENCH_PROFILE") == "1":
        dump = tempfile.mktemp(prefix="bench-monitor-", suffix=".prof")
        run(max(counts), workers_cpus, profile=dump)
        prof = profile_top(dump)
        os.unlink(dump)
    return {"runs": runs, "profile": prof}


def fmt_ms(seconds):
    return "-" if seconds is None else "%.1f" % (seconds * 1000)


def markdown(result):
    runs = result["runs"]
    lines = [
        "## Monitor ingest (simulated nodes, CURVE on)",
        "",
        "One `imagenode-monitor run --cpu 0` (real CLI, CURVE + its own ZAP handler, `--names key`, state file "
        "saved every second, /metrics) on 127.0.0.1; every node its own CURVE DEALER with its own authorized key, "
        "one `heartbeat.encode`d heartbeat a second at evenly spread phases, from %d worker processes pinned "
        "to CPU %s. Ramp-up = every node connected, CURVE handshake and ZAP done, first heartbeat ACKed (%d at a time). Then %.0f s of warm-up and a %.0f s window. Lag = send to ACK receipt, measured "
        "by the sender (both CURVE legs and the workers' own scheduling included)." % (
            runs[0]["workers"], ",".join(str(c) for c in runs[0]["worker_cpus"]), CONNECT_BATCH, WARMUP, WINDOW),
        "",
        "| nodes | ramp-up (s) | sent/s | ACKed/s | ACKed | lag p50 (ms) | lag p99 (ms) | lag max (ms) | monitor CPU % "
        "(python / zmq I/O) | monitor RSS (MiB) | monitor receive lag p50/p99 (ms) | workers CPU % |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        split = r["monitor_split_pct"]
        lag = r["monitor_lag"]
        lines.append("| %d | %.1f | %.0f | %.0f | %.2f%% | %s | %s | %s | %.0f (%.0f / %.0f) | %.0f | %s / %s | %.0f |" % (
            r["nodes"], r["ramp_s"], r["sent_per_s"], r["acked_per_s"], 100 * r["acked_fraction"], fmt_ms(r["p50"]),
            fmt_ms(r["p99"]), fmt_ms(r["max"]), r["monitor_cpu_pct"], split.get("python", 0),
            split.get("zmq_io", 0), r["monitor_rss_mib"] or 0, fmt_ms(lag.get("lag_p50")), fmt_ms(lag.get("lag_p99")),
            r["worker_cpu_pct"] or 0))
    big = [r for r in runs if r["nodes"] >= TARGET_NODES]
    if big:
        r = big[-1]
        met = (r["acked_fraction"] >= 0.999 and r["acked_per_s"] >= 0.99 * r["nodes"]
               and r["p99"] is not None and r["p99"] < TARGET_P99)
        lines += ["", "**Target (10,000 nodes at 1 heartbeat/s on one core, CURVE on, p99 lag < %d ms): %s** "
                  "(%d nodes: %.0f ACKed/s, p99 %s ms)." % (TARGET_P99 * 1000, "met" if met else "NOT met",
                                                            r["nodes"], r["acked_per_s"], fmt_ms(r["p99"]))]
    else:
        lines += ["", "Target (10,000 nodes) not measured in this run."]
    drops = sorted(set(d for r in runs for d in r["dropped"]))
    if drops:
        lines += ["", "Monitor drops: " + "; ".join("`%s`" % d for d in drops) + "."]
    if result.get("profile"):
        lines += ["", "cProfile of the monitor's Python thread at %d nodes (own time, top):" % max(r["nodes"] for r in runs),
                  ""] + ["- " + line for line in result["profile"]]
    return "\n".join(lines) + "\n"


def main(argv):
    result = measure(node_counts(argv))
    print(json.dumps(result, indent=1, default=str), file=sys.stderr)
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
