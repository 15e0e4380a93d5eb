# Copyright (c) 2026 imagenode-health contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later


class ModuleDocFragment(object):
    """The root option of checks that read /proc and /sys."""

    DOCUMENTATION = r"""
options:
  root:
    description:
      - Directory prefixed to the C(/proc) and C(/sys) paths the check reads.
      - Keep the default V(/) on a node; another directory holds a fake tree, for tests.
    type: path
    default: /
"""
