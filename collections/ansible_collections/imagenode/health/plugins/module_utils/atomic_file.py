# Copyright (c) 2026 imagenode-health contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""Writing state files so that a power cut leaves the old file or the new one, never half.

A Pi loses power without warning: write a temp file in the same directory,
fsync it, os.replace() it over the old one, then fsync the directory so the
rename itself is on the card.

atomic_write_volatile is the same temp file and rename without the two
fsyncs, for a file rewritten every few seconds from memory (the probe's fact
and Prometheus textfile): a killed writer still leaves the old file or the
new one, never half of one; only a power cut may lose the newest version.
"""

import json
import os
import time


# A temp file older than this is a leftover of a writer killed mid-write.
STALE_TEMP_SECONDS = 60


# When this process last swept each path's stale temps (monotonic seconds): see _sweep_due.
_SWEPT = {}


def remove_stale_temps(path, older_than=STALE_TEMP_SECONDS):
    """Delete temp files a killed writer of path left behind (a power cut
    between mkstemp and the rename), so they cannot pile up on a small card.
    A younger one may belong to a writer at work, and is left alone."""
    sweep_stale_temps(os.path.dirname(os.path.abspath(path)), ".%s." % os.path.basename(path), older_than)


def sweep_stale_temps(directory, prefix, older_than=STALE_TEMP_SECONDS, names=None):
    """remove_stale_temps for every file whose temp name starts with prefix;
    names: the directory's listing, when the caller has just made one."""
    if names is None:
        try:
            names = os.listdir(directory)
        except OSError:
            return
    now = time.time()
    for name in names:
        if not (name.startswith(prefix) and name.endswith(".tmp")):
            continue
        full = os.path.join(directory, name)
        try:
            if now - os.stat(full).st_mtime > older_than:
                os.unlink(full)
        except OSError:
            pass


_TEMP_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789_"


def _make_temp(directory, prefix, suffix):
    """(fd, path) of a new file only we can read, as tempfile.mkstemp makes it (same
    name pattern, O_EXCL, mode 0600), without importing tempfile (shutil, random,
    bz2, lzma: ~1.4 MiB in the probe)."""
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    for _attempt in range(10000):
        name = "".join(_TEMP_CHARS[byte % len(_TEMP_CHARS)] for byte in bytearray(os.urandom(8)))
        temp = os.path.join(directory, prefix + name + suffix)
        try:
            return os.open(temp, flags, 0o600), temp
        except FileExistsError:
            continue
    raise FileExistsError("no usable temporary file name in %s" % directory)


def atomic_write(path, data, mode=0o644, owner=None, sweep=True):
    """Replace path with data (bytes or str) atomically; creates the directory.

    owner (uid, gid) is given to the temp file before the rename, so the file
    never appears with the wrong owner, even for an instant. chown clears
    set-id bits, so the mode is applied after it. sweep=False: the caller
    sweeps the directory's stale temps itself (a writer of a new name every
    time, such as the probe's queue, would list its directory at every write)."""
    _atomic_write(path, data, mode, owner, durable=True, sweep=sweep)


def atomic_write_volatile(path, data, mode=0o644, owner=None):
    """atomic_write without the fsyncs: atomic for readers and against a killed
    writer (the old file or the new one, never half), not durable across a
    power cut. For files rewritten every cycle from what is in memory."""
    _atomic_write(path, data, mode, owner, durable=False)


def _sweep_due(path, now):
    """True on this process's first write of path and then once per STALE_TEMP_SECONDS:
    a temp file turns stale only after that long, so sweeping more often finds nothing
    more, and the probe, which rewrites three files every cycle, was listing their
    directories every cycle."""
    last = _SWEPT.get(path)
    if last is not None and 0 <= now - last < STALE_TEMP_SECONDS:
        return False
    if len(_SWEPT) >= 256:  # a writer of many names (the probe's queue) keeps it bounded
        _SWEPT.clear()
    _SWEPT[path] = now
    return True


def _atomic_write(path, data, mode, owner, durable, sweep=True):
    if isinstance(data, str):
        data = data.encode("utf-8")
    directory = os.path.dirname(os.path.abspath(path))
    prefix = ".%s." % os.path.basename(path)
    if sweep and _sweep_due(path, time.monotonic()):
        remove_stale_temps(path)
    try:
        fd, temp = _make_temp(directory, prefix, ".tmp")
    except FileNotFoundError:  # the first write into a new directory
        os.makedirs(directory, 0o755, exist_ok=True)
        fd, temp = _make_temp(directory, prefix, ".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        if owner is not None:
            os.chown(temp, owner[0], owner[1])
        os.chmod(temp, mode)
        os.replace(temp, path)
    except BaseException:
        try:
            os.unlink(temp)
        except OSError:
            pass
        raise
    if durable:
        fsync_directory(directory)


def fsync_directory(directory):
    """Make a rename in directory durable (not every filesystem allows it)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_json(path, value, mode=0o644, compact=False):
    """atomic_write of value as indented, sorted JSON; compact drops the
    indentation, which lets Python use its C encoder (several times faster
    for a large file such as the monitor's state of a big fleet)."""
    if compact:
        text = json.dumps(value, separators=(",", ":"), sort_keys=True)
    else:
        text = json.dumps(value, indent=1, sort_keys=True)
    atomic_write(path, text + "\n", mode)


def read_json(path, default=None):
    """The JSON in path, or default when it is missing or unreadable JSON."""
    try:
        with open(path, "rb") as handle:
            return json.loads(handle.read().decode("utf-8"))
    except (IOError, OSError, ValueError):
        return default
