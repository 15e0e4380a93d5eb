# Copyright (c) 2026 imagenode-health contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""audit_report runs on the controller: its input is what the play already
registered and its output is files for the operator, so sending it to a node
would cost a round trip and put the reports in the wrong place. The module
file holds the documentation and the same logic for a direct call."""

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.plugins.action import ActionBase

from ansible_collections.imagenode.health.plugins.module_utils.audit_report import OPTIONS, run_audit_report
from ansible_collections.imagenode.health.plugins.module_utils.check_result import CheckError


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        validation = ArgumentSpecValidator(OPTIONS).validate(self._task.args)
        if validation.error_messages:
            raise AnsibleActionFail("audit_report: %s" % "; ".join(validation.error_messages))
        params = validation.validated_parameters
        try:
            report = run_audit_report(params["results"], params["dest_dir"], keep=params["keep"],
                                      history=params["history"], fail_on=params["fail_on"], title=params["title"],
                                      check_mode=bool(self._task.check_mode))
        except (CheckError, IOError, OSError) as exc:
            raise AnsibleActionFail("audit_report: %s" % exc)
        result.update(report)
        result["msg"] = "%s; report %s" % (report["summary"], report["paths"]["latest_html"])
        if report["over_threshold"]:
            # The reports are written by now: failing here only sets the exit status.
            result["failed"] = True
        return result
