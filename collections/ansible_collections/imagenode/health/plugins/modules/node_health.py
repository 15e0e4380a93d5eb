#!/usr/bin/python
# Copyright (c) 2026 imagenode-health contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r"""
module: node_health
short_description: Run every health check of a camera node in one round trip
version_added: 0.1.0
description:
  - Runs M(imagenode.health.hub_check), M(imagenode.health.ping_check),
    M(imagenode.health.wifi_info), M(imagenode.health.instance_check),
    M(imagenode.health.latency_check), M(imagenode.health.sdcard_check) and
    M(imagenode.health.power_check), or the ones in O(checks), in one module
    call and at once, and returns each result plus an overall status.
    This is what fleet audits use.
  - Each check takes the options of its own module as a dictionary in the
    option of its name (see the examples); they are validated like the module's.
  - A check that cannot run on this node (no hubs given, a missing library or
    tool) is V(unknown) with the reason; node_health itself does not fail for it.
  - RV(status) is the worst status among the checks that had data (V(fail),
    V(warn), V(ok)). A check with no data source does not make a healthy node
    V(unknown), but a check that could not run counts as V(warn). V(unknown)
    only when no check had data.
  - Sets the fact C(imagenode_health) (status, summary, and each check's status and summary).
author:
  - imagenode-health contributors (@imagenode-health)
extends_documentation_fragment:
  - imagenode.health.check
  - imagenode.health.hubs
notes:
  - O(hubs) and O(config) go to M(imagenode.health.hub_check) and M(imagenode.health.ping_check) unless their
    own options name hubs or a config.
  - The only change any check can make is M(imagenode.health.sdcard_check) creating its manifest when asked.
options:
  checks:
    description: The checks to run; all of them by default.
    type: list
    elements: str
    choices: [hub_check, ping_check, wifi_info, instance_check, latency_check, sdcard_check, power_check]
  hub_check:
    description: Options of M(imagenode.health.hub_check).
    type: dict
  ping_check:
    description: Options of M(imagenode.health.ping_check).
    type: dict
  wifi_info:
    description: Options of M(imagenode.health.wifi_info).
    type: dict
  instance_check:
    description: Options of M(imagenode.health.instance_check).
    type: dict
  latency_check:
    description: Options of M(imagenode.health.latency_check).
    type: dict
  sdcard_check:
    description: Options of M(imagenode.health.sdcard_check).
    type: dict
  power_check:
    description: Options of M(imagenode.health.power_check).
    type: dict
"""

EXAMPLES = r"""
- name: Audit a node in one round trip
  imagenode.health.node_health:
    config: /home/pi/imagenode.yaml
  register: health

- name: Only some checks, with their own options
  imagenode.health.node_health:
    checks: [ping_check, instance_check, sdcard_check]
    hubs:
      - tcp://hub1:5555
    instance_check:
      start_method: systemd
    sdcard_check:
      window: 3600

- name: Use the fact later in the play
  ansible.builtin.debug:
    msg: "{{ inventory_hostname }}: {{ imagenode_health.status }} - {{ imagenode_health.summary }}"
"""

RETURN = r"""
status:
  description: The worst status of the checks run.
  returned: always
  type: str
  sample: warn
summary:
  description: One line a person can read, naming the checks that are not ok.
  returned: always
  type: str
  sample: "1 of 7 checks not ok: instance_check warn (2 instances: ...); unknown: wifi_info, power_check"
elapsed:
  description: Seconds all checks took together.
  returned: always
  type: float
  sample: 2.1
checks:
  description: Each check's full result (status, summary, evidence, elapsed and its own keys), by name.
  returned: always
  type: dict
  sample: {"power_check": {"status": "unknown", "summary": "no power or temperature source on this node"}}
evidence:
  description: What the status was decided on.
  returned: always
  type: dict
  contains:
    checks_run:
      description: The checks run, in order.
      type: list
      elements: str
    by_status:
      description: The names of the checks with each status.
      type: dict
ansible_facts:
  description: Facts set for the host.
  returned: always
  type: dict
  contains:
    imagenode_health:
      description: The overall status and summary, the time of the check, and each check's status and summary.
      type: dict
      sample: {"status": "ok", "summary": "7 of 7 checks ok", "checked_at": 1764612000,
               "checks": {"ping_check": {"status": "ok", "summary": "reachable: link up, gateway up"}}}
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.imagenode.health.plugins.module_utils.ansible_check import (
    check_argument_spec,
    exit_with_check,
)
from ansible_collections.imagenode.health.plugins.module_utils.node_health import (
    CHECK_ORDER,
    CHECKS,
    run_node_health,
)


def validated_options(module):
    """Each check's dict validated against its own spec, as its module would."""
    options = {}
    for name in module.params["checks"] or CHECK_ORDER:
        given = module.params[name]
        if given is None:
            continue
        result = ArgumentSpecValidator(CHECKS[name].options).validate(given)
        if result.error_messages:
            module.fail_json(msg="%s: %s" % (name, "; ".join(result.error_messages)))
        options[name] = dict((key, value) for key, value in result.validated_parameters.items() if key in given)
    return options


def run(module):
    result = run_node_health(checks=module.params["checks"], options=validated_options(module),
                             hubs=module.params["hubs"], config=module.params["config"],
                             check_mode=module.check_mode)
    result["ansible_facts"] = {"imagenode_health": result.pop("facts")}
    return result


def main():
    own = dict(
        checks=dict(type="list", elements="str", choices=list(CHECK_ORDER)),
        hubs=dict(type="list", elements="str"),
        config=dict(type="path"),
    )
    for name in CHECK_ORDER:
        own[name] = dict(type="dict")
    module = AnsibleModule(
        argument_spec=check_argument_spec(own),
        mutually_exclusive=[("hubs", "config")],
        supports_check_mode=True,
    )
    exit_with_check(module, lambda: run(module))


if __name__ == "__main__":
    main()
