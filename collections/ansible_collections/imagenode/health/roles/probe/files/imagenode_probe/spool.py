# Copyright (c) 2026 imagenode-health contributors
# SPDX-License-Identifier: BSD-2-Clause
"""The on-disk queue of heartbeats no monitor has acknowledged yet.

One file per heartbeat, named by its seq (zero-padded, so names sort in seq
order), written with atomic_file: kill -9 or a power cut leaves a whole
heartbeat or none. Bounded: beyond `maximum` the oldest are dropped (the
newest say most about the node now).

The probe is the queue's only writer, so the directory is listed once (when
the queue is first used, which also sweeps the temp files of a writer killed
mid-write) and its seqs are then kept in memory: the cycle asks for the
queue's length several times, and each ask was a listing of the directory.
A file removed from outside is dropped when it is next read.
"""

import bisect
import json
import os
import re

from imagenode_health_core.atomic_file import atomic_write, sweep_stale_temps

_NAME = re.compile(r"^hb-([0-9]{20})\.json$")


class Spool(object):
    def __init__(self, directory, maximum=1000):
        self.directory = directory
        self.maximum = maximum
        self.dropped = 0
        self._queued = None  # the seqs on disk, oldest first (listed on first use)

    def _path(self, seq):
        return os.path.join(self.directory, "hb-%020d.json" % seq)

    def _seqs(self):
        if self._queued is None:
            try:
                names = os.listdir(self.directory)
            except OSError:
                names = []
            sweep_stale_temps(self.directory, ".hb-", names=names)
            self._queued = sorted(int(match.group(1)) for match in map(_NAME.match, names) if match)
        return self._queued

    def __len__(self):
        return len(self._seqs())

    def seqs(self):
        return list(self._seqs())

    def put(self, heartbeat):
        """Keep heartbeat (a dict with seq); drop the oldest beyond the bound."""
        seq = heartbeat["seq"]
        queued = self._seqs()
        atomic_write(self._path(seq), json.dumps(heartbeat, separators=(",", ":"), sort_keys=True), mode=0o600,
                     sweep=False)  # the queue's stale temps were swept when it was first listed
        if seq not in queued:
            bisect.insort(queued, seq)
        while len(queued) > self.maximum:
            self._unlink(self._path(queued.pop(0)))
            self.dropped += 1

    def items(self):
        """(seq, heartbeat) oldest first; unreadable files are removed."""
        for seq in list(self._seqs()):
            try:
                with open(self._path(seq), "rb") as handle:
                    heartbeat = json.loads(handle.read().decode("utf-8"))
            except (IOError, OSError, ValueError):
                self.remove(seq)
                continue
            if isinstance(heartbeat, dict) and heartbeat.get("seq") == seq:
                yield seq, heartbeat
            else:
                self.remove(seq)

    def remove(self, seq):
        queued = self._seqs()
        if seq in queued:
            queued.remove(seq)
        self._unlink(self._path(seq))

    @staticmethod
    def _unlink(path):
        try:
            os.unlink(path)
        except OSError:
            pass
