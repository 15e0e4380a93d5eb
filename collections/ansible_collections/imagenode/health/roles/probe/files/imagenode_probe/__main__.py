# SPDX-License-Identifier: BSD-2-Clause
"""python3 -m imagenode_probe"""

import sys

from .cli import main

sys.exit(main())
