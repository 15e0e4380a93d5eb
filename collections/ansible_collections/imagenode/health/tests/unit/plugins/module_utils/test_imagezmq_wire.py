# Copyright (c) 2026 imagenode-health contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What may be sent to an imagehub, and how it is framed."""

import json

import pytest

from ansible_collections.imagenode.health.plugins.module_utils.check_result import CheckError
from ansible_collections.imagenode.health.plugins.module_utils.imagezmq_wire import (
    encode_text_message,
    hub_text_problem,
    parse_hub_address,
)


@pytest.mark.parametrize("address, expected", [
    ("tcp://hub1:5555", ("hub1", 5555)),
    ("tcp://192.168.1.20:5556", ("192.168.1.20", 5556)),
    ("tcp://[::1]:5557", ("::1", 5557)),
    (" tcp://hub.local:5555 ", ("hub.local", 5555)),
])
def test_parse_hub_address(address, expected):
    assert parse_hub_address(address) == expected


def test_empty_second_field_would_crash_imagehub_and_is_refused():
    assert "crashes imagehub" in hub_text_problem("node|")
    with pytest.raises(CheckError, match="crashes imagehub"):
        encode_text_message("node||x")


@pytest.mark.parametrize("text", ["node|Heartbeat", "node", "node|Restart|host|Linux|1.2.3.4|1024|3"])
def test_safe_texts(text):
    assert hub_text_problem(text) is None


def test_metadata_is_json_with_default_separators():
    metadata, payload = encode_text_message("n|Heartbeat")
    assert metadata == json.dumps({"msg": "n|Heartbeat", "dtype": "uint8", "shape": [3, 3]}).encode()
    assert payload == b"\x00" * 9
