# Copyright (c) 2026 imagenode-health contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""recovery_plan runs on the controller: it only reads a registered result,
so sending it to the node as a module would cost a round trip (seconds over
a slow link) for nothing. The module file holds the documentation and
the same logic for a direct call."""

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.plugins.action import ActionBase

from ansible_collections.imagenode.health.plugins.module_utils.ansible_check import check_argument_spec
from ansible_collections.imagenode.health.plugins.module_utils.check_result import CheckError, at_least
from ansible_collections.imagenode.health.plugins.module_utils.ladder import OPTIONS, plan_result


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        validation = ArgumentSpecValidator(check_argument_spec(OPTIONS)).validate(self._task.args)
        if validation.error_messages:
            raise AnsibleActionFail("recovery_plan: %s" % "; ".join(validation.error_messages))
        params = validation.validated_parameters
        try:
            plan = plan_result(params["health"], done=params["done"], fleet=params["fleet"], steps=params["steps"],
                               margin_db=params["margin_db"], fleet_threshold=params["fleet_threshold"])
        except CheckError as exc:
            raise AnsibleActionFail(str(exc))
        result.update(plan)
        result["changed"] = False
        if params["fail_on"] != "never" and at_least(plan["status"], params["fail_on"]):
            result["failed"] = True
            result["msg"] = "%s (status %s, fail_on=%s)" % (plan["summary"], plan["status"], params["fail_on"])
        return result
