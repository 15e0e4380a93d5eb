# Copyright (c) 2026 imagenode-health contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""instance_check: how many imagenode processes run, and what launched each.

A process is an imagenode instance when its script (the first non-option
argument of a python interpreter, or the executable itself) matches the
pattern; shells, screen and sudo whose command lines merely mention the
script are not. The launcher is, nearest first: a `screen` ancestor (with its
-S session name), a `cron`/`crond` ancestor, the systemd unit of its cgroup
(cron.service counts as cron; session scopes and user@.service managers do
not count as units), else "by hand".

On Linux the processes are read straight from /proc: every process's
cmdline (one read each), and stat, status and cgroup only for the few whose
script matches, the way psutil reads them (same cmdline splitting, names,
states, start times and parent chain), without psutil's full scan of every
process's attributes. Elsewhere (macOS nodes) psutil does the scan.
"""

import os
import re
import sys
import time

from .check_result import FAIL, OK, WARN, CheckError, Stopwatch, make_result
from .command_runner import read_text, under_root

# psutil (python3-psutil on Debian and Pi OS) is imported when first needed: on Linux
# the /proc scan does without it, and the probe's steady cycle stays ~2 MiB smaller.
# `instance_check.psutil` (module attribute, PEP 562) and _psutil() import it.
_NOT_LOADED = object()
PSUTIL_IMPORT_ERROR = None


def _psutil():
    """The psutil module, or None when it is not installed (PSUTIL_IMPORT_ERROR says why).
    Once loaded it is the module global `psutil` (which a test may set)."""
    global PSUTIL_IMPORT_ERROR  # pylint: disable=global-statement
    module = globals().get("psutil", _NOT_LOADED)
    if module is _NOT_LOADED:
        try:
            import psutil as module  # pylint: disable=import-outside-toplevel
        except ImportError as exc:
            module = None
            PSUTIL_IMPORT_ERROR = exc
        globals()["psutil"] = module
    return module


def __getattr__(name):
    if name == "psutil":
        return _psutil()
    raise AttributeError("module %r has no attribute %r" % (__name__, name))


START_METHODS = ("systemd", "cron", "screen", "any")
LAUNCHERS = ("systemd", "cron", "screen", "hand")
# psutil's names for a process that is alive but does not run.
FROZEN_STATES = ("stopped", "tracing-stop")

OPTIONS = {
    "pattern": {"type": "str", "default": "imagenode.py"},
    "start_method": {"type": "str", "choices": list(START_METHODS), "default": "any"},
    "duplicate_status": {"type": "str", "choices": ["warn", "fail"], "default": "warn"},
}

_PYTHON = re.compile(r"^python[0-9.]*$")
_SCREEN_NAMES = ("screen", "SCREEN")
_CRON_NAMES = ("cron", "crond", "CRON")
# Python options that take a value as the next argument.
_PYTHON_VALUE_OPTIONS = ("-X", "-W", "-Q")


def script_of(cmdline):
    """The program a command line runs: a python interpreter's script, else argv[0]."""
    if not cmdline:
        return None
    if not _PYTHON.match(os.path.basename(cmdline[0])):
        return cmdline[0]
    args = iter(cmdline[1:])
    for arg in args:
        if arg in ("-c", "-m"):
            return None
        if arg in _PYTHON_VALUE_OPTIONS:
            next(args, None)
            continue
        if arg.startswith("-"):
            continue
        return arg
    return None


def screen_session(cmdline):
    """The -S session name of a screen command line (-S NAME, -dmS NAME, -SNAME), or None."""
    args = list(cmdline)
    start = 0
    for index, arg in enumerate(args):
        if os.path.basename(arg) in _SCREEN_NAMES:
            start = index + 1
            break
    args = args[start:]
    for index, arg in enumerate(args):
        if arg.startswith("-") and not arg.startswith("--") and "S" in arg[1:]:
            rest = arg[arg.index("S", 1) + 1:]
            if rest:
                return rest
            if index + 1 < len(args):
                return args[index + 1]
    return None


def parse_cgroup(text):
    """The systemd cgroup path from /proc/PID/cgroup (v1 name=systemd, else the v2 0:: line)."""
    v2 = None
    for line in (text or "").splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        if parts[1] == "name=systemd":
            return parts[2]
        if parts[0] == "0" and parts[1] == "":
            v2 = parts[2]
    return v2


def unit_of_cgroup(path):
    """The systemd service a cgroup path belongs to, or None (sessions, user managers, the root)."""
    for component in reversed((path or "").split("/")):
        if component.endswith(".service") and not re.match(r"^user@[0-9]+\.service$", component):
            return component
    return None


def classify(ancestors, cgroup_path):
    """(launcher, detail) from ancestors [(name, cmdline)] nearest first and the cgroup path."""
    for name, cmdline in ancestors:
        base = os.path.basename(name or "")
        if base in _SCREEN_NAMES or any(os.path.basename(a) in _SCREEN_NAMES for a in cmdline[:2]):
            return "screen", screen_session(cmdline)
        if base in _CRON_NAMES:
            return "cron", base
    unit = unit_of_cgroup(cgroup_path)
    if unit == "cron.service":
        return "cron", unit
    if unit is not None:
        return "systemd", unit
    chain = [name for name, _cmdline in ancestors]
    return "hand", " < ".join(chain[:4]) if chain else None


# --- the /proc fast path (Linux) ------------------------------------------------------

PROCFS = "/proc"
# psutil's names for the state letter of /proc/PID/stat.
_PROC_STATES = {"R": "running", "S": "sleeping", "D": "disk-sleep", "T": "stopped", "t": "tracing-stop",
                "Z": "zombie", "X": "dead", "x": "dead", "K": "wake-kill", "W": "waking", "I": "idle",
                "P": "parked"}
_FS_ENCODING = sys.getfilesystemencoding() or "utf-8"
_FS_ERRORS = getattr(sys, "getfilesystemencodeerrors", lambda: "replace")()
try:
    _CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
except (AttributeError, ValueError, OSError):
    _CLOCK_TICKS = 100
_UID = re.compile(br"Uid:\t(\d+)\t")


def procfs_usable():
    """True where the processes can be read from /proc (Linux); psutil is used elsewhere."""
    return sys.platform.startswith("linux") and os.path.isfile(PROCFS + "/self/stat")


def _read_bytes(path):
    """A /proc file's whole content, or None when it is gone or not readable."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        chunks = []
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)
    except OSError:
        return None
    finally:
        os.close(fd)


def parse_proc_cmdline(data):
    """The argument list in /proc/PID/cmdline (bytes), split as psutil splits it.

    NUL-separated normally; a process that rewrote its title with spaces
    (setproctitle) is split on the spaces. Decoded as psutil's text read does
    (file system encoding, universal newlines).
    """
    text = data.decode(_FS_ENCODING, _FS_ERRORS)
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text:
        return []
    sep = "\x00" if text.endswith("\x00") else " "
    if text.endswith(sep):
        text = text[:-1]
    cmdline = text.split(sep)
    if sep == "\x00" and len(cmdline) == 1 and " " in text:
        cmdline = text.split(" ")
    return cmdline


def parse_proc_stat(data):
    """(name, state, ppid, start ticks) from /proc/PID/stat (bytes); None when malformed."""
    rpar = data.rfind(b")")
    fields = data[rpar + 2:].split()
    if rpar < 0 or len(fields) < 20:
        return None
    try:
        name = data[data.find(b"(") + 1:rpar].decode(_FS_ENCODING, _FS_ERRORS)
        return name, _PROC_STATES.get(fields[0].decode("ascii", "replace"), "?"), int(fields[1]), int(fields[19])
    except ValueError:
        return None


def _boot_time():
    for line in (_read_bytes(PROCFS + "/stat") or b"").splitlines():
        if line.startswith(b"btime"):
            return float(line.split()[1])
    return None


def _username(uid):
    try:
        import pwd
        return pwd.getpwuid(uid).pw_name
    except (ImportError, KeyError):
        return str(uid)


def _proc_name_cmdline(pid, name):
    """(name, cmdline) of an ancestor as psutil's name()/cmdline() give them; ("?", []) when unreadable."""
    data = _read_bytes("%s/%d/cmdline" % (PROCFS, pid))
    if data is None:
        return "?", []
    cmdline = parse_proc_cmdline(data)
    if not cmdline:
        stat = parse_proc_stat(_read_bytes("%s/%d/stat" % (PROCFS, pid)) or b"")
        if stat is None or stat[1] == "zombie":  # psutil: ZombieProcess
            return "?", []
    elif len(name) >= 15:  # the kernel cuts names at 15 characters; psutil takes argv[0]'s then
        extended = os.path.basename(cmdline[0])
        if extended.startswith(name):
            name = extended
    return name, cmdline


def _proc_ancestors(ppid, started):
    """[(name, cmdline)] nearest first, as psutil's parents(): a parent must not be younger
    than its child (else its pid was reused), and the walk stops below pid 1."""
    found = []
    while ppid > 1:
        stat = parse_proc_stat(_read_bytes("%s/%d/stat" % (PROCFS, ppid)) or b"")
        if stat is None or stat[3] > started:
            break
        found.append(_proc_name_cmdline(ppid, stat[0]))
        ppid, started = stat[2], stat[3]
    return found


def _scan_procfs(regex, root, me):
    """Matching processes from /proc: the cmdline of each, the rest only for matches."""
    found = []
    boot = None
    for entry in os.listdir(PROCFS):
        if not entry.isdigit():
            continue
        pid = int(entry)
        if pid == me:
            continue
        data = _read_bytes("%s/%d/cmdline" % (PROCFS, pid))
        if not data:  # gone, not readable, a kernel thread or a zombie
            continue
        cmdline = parse_proc_cmdline(data)
        script = script_of(cmdline)
        if script is None or not regex.search(script):
            continue
        stat = parse_proc_stat(_read_bytes("%s/%d/stat" % (PROCFS, pid)) or b"")
        status = _read_bytes("%s/%d/status" % (PROCFS, pid))
        if stat is None or status is None:  # gone meanwhile
            continue
        uid = _UID.search(status)
        if boot is None:
            boot = _boot_time()
        _name, state, ppid, ticks = stat
        found.append({"pid": pid, "ppid": ppid, "cmdline": cmdline, "script": script,
                      "create_time": float(ticks) / _CLOCK_TICKS + boot if boot is not None else None,
                      "status": state, "username": _username(int(uid.group(1))) if uid else None,
                      "ancestors": _proc_ancestors(ppid, ticks)})
    return found


# --- psutil (macOS, or no /proc) ------------------------------------------------------

def _ancestors(proc):
    psutil = _psutil()
    found = []
    try:
        parents = proc.parents()
    except (psutil.Error, OSError):
        return found
    for parent in parents:
        if parent.pid <= 1:
            break
        try:
            found.append((parent.name(), parent.cmdline()))
        except (psutil.Error, OSError):
            found.append(("?", []))
    return found


def _scan_psutil(regex, root, me):
    """Matching processes from psutil's scan (every process, with its attributes)."""
    psutil = _psutil()
    found = []
    for proc in psutil.process_iter(["pid", "cmdline", "create_time", "ppid", "status", "username"]):
        info = proc.info
        cmdline = info.get("cmdline") or []
        script = script_of(cmdline)
        if info["pid"] == me or script is None or not regex.search(script):
            continue
        found.append(dict(info, cmdline=cmdline, script=script, ancestors=_ancestors(proc)))
    return found


def find_instances(pattern, root="/", use_procfs=None):
    """Every matching process as a dict: pid, ppid, cmdline, script, started, age, launcher, detail.

    use_procfs: None reads /proc where it can (procfs_usable), else psutil; True or False forces one.
    """
    if use_procfs is None:
        use_procfs = procfs_usable()
    if not use_procfs and _psutil() is None:
        raise CheckError("instance_check needs psutil (python3-psutil): %s" % PSUTIL_IMPORT_ERROR)
    try:
        regex = re.compile(pattern)
    except re.error as exc:
        raise CheckError("pattern %r is not a valid regular expression: %s" % (pattern, exc))
    me = os.getpid()
    now = time.time()
    instances = []
    for info in (_scan_procfs if use_procfs else _scan_psutil)(regex, root, me):
        cmdline, script = info["cmdline"], info["script"]
        cgroup = parse_cgroup(read_text(under_root(root, "/proc/%d/cgroup" % info["pid"])))
        launcher, detail = classify(info["ancestors"], cgroup)
        started = info.get("create_time")
        instances.append({
            "pid": info["pid"], "ppid": info.get("ppid"), "cmdline": cmdline, "script": script,
            "started": round(started, 2) if started else None,
            "started_iso": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)) if started else None,
            "age": round(now - started, 1) if started else None,
            "launcher": launcher, "launcher_detail": detail, "cgroup": cgroup,
            "state": info.get("status"), "user": info.get("username"),
        })
    instances.sort(key=lambda item: (item["started"] or 0, item["pid"]))
    return instances


def _describe(item):
    detail = " %s" % item["launcher_detail"] if item["launcher_detail"] and item["launcher"] != "hand" else ""
    return "pid %d (%s%s, up %ds)" % (item["pid"], item["launcher"], detail, int(item["age"] or 0))


def run_instance_check(pattern="imagenode.py", start_method="any", duplicate_status="warn", root="/",
                       check_mode=False):
    stopwatch = Stopwatch()
    if start_method not in START_METHODS:
        raise CheckError("start_method must be one of %s, not %r" % (", ".join(START_METHODS), start_method))
    if duplicate_status not in (WARN, FAIL):
        raise CheckError("duplicate_status must be warn or fail, not %r" % (duplicate_status,))
    instances = find_instances(pattern, root)
    eligible = [item for item in instances if start_method == "any" or item["launcher"] == start_method]
    keeper = eligible[0]["pid"] if eligible else None
    evidence = {"pattern": pattern, "start_method": start_method, "instances": instances}
    count = len(instances)
    if count == 0:
        status, summary = FAIL, "no process runs %s" % pattern
    elif count == 1:
        status, summary = OK, "one instance: %s" % _describe(instances[0])
        if keeper is None:
            status = WARN
            summary += ", not started by %s" % start_method
    else:
        status = duplicate_status
        summary = "%d instances: %s; keeper %s" % (count, ", ".join(_describe(i) for i in instances),
                                                   "pid %d" % keeper if keeper else "none under %s" % start_method)
    # A stopped process (SIGSTOP, a debugger) is alive to systemd and to a
    # pid check, and sends nothing: the "running but silent" camera.
    frozen = [item["pid"] for item in instances if item.get("state") in FROZEN_STATES]
    if frozen:
        status = FAIL
        summary = "frozen (stopped, alive but silent): pid %s; %s" % (
            ", ".join(str(pid) for pid in frozen), summary)
    return make_result(status, summary, evidence, stopwatch, count=count, duplicates=count > 1, frozen=frozen,
                       pids=[item["pid"] for item in instances], keeper=keeper,
                       launchers=dict((str(item["pid"]), item["launcher"]) for item in instances))
