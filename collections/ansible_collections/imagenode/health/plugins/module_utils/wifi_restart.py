# Copyright (c) 2026 imagenode-health contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""wifi_restart: restart the WiFi service the node really uses, and prove the link came back.

The service is detected, in order: NetworkManager (its systemd unit is active
or enabled, or `nmcli general` answers), wpa_supplicant
(wpa_supplicant@IF.service, else wpa_supplicant.service), dhcpcd
(dhcpcd.service). On macOS the WiFi power is cycled with `networksetup
-setairportpower IF off` / `on`. The restart is `systemctl reset-failed UNIT`
then `systemctl restart UNIT`; then the action polls (monotonic clock) until
the interface is associated (wifi_info's view) and the default gateway
answers (ping_check's probe), or the timeout passes.
"""

import platform
import re
import time

from .check_result import CheckError
from .command_runner import Runner
from .ping_check import Prober, default_route
from .recovery import Stopwatch, make_recovery_result
from .wifi_info import run_wifi_info

OPTIONS = {
    "interface": {"type": "str"},
    "timeout": {"type": "float", "default": 60.0},
    "force": {"type": "bool", "default": False},
}

ENABLED = ("enabled", "enabled-runtime", "static", "alias")


def _systemctl_state(runner, verb, unit):
    result = runner.run(["systemctl", verb, unit])
    return (result.stdout or "").strip().splitlines()[0] if result.error is None and result.stdout.strip() else None


def _unit_in_use(runner, unit):
    """True when the unit is active or enabled (loaded, not merely installed)."""
    if _systemctl_state(runner, "is-active", unit) in ("active", "activating", "reloading"):
        return True
    return _systemctl_state(runner, "is-enabled", unit) in ENABLED


def _nmcli_running(runner):
    result = runner.run(["nmcli", "-t", "-f", "RUNNING", "general"])
    return result.ok and result.stdout.strip() == "running"


def detect_service(runner, interface=None, system=None):
    """{"service": name, "unit": systemd unit or None, "interface": ...}; CheckError when none is found."""
    system = system or platform.system()
    if system == "Darwin":
        return {"service": "airport", "unit": None, "interface": interface or "en0"}
    if runner.which("systemctl") is None:
        raise CheckError("no systemctl on this node: cannot restart its WiFi service")
    if _unit_in_use(runner, "NetworkManager.service") or _nmcli_running(runner):
        return {"service": "NetworkManager", "unit": "NetworkManager.service", "interface": interface}
    units = (["wpa_supplicant@%s.service" % interface] if interface else []) + ["wpa_supplicant.service"]
    for unit in units:
        if _unit_in_use(runner, unit):
            return {"service": "wpa_supplicant", "unit": unit, "interface": interface}
    if _unit_in_use(runner, "dhcpcd.service"):
        return {"service": "dhcpcd", "unit": "dhcpcd.service", "interface": interface}
    raise CheckError("no WiFi service found (NetworkManager, wpa_supplicant@%s, wpa_supplicant, dhcpcd)"
                     % (interface or "IF"))


def restart_commands(found):
    """The argument lists that restart the detected service."""
    if found["service"] == "airport":
        return [["networksetup", "-setairportpower", found["interface"], "off"],
                ["networksetup", "-setairportpower", found["interface"], "on"]]
    return [["systemctl", "reset-failed", found["unit"]], ["systemctl", "restart", found["unit"]]]


def _darwin_gateway(runner):
    result = runner.run(["route", "-n", "get", "default"])
    match = re.search(r"^\s*gateway:\s*(\S+)", result.stdout or "", re.MULTILINE) if result.ok else None
    return match.group(1) if match else None


def link_state(runner, interface=None, system=None, prober=None):
    """{ssid, signal_dbm, associated, gateway, gateway_ok}: wifi_info's view plus the gateway probe."""
    info = run_wifi_info(interface=interface, runner=runner)
    gateway = _darwin_gateway(runner) if (system or platform.system()) == "Darwin" else default_route(runner)[1]
    gateway_ok = False
    if gateway:
        prober = prober or Prober(runner, 1, 1.0, True)
        gateway_ok = bool(prober.probe(gateway, 22, "gateway")["answered"])
    return {"associated": bool(info.get("connected")) and bool(info.get("ssid")), "ssid": info.get("ssid"),
            "signal_dbm": info.get("signal_dbm"), "gateway": gateway, "gateway_ok": gateway_ok}


def _healthy(state):
    return state["associated"] and state["gateway_ok"]


def _describe(state):
    if not state["associated"]:
        text = "not associated"
    else:
        text = "on %s%s" % (state["ssid"], "" if state["signal_dbm"] is None else " at %d dBm" % state["signal_dbm"])
    if state["gateway"]:
        text += ", gateway %s %s" % (state["gateway"], "answers" if state["gateway_ok"] else "does not answer")
    else:
        text += ", no default gateway"
    return text


def run_wifi_restart(interface=None, timeout=60.0, force=False, runner=None, check_mode=False, system=None,
                     clock=time.monotonic, sleep=time.sleep, poll_interval=0.5, prober=None):
    stopwatch = Stopwatch()
    if timeout <= 0:
        raise CheckError("timeout must be more than 0 seconds, not %r" % (timeout,))
    runner = runner or Runner()
    system = system or platform.system()
    found = detect_service(runner, interface, system)
    commands = restart_commands(found)

    def state():
        return link_state(runner, interface, system, prober)

    before = state()
    what = found["unit"] or "WiFi power on %s" % found["interface"]
    extra = {"service": found["service"], "unit": found["unit"], "took": None}
    if _healthy(before) and not force:
        return make_recovery_result(stopwatch, False, True, before, before,
                                    "%s; %s not restarted" % (_describe(before), what), needed=False, **extra)
    if check_mode:
        return make_recovery_result(stopwatch, False, None, before, dict(before, predicted=True),
                                    "would restart %s (%s): %s" % (what, found["service"], _describe(before)),
                                    actions=[" ".join(argv) for argv in commands], **extra)
    actions = []
    started = clock()
    for argv in commands:
        result = runner.run(argv, timeout=max(30.0, timeout))
        actions.append(" ".join(argv))
        if argv[1:2] == ["restart"] or argv[-1] == "on":
            if not result.ok:
                detail = (result.error or (result.stderr or result.stdout or "").strip() or "rc %s" % result.rc)
                after = state()
                return make_recovery_result(stopwatch, True, _healthy(after), before, after,
                                            "restart of %s failed: %s; %s" % (what, detail, _describe(after)),
                                            actions=actions, **extra)
    deadline = started + timeout
    while True:
        after = state()
        if _healthy(after) or clock() >= deadline:
            break
        sleep(poll_interval)
    took = round(clock() - started, 3)
    extra["took"] = took
    fixed = _healthy(after)
    if fixed:
        summary = "restarted %s; back in %.1f s: %s" % (what, took, _describe(after))
    else:
        summary = "restarted %s; after %.1f s still %s" % (what, took, _describe(after))
    return make_recovery_result(stopwatch, True, fixed, before, after, summary, actions=actions, **extra)
