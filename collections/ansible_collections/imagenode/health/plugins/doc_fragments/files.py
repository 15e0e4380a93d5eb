# Copyright (c) 2026 imagenode-health contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later


class ModuleDocFragment(object):
    """Modules that create files on the node once and keep them."""

    DOCUMENTATION = r"""
options: {}
attributes:
  check_mode:
    description: Reads the files and says what it would write; writes nothing.
    support: full
  diff_mode:
    description: The files hold secrets or are generated, so no diff is shown.
    support: none
  platform:
    description: Runs on the camera node or the hub (Linux or macOS).
    platforms: posix
    support: full
notes:
  - Files are written atomically (temp file, fsync, rename) with their final
    owner and mode set before the rename, so a power cut leaves the old file
    or the new one and a secret is never readable by others.
"""
