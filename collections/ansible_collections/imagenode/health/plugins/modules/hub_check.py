#!/usr/bin/python
# Copyright (c) 2026 imagenode-health contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r"""
module: hub_check
short_description: Check that each imagehub answers an imagezmq request in time
version_added: 0.1.0
description:
  - Sends imagenode's own heartbeat, C(<node_name>|Heartbeat), to every hub over
    imagezmq REQ/REP (two frames, JSON metadata) and expects the hub's C(OK).
  - Each attempt uses a fresh REQ socket with LINGER 0, so a dead hub can
    never hang the check or leave a stuck socket behind. All hubs are asked at
    once, so the check takes at most O(timeout) x O(attempts).
  - The first hub is the one imagenode sends to (C(hub_address.H1)). RV(status) is
    V(ok) when every hub answers, V(warn) when the first answers but an
    alternate does not, and V(fail) when the first does not (the summary says
    whether an alternate could take over).
  - For hubs that do not answer, RV(evidence.hubs[].tcp) tells how far the
    attempt got, which points at the failed layer.
author:
  - imagenode-health contributors (@imagenode-health)
extends_documentation_fragment:
  - imagenode.health.check
  - imagenode.health.hubs
requirements:
  - pyzmq (Debian and Raspberry Pi OS package C(python3-zmq)) on the node
options:
  node_name:
    description:
      - The name the heartbeat carries.
      - Defaults to the C(node.name) of O(config), else the node's short host name.
      - Must not be empty or contain C(|), which imagehub splits messages on.
    type: str
  timeout:
    description: Seconds to wait for each hub's reply in each attempt.
    type: float
    default: 2.0
  attempts:
    description: Attempts per hub, each on a fresh socket; a hub that answers is not asked again.
    type: int
    default: 2
seealso:
  - name: imagezmq
    description: The ZeroMQ image transport imagenode and imagehub use.
    link: https://github.com/jeffbass/imagezmq
"""

EXAMPLES = r"""
- name: Check the hubs named in the node's imagenode.yaml
  imagenode.health.hub_check:
    config: /home/pi/imagenode.yaml
  register: hubs

- name: Check two hubs explicitly, failing the task when the primary is down
  imagenode.health.hub_check:
    hubs:
      - tcp://hub1:5555
      - tcp://hub2:5555
    timeout: 1.5
    attempts: 3
    fail_on: fail

- name: Show which hub the node could use now
  ansible.builtin.debug:
    msg: "{{ hubs.healthy_hub | default('none', true) }}"
"""

RETURN = r"""
status:
  description: V(ok), V(warn) or V(fail), as described above.
  returned: always
  type: str
  sample: warn
summary:
  description: One line a person can read.
  returned: always
  type: str
  sample: "primary hub tcp://hub1:5555 answers in 1.9 ms; alternate tcp://hub2:5555 does not answer (...)"
elapsed:
  description: Seconds the check took.
  returned: always
  type: float
  sample: 2.004
healthy_hub:
  description: The first hub that answered, or null when none did.
  returned: always
  type: str
  sample: tcp://hub1:5555
primary_hub:
  description: The first hub, the one imagenode sends to.
  returned: always
  type: str
  sample: tcp://hub1:5555
alternates_ok:
  description: The hubs after the first that answered.
  returned: always
  type: list
  elements: str
evidence:
  description: What the status was decided on.
  returned: always
  type: dict
  contains:
    node_name:
      description: The name the heartbeat carried.
      type: str
    source:
      description: The imagenode.yaml the hubs came from, or V(hubs).
      type: str
    timeout:
      description: Seconds waited per attempt.
      type: float
    attempts:
      description: Attempts allowed per hub.
      type: int
    hubs:
      description: One entry per hub, in order.
      type: list
      elements: dict
      contains:
        address:
          description: The hub address.
          type: str
        ok:
          description: Whether the hub answered C(OK).
          type: bool
        rtt_ms:
          description: Round-trip time of the answered request, in milliseconds.
          type: float
        error:
          description: Why the hub is not healthy, or null.
          type: str
        attempts:
          description: Attempts made.
          type: int
        tcp:
          description:
            - How far the last attempt got at the TCP level, from the ZMQ socket monitor.
            - V(connected), V(refused or unreachable), V(no answer from host), or V(not tried).
          type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.imagenode.health.plugins.module_utils.ansible_check import (
    check_argument_spec,
    exit_with_check,
)
from ansible_collections.imagenode.health.plugins.module_utils.hub_check import OPTIONS, run_hub_check


def main():
    module = AnsibleModule(
        argument_spec=check_argument_spec(OPTIONS),
        mutually_exclusive=[("hubs", "config")],
        required_one_of=[("hubs", "config")],
        supports_check_mode=True,
    )
    params = module.params
    exit_with_check(module, lambda: run_hub_check(
        hubs=params["hubs"], config=params["config"], node_name=params["node_name"],
        timeout=params["timeout"], attempts=params["attempts"]))


if __name__ == "__main__":
    main()
