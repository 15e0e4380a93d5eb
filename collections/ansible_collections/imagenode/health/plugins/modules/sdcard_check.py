#!/usr/bin/python
# Copyright (c) 2026 imagenode-health contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r"""
module: sdcard_check
short_description: Look for early signs of a failing SD card on a camera node
version_added: 0.1.0
description:
  - Finds the block device holding O(path) from C(/proc/self/mountinfo) and C(/sys/class/block).
  - Counts mmc errors in the kernel log of the last O(window) seconds
    (C(mmc0 Timeout waiting for hardware interrupt), C(mmcblk0 error -110 ...)),
    only when that device is an mmc card; errors of other mmc devices (an
    empty slot on a Pi booted from USB) are reported apart.
  - Reads the ext4 error counters (C(/sys/fs/ext4/<dev>/errors_count),
    C(first_error_time)), notices a read-only (re)mount, and writes, fsyncs,
    reads back and verifies a small canary file on that filesystem.
  - Optionally keeps a sha256 manifest of program files (O(manifest=create),
    later O(manifest=verify)). Creating it is the module's one change
    (C(changed) is then true); in check mode it only says it would.
  - Estimates wear as bytes written per day since boot, from C(/sys/block/<disk>/stat).
  - RV(status) is V(fail) for a read-only mount, ext4 errors, a failed canary,
    changed or missing manifest files, or at least O(mmc_fail) mmc errors;
    V(warn) for at least O(mmc_warn) mmc errors, a missing manifest to verify,
    or writes above O(write_warn_mb_per_day); V(unknown) when none of the
    sources could be read. RV(evidence.sources) says which could.
author:
  - imagenode-health contributors (@imagenode-health)
extends_documentation_fragment:
  - imagenode.health.check
  - imagenode.health.root
options:
  path:
    description: A path on the filesystem to check.
    type: path
    default: /
  window:
    description: Seconds of kernel log to count mmc errors in.
    type: int
    default: 86400
  mmc_warn:
    description: mmc errors in the window from which the status is V(warn).
    type: int
    default: 1
  mmc_fail:
    description: mmc errors in the window from which the status is V(fail).
    type: int
    default: 10
  canary:
    description: Whether to write, fsync, read back and verify a small canary file (removed afterwards, also in check mode).
    type: bool
    default: true
  canary_dir:
    description:
      - Directory for the canary.
      - Defaults to the first writable one of C(/var/tmp), C(/tmp) and O(path) that is on the filesystem of O(path).
    type: path
  manifest:
    description:
      - V(create) records the sha256 of every file in O(manifest_paths) in O(manifest_file);
        V(verify) compares the files with it; V(none) does neither.
    type: str
    choices: [none, create, verify]
    default: none
  manifest_paths:
    description:
      - Files and directories (walked, without C(__pycache__) and C(.pyc)) of the manifest.
      - Required with O(manifest=create); with O(manifest=verify) the paths recorded in the manifest are the default.
    type: list
    elements: path
  manifest_file:
    description: Where the manifest is kept on the node.
    type: path
    default: /var/lib/imagenode-health/manifest.json
  write_warn_mb_per_day:
    description: Megabytes written per day (since boot) from which the status is V(warn). Not judged when unset.
    type: float
"""

EXAMPLES = r"""
- name: Check the SD card holding /
  imagenode.health.sdcard_check:
  register: sdcard

- name: Record checksums of the imagenode program once
  imagenode.health.sdcard_check:
    manifest: create
    manifest_paths:
      - /home/pi/imagenode/imagenode

- name: Later, verify them and count a week of mmc errors
  imagenode.health.sdcard_check:
    manifest: verify
    window: 604800
    write_warn_mb_per_day: 2000
"""

RETURN = r"""
status:
  description: V(ok), V(warn), V(fail) or V(unknown), as described above.
  returned: always
  type: str
  sample: warn
summary:
  description: One line a person can read.
  returned: always
  type: str
  sample: "3 mmc error(s) on mmcblk0 in the last 86400 s; 308.6 MB written/day"
elapsed:
  description: Seconds the check took.
  returned: always
  type: float
  sample: 0.05
device:
  description: The block device (partition) holding O(path), null when there is none (overlay, tmpfs).
  returned: always
  type: str
  sample: mmcblk0p2
disk:
  description: The whole disk of RV(device).
  returned: always
  type: str
  sample: mmcblk0
is_mmc:
  description: Whether the disk is an mmc (SD) card.
  returned: always
  type: bool
  sample: true
read_only:
  description: Whether the filesystem is mounted read-only; null when the mount is unknown.
  returned: always
  type: bool
  sample: false
mmc_errors:
  description: mmc errors on the card in the window.
  returned: always
  type: int
  sample: 3
ext4_errors:
  description: The ext4 C(errors_count), null when not ext4 or unreadable.
  returned: always
  type: int
  sample: 0
mb_written_per_day:
  description: Megabytes written to the disk per day since boot, null when unknown.
  returned: always
  type: float
  sample: 308.6
evidence:
  description: What the status was decided on.
  returned: always
  type: dict
  contains:
    path:
      description: The path checked.
      type: str
    window:
      description: Seconds of kernel log read.
      type: int
    sources:
      description: >-
        Which sources could be read: V(mountinfo), V(block_device), V(kernel_log), V(ext4_counters),
        V(canary), V(manifest), V(write_stats).
      type: dict
    mount:
      description: The mount point, filesystem type, source, device number and options of the mount.
      type: dict
    device:
      description: The partition.
      type: str
    disk:
      description: The disk.
      type: str
    is_mmc:
      description: Whether the disk is an mmc card.
      type: bool
    kernel_log:
      description: Where the log came from, mmc error counts on this card and elsewhere, and the latest lines.
      type: dict
    ext4:
      description: C(errors_count), C(first_error_time) and C(last_error_time), or null.
      type: dict
    canary:
      description: The canary directory, whether it verified, its error and milliseconds.
      type: dict
    manifest:
      description: The manifest mode, file, file count, and changed, missing and new files when verifying.
      type: dict
    writes:
      description: Bytes written since boot, megabytes per day and the threshold.
      type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.imagenode.health.plugins.module_utils.ansible_check import (
    check_argument_spec,
    exit_with_check,
)
from ansible_collections.imagenode.health.plugins.module_utils.sdcard_check import OPTIONS, run_sdcard_check


def main():
    module = AnsibleModule(
        argument_spec=check_argument_spec(OPTIONS),
        required_if=[("manifest", "create", ("manifest_paths",))],
        supports_check_mode=True,
    )
    params = module.params
    exit_with_check(module, lambda: run_sdcard_check(
        path=params["path"], window=params["window"], mmc_warn=params["mmc_warn"], mmc_fail=params["mmc_fail"],
        canary=params["canary"], canary_dir=params["canary_dir"], manifest=params["manifest"],
        manifest_paths=params["manifest_paths"], manifest_file=params["manifest_file"],
        write_warn_mb_per_day=params["write_warn_mb_per_day"], root=params["root"], check_mode=module.check_mode))


if __name__ == "__main__":
    main()
