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


def _kmsg_records(fd):
    """(seq, seconds since boot, message) of each record /dev/kmsg has for fd
    that it has not given it yet, until there are none (the fd is O_NONBLOCK)."""
    while True:
        try:
            record = os.read(fd, 16384)
        except BlockingIOError:  # EAGAIN: no more records
            return
        except BrokenPipeError:  # EPIPE: records overwritten while reading; go on with the next
            continue
        except OSError:
            return
        if not record:
            return
        header, _sep, rest = record.partition(b";")
        fields = header.split(b",", 3)
        try:
            seq, secs = int(fields[1]), int(fields[2]) / 1000000.0
        except (IndexError, ValueError):
            continue
        # the message ends at its newline; " KEY=value" dictionary lines follow it
        yield seq, secs, rest.partition(b"\n")[0]


def _open_kmsg(path):
    return os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))


def read_kmsg(since_boot=None, path="/dev/kmsg"):
    """The kernel's records from /dev/kmsg as parse_dmesg gives dmesg's output, or
    None when it cannot be opened (no /dev/kmsg, dmesg_restrict for non-root)."""
    try:
        fd = _open_kmsg(path)
    except OSError:
        return None
    try:
        return [("+%.3fs" % secs, _kmsg_message(raw)) for _seq, secs, raw in _kmsg_records(fd)
                if since_boot is None or secs >= since_boot]
    finally:
        os.close(fd)


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


class FollowedKernelLog(KernelLog):
    """A window of a KmsgFollower's records, as a KernelLog of source dmesg.
    matching() asks the follower, which searches each record once per pattern
    over its life; lines reads /dev/kmsg afresh (no consumer in the probe needs
    every line of the window)."""

    def __init__(self, follower, window, read_wall, read_uptime):  # pylint: disable=super-init-not-called
        self.follower = follower
        self.source = "dmesg"
        self.error = None
        self.window = window
        self.read_wall = read_wall
        self.read_uptime = read_uptime

    def _since(self):
        return None if self.read_uptime is None else max(0.0, self.read_uptime - self.window)

    @property
    def lines(self):
        return read_kmsg(self._since(), self.follower.path) or []

    def within(self, window):
        if window >= self.window:
            return self
        return FollowedKernelLog(self.follower, window, self.read_wall, self.read_uptime)

    def matching(self, pattern):
        return self.follower.matching(pattern, self._since())


class KmsgFollower(object):
    """The probe's kernel log: /dev/kmsg kept open from cycle to cycle.

    read_kernel_log reads the whole ring buffer (here ~2,000 records) every
    time, which was most of the CPU of the probe's expensive cycle. A follower
    reads each record once: get() takes only the records that came since the
    last get(), and matching() searches only those for each pattern it has
    been asked about, keeping the matching records (at most MAX_MATCHES per
    pattern, the newest) of the longest window asked for. The first time a
    pattern is asked for, the records before it are searched once, from a
    fresh read of /dev/kmsg up to the follower's position.

    The answers are read_kernel_log's dmesg answers. Unlike it, a follower never
    asks journalctl: the journal's kernel lines are these same records, and a
    follower that has run for the whole window has read all of them even when
    the ring buffer has wrapped since. A follower just started sees what the
    ring buffer still holds, as dmesg does; `lost` counts the records the kernel
    overwrote before the follower read them.

    `available` is False when /dev/kmsg cannot be opened (no /dev/kmsg, or
    dmesg_restrict for a user without CAP_SYSLOG): use read_kernel_log then.
    Thread-safe: node_health's checks ask it at once."""

    MAX_MATCHES = 1000

    def __init__(self, path="/dev/kmsg", uptime=uptime_seconds, clock=time.time):
        self.path = path
        self._uptime = uptime
        self._clock = clock
        self._lock = threading.Lock()
        self._keep = 0.0
        self._last_seq = -1
        self._patterns = {}    # compiled pattern -> [(seq, secs, message)] that match it
        self.records_read = 0
        self.lost = 0
        try:
            self._fd = _open_kmsg(path)
        except OSError as exc:
            self._fd = None
            self.error = "cannot open %s: %s" % (path, exc.strerror or exc)
        else:
            self.error = None
            self._drain()

    @property
    def available(self):
        return self._fd is not None

    def _drain(self):
        """Read the records that came since the last read; search them for every pattern."""
        for seq, secs, raw in _kmsg_records(self._fd):
            self.records_read += 1
            if self._last_seq >= 0 and seq > self._last_seq + 1:
                self.lost += seq - self._last_seq - 1
            self._last_seq = seq
            message = None
            for pattern, found in self._patterns.items():
                if message is None:
                    message = _kmsg_message(raw)
                if pattern.search(message):
                    found.append((seq, secs, message))
                    if len(found) > self.MAX_MATCHES:
                        del found[0]

    def _trim(self, uptime):
        if uptime is None:
            return
        since = uptime - self._keep
        for found in self._patterns.values():
            while found and found[0][1] < since:
                del found[0]

    def get(self, window):
        """The log of the last `window` seconds (a FollowedKernelLog)."""
        with self._lock:
            self._keep = max(self._keep, float(window))
            if self._fd is not None:
                self._drain()
            uptime = self._uptime()
            self._trim(uptime)
        return FollowedKernelLog(self, window, self._clock(), uptime)

    def matching(self, pattern, since=None):
        """(time, message) of the records that match pattern, from since seconds after boot."""
        with self._lock:
            found = self._patterns.get(pattern)
            if found is None:
                found = self._patterns[pattern] = self._search_history(pattern)
            return [("+%.3fs" % secs, message) for _seq, secs, message in found
                    if since is None or secs >= since]

    def _search_history(self, pattern):
        """The records up to the follower's position that match pattern (a fresh read)."""
        if self._last_seq < 0:
            return []
        try:
            fd = _open_kmsg(self.path)
        except OSError:
            return []
        uptime = self._uptime()
        since = None if uptime is None else uptime - self._keep
        found = []
        try:
            for seq, secs, raw in _kmsg_records(fd):
                if seq > self._last_seq:
                    break
                if since is not None and secs < since:
                    continue
                message = _kmsg_message(raw)
                if pattern.search(message):
                    found.append((seq, secs, message))
        finally:
            os.close(fd)
        return found[-self.MAX_MATCHES:]

    def close(self):
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
