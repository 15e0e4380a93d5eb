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

On the live system (no runner given, or the real Runner) two child
processes are spared where the answer is the same without them: journalctl
is not started when there are no journal files for it to read (it would say
"No journal files were found"), and dmesg's records are read from
/dev/kmsg, as dmesg itself reads them, when that can be opened (else dmesg
runs, and says why it cannot read them either).

SharedKernelLog is one read for several checks of one node_health run
(sdcard_check and power_check): the longest window once, each check its own
window of it.
"""

import os
import re
import threading
import time

from .command_runner import Runner, read_text, under_root

_JOURNAL_LINE = re.compile(r"^(?P<time>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[^ ]*) \S+ kernel: (?P<msg>.*)$")
_DMESG_LINE = re.compile(r"^\[\s*(?P<secs>\d+\.\d+)\]\s?(?P<msg>.*)$")
_ISO_TIME = re.compile(r"^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.\d+)?(Z|[+-]\d\d:?\d\d)?$")
_KMSG_ESCAPE = re.compile(br"\\x([0-9a-fA-F]{2})")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
JOURNAL_DIRS = ("/run/log/journal", "/var/log/journal")


class KernelLog(object):
    """Lines as (time, message); source is "journalctl", "dmesg" or None."""

    def __init__(self, source, lines, error=None, window=None, read_wall=None, read_uptime=None):
        self.source = source
        self.lines = lines
        self.error = error
        self.window = window            # seconds the lines cover (None: unknown)
        self.read_wall = read_wall      # time.time() when read (journal lines carry wall times)
        self.read_uptime = read_uptime  # seconds since boot when read (dmesg lines carry those)

    def within(self, window):
        """The same log cut to its last `window` seconds (itself when that is all of it)."""
        if self.source is None or self.window is None or window >= self.window:
            return self
        if self.source == "dmesg":
            if self.read_uptime is None:
                return self
            since = max(0.0, self.read_uptime - window)
            lines = [(when, msg) for when, msg in self.lines if float(when[1:-1]) >= since]
        else:
            # short-iso times are whole seconds: keep the second the cut falls in, as journalctl may
            cutoff = int(self.read_wall - window)
            lines = [(when, msg) for when, msg in self.lines if _journal_epoch(when) is None
                     or _journal_epoch(when) >= cutoff]
        return KernelLog(self.source, lines, self.error, window, self.read_wall, self.read_uptime)

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


def _days_from_civil(year, month, day):
    """Days since 1970-01-01 of a proleptic Gregorian date (no calendar import)."""
    year -= month <= 2
    era = (year if year >= 0 else year - 399) // 400
    yoe = year - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _journal_epoch(when):
    """A short-iso time ("2026-12-01T18:02:11+0000") as seconds since the epoch, or None."""
    match = _ISO_TIME.match(when)
    if not match:
        return None
    year, month, day, hour, minute, second = [int(match.group(i)) for i in range(1, 7)]
    epoch = _days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second
    zone = match.group(7)
    if zone and zone != "Z":
        digits = zone[1:].replace(":", "")
        offset = int(digits[:2]) * 3600 + int(digits[2:]) * 60
        epoch -= offset if zone[0] == "+" else -offset
    return epoch


def journal_files_present(root="/"):
    """Whether journalctl would find journal files (False only when certain there are none)."""
    for base in JOURNAL_DIRS:
        base = under_root(root, base)
        try:
            entries = list(os.scandir(base))
        except FileNotFoundError:
            continue
        except OSError:
            return True  # cannot tell: let journalctl say
        for entry in entries:
            if entry.name.endswith((".journal", ".journal~")):
                return True
            try:
                if entry.is_dir() and any(name.endswith((".journal", ".journal~")) for name in os.listdir(entry.path)):
                    return True
            except OSError:
                return True
    return False


def _kmsg_message(text):
    """A /dev/kmsg message as dmesg prints its first line: \\xNN escapes decoded,
    other control characters shown as \\xNN."""
    if b"\\" not in text:  # the kernel escapes every control character: nothing to undo
        return text.decode("utf-8", "replace")
    raw = _KMSG_ESCAPE.sub(lambda m: bytes(bytearray([int(m.group(1), 16)])), text)
    message = raw.decode("utf-8", "replace").split("\n", 1)[0]
    return _CONTROL.sub(lambda m: "\\x%02x" % ord(m.group(0)), message)


def read_kmsg(since_boot=None, path="/dev/kmsg"):
    """The kernel's records from /dev/kmsg as parse_dmesg gives dmesg's output, or
    None when it cannot be opened (no /dev/kmsg, dmesg_restrict for non-root)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return None
    lines = []
    try:
        while True:
            try:
                record = os.read(fd, 16384)
            except BlockingIOError:  # EAGAIN: no more records
                break
            except BrokenPipeError:  # EPIPE: records overwritten while reading; go on with the next
                continue
            except OSError:
                break
            if not record:
                break
            header, _sep, rest = record.partition(b";")
            fields = header.split(b",", 3)
            try:
                secs = int(fields[2]) / 1000000.0
            except (IndexError, ValueError):
                continue
            if since_boot is not None and secs < since_boot:
                continue
            # the message ends at its newline; " KEY=value" dictionary lines follow it
            lines.append(("+%.3fs" % secs, _kmsg_message(rest.partition(b"\n")[0])))
    finally:
        os.close(fd)
    return lines


def read_kernel_log(window, runner=None, root="/"):
    """The kernel log of the last `window` seconds (journalctl first, then dmesg)."""
    live = runner is None or getattr(runner, "live_system", False)
    runner = runner or Runner()
    errors = []
    wall = time.time()
    if live and runner.which("journalctl") is not None and not journal_files_present(root):
        errors.append("journalctl: No journal files were found.")  # what journalctl would say
    else:
        journal = runner.run(["journalctl", "-k", "--no-pager", "-o", "short-iso",
                              "--since", "-%ds" % int(window)])
        if journal.ok and "No journal files were found" not in journal.stderr + journal.stdout:
            return KernelLog("journalctl", parse_journal(journal.stdout), window=window, read_wall=wall)
        # journalctl says rc 0 and "-- No entries --" when there is no journal at all.
        errors.append("journalctl: %s" % (journal.error or (journal.stderr.strip().splitlines() or ["rc %s" % journal.rc])[-1]))
    if live and (not root or root == "/"):
        uptime = uptime_seconds(root)
        since = None if uptime is None else max(0.0, uptime - window)
        lines = read_kmsg(since)
        if lines is not None:
            return KernelLog("dmesg", lines, window=window, read_wall=wall, read_uptime=uptime)
    dmesg = runner.run(["dmesg"])
    if dmesg.ok:
        uptime = uptime_seconds(root)
        since = None if uptime is None else max(0.0, uptime - window)
        return KernelLog("dmesg", parse_dmesg(dmesg.stdout, since), window=window, read_wall=wall,
                         read_uptime=uptime)
    errors.append("dmesg: %s" % (dmesg.error or (dmesg.stderr.strip() or "rc %s" % dmesg.rc)))
    return KernelLog(None, [], "; ".join(errors))


class SharedKernelLog(object):
    """The kernel log read once for several checks of one run (threads may ask at once):
    the longest window they need, each asks for its own (KernelLog.within)."""

    def __init__(self, window, root="/"):
        self.window = window
        self.root = root
        self.reads = 0
        self._log = None
        self._lock = threading.Lock()

    def get(self, window):
        with self._lock:
            if self._log is None:
                self._log = read_kernel_log(max(window, self.window), None, self.root)
                self.reads += 1
        return self._log.within(window)
