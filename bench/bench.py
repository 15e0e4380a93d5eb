#!/usr/bin/env python3
# Copyright (c) 2026 imagenode-health contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""`make bench`: every benchmark in one run, one bench/results.md.

1. Probe footprint (bench_probe.py): the probe next to monit and node_exporter.
2. Monitor ingest (bench_monitor.py): simulated nodes against one monitor.
   Both run first, before the lab is up, so its containers do not load the machine.
3. The fleet audit against Ansible's own ping, on the 7-node lab:

Side by side in one run: `ansible-playbook playbooks/audit.yml` (node_health,
one module call per node, plus the printed table) and
`ansible nodes -m ansible.builtin.ping` (the cheapest possible round trip),
RUNS times each, interleaved (ping, audit, ping, audit, ...) after one
unmeasured warm-up of each, so both see the same machine load. Both hubs are
up: a healthy fleet (a dead hub costs hub_check's timeout by design, which is
measured separately below as "hub2 stopped"). Then one audit of node1 with the
JSON callback splits the time into node_health's own elapsed (per check) and
Ansible's overhead. Writes bench/results.md; target: audit <= 1.5x ping.
"""
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "lab"))
sys.path.insert(0, os.path.join(ROOT, "bench"))
import labctl  # noqa: E402
import bench_monitor  # noqa: E402
import bench_probe  # noqa: E402

RUNS = int(os.environ.get("BENCH_RUNS", "3"))
TARGET = 1.5
BIN = os.path.join(ROOT, ".venv", "bin")
ENV = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1",
           PATH="%s:%s" % (BIN, os.environ["PATH"]))
# The bench times the audit; a fleet found unhealthy is a result, not a failed run.
AUDIT = [os.path.join(BIN, "ansible-playbook"), "playbooks/audit.yml", "-e", "audit_fail_on=never"]
PING = [os.path.join(BIN, "ansible"), "nodes", "-m", "ansible.builtin.ping"]


def timed(argv, env=ENV):
    t0 = time.monotonic()
    proc = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    took = time.monotonic() - t0
    if proc.returncode != 0:
        raise SystemExit("bench: %s failed (exit %d):\n%s%s" % (" ".join(argv[:3]), proc.returncode,
                                                                proc.stdout[-3000:], proc.stderr[-2000:]))
    return took, proc.stdout


def machine():
    model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_kb = int(f.readline().split()[1])
    return {"nproc": os.cpu_count(), "cpu": model, "memory": "%.1f GiB" % (mem_kb / 1024.0 / 1024),
            "kernel": platform.release(), "python": platform.python_version()}


def profile():
    """node_health on node1 through Ansible, JSON callback: its own elapsed vs the wall time."""
    env = dict(ENV, ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json")
    took, out = timed([os.path.join(BIN, "ansible"), "nodes", "-m", "imagenode.health.node_health",
                       "-a", json.dumps({"config": "/home/pi/imagenode.yaml"})], env)
    hosts = json.loads(out)["plays"][0]["tasks"][0]["hosts"]
    elapsed = sorted(h["elapsed"] for h in hosts.values())
    checks = {}
    for h in hosts.values():
        for name, res in h["checks"].items():
            checks.setdefault(name, []).append(res["elapsed"])
    return {"wall": took, "node_max": elapsed[-1], "node_median": statistics.median(elapsed),
            "checks": dict((n, max(v)) for n, v in sorted(checks.items(), key=lambda kv: -max(kv[1])))}


def audit_section():
    """The audit vs ping measurement on the lab; markdown lines."""
    with labctl.lab_session():
        labctl.up()
        try:
            timed(PING)
            timed(AUDIT)  # warm-up: page cache, the image's python bytecode
            ping, audit = [], []
            for _ in range(RUNS):
                ping.append(timed(PING)[0])
                audit.append(timed(AUDIT)[0])
            prof = profile()
            labctl.hub_stop("hub2")
            dead_hub = timed(AUDIT)[0]
        finally:
            labctl.down()
    mp, ma = statistics.median(ping), statistics.median(audit)
    ratio = ma / mp
    verdict = "within" if ratio <= TARGET else "OVER"
    return [
        "## Fleet audit vs ansible ping (7 lab nodes)",
        "",
        "Both hubs up; %d runs of each, interleaved, after one warm-up of each." % RUNS,
        "",
        "| command | runs (s) | median (s) |",
        "|---|---|---|",
        "| `ansible nodes -m ansible.builtin.ping` | %s | %.2f |" % (", ".join("%.2f" % t for t in ping), mp),
        "| `ansible-playbook playbooks/audit.yml` | %s | %.2f |" % (", ".join("%.2f" % t for t in audit), ma),
        "",
        "**Ratio audit / ping: %.2f** (target <= %.1f: %s)." % (ratio, TARGET, verdict),
        "",
        "Profile (one `ansible nodes -m imagenode.health.node_health`, JSON callback): wall %.2f s; "
        "node_health's own elapsed on a node: median %.2f s, max %.2f s, so Ansible's overhead "
        "(connection, module transfer, interpreter start) is about %.2f s of it." % (
            prof["wall"], prof["node_median"], prof["node_max"], prof["wall"] - prof["node_max"]),
        "Slowest checks (max over nodes, s): %s." % ", ".join("%s %.2f" % kv for kv in prof["checks"].items()),
        "",
        "With hub2 stopped, one audit took %.2f s: hub_check waits out its timeout (2 s x 2 attempts by "
        "default; `audit_hub_timeout`/`audit_hub_attempts` tune it)." % dead_hub,
        "",
    ]


def main():
    m = machine()
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    probe = bench_probe.markdown(bench_probe.measure())
    print(probe, flush=True)
    monitor = bench_monitor.markdown(bench_monitor.measure(bench_monitor.node_counts([])))
    print(monitor, flush=True)
    try:
        audit = audit_section()
    except (SystemExit, Exception) as exc:  # the other sections are measured: keep them
        audit = ["## Fleet audit vs ansible ping (7 lab nodes)", "", "Not measured in this run: %s" % (
            str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)), ""]
    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench` (bench/bench.py) on %s." % stamp,
        "",
        "Machine: %(nproc)d CPUs (nproc), %(cpu)s, %(memory)s memory, kernel %(kernel)s, Python %(python)s." % m,
        "Each section compares side by side in one run (ratios), since this machine is noisy; each runs alone "
        "too: `.venv/bin/python bench/bench_probe.py`, `.venv/bin/python bench/bench_monitor.py [N ...]`.",
        "",
        probe,
        monitor,
    ] + audit
    with open(os.path.join(ROOT, "bench", "results.md"), "w") as f:
        f.write("\n".join(lines))
    print("\n".join(audit))
    return 0


if __name__ == "__main__":
    sys.exit(main())
