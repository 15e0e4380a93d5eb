# Copyright (c) 2026 imagenode-health contributors
# SPDX-License-Identifier: BSD-2-Clause
"""The on-disk queue of heartbeats no monitor has acknowledged yet.

One file per heartbeat, named by its seq (zero-padded, so names sort in seq
order), written with atomic_file: kill -9 or a power cut leaves a whole
heartbeat or none. Bounded: beyond `maximum` the oldest are dropped (the
newest say most about the node now).
"""

import json
import os
import re

from imagenode_health_core.atomic_file import atomic_write

_NAME = re.compile(r"^hb-([0-9]{20})\.json$")


class Spool(object):
    def __init__(self, directory, maximum=1000):
        self.directory = directory
        self.maximum = maximum
        self.dropped = 0

    def _entries(self):
        try:
            names = os.listdir(self.directory)
        except OSError:
            return []
        found = []
        for name in names:
            match = _NAME.match(name)
            if match:
                found.append((int(match.group(1)), os.path.join(self.directory, name)))
        found.sort()
        return found

    def __len__(self):
        return len(self._entries())

    def seqs(self):
        return [seq for seq, _path in self._entries()]

    def put(self, heartbeat):
        """Keep heartbeat (a dict with seq); drop the oldest beyond the bound."""
        path = os.path.join(self.directory, "hb-%020d.json" % heartbeat["seq"])
        atomic_write(path, json.dumps(heartbeat, separators=(",", ":"), sort_keys=True), mode=0o600)
        entries = self._entries()
        for _seq, old in entries[:max(0, len(entries) - self.maximum)]:
            self._remove(old)
            self.dropped += 1

    def items(self):
        """(seq, heartbeat) oldest first; unreadable files are removed."""
        for seq, path in self._entries():
            try:
                with open(path, "rb") as handle:
                    heartbeat = json.loads(handle.read().decode("utf-8"))
            except (IOError, OSError, ValueError):
                self._remove(path)
                continue
            if isinstance(heartbeat, dict) and heartbeat.get("seq") == seq:
                yield seq, heartbeat
            else:
                self._remove(path)

    def remove(self, seq):
        self._remove(os.path.join(self.directory, "hb-%020d.json" % seq))

    @staticmethod
    def _remove(path):
        try:
            os.unlink(path)
        except OSError:
            pass
