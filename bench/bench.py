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
Ansible's overhead. Target: audit <= 1.5x ping.
4. Fault to healthy (bench_faults.py, on a lab of 2 hubs and 2 nodes of its
   own): each lab fault on a node with the probe and, at the same moment, on
   one with imagenode's systemd unit alone.

Writes bench/results.md: the machine and the date, one summary table of
every comparison, then each part's section. A part that cannot run is
reported as not measured, and the others are kept. BENCH_ONLY="faults audit"
(probe, monitor, audit, faults) runs only some parts (for trying one out).
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
# bench_monitor calls zmq.auth.load_certificate but imports only zmq; the submodule used to come
# with imagenode_monitor.server, which no longer imports it: load it here.
import zmq.auth  # noqa: E402,F401  pylint: disable=unused-import
import bench_faults  # noqa: E402
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


def audit_measure():
    """The audit vs ping measurement on the lab (the lab is down at the end); a dict."""
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
    return {"ping": ping, "audit": audit, "profile": prof, "dead_hub": dead_hub,
            "ping_median": statistics.median(ping), "audit_median": statistics.median(audit),
            "ratio": statistics.median(audit) / statistics.median(ping)}


AUDIT_TITLE = "## Fleet audit vs ansible ping (7 lab nodes)"


def audit_markdown(a):
    """Markdown lines for the audit section."""
    ping, audit, prof, ratio = a["ping"], a["audit"], a["profile"], a["ratio"]
    mp, ma = a["ping_median"], a["audit_median"]
    verdict = "within" if ratio <= TARGET else "OVER"
    return [
        AUDIT_TITLE,
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
        "default; `audit_hub_timeout`/`audit_hub_attempts` tune it)." % a["dead_hub"],
        "",
    ]


def first_line(exc):
    text = str(exc).strip()
    return text.splitlines()[0] if text else repr(exc)


def attempt(key, what, fn):
    """(result, None, s) or (None, why, s): one part that cannot run keeps the others."""
    t0 = time.monotonic()
    only = os.environ.get("BENCH_ONLY", "").split()
    if only and key not in only:
        return None, "skipped (BENCH_ONLY=%s)" % " ".join(only), 0.0
    try:
        result = fn()
    except (SystemExit, Exception) as exc:  # pylint: disable=broad-except
        print("bench: %s not measured: %s" % (what, exc), file=sys.stderr, flush=True)
        return None, first_line(exc), time.monotonic() - t0
    print("bench: %s measured in %.0f s" % (what, time.monotonic() - t0), file=sys.stderr, flush=True)
    return result, None, time.monotonic() - t0


def ratio_text(a, b, fmt="%.2f"):
    return fmt % (a / b) if b else "-"


def summary_table(probe, monitor, audit, faults, why):
    """The one table: every comparison of the run, as ratios where the machine's speed decides."""
    rows = ["| what | imagenode-health | compared with | ratio / result |", "|---|---|---|---|"]
    if audit:
        rows.append("| fleet audit, 7 lab nodes: `playbooks/audit.yml` vs `ansible nodes -m ping` (median s) "
                    "| %.2f | ping %.2f | **%.2f** (target <= %.1f) |" % (
                        audit["audit_median"], audit["ping_median"], audit["ratio"], TARGET))
    else:
        rows.append("| fleet audit vs `ansible -m ping` | not measured | | %s |" % why["audit"])
    if probe:
        p, m, n = probe["probe"], probe["monit"], probe["node_exporter"]
        rows.append("| probe RSS, steady (MiB) | %.1f | node_exporter %.1f; monit %.1f | **%s** x node_exporter; "
                    "%s x monit |" % (p["rss_steady_mib"], n["rss_steady_mib"], m["rss_steady_mib"],
                                      ratio_text(p["rss_steady_mib"], n["rss_steady_mib"]),
                                      ratio_text(p["rss_steady_mib"], m["rss_steady_mib"])))
        rows.append("| probe CPU per cycle (ms, children included) | %.1f | node_exporter %.1f per scrape; "
                    "monit %.1f per cycle | **%s** x node_exporter; %s x monit |" % (
                        p["cpu_ms_per_cycle"], n["cpu_ms_per_cycle"], m["cpu_ms_per_cycle"],
                        ratio_text(p["cpu_ms_per_cycle"], n["cpu_ms_per_cycle"]),
                        ratio_text(p["cpu_ms_per_cycle"], m["cpu_ms_per_cycle"])))
        e = probe["probe_every"]
        rows.append("| probe CPU per cycle with ping_check every cycle (`relaxed_checks: []`, ms) | %.1f | "
                    "the defaults %.1f | %s x the defaults |" % (
                        e["cpu_ms_per_cycle"], p["cpu_ms_per_cycle"],
                        ratio_text(e["cpu_ms_per_cycle"], p["cpu_ms_per_cycle"])))
    else:
        rows.append("| probe RSS and CPU vs node_exporter and monit | not measured | | %s |" % why["probe"])
    if faults:
        for label, with_probe, plain in bench_faults.summary(faults):
            if with_probe[0].isdigit() and plain[0].isdigit():
                result = "%s x the unit alone" % ratio_text(float(with_probe), float(plain))
            elif with_probe[0].isdigit():
                result = "only the probe recovers"
            elif plain[0].isdigit():
                result = "only the unit alone recovers"
            else:
                result = "neither recovers"
            rows.append("| %s | %s | imagenode's systemd unit alone: %s | %s |" % (label, with_probe, plain, result))
    else:
        rows.append("| lab faults, probe vs systemd unit alone | not measured | | %s |" % why["faults"])
    if monitor:
        for r in monitor["runs"]:
            rows.append("| monitor ingest, %d CURVE nodes at 1 heartbeat/s: ACKed/s, lag p99 | %.0f ACKed/s, "
                        "p99 %s ms | %.0f sent/s | %.2f%% ACKed |" % (
                            r["nodes"], r["acked_per_s"], bench_monitor.fmt_ms(r["p99"]), r["sent_per_s"],
                            100 * r["acked_fraction"]))
    else:
        rows.append("| monitor ingest | not measured | | %s |" % why["monitor"])
    return rows


def main():
    m = machine()
    started = time.monotonic()
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    why, took = {}, {}
    # Probe and monitor first, before the lab is up, so its containers do not load the machine.
    probe, why["probe"], took["probe"] = attempt("probe", "probe footprint", bench_probe.measure)
    monitor, why["monitor"], took["monitor"] = attempt(
        "monitor", "monitor ingest", lambda: bench_monitor.measure(bench_monitor.node_counts([])))
    audit, why["audit"], took["audit"] = attempt("audit", "fleet audit vs ping", audit_measure)
    faults, why["faults"], took["faults"] = attempt("faults", "faults in the lab", bench_faults.measure)
    total = time.monotonic() - started
    detail = [
        bench_probe.markdown(probe) if probe else "## Probe footprint\n\nNot measured in this run: %s\n" % why["probe"],
        bench_monitor.markdown(monitor) if monitor else
        "## Monitor ingest\n\nNot measured in this run: %s\n" % why["monitor"],
        "\n".join(audit_markdown(audit) if audit else [AUDIT_TITLE, "", "Not measured in this run: %s" % why["audit"], ""]),
        bench_faults.markdown(faults) if faults else
        "## Fault to healthy: probe vs imagenode's own systemd unit (lab)\n\nNot measured in this run: %s\n" % why["faults"],
    ]
    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench` (bench/bench.py) on %s; the run took %.0f min (probe %.0f s, monitor %.0f s, "
        "audit %.0f s, faults %.0f s)." % (stamp, total / 60, took["probe"], took["monitor"], took["audit"],
                                            took["faults"]),
        "",
        "Machine: %(nproc)d CPUs (nproc), %(cpu)s, %(memory)s memory, kernel %(kernel)s, Python %(python)s." % m,
        "Every comparison runs side by side in one run, as ratios where this (noisy) machine's speed would "
        "otherwise decide; each part runs alone too: `.venv/bin/python bench/bench_probe.py`, "
        "`.venv/bin/python bench/bench_monitor.py [N ...]`, and in a lab hold "
        "`.venv/bin/python bench/bench_faults.py`.",
        "",
        "## Summary",
        "",
    ] + summary_table(probe, monitor, audit, faults, why) + [
        "",
        "The sections below have the method and every run.",
        "",
    ] + detail
    with open(os.path.join(ROOT, "bench", "results.md"), "w") as f:
        f.write("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
