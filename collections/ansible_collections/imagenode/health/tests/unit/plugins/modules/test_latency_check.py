# Copyright (c) 2026 imagenode-health contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The latency_check module as Ansible runs it: real probes in a temp dir."""

import json
import os

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.imagenode.health.plugins.modules import latency_check


def run_module(capsys, args):
    with patch_module_args(args):
        with pytest.raises(SystemExit) as exited:
            latency_check.main()
    return exited.value.code, json.loads(capsys.readouterr().out)


def test_learns_and_saves_the_baseline(capsys, tmp_path):
    state = str(tmp_path / "state" / "latency.json")
    code, out = run_module(capsys, {"path": str(tmp_path), "state_file": state, "learn_runs": 2})
    assert code == 0 and out["changed"] is False
    assert out["status"] == "ok" and out["summary"].startswith("learning baseline 1/2")
    assert set(out["probes"]) == {"write", "read", "spawn"}
    assert json.load(open(state))["runs"] == 1


def test_check_mode_leaves_no_state(capsys, tmp_path):
    state = str(tmp_path / "latency.json")
    code, out = run_module(capsys, {"path": str(tmp_path), "state_file": state, "_ansible_check_mode": True})
    assert code == 0 and not os.path.exists(state) and out["evidence"]["saved"] is False


def test_tiny_absolute_bound_fails_with_fail_on(capsys, tmp_path):
    code, out = run_module(capsys, {"path": str(tmp_path), "state_file": str(tmp_path / "s.json"),
                                    "fail_ms": {"spawn": 0.0001}, "fail_on": "fail"})
    assert code == 1 and out["probes"]["spawn"]["status"] == "fail"


def test_bad_probe_name_is_refused(capsys, tmp_path):
    code, out = run_module(capsys, {"path": str(tmp_path), "warn_ms": {"disk": 1}})
    assert code == 1 and "'disk' is not a probe" in out["msg"]
