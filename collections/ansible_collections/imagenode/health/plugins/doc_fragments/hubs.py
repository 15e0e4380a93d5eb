# Copyright (c) 2026 imagenode-health contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later


class ModuleDocFragment(object):
    """Where the hubs come from: a list, or imagenode.yaml (the hubs/config pair)."""

    DOCUMENTATION = r"""
options:
  hubs:
    description:
      - Hub addresses of the form C(tcp://host:port), the first being the one imagenode uses.
      - Mutually exclusive with O(config).
    type: list
    elements: str
  config:
    description:
      - Path of an imagenode.yaml on the node; the hubs are its C(hub_address)
        C(H1), C(H2), C(H3)... in the order of their number.
      - Needs PyYAML (C(python3-yaml)) on the node.
    type: path
"""
