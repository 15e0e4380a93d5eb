# Copyright (c) 2026 imagenode-health contributors
# SPDX-License-Identifier: BSD-2-Clause
"""imagenode-probe run | check | status | validate"""

import argparse
import json
import logging
import os
import sys

from imagenode_health_core.yaml_loader import parse_here, parse_in_child

from .config import DEFAULT_PATH, ConfigError, load


def _setup_logging(verbose):
    logging.basicConfig(stream=sys.stderr, level=logging.DEBUG if verbose else logging.INFO,
                        format="imagenode-probe %(levelname)s %(message)s")


def _print_check(report, as_json):
    health, plan = report["health"], report["plan"]
    if as_json:
        out = {"status": health["status"], "checks": health["checks"], "faults": plan["faults"],
               "next_step": plan["next_step"], "stop_reason": plan["stop_reason"], "hold": report["hold"],
               "step": report["step"], "last_action": report["last_action"], "selected": report["selected"]}
        print(json.dumps(out, indent=1, sort_keys=True, default=str))
        return
    print("status: %s" % health["status"])
    for name, result in sorted(health["checks"].items()):
        print("  %-15s %-7s %s" % (name, result.get("status"), result.get("summary")))
    if plan["healthy"]:
        print("no fault")
    for fault in plan["faults"]:
        print("fault %s: %s" % (fault["layer"], fault["summary"]))
    if plan["next_step"]:
        print("next step: %s" % plan["next_step"])
    if report["hold"]:
        print("not acting: %s" % report["hold"])
    if report["last_action"]:
        print("last action: %s" % json.dumps(report["last_action"], sort_keys=True))


def cmd_check(config, args):
    from .daemon import Probe
    probe = Probe(config)
    report = probe.run_cycle(act=args.act, send=False, write=args.act, debounce=False, probe_grace=False)
    _print_check(report, args.json)
    return 0 if report["health"]["status"] in ("ok", "unknown") else 1


def cmd_status(config, args):
    from imagenode_health_core.event_log import read_events
    from .outputs import read_state
    from .spool import Spool
    state = read_state(os.path.join(config["state_dir"], "state.json"))
    queue = len(Spool(config["queue_dir"], config["queue_max"]))
    events = read_events(config["event_log"])[-10:]
    if args.json:
        print(json.dumps({"state": state, "queue_length": queue, "events": events}, indent=1, sort_keys=True))
        return 0
    if not state:
        print("no probe state in %s (has the probe run?)" % config["state_dir"])
    else:
        print("node: %s   cycle: %s   updated: %s" % (state.get("node"), state.get("cycle"), state.get("updated")))
        print("step: %s   done this episode: %s" % (state.get("step"), ", ".join(state.get("done") or []) or "none"))
        if state.get("hold"):
            print("holding: %s" % state["hold"])
        print("last action: %s" % json.dumps(state.get("last_action"), sort_keys=True))
        print("last heartbeat ack: %s" % json.dumps(state.get("last_ack"), sort_keys=True))
        print("heartbeats acknowledged: %s" % state.get("heartbeats_sent", 0))
    print("queue length: %d (in %s)" % (queue, config["queue_dir"]))
    print("last %d event(s) in %s:" % (len(events), config["event_log"]))
    for event in events:
        summary = (event.get("evidence") or {}).get("summary") or ""
        print("  %s %-17s %-9s %s" % (event.get("time"), event.get("action"), event.get("result"), summary))
    return 0


def cmd_validate(config, args):
    """The configuration as the probe resolves it (defaults filled in); exit 2 when
    it is unusable. The probe role validates its template with this before
    replacing the file, so a bad setting never reaches a running probe."""
    print(json.dumps(config, indent=1, sort_keys=True))
    return 0


def cmd_run(config, args):
    from imagenode_health_core import imagenode_config
    from .daemon import Probe
    # The daemon never keeps PyYAML resident: imagenode.yaml is parsed in a python
    # child, and only when the file changes (imagenode_config keeps the parse).
    imagenode_config.use_parser(parse_in_child)
    Probe(config).run()
    return 0


class _Formatter(argparse.HelpFormatter):
    """argparse's help layout with the width given: its own lookup imports shutil
    (with bz2 and lzma), about 0.3 MiB that the daemon would keep for nothing."""

    def __init__(self, prog, **kwargs):
        kwargs.setdefault("width", _terminal_columns() - 2)
        argparse.HelpFormatter.__init__(self, prog, **kwargs)


def _terminal_columns():
    """$COLUMNS, else the terminal's width, else 80: shutil.get_terminal_size's order."""
    try:
        columns = int(os.environ.get("COLUMNS", "0"))
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns if columns > 0 else 80


def build_parser():
    parser = argparse.ArgumentParser(prog="imagenode-probe", description="imagenode-health's on-node probe",
                                     formatter_class=_Formatter)
    parser.add_argument("--config", default=DEFAULT_PATH, help="probe configuration (default %(default)s)")
    parser.add_argument("-v", "--verbose", action="store_true")
    common = argparse.ArgumentParser(add_help=False, formatter_class=_Formatter)  # --config also after the command
    common.add_argument("--config", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    common.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command")
    each = {"parents": [common], "formatter_class": _Formatter}
    sub.add_parser("run", help="the daemon (under systemd: Type=notify)", **each)
    check = sub.add_parser("check", help="one cycle; no action unless --act", **each)
    check.add_argument("--act", action="store_true", help="take the ladder's next step (grace still applies)")
    check.add_argument("--json", action="store_true")
    sub.add_parser("validate", help="check the configuration file and print it resolved", **each)
    status = sub.add_parser("status", help="the probe's state and the last events", **each)
    status.add_argument("--json", action="store_true")
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help(sys.stderr)
        return 2
    _setup_logging(args.verbose)
    try:
        # check and status work without a config file (defaults); run needs one.
        config = load(args.config, missing_ok=args.command not in ("run", "validate"),
                      parse=parse_in_child if args.command == "run" else parse_here)
    except ConfigError as exc:
        print("imagenode-probe: %s" % exc, file=sys.stderr)
        return 2
    commands = {"run": cmd_run, "check": cmd_check, "status": cmd_status, "validate": cmd_validate}
    return commands[args.command](config, args)
