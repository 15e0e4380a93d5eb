# Copyright (c) 2026 imagenode-health contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The wifi_info module as Ansible runs it (a fake /proc/net/wireless; no radio here)."""

import json

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.imagenode.health.plugins.modules import wifi_info
from ansible_collections.imagenode.health.tests.unit.plugins.fake_runner import write_tree
from ansible_collections.imagenode.health.tests.unit.plugins.module_utils.test_wifi_info import PROC_WIRELESS


def run_module(capsys, args):
    with patch_module_args(args):
        with pytest.raises(SystemExit) as exited:
            wifi_info.main()
    return exited.value.code, json.loads(capsys.readouterr().out)


def test_weak_signal_from_proc_in_check_mode(capsys, tmp_path):
    write_tree(tmp_path, {"/proc/net/wireless": PROC_WIRELESS})
    code, out = run_module(capsys, {"root": str(tmp_path), "interface": "wlan0", "_ansible_check_mode": True})
    assert code == 0 and out["changed"] is False
    assert out["signal_dbm"] == -73 and out["status"] == "warn"


def test_no_wifi_is_unknown(capsys, tmp_path):
    code, out = run_module(capsys, {"root": str(tmp_path), "fail_on": "warn"})
    assert code == 0 and out["status"] == "unknown"


def test_threshold_order_is_checked(capsys):
    code, out = run_module(capsys, {"signal_warn": -90})
    assert code == 1 and "signal_fail" in out["msg"]


def test_undocumented_option_is_refused(capsys):
    code, out = run_module(capsys, {"ssid": "Barn"})
    assert code == 1 and "Unsupported parameters" in out["msg"]
