#!/usr/bin/python
# Copyright (c) 2026 imagenode-health contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r"""
module: reboot_guard
short_description: Keep a persistent reboot budget so the last step of the ladder cannot loop
version_added: 0.1.0
description:
  - Decides whether the node may be rebooted now, and records each reboot's
    reason and evidence B(before) the reboot, in a state file that survives
    the reboot (O(state_path)). Playbooks and the on-node probe share it.
  - Up to O(max_reboots) reboots are allowed within O(window) seconds. Once
    that budget is spent, another reboot is allowed only O(backoff_base)
    seconds after the last one, doubling for each further reboot and capped at
    O(backoff_max). The node is never refused for good, and old reboots leave
    the window, so the budget refills by itself.
  - A Raspberry Pi has no RTC and its clock may be behind until NTP syncs. A
    reboot recorded in the future counts as if it had just happened, and
    O(mode=reserve) re-dates such records to now so that a clock that stays
    behind delays reboots, never stops them.
  - The boot id (C(/proc/sys/kernel/random/boot_id)) tells a new boot from
    the same one. A reservation made in this boot that has not led to a
    reboot yet is reused, not spent again, so a playbook and the probe asking
    in turn take one slot.
  - When the state file exists but cannot be read or parsed, the budget is
    unknown. It is then treated as spent, with the file's modification time as
    the last reboot, so at most one reboot per O(backoff_base) is allowed
    (doubling, capped) for one O(window). The next reservation replaces the
    file and keeps the unreadable one as C(<state_path>.corrupt).
    RV(budget_unknown) says so.
  - A reservation that cannot be written is refused (RV(state_error)), since a
    reboot that leaves no record could loop unnoticed.
author:
  - imagenode-health contributors (@imagenode-health)
extends_documentation_fragment:
  - imagenode.health.recovery
options:
  mode:
    description:
      - V(query) only answers whether a reboot is allowed now; it changes
        nothing and leaves no event log record.
      - V(reserve) records the reboot (reason, evidence summary, time, boot
        id) when it is allowed, and says why not and when it will be when it
        is not. Reboot only when RV(allowed) is true.
      - V(reset) clears the budget; an operator's explicit action.
    type: str
    choices: [query, reserve, reset]
    default: reserve
  reason:
    description:
      - Why the node is to be rebooted, kept with the reservation (for example
        the failed check's summary). Required when O(mode=reserve).
    type: str
  evidence:
    description:
      - What the reason was decided on (a string or a dict, such as a check's
        result). A short summary of it (its C(summary) key when there is
        one) goes into the state file; the full evidence into the event log.
    type: raw
  state_path:
    description:
      - The budget's state file. It must survive reboots, so not under C(/run).
      - Written only atomically (temp file, fsync, rename), so a power cut or
        C(kill -9) leaves the old state or the new one.
    type: path
    default: /var/lib/imagenode-health/reboot_budget.json
  max_reboots:
    description: Reboots allowed within O(window) before backoff applies (0 or more).
    type: int
    default: 3
  window:
    description: Seconds a reboot counts against the budget.
    type: int
    default: 86400
  backoff_base:
    description:
      - Once the budget is spent, seconds after the last reboot before the next
        is allowed. It doubles for each reboot beyond O(max_reboots) in the window.
    type: int
    default: 3600
  backoff_max:
    description: The cap on the backoff, so that the node is never given up on (not less than O(backoff_base)).
    type: int
    default: 14400
attributes:
  diff_mode:
    description: The state file is written, but no diff is shown; RV(before) and RV(after) show the change.
    support: none
notes:
  - This module does not reboot. Pair it with M(ansible.builtin.reboot) when
    RV(allowed) is true, right after the reservation.
  - Check mode decides and reports RV(allowed), writing nothing.
  - O(mode=reserve) holds C(<state_path>.lock) while it reads, decides and
    writes, so two callers cannot both take the last slot.
seealso:
  - module: ansible.builtin.reboot
"""

EXAMPLES = r"""
- name: Reserve a reboot, the last step of the ladder
  imagenode.health.reboot_guard:
    reason: "imagenode still not sending after restart: {{ health.summary }}"
    evidence: "{{ health }}"
    fault: "{{ health.summary }}"
  register: guard

- name: Reboot only when the budget allows it
  ansible.builtin.reboot:
    msg: "imagenode-health: {{ guard.summary }}"
  when: guard.allowed

- name: Say why not and when
  ansible.builtin.debug:
    msg: "{{ guard.summary }}"
  when: not guard.allowed

- name: Ask whether a reboot would be allowed, changing nothing
  imagenode.health.reboot_guard:
    mode: query
  register: budget

- name: A stricter budget, two reboots a day and at most one per 8 hours after
  imagenode.health.reboot_guard:
    reason: "{{ health.summary }}"
    max_reboots: 2
    backoff_max: 28800

- name: Clear the budget after the node has been repaired
  imagenode.health.reboot_guard:
    mode: reset
    fault: "operator: SD card replaced"
"""

RETURN = r"""
changed:
  description: True when the state file was changed by a reservation or a reset (never in check mode).
  returned: always
  type: bool
fixed:
  description: Always null. A reservation fixes nothing; the reboot may.
  returned: always
  type: bool
  sample: null
needed:
  description: False for O(mode=query) and for a reset of an empty budget (no event log record then).
  returned: always
  type: bool
allowed:
  description:
    - Whether a reboot is allowed now. For O(mode=reserve) it has then been
      recorded (except in check mode); reboot only when this is true.
  returned: always
  type: bool
  sample: false
reboots_in_window:
  description: Reboots recorded within O(window), as in RV(after) (including one just reserved).
  returned: always
  type: int
  sample: 3
next_allowed_in:
  description:
    - Seconds until a reboot becomes allowed; 0 when RV(allowed) is true.
    - Also 0 when the refusal is because the state could not be written (RV(state_error)); try again any time.
  returned: always
  type: int
  sample: 2820
budget:
  description: The policy the decision was made with.
  returned: always
  type: dict
  contains:
    max_reboots:
      description: O(max_reboots).
      type: int
    window:
      description: O(window), seconds.
      type: int
    backoff_base:
      description: O(backoff_base), seconds.
      type: int
    backoff_max:
      description: O(backoff_max), seconds.
      type: int
  sample: {"max_reboots": 3, "window": 86400, "backoff_base": 3600, "backoff_max": 14400}
budget_unknown:
  description: True when the state file was unreadable, or was lost less than one O(window) ago, so the cautious rate applies.
  returned: always
  type: bool
state_path:
  description: The state file used.
  returned: always
  type: str
  sample: /var/lib/imagenode-health/reboot_budget.json
state_error:
  description: Why the state file could not be written.
  returned: when the state file could not be written
  type: str
before:
  description: The reboots in the window (newest 10, oldest first) when the module started.
  returned: always
  type: list
  elements: dict
  contains:
    epoch:
      description: When the reboot was reserved, seconds since the epoch (by the node's clock).
      type: float
    time:
      description: The same as UTC text.
      type: str
    boot_id:
      description: The boot the reservation was made in.
      type: str
    reason:
      description: O(reason).
      type: str
    evidence:
      description: A summary of O(evidence), at most 300 characters.
      type: str
    reservations:
      description: How often it was reserved in the same boot, when more than once.
      type: int
    budget_unknown:
      description: Present and true for a reservation made while the budget was unknown.
      type: bool
    recorded_epoch:
      description: The original epoch of a record that was dated in the future (clock behind) and re-dated.
      type: float
after:
  description: The reboots in the window at the end, as RV(before); in check mode, the prediction.
  returned: always
  type: list
  elements: dict
actions:
  description: The steps done, or in check mode the steps that would be done.
  returned: always
  type: list
  elements: str
  sample: ["recorded the reboot in /var/lib/imagenode-health/reboot_budget.json (reason: imagenode not sending)"]
summary:
  description: One line a person can read, saying why a reboot is or is not allowed, and when it will be.
  returned: always
  type: str
  sample: "reboot not allowed: budget spent: 3 reboots in the last 24h (last 0h12m ago); next allowed in 47m (backoff 1h)"
elapsed:
  description: Seconds the module took, on the monotonic clock.
  returned: always
  type: float
  sample: 0.004
event_log:
  description: The event log the record was appended to.
  returned: when a record was written
  type: str
event_log_error:
  description: Why the event log could not be written.
  returned: when the event log could not be written
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.imagenode.health.plugins.module_utils.ansible_recovery import (
    exit_with_recovery,
    recovery_argument_spec,
)
from ansible_collections.imagenode.health.plugins.module_utils.reboot_budget import OPTIONS, run_reboot_guard


def main():
    module = AnsibleModule(
        argument_spec=recovery_argument_spec(OPTIONS),
        required_if=[("mode", "reserve", ("reason",))],
        supports_check_mode=True,
    )
    params = module.params
    exit_with_recovery(module, "reboot_guard", lambda: run_reboot_guard(
        reason=params["reason"], evidence=params["evidence"], state_path=params["state_path"],
        max_reboots=params["max_reboots"], window=params["window"], backoff_base=params["backoff_base"],
        backoff_max=params["backoff_max"], mode=params["mode"], check_mode=module.check_mode))


if __name__ == "__main__":
    main()
