# Copyright (c) 2026 imagenode-health contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The power_check module as Ansible runs it."""

import json

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.imagenode.health.plugins.modules import power_check
from ansible_collections.imagenode.health.tests.unit.plugins.fake_runner import write_tree


def run_module(capsys, args):
    with patch_module_args(args):
        with pytest.raises(SystemExit) as exited:
            power_check.main()
    return exited.value.code, json.loads(capsys.readouterr().out)


def test_hot_pi_in_a_fake_tree_warns_in_check_mode(capsys, tmp_path):
    write_tree(tmp_path, {"/sys/class/thermal/thermal_zone0/temp": "72000\n"})
    code, out = run_module(capsys, {"root": str(tmp_path), "_ansible_check_mode": True})
    assert code == 0 and out["changed"] is False
    assert out["status"] == "warn" and out["temperature_c"] == 72.0


def test_empty_tree_is_unknown_not_a_failure(capsys, tmp_path):
    code, out = run_module(capsys, {"root": str(tmp_path), "window": 60})
    assert code == 0 and out["status"] == "unknown" and "failed" not in out


def test_fail_on_fail(capsys, tmp_path):
    write_tree(tmp_path, {"/sys/class/thermal/thermal_zone0/temp": "85000\n"})
    code, out = run_module(capsys, {"root": str(tmp_path), "fail_on": "fail"})
    assert code == 1 and out["failed"] is True and out["status"] == "fail"


def test_bad_thresholds_fail_the_module(capsys):
    code, out = run_module(capsys, {"temp_warn": 90, "temp_fail": 80})
    assert code == 1 and "temp_warn" in out["msg"]
