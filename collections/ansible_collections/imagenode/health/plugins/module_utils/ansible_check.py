# Copyright (c) 2026 imagenode-health contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""The Ansible side of every check module, kept out of the checks themselves.

The checks are plain Python shared with the probe; this turns their result
into module output: never `changed`, and a failure only when the check
cannot run or when `fail_on` asks for one.
"""

from .check_result import CheckError, at_least

# The options every check module has (documented in the `check` doc fragment).
CHECK_ARGUMENT_SPEC = {
    "fail_on": {"type": "str", "choices": ["never", "warn", "fail"], "default": "never"},
}


def check_argument_spec(own):
    """A module's own options plus the common ones."""
    spec = dict(CHECK_ARGUMENT_SPEC)
    spec.update(own)
    return spec


def exit_with_check(module, run):
    """Call run() and report its result the way every check module does."""
    try:
        result = run()
    except CheckError as exc:
        module.fail_json(msg=str(exc))
    # A check is read-only; the rare one with an opt-in action (sdcard_check
    # creating its manifest) says so with a "changed" key of its own.
    changed = bool(result.pop("changed", False))
    fail_on = module.params["fail_on"]
    if fail_on != "never" and at_least(result["status"], fail_on):
        module.fail_json(msg="%s (status %s, fail_on=%s)" % (result["summary"], result["status"], fail_on),
                         changed=changed, **result)
    module.exit_json(changed=changed, **result)
