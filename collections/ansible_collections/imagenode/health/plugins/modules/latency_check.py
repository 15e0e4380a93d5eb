#!/usr/bin/python
# Copyright (c) 2026 imagenode-health contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r"""
module: latency_check
short_description: Time everyday operations on a node against its own rolling baseline
version_added: 0.1.0
description:
  - Times a small fsync'd write in O(path), reading it back after dropping it
    from the page cache, a process spawn (C(/bin/true)), and optionally
    C(ssh -o BatchMode=yes) to O(ssh_host). A marginal SD card or an overloaded
    node shows here before it fails.
  - Each probe is compared with the median of its own baseline, the last
    O(window) samples of healthy runs, kept on the node in O(state_file)
    (written atomically). The first O(learn_runs) runs only learn, and say so
    (C(learning baseline 2/5)).
  - A probe at least O(warn_factor) / O(fail_factor) times its baseline
    median (never less than O(floor_ms)), or over its absolute bound in
    O(warn_ms) / O(fail_ms), is V(warn) / V(fail); a probe that cannot run is V(fail).
  - In check mode the probes run but the baseline is not saved.
author:
  - imagenode-health contributors (@imagenode-health)
extends_documentation_fragment:
  - imagenode.health.check
options:
  path:
    description: Directory to time the write and read in (on the filesystem to watch, usually the SD card).
    type: path
    default: /var/tmp
  ssh_host:
    description:
      - Also time C(ssh -o BatchMode=yes <ssh_host> true), for example the node's own
        address. It needs key authentication that works without a prompt.
    type: str
  state_file:
    description: The JSON file holding the baseline on the node.
    type: path
    default: /var/lib/imagenode-health/latency.json
  learn_runs:
    description: Runs that only learn the baseline before probes are judged against it.
    type: int
    default: 5
  window:
    description: Samples per probe kept in the baseline (the most recent healthy ones).
    type: int
    default: 20
  warn_factor:
    description: A probe at least this many times its baseline median is V(warn).
    type: float
    default: 5.0
  fail_factor:
    description: A probe at least this many times its baseline median is V(fail).
    type: float
    default: 20.0
  floor_ms:
    description: Baselines below this many milliseconds count as this, so that tiny times do not flap.
    type: float
    default: 5.0
  warn_ms:
    description:
      - Absolute bounds in milliseconds per probe (V(write), V(read), V(spawn), V(ssh)) above which it is V(warn),
        applied from the first run.
      - Defaults are C(write) 1000, C(read) 500, C(spawn) 1000, C(ssh) 10000.
    type: dict
  fail_ms:
    description:
      - Absolute bounds in milliseconds per probe above which it is V(fail).
      - Defaults are C(write) 5000, C(read) 2000, C(spawn) 5000, C(ssh) 30000.
    type: dict
"""

EXAMPLES = r"""
- name: Time the SD card and process spawns against the node's baseline
  imagenode.health.latency_check:
  register: latency

- name: Include ssh to the node itself, with a tighter write bound
  imagenode.health.latency_check:
    path: /home/pi
    ssh_host: 127.0.0.1
    warn_ms:
      write: 300
"""

RETURN = r"""
status:
  description: V(ok), V(warn) or V(fail), as described above.
  returned: always
  type: str
  sample: warn
summary:
  description: One line a person can read; says when the baseline is still being learned.
  returned: always
  type: str
  sample: "write took 61.0 ms, 6x its baseline 10.0 ms (not added to the baseline)"
elapsed:
  description: Seconds the check took.
  returned: always
  type: float
  sample: 0.03
learning:
  description: Whether this run was still learning the baseline.
  returned: always
  type: bool
  sample: false
probes:
  description: One entry per probe (V(write), V(read), V(spawn) and, with O(ssh_host), V(ssh)).
  returned: always
  type: dict
  sample:
    write: {"ms": 61.0, "error": null, "status": "warn", "baseline_median_ms": 10.0, "baseline_samples": 20,
            "warn_ms": 1000.0, "fail_ms": 5000.0}
evidence:
  description: What the status was decided on.
  returned: always
  type: dict
  contains:
    path:
      description: Where the write and read were timed.
      type: str
    ssh_host:
      description: The ssh target, or null.
      type: str
    state_file:
      description: The baseline file.
      type: str
    saved:
      description: Whether the baseline was saved by this run.
      type: bool
    state_error:
      description: Why the baseline could not be saved, or null.
      type: str
    runs:
      description: Healthy runs in the baseline so far.
      type: int
    learn_runs:
      description: Runs that only learn.
      type: int
    window:
      description: Samples kept per probe.
      type: int
    warn_factor:
      description: The warn factor used.
      type: float
    fail_factor:
      description: The fail factor used.
      type: float
    floor_ms:
      description: The floor used for baselines.
      type: float
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.imagenode.health.plugins.module_utils.ansible_check import (
    check_argument_spec,
    exit_with_check,
)
from ansible_collections.imagenode.health.plugins.module_utils.latency_check import OPTIONS, run_latency_check


def main():
    module = AnsibleModule(argument_spec=check_argument_spec(OPTIONS), supports_check_mode=True)
    params = module.params
    exit_with_check(module, lambda: run_latency_check(
        path=params["path"], ssh_host=params["ssh_host"], state_file=params["state_file"],
        learn_runs=params["learn_runs"], window=params["window"], warn_factor=params["warn_factor"],
        fail_factor=params["fail_factor"], floor_ms=params["floor_ms"], warn_ms=params["warn_ms"],
        fail_ms=params["fail_ms"], check_mode=module.check_mode))


if __name__ == "__main__":
    main()
