# Copyright (c) 2026 imagenode-health contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""hub_check as one call: where the hubs and the node name come from, then the probe."""

import socket

from .hub_probe import check_hubs
from .imagenode_config import hub_addresses, load_config, node_name as config_node_name

# hub_check's options, for the module and for node_health alike.
OPTIONS = {
    "hubs": {"type": "list", "elements": "str"},
    "config": {"type": "path"},
    "node_name": {"type": "str"},
    "timeout": {"type": "float", "default": 2.0},
    "attempts": {"type": "int", "default": 2},
}


def run_hub_check(hubs=None, config=None, node_name=None, timeout=2.0, attempts=2):
    """Hubs are `hubs`, or imagenode.yaml's hub_address H1, H2... from `config`.

    The node name is `node_name`, else the config's node.name, else the host name.
    """
    settings = load_config(config) if config else None
    if settings is not None:
        hubs = hub_addresses(settings, config)
        node_name = node_name or config_node_name(settings, config)
    if node_name is None:
        node_name = socket.gethostname().split(".")[0]
    result = check_hubs(list(hubs or []), node_name, timeout, attempts)
    result["evidence"]["source"] = config if config else "hubs"
    return result
