#!/usr/bin/python
# Copyright (c) 2026 imagenode-health contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r"""
module: power_check
short_description: Check a Raspberry Pi camera node for under-voltage, throttling and heat
version_added: 0.1.0
description:
  - Reads, most trusted first, the C(rpi_volt) hwmon sensor (C(in0_lcrit_alarm)),
    the thermal zone C(/sys/class/thermal/thermal_zone0/temp), the kernel log of
    the last O(window) seconds (C(Under-voltage detected!), C(Voltage normalised)),
    and only as a secondary source C(vcgencmd get_throttled).
  - The "has occurred" bits of C(get_throttled) (16-19) are cleared by the hwmon
    driver every 2 s on current kernels, so their absence is never taken as
    "never happened"; bits 0-3 (now) are used.
  - RV(status) is V(fail) for under-voltage now or a temperature of at least
    O(temp_fail); V(warn) for throttling now, under-voltage events in the window,
    or a temperature of at least O(temp_warn); V(unknown) when none of the
    sources exists (not a Pi, a container); else V(ok).
author:
  - imagenode-health contributors (@imagenode-health)
extends_documentation_fragment:
  - imagenode.health.check
  - imagenode.health.root
options:
  temp_warn:
    description: Temperature in degrees C from which the status is V(warn).
    type: float
    default: 70.0
  temp_fail:
    description: Temperature in degrees C from which the status is V(fail).
    type: float
    default: 80.0
  window:
    description: Seconds of kernel log to count under-voltage events in.
    type: int
    default: 3600
"""

EXAMPLES = r"""
- name: Check power and temperature
  imagenode.health.power_check:
  register: power

- name: Fail the task on a hot or under-powered node
  imagenode.health.power_check:
    temp_warn: 65
    temp_fail: 75
    window: 600
    fail_on: fail
"""

RETURN = r"""
status:
  description: V(ok), V(warn), V(fail) or V(unknown), as described above.
  returned: always
  type: str
  sample: ok
summary:
  description: One line a person can read.
  returned: always
  type: str
  sample: "no under-voltage, temperature 48.3 C (from hwmon, kernel_log, thermal, vcgencmd)"
elapsed:
  description: Seconds the check took.
  returned: always
  type: float
  sample: 0.021
undervoltage:
  description: Whether the node is under-voltage now (hwmon or vcgencmd), null when unknown.
  returned: always
  type: bool
  sample: false
throttled:
  description: Whether vcgencmd reports frequency capping, throttling or the soft temperature limit now; null without vcgencmd.
  returned: always
  type: bool
  sample: false
temperature_c:
  description: The thermal zone's temperature in degrees C, null when there is none.
  returned: always
  type: float
  sample: 48.3
evidence:
  description: What the status was decided on.
  returned: always
  type: dict
  contains:
    sources:
      description: Which sources could be read (V(hwmon), V(thermal), V(kernel_log), V(vcgencmd)).
      type: dict
    hwmon:
      description: The C(rpi_volt) hwmon directory and its C(in0_lcrit_alarm).
      type: dict
    temperature_c:
      description: Degrees C read from the thermal zone.
      type: float
    temp_warn:
      description: The warn threshold used.
      type: float
    temp_fail:
      description: The fail threshold used.
      type: float
    kernel_log:
      description: Where the kernel log came from, the window and the under-voltage and normalised event counts.
      type: dict
    vcgencmd:
      description: The raw C(get_throttled) value, its decoded flags, and any error.
      type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.imagenode.health.plugins.module_utils.ansible_check import (
    check_argument_spec,
    exit_with_check,
)
from ansible_collections.imagenode.health.plugins.module_utils.power_check import OPTIONS, run_power_check


def main():
    module = AnsibleModule(argument_spec=check_argument_spec(OPTIONS), supports_check_mode=True)
    params = module.params
    exit_with_check(module, lambda: run_power_check(
        temp_warn=params["temp_warn"], temp_fail=params["temp_fail"], window=params["window"],
        root=params["root"], check_mode=module.check_mode))


if __name__ == "__main__":
    main()
