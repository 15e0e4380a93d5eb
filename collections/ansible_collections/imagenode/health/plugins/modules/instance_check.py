#!/usr/bin/python
# Copyright (c) 2026 imagenode-health contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r"""
module: instance_check
short_description: Count the imagenode processes on a node and tell what launched each
version_added: 0.1.0
description:
  - Finds the processes whose script matches O(pattern) (the first non-option
    argument of a python interpreter, or the executable itself; shells and
    C(screen) whose command lines only mention it are not counted).
  - For each, tells the launcher, nearest first, from its ancestors and its
    cgroup - V(screen) (with the C(-S) session name), V(cron), V(systemd) (the
    C(.service) of its cgroup, other than C(cron.service) and user managers),
    else V(hand).
  - RV(status) is V(ok) for exactly one instance (V(warn) if it was not started
    by O(start_method)), V(fail) for none, and O(duplicate_status) for more than
    one. RV(keeper) is the oldest instance under O(start_method).
  - An instance that is stopped (RV(frozen)) makes RV(status) V(fail), since it is
    alive but silent.
author:
  - imagenode-health contributors (@imagenode-health)
extends_documentation_fragment:
  - imagenode.health.check
requirements:
  - psutil (Debian and Raspberry Pi OS package C(python3-psutil)) on the node
options:
  pattern:
    description: Regular expression searched for in each process's script path.
    type: str
    default: imagenode.py
  start_method:
    description:
      - How imagenode is meant to be started; the keeper is the oldest instance
        with this launcher. V(any) takes the oldest of all.
    type: str
    choices: [systemd, cron, screen, any]
    default: any
  duplicate_status:
    description: The status when more than one instance runs.
    type: str
    choices: [warn, fail]
    default: warn
"""

EXAMPLES = r"""
- name: Count imagenode instances
  imagenode.health.instance_check:
  register: instances

- name: Expect exactly one, started by systemd; duplicates fail the task
  imagenode.health.instance_check:
    start_method: systemd
    duplicate_status: fail
    fail_on: fail
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
  sample: "2 instances: pid 612 (systemd imagenode.service, up 86000s), pid 4410 (screen cam, up 60s); keeper pid 612"
elapsed:
  description: Seconds the check took.
  returned: always
  type: float
  sample: 0.05
count:
  description: How many instances run.
  returned: always
  type: int
  sample: 2
duplicates:
  description: Whether more than one instance runs.
  returned: always
  type: bool
  sample: true
frozen:
  description:
    - Pids of instances that are stopped (SIGSTOP, a debugger), alive to
      systemd and to a pid check, but sending nothing. Any makes RV(status) V(fail).
  returned: always
  type: list
  elements: int
  sample: [612]
pids:
  description: Their pids, oldest first.
  returned: always
  type: list
  elements: int
  sample: [612, 4410]
keeper:
  description: The pid of the oldest instance under O(start_method), or null.
  returned: always
  type: int
  sample: 612
launchers:
  description: The launcher of each instance, by pid.
  returned: always
  type: dict
  sample: {"612": "systemd", "4410": "screen"}
evidence:
  description: What the status was decided on.
  returned: always
  type: dict
  contains:
    pattern:
      description: The pattern used.
      type: str
    start_method:
      description: The start method used.
      type: str
    instances:
      description: One entry per instance, oldest first.
      type: list
      elements: dict
      contains:
        pid:
          description: Process id.
          type: int
        ppid:
          description: Parent process id.
          type: int
        cmdline:
          description: The command line.
          type: list
          elements: str
        script:
          description: The script that matched.
          type: str
        started:
          description: Start time in seconds since the epoch.
          type: float
        started_iso:
          description: Start time, UTC, ISO 8601.
          type: str
        age:
          description: Seconds since it started.
          type: float
        launcher:
          description: V(systemd), V(cron), V(screen) or V(hand).
          type: str
        launcher_detail:
          description: The unit, the screen session name, the cron daemon, or the ancestors of a process started by hand.
          type: str
        cgroup:
          description: The process's systemd cgroup path.
          type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.imagenode.health.plugins.module_utils.ansible_check import (
    check_argument_spec,
    exit_with_check,
)
from ansible_collections.imagenode.health.plugins.module_utils.instance_check import OPTIONS, run_instance_check


def main():
    module = AnsibleModule(argument_spec=check_argument_spec(OPTIONS), supports_check_mode=True)
    params = module.params
    exit_with_check(module, lambda: run_instance_check(
        pattern=params["pattern"], start_method=params["start_method"],
        duplicate_status=params["duplicate_status"], check_mode=module.check_mode))


if __name__ == "__main__":
    main()
