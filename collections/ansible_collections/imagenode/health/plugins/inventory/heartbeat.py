# Copyright (c) 2026 imagenode-health contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r"""
name: heartbeat
short_description: Nodes grouped by the heartbeat monitor's view of their health
version_added: 0.1.0
description:
  - Reads the state of the imagenode heartbeat monitor, from its HTTP endpoint
    (C(http://HOST:PORT/state.json)) or from the file it writes
    (by default C(/var/lib/imagenode-monitor/state.json)), and adds every node
    it knows as a host.
  - Each host goes into one of the groups C(healthy), C(degraded), C(failing) and
    C(silent) (each name preceded by O(group_prefix)), so that for example
    C(ansible-playbook playbooks/recover.yml -i fleet.heartbeat.yml -l silent)
    acts on the nodes that stopped sending heartbeats.
  - The source is combined with other inventories as usual, for instance
    C(-i inventory/lab.yml -i monitor.heartbeat.yml). The host names are the
    node names the monitor uses, so the other inventory supplies the connection
    variables.
  - A node whose entry has a state other than the four above is skipped with a
    warning that names it.
  - The configuration file must end in C(heartbeat.yml) or C(heartbeat.yaml).
author:
  - imagenode-health contributors (@imagenode-health)
requirements: []
extends_documentation_fragment:
  - constructed
options:
  plugin:
    description:
      - The name of this plugin; it must be V(imagenode.health.heartbeat) for
        the file to be read by this plugin.
    type: str
    required: true
    choices:
      - imagenode.health.heartbeat
  url:
    description:
      - The http or https URL of the monitor's C(/state.json).
      - Exactly one of O(url) and O(path) must be given.
    type: str
    required: false
  path:
    description:
      - A local file holding the monitor's state, such as
        C(/var/lib/imagenode-monitor/state.json).
      - A relative path is relative to the directory of this configuration file;
        C(~) is expanded.
      - Exactly one of O(url) and O(path) must be given.
    type: str
    required: false
  timeout:
    description:
      - Seconds to wait for the monitor when O(url) is used.
    type: float
    default: 5
    required: false
  validate_certs:
    description:
      - Whether to verify the TLS certificate of an https O(url).
    type: bool
    default: true
    required: false
  recompute_silent:
    description:
      - Whether to decide again, at the time of reading, which nodes are silent.
      - A node counts as C(silent), whatever state the monitor recorded, when its
        age plus the time since the state was generated is more than the
        monitor's C(silent_after) times the node's heartbeat interval (the
        entry's C(interval), else the state's C(interval), else 10 seconds).
      - This keeps a stale state file (a monitor that stopped writing it) from
        reporting nodes as healthy for ever.
    type: bool
    default: true
    required: false
  group_prefix:
    description:
      - A prefix for the names of the groups C(healthy), C(degraded), C(failing)
        and C(silent).
    type: str
    default: ""
    required: false
notes:
  - Every host gets the variables C(imagenode_heartbeat), the node's entry in the
    monitor's state, and C(imagenode_heartbeat_state), the state that put it in
    its group (after O(recompute_silent)).
  - A state that is not valid JSON, or not an object with a C(nodes) object, is
    an error that names the source.
"""

EXAMPLES = r"""
# fleet.heartbeat.yml: the nodes as the monitor on the hub sees them
plugin: imagenode.health.heartbeat
url: http://imagehub.local:9108/state.json
timeout: 3
---
# monitor.heartbeat.yml: the monitor's state file on this machine, groups named
# hb_healthy, hb_silent, ...
plugin: imagenode.health.heartbeat
path: /var/lib/imagenode-monitor/state.json
group_prefix: hb_
---
# With constructed options: a group per overall status reported by the node
plugin: imagenode.health.heartbeat
path: /var/lib/imagenode-monitor/state.json
keyed_groups:
  - key: imagenode_heartbeat.status
    prefix: status

# Then, for example:
#   ansible-playbook playbooks/recover.yml -i fleet.heartbeat.yml -l silent
#   ansible-playbook playbooks/recover.yml -i inventory/lab.yml -i monitor.heartbeat.yml -l silent
"""

import json
import os
import re
import time
from urllib.parse import urlparse

from ansible.errors import AnsibleParserError
from ansible.module_utils.common.text.converters import to_native, to_text
from ansible.module_utils.urls import open_url
from ansible.plugins.inventory import BaseInventoryPlugin, Constructable

STATES = ("healthy", "degraded", "failing", "silent")
DEFAULT_INTERVAL = 10
_NODE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def _number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class InventoryModule(BaseInventoryPlugin, Constructable):
    """Hosts and health groups from the heartbeat monitor's state.json."""

    NAME = "imagenode.health.heartbeat"

    def verify_file(self, path):
        if not super(InventoryModule, self).verify_file(path):
            return False
        return path.endswith(("heartbeat.yml", "heartbeat.yaml"))

    def parse(self, inventory, loader, path, cache=True):
        super(InventoryModule, self).parse(inventory, loader, path, cache)
        self._read_config_data(path)

        url = self.get_option("url")
        state_path = self.get_option("path")
        if url and state_path:
            raise AnsibleParserError("%s: the options url and path are mutually exclusive: give one of them" % path)
        if not url and not state_path:
            raise AnsibleParserError("%s: one of the options url or path is required" % path)

        hint = ""
        if url:
            source = "URL %s" % url
            raw = self._fetch(url, source)
            if not urlparse(url).path.rstrip("/").endswith(".json"):
                # The monitor's root page is plain text, which does not parse:
                # name the likely slip rather than only the symptom.
                hint = " (the monitor serves its state at /state.json: does the url lack that path?)"
        else:
            state_path = os.path.expanduser(state_path)
            if not os.path.isabs(state_path):
                state_path = os.path.join(os.path.dirname(os.path.abspath(path)), state_path)
            source = "file %s" % state_path
            raw = self._read(state_path, source)

        state = self._load(raw, source, hint)
        self._populate(state, source)

    # ---- reading -----------------------------------------------------------

    def _fetch(self, url, source):
        if not re.match(r"^https?://", url, re.IGNORECASE):
            raise AnsibleParserError("heartbeat monitor %s: url must be an http:// or https:// URL" % source)
        try:
            response = open_url(
                url,
                timeout=self.get_option("timeout"),
                validate_certs=self.get_option("validate_certs"),
                headers={"Accept": "application/json"},
            )
            return response.read()
        except Exception as exc:
            raise AnsibleParserError("heartbeat monitor %s could not be read: %s" % (source, to_native(exc)))

    @staticmethod
    def _read(state_path, source):
        try:
            with open(state_path, "rb") as stream:
                return stream.read()
        except (IOError, OSError) as exc:
            raise AnsibleParserError("heartbeat monitor state %s could not be read: %s" % (source, to_native(exc)))

    @staticmethod
    def _load(raw, source, hint=""):
        try:
            state = json.loads(to_text(raw, errors="surrogate_or_strict"))
        except (ValueError, UnicodeError) as exc:
            raise AnsibleParserError("heartbeat monitor state from %s is not valid JSON: %s%s"
                                     % (source, to_native(exc), hint))
        if not isinstance(state, dict):
            raise AnsibleParserError("heartbeat monitor state from %s must be a JSON object, not %s"
                                     % (source, type(state).__name__))
        if not isinstance(state.get("nodes"), dict):
            raise AnsibleParserError("heartbeat monitor state from %s must have a \"nodes\" object" % source)
        for key in ("generated", "silent_after", "interval"):
            if state.get(key) is not None and not _number(state[key]):
                raise AnsibleParserError("heartbeat monitor state from %s: \"%s\" must be a number" % (source, key))
        return state

    # ---- building the inventory ---------------------------------------------

    def _is_silent_now(self, state, entry, now):
        """Whether a node has been quiet for longer than silent_after intervals, as of now."""
        generated = state.get("generated")
        silent_after = state.get("silent_after")
        if not _number(generated) or not _number(silent_after):
            return False
        if _number(entry.get("age")):
            age = entry["age"] + max(0.0, now - generated)
        elif _number(entry.get("last_seen")):
            age = now - entry["last_seen"]
        else:
            return False
        interval = entry.get("interval")
        if not _number(interval) or interval <= 0:
            interval = state.get("interval")
        if not _number(interval) or interval <= 0:
            interval = DEFAULT_INTERVAL
        return age > silent_after * interval

    def _populate(self, state, source):
        prefix = self.get_option("group_prefix") or ""
        recompute = self.get_option("recompute_silent")
        strict = self.get_option("strict")
        now = time.time()

        groups = {}
        for name in STATES:
            groups[name] = self.inventory.add_group(prefix + name)

        for node in sorted(state["nodes"]):
            entry = state["nodes"][node]
            if not isinstance(node, str) or not _NODE.match(node):
                self.display.warning("heartbeat monitor state from %s: skipping node %r: not a valid node name"
                                     % (source, node))
                continue
            if not isinstance(entry, dict):
                self.display.warning("heartbeat monitor state from %s: skipping node %s: its entry is not an object"
                                     % (source, node))
                continue
            node_state = entry.get("state")
            if node_state not in STATES:
                self.display.warning("heartbeat monitor state from %s: skipping node %s: unknown state %r (expected %s)"
                                     % (source, node, node_state, ", ".join(STATES)))
                continue
            if recompute and node_state != "silent" and self._is_silent_now(state, entry, now):
                node_state = "silent"

            host = self.inventory.add_host(node, group=groups[node_state])
            self.inventory.set_variable(host, "imagenode_heartbeat", entry)
            self.inventory.set_variable(host, "imagenode_heartbeat_state", node_state)

            hostvars = self.inventory.get_host(host).get_vars()
            self._set_composite_vars(self.get_option("compose"), hostvars, host, strict=strict)
            self._add_host_to_composed_groups(self.get_option("groups"), hostvars, host, strict=strict)
            self._add_host_to_keyed_groups(self.get_option("keyed_groups"), hostvars, host, strict=strict)
