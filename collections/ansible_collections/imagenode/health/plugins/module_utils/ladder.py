# Copyright (c) 2026 imagenode-health contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""The recovery ladder: what is wrong, and which step to take next.

One implementation for recover.yml (through the recovery_plan module) and
the probe. The ladder, least invasive first:

    zmq_reset -> hub_failover -> wifi_restart -> wifi_select
              -> imagenode_restart -> reboot

Diagnose before acting: each fault names the layer that failed, and only
the steps that can fix that layer are taken, in ladder order, never going
back down. After every step the node is checked again and the next step is
chosen from the faults that remain; the climb stops when none remain.

Two guards keep a node from being "fixed" for someone else's fault:
- a hub whose host answers while its port does not (ping_check's hub_host
  layer is up) has a dead hub program: no node action fixes that;
- a hub that fails for most nodes of the play (fleet_down_hubs, worked out
  by the caller across nodes) is down, not the nodes.
In both cases the climb stops after the hub steps (zmq_reset, hub_failover).
"""

from .check_result import FAIL, OK, CheckError, Stopwatch, make_result

LADDER = ("zmq_reset", "hub_failover", "wifi_restart", "wifi_select", "imagenode_restart", "reboot")

# Which steps can fix each layer, in ladder order.
REMEDIES = {
    "hub": ("zmq_reset", "hub_failover", "imagenode_restart", "reboot"),
    "hub_down": ("zmq_reset", "hub_failover"),
    "network": ("wifi_restart", "wifi_select", "reboot"),
    "wifi_weak": ("wifi_select",),
    "program": ("imagenode_restart", "reboot"),
    "storage": ("reboot",),
}

OPTIONS = {
    "health": {"type": "dict", "required": True},
    "done": {"type": "list", "elements": "str", "default": []},
    "fleet": {"type": "list", "elements": "dict", "default": []},
    "fleet_threshold": {"type": "float", "default": 0.5},
    "steps": {"type": "list", "elements": "str", "default": list(LADDER)},
    "margin_db": {"type": "int", "default": 8},
}


def _check(checks, name):
    result = checks.get(name) or {}
    return result if result.get("status") else None


def _fault(layer, check, summary, **extra):
    fault = {"layer": layer, "check": check, "summary": summary}
    fault.update(extra)
    return fault


def _hub_faults(hub, ping, fleet_down_hubs):
    hubs = (hub.get("evidence") or {}).get("hubs") or []
    if not hubs or hubs[0].get("ok"):
        return []
    primary = hubs[0]["address"]
    alternates = [h["address"] for h in hubs[1:] if h.get("ok")]
    host_up = ping is not None and ((ping.get("evidence") or {}).get("layers") or {}).get(
        "hub_host", {}).get("status") in ("up", "partial")
    if primary in fleet_down_hubs:
        why = "hub %s fails for most nodes in the play: the hub is down, not this node" % primary
        return [_fault("hub_down", "hub_check", why, hub=primary, alternates=alternates)]
    if host_up and hubs[0].get("tcp") != "no answer from host":
        why = "hub %s's host answers but the hub does not: its program is down, not this node" % primary
        return [_fault("hub_down", "hub_check", why, hub=primary, alternates=alternates)]
    return [_fault("hub", "hub_check", hub.get("summary"), hub=primary, alternates=alternates)]


def _wifi_faults(wifi, margin_db):
    if wifi is None or wifi.get("status") == "unknown":
        return []
    if wifi.get("connected") is False:
        return [_fault("network", "wifi_info", wifi.get("summary"))]
    best, signal = wifi.get("strongest_known"), wifi.get("signal_dbm")
    if wifi.get("status") in ("warn", "fail") and best and best.get("ssid") != wifi.get("ssid") \
            and signal is not None and best.get("signal_dbm") is not None \
            and best["signal_dbm"] - signal >= margin_db:
        return [_fault("wifi_weak", "wifi_info", wifi.get("summary"), better=best["ssid"])]
    return []


def diagnose(checks, fleet_down_hubs=(), margin_db=8):
    """The faults in a node_health `checks` dict: [{layer, check, summary}],
    most basic layer first. An empty list means healthy (warnings that no
    step can fix, such as a slow SD card, are not faults here)."""
    faults = []
    ping = _check(checks, "ping_check")
    network_down = ping is not None and ping.get("status") == "fail" and \
        ping.get("failed_layer") in ("link", "gateway")
    if network_down:
        faults.append(_fault("network", "ping_check", ping.get("summary")))
    else:
        faults.extend(_wifi_faults(_check(checks, "wifi_info"), margin_db))
    hub = _check(checks, "hub_check")
    if hub is not None and hub.get("status") == "fail" and not network_down:
        faults.extend(_hub_faults(hub, ping, list(fleet_down_hubs)))
    inst = _check(checks, "instance_check")
    if inst is not None and (inst.get("status") == "fail" or inst.get("duplicates")):
        faults.append(_fault("program", "instance_check", inst.get("summary")))
    sd = _check(checks, "sdcard_check")
    if sd is not None and sd.get("status") == "fail":
        faults.append(_fault("storage", "sdcard_check", sd.get("summary")))
    return faults


def applicable(faults, allowed=LADDER):
    """The steps that can fix any of the faults, in ladder order."""
    wanted = set()
    for fault in faults:
        wanted.update(REMEDIES[fault["layer"]])
    return [step for step in LADDER if step in wanted and step in allowed]


def ceiling(faults):
    """The highest step allowed: a hub that is down caps the climb at the hub steps."""
    if any(fault["layer"] == "hub_down" for fault in faults):
        others = [fault for fault in faults if fault["layer"] not in ("hub_down", "program")]
        # A program that exits because its hub is down is the hub's fault too.
        if not others:
            return "hub_failover"
    return LADDER[-1]


def next_step(health, done=(), fleet=(), steps=LADDER, margin_db=8, fleet_threshold=0.5):
    """{healthy, faults, next_step, remaining, stop_reason, fleet_down_hubs} for
    a node_health result; fleet is the hub_check result of every node in the play."""
    for step in list(done) + list(steps):
        if step not in LADDER:
            raise CheckError("unknown ladder step %r (the ladder is %s)" % (step, ", ".join(LADDER)))
    checks = health.get("checks")
    if not isinstance(checks, dict):
        raise CheckError("health must be a node_health result (it has no checks)")
    down = fleet_down_hubs(list(fleet), fleet_threshold)
    faults = diagnose(checks, down, margin_db)
    result = {"healthy": not faults, "faults": faults, "next_step": None, "remaining": [], "stop_reason": None,
              "fleet_down_hubs": down}
    if not faults:
        result["stop_reason"] = "healthy"
        return result
    top = LADDER.index(ceiling(faults))
    last = max([LADDER.index(step) for step in done] or [-1])
    remaining = [step for step in applicable(faults, steps) if last < LADDER.index(step) <= top]
    result["remaining"] = remaining
    if remaining:
        result["next_step"] = remaining[0]
    elif LADDER.index(ceiling(faults)) < len(LADDER) - 1:
        result["stop_reason"] = "; ".join(f["summary"] for f in faults if f["layer"] == "hub_down") + \
            ": not climbing past the hub steps"
    else:
        result["stop_reason"] = "no step left that can fix: %s" % "; ".join(
            "%s (%s)" % (f["layer"], f["summary"]) for f in faults)
    return result


def fleet_down_hubs(hub_results, threshold=0.5, minimum=2):
    """Hubs that fail for more than `threshold` of the nodes that use them
    (and at least `minimum` nodes): hub_results is a list of hub_check
    results, one per node."""
    used, down = {}, {}
    for result in hub_results:
        for hub in ((result or {}).get("evidence") or {}).get("hubs") or []:
            used[hub["address"]] = used.get(hub["address"], 0) + 1
            if not hub.get("ok"):
                down[hub["address"]] = down.get(hub["address"], 0) + 1
    return sorted(address for address, count in down.items()
                  if count >= minimum and count > threshold * used[address])


def plan_result(health, done=(), fleet=(), steps=LADDER, margin_db=8, fleet_threshold=0.5):
    """next_step() in the check-result shape (status, summary, evidence, elapsed)."""
    stopwatch = Stopwatch()
    plan = next_step(health, done, fleet, steps, margin_db, fleet_threshold)
    if plan["healthy"]:
        summary = "no fault"
    else:
        summary = "; ".join("fault %s (%s)" % (f["layer"], f["summary"]) for f in plan["faults"])
        summary += "; next step %s" % plan["next_step"] if plan["next_step"] else "; stop: %s" % plan["stop_reason"]
    evidence = {"done": list(done), "steps": list(steps)}
    return make_result(OK if plan["healthy"] else FAIL, summary, evidence, stopwatch, **plan)
