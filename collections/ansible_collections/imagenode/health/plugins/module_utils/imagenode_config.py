# Copyright (c) 2026 imagenode-health contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""Reading imagenode.yaml: the node's name and its hubs in order.

imagenode reads `node.name` and `hub_address.H1`; H2, H3... are documented as
alternates. The hubs are returned in the order of their number (H1, H2, H10),
not of their place in the file, because that is how a person reads them.

The probe reads the file two or three times a cycle: the parsed settings are
kept per path and reused while the file's identity and times are unchanged
(a file changed in the last seconds is always parsed again, so two writes
within one timestamp tick are never mistaken for one); callers get a copy.

The parse itself is yaml_loader's: in this process by default, in a python
child for the probe daemon (use_parser), which never keeps PyYAML resident.
"""

import os
import re
import time

from .check_result import CheckError
from .yaml_loader import YamlError, YamlUnavailable, parse_here

_HUB_KEY = re.compile(r"^H([0-9]+)$")
_PARSED = {}            # path -> (stat key, settings)
_PARSED_MAX = 8         # paths kept
_SETTLED_SECONDS = 2.0  # a file changed more recently than this is parsed every time
_PARSER = [parse_here]  # yaml_loader.parse_here or parse_in_child (use_parser)


def use_parser(parse):
    """Parse imagenode.yaml with parse (text -> data) from now on, in this process:
    the probe daemon passes yaml_loader.parse_in_child. Parsed settings kept so far stay valid."""
    _PARSER[0] = parse


def _copy(value):
    """A copy of parsed YAML that shares nothing mutable with it."""
    if isinstance(value, dict):
        return dict((key, _copy(item)) for key, item in value.items())
    if isinstance(value, list):
        return [_copy(item) for item in value]
    if isinstance(value, set):
        return set(value)
    return value


def load_config(path):
    """The parsed imagenode.yaml as a dict; CheckError naming the problem."""
    try:
        with open(path, "rb") as handle:
            st = os.fstat(handle.fileno())
            key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
            cached = _PARSED.get(path)
            if cached is not None and cached[0] == key:
                return _copy(cached[1])
            text = handle.read()
    except (IOError, OSError) as exc:
        raise CheckError("cannot read imagenode config %s: %s" % (path, exc.strerror or exc))
    try:
        data = _PARSER[0](text)
    except YamlUnavailable as exc:
        raise CheckError("reading %s needs PyYAML (python3-yaml): %s" % (path, exc))
    except YamlError as exc:
        raise CheckError("imagenode config %s is not valid YAML%s: %s" % (path, exc.where(), exc.problem))
    if not isinstance(data, dict):
        raise CheckError("imagenode config %s does not hold a mapping of settings" % path)
    # abs(): after the clock went back (a Pi without a real-time clock, before NTP) the file's
    # times are in the future; the next write still stamps it with a different time.
    if abs(time.time() - max(st.st_mtime, st.st_ctime)) >= _SETTLED_SECONDS:
        if len(_PARSED) >= _PARSED_MAX and path not in _PARSED:
            _PARSED.clear()
        _PARSED[path] = (key, data)
        return _copy(data)
    _PARSED.pop(path, None)
    return data


def hub_addresses(config, path="imagenode.yaml"):
    """hub_address H1, H2, H3... as a list, ordered by number."""
    section = config.get("hub_address")
    if not isinstance(section, dict) or not section:
        raise CheckError("imagenode config %s has no hub_address section (H1 is required)" % path)
    numbered = []
    for key, value in section.items():
        match = _HUB_KEY.match(str(key))
        if not match:
            raise CheckError("imagenode config %s: hub_address key %r is not of the form H1, H2..." % (path, key))
        if not isinstance(value, str) or not value.strip():
            raise CheckError("imagenode config %s: hub_address %s is empty" % (path, key))
        numbered.append((int(match.group(1)), value.strip()))
    numbered.sort()
    if numbered[0][0] != 1:
        raise CheckError("imagenode config %s: hub_address has no H1, which imagenode requires" % path)
    return [address for _number, address in numbered]


def node_name(config, path="imagenode.yaml"):
    """node.name, or None when the file does not set it."""
    node = config.get("node")
    if node is None:
        return None
    if not isinstance(node, dict):
        raise CheckError("imagenode config %s: node must be a mapping" % path)
    name = node.get("name")
    return None if name is None else str(name)
