# Copyright (c) 2026 imagenode-health contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The hub_check module as Ansible runs it: arguments, check mode, fail_on."""

import json

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.imagenode.health.plugins.modules import hub_check
from ansible_collections.imagenode.health.tests.unit.plugins.fake_hub import FakeHub, free_port


def run_module(capsys, args):
    """Run main() with args; return (exit code, parsed JSON output)."""
    with patch_module_args(args):
        with pytest.raises(SystemExit) as exited:
            hub_check.main()
    return exited.value.code, json.loads(capsys.readouterr().out)


def test_ok_result_is_never_changed(capsys):
    with FakeHub() as hub:
        code, out = run_module(capsys, {"hubs": [hub.address], "node_name": "node1"})
    assert code == 0
    assert out["changed"] is False
    assert out["status"] == "ok" and out["healthy_hub"] == hub.address


def test_check_mode_runs_the_check_in_full(capsys):
    with FakeHub() as hub:
        code, out = run_module(capsys, {"hubs": [hub.address], "node_name": "node1", "_ansible_check_mode": True})
        assert len(hub.received) == 1
    assert code == 0 and out["status"] == "ok" and out["changed"] is False


def test_unhealthy_hub_is_a_result_not_a_failure(capsys):
    code, out = run_module(capsys, {"hubs": ["tcp://127.0.0.1:%d" % free_port()], "timeout": 0.2, "attempts": 1})
    assert code == 0 and out["status"] == "fail" and "failed" not in out


def test_fail_on_fail_fails_the_task_and_keeps_the_evidence(capsys):
    code, out = run_module(capsys, {"hubs": ["tcp://127.0.0.1:%d" % free_port()], "timeout": 0.2,
                                    "attempts": 1, "fail_on": "fail"})
    assert code == 1 and out["failed"] is True
    assert out["evidence"]["hubs"][0]["ok"] is False
    assert "fail_on=fail" in out["msg"]


def test_config_gives_hubs_and_node_name(capsys, tmp_path):
    with FakeHub() as hub:
        config = tmp_path / "imagenode.yaml"
        config.write_text("node:\n  name: Barn\nhub_address:\n  H1: %s\n" % hub.address)
        code, out = run_module(capsys, {"config": str(config)})
        frames = hub.received[0]
    assert code == 0 and out["status"] == "ok"
    assert out["evidence"]["node_name"] == "Barn" and out["evidence"]["source"] == str(config)
    assert b"Barn|Heartbeat" in frames[0]


@pytest.mark.parametrize("args, words", [
    ({"hubs": ["tcp://h:1"], "config": "/x.yaml"}, "mutually exclusive: hubs|config"),
    ({}, "one of the following is required: hubs, config"),
    ({"hubs": ["h:5555"]}, "'h:5555' is not of the form tcp://host:port"),
    ({"hubs": ["tcp://h:5555"], "node_name": "a|b"}, "node_name 'a|b' must not contain '|'"),
    ({"hubs": ["tcp://h:5555"], "timeout": "soon"}, "timeout"),
    ({"config": "/nonexistent/imagenode.yaml"}, "cannot read imagenode config /nonexistent/imagenode.yaml"),
])
def test_bad_arguments_fail_naming_the_argument(capsys, args, words):
    code, out = run_module(capsys, args)
    assert code == 1 and out["failed"] is True
    assert words in out["msg"]
