#!/usr/bin/python
# Copyright (c) 2026 imagenode-health contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r"""
module: imagenode_restart
short_description: Restart imagenode the way it was started, leaving exactly one instance
version_added: 0.1.0
description:
  - Finds the imagenode instances (as M(imagenode.health.instance_check) does) and
    restarts the program by the method that started the oldest one, or by
    O(start_method) when none runs.
  - V(systemd) - C(systemctl reset-failed) (a unit that hit its start limit
    refuses even a manual start) then C(systemctl restart) of the unit that
    owns the process (O(unit) when none runs).
  - V(screen) - a session owned by a systemd unit (the
    M(imagenode.health.start_method) role's C(imagenode-screen.service)) is
    restarted through that unit; otherwise the program is ended and, unless
    the session's own loop starts it again, a new detached session named
    O(session) runs the same command line as the same user.
  - V(cron) - the program is ended and the command cron ran runs again at
    once (same command line, user and directory, in C(cron.service)'s cgroup
    where cron's jobs live), instead of waiting for a keep-alive entry.
  - A stopped (C(SIGSTOP)) instance gets C(SIGKILL); duplicates and copies
    started by hand are ended. The result is proven - exactly one new instance
    that still runs O(settle) seconds later - and RV(pid) is its pid.
author:
  - imagenode-health contributors (@imagenode-health)
extends_documentation_fragment:
  - imagenode.health.recovery
requirements:
  - psutil (Debian and Raspberry Pi OS package C(python3-psutil)) on the node
options:
  start_method:
    description:
      - How imagenode is started on this node. V(any) takes the launcher of the
        oldest running instance, and fails when none runs.
    type: str
    choices: [systemd, cron, screen, any]
    default: any
  pattern:
    description: Regular expression searched for in each process's script path.
    type: str
    default: imagenode.py
  unit:
    description: The systemd unit to start when O(start_method=systemd) and nothing runs.
    type: str
    default: imagenode.service
  command:
    description:
      - The command (an argument list) that starts imagenode, for V(cron) and
        V(screen) when no running instance shows it.
      - For example the start_method role's launcher, C([/usr/local/bin/imagenode-launch]).
    type: list
    elements: str
  user:
    description: The user that runs O(command); by default the user of the running instance.
    type: str
  session:
    description: The screen session name for a new session.
    type: str
    default: imagenode
  timeout:
    description: Seconds to wait for the new instance.
    type: float
    default: 60
  settle:
    description: Seconds the new instance must keep running to count as started.
    type: float
    default: 3
"""

EXAMPLES = r"""
- name: Restart imagenode the way it was started
  imagenode.health.imagenode_restart:
    fault: "{{ health.summary }}"
  register: restarted

- name: Start it under cron when nothing runs
  imagenode.health.imagenode_restart:
    start_method: cron
    command: [/usr/local/bin/imagenode-launch]
    user: pi
"""

RETURN = r"""
changed:
  description: Whether anything was restarted (never in check mode).
  returned: always
  type: bool
fixed:
  description: Exactly one new instance runs and kept running for O(settle) seconds; null in check mode.
  returned: always
  type: bool
  sample: true
needed:
  description: Always true; a restart asked for is needed.
  returned: always
  type: bool
before:
  description: The instances (pid, launcher, state), the method and the owning unit before.
  returned: always
  type: dict
  sample: {"instances": [{"pid": 612, "launcher": "systemd", "state": "stopped"}], "method": "systemd",
           "unit": "imagenode.service"}
after:
  description: The same, afterwards (in check mode, as before).
  returned: always
  type: dict
actions:
  description: What was done, or in check mode what would be done.
  returned: always
  type: list
  elements: str
  sample: ["SIGKILL stopped pid 612", "systemctl restart imagenode.service"]
summary:
  description: One line a person can read.
  returned: always
  type: str
  sample: "restarted imagenode by systemd: pid 612 -> pid 4410 (systemd)"
elapsed:
  description: Seconds the action took.
  returned: always
  type: float
method:
  description: The start method used.
  returned: always
  type: str
  sample: systemd
pid:
  description: The new instance's pid (null when there is none, and in check mode).
  returned: always
  type: int
  sample: 4410
previous_pids:
  description: The pids that ran before.
  returned: always
  type: list
  elements: int
launcher:
  description: What launched the new instance, as instance_check tells it.
  returned: when fixed
  type: str
  sample: systemd
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.imagenode.health.plugins.module_utils.ansible_recovery import (
    exit_with_recovery,
    recovery_argument_spec,
)
from ansible_collections.imagenode.health.plugins.module_utils.imagenode_restart import OPTIONS, restart_imagenode


def main():
    module = AnsibleModule(argument_spec=recovery_argument_spec(OPTIONS), supports_check_mode=True)
    params = module.params
    exit_with_recovery(module, "imagenode_restart", lambda: restart_imagenode(
        start_method=params["start_method"], pattern=params["pattern"], unit=params["unit"],
        command=params["command"], user=params["user"], session=params["session"], timeout=params["timeout"],
        settle=params["settle"], check_mode=module.check_mode))


if __name__ == "__main__":
    main()
