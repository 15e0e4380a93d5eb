# Copyright (c) 2026 imagenode-health contributors
# SPDX-License-Identifier: BSD-2-Clause
"""What the probe writes every cycle, each file atomically: its state, the
Ansible local fact (so `setup` shows the probe's view) and the Prometheus
node-exporter textfile.

The state is also durable (fsync'd: it holds the heartbeat sequence and the
fault episode across a power cut); the fact and the textfile are rewritten
from memory every cycle, so they are replaced atomically without the fsyncs
(atomic_write_volatile): a killed probe leaves the old file or the new one,
and the SD card is spared two flushes per cycle."""

import json
import time

from imagenode_health_core import ladder
from imagenode_health_core.atomic_file import atomic_write_json, atomic_write_volatile, read_json

STATUS_VALUE = {"ok": 0, "warn": 1, "fail": 2, "unknown": 3}


def read_state(path):
    data = read_json(path, default=None)
    return data if isinstance(data, dict) else {}


def write_state(path, state):
    atomic_write_json(path, state, mode=0o644)


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
