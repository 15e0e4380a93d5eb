# Copyright (c) 2026 imagenode-health contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""The heartbeat wire format shared by the probe (sender) and the monitor.

Transport: ZeroMQ with CURVE (encryption and authentication). The probe
connects a DEALER socket to each monitor's ROUTER; the monitor accepts only
client keys it knows (ZAP). A heartbeat is two frames:

    [b"IHB1", JSON]         probe -> monitor
    [b"ACK", seq as ASCII]  monitor -> probe, once the heartbeat is stored

JSON is one object, UTF-8, at most MAX_BYTES:

    {"node": "node7",            required, 1-64 chars [A-Za-z0-9_.-]
     "seq": 1234,                required, int >= 0, per node, increasing
     "boot_id": "...",           this boot (event_log.boot_id)
     "uptime": 3600.5,           seconds (monotonic: a Pi has no RTC)
     "sent": 1764633600.0,       the node's wall clock (may be wrong)
     "interval": 10,             seconds until the next heartbeat is due
     "status": "ok",             overall: ok | warn | fail | unknown
     "checks": {"hub_check": "ok", ...},
     "step": null,               the ladder step the probe is on, or null
     "last_action": {"action": "imagenode_restart", "result": "fixed", "time": "..."} or null,
     "events": [ ... ],          event-log records not yet delivered (may be [])
     "queued": 0}                how many heartbeats waited on disk before this one

Anything else is dropped and counted by the monitor: it never trusts input.
"""

import json
import re

MAGIC = b"IHB1"
ACK = b"ACK"
MAX_BYTES = 65536
MAX_EVENTS = 50
STATUSES = ("ok", "warn", "fail", "unknown")
_NODE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class HeartbeatError(ValueError):
    """A message that is not a valid heartbeat; the text says why."""


def encode(heartbeat):
    """The frames for a heartbeat dict (validated first)."""
    validate(heartbeat)
    body = json.dumps(heartbeat, separators=(",", ":"), sort_keys=True).encode("utf-8")
    if len(body) > MAX_BYTES:
        raise HeartbeatError("heartbeat is %d bytes, more than %d" % (len(body), MAX_BYTES))
    return [MAGIC, body]


def decode(frames):
    """The heartbeat dict in frames (a list of bytes); HeartbeatError otherwise."""
    if not isinstance(frames, (list, tuple)) or len(frames) != 2:
        raise HeartbeatError("expected 2 frames, got %s" % (len(frames) if isinstance(frames, (list, tuple)) else "?"))
    magic, body = frames
    if magic != MAGIC:
        raise HeartbeatError("not a heartbeat (first frame %r)" % bytes(magic[:8]))
    if len(body) > MAX_BYTES:
        raise HeartbeatError("oversized: %d bytes" % len(body))
    try:
        heartbeat = json.loads(bytes(body).decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise HeartbeatError("not UTF-8 JSON: %s" % exc)
    validate(heartbeat)
    return heartbeat


def _number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def validate(heartbeat):
    """Raise HeartbeatError unless heartbeat has the shape described above."""
    if not isinstance(heartbeat, dict):
        raise HeartbeatError("a heartbeat is a JSON object")
    node = heartbeat.get("node")
    if not isinstance(node, str) or not _NODE.match(node):
        raise HeartbeatError("node must be 1-64 characters of A-Z a-z 0-9 _ . -")
    seq = heartbeat.get("seq")
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
        raise HeartbeatError("seq must be an integer >= 0")
    status = heartbeat.get("status", "unknown")
    if status not in STATUSES:
        raise HeartbeatError("status must be one of %s" % ", ".join(STATUSES))
    for key in ("uptime", "sent", "interval"):
        if key in heartbeat and heartbeat[key] is not None and not _number(heartbeat[key]):
            raise HeartbeatError("%s must be a number" % key)
    checks = heartbeat.get("checks", {})
    if not isinstance(checks, dict) or any(not isinstance(k, str) or v not in STATUSES for k, v in checks.items()):
        raise HeartbeatError("checks must map check names to statuses")
    events = heartbeat.get("events", [])
    if not isinstance(events, list) or len(events) > MAX_EVENTS or any(not isinstance(e, dict) for e in events):
        raise HeartbeatError("events must be a list of at most %d objects" % MAX_EVENTS)
    for key in ("step", "boot_id"):
        if heartbeat.get(key) is not None and not isinstance(heartbeat[key], str):
            raise HeartbeatError("%s must be a string or null" % key)
    last = heartbeat.get("last_action")
    if last is not None and not isinstance(last, dict):
        raise HeartbeatError("last_action must be an object or null")
    return heartbeat


def ack(seq):
    """The monitor's answer to heartbeat seq."""
    return [ACK, str(int(seq)).encode("ascii")]


def parse_ack(frames):
    """The seq an ACK acknowledges, or None when frames are not an ACK."""
    if len(frames) == 2 and frames[0] == ACK and frames[1].isdigit():
        return int(frames[1])
    return None
