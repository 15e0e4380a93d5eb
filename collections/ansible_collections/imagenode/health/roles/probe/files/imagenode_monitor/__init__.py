# Copyright (c) 2026 imagenode-health contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""imagenode-monitor: receives the probes' heartbeats (ZeroMQ ROUTER, CURVE),
knows which nodes are healthy, degraded, failing or silent, and serves that as
a terminal table, JSON (/state.json, read by the inventory plugin) and
Prometheus /metrics."""

__version__ = "0.1.0"
