# Copyright (c) 2026 imagenode-health contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later


class ModuleDocFragment(object):
    """What every read-only health check module shares."""

    DOCUMENTATION = r"""
options:
  fail_on:
    description:
      - An unhealthy node is a result, not a failure of the module. Set this
        to make the task fail when the check's RV(status) is at least this bad.
      - V(never) fails only when the check cannot run (bad arguments, for example).
    type: str
    choices: [never, warn, fail]
    default: never
attributes:
  check_mode:
    description: The check only reads, so check mode runs it in full and reports the same.
    support: full
  diff_mode:
    description: Nothing is changed, so there is no diff.
    support: none
  platform:
    description: Runs on the camera node (Linux; macOS where noted).
    platforms: posix
    support: full
notes:
  - Elapsed times are measured on the monotonic clock, since a Raspberry Pi has no RTC.
"""
