# Copyright (c) 2026 imagenode-health contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The node_health module as Ansible runs it: the fact, per-check option validation, fail_on."""

import json

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.imagenode.health.plugins.modules import node_health
from ansible_collections.imagenode.health.tests.unit.plugins.fake_hub import FakeHub
from ansible_collections.imagenode.health.tests.unit.plugins.fake_runner import write_tree


def run_module(capsys, args):
    with patch_module_args(args):
        with pytest.raises(SystemExit) as exited:
            node_health.main()
    return exited.value.code, json.loads(capsys.readouterr().out)


def safe(tmp_path, **args):
    args.setdefault("ping_check", {"gateway": False, "targets": ["127.0.0.1"], "count": 1})
    args.setdefault("latency_check", {"state_file": str(tmp_path / "latency.json"), "path": str(tmp_path)})
    args.setdefault("sdcard_check", {"canary_dir": str(tmp_path)})
    return args


def test_all_checks_in_one_call_set_the_fact(capsys, tmp_path):
    with FakeHub() as hub:
        code, out = run_module(capsys, safe(tmp_path, hubs=[hub.address], _ansible_check_mode=True))
    assert code == 0 and out["changed"] is False
    assert len(out["checks"]) == 7
    fact = out["ansible_facts"]["imagenode_health"]
    assert fact["status"] == out["status"] and fact["summary"] == out["summary"]
    assert fact["checks"]["hub_check"]["status"] == "ok"
    assert "facts" not in out


def test_subset_and_config(capsys, tmp_path):
    with FakeHub() as hub:
        config = tmp_path / "imagenode.yaml"
        config.write_text("node:\n  name: Barn\nhub_address:\n  H1: %s\n" % hub.address)
        code, out = run_module(capsys, safe(tmp_path, checks=["hub_check", "ping_check"], config=str(config)))
    assert code == 0 and sorted(out["checks"]) == ["hub_check", "ping_check"]
    assert out["checks"]["hub_check"]["evidence"]["node_name"] == "Barn"


@pytest.mark.parametrize("args, words", [
    ({"checks": ["power_check"], "power_check": {"temp_warn": "hot"}}, "power_check:"),
    ({"checks": ["power_check"], "power_check": {"volts": 5}}, "volts"),
    ({"checks": ["disk_check"]}, "value of checks must be one or more of"),
    ({"hubs": ["tcp://h:1"], "config": "/x.yaml"}, "mutually exclusive: hubs|config"),
])
def test_bad_options_fail_the_module(capsys, args, words):
    code, out = run_module(capsys, args)
    assert code == 1 and words in out["msg"]


def test_sub_options_are_coerced_like_the_module_does(capsys, tmp_path):
    code, out = run_module(capsys, {"checks": ["power_check"], "power_check": {"temp_warn": "60", "root": str(tmp_path)}})
    assert code == 0 and out["checks"]["power_check"]["status"] == "unknown"


def test_fail_on(capsys, tmp_path):
    write_tree(tmp_path, {"/sys/class/thermal/thermal_zone0/temp": "85000\n"})
    code, out = run_module(capsys, {"checks": ["power_check"], "power_check": {"root": str(tmp_path)},
                                    "fail_on": "fail"})
    assert code == 1 and out["status"] == "fail" and "fail_on=fail" in out["msg"]
