# Copyright (c) 2026 imagenode-health contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Reading hubs and the node name from imagenode.yaml, and refusing bad files."""

import pytest

from ansible_collections.imagenode.health.plugins.module_utils.check_result import CheckError
from ansible_collections.imagenode.health.plugins.module_utils.imagenode_config import (
    hub_addresses,
    load_config,
    node_name,
)

GOOD = """\
# imagenode settings (comments are part of a real file)
node:
  name: Barn
  heartbeat: 10
hub_address:
  H10: tcp://hub10:5555
  H2: tcp://hub2:5555   # alternate
  H1: tcp://hub1:5555
cameras:
  P1:
    viewname: door
"""


def write(tmp_path, text):
    path = tmp_path / "imagenode.yaml"
    path.write_text(text)
    return str(path)


def test_hubs_in_number_order_and_node_name(tmp_path):
    path = write(tmp_path, GOOD)
    config = load_config(path)
    assert hub_addresses(config, path) == ["tcp://hub1:5555", "tcp://hub2:5555", "tcp://hub10:5555"]
    assert node_name(config, path) == "Barn"


def test_missing_file_names_the_path(tmp_path):
    path = str(tmp_path / "absent.yaml")
    with pytest.raises(CheckError, match="cannot read imagenode config .*absent.yaml"):
        load_config(path)


def test_malformed_yaml_names_the_line_and_leaves_the_file_alone(tmp_path):
    text = "node:\n  name: Barn\nhub_address:\n  H1: [tcp://hub1:5555\n"
    path = write(tmp_path, text)
    with pytest.raises(CheckError, match="is not valid YAML at line"):
        load_config(path)
    assert (tmp_path / "imagenode.yaml").read_text() == text


@pytest.mark.parametrize("text, words", [
    ("- a\n- b\n", "does not hold a mapping"),
    ("node:\n  name: Barn\n", "has no hub_address section"),
    ("hub_address:\n  H2: tcp://hub2:5555\n", "has no H1"),
    ("hub_address:\n  primary: tcp://hub2:5555\n", "'primary' is not of the form H1"),
    ("hub_address:\n  H1: ''\n", "hub_address H1 is empty"),
])
def test_config_problems_are_named(tmp_path, text, words):
    path = write(tmp_path, text)
    with pytest.raises(CheckError) as err:
        hub_addresses(load_config(path), path)
    assert words in str(err.value)


def test_no_node_name_is_none(tmp_path):
    path = write(tmp_path, "hub_address:\n  H1: tcp://hub1:5555\n")
    assert node_name(load_config(path), path) is None
