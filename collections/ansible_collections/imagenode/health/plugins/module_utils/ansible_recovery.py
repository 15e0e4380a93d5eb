# Copyright (c) 2026 imagenode-health contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""The Ansible side of every recovery module, kept out of the actions themselves."""

from .check_result import CheckError
from .recovery import EVENT_LOG, run_action

# The options every recovery module has (documented in the `recovery` doc fragment).
RECOVERY_ARGUMENT_SPEC = {
    "event_log": {"type": "path", "default": EVENT_LOG},
    "fault": {"type": "str"},
}


def recovery_argument_spec(own):
    """A module's own options plus the common ones."""
    spec = dict(RECOVERY_ARGUMENT_SPEC)
    spec.update(own)
    return spec


def exit_with_recovery(module, action, perform):
    """Run perform() as recovery action `action`, record it, and exit.

    The module fails when the action cannot run (CheckError). A fault that
    the action could not fix is a result (fixed: false), not a failure: the
    ladder goes on to the next step.
    """
    try:
        result = run_action(action, perform, check_mode=module.check_mode,
                            fault=module.params["fault"], event_log=module.params["event_log"])
    except CheckError as exc:
        module.fail_json(msg=str(exc))
    diff = result.pop("diff", None)
    if diff is not None and module._diff:
        result["diff"] = diff
    module.exit_json(**result)
