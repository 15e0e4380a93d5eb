# Copyright (c) 2026 imagenode-health contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""imagenode-monitor run | status | keys."""

import argparse
import json
import os
import sys

DEFAULT_KEYS = "/etc/imagenode-health/keys"
DEFAULT_STATE = "/var/lib/imagenode-monitor/state.json"


def _parser():
    parser = argparse.ArgumentParser(prog="imagenode-monitor", description="Heartbeat monitor for imagenode-health probes.")
    sub = parser.add_subparsers(dest="command")
    run = sub.add_parser("run", help="receive heartbeats, serve /metrics and /state.json")
    run.add_argument("--bind", default="tcp://*:5556", help="ZeroMQ endpoint of the ROUTER (default %(default)s)")
    run.add_argument("--keys", default=DEFAULT_KEYS,
                     help="directory with monitor.key_secret and clients/*.key (default %(default)s)")
    run.add_argument("--state", default=DEFAULT_STATE, help="state file (default %(default)s)")
    run.add_argument("--silent-after", type=float, default=3,
                     help="a node is silent after this many missed intervals (default %(default)s)")
    run.add_argument("--metrics", type=int, default=9108,
                     help="HTTP port for /metrics and /state.json, 0 for any free port, -1 for none (default %(default)s)")
    run.add_argument("--metrics-bind", default="127.0.0.1", help="HTTP bind address (default %(default)s)")
    run.add_argument("--max-nodes", type=int, default=100000, help="refuse new node names beyond this (default %(default)s)")
    run.add_argument("--names", choices=("key", "any"), default="key",
                     help="key: a heartbeat must name the node its key file (clients/NODE.key) is named after; "
                          "any: a key may report any node (default %(default)s)")
    run.add_argument("--live", action="store_true", help="redraw a table of the fleet every second")
    run.add_argument("--cpu", type=int, default=None, help="pin the monitor to this CPU")
    status = sub.add_parser("status", help="print the fleet from the state file or a running monitor")
    status.add_argument("--json", action="store_true", help="JSON instead of the table")
    status.add_argument("--state", default=DEFAULT_STATE, help="state file (default %(default)s)")
    status.add_argument("--url", default=None, help="a running monitor's http://HOST:PORT (or .../state.json)")
    keys = sub.add_parser("keys", help="generate a CURVE certificate pair")
    keys.add_argument("--dir", required=True, help="where to write NAME.key and NAME.key_secret")
    keys.add_argument("--name", required=True, help="monitor for the monitor's own pair, else a node or client name")
    keys.add_argument("--authorize", action="store_true", help="also copy NAME.key into DIR/clients/ (the allow list)")
    return parser


def _status(args):
    from .fleet import rederive, table_text
    from imagenode_health_core import atomic_file
    if args.url:
        import urllib.request
        url = args.url.rstrip("/")
        if not url.endswith("/state.json"):
            url += "/state.json"
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                snapshot = json.loads(response.read().decode("utf-8"))
        except Exception as exc:
            sys.stderr.write("imagenode-monitor: cannot read %s: %s\n" % (url, exc))
            return 2
    else:
        snapshot = atomic_file.read_json(args.state)
        if not isinstance(snapshot, dict):
            sys.stderr.write("imagenode-monitor: no readable state file at %s\n" % args.state)
            return 2
        rederive(snapshot)
    if args.json:
        out = {"nodes": snapshot.get("nodes") or {}, "generated": snapshot.get("generated"),
               "silent_after": snapshot.get("silent_after"), "monitor": snapshot.get("monitor") or {}}
        sys.stdout.write(json.dumps(out, indent=1, sort_keys=True) + "\n")
    else:
        sys.stdout.write(table_text(snapshot, colour=sys.stdout.isatty()))
    return 0


def main(argv=None):
    args = _parser().parse_args(argv)
    if args.command == "run":
        if args.cpu is not None and hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, {args.cpu})
        from .server import Monitor
        monitor = Monitor(bind=args.bind, keys_dir=args.keys, state_path=args.state,
                          silent_after=args.silent_after,
                          metrics_port=None if args.metrics < 0 else args.metrics,
                          metrics_bind=args.metrics_bind, live=args.live, max_nodes=args.max_nodes,
                          names=args.names)
        return monitor.run()
    if args.command == "status":
        return _status(args)
    if args.command == "keys":
        from .server import create_keys
        result = create_keys(args.dir, args.name, authorize=args.authorize)
        sys.stdout.write(json.dumps(result, sort_keys=True) + "\n")
        return 0
    _parser().print_help()
    return 2


if __name__ == "__main__":
    sys.exit(main())
