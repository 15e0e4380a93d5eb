# Copyright (c) 2026 imagenode-health contributors
# SPDX-License-Identifier: BSD-2-Clause
"""What the probe writes every cycle, each file atomically: its state, the
Ansible local fact (so `setup` shows the probe's view) and the Prometheus
node-exporter textfile.

Every file is replaced atomically: a killed probe leaves the old file or the
new one. The state is also made durable (fsync'd) whenever its durable part
changes (DURABLE_STATE: the fault episode, the ladder's step, the steps done,
the last action, the events delivered), so a power cut loses none of that.
The rest of it (the heartbeat sequence, counters, times) changes every cycle
and is written without the fsyncs, as the fact and the textfile are
(atomic_write_volatile): after a power cut the sequence may restart lower,
but under a new boot id, and a monitor orders heartbeats per boot id. The SD
card is spared a journal commit every cycle. (On ext4, whose auto_da_alloc is
on by default, a file replaced by rename is after a power cut the old one or
the new one even without the fsync; either way its durable part is the same.)"""

import json
import time

from imagenode_health_core import ladder
from imagenode_health_core.atomic_file import atomic_write_json, atomic_write_volatile, read_json

STATUS_VALUE = {"ok": 0, "warn": 1, "fail": 2, "unknown": 3}
# The keys of the state that a power cut must not lose (see above); `hold`, the
# reason for waiting, is worked out again every cycle and counts its seconds.
DURABLE_STATE = ("node", "boot_id", "step", "done", "last_action", "episode", "delivered_epoch")


def read_state(path):
    data = read_json(path, default=None)
    return data if isinstance(data, dict) else {}


def durable_part(state):
    """What of state must survive a power cut, comparable between cycles with ==
    (the probe replaces its last action and episode, never changes them in place,
    and state() copies the steps done)."""
    return tuple(state.get(key) for key in DURABLE_STATE)


def write_state(path, state, durable=True):
    """state as JSON at path; durable: fsync'd (file and directory), else only atomic."""
    if durable:
        atomic_write_json(path, state, mode=0o644)
    else:
        atomic_write_volatile(path, json.dumps(state, indent=1, sort_keys=True) + "\n", mode=0o644)


def write_facts(path, view):
    fact = {"status": view["status"], "summary": view.get("summary"), "checks": view["checks"],
            "step": view.get("step"), "last_action": view.get("last_action"), "faults": view.get("faults", []),
            "node": view["node"], "updated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(view["updated"])),
            "updated_epoch": round(view["updated"], 3), "source": "imagenode-probe"}
    atomic_write_volatile(path, json.dumps(fact, indent=1, sort_keys=True) + "\n", mode=0o644)


def _label(value):
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def prometheus_text(view):
    """The textfile: imagenode_health_* metrics for this node."""
    node = 'node="%s"' % _label(view["node"])
    step = view.get("step")
    lines = [
        "# HELP imagenode_health_status Overall health: 0 ok, 1 warn, 2 fail, 3 unknown.",
        "# TYPE imagenode_health_status gauge",
        "imagenode_health_status{%s} %d" % (node, STATUS_VALUE.get(view["status"], 3)),
        "# HELP imagenode_health_check_status Each check: 0 ok, 1 warn, 2 fail, 3 unknown.",
        "# TYPE imagenode_health_check_status gauge",
    ]
    for name in sorted(view["checks"]):
        lines.append('imagenode_health_check_status{%s,check="%s"} %d' % (
            node, _label(name), STATUS_VALUE.get(view["checks"][name], 3)))
    lines += [
        "# HELP imagenode_health_ladder_step The recovery ladder step last taken in this fault episode "
        "(0 none, 1 zmq_reset ... 6 reboot).",
        "# TYPE imagenode_health_ladder_step gauge",
        "imagenode_health_ladder_step{%s} %d" % (node, ladder.LADDER.index(step) + 1 if step in ladder.LADDER else 0),
        "# HELP imagenode_health_last_cycle_seconds How long the last probe cycle took.",
        "# TYPE imagenode_health_last_cycle_seconds gauge",
        "imagenode_health_last_cycle_seconds{%s} %.3f" % (node, view.get("cycle_seconds", 0.0)),
        "# HELP imagenode_health_last_cycle_timestamp_seconds When the last probe cycle ended (node clock).",
        "# TYPE imagenode_health_last_cycle_timestamp_seconds gauge",
        "imagenode_health_last_cycle_timestamp_seconds{%s} %.3f" % (node, view["updated"]),
        "# HELP imagenode_health_queue_length Heartbeats waiting on disk for a monitor.",
        "# TYPE imagenode_health_queue_length gauge",
        "imagenode_health_queue_length{%s} %d" % (node, view.get("queue_length", 0)),
        "# HELP imagenode_health_heartbeats_sent_total Heartbeats a monitor acknowledged.",
        "# TYPE imagenode_health_heartbeats_sent_total counter",
        "imagenode_health_heartbeats_sent_total{%s} %d" % (node, view.get("heartbeats_sent", 0)),
    ]
    return "\n".join(lines) + "\n"


def write_textfile(path, view):
    atomic_write_volatile(path, prometheus_text(view), mode=0o644)
