# Copyright (c) 2026 imagenode-health contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""sdcard_check: early warning of a marginal SD card from everyday evidence.

- which block device holds `path` (/proc/self/mountinfo, then /sys/class/block);
- mmc errors in the kernel log of the window (`mmc0: Timeout waiting for
  hardware interrupt`, `mmcblk0: error -110 ...`, each about a 10 s stall),
  counted only when that device is an mmc card: the same lines appear on a
  Pi booted from USB with an empty slot, so other mmc errors are reported apart;
- the ext4 error counters (/sys/fs/ext4/DEV/errors_count, first_error_time);
- a read-only (re)mount, from the mount options;
- a write/fsync/read/verify canary in a writable directory on that filesystem;
- an optional sha256 manifest of program files (create, later verify):
  creating it is the check's one non-read action, and check mode only says so;
- bytes written per day since boot (/sys/block/DISK/stat), a wear estimate.
Evidence says which of these could be read.
"""

import glob
import os
import re
import time

from .atomic_file import atomic_write_json, read_json
from .check_result import FAIL, OK, UNKNOWN, WARN, CheckError, Stopwatch, make_result, worst
from .command_runner import Runner, read_text, under_root
from .kernel_log import read_kernel_log, uptime_seconds

OPTIONS = {
    "path": {"type": "path", "default": "/"},
    "window": {"type": "int", "default": 86400},
    "mmc_warn": {"type": "int", "default": 1},
    "mmc_fail": {"type": "int", "default": 10},
    "canary": {"type": "bool", "default": True},
    "canary_dir": {"type": "path"},
    "manifest": {"type": "str", "choices": ["none", "create", "verify"], "default": "none"},
    "manifest_paths": {"type": "list", "elements": "path"},
    "manifest_file": {"type": "path", "default": "/var/lib/imagenode-health/manifest.json"},
    "write_warn_mb_per_day": {"type": "float"},
    "root": {"type": "path", "default": "/"},
}

_MMC_ERROR = re.compile(r"\b(?P<dev>mmc\d+|mmcblk\d+)(?:p\d+)?: (?P<what>Timeout waiting for hardware interrupt"
                        r"|error -\d+[^\n]*|card never left busy state|Controller never released inhibit bit"
                        r"|Card stuck in (?:wrong state|programming state)[^\n]*|cache flush error[^\n]*)")
_PARTITION = re.compile(r"^(?P<disk>(?:mmcblk|nvme\d+n|loop)\d+)p\d+$|^(?P<sd>[a-z]+)\d+$")
CANARY_BYTES = 4096
MANIFEST_VERSION = 1


def unescape_mount(text):
    """mountinfo escapes space, tab, newline and backslash as octal (\\040)."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), text)


def parse_mountinfo(text):
    """/proc/self/mountinfo lines as dicts: devno, mountpoint, options, fstype, source, super_options."""
    mounts = []
    for line in (text or "").splitlines():
        left, sep, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if not sep or len(fields) < 6 or len(tail) < 3 or ":" not in fields[2]:
            continue
        mounts.append({"devno": fields[2], "mountpoint": unescape_mount(fields[4]), "options": fields[5].split(","),
                       "fstype": tail[0], "source": unescape_mount(tail[1]), "super_options": tail[2].split(",")})
    return mounts


def mount_of(mounts, path):
    """The mount holding path: the longest mount point prefix, the last one mounted if several."""
    path = os.path.normpath(path)
    best = None
    for mount in mounts:
        point = mount["mountpoint"]
        inside = path == point or point == "/" or path.startswith(point.rstrip("/") + "/")
        if inside and (best is None or len(point) >= len(best["mountpoint"])):
            best = mount
    return best


def block_device(devno, root="/"):
    """(partition or device name, whole disk name) for MAJ:MIN, or (None, None)."""
    for dev_file in sorted(glob.glob(under_root(root, "/sys/class/block/*/dev"))):
        if (read_text(dev_file) or "").strip() != devno:
            continue
        directory = os.path.dirname(dev_file)
        name = os.path.basename(directory)
        if not os.path.exists(os.path.join(directory, "partition")):
            return name, name
        parent = os.path.dirname(os.path.realpath(directory))
        if os.path.exists(os.path.join(parent, "dev")):
            return name, os.path.basename(parent)
        match = _PARTITION.match(name)
        return name, (match.group("disk") or match.group("sd")) if match else name
    return None, None


def mmc_host(disk, root="/"):
    """The mmc host (mmc0) of an mmcblk disk, from its device link, else by number."""
    target = os.path.basename(os.path.realpath(under_root(root, "/sys/class/block/%s/device" % disk)))
    match = re.match(r"^(mmc\d+):", target)
    if match:
        return match.group(1)
    number = re.match(r"^mmcblk(\d+)$", disk)
    return "mmc%s" % number.group(1) if number else None


def count_mmc_errors(lines, names):
    """(counted on our device, elsewhere) as lists of 'time message' from kernel log lines."""
    ours, others = [], []
    for when, message in lines:
        match = _MMC_ERROR.search(message)
        if not match:
            continue
        (ours if match.group("dev") in names else others).append("%s %s" % (when, message))
    return ours, others


def read_ext4_counters(device, root="/"):
    """{errors_count, first_error_time, last_error_time} of an ext4 device, or None."""
    directory = under_root(root, "/sys/fs/ext4/%s" % device)
    count = read_text(os.path.join(directory, "errors_count"))
    if count is None:
        return None
    values = {"errors_count": None, "first_error_time": None, "last_error_time": None}
    for key in values:
        text = (read_text(os.path.join(directory, key)) or "").strip()
        if text.isdigit():
            values[key] = int(text)
    if values["errors_count"] is None:
        return None
    return values


def read_write_stats(disk, root="/"):
    """(bytes written since boot, bytes per day) from /sys/block/DISK/stat and uptime, or (None, None)."""
    fields = (read_text(under_root(root, "/sys/block/%s/stat" % disk)) or "").split()
    uptime = uptime_seconds(root)
    if len(fields) < 7 or not fields[6].isdigit() or not uptime:
        return None, None
    written = int(fields[6]) * 512  # the kernel counts 512-byte sectors whatever the device's block size
    return written, written * 86400.0 / uptime


def run_canary(directory):
    """Write random bytes, fsync, drop from cache, read back, compare, remove. Returns (ok, error, ms)."""
    target = os.path.join(directory, ".imagenode-health-canary.%d" % os.getpid())
    data = os.urandom(CANARY_BYTES)
    started = time.monotonic()
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        fd = os.open(target, os.O_RDONLY)
        try:
            if hasattr(os, "posix_fadvise"):
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            back = os.read(fd, CANARY_BYTES + 1)
        finally:
            os.close(fd)
    except OSError as exc:
        return False, "canary in %s: %s" % (directory, exc.strerror or exc), None
    finally:
        try:
            os.unlink(target)
        except OSError:
            pass
    took = round((time.monotonic() - started) * 1000.0, 3)
    if back != data:
        return False, "canary in %s read back different bytes than were written" % directory, took
    return True, None, took


def pick_canary_dir(path, canary_dir):
    """canary_dir, else the first writable one of /var/tmp, /tmp, path on path's filesystem."""
    if canary_dir:
        return canary_dir
    try:
        device = os.stat(path).st_dev
    except OSError:
        return None
    for candidate in ("/var/tmp", "/tmp", path if os.path.isdir(path) else os.path.dirname(path)):
        try:
            if os.stat(candidate).st_dev == device and os.access(candidate, os.W_OK):
                return candidate
        except OSError:
            continue
    return None


def _files(paths):
    for path in paths:
        if os.path.isdir(path):
            for directory, dirs, names in os.walk(path):
                dirs[:] = sorted(d for d in dirs if d != "__pycache__")
                for name in sorted(names):
                    if not name.endswith(".pyc"):
                        yield os.path.join(directory, name)
        else:
            yield path


def sha256_of(path):
    import hashlib  # only for a manifest: OpenSSL's libcrypto costs the probe ~2 MiB
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(65536), b""):
            digest.update(block)
    return digest.hexdigest()


def checksum_files(paths):
    """{file: sha256} for files and the files under directories; unreadable files map to None."""
    sums = {}
    for path in _files(paths):
        try:
            sums[path] = sha256_of(path)
        except (IOError, OSError):
            sums[path] = None
    return sums


def manifest_step(mode, paths, manifest_file, check_mode):
    """(status or None, text, evidence dict, changed) for manifest none/create/verify."""
    if mode == "none":
        return None, None, {"mode": "none"}, False
    if mode == "create":
        if not paths:
            raise CheckError("manifest=create needs manifest_paths")
        sums = checksum_files(paths)
        evidence = {"mode": "create", "file": manifest_file, "files": len(sums),
                    "unreadable": sorted(p for p, s in sums.items() if s is None)}
        if check_mode:
            return OK, "would create a manifest of %d file(s) in %s" % (len(sums), manifest_file), evidence, True
        atomic_write_json(manifest_file, {"version": MANIFEST_VERSION, "created": int(time.time()),
                                          "paths": list(paths), "files": sums})
        return OK, "manifest of %d file(s) created in %s" % (len(sums), manifest_file), evidence, True
    saved = read_json(manifest_file)
    if not isinstance(saved, dict) or not isinstance(saved.get("files"), dict):
        return WARN, "no readable manifest in %s to verify (create one with manifest=create)" % manifest_file, \
            {"mode": "verify", "file": manifest_file, "readable": False}, False
    current = checksum_files(paths or saved.get("paths") or [])
    expected = saved["files"]
    changed_files = sorted(p for p, s in expected.items() if p in current and current[p] != s and current[p] is not None)
    missing = sorted(p for p in expected if p not in current or current[p] is None)
    added = sorted(p for p in current if p not in expected)
    evidence = {"mode": "verify", "file": manifest_file, "readable": True, "files": len(expected),
                "changed": changed_files, "missing": missing, "new": added}
    if changed_files or missing:
        return FAIL, "manifest: %d file(s) changed, %d missing" % (len(changed_files), len(missing)), evidence, False
    return OK, "manifest: %d file(s) verified" % len(expected), evidence, False


def run_sdcard_check(path="/", window=86400, mmc_warn=1, mmc_fail=10, canary=True, canary_dir=None,
                     manifest="none", manifest_paths=None, manifest_file="/var/lib/imagenode-health/manifest.json",
                     write_warn_mb_per_day=None, root="/", runner=None, check_mode=False, kernel_log=None):
    """kernel_log: node_health's kernel_log.SharedKernelLog (one read for this check and power_check)
    or the probe's kernel_log.KmsgFollower."""
    stopwatch = Stopwatch()
    if manifest not in ("none", "create", "verify"):
        raise CheckError("manifest must be none, create or verify, not %r" % (manifest,))
    if not 0 < mmc_warn <= mmc_fail:
        raise CheckError("mmc_warn must be at least 1 and at most mmc_fail (%s, %s)" % (mmc_warn, mmc_fail))
    given_runner, runner = runner, runner or Runner()
    sources = dict.fromkeys(("mountinfo", "block_device", "kernel_log", "ext4_counters", "canary", "manifest",
                             "write_stats"), False)
    findings = []  # (status, text)
    evidence = {"path": path, "window": window, "sources": sources}

    mounts = parse_mountinfo(read_text(under_root(root, "/proc/self/mountinfo"), ""))
    mount = mount_of(mounts, path) if mounts else None
    sources["mountinfo"] = mount is not None
    device = disk = None
    read_only = None
    if mount is not None:
        device, disk = block_device(mount["devno"], root)
        sources["block_device"] = device is not None
        # An ext4 error with errors=remount-ro used to set the whole mount
        # "ro"; since Linux 6.x the mount stays "rw" and the superblock says
        # "emergency_ro" while every write fails with EROFS.
        emergency = "emergency_ro" in mount["super_options"] or "emergency_ro" in mount["options"]
        read_only = "ro" in mount["options"] or "ro" in mount["super_options"] or emergency
        evidence["mount"] = {"mountpoint": mount["mountpoint"], "fstype": mount["fstype"], "source": mount["source"],
                             "devno": mount["devno"], "options": mount["options"],
                             "super_options": mount["super_options"], "read_only": read_only}
        if emergency:
            findings.append((FAIL, "%s was made read-only by the kernel after filesystem errors (emergency_ro)"
                             % mount["mountpoint"]))
        elif read_only:
            findings.append((FAIL, "%s is mounted read-only" % mount["mountpoint"]))
    is_mmc = bool(disk and disk.startswith("mmcblk"))
    evidence.update(device=device, disk=disk, is_mmc=is_mmc)

    log = kernel_log.get(window) if kernel_log is not None else read_kernel_log(window, given_runner, root)
    sources["kernel_log"] = log.source is not None
    names = set()
    if is_mmc:
        names = set([disk, mmc_host(disk, root)])
    ours, others = count_mmc_errors(log.matching(_MMC_ERROR), names)
    evidence["kernel_log"] = {"source": log.source, "error": log.error, "mmc_errors": len(ours),
                              "recent": ours[-5:], "other_mmc_errors": len(others), "other_recent": others[-3:]}
    if ours:
        level = FAIL if len(ours) >= mmc_fail else WARN if len(ours) >= mmc_warn else OK
        findings.append((level, "%d mmc error(s) on %s in the last %d s" % (len(ours), disk, window)))

    ext4 = read_ext4_counters(device, root) if device and mount and mount["fstype"] == "ext4" else None
    sources["ext4_counters"] = ext4 is not None
    evidence["ext4"] = ext4
    if ext4 and ext4["errors_count"]:
        first = ext4["first_error_time"]
        when = time.strftime(" since %Y-%m-%d", time.gmtime(first)) if first else ""
        findings.append((FAIL, "ext4 on %s recorded %d error(s)%s" % (device, ext4["errors_count"], when)))

    if canary:
        directory = pick_canary_dir(path, canary_dir)
        if directory is None:
            evidence["canary"] = {"dir": None, "ok": None, "error": "no writable directory on the filesystem of %s" % path}
        else:
            ok, error, took = run_canary(directory)
            sources["canary"] = True
            evidence["canary"] = {"dir": directory, "ok": ok, "error": error, "ms": took}
            if not ok:
                findings.append((FAIL, error))

    level, text, evidence["manifest"], changed = manifest_step(manifest, list(manifest_paths or []), manifest_file,
                                                               check_mode)
    sources["manifest"] = bool(manifest != "none" and (manifest == "create" or evidence["manifest"].get("readable")))
    if level is not None and level != OK:
        findings.append((level, text))

    written, per_day = read_write_stats(disk, root) if disk else (None, None)
    sources["write_stats"] = written is not None
    mb_per_day = None if per_day is None else round(per_day / 1e6, 1)
    evidence["writes"] = {"bytes_since_boot": written, "mb_per_day": mb_per_day,
                          "write_warn_mb_per_day": write_warn_mb_per_day}
    if write_warn_mb_per_day is not None and mb_per_day is not None and mb_per_day >= write_warn_mb_per_day:
        findings.append((WARN, "%.0f MB written per day wears the card" % mb_per_day))

    judged = [name for name in ("kernel_log", "ext4_counters", "canary", "mountinfo") if sources[name]]
    if findings:
        status = worst(level for level, _text in findings)
        summary = "; ".join(text for _level, text in findings)
    elif not judged:
        status, summary = UNKNOWN, "could read none of mountinfo, the kernel log, ext4 counters or a canary"
    else:
        status = OK
        where = "%s on %s" % (mount["mountpoint"], device or mount["source"]) if mount else path
        summary = "%s: no errors (read %s)" % (where, ", ".join(n for n, v in sorted(sources.items()) if v))
    if manifest != "none" and text and level == OK:
        summary += "; " + text
    if not is_mmc and others:
        summary += "; %d mmc error(s) on another device (not the one holding %s)" % (len(others), path)
    if mb_per_day is not None:
        summary += "; %.1f MB written/day" % mb_per_day
    result = make_result(status, summary, evidence, stopwatch, device=device, disk=disk, is_mmc=is_mmc,
                         read_only=read_only, mmc_errors=len(ours),
                         ext4_errors=None if ext4 is None else ext4["errors_count"], mb_written_per_day=mb_per_day)
    if changed:
        result["changed"] = True
    return result
