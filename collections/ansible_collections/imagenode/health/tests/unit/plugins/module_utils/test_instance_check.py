# Copyright (c) 2026 imagenode-health contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""instance_check against real child processes running a fake imagenode.py.

Launchers are real ancestor processes named screen and cron (small python
scripts), and a systemd unit is a fake /proc/PID/cgroup under `root`.
"""

import os
import re
import subprocess
import sys
import time

import pytest

from ansible_collections.imagenode.health.plugins.module_utils.check_result import CheckError
from ansible_collections.imagenode.health.plugins.module_utils.instance_check import (
    classify,
    find_instances,
    parse_cgroup,
    run_instance_check,
    screen_session,
    script_of,
    unit_of_cgroup,
)
from ansible_collections.imagenode.health.tests.unit.plugins.fake_runner import write_tree

# These tests run real processes through psutil: both test venvs have it
# (requirements.txt, tests/unit/requirements.txt), so a missing psutil fails.
import psutil  # noqa: E402,F401  pylint: disable=unused-import,wrong-import-position

LAUNCHER = """#!%s
import subprocess, sys
child = subprocess.Popen(sys.argv[sys.argv.index("--") + 1:])
child.wait()
"""


class Fleet(object):
    """Processes running tmp/imagenode.py by hand, from a fake screen or a fake cron."""

    def __init__(self, tmp_path):
        self.tmp = tmp_path
        self.script = tmp_path / "imagenode" / "imagenode.py"
        self.script.parent.mkdir()
        self.script.write_text("import time\ntime.sleep(60)\n")
        self.pattern = re.escape(str(self.script))
        self.root = tmp_path / "fakeroot"
        self.root.mkdir()
        self.procs = []

    def launcher(self, name):
        path = self.tmp / "bin" / name
        path.parent.mkdir(exist_ok=True)
        path.write_text(LAUNCHER % sys.executable)
        path.chmod(0o755)
        return str(path)

    def start(self, prefix=()):
        proc = subprocess.Popen(list(prefix) + [sys.executable, "-u", str(self.script)])
        self.procs.append(proc)
        time.sleep(0.05)
        return proc

    def wait_for(self, count):
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            found = find_instances(self.pattern, str(self.root))
            if len(found) >= count:
                return found
            time.sleep(0.05)
        raise AssertionError("expected %d instances" % count)

    def stop(self):
        for proc in self.procs:
            proc.kill()
            proc.wait()


@pytest.fixture
def fleet(tmp_path):
    fleet = Fleet(tmp_path)
    yield fleet
    fleet.stop()
    # the fake launchers' children die with their group once the launcher is killed
    for item in find_instances(fleet.pattern, str(fleet.root)):
        os.kill(item["pid"], 9)


@pytest.mark.parametrize("cmdline, script", [
    (["/usr/bin/python3", "-u", "/home/pi/imagenode/imagenode/imagenode.py"], "/home/pi/imagenode/imagenode/imagenode.py"),
    (["python3", "-X", "dev", "imagenode.py", "--debug"], "imagenode.py"),
    (["python3.11", "-c", "print('imagenode.py')"], None),
    (["/home/pi/imagenode/imagenode.py"], "/home/pi/imagenode/imagenode.py"),
    (["bash", "-c", "python3 imagenode.py"], "bash"),
    (["SCREEN", "-dmS", "cam", "python3", "imagenode.py"], "SCREEN"),
    ([], None),
])
def test_script_of(cmdline, script):
    assert script_of(cmdline) == script


@pytest.mark.parametrize("cmdline, session", [
    (["SCREEN", "-dmS", "cam", "python3", "imagenode.py"], "cam"),
    (["/usr/bin/screen", "-S", "imagenode", "-d", "-m", "python3"], "imagenode"),
    (["screen", "-Scam2"], "cam2"),
    (["/usr/bin/python3", "/tmp/bin/screen", "-dmS", "x"], "x"),
    (["screen", "-dm", "python3"], None),
])
def test_screen_session(cmdline, session):
    assert screen_session(cmdline) == session


@pytest.mark.parametrize("text, path, unit", [
    ("0::/system.slice/imagenode.service\n", "/system.slice/imagenode.service", "imagenode.service"),
    ("12:pids:/\n1:name=systemd:/system.slice/cron.service\n0::/system.slice/cron.service\n",
     "/system.slice/cron.service", "cron.service"),
    ("0::/user.slice/user-1000.slice/session-3.scope\n", "/user.slice/user-1000.slice/session-3.scope", None),
    ("0::/user.slice/user-1000.slice/user@1000.service/app.slice/imagenode.service\n",
     "/user.slice/user-1000.slice/user@1000.service/app.slice/imagenode.service", "imagenode.service"),
    ("0::/user.slice/user-1000.slice/user@1000.service/init.scope\n",
     "/user.slice/user-1000.slice/user@1000.service/init.scope", None),
    ("", None, None),
    ("garbage", None, None),
])
def test_cgroup_parsing(text, path, unit):
    assert parse_cgroup(text) == path
    assert unit_of_cgroup(path) == unit


def test_classify_nearest_launcher_wins():
    screen = ("SCREEN", ["SCREEN", "-dmS", "cam", "python3", "imagenode.py"])
    cron = ("cron", ["/usr/sbin/cron", "-f"])
    assert classify([screen, cron], "/system.slice/cron.service") == ("screen", "cam")
    assert classify([("sh", ["/bin/sh", "-c", "x"]), cron], "/system.slice/cron.service") == ("cron", "cron")
    assert classify([], "/system.slice/cron.service") == ("cron", "cron.service")
    assert classify([], "/system.slice/imagenode.service") == ("systemd", "imagenode.service")
    assert classify([("bash", ["-bash"]), ("sshd", ["sshd: pi"])], "/user.slice/user-1000.slice/session-3.scope") \
        == ("hand", "bash < sshd")


def test_none_running_is_fail(fleet):
    result = run_instance_check(pattern=fleet.pattern, root=str(fleet.root))
    assert result["status"] == "fail" and result["count"] == 0 and result["keeper"] is None


def test_one_by_hand_is_ok(fleet):
    proc = fleet.start()
    fleet.wait_for(1)
    result = run_instance_check(pattern=fleet.pattern, root=str(fleet.root))
    assert result["status"] == "ok", result["summary"]
    assert result["pids"] == [proc.pid] and result["keeper"] == proc.pid and not result["duplicates"]
    item = result["evidence"]["instances"][0]
    assert item["launcher"] == "hand" and item["script"] == str(fleet.script)
    assert 0 <= item["age"] < 30 and item["started"] > 0 and item["cmdline"][-1] == str(fleet.script)


def test_one_under_the_wrong_start_method_warns(fleet):
    fleet.start()
    fleet.wait_for(1)
    result = run_instance_check(pattern=fleet.pattern, start_method="systemd", root=str(fleet.root))
    assert result["status"] == "warn" and "not started by systemd" in result["summary"]


def test_systemd_unit_from_cgroup(fleet):
    proc = fleet.start()
    fleet.wait_for(1)
    write_tree(fleet.root, {"/proc/%d/cgroup" % proc.pid: "0::/system.slice/imagenode.service\n"})
    result = run_instance_check(pattern=fleet.pattern, start_method="systemd", root=str(fleet.root))
    assert result["status"] == "ok"
    assert result["evidence"]["instances"][0]["launcher_detail"] == "imagenode.service"


def test_duplicates_from_screen_cron_and_by_hand(fleet):
    first = fleet.start()
    fleet.start([fleet.launcher("screen"), "-dmS", "cam", "--"])
    fleet.start([fleet.launcher("cron"), "--"])
    instances = fleet.wait_for(3)
    launchers = sorted((i["launcher"], i["launcher_detail"]) for i in instances)
    assert launchers == [("cron", "cron"), ("hand", launchers[1][1]), ("screen", "cam")]
    result = run_instance_check(pattern=fleet.pattern, root=str(fleet.root))
    assert result["status"] == "warn" and result["count"] == 3 and result["duplicates"]
    assert result["keeper"] == first.pid  # oldest of any
    screen_pid = [i["pid"] for i in instances if i["launcher"] == "screen"][0]
    by_screen = run_instance_check(pattern=fleet.pattern, start_method="screen", root=str(fleet.root))
    assert by_screen["keeper"] == screen_pid and "screen cam" in by_screen["summary"]
    strict = run_instance_check(pattern=fleet.pattern, duplicate_status="fail", start_method="systemd",
                                root=str(fleet.root))
    assert strict["status"] == "fail" and strict["keeper"] is None


def test_bad_pattern_is_an_error():
    with pytest.raises(CheckError, match="not a valid regular expression"):
        run_instance_check(pattern="imagenode(")
