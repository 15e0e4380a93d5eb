# Copyright (c) 2026 imagenode-health contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""instance_check's /proc fast path: the same instances, launchers and states as psutil's scan.

Real processes (by hand, under a fake screen and cron, one with a launcher
name longer than the kernel's 15 characters, one stopped) are found both ways
and compared field by field; the parsers are tested on recorded /proc text.
"""

import os
import signal
import sys
import time

import psutil
import pytest

from ansible_collections.imagenode.health.plugins.module_utils import instance_check
from ansible_collections.imagenode.health.plugins.module_utils.check_result import CheckError
from ansible_collections.imagenode.health.plugins.module_utils.instance_check import (
    find_instances,
    parse_proc_cmdline,
    parse_proc_stat,
    procfs_usable,
    run_instance_check,
)
from ansible_collections.imagenode.health.tests.unit.plugins.module_utils.test_instance_check import Fleet

linux_only = pytest.mark.skipif(not procfs_usable(), reason="needs Linux /proc")


@pytest.fixture
def fleet(tmp_path):
    fleet = Fleet(tmp_path)
    yield fleet
    fleet.stop()
    for item in find_instances(fleet.pattern, str(fleet.root)):
        try:
            os.kill(item["pid"], signal.SIGCONT)
            os.kill(item["pid"], signal.SIGKILL)
        except OSError:
            pass


# A live process is "running" in one scan and "sleeping" in the next; only the states
# instance_check acts on (stopped, zombie...) must agree between two scans.
BUSY = ("running", "sleeping", "disk-sleep", "idle")


def without_age(instances):
    """The instances without what changes between two scans: age, and running vs sleeping."""
    return [dict((key, "alive" if key == "state" and value in BUSY else value) for key, value in item.items()
                 if key != "age") for item in instances]


def both_ways(fleet, count):
    fleet.wait_for(count)
    fast = find_instances(fleet.pattern, str(fleet.root), use_procfs=True)
    slow = find_instances(fleet.pattern, str(fleet.root), use_procfs=False)
    return fast, slow


@pytest.mark.parametrize("data, cmdline", [
    (b"/usr/bin/python3\x00-u\x00/home/pi/imagenode.py\x00", ["/usr/bin/python3", "-u", "/home/pi/imagenode.py"]),
    (b"python3\x00imagenode.py", ["python3\x00imagenode.py"]),       # no trailing NUL: psutil splits on spaces
    (b"python3\x00\x00x\x00", ["python3", "", "x"]),                   # an empty argument
    (b"nginx: worker process", ["nginx:", "worker", "process"]),      # setproctitle, spaces
    (b"sshd: pi [priv]\x00", ["sshd:", "pi", "[priv]"]),              # one NUL-ended title with spaces
    (b"python3\x00a\r\nb\x00", ["python3", "a\nb"]),                   # psutil reads text: universal newlines
    (b"", []),
])
def test_parse_proc_cmdline_splits_like_psutil(data, cmdline):
    assert parse_proc_cmdline(data) == cmdline


def test_parse_proc_stat_names_with_spaces_and_parentheses():
    stat = b"4242 (my (odd) name) T 17 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 123456 0 0 0\n"
    assert parse_proc_stat(stat) == ("my (odd) name", "stopped", 17, 123456)
    assert parse_proc_stat(b"1 (init) S 0 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5 0 0\n")[1:] == ("sleeping", 0, 5)
    assert parse_proc_stat(b"") is None
    assert parse_proc_stat(b"12 (short) R 1 2") is None


@linux_only
def test_own_process_parses_as_psutil_sees_it():
    me = psutil.Process()
    with open("/proc/self/stat", "rb") as handle:
        name, state, ppid, ticks = parse_proc_stat(handle.read())
    assert (name, ppid) == (me.name()[:15], me.ppid())
    assert state == "running"
    with open("/proc/%d/cmdline" % os.getpid(), "rb") as handle:
        assert parse_proc_cmdline(handle.read()) == me.cmdline()


@linux_only
def test_fast_path_is_the_default_on_linux(monkeypatch, fleet):
    fleet.start()
    fleet.wait_for(1)

    def no_scan(*_args, **_kwargs):
        raise AssertionError("psutil scanned every process")
    monkeypatch.setattr(instance_check.psutil, "process_iter", no_scan)
    assert len(find_instances(fleet.pattern, str(fleet.root))) == 1


@linux_only
def test_same_instances_and_launchers_both_ways(fleet):
    fleet.start()
    fleet.start([fleet.launcher("screen"), "-dmS", "cam", "--"])
    fleet.start([fleet.launcher("cron"), "--"])
    # an interpreter named longer than the kernel's 15-character comm: both ways take argv[0]'s name
    long_name = fleet.tmp / "bin" / "imagenode-launcher-long"
    os.symlink(sys.executable, str(long_name))
    fleet.start([str(long_name), fleet.launcher("keeper"), "--"])
    fast, slow = both_ways(fleet, 4)
    assert len(fast) == 4
    assert without_age(fast) == without_age(slow)
    launchers = sorted(item["launcher"] for item in fast)
    assert launchers == ["cron", "hand", "hand", "screen"]
    details = [item["launcher_detail"] or "" for item in fast]
    assert any(detail.startswith("imagenode-launcher-long < ") for detail in details), details
    for item in fast:
        assert item["user"] == psutil.Process(item["pid"]).username()
        assert item["started"] == round(psutil.Process(item["pid"]).create_time(), 2)
        assert abs(item["age"] - [s for s in slow if s["pid"] == item["pid"]][0]["age"]) < 1.0


@linux_only
def test_systemd_cgroup_and_frozen_state_both_ways(fleet):
    proc = fleet.start()
    fleet.wait_for(1)
    fleet.root.joinpath("proc", str(proc.pid)).mkdir(parents=True)
    fleet.root.joinpath("proc", str(proc.pid), "cgroup").write_text("0::/system.slice/imagenode.service\n")
    os.kill(proc.pid, signal.SIGSTOP)
    deadline = time.monotonic() + 5
    while psutil.Process(proc.pid).status() != psutil.STATUS_STOPPED and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        fast, slow = both_ways(fleet, 1)
        assert without_age(fast) == without_age(slow)
        assert fast[0]["state"] == "stopped" and fast[0]["launcher"] == "systemd"
        result = run_instance_check(pattern=fleet.pattern, start_method="systemd", root=str(fleet.root))
        assert result["status"] == "fail" and result["frozen"] == [proc.pid]
    finally:
        os.kill(proc.pid, signal.SIGCONT)


def test_psutil_is_used_without_procfs(monkeypatch, fleet):
    proc = fleet.start()
    fleet.wait_for(1)
    monkeypatch.setattr(instance_check, "procfs_usable", lambda: False)
    scanned = []
    real_iter = psutil.process_iter

    def counting(*args, **kwargs):
        scanned.append(True)
        return real_iter(*args, **kwargs)
    monkeypatch.setattr(instance_check.psutil, "process_iter", counting)
    result = run_instance_check(pattern=fleet.pattern, root=str(fleet.root))
    assert scanned and result["status"] == "ok" and result["pids"] == [proc.pid]


def test_without_psutil_only_procfs_can_answer(monkeypatch, fleet):
    monkeypatch.setattr(instance_check, "psutil", None)
    monkeypatch.setattr(instance_check, "procfs_usable", lambda: False)
    with pytest.raises(CheckError, match="needs psutil"):
        run_instance_check(pattern=fleet.pattern, root=str(fleet.root))
    if sys.platform.startswith("linux"):
        monkeypatch.setattr(instance_check, "procfs_usable", lambda: True)
        proc = fleet.start()
        fleet.wait_for(1)
        assert run_instance_check(pattern=fleet.pattern, root=str(fleet.root))["pids"] == [proc.pid]


@linux_only
def test_whole_process_table_matches_psutil():
    # every process with a command line (pattern "" matches every script)
    for _attempt in range(3):  # a process may start or end between the two scans
        fast = without_age(find_instances("", use_procfs=True))
        slow = without_age(find_instances("", use_procfs=False))
        if fast == slow:
            break
    assert fast == slow
