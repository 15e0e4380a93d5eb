#!/usr/bin/python
# Copyright (c) 2026 imagenode-health contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r"""
module: recovery_plan
short_description: Diagnose a node's health and choose the next step of the recovery ladder
version_added: 0.1.0
description:
  - Reads a M(imagenode.health.node_health) result and tells which layer
    failed (RV(faults)) and the next step of the ladder that can fix it
    (RV(next_step)), least invasive first - V(zmq_reset), V(hub_failover),
    V(wifi_restart), V(wifi_select), V(imagenode_restart), V(reboot). Steps
    already taken (O(done)) are not taken again, and the ladder never goes back down.
  - Fleet awareness - O(fleet) holds the hub check of every node in the play.
    A hub that fails for most of them is down; so is a hub whose host answers
    while the hub does not. Then the climb stops after the hub steps, so no
    node is restarted or rebooted for a hub's fault.
  - Read-only, and the same code the on-node probe uses.
author:
  - imagenode-health contributors (@imagenode-health)
extends_documentation_fragment:
  - imagenode.health.check
options:
  health:
    description: The registered result of M(imagenode.health.node_health) on this node.
    type: dict
    required: true
  done:
    description: The ladder steps already taken on this node, in order.
    type: list
    elements: str
    default: []
  fleet:
    description: The C(hub_check) results of every node in the play (from their node_health results).
    type: list
    elements: dict
    default: []
  fleet_threshold:
    description: A hub that fails for more than this share of the nodes using it (and at least two) is down.
    type: float
    default: 0.5
  steps:
    description: The ladder steps that may be taken (all by default); for example leave out V(reboot).
    type: list
    elements: str
    default: [zmq_reset, hub_failover, wifi_restart, wifi_select, imagenode_restart, reboot]
  margin_db:
    description: A known network must be this many dB stronger than the current one to count as a fix.
    type: int
    default: 8
"""

EXAMPLES = r"""
- name: Check the node
  imagenode.health.node_health:
    config: /home/pi/imagenode.yaml
  register: health

- name: What to do next
  imagenode.health.recovery_plan:
    health: "{{ health }}"
    done: [zmq_reset]
    fleet: "{{ ansible_play_hosts | map('extract', hostvars, ['health', 'checks', 'hub_check']) | list }}"
  register: plan
"""

RETURN = r"""
status:
  description: V(ok) when there is no fault, V(fail) otherwise.
  returned: always
  type: str
summary:
  description: One line a person can read.
  returned: always
  type: str
  sample: "fault program (frozen (stopped, alive but silent): pid 812); next step imagenode_restart"
elapsed:
  description: Seconds it took.
  returned: always
  type: float
healthy:
  description: No fault found.
  returned: always
  type: bool
faults:
  description: The faults, each with the C(layer) that failed, the C(check) that showed it and its C(summary).
  returned: always
  type: list
  elements: dict
  sample: [{"layer": "hub", "check": "hub_check", "summary": "primary hub tcp://hub1:5555 does not answer",
            "hub": "tcp://hub1:5555", "alternates": ["tcp://hub2:5555"]}]
next_step:
  description: The step to take now, or null when healthy or when no step is left.
  returned: always
  type: str
  sample: hub_failover
remaining:
  description: The steps that could still be taken, in order (the plan).
  returned: always
  type: list
  elements: str
stop_reason:
  description: Why there is no next step.
  returned: always
  type: str
  sample: "no step left that can fix: program (no process runs imagenode.py)"
fleet_down_hubs:
  description: The hubs that fail for most nodes of the play.
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.imagenode.health.plugins.module_utils.ansible_check import (
    check_argument_spec,
    exit_with_check,
)
from ansible_collections.imagenode.health.plugins.module_utils.ladder import OPTIONS, plan_result


def main():
    module = AnsibleModule(argument_spec=check_argument_spec(OPTIONS), supports_check_mode=True)
    params = module.params
    exit_with_check(module, lambda: plan_result(
        params["health"], done=params["done"], fleet=params["fleet"], steps=params["steps"],
        margin_db=params["margin_db"], fleet_threshold=params["fleet_threshold"]))


if __name__ == "__main__":
    main()
