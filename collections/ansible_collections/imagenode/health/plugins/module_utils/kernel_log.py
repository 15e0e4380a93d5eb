# Copyright (c) 2026 imagenode-health contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""The kernel log of the last N seconds, from journalctl -k or else dmesg.

journalctl is asked for `-o short-iso`, so each line carries a wall-clock
time; its "No journal files were found" (no journald, yet exit status 0)
counts as unreadable. dmesg lines carry seconds since boot (`[ 1234.567890] msg`), which are
compared with /proc/uptime to keep only the window. Neither tool may be
readable (no journal in a container, dmesg_restrict for non-root): then the
source is None and the caller says the kernel log could not be read.
"""

import re

from .command_runner import Runner, read_text, under_root

_JOURNAL_LINE = re.compile(r"^(?P<time>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[^ ]*) \S+ kernel: (?P<msg>.*)$")
_DMESG_LINE = re.compile(r"^\[\s*(?P<secs>\d+\.\d+)\]\s?(?P<msg>.*)$")


class KernelLog(object):
    """Lines as (time, message); source is "journalctl", "dmesg" or None."""

    def __init__(self, source, lines, error=None):
        self.source = source
        self.lines = lines
        self.error = error

    def matching(self, pattern):
        """The (time, message) lines whose message matches a compiled regex."""
        return [(when, msg) for when, msg in self.lines if pattern.search(msg)]


def parse_journal(text):
    """journalctl -k -o short-iso output as (time, message) pairs."""
    lines = []
    for line in text.splitlines():
        match = _JOURNAL_LINE.match(line)
        if match:
            lines.append((match.group("time"), match.group("msg")))
    return lines


def parse_dmesg(text, since_boot=None):
    """dmesg output as ("+secs", message) pairs, only lines at or after since_boot seconds."""
    lines = []
    for line in text.splitlines():
        match = _DMESG_LINE.match(line)
        if not match:
            continue
        secs = float(match.group("secs"))
        if since_boot is not None and secs < since_boot:
            continue
        lines.append(("+%.3fs" % secs, match.group("msg")))
    return lines


def uptime_seconds(root="/"):
    """Seconds since boot from /proc/uptime, or None."""
    text = read_text(under_root(root, "/proc/uptime"))
    try:
        return float(text.split()[0])
    except (AttributeError, IndexError, ValueError):
        return None


def read_kernel_log(window, runner=None, root="/"):
    """The kernel log of the last `window` seconds (journalctl first, then dmesg)."""
    runner = runner or Runner()
    errors = []
    journal = runner.run(["journalctl", "-k", "--no-pager", "-o", "short-iso",
                          "--since", "-%ds" % int(window)])
    if journal.ok and "No journal files were found" not in journal.stderr + journal.stdout:
        return KernelLog("journalctl", parse_journal(journal.stdout))
    # journalctl says rc 0 and "-- No entries --" when there is no journal at all.
    errors.append("journalctl: %s" % (journal.error or (journal.stderr.strip().splitlines() or ["rc %s" % journal.rc])[-1]))
    dmesg = runner.run(["dmesg"])
    if dmesg.ok:
        uptime = uptime_seconds(root)
        since = None if uptime is None else max(0.0, uptime - window)
        return KernelLog("dmesg", parse_dmesg(dmesg.stdout, since))
    errors.append("dmesg: %s" % (dmesg.error or (dmesg.stderr.strip() or "rc %s" % dmesg.rc)))
    return KernelLog(None, [], "; ".join(errors))
