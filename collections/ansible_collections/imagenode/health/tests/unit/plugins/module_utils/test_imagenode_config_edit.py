# Copyright (c) 2026 imagenode-health contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The textual hub reorder: only the Hn values move, everything else stays byte for byte."""

import pytest

from ansible_collections.imagenode.health.plugins.module_utils.check_result import CheckError
from ansible_collections.imagenode.health.plugins.module_utils.imagenode_config import hub_addresses
from ansible_collections.imagenode.health.plugins.module_utils.imagenode_config_edit import (
    parse_text,
    reorder_hubs,
)

PATH = "/home/pi/imagenode.yaml"

CONFIG = """\
# imagenode settings for the barn (comments must survive)
node:
  name: Barn   # shown on the hub
  heartbeat: 10
hub_address:
  # H1 is the only hub imagenode uses
  H1: tcp://hub1:5555    # the house
  H2: 'tcp://hub2:5555'  # the shed
  H3: "tcp://hub3:5555"
cameras:
  P1:
    viewname: door
    resolution: (640, 480)
"""


def test_moves_values_keeps_keys_comments_and_quoting_on_their_lines():
    new = reorder_hubs(CONFIG, ["tcp://hub2:5555", "tcp://hub1:5555", "tcp://hub3:5555"], PATH)
    assert new == CONFIG.replace(
        "H1: tcp://hub1:5555    # the house", "H1: tcp://hub2:5555    # the house").replace(
        "H2: 'tcp://hub2:5555'  # the shed", "H2: 'tcp://hub1:5555'  # the shed")
    assert hub_addresses(parse_text(new, PATH), PATH) == ["tcp://hub2:5555", "tcp://hub1:5555", "tcp://hub3:5555"]


def test_double_quoted_slot_gets_the_new_value_double_quoted():
    new = reorder_hubs(CONFIG, ["tcp://hub3:5555", "tcp://hub1:5555", "tcp://hub2:5555"], PATH)
    lines = new.splitlines()
    assert "  H1: tcp://hub3:5555    # the house" in lines
    assert "  H2: 'tcp://hub1:5555'  # the shed" in lines
    assert '  H3: "tcp://hub2:5555"' in lines
    # Every line that is not an H line is exactly as before.
    assert [l for l in lines if not l.lstrip().startswith("H")] == \
        [l for l in CONFIG.splitlines() if not l.lstrip().startswith("H")]


def test_hubs_are_numbered_by_number_not_by_place_h10_after_h2():
    text = "hub_address:\n  H10: tcp://c:3\n  H2: tcp://b:2\n  H1: tcp://a:1\nnode:\n  name: x\n"
    new = reorder_hubs(text, ["tcp://c:3", "tcp://a:1", "tcp://b:2"], PATH)
    # H1 gets c, H2 gets a, H10 gets b; the keys keep their lines (H10 stays first).
    assert new == "hub_address:\n  H10: tcp://b:2\n  H2: tcp://a:1\n  H1: tcp://c:3\nnode:\n  name: x\n"


def test_crlf_and_document_marker_survive():
    text = "---\r\nhub_address:\r\n  H1: tcp://a:1 # one\r\n  H2: tcp://b:2\r\n"
    new = reorder_hubs(text, ["tcp://b:2", "tcp://a:1"], PATH)
    assert new == "---\r\nhub_address:\r\n  H1: tcp://b:2 # one\r\n  H2: tcp://a:1\r\n"


def test_same_order_gives_the_same_text():
    assert reorder_hubs(CONFIG, ["tcp://hub1:5555", "tcp://hub2:5555", "tcp://hub3:5555"], PATH) == CONFIG


@pytest.mark.parametrize("text, words", [
    ("hub_address: {H1: 'tcp://a:1', H2: 'tcp://b:2'}\n", "flow style"),
    ("hub_address:\n  H1: >\n    tcp://a:1\n  H2: tcp://b:2\n", "not a one-line scalar"),
    ("hub_address:\n  H1:\n    tcp://a:1\n  H2: tcp://b:2\n", "one `H1: value` line"),
    ("hub_address:\n  H1: &first tcp://a:1\n  H2: tcp://b:2\nother: *first\n", "anchor"),
    ("spare: &b tcp://b:2\nhub_address:\n  H1: tcp://a:1\n  H2: *b\n", "H2 uses a YAML anchor, alias or tag"),
    ("hub_address: &hubs\n  H1: tcp://a:1\n  H2: tcp://b:2\n", "anchor or tag"),
    ("hub_address:\n  H1: tcp://a:1\n  H2: tcp://b:2\n  H2: tcp://b:2\n", "H2 twice"),
])
def test_unsafe_layouts_are_refused_with_a_reason(text, words):
    with pytest.raises(CheckError) as err:
        reorder_hubs(text, ["tcp://b:2", "tcp://a:1"], PATH)
    assert words in str(err.value)
    assert PATH in str(err.value)


def test_malformed_yaml_names_the_line():
    text = "node:\n  name: Barn\nhub_address:\n  H1: tcp://hub1:5555\n  H2: tcp://x: y\n"
    with pytest.raises(CheckError, match=r"/home/pi/imagenode.yaml is not valid YAML at line 5: mapping values"):
        reorder_hubs(text, ["tcp://hub1:5555"], PATH)


def test_an_order_that_is_not_a_reordering_is_refused():
    with pytest.raises(CheckError, match="not a reordering"):
        reorder_hubs(CONFIG, ["tcp://elsewhere:5555", "tcp://hub1:5555", "tcp://hub3:5555"], PATH)


def test_a_value_that_needs_quoting_in_a_plain_slot_is_quoted():
    text = "hub_address:\n  H1: tcp://a:1\n  H2: 'tcp://b:2 #x'\n"
    new = reorder_hubs(text, ["tcp://b:2 #x", "tcp://a:1"], PATH)
    assert new == "hub_address:\n  H1: 'tcp://b:2 #x'\n  H2: 'tcp://a:1'\n"
    assert hub_addresses(parse_text(new, PATH), PATH) == ["tcp://b:2 #x", "tcp://a:1"]


@pytest.mark.parametrize("rendered, words", [
    ("tcp://wrong:1", "instead of"),
    ("[unclosed", "would break the file"),
])
def test_verification_refuses_an_edit_that_does_not_read_back(monkeypatch, rendered, words):
    """The re-parse is the last guard: a bad rendering must never reach the file."""
    from ansible_collections.imagenode.health.plugins.module_utils import imagenode_config_edit
    monkeypatch.setattr(imagenode_config_edit, "_render", lambda value, style: rendered)
    with pytest.raises(CheckError, match=words):
        reorder_hubs(CONFIG, ["tcp://hub2:5555", "tcp://hub1:5555", "tcp://hub3:5555"], PATH)
