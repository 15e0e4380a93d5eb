# Copyright (c) 2026 imagenode-health contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""The node's event log: one record per recovery decision, kept across reboots.

The log is a JSON file holding the newest records (oldest first). Every append
rewrites it atomically (atomic_file), so `kill -9` or a power cut leaves the
old log or the new one, never half a record. When it holds more than `keep`
records the oldest half moves to `events.json.1` (and .1 to .2 ...), also
atomically, so the log's size is bounded on a small SD card.
The default path is under /var/lib, not /run: it must survive the reboot it
may be explaining.
"""

import os
import socket
import time

from .atomic_file import atomic_write_json, read_json

DEFAULT_PATH = "/var/lib/imagenode-health/events.json"
DEFAULT_KEEP = 200
DEFAULT_ROTATIONS = 3


def boot_id(root="/"):
    """This boot's identity, or None: the kernel's boot_id plus the start
    time of PID 1 (in clock ticks since the kernel booted).

    On a Pi the second part is the same for the whole boot; it is there for
    nodes in containers, which share the host's kernel and so its boot_id,
    but whose PID 1 starts again at every reboot of the container."""
    try:
        with open(os.path.join(root, "proc/sys/kernel/random/boot_id")) as handle:
            kernel = handle.read().strip()
    except (IOError, OSError):
        return None
    try:
        with open(os.path.join(root, "proc/1/stat")) as handle:
            # Field 22 (starttime); the command name in field 2 may hold spaces.
            init_started = handle.read().rsplit(")", 1)[1].split()[19]
    except (IOError, OSError, IndexError):
        return kernel
    return "%s/%s" % (kernel, init_started)


def make_record(action, result, fault=None, node=None, evidence=None):
    """A record: when, where, what was seen, what was done, what came of it."""
    now = time.time()
    return {
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
        "epoch": round(now, 3),
        "boot_id": boot_id(),
        "node": node or socket.gethostname().split(".")[0],
        "fault": fault,
        "action": action,
        "result": result,
        "evidence": evidence if evidence is not None else {},
    }


def read_events(path=DEFAULT_PATH):
    """The records in the log, oldest first ([] when there is none, or it is unreadable)."""
    data = read_json(path, default=None)
    if isinstance(data, dict) and isinstance(data.get("events"), list):
        return data["events"]
    return []


class EventLogReader(object):
    """read_events for a reader that asks every few seconds (the probe, for its
    heartbeats): the log is parsed again only when its file changed. Every
    writer replaces the file by a rename, so a new version has a new inode, and
    an edit in place changes the size or the modification time. Parsing a full
    log (DEFAULT_KEEP records with their evidence) every cycle used to cost the
    probe more CPU than all its cheap checks. The list returned is shared: read it,
    do not change it."""

    def __init__(self, path=DEFAULT_PATH, parse=None):
        self.path = path
        self.parse = parse or read_events
        self._version = None
        self._events = []

    def events(self):
        try:
            info = os.stat(self.path)
        except OSError:
            self._version, self._events = None, []
            return self._events
        version = (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)
        if version != self._version:
            self._events = self.parse(self.path)
            self._version = version
        return self._events


def _rotate(path, records, rotations):
    for index in range(rotations - 1, 0, -1):
        older = "%s.%d" % (path, index)
        if os.path.exists(older):
            os.replace(older, "%s.%d" % (path, index + 1))
    atomic_write_json("%s.1" % path, {"events": records})


def append_event(record, path=DEFAULT_PATH, keep=DEFAULT_KEEP, rotations=DEFAULT_ROTATIONS):
    """Add record to the log at path; returns how many records the log now holds."""
    records = read_events(path)
    records.append(record)
    if len(records) > keep and rotations > 0:
        cut = len(records) - keep // 2
        _rotate(path, records[:cut], rotations)
        records = records[cut:]
    elif len(records) > keep:
        records = records[-keep:]
    atomic_write_json(path, {"events": records}, mode=0o644)
    return len(records)
