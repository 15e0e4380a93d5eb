# Copyright (c) 2026 imagenode-health contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""Changing the hub order in imagenode.yaml without disturbing anything else.

imagenode.yaml is a file a person wrote and comments: loading it and dumping
it again would lose the comments, the key order and the quoting. So the edit
is textual. PyYAML's composer gives the exact character span of every
`Hn:` value; only those spans are replaced, each keeping its line and its
quoting style. The new text is then parsed again and must give exactly the
wanted hub order and an otherwise identical document; if anything about the
file makes that unsafe, CheckError says why and the caller writes nothing.
"""

import re

from .check_result import CheckError
from .imagenode_config import hub_addresses
from .yaml_loader import YamlUnavailable, yaml_module

_HUB_KEY = re.compile(r"^H([0-9]+)$")

# Styles of a one-line scalar this module can write: plain, 'single', "double".
_EDITABLE_STYLES = (None, "", "'", '"')


def parse_text(text, path):
    """The parsed document (a dict); CheckError naming the file and the line.

    The same message shape as imagenode_config.load_config, so a person sees
    the same words whichever side found the problem.
    """
    yaml = _yaml(path)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CheckError("imagenode config %s is not valid YAML%s: %s" % (path, _where(exc), getattr(exc, "problem", exc)))
    if not isinstance(data, dict):
        raise CheckError("imagenode config %s does not hold a mapping of settings" % path)
    return data


def _yaml(path):
    """The yaml module (imported on first use); CheckError when PyYAML is missing."""
    try:
        return yaml_module()
    except YamlUnavailable as exc:
        raise CheckError("editing %s needs PyYAML (python3-yaml): %s" % (path, exc))


def _where(exc):
    mark = getattr(exc, "problem_mark", None)
    return " at line %d" % (mark.line + 1) if mark is not None else ""


def _refuse(path, why):
    """The one error shape for "this file must be edited by hand"."""
    raise CheckError("cannot reorder the hubs in %s safely: %s; the file is unchanged "
                     "(write hub_address as one `Hn: tcp://host:port` line per hub to allow it)" % (path, why))


def _hub_mapping_node(text, path):
    """The composed hub_address mapping node of the (single) top-level document."""
    yaml = _yaml(path)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise CheckError("imagenode config %s is not valid YAML%s: %s" % (path, _where(exc), getattr(exc, "problem", exc)))
    if not isinstance(root, yaml.MappingNode):
        raise CheckError("imagenode config %s does not hold a mapping of settings" % path)
    found = [value for key, value in root.value
             if isinstance(key, yaml.ScalarNode) and key.value == "hub_address"]
    if len(found) != 1:
        _refuse(path, "expected one top-level hub_address key, found %d" % len(found))
    node = found[0]
    if not isinstance(node, yaml.MappingNode):
        _refuse(path, "hub_address is not a mapping")
    if node.flow_style:
        _refuse(path, "hub_address is written in flow style ({...})")
    if text[node.start_mark.index:node.start_mark.index + 1] in ("&", "!"):
        # An anchored mapping may be merged elsewhere, which would change too.
        _refuse(path, "hub_address carries a YAML anchor or tag")
    return node


def _hub_slots(text, path):
    """[(number, key, value node)] for each Hn line, checked to be editable in place."""
    slots, seen = [], set()
    yaml = _yaml(path)
    for key, value in _hub_mapping_node(text, path).value:
        name = key.value if isinstance(key, yaml.ScalarNode) else None
        match = _HUB_KEY.match(str(name))
        if not match:
            _refuse(path, "hub_address key %r is not of the form H1, H2..." % (name,))
        if name in seen:
            _refuse(path, "hub_address names %s twice" % name)
        seen.add(name)
        if not isinstance(value, yaml.ScalarNode) or value.style not in _EDITABLE_STYLES:
            _refuse(path, "hub_address %s is not a one-line scalar" % name)
        first = text[value.start_mark.index:value.start_mark.index + 1]
        if first in ("&", "!", "*"):
            _refuse(path, "hub_address %s uses a YAML anchor, alias or tag" % name)
        # An alias resolves to a node written elsewhere; a multi-line value spans lines.
        if not key.start_mark.line == value.start_mark.line == value.end_mark.line:
            _refuse(path, "hub_address %s is not written on one `%s: value` line" % (name, name))
        slots.append((int(match.group(1)), name, value))
    return slots


def _render(value, style):
    """value as a YAML scalar in the slot's quoting style (plain when it stays plain)."""
    if style == "'":
        return "'%s'" % value.replace("'", "''")
    if style == '"':
        return '"%s"' % value.replace("\\", "\\\\").replace('"', '\\"')
    yaml = yaml_module()  # present: the file was parsed before any value is rendered
    try:
        plain_ok = yaml.safe_load(value) == value and "\n" not in value and " #" not in value
    except yaml.YAMLError:
        plain_ok = False
    # A value that would not read back as itself unquoted is single-quoted instead.
    return value if plain_ok else "'%s'" % value.replace("'", "''")


def _without_hubs(data):
    rest = dict(data)
    rest.pop("hub_address", None)
    return rest


def reorder_hubs(text, new_order, path):
    """text with hub_address H1, H2... holding new_order, all else byte for byte the same.

    new_order must be a reordering of the hubs the file names: this edit
    moves values between the existing `Hn:` lines, it never adds or drops a
    hub. Raises CheckError, having changed nothing, when the file or the
    result is not what it must be.
    """
    data = parse_text(text, path)
    current = hub_addresses(data, path)
    new_order = [str(address).strip() for address in new_order]
    if sorted(new_order) != sorted(current):
        raise CheckError("the new hub order %s for %s is not a reordering of its hubs %s"
                         % (", ".join(new_order), path, ", ".join(current)))
    slots = sorted(_hub_slots(text, path), key=lambda slot: slot[0])
    # Replace from the end of the text backwards so earlier indexes stay valid.
    edits = sorted(((node.start_mark.index, node.end_mark.index, _render(address, node.style))
                    for (_number, _name, node), address in zip(slots, new_order)), reverse=True)
    new_text = text
    for start, end, rendered in edits:
        new_text = new_text[:start] + rendered + new_text[end:]
    _verify(data, new_text, new_order, path)
    return new_text


def _verify(old_data, new_text, new_order, path):
    """The edit is accepted only when the re-parsed result is exactly what was meant."""
    try:
        new_data = parse_text(new_text, path)
        got = hub_addresses(new_data, path)
    except CheckError as exc:
        raise CheckError("reordering the hubs in %s would break the file (%s); the file is unchanged" % (path, exc))
    if got != new_order:
        raise CheckError("reordering the hubs in %s gave %s instead of %s; the file is unchanged"
                         % (path, ", ".join(got), ", ".join(new_order)))
    if list(new_data["hub_address"]) != list(old_data["hub_address"]) or _without_hubs(new_data) != _without_hubs(old_data):
        raise CheckError("reordering the hubs in %s would change other settings; the file is unchanged" % path)
