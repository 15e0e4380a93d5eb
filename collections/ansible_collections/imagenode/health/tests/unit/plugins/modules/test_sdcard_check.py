# Copyright (c) 2026 imagenode-health contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The sdcard_check module as Ansible runs it: changed only when a manifest is created."""

import json
import os

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.imagenode.health.plugins.modules import sdcard_check
from ansible_collections.imagenode.health.tests.unit.plugins.fake_runner import write_tree
from ansible_collections.imagenode.health.tests.unit.plugins.module_utils.test_sdcard_check import PI_TREE


def run_module(capsys, args):
    with patch_module_args(args):
        with pytest.raises(SystemExit) as exited:
            sdcard_check.main()
    return exited.value.code, json.loads(capsys.readouterr().out)


@pytest.fixture
def node(tmp_path):
    write_tree(tmp_path / "root", PI_TREE)
    (tmp_path / "canary").mkdir()
    program = tmp_path / "imagenode.py"
    program.write_text("print('camera')\n")
    return {"root": str(tmp_path / "root"), "canary_dir": str(tmp_path / "canary"),
            "manifest_paths": [str(program)], "manifest_file": str(tmp_path / "manifest.json")}


def test_plain_check_is_not_changed(capsys, node):
    code, out = run_module(capsys, {"root": node["root"], "canary_dir": node["canary_dir"]})
    assert code == 0 and out["changed"] is False and out["device"] == "mmcblk0p2"


def test_manifest_create_in_check_mode_would_change(capsys, node):
    code, out = run_module(capsys, dict(node, manifest="create", _ansible_check_mode=True))
    assert code == 0 and out["changed"] is True and not os.path.exists(node["manifest_file"])
    code, out = run_module(capsys, dict(node, manifest="create"))
    assert code == 0 and out["changed"] is True and os.path.exists(node["manifest_file"])
    code, out = run_module(capsys, dict(node, manifest="verify"))
    assert code == 0 and out["changed"] is False and out["status"] == "ok"


def test_create_needs_paths(capsys):
    code, out = run_module(capsys, {"manifest": "create"})
    assert code == 1 and "manifest is create but all of the following are missing: manifest_paths" in out["msg"]
