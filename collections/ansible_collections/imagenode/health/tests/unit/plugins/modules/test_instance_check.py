# Copyright (c) 2026 imagenode-health contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The instance_check module as Ansible runs it, against real child processes."""

import json
import re
import subprocess
import sys
import time

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.imagenode.health.plugins.modules import instance_check

# These tests run real processes through psutil: both test venvs have it
# (requirements.txt, tests/unit/requirements.txt), so a missing psutil fails.
import psutil  # noqa: E402,F401  pylint: disable=unused-import,wrong-import-position


def run_module(capsys, args):
    with patch_module_args(args):
        with pytest.raises(SystemExit) as exited:
            instance_check.main()
    return exited.value.code, json.loads(capsys.readouterr().out)


@pytest.fixture
def two_instances(tmp_path):
    script = tmp_path / "imagenode.py"
    script.write_text("import time\ntime.sleep(60)\n")
    procs = [subprocess.Popen([sys.executable, str(script)]) for _i in range(2)]
    time.sleep(0.5)
    yield re.escape(str(script)), procs
    for proc in procs:
        proc.kill()
        proc.wait()


def test_duplicates_warn_in_check_mode(capsys, two_instances):
    pattern, procs = two_instances
    code, out = run_module(capsys, {"pattern": pattern, "_ansible_check_mode": True})
    assert code == 0 and out["changed"] is False
    assert out["status"] == "warn" and out["count"] == 2
    assert sorted(out["pids"]) == sorted(p.pid for p in procs)


def test_duplicate_status_fail_with_fail_on(capsys, two_instances):
    pattern, _procs = two_instances
    code, out = run_module(capsys, {"pattern": pattern, "duplicate_status": "fail", "fail_on": "fail"})
    assert code == 1 and out["failed"] is True and out["duplicates"] is True


def test_nothing_running_is_a_fail_result(capsys, tmp_path):
    code, out = run_module(capsys, {"pattern": re.escape(str(tmp_path / "imagenode.py"))})
    assert code == 0 and out["status"] == "fail" and out["count"] == 0


def test_bad_start_method_is_refused(capsys):
    code, out = run_module(capsys, {"start_method": "init"})
    assert code == 1 and "start_method" in out["msg"]
