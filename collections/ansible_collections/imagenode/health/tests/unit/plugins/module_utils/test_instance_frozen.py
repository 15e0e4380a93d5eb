# Copyright (c) 2026 imagenode-health contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""instance_check's frozen detection on a real child process stopped with SIGSTOP."""

import os
import re
import signal
import subprocess
import sys
import time

import psutil
import pytest

from ansible_collections.imagenode.health.plugins.module_utils.instance_check import run_instance_check


@pytest.fixture
def imagenode(tmp_path):
    script = tmp_path / "imagenode" / "imagenode.py"
    script.parent.mkdir()
    script.write_text("import time\nwhile True:\n    time.sleep(0.2)\n")
    proc = subprocess.Popen([sys.executable, "-u", str(script)])
    try:
        yield proc, re.escape(str(script))
    finally:
        try:
            os.kill(proc.pid, signal.SIGCONT)
        except OSError:
            pass
        proc.kill()
        proc.wait(5)


def wait_until(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("timed out")


def test_stopped_instance_is_frozen_then_ok_after_sigcont(imagenode):
    proc, pattern = imagenode

    def single():
        result = run_instance_check(pattern=pattern)
        return result if result["count"] == 1 else None

    first = wait_until(single)
    assert first["status"] == "ok"
    assert first["frozen"] == []
    assert first["pids"] == [proc.pid]

    os.kill(proc.pid, signal.SIGSTOP)
    wait_until(lambda: psutil.Process(proc.pid).status() == psutil.STATUS_STOPPED)
    frozen = run_instance_check(pattern=pattern)
    assert frozen["status"] == "fail"
    assert frozen["frozen"] == [proc.pid]
    assert frozen["count"] == 1
    assert frozen["summary"].startswith("frozen")
    assert str(proc.pid) in frozen["summary"]

    os.kill(proc.pid, signal.SIGCONT)
    wait_until(lambda: psutil.Process(proc.pid).status() != psutil.STATUS_STOPPED)
    thawed = run_instance_check(pattern=pattern)
    assert thawed["status"] == "ok"
    assert thawed["frozen"] == []
    assert not thawed["summary"].startswith("frozen")


def test_frozen_beats_duplicate_warn(imagenode, tmp_path):
    proc, pattern = imagenode
    other = subprocess.Popen([sys.executable, "-u", str(tmp_path / "imagenode" / "imagenode.py")])
    try:
        wait_until(lambda: run_instance_check(pattern=pattern)["count"] == 2)
        assert run_instance_check(pattern=pattern)["status"] == "warn"
        os.kill(other.pid, signal.SIGSTOP)
        wait_until(lambda: psutil.Process(other.pid).status() == psutil.STATUS_STOPPED)
        result = run_instance_check(pattern=pattern)
        assert result["status"] == "fail"
        assert result["frozen"] == [other.pid]
        assert result["duplicates"] is True
    finally:
        try:
            os.kill(other.pid, signal.SIGCONT)
        except OSError:
            pass
        other.kill()
        other.wait(5)
    assert proc.poll() is None
