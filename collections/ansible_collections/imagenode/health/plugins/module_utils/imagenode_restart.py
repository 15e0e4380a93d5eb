# Copyright (c) 2026 imagenode-health contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""imagenode_restart: restart imagenode the way it was started, and prove it.

"The way it was started" comes from instance_check's answer for the oldest
instance (or `start_method` when nothing runs):

- systemd: `systemctl reset-failed` (a unit that hit its start limit refuses
  even a manual start) and `systemctl restart UNIT`.
- screen: when the session belongs to a systemd unit (the start_method role's
  imagenode-screen.service) that unit is restarted; otherwise the program is
  ended and, unless the session's own loop starts it again, a new detached
  session of the same name runs the same command line as the same user.
- cron: the program is ended and cron's own command (the command line of the
  process cron ran, as recorded in the process tree) runs again at once, as
  the same user, in cron.service's cgroup where cron's jobs live, instead of
  waiting up to a minute for a keep-alive entry.

A stopped (SIGSTOP) process cannot act on SIGTERM, so it gets SIGKILL: there
is nothing graceful left to wait for. Every other instance (duplicates, by
hand copies) is ended too: afterwards exactly one runs, and it must still run
`settle` seconds later (a program that dies at start is not a fix).
"""

import os
import signal
import subprocess
import time

from .check_result import CheckError, Stopwatch
from .command_runner import Runner, read_text
from .instance_check import FROZEN_STATES, find_instances, unit_of_cgroup
from .recovery import make_recovery_result

try:
    import psutil  # instance_check imports it only when it needs it; a restart always does
except ImportError:  # psutil is python3-psutil on Debian and Pi OS
    psutil = None

METHODS = ("systemd", "cron", "screen", "any")

OPTIONS = {
    "start_method": {"type": "str", "choices": list(METHODS), "default": "any"},
    "pattern": {"type": "str", "default": "imagenode.py"},
    "unit": {"type": "str", "default": "imagenode.service"},
    "command": {"type": "list", "elements": "str"},
    "user": {"type": "str"},
    "session": {"type": "str", "default": "imagenode"},
    "timeout": {"type": "float", "default": 60.0},
    "settle": {"type": "float", "default": 3.0},
}

_CRON_NAMES = ("cron", "crond", "CRON")
_SCREEN_NAMES = ("screen", "SCREEN")


def choose_method(instances, start_method):
    """(method, keeper instance or None): the keeper is the oldest instance,
    preferably one started by start_method."""
    if start_method != "any":
        keepers = [item for item in instances if item["launcher"] == start_method]
        return start_method, (keepers or instances or [None])[0]
    if not instances:
        raise CheckError("imagenode is not running, so how it was started is not known: set start_method")
    keeper = instances[0]
    if keeper["launcher"] == "hand":
        managed = [item for item in instances if item["launcher"] != "hand"]
        if not managed:
            raise CheckError("imagenode (pid %d) was started by hand, so it cannot be started again the same "
                             "way: set start_method" % keeper["pid"])
        keeper = managed[0]
    return keeper["launcher"], keeper


def _unit_for(method, keeper, unit):
    """The systemd unit that owns the program, if any (systemd: always)."""
    if keeper is not None:
        owner = unit_of_cgroup(keeper.get("cgroup"))
        if owner and owner != "cron.service":
            return owner
    return unit if method == "systemd" else None


def cron_command(pid):
    """The command line cron ran to start pid: its ancestor whose parent is cron."""
    if psutil is None:
        return None, None
    try:
        chain = [psutil.Process(pid)] + psutil.Process(pid).parents()
    except psutil.Error:
        return None, None
    for child, parent in zip(chain, chain[1:]):
        try:
            if parent.name() in _CRON_NAMES:
                return child.cmdline(), child.cwd()
        except psutil.Error:
            return None, None
    return None, None


def cgroup_procs_files(pid, root="/"):
    """The cgroup.procs files that would put a process where pid is (v1 name=systemd and v2)."""
    files = []
    for line in (read_text(os.path.join(root, "proc/%d/cgroup" % pid)) or "").splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        if parts[1] == "name=systemd":
            files.append(os.path.join(root, "sys/fs/cgroup/systemd", parts[2].lstrip("/"), "cgroup.procs"))
        elif parts[0] == "0" and parts[1] == "":
            base = os.path.join(root, "sys/fs/cgroup/unified")
            if not os.path.isdir(base):
                base = os.path.join(root, "sys/fs/cgroup")
            files.append(os.path.join(base, parts[2].lstrip("/"), "cgroup.procs"))
    return files


def _cron_daemon_pid():
    if psutil is None:
        return None
    for proc in psutil.process_iter(["pid", "name", "ppid"]):
        if proc.info["name"] in _CRON_NAMES and proc.info["ppid"] in (0, 1):
            return proc.info["pid"]
    return None


def spawn_detached(argv, user=None, cwd=None, cgroup_files=()):
    """Start argv in its own session, as user, in cwd, joining the given
    cgroups first (as root); returns the Popen. Never through a shell of ours:
    argv is the command line recorded in the process tree."""
    import pwd

    account = pwd.getpwnam(user) if user else None

    def prepare():
        for path in cgroup_files:
            try:
                with open(path, "w") as handle:
                    handle.write(str(os.getpid()))
            except (IOError, OSError):
                pass
        if account is not None and os.getuid() == 0:
            os.initgroups(account.pw_name, account.pw_gid)
            os.setgid(account.pw_gid)
            os.setuid(account.pw_uid)

    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LC_ALL": "C", "SHELL": "/bin/sh"}
    if account is not None:
        env.update(HOME=account.pw_dir, USER=account.pw_name, LOGNAME=account.pw_name)
    return subprocess.Popen(argv, cwd=cwd or (account.pw_dir if account else "/"), env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            preexec_fn=prepare, start_new_session=True, close_fds=True)


def end_processes(pids, timeout):
    """SIGTERM (SIGKILL for stopped ones), then SIGKILL whatever is left after timeout."""
    procs = []
    for pid in pids:
        try:
            proc = psutil.Process(pid)
            frozen = proc.status() in FROZEN_STATES
            proc.send_signal(signal.SIGKILL if frozen else signal.SIGTERM)
            procs.append(proc)
        except psutil.Error:
            continue
    _gone, alive = psutil.wait_procs(procs, timeout=timeout)
    for proc in alive:
        try:
            proc.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(alive, timeout=2)


def wait_for_one(pattern, old_pids, timeout, settle, clock=time.monotonic, sleep=time.sleep):
    """Wait for exactly one instance that is not an old one and still runs
    `settle` s later; returns (instance or None, last instances seen)."""
    deadline = clock() + timeout
    seen = []
    candidate, since = None, None
    while True:
        seen = find_instances(pattern)
        fresh = [item for item in seen if item["pid"] not in old_pids and item.get("state") not in FROZEN_STATES]
        if len(seen) == 1 and fresh:
            if candidate != fresh[0]["pid"]:
                candidate, since = fresh[0]["pid"], clock()
            if clock() - since >= settle:
                return fresh[0], seen
        else:
            candidate, since = None, None
        if clock() >= deadline:
            return None, seen
        sleep(0.5)


def _brief(instances):
    return [{"pid": item["pid"], "launcher": item["launcher"], "state": item.get("state")} for item in instances]


def plan(method, keeper, instances, unit, command):
    """The steps, as text, and what each needs."""
    owner = _unit_for(method, keeper, unit)
    steps = []
    frozen = [item["pid"] for item in instances if item.get("state") in FROZEN_STATES]
    if frozen:
        steps.append("SIGKILL stopped pid %s" % ", ".join(map(str, frozen)))
    others = [item["pid"] for item in instances if keeper is None or item["pid"] != keeper["pid"]]
    if owner:
        others = [pid for pid in others if unit_of_cgroup(_cgroup(instances, pid)) != owner]
        steps.append("systemctl reset-failed %s; systemctl restart %s" % (owner, owner))
    else:
        if instances:
            steps.append("end pid %s" % ", ".join(str(item["pid"]) for item in instances))
        steps.append("start %s again as %s: %s" % (pattern_name(method), method, " ".join(command or ["?"])))
    if owner and others:
        steps.insert(0, "end the other instance(s) pid %s" % ", ".join(map(str, others)))
    return owner, others, steps


def _cgroup(instances, pid):
    for item in instances:
        if item["pid"] == pid:
            return item.get("cgroup")
    return None


def pattern_name(method):
    return {"cron": "the cron job", "screen": "the screen session"}.get(method, "imagenode")


def restart_imagenode(start_method="any", pattern="imagenode.py", unit="imagenode.service", command=None, user=None,
                      session="imagenode", timeout=60.0, settle=3.0, check_mode=False, runner=None):
    """Restart imagenode by its start method; exactly one fresh instance afterwards."""
    stopwatch = Stopwatch()
    if psutil is None:
        raise CheckError("imagenode_restart needs psutil (python3-psutil)")
    runner = runner or Runner(timeout=timeout)
    instances = find_instances(pattern)
    method, keeper = choose_method(instances, start_method)
    old_pids = [item["pid"] for item in instances]
    owner = _unit_for(method, keeper, unit)
    cwd = None
    if not owner:
        if command is None and keeper is not None:
            if method == "cron":
                command, cwd = cron_command(keeper["pid"])
            else:
                command = keeper["cmdline"]
        if not command:
            raise CheckError("cannot tell how to start imagenode by %s again (no running instance to copy): "
                             "set command" % method)
        if method == "screen":
            command = ["screen", "-dmS", session] + list(command)
        user = user or (keeper or {}).get("user")
    owner, others, steps = plan(method, keeper, instances, unit, command)
    before = {"instances": _brief(instances), "method": method, "unit": owner}
    if check_mode:
        return make_recovery_result(stopwatch, False, None, before, before, "would restart imagenode by %s: %s"
                                    % (method, "; ".join(steps)), actions=["would " + step for step in steps],
                                    method=method, pid=None, previous_pids=old_pids)
    done = []
    frozen = [item["pid"] for item in instances if item.get("state") in FROZEN_STATES]
    if frozen:
        end_processes(frozen, timeout=2)
        done.append("SIGKILL stopped pid %s" % ", ".join(map(str, frozen)))
    if owner:
        if others:
            end_processes(others, timeout=min(10.0, timeout / 3))
            done.append("ended pid %s" % ", ".join(map(str, others)))
        runner.run(["systemctl", "reset-failed", owner])
        result = runner.run(["systemctl", "restart", owner], timeout=timeout)
        if not result.ok:
            raise CheckError("systemctl restart %s failed: %s" % (owner, (result.stderr or result.error or "").strip()))
        done.append("systemctl restart %s" % owner)
    else:
        live = [pid for pid in old_pids if pid not in frozen]
        if live:
            end_processes(live, timeout=min(10.0, timeout / 3))
            done.append("ended pid %s" % ", ".join(map(str, live)))
        files = cgroup_procs_files(_cron_daemon_pid()) if method == "cron" and _cron_daemon_pid() else ()
        # A screen session whose own loop restarts the program needs no new session.
        fresh, _seen = wait_for_one(pattern, old_pids, 7.0, 0.0) if method == "screen" else (None, None)
        if fresh is None:
            try:
                spawn_detached(list(command), user=user, cwd=cwd, cgroup_files=files)
            except (OSError, KeyError) as exc:
                raise CheckError("cannot start %s: %s" % (" ".join(command), exc))
            done.append("started as %s%s: %s" % (method, " (user %s)" % user if user else "", " ".join(command)))
        else:
            done.append("the screen session's loop started it again")
    fresh, seen = wait_for_one(pattern, old_pids, timeout, settle)
    after = {"instances": _brief(seen), "method": method, "unit": owner}
    if fresh is None:
        summary = "restarted imagenode by %s, but %d instance(s) run after %.0f s: %s" % (
            method, len(seen), timeout, ", ".join("pid %d" % item["pid"] for item in seen) or "none")
        return make_recovery_result(stopwatch, True, False, before, after, summary, actions=done,
                                    method=method, pid=None, previous_pids=old_pids)
    summary = "restarted imagenode by %s: pid %s -> pid %d (%s)" % (
        method, ", ".join(map(str, old_pids)) or "none", fresh["pid"], fresh["launcher"])
    return make_recovery_result(stopwatch, True, True, before, after, summary, actions=done, method=method,
                                pid=fresh["pid"], previous_pids=old_pids, launcher=fresh["launcher"])
