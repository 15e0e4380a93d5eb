# Copyright (c) 2026 imagenode-health contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""imagenode-probe: the on-node daemon of imagenode-health.

Every check and recovery action it runs is the shared core's
(imagenode_health_core, the collection's module_utils): this package only
schedules them, keeps its state, sends heartbeats and writes its views.
Python 3.8 compatible; needs only python3-zmq, python3-psutil, python3-yaml.
"""

__version__ = "0.1.0"
