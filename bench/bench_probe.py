#!/usr/bin/env python3
# Copyright (c) 2026 imagenode-health contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""Probe footprint: `imagenode-probe run` next to Debian's monit and
prometheus-node-exporter, side by side, in the same wall window.

All three run in the foreground as our own children, with temporary configs
(their system services are never enabled or started):
- the probe: every check of node_health, cycle every INTERVAL s, with the
  Environment= of the role's imagenode-probe.service, a real
  imagezmq ImageHub on loopback as its hub, the stand-in imagenode camera
  program, a real monitor on loopback for its heartbeats, grace of an hour
  so it never acts on this host, ping_check without the gateway (loopback only);
  its default relaxed_checks (ping_check with the expensive checks while healthy);
- the same probe with `relaxed_checks: []` (ping_check every cycle), its own
  node name, key, state and outputs, half a cycle out of phase with the first;
- monit: `set daemon INTERVAL`, the camera process, the hub's TCP port, the
  root filesystem and the system: what the probe's cheap checks look at;
- node_exporter: default collectors plus the probe's textfile, on
  127.0.0.1, scraped by this script once every INTERVAL s.
Measured with psutil: RSS (max, and median of the second half = steady) and
CPU (user+system, waited-for children included) per cycle: the probe's
cycles are counted exactly from its state file, node_exporter's are our
scrapes, monit's are window / INTERVAL (it keeps no counter).

The probe runs as the probe role installs it: the role's bundle (bundle.py's
file list: imagenode_probe, the shared core, bin/imagenode-probe) copied
into the temporary directory and byte-compiled, as /opt/imagenode-health is
after the service's first start. Run from the repo instead (BENCH_PROBE_FROM=repo)
under PYTHONDONTWRITEBYTECODE, every start compiles all of its modules from
source, and the compiler's memory stays in the steady RSS (about 1.5 MiB).

Usage: bench_probe.py   (env BENCH_PROBE_WINDOW seconds, default 60; BENCH_PROBE_INTERVAL, default 2;
BENCH_PROBE_FROM bundle (default) or repo).
Prints a markdown section; bench.py puts it in bench/results.md.
"""
import compileall
import json
import multiprocessing
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

import psutil

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROBES = os.path.join(ROOT, "probes")
sys.path.insert(0, PROBES)
from imagenode_monitor.server import create_keys  # noqa: E402

WINDOW = float(os.environ.get("BENCH_PROBE_WINDOW", "60"))
INTERVAL = float(os.environ.get("BENCH_PROBE_INTERVAL", "2"))
NODE = "benchnode"
NODE_EVERY = "benchnode-every"  # the second probe: ping_check every cycle (relaxed_checks: [])
# iputils-ping as on a node (Raspberry Pi OS and the lab image have it): where ping_check would
# run ping, the bench counts what it costs (the children's CPU is in the probe's figure).
PACKAGES = ("monit", "prometheus-node-exporter", "iputils-ping")
MONIT, NODE_EXPORTER, PING = "/usr/bin/monit", "/usr/bin/prometheus-node-exporter", "/usr/bin/ping"
STANDIN = os.path.join(ROOT, "tests", "standin", "imagenode.py")
PROBE_FROM = os.environ.get("BENCH_PROBE_FROM", "bundle")
BUNDLE_DIR = os.path.join(ROOT, "collections", "ansible_collections", "imagenode", "health", "roles", "probe", "files")


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ensure_packages():
    """apt-get install monit, node_exporter and ping when absent, with their services
    held off (a temporary policy-rc.d, Debian's switch for exactly that)."""
    if all(os.path.exists(path) for path in (MONIT, NODE_EXPORTER, PING)):
        return
    policy = "/usr/sbin/policy-rc.d"
    ours = not os.path.exists(policy)
    if ours:
        with open(policy, "w") as f:
            f.write("#!/bin/sh\n# written by imagenode-health bench/bench_probe.py for one apt-get run\nexit 101\n")
        os.chmod(policy, 0o755)
    try:
        subprocess.run(["apt-get", "install", "-y", "--no-install-recommends"] + list(PACKAGES), check=True,
                       env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"), stdout=subprocess.DEVNULL)
    finally:
        if ours:
            os.unlink(policy)
    # apt enables the units for the next boot on systemd hosts: undo that, we run them ourselves
    if shutil.which("systemctl") and os.path.isdir("/run/systemd/system"):
        subprocess.run(["systemctl", "disable", "--now", "monit", "prometheus-node-exporter"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def version(argv):
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        return (out.stdout or out.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.SubprocessError):
        return "?"


# --- what the probe watches -------------------------------------------------------

def serve_hub(address):
    """A real imagezmq ImageHub answering OK (in its own process: its CPU is nobody's)."""
    import imagezmq
    hub = imagezmq.ImageHub(open_port=address)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    while True:
        if hub.zmq_socket.poll(200):
            hub.recv_jpg()
            hub.send_reply(b"OK")


def write(path, text, mode=0o644):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


def setup(work):
    """Keys, configs and directories of the three; returns the paths and ports used."""
    env = {"hub_port": free_port(), "mon_port": free_port(), "mon_http": free_port(), "nx_port": free_port()}
    env["hub"] = "tcp://127.0.0.1:%d" % env["hub_port"]
    keys = os.path.join(work, "keys")
    create_keys(keys, "monitor")
    create_keys(keys, NODE, authorize=True)
    create_keys(keys, NODE_EVERY, authorize=True)
    env["keys"] = keys
    for sub in ("state", "queue", "facts", "prom", "camera", "monit", "every"):
        os.makedirs(os.path.join(work, sub))
    env["imagenode_yaml"] = os.path.join(work, "camera", "imagenode.yaml")
    write(env["imagenode_yaml"], "node:\n  name: %s\n  heartbeat: 10\n  patience: 10\nhub_address:\n  H1: %s\n"
          "cameras:\n  P1:\n    viewname: bench\n    framerate: 2\n" % (NODE, env["hub"]))
    state = os.path.join(work, "state")
    probe = {"node": NODE, "imagenode_config": env["imagenode_yaml"], "interval": INTERVAL,
             "grace": 3600, "reboot_command": ["true"], "launcher": ["true"],
             "check_options": {"ping_check": {"gateway": False},
                               "latency_check": {"path": state, "state_file": os.path.join(state, "latency.json")},
                               "sdcard_check": {"manifest_file": os.path.join(state, "manifest.json")}},
             "monitors": [{"address": "tcp://127.0.0.1:%d" % env["mon_port"],
                           "server_key": os.path.join(keys, "monitor.key")}],
             "client_key": os.path.join(keys, NODE + ".key_secret"),
             "state_dir": state, "queue_dir": os.path.join(work, "queue"),
             "facts_file": os.path.join(work, "facts", "imagenode_health.fact"),
             "textfile": os.path.join(work, "prom", "imagenode_health.prom")}
    env["probe_yaml"] = os.path.join(work, "probe.yaml")
    write(env["probe_yaml"], json.dumps(probe, indent=1))  # JSON is YAML
    env["state_json"] = os.path.join(state, "state.json")
    every = os.path.join(work, "every")
    probe_every = dict(probe, node=NODE_EVERY, relaxed_checks=[], client_key=os.path.join(keys, NODE_EVERY + ".key_secret"),
                       state_dir=every, queue_dir=os.path.join(every, "queue"),
                       facts_file=os.path.join(every, "imagenode_health.fact"),
                       textfile=os.path.join(every, "imagenode_health.prom"),
                       check_options=dict(probe["check_options"], latency_check={
                           "path": every, "state_file": os.path.join(every, "latency.json")},
                           sdcard_check={"manifest_file": os.path.join(every, "manifest.json")}))
    env["probe_every_yaml"] = os.path.join(work, "probe-every.yaml")
    write(env["probe_every_yaml"], json.dumps(probe_every, indent=1))
    env["every_state_json"] = os.path.join(every, "state.json")
    env["prom_dir"] = os.path.join(work, "prom")
    m = os.path.join(work, "monit")
    env["monitrc"] = os.path.join(m, "monitrc")
    write(env["monitrc"], "\n".join([
        "set daemon %d" % INTERVAL,
        "set logfile %s/monit.log" % m, "set idfile %s/monit.id" % m,
        "set statefile %s/monit.state" % m, "set pidfile %s/monit.pid" % m,
        'check process imagenode matching "imagenode.py"',
        "check host hub with address 127.0.0.1",
        "    if failed port %d type tcp then alert" % env["hub_port"],
        "check filesystem rootfs with path /",
        "    if space usage > 95% then alert",
        "check system bench", "    if loadavg (1min) > 64 then alert", ""]), 0o600)
    return env


def install_probe(work):
    """The probe as the role installs it (bundle.py's members) under work/opt, byte-compiled;
    returns the bin/imagenode-probe to run. BENCH_PROBE_FROM=repo: the repo's own."""
    if PROBE_FROM == "repo":
        return os.path.join(PROBES, "bin", "imagenode-probe")
    if PROBE_FROM != "bundle":
        raise SystemExit("bench_probe: BENCH_PROBE_FROM must be bundle or repo, not %r" % PROBE_FROM)
    sys.path.insert(0, BUNDLE_DIR)
    try:
        import bundle
    finally:
        sys.path.remove(BUNDLE_DIR)
    opt = os.path.join(work, "opt")
    for name, path, mode in bundle.members("imagenode_probe"):
        target = os.path.join(opt, name)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copyfile(path, target)
        os.chmod(target, mode)
    for package in ("imagenode_probe", "imagenode_health_core"):
        if not compileall.compile_dir(os.path.join(opt, package), quiet=1):
            raise SystemExit("bench_probe: cannot byte-compile %s" % package)
    return os.path.join(opt, "bin", "imagenode-probe")


def unit_environment():
    """The Environment= settings of the role's imagenode-probe.service: the probe runs with them on a node."""
    env = {}
    with open(os.path.join(BUNDLE_DIR, "systemd", "imagenode-probe.service")) as f:
        for line in f:
            line = line.strip()
            if line.startswith("Environment="):
                for item in line[len("Environment="):].split():
                    key, _sep, value = item.strip('"').partition("=")
                    env[key] = value
    return env


def start_all(work, env):
    """The hub, camera, monitor, then the three measured programs; {name: Popen}."""
    py = sys.executable
    log = open(os.path.join(work, "children.log"), "w")
    ctx = multiprocessing.get_context("fork")
    hub = ctx.Process(target=serve_hub, args=(env["hub"],), daemon=True)
    hub.start()
    procs = {"hub": hub}
    procs["camera"] = subprocess.Popen([py, STANDIN, env["imagenode_yaml"]], cwd=os.path.join(work, "camera"),
                                       stdout=log, stderr=log)
    procs["monitor"] = subprocess.Popen([py, os.path.join(PROBES, "bin", "imagenode-monitor"), "run",
                                         "--bind", "tcp://127.0.0.1:%d" % env["mon_port"], "--keys", env["keys"],
                                         "--state", os.path.join(work, "monitor-state.json"),
                                         "--metrics", str(env["mon_http"])], stdout=log, stderr=log)
    time.sleep(1.0)
    probe = install_probe(work)
    procs["probe"] = subprocess.Popen([py, probe, "--config", env["probe_yaml"], "run"],
                                      stdout=log, stderr=log, env=dict(os.environ, **unit_environment()))
    time.sleep(INTERVAL / 2)  # half a cycle apart: the two probes' cycles do not overlap
    procs["probe_every"] = subprocess.Popen([py, probe, "--config", env["probe_every_yaml"], "run"],
                                            stdout=log, stderr=log, env=dict(os.environ, **unit_environment()))
    procs["monit"] = subprocess.Popen([MONIT, "-I", "-c", env["monitrc"]], stdout=log, stderr=log)
    procs["node_exporter"] = subprocess.Popen([NODE_EXPORTER, "--web.listen-address=127.0.0.1:%d" % env["nx_port"],
                                               "--collector.textfile.directory=%s" % env["prom_dir"]],
                                              stdout=log, stderr=log)
    return procs


def stop_all(procs):
    for name, proc in procs.items():
        try:
            if isinstance(proc, subprocess.Popen):
                proc.terminate()
                proc.wait(15)
            else:
                proc.terminate()
                proc.join(15)
        except (subprocess.TimeoutExpired, OSError):
            proc.kill()


# --- measuring ----------------------------------------------------------------------

def cycle_count(state_json):
    try:
        with open(state_json) as f:
            return int(json.load(f).get("cycle") or 0)
    except (OSError, ValueError):
        return None


def wait_cycle_change(state_json, timeout):
    """Block until the probe's state file shows a new cycle: window edges fall right after a cycle."""
    first = cycle_count(state_json)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = cycle_count(state_json)
        if now is not None and now != first:
            return now
        time.sleep(0.02)
    raise SystemExit("bench_probe: the probe wrote no new cycle in %.0f s" % timeout)


def cpu_seconds(proc):
    """user + system of proc and of its children it has waited for (ping, ip, dmesg...)."""
    t = proc.cpu_times()
    return t.user + t.system + t.children_user + t.children_system


def own_cpu_seconds(proc):
    t = proc.cpu_times()
    return t.user + t.system


def scrape(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=10) as response:
        return response.read()


def measure_window(procs, env):
    names = ("probe", "probe_every", "monit", "node_exporter")
    ps = dict((n, psutil.Process(procs[n].pid)) for n in names)
    wait_cycle_change(env["state_json"], 30 + 3 * INTERVAL)   # warm-up: one full cycle
    c0 = wait_cycle_change(env["state_json"], 30 + 3 * INTERVAL)
    # right after the first probe's cycle, half a cycle before the second's: both counts are steady
    e0 = cycle_count(env["every_state_json"])
    t0 = time.monotonic()
    cpu0 = dict((n, cpu_seconds(p)) for n, p in ps.items())
    own0 = dict((n, own_cpu_seconds(ps[n])) for n in ("probe", "probe_every"))
    rss = dict((n, []) for n in names)
    scrapes, textfile_seen, next_scrape = 0, False, t0
    while time.monotonic() - t0 < WINDOW:
        if time.monotonic() >= next_scrape:
            body = scrape(env["nx_port"])
            textfile_seen = textfile_seen or b"imagenode_health" in body
            scrapes += 1
            next_scrape += INTERVAL
        for n, p in ps.items():
            rss[n].append(p.memory_info().rss)
        time.sleep(0.5)
    c1 = wait_cycle_change(env["state_json"], 30 + 3 * INTERVAL)
    e1 = cycle_count(env["every_state_json"])
    wall = time.monotonic() - t0
    cpu1 = dict((n, cpu_seconds(p)) for n, p in ps.items())
    own1 = dict((n, own_cpu_seconds(ps[n])) for n in ("probe", "probe_every"))
    if e0 is None or e1 is None:
        raise SystemExit("bench_probe: the second probe (relaxed_checks: []) wrote no state")
    cycles = {"probe": c1 - c0, "probe_every": e1 - e0, "monit": wall / INTERVAL, "node_exporter": scrapes}
    out = {}
    for n in names:
        steady = rss[n][len(rss[n]) // 2:]
        out[n] = {"rss_max_mib": max(rss[n]) / 1048576.0, "rss_steady_mib": statistics.median(steady) / 1048576.0,
                  "cpu_s": cpu1[n] - cpu0[n], "cycles": cycles[n],
                  "cpu_ms_per_cycle": 1000.0 * (cpu1[n] - cpu0[n]) / max(1, cycles[n])}
    for n in ("probe", "probe_every"):
        out[n]["own_cpu_ms_per_cycle"] = 1000.0 * (own1[n] - own0[n]) / max(1, cycles[n])
    out["wall_s"] = wall
    out["textfile_exported"] = textfile_seen
    return out


def probe_report(state_json):
    """The probe's last cycle as it saw it: status per check (the state file carries no checks: read the fact)."""
    try:
        with open(state_json) as f:
            state = json.load(f)
    except (OSError, ValueError):
        state = {}
    return {"heartbeats_sent": state.get("heartbeats_sent"), "queue_length": state.get("queue_length")}


def measure():
    ensure_packages()
    work = tempfile.mkdtemp(prefix="bench-probe-")
    try:
        env = setup(work)
        procs = start_all(work, env)
        try:
            result = measure_window(procs, env)
            result["probe_state"] = probe_report(env["state_json"])
            result["probe_every_state"] = probe_report(env["every_state_json"])
            with open(os.path.join(work, "facts", "imagenode_health.fact")) as f:
                result["probe_fact"] = json.load(f)
        finally:
            stop_all(procs)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result["versions"] = {"monit": version([MONIT, "-V"]), "node_exporter": version([NODE_EXPORTER, "--version"])}
    return result


def markdown(r):
    p, e, m, n = r["probe"], r["probe_every"], r["monit"], r["node_exporter"]
    rss_ratio = p["rss_steady_mib"] / n["rss_steady_mib"]
    cpu_ok = p["cpu_ms_per_cycle"] <= 5.0
    checks = (r.get("probe_fact") or {}).get("checks") or {}
    lines = [
        "## Probe footprint (probe vs monit vs node_exporter, same window)",
        "",
        "All of them in the foreground with temporary configs, side by side for %.0f s; cycle every %.0f s. "
        "Probe: `imagenode-probe run` (%s), every node_health check (expensive ones every 6th cycle), a real "
        "imagezmq ImageHub and the stand-in camera on loopback, heartbeats to a monitor on loopback "
        "(%s ACKed). monit (%s): `set daemon %.0f`, process, hub TCP port, root filesystem, system. "
        "node_exporter (%s): default collectors + the probe's textfile (%s), scraped once per cycle by the bench. "
        "CPU = user + system including waited-for children; probe cycles counted from its state file "
        "(%d), monit's = window / interval, node_exporter's = scrapes (%d)." % (
            r["wall_s"], INTERVAL, "installed from the role's bundle, byte-compiled" if PROBE_FROM == "bundle"
            else "from the repo", r["probe_state"].get("heartbeats_sent"), r["versions"]["monit"], INTERVAL,
            r["versions"]["node_exporter"], "exported" if r["textfile_exported"] else "NOT seen in the scrape",
            p["cycles"], n["cycles"]),
        "",
        "| program | RSS steady (MiB) | RSS max (MiB) | CPU ms per cycle |",
        "|---|---|---|---|",
        "| imagenode-probe (defaults: ping_check relaxed while healthy) | %.1f | %.1f | %.2f (own process %.2f, "
        "the rest its ping/ip/... children) |" % (
            p["rss_steady_mib"], p["rss_max_mib"], p["cpu_ms_per_cycle"], p["own_cpu_ms_per_cycle"]),
        "| imagenode-probe, `relaxed_checks: []` (ping_check every cycle) | %.1f | %.1f | %.2f (own process %.2f) |" % (
            e["rss_steady_mib"], e["rss_max_mib"], e["cpu_ms_per_cycle"], e["own_cpu_ms_per_cycle"]),
        "| monit | %.1f | %.1f | %.2f |" % (m["rss_steady_mib"], m["rss_max_mib"], m["cpu_ms_per_cycle"]),
        "| prometheus-node-exporter | %.1f | %.1f | %.2f (per scrape) |" % (
            n["rss_steady_mib"], n["rss_max_mib"], n["cpu_ms_per_cycle"]),
        "",
        "Ratios probe / node_exporter: RSS %.2f, CPU per cycle %.2f. Probe / monit: RSS %.2f, CPU per cycle %.2f." % (
            rss_ratio, p["cpu_ms_per_cycle"] / max(1e-9, n["cpu_ms_per_cycle"]),
            p["rss_steady_mib"] / m["rss_steady_mib"], p["cpu_ms_per_cycle"] / max(1e-9, m["cpu_ms_per_cycle"])),
        "",
        "**Targets: RSS <= node_exporter's: %s (%.1f vs %.1f MiB); CPU per cycle <= 5 ms: %s (%.2f ms).**" % (
            "met" if rss_ratio <= 1.0 else "NOT met", p["rss_steady_mib"], n["rss_steady_mib"],
            "met" if cpu_ok else "NOT met", p["cpu_ms_per_cycle"]),
        "",
        "With ping_check every cycle (`relaxed_checks: []`, %d cycles, %s ACKed): %.2f ms per cycle, %.2f x the "
        "defaults (%s the 5 ms target); RSS %.1f MiB." % (
            e["cycles"], r["probe_every_state"].get("heartbeats_sent"), e["cpu_ms_per_cycle"],
            e["cpu_ms_per_cycle"] / max(1e-9, p["cpu_ms_per_cycle"]),
            "within" if e["cpu_ms_per_cycle"] <= 5.0 else "above", e["rss_steady_mib"]),
    ]
    if checks:
        lines += ["", "The probe's checks at the end: %s." % ", ".join("%s %s" % kv for kv in sorted(checks.items()))]
    return "\n".join(lines) + "\n"


def main():
    result = measure()
    print(json.dumps(result, indent=1, default=str), file=sys.stderr)
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
