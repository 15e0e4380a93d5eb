#!/usr/bin/python
# Copyright (c) 2026 imagenode-health contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r"""
module: zmq_reset
short_description: Reset the ZMQ side of the node's hub link and re-test the hub
version_added: 0.1.0
description:
  - An imagezmq REQ socket whose reply never came is stuck for good; only a new
    socket gets it going. This resets the sockets it can reach and proves the
    result with a fresh socket (LINGER 0) to the hubs.
  - The on-node probe's link is reset through its unit (C(systemctl kill --signal=SIGUSR1)).
  - imagenode has no hook to reset its socket. A program that has one gets
    O(hook_signal); otherwise RV(summary) and RV(notes) say plainly that only a
    program restart (M(imagenode.health.imagenode_restart)) resets imagenode's socket.
  - Nothing is needed (RV(needed) false) when the first hub answers a fresh
    socket, unless O(force).
author:
  - imagenode-health contributors (@imagenode-health)
extends_documentation_fragment:
  - imagenode.health.hubs
  - imagenode.health.recovery
requirements:
  - pyzmq (Debian and Raspberry Pi OS package C(python3-zmq)) on the node
options:
  node_name:
    description: The node name in the test request; default the config's C(node.name), else the host name.
    type: str
  timeout:
    description: Seconds to wait for each hub's reply.
    type: float
    default: 2.0
  attempts:
    description: Tries per hub, each on a fresh socket.
    type: int
    default: 2
  probe_unit:
    description: The probe's systemd unit; it is signalled only when active.
    type: str
    default: imagenode-probe.service
  hook_signal:
    description: The signal that makes the camera program reset its own ZMQ socket, for programs that have such a hook.
    type: str
    choices: [none, SIGUSR1, SIGUSR2, SIGHUP]
    default: none
  pattern:
    description: Regular expression for the camera program's script, to find the processes for O(hook_signal).
    type: str
    default: imagenode.py
  force:
    description: Reset even when the first hub answers.
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Reset the hub link, then re-test
  imagenode.health.zmq_reset:
    config: /home/pi/imagenode.yaml
  register: reset
"""

RETURN = r"""
changed:
  description: Whether a reset was sent to anything.
  returned: always
  type: bool
fixed:
  description: The first hub answers a fresh socket afterwards; null in check mode.
  returned: always
  type: bool
needed:
  description: False when the first hub already answered.
  returned: always
  type: bool
before:
  description: The hubs that answered and that did not, before.
  returned: always
  type: dict
  sample: {"first_healthy": "tcp://hub2:5555", "status": "warn", "answering": ["tcp://hub2:5555"],
           "down": ["tcp://hub1:5555"]}
after:
  description: The same, after the reset.
  returned: always
  type: dict
actions:
  description: What was done, or in check mode what would be done.
  returned: always
  type: list
  elements: str
summary:
  description: One line a person can read.
  returned: always
  type: str
  sample: "the first hub still does not answer a fresh socket (tcp://hub1:5555): not a stuck link"
elapsed:
  description: Seconds the action took.
  returned: always
  type: float
notes:
  description: What this could not reset, and why.
  returned: when needed
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.imagenode.health.plugins.module_utils.ansible_recovery import (
    exit_with_recovery,
    recovery_argument_spec,
)
from ansible_collections.imagenode.health.plugins.module_utils.zmq_reset import OPTIONS, run_zmq_reset


def main():
    module = AnsibleModule(
        argument_spec=recovery_argument_spec(OPTIONS),
        mutually_exclusive=[("hubs", "config")],
        required_one_of=[("hubs", "config")],
        supports_check_mode=True,
    )
    params = module.params
    exit_with_recovery(module, "zmq_reset", lambda: run_zmq_reset(
        hubs=params["hubs"], config=params["config"], node_name=params["node_name"], timeout=params["timeout"],
        attempts=params["attempts"], probe_unit=params["probe_unit"], hook_signal=params["hook_signal"],
        pattern=params["pattern"], force=params["force"], check_mode=module.check_mode))


if __name__ == "__main__":
    main()
