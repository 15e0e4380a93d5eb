#!/usr/bin/python
# Copyright (c) 2026 imagenode-health contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r"""
module: hub_failover
short_description: Move imagenode to a healthy alternate hub, and back home when asked
version_added: 0.1.0
description:
  - imagenode sends only to C(hub_address.H1) of its imagenode.yaml; C(H2), C(H3)...
    are alternates that imagenode itself ignores. This module probes every hub
    (the same imagezmq heartbeat as M(imagenode.health.hub_check)) and, when
    C(H1) does not answer, makes the first healthy alternate (or O(prefer))
    the new C(H1). The other hubs follow in their previous relative order.
  - The file is edited textually, so comments, key order, quoting and every
    other setting stay byte for byte as they were; only the C(Hn) values move
    between their lines. The edited text is parsed again and must give exactly
    the new order and otherwise the same settings. A file that cannot be
    edited that way (flow-style C(hub_address), multi-line values, anchors,
    aliases) or that is not valid YAML makes the module fail with a message
    naming the file (and the line), and the file is left untouched.
  - Before writing, the old file is copied to C(<config>.<YYYYmmddTHHMMSSZ>.bak)
    next to it; both are written atomically with the original file's owner,
    group and mode (the file belongs to the node's user, the module runs as root).
  - With O(restart), imagenode is restarted and the action is proven (the new
    imagenode process must have an ESTABLISHED TCP connection to the chosen
    hub within O(verify_timeout), and the hub must answer). Only then is RV(fixed) true.
  - The first failover away from the node's home order records that order in
    O(state_dir)C(/hub_failover.json); with O(failback), the home order is
    restored as soon as the home C(H1) answers again.
  - When no alternate answers, nothing is changed and RV(fixed) is false.
author:
  - imagenode-health contributors (@imagenode-health)
extends_documentation_fragment:
  - imagenode.health.recovery
attributes:
  diff_mode:
    description: Returns a diff of imagenode.yaml (the predicted one in check mode).
    support: full
requirements:
  - PyYAML (Debian and Raspberry Pi OS package C(python3-yaml)) on the node
  - pyzmq (Debian and Raspberry Pi OS package C(python3-zmq)) on the node
  - psutil (Debian and Raspberry Pi OS package C(python3-psutil)) on the node, to verify the restart
options:
  config:
    description:
      - Path of the node's imagenode.yaml. Its C(hub_address) C(H1), C(H2)... are
        the hubs, C(H1) being the one imagenode uses; this is the file rewritten.
      - A symbolic link is followed; the file it points to is edited.
    type: path
    required: true
  hubs:
    description:
      - The alternates to consider, in the order to try them, instead of the
        file's C(H2), C(H3)... Each must be one of the file's hubs, since the
        module only reorders hubs, it never adds one.
    type: list
    elements: str
  prefer:
    description:
      - The alternate to move to when it answers; when it does not, the first
        alternate that answers is used. Must be one of the file's hubs.
    type: str
  restart:
    description:
      - Restart imagenode after rewriting the file and verify that it connects to the new hub.
      - When false, only the file is changed; RV(fixed) then means the new C(H1) answers,
        and imagenode keeps using the old hub until it is restarted.
    type: bool
    default: true
  failback:
    description:
      - Restore the remembered home order when the home C(H1) answers again
        (and the node is not on it). Without a remembered order there is nothing to fail back to.
      - When the home hub is still down, the module behaves as without O(failback).
    type: bool
    default: false
  start_method:
    description:
      - How imagenode is started on the node, and so how it is restarted.
      - V(any) lets the restart find out how the running imagenode was started.
    type: str
    choices: [systemd, cron, screen, any]
    default: any
  pattern:
    description: What identifies the imagenode process in its command line.
    type: str
    default: imagenode.py
  timeout:
    description: Seconds to wait for each hub's reply in each probe attempt.
    type: float
    default: 2.0
  attempts:
    description: Probe attempts per hub, each on a fresh socket.
    type: int
    default: 2
  verify_timeout:
    description: Seconds to wait, after the restart, for imagenode to connect to the new hub.
    type: float
    default: 30.0
  state_dir:
    description:
      - Directory of C(hub_failover.json), where the node's home hub order is
        remembered (per config path) for O(failback). Under C(/var/lib) so it survives reboots.
    type: path
    default: /var/lib/imagenode-health
  command:
    description:
      - The command (an argument list) that starts imagenode by cron or screen
        when no instance runs to copy it from; see M(imagenode.health.imagenode_restart).
    type: list
    elements: str
  user:
    description: The user that runs O(command).
    type: str
seealso:
  - module: imagenode.health.hub_check
"""

EXAMPLES = r"""
- name: Fail over to the first alternate hub that answers when H1 is down
  imagenode.health.hub_failover:
    config: /home/pi/imagenode.yaml
    fault: "{{ hubs.summary }}"
  when: hubs.status == 'fail'
  register: failover

- name: Prefer the second barn hub, and only rewrite the file (restart later)
  imagenode.health.hub_failover:
    config: /home/pi/imagenode.yaml
    prefer: tcp://barnhub:5555
    restart: false

- name: Go back to the home hub once it answers again
  imagenode.health.hub_failover:
    config: /home/pi/imagenode.yaml
    failback: true
    start_method: systemd
  register: failback

- name: Say what happened
  ansible.builtin.debug:
    msg: "{{ failback.summary }} (backup {{ failback.backup | default('none', true) }})"
"""

RETURN = r"""
fixed:
  description:
    - Whether imagenode is on a hub that answers afterwards. With O(restart), the
      new process is connected to it; without, only the file says so.
    - Null in check mode.
  returned: always
  type: bool
  sample: true
needed:
  description: False when there was nothing to do (C(H1) answers and no failback is due).
  returned: always
  type: bool
  sample: true
before:
  description: The hub order first seen.
  returned: always
  type: dict
  contains:
    hubs:
      description: The hubs in order, C(H1) first.
      type: list
      elements: str
    using:
      description: C(H1), the hub imagenode is set to send to.
      type: str
    answering:
      description: The hubs that answered the probe.
      type: list
      elements: str
  sample: {"hubs": ["tcp://hub1:5555", "tcp://hub2:5555"], "using": "tcp://hub1:5555", "answering": ["tcp://hub2:5555"]}
after:
  description: The hub order at the end (in check mode, the predicted one), with the same keys as RV(before).
  returned: always
  type: dict
  sample: {"hubs": ["tcp://hub2:5555", "tcp://hub1:5555"], "using": "tcp://hub2:5555", "answering": ["tcp://hub2:5555"]}
actions:
  description: The steps done, or in check mode the steps that would be done.
  returned: always
  type: list
  elements: str
  sample: ["backed up /home/pi/imagenode.yaml to /home/pi/imagenode.yaml.20260101T120000Z.bak"]
summary:
  description: One line a person can read.
  returned: always
  type: str
  sample: "imagenode's hub tcp://hub1:5555 does not answer; failed over to tcp://hub2:5555 in /home/pi/imagenode.yaml: ..."
elapsed:
  description: Seconds the action took.
  returned: always
  type: float
  sample: 4.12
backup:
  description: The backup of the old imagenode.yaml, or null when the file was not changed.
  returned: always
  type: str
  sample: /home/pi/imagenode.yaml.20260101T120000Z.bak
chosen:
  description: The hub made C(H1) (or left there when nothing was needed), or null when none answers.
  returned: always
  type: str
  sample: tcp://hub2:5555
failed_back:
  description: Whether the change restored the remembered home order.
  returned: always
  type: bool
  sample: false
event_log:
  description: The event log the record was appended to.
  returned: when a record was written
  type: str
event_log_error:
  description: Why the event log could not be written (the action itself stands).
  returned: when the record could not be written
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.imagenode.health.plugins.module_utils.ansible_recovery import (
    exit_with_recovery,
    recovery_argument_spec,
)
from ansible_collections.imagenode.health.plugins.module_utils.hub_failover import OPTIONS, run_hub_failover


def main():
    module = AnsibleModule(
        argument_spec=recovery_argument_spec(OPTIONS),
        supports_check_mode=True,
    )
    params = module.params
    exit_with_recovery(module, "hub_failover", lambda: run_hub_failover(
        config=params["config"], hubs=params["hubs"], prefer=params["prefer"],
        restart=params["restart"], failback=params["failback"],
        start_method=params["start_method"], pattern=params["pattern"],
        timeout=params["timeout"], attempts=params["attempts"],
        verify_timeout=params["verify_timeout"], state_dir=params["state_dir"],
        command=params["command"], user=params["user"], check_mode=module.check_mode))


if __name__ == "__main__":
    main()
