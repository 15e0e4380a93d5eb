# Copyright (c) 2026 imagenode-health contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""The imagezmq REQ/REP wire format, and what may be sent to an imagehub.

Facts this follows (imagezmq 1.2.0, imagehub 0.2.0):
- a request is two frames: UTF-8 JSON metadata from json.dumps with default
  separators, then the payload; the hub answers one frame, b"OK";
- imagehub splits the text on "|"; an empty second field ("node|") makes it
  raise IndexError and stop answering every node, so such text is refused here.
"""

import json
import re

from .check_result import CheckError

HUB_REPLY_OK = b"OK"

# imagenode's "tiny image" for text-only messages: a 3x3 uint8 array of zeros,
# sent in imagezmq's image form (the hub's jpg receive call reads only "msg").
TINY_IMAGE_SHAPE = (3, 3)
TINY_IMAGE_BYTES = b"\x00" * (TINY_IMAGE_SHAPE[0] * TINY_IMAGE_SHAPE[1])

_ADDRESS = re.compile(r"^tcp://(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):(?P<port>[0-9]{1,5})$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def parse_hub_address(address):
    """Split tcp://host:port into (host, port); CheckError naming the address otherwise."""
    if not isinstance(address, str):
        raise CheckError("hub address %r is not a string of the form tcp://host:port" % (address,))
    match = _ADDRESS.match(address.strip())
    if not match:
        raise CheckError("hub address %r is not of the form tcp://host:port" % (address,))
    host, port = match.group("host"), int(match.group("port"))
    if host == "*" or not 1 <= port <= 65535:
        raise CheckError("hub address %r: port must be 1-65535 and the host a name or an IP" % (address,))
    return host.strip("[]"), port


def validate_node_name(name):
    """A node name imagehub can log: not empty, no "|", no control characters."""
    if not isinstance(name, str) or not name.strip():
        raise CheckError("node_name must not be empty")
    if "|" in name:
        raise CheckError("node_name %r must not contain '|': imagehub splits messages on it" % (name,))
    if _CONTROL.search(name):
        raise CheckError("node_name %r must not contain control characters" % (name,))
    return name


def hub_text_problem(text):
    """Why text must not be sent to an imagehub, or None when it is safe."""
    fields = text.split("|")
    if len(fields) >= 2 and fields[1] == "":
        return "its second '|' field is empty, which crashes imagehub"
    if _CONTROL.search(text):
        return "it contains control characters"
    return None


def heartbeat_text(node_name):
    """The heartbeat imagenode itself sends: answered OK by imagehub, never logged."""
    return "%s|Heartbeat" % validate_node_name(node_name)


def encode_text_message(text):
    """The two frames of a text-only message, as imagenode sends them."""
    problem = hub_text_problem(text)
    if problem:
        raise CheckError("refusing to send %r to a hub: %s" % (text, problem))
    metadata = {"msg": text, "dtype": "uint8", "shape": list(TINY_IMAGE_SHAPE)}
    return [json.dumps(metadata).encode("utf-8"), TINY_IMAGE_BYTES]
