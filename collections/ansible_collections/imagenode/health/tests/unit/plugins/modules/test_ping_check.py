# Copyright (c) 2026 imagenode-health contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The ping_check module as Ansible runs it: loopback only, the gateway not probed."""

import json

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.imagenode.health.plugins.modules import ping_check
from ansible_collections.imagenode.health.tests.unit.plugins.fake_hub import FakeHub
from ansible_collections.imagenode.health.tests.unit.plugins.fake_runner import write_tree


def run_module(capsys, args):
    with patch_module_args(args):
        with pytest.raises(SystemExit) as exited:
            ping_check.main()
    return exited.value.code, json.loads(capsys.readouterr().out)


@pytest.fixture
def lo_root(tmp_path):
    write_tree(tmp_path, {"/sys/class/net/lo/operstate": "unknown\n", "/sys/class/net/lo/carrier": "1\n"})
    return str(tmp_path)


def test_loopback_hub_answers_in_check_mode(capsys, lo_root):
    with FakeHub() as hub:
        code, out = run_module(capsys, {"hubs": [hub.address], "gateway": False, "interface": "lo", "root": lo_root,
                                        "count": 1, "_ansible_check_mode": True})
    assert code == 0 and out["changed"] is False
    assert out["status"] == "ok", out["summary"]
    assert out["failed_layer"] is None and out["targets"]["127.0.0.1"]["answered"] is True
    assert hub.received == []  # a TCP connect or a ping, never an imagezmq message


def test_interface_down_is_link(capsys, tmp_path):
    write_tree(tmp_path, {"/sys/class/net/wlan0/operstate": "down\n"})
    code, out = run_module(capsys, {"interface": "wlan0", "targets": ["127.0.0.1"], "root": str(tmp_path)})
    assert code == 0 and out["status"] == "fail" and out["failed_layer"] == "link"


def test_hubs_and_config_are_exclusive(capsys):
    code, out = run_module(capsys, {"hubs": ["tcp://h:1"], "config": "/x.yaml"})
    assert code == 1 and "mutually exclusive: hubs|config" in out["msg"]
