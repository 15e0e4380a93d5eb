# Copyright (c) 2026 imagenode-health contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""imagenode_restart: method choice, the plan, cgroup files, ending and waiting on real child processes."""

import os
import re
import signal
import subprocess
import sys
import time

import psutil
import pytest

from ansible_collections.imagenode.health.plugins.module_utils import imagenode_restart as restart
from ansible_collections.imagenode.health.plugins.module_utils.check_result import CheckError
from ansible_collections.imagenode.health.plugins.module_utils.instance_check import find_instances
from ansible_collections.imagenode.health.tests.unit.plugins.fake_runner import FakeRunner, write_tree


def inst(pid, launcher, cgroup=None, state="sleeping", cmdline=None):
    return {"pid": pid, "launcher": launcher, "cgroup": cgroup, "state": state, "user": "pi",
            "cmdline": cmdline or ["python3", "/home/pi/imagenode/imagenode/imagenode.py"]}


SYSTEMD = inst(100, "systemd", "/system.slice/imagenode.service")
SCREEN_UNIT = inst(200, "screen", "/system.slice/imagenode-screen.service")
CRON = inst(300, "cron", "/system.slice/cron.service")
HAND = inst(400, "hand", "/user.slice/user-1000.slice/session-3.scope")


# --- choose_method --------------------------------------------------------------------------------

def test_any_takes_the_oldest_instance_launcher():
    assert restart.choose_method([SYSTEMD, CRON], "any") == ("systemd", SYSTEMD)
    assert restart.choose_method([CRON, SYSTEMD], "any") == ("cron", CRON)


def test_any_skips_a_hand_started_keeper_for_a_managed_one():
    assert restart.choose_method([HAND, SYSTEMD], "any") == ("systemd", SYSTEMD)


def test_hand_only_needs_start_method():
    with pytest.raises(CheckError) as info:
        restart.choose_method([HAND], "any")
    assert "start_method" in str(info.value)
    assert "400" in str(info.value)


def test_nothing_running_with_any_needs_start_method():
    with pytest.raises(CheckError) as info:
        restart.choose_method([], "any")
    assert "start_method" in str(info.value)


def test_start_method_given():
    assert restart.choose_method([], "cron") == ("cron", None)
    assert restart.choose_method([SYSTEMD, CRON], "cron") == ("cron", CRON)
    assert restart.choose_method([HAND], "systemd") == ("systemd", HAND)


# --- plan -----------------------------------------------------------------------------------------

def test_plan_systemd_owned():
    owner, others, steps = restart.plan("systemd", SYSTEMD, [SYSTEMD], "imagenode.service", None)
    assert owner == "imagenode.service"
    assert others == []
    assert steps == ["systemctl reset-failed imagenode.service; systemctl restart imagenode.service"]


def test_plan_systemd_default_unit_without_keeper():
    owner, _others, steps = restart.plan("systemd", None, [], "my.service", None)
    assert owner == "my.service"
    assert steps == ["systemctl reset-failed my.service; systemctl restart my.service"]


def test_plan_systemd_ends_duplicates_and_kills_frozen_first():
    frozen = dict(HAND, state="stopped")
    owner, others, steps = restart.plan("systemd", SYSTEMD, [SYSTEMD, frozen], "imagenode.service", None)
    assert owner == "imagenode.service"
    assert others == [400]
    assert steps[0] == "end the other instance(s) pid 400"
    assert "SIGKILL stopped pid 400" in steps
    assert steps[-1] == "systemctl reset-failed imagenode.service; systemctl restart imagenode.service"


def test_plan_screen_owned_by_a_unit_restarts_the_unit():
    owner, _others, steps = restart.plan("screen", SCREEN_UNIT, [SCREEN_UNIT], "imagenode.service",
                                         ["screen", "-dmS", "imagenode", "python3", "imagenode.py"])
    assert owner == "imagenode-screen.service"
    assert steps == ["systemctl reset-failed imagenode-screen.service; systemctl restart imagenode-screen.service"]


def test_plan_cron_ends_and_starts_the_job():
    command = ["/usr/bin/python3", "/home/pi/imagenode/imagenode/imagenode.py"]
    owner, _others, steps = restart.plan("cron", CRON, [CRON], "imagenode.service", command)
    assert owner is None  # cron.service is not the program's unit
    assert steps == ["end pid 300", "start the cron job again as cron: " + " ".join(command)]


def test_plan_cron_with_nothing_running():
    owner, _others, steps = restart.plan("cron", None, [], "imagenode.service", ["run.sh"])
    assert owner is None
    assert steps == ["start the cron job again as cron: run.sh"]


# --- cgroup_procs_files ---------------------------------------------------------------------------

def test_cgroup_procs_files_v1(tmp_path):
    write_tree(tmp_path, {"proc/77/cgroup": "12:cpu,cpuacct:/system.slice/cron.service\n"
                                            "1:name=systemd:/system.slice/cron.service\n"})
    assert restart.cgroup_procs_files(77, str(tmp_path)) == [
        os.path.join(str(tmp_path), "sys/fs/cgroup/systemd/system.slice/cron.service/cgroup.procs")]


def test_cgroup_procs_files_v2(tmp_path):
    write_tree(tmp_path, {"proc/77/cgroup": "0::/system.slice/cron.service\n"})
    assert restart.cgroup_procs_files(77, str(tmp_path)) == [
        os.path.join(str(tmp_path), "sys/fs/cgroup/system.slice/cron.service/cgroup.procs")]


def test_cgroup_procs_files_hybrid_uses_unified(tmp_path):
    write_tree(tmp_path, {"proc/77/cgroup": "1:name=systemd:/system.slice/cron.service\n"
                                            "0::/system.slice/cron.service\n",
                          "sys/fs/cgroup/unified/cgroup.controllers": ""})
    assert restart.cgroup_procs_files(77, str(tmp_path)) == [
        os.path.join(str(tmp_path), "sys/fs/cgroup/systemd/system.slice/cron.service/cgroup.procs"),
        os.path.join(str(tmp_path), "sys/fs/cgroup/unified/system.slice/cron.service/cgroup.procs")]


def test_cgroup_procs_files_missing_or_junk(tmp_path):
    assert restart.cgroup_procs_files(78, str(tmp_path)) == []
    write_tree(tmp_path, {"proc/79/cgroup": "garbage\n3:memory:/x\n"})
    assert restart.cgroup_procs_files(79, str(tmp_path)) == []


# --- real child processes -------------------------------------------------------------------------

@pytest.fixture
def children():
    procs = []
    yield procs
    for proc in procs:
        try:
            os.kill(proc.pid, signal.SIGCONT)
        except OSError:
            pass
        if proc.poll() is None:
            proc.kill()
        try:
            proc.wait(5)
        except (subprocess.TimeoutExpired, ChildProcessError):
            pass


def gone(pid):
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def wait_state(pid, states, timeout=3.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if psutil.Process(pid).status() in states:
            return
        time.sleep(0.01)
    raise AssertionError("pid %d never got to %s" % (pid, states))


def test_end_processes_terms_and_kills_stopped_quickly(children):
    running = subprocess.Popen(["sleep", "30"])
    stopped = subprocess.Popen(["sleep", "30"])
    children.extend([running, stopped])
    os.kill(stopped.pid, signal.SIGSTOP)
    wait_state(stopped.pid, ("stopped",))
    started = time.monotonic()
    restart.end_processes([running.pid, stopped.pid], timeout=8)
    assert time.monotonic() - started < 2.0  # SIGTERM would hang on the stopped one until the timeout
    assert gone(running.pid) and gone(stopped.pid)


def test_end_processes_kills_what_ignores_sigterm(children):
    stubborn = subprocess.Popen([sys.executable, "-c", "import signal, sys, time\n"
                                 "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
                                 "sys.stdout.write('ready\\n'); sys.stdout.flush()\ntime.sleep(30)\n"],
                                stdout=subprocess.PIPE)
    children.append(stubborn)
    assert stubborn.stdout.readline() == b"ready\n"
    started = time.monotonic()
    restart.end_processes([stubborn.pid], timeout=0.5)
    assert 0.4 <= time.monotonic() - started < 3.0
    assert gone(stubborn.pid)
    stubborn.stdout.close()


def test_end_processes_ignores_missing_pids():
    restart.end_processes([2 ** 22 + 12345], timeout=0.1)


def start_script(tmp_path, children, name):
    script = tmp_path / name
    if not script.exists():
        script.write_text("import time\nwhile True:\n    time.sleep(0.2)\n")
    proc = subprocess.Popen([sys.executable, "-u", str(script)])
    children.append(proc)
    return script, proc


def wait_found(pattern, count, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = find_instances(pattern)
        if len(found) == count:
            return found
        time.sleep(0.02)
    raise AssertionError("expected %d instance(s) of %s" % (count, pattern))


def test_wait_for_one_returns_the_one_new_instance_after_settle(tmp_path, children):
    script, old = start_script(tmp_path, children, "fake_imagenode.py")
    pattern = re.escape(str(script))
    wait_found(pattern, 1)
    old.kill()
    old.wait()
    _script, new = start_script(tmp_path, children, "fake_imagenode.py")
    started = time.monotonic()
    fresh, seen = restart.wait_for_one(pattern, [old.pid], timeout=5, settle=0.3, sleep=lambda _s: time.sleep(0.05))
    assert fresh is not None
    assert fresh["pid"] == new.pid
    assert [item["pid"] for item in seen] == [new.pid]
    assert fresh["script"] == str(script)
    assert time.monotonic() - started >= 0.3


def test_wait_for_one_refuses_old_or_several(tmp_path, children):
    script, old = start_script(tmp_path, children, "fake_imagenode.py")
    pattern = re.escape(str(script))
    wait_found(pattern, 1)
    fresh, seen = restart.wait_for_one(pattern, [old.pid], timeout=0.3, settle=0.0, sleep=lambda _s: time.sleep(0.05))
    assert fresh is None
    assert [item["pid"] for item in seen] == [old.pid]
    _script, new = start_script(tmp_path, children, "fake_imagenode.py")
    wait_found(pattern, 2)
    fresh, seen = restart.wait_for_one(pattern, [old.pid], timeout=0.3, settle=0.0, sleep=lambda _s: time.sleep(0.05))
    assert fresh is None  # two run: not "exactly one"
    assert sorted(item["pid"] for item in seen) == sorted([old.pid, new.pid])


def test_wait_for_one_does_not_count_a_stopped_instance(tmp_path, children):
    script, proc = start_script(tmp_path, children, "fake_imagenode.py")
    pattern = re.escape(str(script))
    wait_found(pattern, 1)
    os.kill(proc.pid, signal.SIGSTOP)
    wait_state(proc.pid, ("stopped",))
    fresh, _seen = restart.wait_for_one(pattern, [], timeout=0.3, settle=0.0, sleep=lambda _s: time.sleep(0.05))
    assert fresh is None


def test_restart_check_mode_touches_nothing(tmp_path, children):
    script, proc = start_script(tmp_path, children, "imagenode.py")
    pattern = re.escape(str(script))
    wait_found(pattern, 1)
    fake = FakeRunner({("systemctl",): (0, "")})
    result = restart.restart_imagenode(start_method="cron", pattern=pattern, command=["/bin/true"], check_mode=True,
                                       settle=0.1, timeout=1.0, runner=fake)
    assert proc.poll() is None
    assert psutil.Process(proc.pid).status() not in ("stopped", "zombie")
    assert fake.calls == []
    assert result["changed"] is False
    assert result["fixed"] is None
    assert result["method"] == "cron"
    assert result["previous_pids"] == [proc.pid]
    assert result["actions"]
    assert all(action.startswith("would ") for action in result["actions"])
    assert [item["pid"] for item in find_instances(pattern)] == [proc.pid]


def test_restart_without_command_to_copy_is_an_error(tmp_path):
    pattern = re.escape(str(tmp_path / "imagenode.py"))
    with pytest.raises(CheckError) as info:
        restart.restart_imagenode(start_method="cron", pattern=pattern, check_mode=True, runner=FakeRunner())
    assert "set command" in str(info.value)
