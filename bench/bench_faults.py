#!/usr/bin/env python3
# Copyright (c) 2026 imagenode-health contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""Time from a lab fault to healthy: imagenode-probe vs imagenode's own systemd unit alone.

The lab (lab/labctl.py, needs root and podman; run it inside
`labctl.py hold -- ...`): hub1, hub2 and two nodes started by systemd
(inventory/lab.yml). Both get the stand-in camera under the collection's
imagenode.service (lab/playbooks/cameras.yml: Restart=always, RestartSec=5,
the start limit and its retry unit); only PROBE_NODE also gets the probe
(playbooks/deploy.yml -l hub1,PROBE_NODE; the monitor goes on hub1).
PLAIN_NODE has the unit and nothing else. Both nodes' imagenode.yaml list
hub1, then hub2.

Each fault is injected on both nodes at the same moment (one thread each;
the hub fault is one stop of hub1's program, which both nodes use):

  camera killed      kill -9 of the camera program
  camera frozen      kill -STOP of it (alive to systemd, sending nothing)
  duplicate          a second, bare copy started by hand (setsid runuser -u pi
                     python3 imagenode.py, no launcher, so no lock)
  hub1 stopped       labctl.hub_stop("hub1") (its container keeps running)

Healthy, the same definition for both nodes, polled about once a second:
exactly one camera process (argv[0] python, an argument ending in
imagenode.py), not stopped (ps state T), and new `NODE lab|jpg` frame lines
in a hub's message log since the previous poll (a lab hub logs a message
before it replies, so a stopped hub logs nothing), on two polls in a row.
The time reported is from the injection to the first of those two polls.
After TIMEOUT s without it the result is "not recovered". Between runs
both nodes are put back (hubs up, imagenode.yaml as written by labctl,
strays killed, the unit's start limit reset) and the next fault waits until
both are healthy with a camera older than the probe's grace, so the probe is
not held back by a restart of the previous run.

    .venv/bin/python lab/labctl.py hold -- .venv/bin/python bench/bench_faults.py

BENCH_FAULT_RUNS (2), BENCH_FAULT_TIMEOUT (180 s), BENCH_FAULTS (all, e.g.
"kill frozen") tune it. Prints the markdown section.
"""
import concurrent.futures
import json
import os
import re
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "lab"))
import labctl  # noqa: E402

PROBE_NODE, PLAIN_NODE = "node1", "node2"
NODES = [PROBE_NODE, PLAIN_NODE]
HUBS = ["hub1", "hub2"]
HOSTS = HUBS + NODES
RUNS = int(os.environ.get("BENCH_FAULT_RUNS", "2"))
TIMEOUT = float(os.environ.get("BENCH_FAULT_TIMEOUT", "180"))
FAULTS = [("kill", "camera killed (kill -9)"), ("frozen", "camera frozen (SIGSTOP)"),
          ("duplicate", "duplicate instance started by hand"), ("hub1", "hub1's program stopped")]
WANTED = os.environ.get("BENCH_FAULTS", " ".join(f for f, _ in FAULTS)).split()
WORKDIR = "/home/pi/imagenode/imagenode"
EVENTS = "/var/lib/imagenode-health/events.json"
BIN = os.path.join(ROOT, ".venv", "bin")
ENV = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1",
           PATH="%s:%s" % (BIN, os.environ["PATH"]))
POLL = 1.0  # seconds between the starts of two polls
SETTLE_TIMEOUT = 240  # seconds for both nodes to be healthy again between runs


def log(msg):
    print("bench_faults %s %s" % (time.strftime("%H:%M:%S"), msg), file=sys.stderr, flush=True)


def playbook(*args):
    t0 = time.monotonic()
    proc = subprocess.run([os.path.join(BIN, "ansible-playbook")] + list(args), cwd=ROOT, env=ENV,
                          capture_output=True, text=True, timeout=1200)
    if proc.returncode != 0:
        raise labctl.LabError("ansible-playbook %s failed (exit %d):\n%s%s" % (
            " ".join(args), proc.returncode, proc.stdout[-3000:], proc.stderr[-2000:]))
    return time.monotonic() - t0


def sh(name, *argv, check=True, **kw):
    return labctl.exec_in(name, list(argv), check=check, timeout=60, **kw)


def grace():
    return float(labctl.host(PROBE_NODE)["vars"].get("probe_grace", 60))


# ---- what a poll sees -----------------------------------------------------------

def cameras(name):
    """[(pid, state, age s)] of the camera programs on a node."""
    out = sh(name, "ps", "-eo", "pid=,stat=,etimes=,args=").stdout
    found = []
    for line in out.splitlines():
        parts = line.split(None, 3)
        if len(parts) < 4:
            continue
        args = parts[3].split()
        if os.path.basename(args[0]).startswith("python") and any(a.endswith("imagenode.py") for a in args[1:]):
            found.append((int(parts[0]), parts[1], int(parts[2])))
    return found


class Logs(object):
    """New lines of each hub's message log since the last read."""

    def __init__(self):
        self.offset = dict.fromkeys(HUBS, 0)

    def size(self, hub):
        proc = sh(hub, "stat", "-c", "%s", labctl.HUB_LOG, check=False)
        return int(proc.stdout.strip()) if proc.returncode == 0 else 0

    def skip(self):
        """Forget everything logged so far."""
        for hub in HUBS:
            self.offset[hub] = self.size(hub)

    def read(self, hub):
        proc = sh(hub, "tail", "-c", "+%d" % (self.offset[hub] + 1), labctl.HUB_LOG, check=False, text=False)
        data = proc.stdout if proc.returncode == 0 else b""
        self.offset[hub] += len(data)
        return data.decode("utf-8", "replace")


def frames(text, name):
    return len(re.findall(r"~ %s lab\|jpg" % re.escape(name), text))


def poll(pool, logs):
    """{node: {"cams": [...], "frames": {hub: n}, "healthy": bool}} and when the poll began."""
    at = time.monotonic()
    cams = dict((n, pool.submit(cameras, n)) for n in NODES)
    texts = dict((h, pool.submit(logs.read, h)) for h in HUBS)
    texts = dict((h, f.result()) for h, f in texts.items())
    seen = {}
    for n in NODES:
        c = cams[n].result()
        fr = dict((h, frames(t, n)) for h, t in texts.items())
        seen[n] = {"cams": c, "frames": fr,
                   "healthy": len(c) == 1 and not c[0][1].startswith("T") and sum(fr.values()) > 0}
    return at, seen


def wait_tick(started):
    time.sleep(max(0.0, POLL - (time.monotonic() - started)))


# ---- putting the nodes back ---------------------------------------------------

def restore(pool):
    """Both hubs up, imagenode.yaml as labctl writes it, exactly one camera, the start limit reset."""
    for hub in HUBS:
        if not labctl.hub_answers(labctl.host(hub)["ip"], timeout=1.0):
            labctl.hub_start(hub)

    def node(name):
        h = labctl.host(name)
        now = sh(name, "cat", h["vars"]["imagenode_config"]).stdout
        cams = cameras(name)
        bad = now != labctl.node_config(h) or len(cams) != 1 or cams[0][1].startswith("T")
        active = sh(name, "systemctl", "is-active", "imagenode.service", check=False).stdout.strip()
        if bad or active != "active":
            if now != labctl.node_config(h):
                labctl.setup_node(h)
            sh(name, "systemctl", "stop", "imagenode-retry.service", check=False)
            for pid, _state, _age in cams:
                sh(name, "kill", "-9", str(pid), check=False)
            sh(name, "rm", "-f", "/run/imagenode-retry.state")
            sh(name, "systemctl", "reset-failed", "imagenode.service", "imagenode-retry.service", check=False)
            sh(name, "systemctl", "restart", "imagenode.service")
        # the start limit counts the runs of the previous fault otherwise
        sh(name, "systemctl", "reset-failed", "imagenode.service", check=False)
        return bad
    return dict(zip(NODES, pool.map(node, NODES)))


def settle(pool, logs, min_age):
    """Wait until both nodes are healthy on two polls in a row, each camera min_age s old."""
    deadline = time.monotonic() + SETTLE_TIMEOUT
    logs.skip()
    streak = 0
    while time.monotonic() < deadline:
        at, seen = poll(pool, logs)
        ok = all(s["healthy"] and s["cams"][0][2] >= min_age for s in seen.values())
        streak = streak + 1 if ok else 0
        if streak >= 2:
            return seen
        wait_tick(at)
    raise labctl.LabError("the nodes are not healthy %d s after being put back: %s" % (SETTLE_TIMEOUT, seen))


# ---- the faults ---------------------------------------------------------------

def inject(fault, pool, seen):
    """Inject the fault on both nodes at once; returns the monotonic time it was done."""
    if fault == "hub1":
        labctl.hub_stop("hub1")
        return time.monotonic()

    def one(name):
        pid = str(seen[name]["cams"][0][0])
        if fault == "kill":
            sh(name, "kill", "-9", pid)
        elif fault == "frozen":
            sh(name, "kill", "-STOP", pid)
        elif fault == "duplicate":
            sh(name, "sh", "-c", "cd %s && setsid -f runuser -u pi -- /usr/bin/python3 imagenode.py "
                                 "</dev/null >/dev/null 2>&1" % WORKDIR)
        return time.monotonic()
    done = list(pool.map(one, NODES))
    return max(done)


def probe_events(name):
    proc = sh(name, "cat", EVENTS, check=False)
    try:
        return json.loads(proc.stdout)["events"] if proc.returncode == 0 else []
    except ValueError:
        return []


def trial(fault, pool, logs):
    seen = settle(pool, logs, grace() + 3)
    before = len(probe_events(PROBE_NODE))
    t_inject = time.monotonic()
    t0 = inject(fault, pool, seen)
    logs.skip()  # frames logged before the fault was in place never count
    first, result = dict.fromkeys(NODES), dict.fromkeys(NODES)
    deadline = t0 + TIMEOUT
    while time.monotonic() < deadline and None in result.values():
        at, seen = poll(pool, logs)
        for n in NODES:
            if result[n] is not None:
                continue
            if seen[n]["healthy"]:
                if first[n] is None:
                    first[n] = at
                else:
                    result[n] = round(max(0.0, first[n] - t0), 1)
            else:
                first[n] = None
        wait_tick(at)
    actions = ["%s: %s" % (e.get("action"), e.get("result")) for e in probe_events(PROBE_NODE)[before:]]
    where = dict((n, sorted(h for h, c in seen[n]["frames"].items() if c)) for n in NODES)
    log("%s: %s (inject took %.2f s; probe did %s; frames at %s)" % (
        fault, result, t0 - t_inject, actions or "nothing", where))
    restore(pool)
    return {"seconds": result, "probe_actions": actions, "hubs": where}


def setup():
    t0 = time.monotonic()
    labctl.up(HOSTS)
    cams = playbook("lab/playbooks/cameras.yml", "-l", ",".join(NODES))
    deploy = playbook("playbooks/deploy.yml", "-l", "hub1,%s" % PROBE_NODE)
    return {"setup_s": time.monotonic() - t0, "cameras_s": cams, "deploy_s": deploy}


def measure():
    """Run every wanted fault RUNS times on a lab of its own; the lab is down at the end."""
    out = {"runs": RUNS, "timeout": TIMEOUT, "grace": grace(), "faults": {}}
    t0 = time.monotonic()
    with labctl.lab_session():
        try:
            out.update(setup())
            logs = Logs()
            with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
                try:
                    for _ in range(RUNS):
                        for fault, _label in FAULTS:
                            if fault in WANTED:
                                out["faults"].setdefault(fault, []).append(trial(fault, pool, logs))
                except (labctl.LabError, subprocess.SubprocessError, OSError) as exc:
                    if not out["faults"]:
                        raise
                    # the runs so far are measured: keep them, and say where it stopped
                    out["error"] = str(exc).strip().splitlines()[0]
                    log("stopped: %s" % exc)
        finally:
            labctl.down()
    out["took_s"] = time.monotonic() - t0
    return out


# ---- report -------------------------------------------------------------------

def median_text(values):
    """'12.3' (median), or 'not recovered' if any run did not recover."""
    if not values:
        return "-"
    if any(v is None for v in values):
        ok = [v for v in values if v is not None]
        return "not recovered" + (" (%d of %d runs)" % (len(values) - len(ok), len(values)) if ok else "")
    return "%.1f" % statistics.median(values)


def runs_text(values):
    return ", ".join("-" if v is None else "%.1f" % v for v in values)


def per_fault(r):
    """[(fault, label, probe values, plain values, what the probe did)] in FAULTS order."""
    rows = []
    for fault, label in FAULTS:
        trials = r["faults"].get(fault)
        if trials:
            did = [", ".join(t["probe_actions"]) or "nothing" for t in trials]
            if len(set(did)) > 1:  # say which run did what
                did = ["run %d: %s" % (i + 1, d) for i, d in enumerate(did)]
            rows.append((fault, label, [t["seconds"][PROBE_NODE] for t in trials],
                         [t["seconds"][PLAIN_NODE] for t in trials], list(dict.fromkeys(did))))
    return rows


def summary(r):
    """Rows for bench.py's summary table: (what, probe, plain unit)."""
    return [("%s: fault to healthy (s, median of %d)" % (label, len(probe)),
             median_text(probe), median_text(plain)) for _f, label, probe, plain, _a in per_fault(r)]


def markdown(r):
    lines = [
        "## Fault to healthy: probe vs imagenode's own systemd unit (lab)",
        "",
        "hub1, hub2 and two lab nodes started by systemd; the stand-in camera under the collection's "
        "imagenode.service on both (Restart=always, RestartSec=5, start limit 5 in 120 s, then the retry unit's "
        "backoff); imagenode-probe (cycle %s s, grace %.0f s, as in inventory/lab.yml) on %s only, "
        "%s has the unit alone. Both list hub1 then hub2. Each fault is injected on both nodes at the same moment; "
        "healthy = exactly one camera process, not stopped, and new frames from it in a hub's log on two "
        "polls in a row (about 1 s apart; same definition on both nodes). Time from the injection to the "
        "first of those polls; \"not recovered\" = not healthy %.0f s after the fault. %d run(s) of each fault; "
        "before each run both nodes are put back and healthy, with cameras older than the grace." % (
            labctl.host(PROBE_NODE)["vars"].get("probe_interval", "?"), r["grace"], PROBE_NODE, PLAIN_NODE,
            r["timeout"], r["runs"]),
        "",
        "| fault | probe (%s): runs (s) | median (s) | systemd unit alone (%s): runs (s) | median (s) | "
        "what the probe did |" % (PROBE_NODE, PLAIN_NODE),
        "|---|---|---|---|---|---|",
    ]
    for _f, label, probe, plain, actions in per_fault(r):
        lines.append("| %s | %s | %s | %s | %s | %s |" % (
            label, runs_text(probe), median_text(probe), runs_text(plain), median_text(plain),
            "; ".join(actions)))
    lines += [
        "",
        "\"-\" in a run = not healthy within %.0f s. Setup: lab up, cameras.yml and deploy.yml (hub1 and %s) took "
        "%.0f s (deploy.yml %.0f s); the whole section %.0f s." % (
            r["timeout"], PROBE_NODE, r.get("setup_s", 0), r.get("deploy_s", 0), r.get("took_s", 0)),
        "",
    ]
    if r.get("error"):
        lines += ["**The runs stopped early:** %s" % r["error"], ""]
    return "\n".join(lines)


def main():
    result = measure()
    print(json.dumps(result, indent=1), file=sys.stderr)
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
