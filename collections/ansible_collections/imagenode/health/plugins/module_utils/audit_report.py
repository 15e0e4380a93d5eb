# Copyright (c) 2026 imagenode-health contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""The fleet audit report: JSON for machines, one self-contained HTML page for people.

Input is what a playbook has after node_health ran on every node: a dict
host -> that host's registered result, where an unreachable host's result is
Ansible's `{"unreachable": true, "msg": ...}`. Out of it comes one report
(every node's status, checks, summaries and evidence; WiFi signal and
latency against the node's baseline; what changed since the previous report),
written with a timestamp and under the stable name `latest`, older reports
rotated away.

Baselines: latency_check keeps its own rolling baseline on the node and
reports its median, which is used when present. Everything else (the WiFi
signal, the hub round trip, a latency probe still learning) gets its
baseline from the report history: every report carries each node's last
values forward, and the baseline is their median.

Plain Python, no Ansible import: the action plugin, the module and the tests
call it alike. The HTML has no script and loads nothing (a Content Security
Policy says so to the browser), every value from a node is HTML-escaped, so
a node name or a summary holding markup is shown, never run.
"""

import html
import json
import os
import re
import statistics
import time

from .atomic_file import atomic_write
from .check_result import CheckError, Stopwatch, make_result

FORMAT = 1
UNREACHABLE = "unreachable"
# Node states in the report, best first: node_health's statuses plus one for
# a node that could not be asked.
STATES = ("ok", "unknown", "warn", "fail", UNREACHABLE)
_RANK = dict((state, rank) for rank, state in enumerate(STATES))
# What each fail_on threshold counts as a reason for a non-zero exit.
THRESHOLDS = {
    "never": (),
    "unreachable": (UNREACHABLE,),
    "fail": ("fail", UNREACHABLE),
    "warn": ("warn", "fail", UNREACHABLE),
}
# "Failing" in the change list: the states an operator is woken up for.
BAD = ("fail", UNREACHABLE)
CHECK_ORDER = ("hub_check", "ping_check", "wifi_info", "instance_check", "latency_check", "sdcard_check",
               "power_check")
LATENCY_PROBES = ("write", "read", "spawn", "ssh")
# A value this far from its baseline is flagged in the report.
SIGNAL_DROP_DB = 10
SLOWER_FACTOR = 2.0
SLOWER_MIN_MS = 5.0

NAME_RE = re.compile(r"^audit-(\d{8}T\d{6}Z)(?:-(\d+))?\.json$")
LATEST_JSON = "latest.json"
LATEST_HTML = "latest.html"

# The options of the action plugin and of the module (Ansible argument_spec form).
OPTIONS = {
    "results": {"type": "dict", "required": True},
    "dest_dir": {"type": "path", "required": True},
    "keep": {"type": "int", "default": 30},
    "history": {"type": "int", "default": 10},
    "fail_on": {"type": "str", "choices": list(THRESHOLDS), "default": "never"},
    "title": {"type": "str", "default": "imagenode fleet audit"},
}


# ---- plain data ------------------------------------------------------------------------------------

def plain(value):
    """value as builtin JSON types only. Registered results reach the action
    plugin as Ansible's own str/dict/list subclasses; the report must not
    depend on them, and anything exotic becomes its text."""
    if isinstance(value, dict):
        return dict((str(k), plain(v)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    return str(value)


def natural_key(name):
    """node2 before node10."""
    return [(0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", name) if part]


def _number(value):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


# ---- one node ----------------------------------------------------------------------------------------

def node_state(result):
    """(state, summary, reachable) of one host's registered node_health result."""
    if not isinstance(result, dict) or not result:
        return UNREACHABLE, "no result (the host was not reached)", False
    if result.get("unreachable"):
        return UNREACHABLE, "unreachable: %s" % (result.get("msg") or "no reason given"), False
    if result.get("skipped"):
        return "unknown", "skipped: %s" % (result.get("skip_reason") or "no reason given"), True
    status = result.get("status")
    if status not in _RANK or status == UNREACHABLE:
        # Reached, but node_health did not run there (no Python, a module error).
        return "fail", "node_health could not run: %s" % (result.get("msg") or "no status returned"), True
    return status, str(result.get("summary") or ""), True


def node_metrics(checks):
    """The measurements the report follows over time, with the node's own
    baseline where a check has one: {name: (value, node_baseline)}."""
    metrics = {}
    wifi = checks.get("wifi_info") or {}
    signal = _number(wifi.get("signal_dbm"))
    if signal is not None:
        metrics["signal_dbm"] = (signal, None)
    hubs = ((checks.get("hub_check") or {}).get("evidence") or {}).get("hubs") or []
    for hub in hubs:
        if isinstance(hub, dict) and hub.get("ok") and _number(hub.get("rtt_ms")) is not None:
            metrics["hub_rtt_ms"] = (_number(hub["rtt_ms"]), None)
            break
    probes = (checks.get("latency_check") or {}).get("probes") or {}
    for name in LATENCY_PROBES:
        probe = probes.get(name)
        if isinstance(probe, dict) and _number(probe.get("ms")) is not None:
            metrics["latency_%s_ms" % name] = (_number(probe["ms"]), _number(probe.get("baseline_median_ms")))
    return metrics


def judge_metric(name, value, baseline):
    """A flag when value is far from baseline: weaker signal, slower operation."""
    if baseline is None:
        return None
    if name == "signal_dbm":
        return "weaker" if value <= baseline - SIGNAL_DROP_DB else None
    if value >= baseline * SLOWER_FACTOR and value - baseline >= SLOWER_MIN_MS:
        return "slower"
    return None


def build_node(name, result, previous_node, window):
    state, summary, reachable = node_state(result)
    checks = {}
    if isinstance(result, dict) and isinstance(result.get("checks"), dict):
        checks = dict((k, v) for k, v in result["checks"].items() if isinstance(v, dict))
    old_history = (previous_node or {}).get("history") or {}
    history = dict((k, [v for v in vals if _number(v) is not None])
                   for k, vals in old_history.items() if isinstance(vals, list))
    metrics = {}
    for metric, (value, node_baseline) in sorted(node_metrics(checks).items()):
        past = history.get(metric, [])
        if node_baseline is not None:
            baseline, source, samples = node_baseline, "node", None
        elif past:
            baseline, source, samples = round(statistics.median(past), 3), "reports", len(past)
        else:
            baseline, source, samples = None, None, 0
        metrics[metric] = {"value": value, "baseline": baseline, "baseline_source": source,
                           "baseline_samples": samples, "flag": judge_metric(metric, value, baseline)}
        history[metric] = (past + [value])[-window:]
    node = {"status": state, "summary": summary, "reachable": reachable, "checks": checks,
            "metrics": metrics, "history": history}
    if isinstance(result, dict) and result.get("elapsed") is not None:
        node["elapsed"] = result.get("elapsed")
    return node


# ---- the fleet ---------------------------------------------------------------------------------------

def over_threshold(nodes, fail_on):
    """Names of the nodes whose state fail_on counts, worst first."""
    counted = THRESHOLDS[fail_on]
    names = [n for n, node in nodes.items() if node["status"] in counted]
    return sorted(names, key=lambda n: (-_RANK[nodes[n]["status"]], natural_key(n)))


def diff(previous_nodes, nodes):
    """What changed since the previous report."""
    changes = {"newly_failing": [], "recovered": [], "new": [], "gone": [], "status_changed": [],
               "checks_newly_failing": [], "checks_recovered": []}
    for name in sorted(nodes, key=natural_key):
        now = nodes[name]["status"]
        if name not in previous_nodes:
            changes["new"].append(name)
            if now in BAD:
                changes["newly_failing"].append({"node": name, "from": None, "to": now})
            continue
        before = previous_nodes[name].get("status")
        if before != now:
            changes["status_changed"].append({"node": name, "from": before, "to": now})
            if now in BAD and before not in BAD:
                changes["newly_failing"].append({"node": name, "from": before, "to": now})
            elif before in BAD and now not in BAD:
                changes["recovered"].append({"node": name, "from": before, "to": now})
        old_checks = previous_nodes[name].get("checks") or {}
        for check, res in sorted(nodes[name]["checks"].items()):
            was = (old_checks.get(check) or {}).get("status")
            if was is None:
                continue
            entry = {"node": name, "check": check, "from": was, "to": res.get("status"),
                     "summary": res.get("summary")}
            if res.get("status") == "fail" and was != "fail":
                changes["checks_newly_failing"].append(entry)
            elif was == "fail" and res.get("status") != "fail":
                changes["checks_recovered"].append(entry)
    changes["gone"] = sorted((n for n in previous_nodes if n not in nodes), key=natural_key)
    return changes


def build_report(results, previous=None, now=None, fail_on="never", window=10, title="imagenode fleet audit"):
    """The report of one audit. results: host -> registered node_health result."""
    if fail_on not in THRESHOLDS:
        raise CheckError("fail_on must be one of %s, not %r" % (", ".join(THRESHOLDS), fail_on))
    if window < 1:
        raise CheckError("history must be at least 1")
    now = time.time() if now is None else now
    results = plain(results or {})
    previous_nodes = (previous or {}).get("nodes") or {}
    nodes = dict((name, build_node(name, results[name], previous_nodes.get(name), window))
                 for name in sorted(results, key=natural_key))
    counts = dict((state, 0) for state in STATES)
    for node in nodes.values():
        counts[node["status"]] += 1
    states = [node["status"] for node in nodes.values()]
    fleet = max(states, key=_RANK.get) if states else "unknown"
    report = {
        "format": FORMAT,
        "title": title,
        "generated_epoch": int(now),
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
        "fleet": {"status": fleet, "total": len(nodes), "counts": counts},
        "fail_on": fail_on,
        "over_threshold": over_threshold(nodes, fail_on),
        "previous": None,
        "changes": diff(previous_nodes, nodes) if previous else None,
        "nodes": nodes,
    }
    if previous:
        report["previous"] = {"id": previous.get("id"), "generated_at": previous.get("generated_at")}
    return report


def summary_line(report):
    counts = report["fleet"]["counts"]
    parts = ["%d %s" % (counts[s], s) for s in reversed(STATES) if counts[s]]
    line = "%d node(s): %s" % (report["fleet"]["total"], ", ".join(parts) or "none")
    changes = report["changes"]
    if changes is None:
        line += "; first report here"
    else:
        for key, label in (("newly_failing", "newly failing"), ("recovered", "recovered")):
            if changes[key]:
                line += "; %s: %s" % (label, ", ".join("%s (%s)" % (c["node"], c["to"]) for c in changes[key]))
        for key in ("new", "gone"):
            if changes[key]:
                line += "; %s: %s" % (key, ", ".join(changes[key]))
    return line


# ---- HTML ----------------------------------------------------------------------------------------------

CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222;background:#fafafa}
h1{font-size:1.5em;margin:0 0 .2em}h2{font-size:1.15em;margin:0}
.meta{color:#555;margin-bottom:1em}
.counts span,.badge{display:inline-block;padding:.1em .6em;border-radius:.8em;margin-right:.3em;font-weight:600}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(11em,1fr));gap:.5em;margin:1em 0}
.cell{display:block;padding:.6em;border-radius:.4em;text-decoration:none;color:inherit;border:1px solid #0002}
.cell .name{font-weight:700;font-size:1.05em;word-break:break-all}.cell .st{font-size:.85em;text-transform:uppercase}
.cell .sum{font-size:.8em;color:#333;overflow:hidden;max-height:4.2em}
.st-ok{background:#c8ebc9}.st-warn{background:#ffe3a3}.st-fail{background:#f7b4b0}
.st-unknown{background:#dcdcdc}.st-unreachable{background:#c9b7e6}
.node{background:#fff;border:1px solid #ddd;border-left:.5em solid #999;border-radius:.3em;margin:1em 0;padding:.8em}
.node.st-ok{border-left-color:#3a9d3f}.node.st-warn{border-left-color:#e0a100}.node.st-fail{border-left-color:#d0342c}
.node.st-unknown{border-left-color:#999}.node.st-unreachable{border-left-color:#6a4bb0}
.node.st-ok,.node.st-warn,.node.st-fail,.node.st-unknown,.node.st-unreachable{background:#fff}
table{border-collapse:collapse;margin:.5em 0;width:100%}th,td{text-align:left;padding:.25em .5em;vertical-align:top}
th{background:#f0f0f0}tr+tr td{border-top:1px solid #eee}
td.status{width:6em;font-weight:600;text-transform:uppercase}
.flag{color:#b00;font-weight:700}
details pre{white-space:pre-wrap;word-break:break-all;background:#f6f6f6;padding:.5em;font-size:.8em;max-height:30em;overflow:auto}
.changes li{margin:.1em 0}.none{color:#777}
"""

METRIC_LABELS = {
    "signal_dbm": ("WiFi signal", "dBm"),
    "hub_rtt_ms": ("hub round trip", "ms"),
    "latency_write_ms": ("latency: fsync'd write", "ms"),
    "latency_read_ms": ("latency: read", "ms"),
    "latency_spawn_ms": ("latency: process spawn", "ms"),
    "latency_ssh_ms": ("latency: ssh", "ms"),
}


def esc(value):
    return html.escape("" if value is None else str(value), quote=True)


def _state_class(state):
    return "st-%s" % (state if state in _RANK else "unknown")


def _fmt(value):
    if value is None:
        return "-"
    return ("%.1f" % value) if isinstance(value, float) else str(value)


def _change_items(changes, key, text):
    items = changes.get(key) or []
    if not items:
        return '<li class="none">%s: none</li>' % esc(text)
    shown = []
    for item in items:
        if isinstance(item, dict):
            what = item["node"] + (" %s" % item["check"] if item.get("check") else "")
            shown.append("%s (%s &rarr; %s)" % (esc(what), esc(item.get("from") or "new"), esc(item.get("to"))))
        else:
            shown.append(esc(item))
    return "<li><b>%s</b>: %s</li>" % (esc(text), ", ".join(shown))


def render_html(report):
    """The report as one HTML page: inline CSS, no script, nothing fetched."""
    nodes = report["nodes"]
    names = sorted(nodes, key=natural_key)
    anchors = dict((name, "node-%d" % i) for i, name in enumerate(names, 1))
    out = ['<!DOCTYPE html>', '<html lang="en"><head><meta charset="utf-8">',
           # Nothing but the inline style may load or run, whatever a node's data holds.
           '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; style-src \'unsafe-inline\'">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           '<title>%s %s</title>' % (esc(report["title"]), esc(report["generated_at"])),
           '<style>%s</style></head><body>' % CSS,
           '<h1>%s</h1>' % esc(report["title"])]
    fleet = report["fleet"]
    prev = report.get("previous") or {}
    out.append('<div class="meta">generated %s &middot; %d node(s) &middot; fleet status '
               '<span class="badge %s" id="fleet-status">%s</span> &middot; previous audit %s</div>'
               % (esc(report["generated_at"]), fleet["total"], _state_class(fleet["status"]), esc(fleet["status"]),
                  esc(prev.get("generated_at") or "none")))
    out.append('<div class="counts" id="counts">%s</div>' % "".join(
        '<span class="%s" data-state="%s">%s %d</span>' % (_state_class(s), s, esc(s), fleet["counts"][s])
        for s in reversed(STATES) if fleet["counts"][s]))
    if report["fail_on"] != "never":
        over = report["over_threshold"]
        out.append('<p id="threshold">fail_on=%s: %s</p>' % (
            esc(report["fail_on"]), ("<b>%d node(s) over the threshold</b>: %s" % (len(over), esc(", ".join(over))))
            if over else "no node over the threshold"))
    out.append('<h2>Fleet</h2><div class="grid" id="fleet-grid">')
    for name in names:
        node = nodes[name]
        out.append('<a class="cell %s" id="cell-%s" href="#%s" data-node="%s" data-status="%s">'
                   '<div class="name">%s</div><div class="st">%s</div><div class="sum">%s</div></a>'
                   % (_state_class(node["status"]), anchors[name], anchors[name], esc(name), esc(node["status"]),
                      esc(name), esc(node["status"]), esc(node["summary"])))
    out.append('</div>')
    out.append('<h2>Since the previous audit</h2><ul class="changes" id="changes">')
    changes = report.get("changes")
    if changes is None:
        out.append('<li class="none">no previous report: this is the first one here</li>')
    else:
        for key, text in (("newly_failing", "newly failing"), ("recovered", "recovered"), ("new", "new nodes"),
                          ("gone", "gone"), ("status_changed", "status changed"),
                          ("checks_newly_failing", "checks newly failing"), ("checks_recovered", "checks recovered")):
            out.append(_change_items(changes, key, text))
    out.append('</ul>')
    for name in names:
        out.append(_render_node(name, anchors[name], nodes[name]))
    out.append('</body></html>\n')
    return "\n".join(out)


def _render_node(name, anchor, node):
    state = _state_class(node["status"])
    out = ['<section class="node %s" id="%s" data-node="%s">' % (state, anchor, esc(name)),
           '<h2>%s <span class="badge %s">%s</span></h2>' % (esc(name), state, esc(node["status"])),
           '<p class="summary">%s</p>' % esc(node["summary"])]
    if node["metrics"]:
        out.append('<table class="metrics"><tr><th>measure</th><th>now</th><th>baseline</th><th></th></tr>')
        for metric in sorted(node["metrics"], key=lambda m: list(METRIC_LABELS).index(m) if m in METRIC_LABELS else 99):
            m = node["metrics"][metric]
            label, unit = METRIC_LABELS.get(metric, (metric, ""))
            if m["baseline"] is None:
                base = "none yet"
            elif m["baseline_source"] == "node":
                base = "%s %s (the node's own)" % (_fmt(m["baseline"]), unit)
            else:
                base = "%s %s (median of %d report(s))" % (_fmt(m["baseline"]), unit, m["baseline_samples"])
            out.append('<tr data-metric="%s"><td>%s</td><td>%s %s</td><td>%s</td><td class="flag">%s</td></tr>'
                       % (esc(metric), esc(label), esc(_fmt(m["value"])), esc(unit), esc(base), esc(m["flag"] or "")))
        out.append('</table>')
    elif not node["reachable"]:
        out.append('<p class="none">no measurements: the node was not reached</p>')
    if node["checks"]:
        out.append('<table class="checks"><tr><th>check</th><th>status</th><th>summary and evidence</th></tr>')
        order = [c for c in CHECK_ORDER if c in node["checks"]] + sorted(c for c in node["checks"]
                                                                         if c not in CHECK_ORDER)
        for check in order:
            res = node["checks"][check]
            details = dict((k, v) for k, v in res.items() if k not in ("status", "summary"))
            out.append('<tr class="check" data-check="%s"><td>%s</td><td class="status %s">%s</td>'
                       '<td>%s<details><summary>evidence</summary><pre>%s</pre></details></td></tr>'
                       % (esc(check), esc(check), _state_class(res.get("status")), esc(res.get("status")),
                          esc(res.get("summary")), esc(json.dumps(details, indent=1, sort_keys=True, default=str))))
        out.append('</table>')
    out.append('</section>')
    return "\n".join(out)


# ---- files -----------------------------------------------------------------------------------------------

def list_reports(dest_dir):
    """The timestamped JSON reports in dest_dir, oldest first."""
    try:
        names = os.listdir(dest_dir)
    except OSError:
        return []
    found = []
    for name in names:
        match = NAME_RE.match(name)
        if match:
            found.append(((match.group(1), int(match.group(2) or 1)), os.path.join(dest_dir, name)))
    return [entry[1] for entry in sorted(found)]


def load_previous(dest_dir):
    """(report, path) of the newest readable report in dest_dir, or (None, None)."""
    for path in reversed(list_reports(dest_dir)):
        try:
            with open(path, "rb") as handle:
                report = json.loads(handle.read().decode("utf-8"))
        except (IOError, OSError, ValueError):
            continue  # a damaged report is skipped, the one before it still counts
        if isinstance(report, dict) and report.get("format") == FORMAT and isinstance(report.get("nodes"), dict):
            return report, path
    return None, None


def new_id(dest_dir, now):
    """audit-<UTC time>, with -2, -3... when that second is taken already."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
    report_id, seq = "audit-%s" % stamp, 1
    while os.path.exists(os.path.join(dest_dir, report_id + ".json")):
        seq += 1
        report_id = "audit-%s-%d" % (stamp, seq)
    return report_id


def rotate(dest_dir, keep):
    """Remove all but the newest `keep` timestamped reports (0 keeps all)."""
    if keep <= 0:
        return []
    removed = []
    for path in list_reports(dest_dir)[:-keep]:
        for victim in (path, path[:-len(".json")] + ".html"):
            try:
                os.unlink(victim)
                removed.append(victim)
            except OSError:
                pass
    return removed


def run_audit_report(results, dest_dir, keep=30, history=10, fail_on="never", title="imagenode fleet audit",
                     check_mode=False, now=None):
    """Build, write and rotate; the result in the shape every check returns."""
    stopwatch = Stopwatch()
    if keep < 0:
        raise CheckError("keep must be 0 (keep all) or more")
    now = time.time() if now is None else now
    dest_dir = os.path.abspath(dest_dir)
    if os.path.exists(dest_dir) and not os.path.isdir(dest_dir):
        raise CheckError("dest_dir %s is not a directory" % dest_dir)
    previous, previous_path = load_previous(dest_dir)
    report = build_report(results, previous, now=now, fail_on=fail_on, window=history, title=title)
    report["id"] = new_id(dest_dir, now)
    paths = {"json": os.path.join(dest_dir, report["id"] + ".json"),
             "html": os.path.join(dest_dir, report["id"] + ".html"),
             "latest_json": os.path.join(dest_dir, LATEST_JSON),
             "latest_html": os.path.join(dest_dir, LATEST_HTML)}
    removed = []
    if not check_mode:
        page = render_html(report)
        data = json.dumps(report, indent=1, sort_keys=True) + "\n"
        # The timestamped pair first, JSON last (it is what the next audit
        # looks for), then the stable names; each write is atomic.
        atomic_write(paths["html"], page)
        atomic_write(paths["json"], data)
        atomic_write(paths["latest_html"], page)
        atomic_write(paths["latest_json"], data)
        removed = rotate(dest_dir, keep)
    fleet = report["fleet"]["status"]
    status = "fail" if fleet == UNREACHABLE else fleet
    summary = summary_line(report)
    over = report["over_threshold"]
    if fail_on != "never":
        listed = ", ".join("%s (%s)" % (n, report["nodes"][n]["status"]) for n in over)
        summary += "; fail_on=%s: %s" % (fail_on, listed or "none over it")
    evidence = {"dest_dir": dest_dir, "previous": previous_path, "keep": keep, "history": history,
                "written": not check_mode}
    return make_result(status, summary, evidence, stopwatch, changed=not check_mode, paths=paths, removed=removed,
                       report_id=report["id"], counts=report["fleet"]["counts"], total=report["fleet"]["total"],
                       nodes=dict((n, v["status"]) for n, v in report["nodes"].items()), changes=report["changes"],
                       fail_on=fail_on, over_threshold=over)
