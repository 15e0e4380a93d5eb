# Copyright (c) 2026 imagenode-health contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""zmq_reset: reset the ZMQ side of the node's hub link, then re-test the hub.

A REQ socket whose reply never came is stuck for good (see the imagezmq
notes): only a new socket, in practice a new context, gets it going. Three
parties may hold such a socket on a node:

- this action itself: every hub test makes a fresh socket with LINGER 0
  (hub_probe), so the re-test after the reset is never fooled by a stale one;
- the on-node probe: it resets its hub link on SIGUSR1, sent through systemd
  to its unit (`systemctl kill --signal=SIGUSR1`);
- imagenode: it has no such hook. Where a program does (hook_signal), its
  instances get that signal; otherwise the result says plainly that only a
  program restart (imagenode_restart) resets imagenode's socket.
"""

from .check_result import Stopwatch
from .command_runner import Runner
from .hub_check import OPTIONS as HUB_OPTIONS, run_hub_check
from .instance_check import find_instances
from .recovery import make_recovery_result

SIGNALS = ("none", "SIGUSR1", "SIGUSR2", "SIGHUP")

OPTIONS = dict(HUB_OPTIONS)
OPTIONS.update({
    "probe_unit": {"type": "str", "default": "imagenode-probe.service"},
    "hook_signal": {"type": "str", "choices": list(SIGNALS), "default": "none"},
    "pattern": {"type": "str", "default": "imagenode.py"},
    "force": {"type": "bool", "default": False},
})

NO_HOOK = "imagenode has no hook to reset its ZMQ socket: only a program restart (imagenode_restart) resets it"


def _hubs(result):
    return (result.get("evidence") or {}).get("hubs") or []


def _hub_view(result):
    hubs = _hubs(result)
    return {"first_healthy": result.get("healthy_hub"), "status": result["status"],
            "answering": [hub["address"] for hub in hubs if hub.get("ok")],
            "down": [hub["address"] for hub in hubs if not hub.get("ok")]}


def _primary_ok(result):
    hubs = _hubs(result)
    return bool(hubs) and bool(hubs[0].get("ok"))


def probe_active(runner, unit):
    result = runner.run(["systemctl", "is-active", "--quiet", unit])
    return result.ok


def run_zmq_reset(hubs=None, config=None, node_name=None, timeout=2.0, attempts=2, probe_unit="imagenode-probe.service",
                  hook_signal="none", pattern="imagenode.py", force=False, check_mode=False, runner=None,
                  hub_check=run_hub_check, instances=find_instances):
    stopwatch = Stopwatch()
    runner = runner or Runner(timeout=10.0)
    first = hub_check(hubs=hubs, config=config, node_name=node_name, timeout=timeout, attempts=attempts)
    before = _hub_view(first)
    if _primary_ok(first) and not force:
        return make_recovery_result(stopwatch, False, True, before, before,
                                    "the first hub answers a fresh socket; no link to reset", needed=False)
    steps = []
    if probe_unit and probe_active(runner, probe_unit):
        steps.append(("probe", "reset the probe's hub link (SIGUSR1 to %s)" % probe_unit))
    pids = []
    if hook_signal != "none":
        pids = [item["pid"] for item in instances(pattern)]
        if pids:
            steps.append(("hook", "send %s to imagenode pid %s" % (hook_signal, ", ".join(map(str, pids)))))
    notes = [] if hook_signal != "none" else [NO_HOOK]
    if check_mode:
        actions = ["would " + text for _kind, text in steps] + ["would re-test the hubs with a fresh socket"]
        return make_recovery_result(stopwatch, False, None, before, before, "; ".join(
            [text for _kind, text in steps] + notes) or "would re-test the hubs", actions=actions, notes=notes)
    done = []
    for kind, text in steps:
        if kind == "probe":
            result = runner.run(["systemctl", "kill", "--signal=SIGUSR1", probe_unit])
        else:
            result = runner.run(["kill", "-s", hook_signal.replace("SIG", "")] + [str(pid) for pid in pids])
        done.append(text if result.ok else "%s: failed (%s)" % (text, (result.stderr or result.error or "").strip()))
    second = hub_check(hubs=hubs, config=config, node_name=node_name, timeout=timeout, attempts=attempts)
    after = _hub_view(second)
    done.append("re-tested the hubs with a fresh socket")
    fixed = _primary_ok(second)
    if fixed:
        summary = "the first hub answers after the reset (%s)" % after["answering"][0]
    else:
        summary = "the first hub still does not answer a fresh socket (%s): not a stuck link" % (
            ", ".join(after["down"]) or "no hubs")
    if notes:
        summary += "; " + notes[0]
    return make_recovery_result(stopwatch, bool(steps), fixed, before, after, summary, actions=done, notes=notes)
