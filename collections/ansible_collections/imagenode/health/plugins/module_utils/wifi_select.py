# Copyright (c) 2026 imagenode-health contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""wifi_select: move to a stronger known network (or a named one), and roll back if it leads nowhere.

The decision uses wifi_info's data: the networks in the cached scan, the
configured (known) ones and the current signal. A network is joined only when
its signal beats the current one by `margin_db` (a node that is not associated
joins any candidate). After the join the action waits up to
`rollback_timeout` seconds for connectivity: at least one target answering
(by default the default gateway and the hub hosts, probed as ping_check does,
ICMP then a TCP connect to the hub's port). Without it the previous network is
joined again and checked, and the result says rolled_back.

Backends: NetworkManager (`nmcli connection up id PROFILE`), wpa_supplicant
(`wpa_cli select_network ID`) and macOS (`networksetup
-setairportnetwork IF SSID`, for a named network). Secrets are never read:
no --show-secrets, no PSK in an argument list, a result or a log.
"""

import platform
import time
from concurrent.futures import ThreadPoolExecutor

from .check_result import CheckError
from .command_runner import Runner
from .imagezmq_wire import parse_hub_address
from .ping_check import Prober, default_route, hub_hosts
from .recovery import Stopwatch, make_recovery_result
from .wifi_info import parse_wpa_list_networks, run_wifi_info, split_terse

OPTIONS = {
    "ssid": {"type": "str"},
    "margin_db": {"type": "int", "default": 8},
    "rollback_timeout": {"type": "float", "default": 30.0},
    "targets": {"type": "list", "elements": "str"},
    "hubs": {"type": "list", "elements": "str"},
    "config": {"type": "path"},
    "tcp_port": {"type": "int", "default": 22},
    "interface": {"type": "str"},
}


def _target(text, tcp_port):
    """'host', 'host:port' or 'tcp://host:port' as (host, port)."""
    text = text.strip()
    if text.startswith("tcp://"):
        return parse_hub_address(text)
    if text.count(":") == 1:
        host, port = text.split(":")
        if port.isdigit():
            return host, int(port)
    return text, tcp_port


class Reachability(object):
    """Probes the targets (default: the gateway of the moment plus the hub hosts)."""

    def __init__(self, runner, targets=None, hubs=None, config=None, tcp_port=22, prober=None):
        self.runner = runner
        self.explicit = [_target(t, tcp_port) for t in (targets or []) if t and t.strip()]
        self.hubs = [] if self.explicit else hub_hosts(hubs, config)
        self.tcp_port = tcp_port
        self.prober = prober or Prober(runner, 1, 1.0, True)

    def hosts(self):
        if self.explicit:
            return list(self.explicit)
        gateway = default_route(self.runner)[1]
        return ([(gateway, self.tcp_port)] if gateway else []) + self.hubs

    def probe(self):
        """{host: answered}."""
        hosts = self.hosts()
        if not hosts:
            return {}
        with ThreadPoolExecutor(max_workers=min(8, len(hosts))) as pool:
            futures = [(host, pool.submit(self.prober.probe, host, port, "target")) for host, port in hosts]
            return dict((host, bool(future.result()["answered"])) for host, future in futures)


def nm_profiles(runner):
    """{ssid: profile name} of NetworkManager's WiFi profiles (the first profile of an SSID)."""
    profiles = {}
    listing = runner.run(["nmcli", "-t", "-f", "NAME,TYPE", "connection", "show"])
    for fields in (split_terse(line) for line in (listing.stdout.splitlines() if listing.ok else [])):
        if len(fields) >= 2 and fields[1] == "802-11-wireless":
            got = runner.run(["nmcli", "-t", "-g", "802-11-wireless.ssid", "connection", "show", "id", fields[0]])
            ssid = split_terse(got.stdout.strip())[0] if got.ok and got.stdout.strip() else fields[0]
            profiles.setdefault(ssid, fields[0])
    return profiles


def wpa_ids(runner, interface):
    """{ssid: network id} of wpa_supplicant's configured networks."""
    listing = runner.run(["wpa_cli", "-i", interface, "list_networks"])
    ids = {}
    for net in parse_wpa_list_networks(listing.stdout if listing.ok else ""):
        ids.setdefault(net["ssid"], net["id"])
    return ids


def join_argv(backend, runner, interface, ssid, wait):
    """The command that joins ssid, or raises CheckError naming why it cannot."""
    if backend == "networkmanager":
        profile = nm_profiles(runner).get(ssid)
        if profile is None:
            raise CheckError("no NetworkManager profile for %s" % ssid)
        return [["nmcli", "-t", "-w", str(int(max(5, wait))), "connection", "up", "id", profile]
                + (["ifname", interface] if interface else [])]
    if backend == "wpa_supplicant":
        ids = wpa_ids(runner, interface)
        if ssid not in ids:
            raise CheckError("no wpa_supplicant network for %s" % ssid)
        return [["wpa_cli", "-i", interface, "select_network", str(ids[ssid])]]
    if backend == "airport":
        return [["networksetup", "-setairportnetwork", interface or "en0", ssid]]
    raise CheckError("the %s backend cannot join networks" % backend)


def _view(info, reachable=None):
    view = {"ssid": info.get("ssid") if info.get("connected") else None, "signal_dbm": info.get("signal_dbm"),
            "associated": bool(info.get("connected")), "backend": info.get("backend")}
    if reachable is not None:
        view["reachable"] = reachable
    return view


def _dbm(value):
    return "?" if value is None else "%d dBm" % value


def choose(info, ssid, margin_db):
    """(candidate dict or None, reason, joinable): what to join and why (or why not)."""
    current = info.get("ssid") if info.get("connected") else None
    current_dbm = info.get("signal_dbm") if current else None
    visible = {}
    for net in info.get("visible") or []:
        if net.get("ssid") and net.get("signal_dbm") is not None:
            visible[net["ssid"]] = max(visible.get(net["ssid"], -999), net["signal_dbm"])
    known = info.get("known") or []
    here = "%s at %s" % (current, _dbm(current_dbm)) if current else "not associated"
    if ssid is not None:
        if ssid == current:
            return None, "already on %s (%s)" % (ssid, _dbm(current_dbm)), False
        if info.get("backend") == "airport" and not visible:
            return {"ssid": ssid, "signal_dbm": None}, "named network %s (no scan data on macOS)" % ssid, True
        if ssid not in visible:
            return None, "%s is not visible (visible: %s); nothing done" % (
                ssid, ", ".join(sorted(visible)) or "none"), "invisible"
        if ssid not in known:
            return None, "%s is visible but not a known network; nothing done" % ssid, "unknown"
        candidate = {"ssid": ssid, "signal_dbm": visible[ssid]}
    else:
        options = [(dbm, name) for name, dbm in visible.items() if name in known and name != current]
        if not options:
            return None, "no other known network is visible (%s)" % here, False
        dbm, name = max(options)
        candidate = {"ssid": name, "signal_dbm": dbm}
    if current_dbm is None and current is not None:
        return candidate, "%s at %s; the current %s has no signal reading" % (
            candidate["ssid"], _dbm(candidate["signal_dbm"]), current), True
    if current is None:
        return candidate, "%s at %s; %s" % (candidate["ssid"], _dbm(candidate["signal_dbm"]), here), True
    gain = candidate["signal_dbm"] - current_dbm
    if gain < margin_db:
        return None, "%s at %s is %d dB %s than %s, less than the %d dB margin" % (
            candidate["ssid"], _dbm(candidate["signal_dbm"]), abs(gain), "stronger" if gain >= 0 else "weaker",
            here, margin_db), False
    return candidate, "%s at %s is %d dB stronger than %s (margin %d dB)" % (
        candidate["ssid"], _dbm(candidate["signal_dbm"]), gain, here, margin_db), True


def run_wifi_select(ssid=None, margin_db=8, rollback_timeout=30.0, targets=None, hubs=None, config=None,
                    tcp_port=22, interface=None, runner=None, check_mode=False, system=None, prober=None,
                    clock=time.monotonic, sleep=time.sleep, poll_interval=1.0):
    stopwatch = Stopwatch()
    if rollback_timeout <= 0:
        raise CheckError("rollback_timeout must be more than 0 seconds, not %r" % (rollback_timeout,))
    if hubs and config:
        raise CheckError("hubs and config are mutually exclusive")
    if targets and (hubs or config):
        raise CheckError("targets replaces the hubs: give targets or hubs/config, not both")
    runner = runner or Runner()
    system = system or platform.system()
    reach = Reachability(runner, targets, hubs, config, tcp_port, prober)

    info = run_wifi_info(interface=interface, runner=runner)
    if system == "Darwin" and info.get("backend") is None:
        info = dict(info, backend="airport")
    backend = info.get("backend")
    if backend not in ("networkmanager", "wpa_supplicant", "airport"):
        # No service to ask (NetworkManager stopped, no radio): a fault this
        # step cannot fix, so a result for the ladder, not a module failure.
        view = _view(info)
        return make_recovery_result(stopwatch, False, False, view, view,
                                    "no WiFi service that can join networks is running (wifi_info: %s)"
                                    % info.get("summary"), needed=True, backend=backend, previous=None,
                                    candidate=None, joined=None, rolled_back=False, back=None, reason=None, took=None)
    iface = interface or info.get("interface") or ("en0" if backend == "airport" else None)
    previous = info.get("ssid") if info.get("connected") else None
    before = _view(info, reach.probe())
    extra = {"backend": backend, "previous": previous, "candidate": None, "joined": None, "rolled_back": False,
             "back": None, "reason": None, "took": None}

    candidate, reason, joinable = choose(info, ssid, margin_db)
    extra.update(candidate=candidate, reason=reason)
    if joinable is not True:
        # Nothing worth doing (needed false), or a named network that cannot be joined (needed, not fixed).
        refused = joinable in ("invisible", "unknown")
        return make_recovery_result(stopwatch, False, False if refused else True, before, before, reason,
                                    needed=refused, **extra)

    argv = join_argv(backend, runner, iface, candidate["ssid"], rollback_timeout)
    back_argv = join_argv(backend, runner, iface, previous, rollback_timeout) if previous else None
    if check_mode:
        return make_recovery_result(stopwatch, False, None, before,
                                    dict(before, ssid=candidate["ssid"], signal_dbm=candidate["signal_dbm"],
                                         predicted=True),
                                    "would join %s: %s" % (candidate["ssid"], reason),
                                    actions=[" ".join(a) for a in argv], **extra)

    actions = []

    def join(commands, target_ssid):
        ok = True
        for command in commands:
            result = runner.run(command, timeout=rollback_timeout + 10)
            actions.append(" ".join(command))
            if not result.ok:
                ok = False
        # wait for the association and for a target to answer
        deadline = clock() + rollback_timeout
        while True:
            now_info = run_wifi_info(interface=interface, runner=runner)
            associated = bool(now_info.get("connected")) and now_info.get("ssid") == target_ssid
            reachable = reach.probe() if associated else {}
            if (associated and any(reachable.values())) or clock() >= deadline:
                return ok, associated and any(reachable.values()), _view(now_info, reachable)
            sleep(poll_interval)

    started = clock()
    ran, proven, after = join(argv, candidate["ssid"])
    if proven:
        if backend == "wpa_supplicant":
            # select_network disables the others; keep them as candidates for later.
            runner.run(["wpa_cli", "-i", iface, "enable_network", "all"])
            actions.append("wpa_cli -i %s enable_network all" % iface)
        extra.update(joined=candidate["ssid"], took=round(clock() - started, 3))
        return make_recovery_result(stopwatch, True, True, before, after, "joined %s: %s; %s answers" % (
            candidate["ssid"], reason, ", ".join(h for h, ok in after["reachable"].items() if ok)),
            actions=actions, **extra)
    failure = "the join of %s failed" % candidate["ssid"] if not ran else \
        "no connectivity on %s within %.0f s" % (candidate["ssid"], rollback_timeout)
    if not back_argv:
        extra.update(took=round(clock() - started, 3))
        return make_recovery_result(stopwatch, True, False, before, after,
                                    "%s; there was no previous network to go back to" % failure,
                                    actions=actions, **extra)
    _ran, back, after = join(back_argv, previous)
    if backend == "wpa_supplicant":
        runner.run(["wpa_cli", "-i", iface, "enable_network", "all"])
        actions.append("wpa_cli -i %s enable_network all" % iface)
    extra.update(rolled_back=True, took=round(clock() - started, 3), back=back)
    summary = "%s; rolled back to %s, %s" % (
        failure, previous, "connectivity is back" if back else "which has NO connectivity either")
    return make_recovery_result(stopwatch, True, False, before, after, summary, actions=actions, **extra)
