#!/usr/bin/env python3
"""make demo's eyes: the heartbeat monitor's live view, and the nodes' event logs.

    watch.py until NODES=WANT ... [--timeout S]
        Poll the monitor on hub1 (http://10.89.42.11:9108/state.json, the
        lab network only) once a second and print a line whenever a node's
        state, failing checks or last action changes, until every NODES
        (comma-separated) reaches WANT, or the timeout (exit 1, saying which
        did not). WANT is one of
          healthy  heartbeating with status ok
          up       heartbeating and not failing (ok or warn)
          healed   a new action since this watch began, and now up
          acted    a new action since this watch began, whatever its result
          refused  a new action since this watch began that was refused
                   (a reboot the budget did not allow)
          silent   no heartbeat for silent_after intervals
    watch.py events --since EPOCH [--playbook NODES --from A --to B]
        What each node's event log (/var/lib/imagenode-health/events.json,
        written by the probe and by the playbooks alike) records since EPOCH,
        one line per action. Records on NODES made between epochs A and B
        were made while recover.yml ran on them, the rest by the probe (the
        only other writer in the lab).

Only the standard library; run with the venv's python from the repo root.
"""
import argparse
import json
import os
import subprocess
import sys
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "lab"))
import labctl  # noqa: E402

MONITOR = "http://%s:9108/state.json" % labctl.host("hub1")["ip"]
SHORT = {"hub_check": "hub", "ping_check": "ping", "wifi_info": "wifi", "instance_check": "inst",
         "latency_check": "lat", "sdcard_check": "sd", "power_check": "pwr"}
WANTS = ("healthy", "up", "healed", "acted", "refused", "silent")


def snapshot():
    try:
        with urllib.request.urlopen(MONITOR, timeout=3) as response:
            return json.loads(response.read().decode("utf-8"))
    except Exception as exc:  # pylint: disable=broad-except  # a monitor restarting is not the end
        return {"error": str(exc), "nodes": {}}


def action_key(entry):
    last = entry.get("last_action") or {}
    return (last.get("action"), last.get("result"), last.get("time"))


def bad_checks(entry):
    return " ".join("%s:%s" % (SHORT.get(name, name), status) for name, status in sorted(
        (entry.get("checks") or {}).items(), key=lambda kv: list(SHORT).index(kv[0]) if kv[0] in SHORT else 99)
        if status in ("warn", "fail"))


def reached(want, entry, first_action):
    if not entry:
        return False
    state = entry.get("state")
    up = state in ("healthy", "degraded")
    new_action = entry.get("last_action") and action_key(entry) != first_action
    refused = bool(new_action) and (entry.get("last_action") or {}).get("result") == "refused"
    return {"healthy": state == "healthy", "up": up, "healed": bool(new_action) and up,
            "acted": bool(new_action), "refused": refused, "silent": state == "silent"}[want]


def until(specs, timeout):
    wanted = {}
    for spec in specs:
        names, _, want = spec.partition("=")
        if want not in WANTS:
            raise SystemExit("watch.py: %r: want one of %s" % (spec, ", ".join(WANTS)))
        for name in names.split(","):
            wanted[name] = want
    started = time.monotonic()
    first = snapshot().get("nodes") or {}
    first_action = dict((n, action_key(first.get(n) or {})) for n in wanted)
    seen = {}
    done = set()
    while True:
        nodes = snapshot().get("nodes") or {}
        elapsed = time.monotonic() - started
        for name in sorted(wanted):
            entry = nodes.get(name) or {}
            shown = (entry.get("state"), bad_checks(entry), entry.get("step"), action_key(entry),
                     entry.get("out_of_order") or 0)
            if shown != seen.get(name):
                previous = seen.get(name)
                seen[name] = shown
                line = "  %+5.0fs %-6s %-8s" % (elapsed, name, entry.get("state") or "not seen yet")
                if shown[1]:
                    line += " %s" % shown[1]
                if previous is None or previous[3] != shown[3]:
                    last = entry.get("last_action") or {}
                    if last and action_key(entry) != first_action[name]:
                        line += "  | probe step %s: %s" % (last.get("action"), last.get("result"))
                        summary = (last.get("summary") or "").strip()
                        if summary:
                            line += " (%s)" % (summary[:110] + ("..." if len(summary) > 110 else ""))
                if shown[4] and (previous is None or previous[4] != shown[4]):
                    line += "  [monitor dropped %d out-of-order heartbeat(s) from it]" % shown[4]
                print(line, flush=True)
            if name not in done and reached(wanted[name], entry, first_action[name]):
                done.add(name)
                print("  %+5.0fs %-6s -> %s" % (elapsed, name, wanted[name]), flush=True)
        if len(done) == len(wanted):
            return 0
        if elapsed > timeout:
            missing = sorted(set(wanted) - done)
            print("  TIMEOUT after %.0f s: not %s" % (elapsed, ", ".join("%s %s" % (n, wanted[n]) for n in missing)),
                  flush=True)
            return 1
        time.sleep(1.0)


def node_events(name):
    proc = labctl.exec_in(name, ["cat", "/var/lib/imagenode-health/events.json"], check=False, timeout=20)
    if proc.returncode != 0:
        return []
    try:
        return json.loads(proc.stdout).get("events") or []
    except ValueError:
        return []


def events(since, playbook_nodes, t_from, t_to):
    for h in labctl.fleet():
        if h["role"] != "node":
            continue
        records = [e for e in node_events(h["name"]) if float(e.get("epoch") or 0) >= since]
        if not records:
            print("  %-6s no action recorded" % h["name"])
            continue
        for e in records:
            epoch = float(e.get("epoch") or 0)
            by = "recover.yml" if (h["name"] in playbook_nodes and t_from <= epoch <= t_to) else "probe"
            summary = ((e.get("evidence") or {}).get("summary") or "").strip()
            print("  %-6s %s  %-11s %-17s %-9s %s" % (h["name"], e.get("time", "?")[11:19], by, e.get("action"),
                                                    e.get("result"), summary[:90]))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("until")
    p.add_argument("specs", nargs="+", metavar="NODES=WANT")
    p.add_argument("--timeout", type=float, default=120)
    p = sub.add_parser("events")
    p.add_argument("--since", type=float, required=True)
    p.add_argument("--playbook", default="")
    p.add_argument("--from", dest="t_from", type=float, default=0)
    p.add_argument("--to", dest="t_to", type=float, default=0)
    args = ap.parse_args()
    if args.cmd == "until":
        return until(args.specs, args.timeout)
    events(args.since, [n for n in args.playbook.split(",") if n], args.t_from, args.t_to)
    return 0


if __name__ == "__main__":
    sys.exit(main())
