#!/usr/bin/python
# Copyright (c) 2026 imagenode-health contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r"""
module: audit_report
short_description: Write the fleet audit report (JSON and a self-contained HTML page) from node_health results
version_added: 0.1.0
description:
  - Takes every node's registered M(imagenode.health.node_health) result,
    unreachable nodes included, and writes one report as JSON and as an HTML
    page that needs no network to open - a grid of the fleet coloured by
    status, then per node every check with its summary and evidence, the
    WiFi signal and the latencies against the node's baseline.
  - Compares with the newest report already in O(dest_dir) and lists what
    changed - nodes newly failing (V(fail) or V(unreachable)), recovered, new
    and gone, and checks newly failing or recovered.
  - Each report is kept as C(audit-<UTC time>.json) and C(.html), and copied
    to C(latest.json) and C(latest.html); only the newest O(keep) timestamped
    reports are kept. Every file is written atomically.
  - Baselines - latency_check's own rolling baseline on the node (its median)
    when it has one; otherwise, and for the WiFi signal and the hub round
    trip, the median of the node's values in the previous reports (the last
    O(history) of them are carried in each report).
  - It runs on the controller (an action plugin); the input is read, the
    nodes are not contacted.
author:
  - imagenode-health contributors (@imagenode-health)
options:
  results:
    description:
      - Host name to that host's registered M(imagenode.health.node_health)
        result. An unreachable host's result (C(unreachable=true)) or an
        empty one makes the node V(unreachable); a reached host without a
        status (the module could not run) makes it V(fail).
    type: dict
    required: true
  dest_dir:
    description: Directory of the reports; created when missing.
    type: path
    required: true
  keep:
    description: How many timestamped reports to keep, the newest; V(0) keeps them all.
    type: int
    default: 30
  history:
    description: How many past values of each measurement a node's entry carries forward for its baseline.
    type: int
    default: 10
  fail_on:
    description:
      - Fail the task, after the reports are written, when a node is in a
        state this threshold counts - V(unreachable) counts unreachable nodes,
        V(fail) also failing ones, V(warn) also degraded ones; V(never) does
        not fail. A node that is only V(unknown) never counts.
      - Meant for a scheduled audit - the playbook exits non-zero.
    type: str
    choices: [never, unreachable, fail, warn]
    default: never
  title:
    description: Heading of the HTML page.
    type: str
    default: imagenode fleet audit
attributes:
  check_mode:
    description: Builds the report, compares it and says where it would go; writes and removes nothing.
    support: full
  diff_mode:
    description: The reports are new files each time, so no diff is shown.
    support: none
  platform:
    description: Runs on the Ansible controller.
    platforms: posix
    support: full
notes:
  - The HTML page holds no script and a Content Security Policy that lets it
    load nothing; every value from a node is HTML-escaped.
seealso:
  - module: imagenode.health.node_health
"""

EXAMPLES = r"""
- name: Check every node
  imagenode.health.node_health:
    config: /home/pi/imagenode.yaml
  register: health

- name: Write the report, fail when a node is failing or unreachable
  imagenode.health.audit_report:
    results: "{{ dict(ansible_play_hosts_all | zip(ansible_play_hosts_all | map('extract', hostvars, 'health'))) }}"
    dest_dir: /var/lib/imagenode-health/reports
    keep: 60
    fail_on: fail
  run_once: true
  register: report
"""

RETURN = r"""
status:
  description: The worst node state (an unreachable node counts as V(fail)); V(unknown) for no nodes.
  returned: always
  type: str
summary:
  description: One line a person can read - the counts and what changed.
  returned: always
  type: str
  sample: "7 node(s): 1 unreachable, 6 warn; newly failing: node7 (unreachable)"
elapsed:
  description: Seconds it took.
  returned: always
  type: float
evidence:
  description: The directory, the previous report compared with (or null), O(keep), O(history), whether files were written.
  returned: always
  type: dict
paths:
  description: The files of this report - C(json), C(html), C(latest_json), C(latest_html).
  returned: always
  type: dict
  sample: {"json": "/srv/reports/audit-20261201T020000Z.json", "html": "/srv/reports/audit-20261201T020000Z.html",
           "latest_json": "/srv/reports/latest.json", "latest_html": "/srv/reports/latest.html"}
report_id:
  description: The report's name, C(audit-<UTC time>).
  returned: always
  type: str
removed:
  description: Older report files removed to keep O(keep).
  returned: always
  type: list
  elements: str
total:
  description: Number of nodes.
  returned: always
  type: int
counts:
  description: Number of nodes in each state (V(ok), V(unknown), V(warn), V(fail), V(unreachable)).
  returned: always
  type: dict
nodes:
  description: Node name to its state.
  returned: always
  type: dict
changes:
  description:
    - What changed since the previous report, or null when there is none -
      C(newly_failing), C(recovered), C(status_changed) (each C(node), C(from), C(to)),
      C(new), C(gone) (node names), C(checks_newly_failing), C(checks_recovered)
      (each also with C(check) and C(summary)).
  returned: always
  type: dict
fail_on:
  description: The threshold used.
  returned: always
  type: str
over_threshold:
  description: The nodes O(fail_on) counts, worst first; the task failed when there is any.
  returned: always
  type: list
  elements: str
"""

import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.imagenode.health.plugins.module_utils.audit_report import OPTIONS, run_audit_report
from ansible_collections.imagenode.health.plugins.module_utils.check_result import CheckError


def main():
    module = AnsibleModule(argument_spec=OPTIONS, supports_check_mode=True)
    params = module.params
    try:
        result = run_audit_report(params["results"], params["dest_dir"], keep=params["keep"],
                                  history=params["history"], fail_on=params["fail_on"], title=params["title"],
                                  check_mode=module.check_mode, now=time.time())
    except (CheckError, IOError, OSError) as exc:
        module.fail_json(msg=str(exc))
    msg = "%s; report %s" % (result["summary"], result["paths"]["latest_html"])
    if result["over_threshold"]:
        module.fail_json(msg=msg, **result)
    module.exit_json(msg=msg, **result)


if __name__ == "__main__":
    main()
