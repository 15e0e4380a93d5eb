# Copyright (c) 2026 imagenode-health contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later


class ModuleDocFragment(object):
    """What every recovery module shares."""

    DOCUMENTATION = r"""
options:
  event_log:
    description:
      - The node's event log. Every run outside check mode that had something
        to do appends a record here (time, node, fault, action, result,
        evidence), written atomically and rotated; it survives reboots.
      - Set to an empty string to keep no record.
    type: path
    default: /var/lib/imagenode-health/events.json
  fault:
    description:
      - What was seen that made this action necessary (for example the failed
        check's summary). It goes into the event log record.
    type: str
attributes:
  check_mode:
    description: Check mode looks at the node and reports what would be done (RV(actions)), changing nothing.
    support: full
  diff_mode:
    description: The action changes services and processes, not files, so there is no diff.
    support: none
  platform:
    description: Runs on the camera node (Linux; macOS where noted).
    platforms: posix
    support: full
notes:
  - The module fails only when it cannot run. A fault it could not fix is a
    result (RV(fixed) false), so a playbook can go on to the next step of the ladder.
  - C(changed) is true only when something was done.
  - Times are measured on the monotonic clock, since a Raspberry Pi has no RTC.
"""
