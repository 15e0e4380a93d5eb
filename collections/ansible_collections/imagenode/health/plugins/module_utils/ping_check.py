# Copyright (c) 2026 imagenode-health contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""ping_check: layered reachability, so that a caller knows which layer to fix.

Layers, bottom up: `link` (the default route's interface is up), `gateway`
(the default gateway answers), `hub_host` (the hosts of the hubs answer),
`target` (extra targets answer). Each host is sent ICMP echo requests, from
this process where an ICMP socket opens (icmp_echo), else by the system `ping`
(iputils, busybox and macOS output parsed), and, when ICMP gets no answer or
cannot be used, tried with a TCP connect: to the hub's own port for hub hosts, to
`tcp_port` for the rest. A refused connection is an answer too: the host is up.

A layer is down only when ALL its hosts fail; and a lower layer that fails
while a higher one answers is only filtering probes (a gateway that drops
pings is not a dead network), which is a warning, not the failed layer.
Hosts of one layer are probed at once, in threads, so the check takes about
one probe's time per layer.
"""

import errno
import glob
import json
import os
import re
import socket
import struct
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from . import icmp_echo
from .check_result import FAIL, OK, UNKNOWN, WARN, CheckError, Stopwatch, make_result
from .command_runner import Runner, read_text, under_root
from .imagenode_config import hub_addresses, load_config
from .imagezmq_wire import parse_hub_address

LAYERS = ("link", "gateway", "hub_host", "target")

OPTIONS = {
    "hubs": {"type": "list", "elements": "str"},
    "config": {"type": "path"},
    "targets": {"type": "list", "elements": "str", "default": []},
    "interface": {"type": "str"},
    "gateway": {"type": "bool", "default": True},
    "count": {"type": "int", "default": 3},
    "timeout": {"type": "float", "default": 1.0},
    "tcp_port": {"type": "int", "default": 22},
    "tcp_fallback": {"type": "bool", "default": True},
    "loss_warn": {"type": "float", "default": 20.0},
    "rtt_warn_ms": {"type": "float", "default": 500.0},
    "root": {"type": "path", "default": "/"},
}

_TRANSMITTED = re.compile(r"(\d+) packets transmitted, (\d+) (?:packets )?received")
_LOSS = re.compile(r"([0-9.]+)% packet loss")
_RTT = re.compile(r"(?:rtt|round-trip) ([a-z/]+) = ([0-9./]+) ms")
_NAMES = {"stddev": "mdev"}


def parse_ping(text):
    """iputils, busybox or macOS ping output as {transmitted, received, loss_pct, rtt_ms}, or None."""
    sent = _TRANSMITTED.search(text or "")
    if not sent:
        return None
    transmitted, received = int(sent.group(1)), int(sent.group(2))
    loss = _LOSS.search(text)
    if loss:
        loss_pct = float(loss.group(1))
    else:
        loss_pct = 100.0 if not transmitted else round(100.0 * (transmitted - received) / transmitted, 1)
    rtt = None
    match = _RTT.search(text)
    if match:
        names, values = match.group(1).split("/"), match.group(2).split("/")
        if len(names) == len(values):
            try:
                rtt = dict((_NAMES.get(n, n), float(v)) for n, v in zip(names, values))
            except ValueError:
                rtt = None
    return {"transmitted": transmitted, "received": received, "loss_pct": loss_pct, "rtt_ms": rtt}


def ping_argv(host, count, timeout):
    """The ping command for this platform (macOS -W is in milliseconds)."""
    if sys.platform == "darwin":
        return ["ping", "-n", "-c", str(count), "-W", str(int(timeout * 1000)), host]
    return ["ping", "-n", "-c", str(count), "-i", "0.2", "-W", str(max(1, int(round(timeout)))), host]


def tcp_connect(host, port, timeout):
    """(answered, result, ms): connected or refused is an answer; a timeout or unreachable is not."""
    started = time.monotonic()
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except ConnectionRefusedError:
        return True, "refused", round((time.monotonic() - started) * 1000.0, 3)
    except socket.timeout:
        return False, "timeout", None
    except socket.gaierror as exc:
        return False, "cannot resolve: %s" % exc, None
    except OSError as exc:
        if exc.errno == errno.ECONNREFUSED:
            return True, "refused", round((time.monotonic() - started) * 1000.0, 3)
        return False, exc.strerror or str(exc), None
    took = round((time.monotonic() - started) * 1000.0, 3)
    sock.close()
    return True, "connected", took


def default_route(runner, root="/", prefer_proc=False):
    """(interface, gateway) of the default route with the lowest metric, from `ip -j route` or /proc/net/route.

    prefer_proc: read the kernel's table (/proc/net/route, the main table that
    `ip route show default` lists) first, and ask `ip` only where it is absent:
    the same answer without a child process every cycle.
    """
    if prefer_proc:
        text = read_text(under_root(root, "/proc/net/route"))
        if text is not None:
            return parse_proc_route(text)
    result = runner.run(["ip", "-j", "route", "show", "default"])
    if result.ok:
        try:
            routes = json.loads(result.stdout or "[]")
        except ValueError:
            routes = None
        if isinstance(routes, list):
            routes = [r for r in routes if isinstance(r, dict) and r.get("dst") == "default" and r.get("dev")]
            routes.sort(key=lambda r: r.get("metric", 0))
            if routes:
                return routes[0]["dev"], routes[0].get("gateway")
            return None, None
    return parse_proc_route(read_text(under_root(root, "/proc/net/route"), ""))


def parse_proc_route(text):
    """(interface, gateway) of the best default route in /proc/net/route (hex, little-endian)."""
    best = None
    for line in text.splitlines()[1:]:
        fields = line.split()
        # destination and mask 0: the default route (0.0.0.0/1 has destination 0 too)
        if len(fields) < 8 or fields[1] != "00000000" or fields[7] != "00000000":
            continue
        try:
            flags, metric = int(fields[3], 16), int(fields[6])
            gateway = socket.inet_ntoa(struct.pack("<I", int(fields[2], 16)))
        except (ValueError, struct.error):
            continue
        # RTF_UP; not RTF_REJECT (unreachable/prohibit/blackhole, no device: `ip -j` gives them no dev)
        if not flags & 0x1 or flags & 0x200 or fields[0] == "*":
            continue
        if best is None or metric < best[0]:
            best = (metric, fields[0], gateway if flags & 0x2 else None)
    return (best[1], best[2]) if best else (None, None)


def link_state(interface, root="/"):
    """{interface, operstate, carrier, up} from /sys/class/net; up is None when unreadable."""
    base = under_root(root, "/sys/class/net/%s" % interface)
    operstate = (read_text(os.path.join(base, "operstate")) or "").strip() or None
    carrier = (read_text(os.path.join(base, "carrier")) or "").strip() or None
    if operstate is None:
        up = None
    elif operstate == "up":
        up = True
    elif operstate == "unknown":  # tun, some WiFi drivers: trust the carrier
        up = carrier == "1"
    else:
        up = False
    return {"interface": interface, "operstate": operstate, "carrier": carrier, "up": up}


class Prober(object):
    """ICMP with the TCP fallback, for one host."""

    def __init__(self, runner, count, timeout, tcp_fallback, tcp=None):
        self.count = count
        self.timeout = timeout
        self.tcp_fallback = tcp_fallback
        self.tcp = tcp or tcp_connect
        # On the live system the echo is sent from this process (icmp_echo) where an ICMP
        # socket opens; a test's runner is never bypassed, and answers for ping.
        self.own_icmp = runner is None or getattr(runner, "live_system", False)
        self.runner = runner or Runner()
        self.icmp_usable = self.own_icmp or self.runner.which("ping") is not None

    def _ping_program(self, host):
        """(parsed ping output or None, error) from the ping program."""
        if self.runner.which("ping") is None:
            return None, "ping not found"
        result = self.runner.run(ping_argv(host, self.count, self.timeout),
                                 timeout=self.count * 0.2 + self.timeout + 3)
        parsed = parse_ping(result.stdout) if result.error is None else None
        if parsed is None:
            lines = (result.stderr or result.stdout or "").strip().splitlines()
            return None, result.error or (lines[-1] if lines else "rc %s, no statistics" % result.rc)
        return parsed, None

    def _icmp(self, host):
        """(ping's answer or None, error, how it was asked)."""
        if self.own_icmp:
            try:
                return icmp_echo.echo(host, self.count, self.timeout), None, None
            except icmp_echo.IcmpUnavailable:
                pass  # no ICMP socket for this process: the ping program (setuid or with file caps) may
            except socket.gaierror as exc:
                return None, "cannot resolve %s: %s" % (host, exc.strerror or exc), "socket"
            except OSError as exc:
                return None, exc.strerror or str(exc), "socket"
        parsed, error = self._ping_program(host)
        return parsed, error, "ping"

    def probe(self, host, port, layer):
        entry = {"host": host, "layer": layer, "answered": False, "method": None, "loss_pct": None, "rtt_ms": None,
                 "icmp_error": None, "tcp": None}
        if self.icmp_usable:
            parsed, error, via = self._icmp(host)
            entry["icmp_via"] = via or "%s socket" % parsed.pop("socket")
            if parsed is None:
                entry["icmp_error"] = error
            else:
                entry["loss_pct"], entry["rtt_ms"] = parsed["loss_pct"], parsed["rtt_ms"]
                if parsed["received"] > 0:
                    entry["answered"], entry["method"] = True, "icmp"
                else:
                    entry["icmp_error"] = "no ICMP reply (%d sent)" % parsed["transmitted"]
        else:
            entry["icmp_error"] = "ping not found"
        if not entry["answered"] and self.tcp_fallback and port:
            answered, outcome, took = self.tcp(host, port, self.timeout)
            entry["tcp"] = {"port": port, "result": outcome, "ms": took}
            if answered:
                entry["answered"], entry["method"] = True, "tcp"
        return entry


def hub_hosts(hubs, config):
    """[(host, port)] of the hubs, each host once (its first port)."""
    if config:
        hubs = hub_addresses(load_config(config), config)
    seen, hosts = set(), []
    for address in hubs or []:
        host, port = parse_hub_address(address)
        if host not in seen:
            seen.add(host)
            hosts.append((host, port))
    return hosts


def _probe_all(prober, plan):
    """{layer: [entry per host]} for the (layer, hosts) of plan, every host of every layer
    at once: the layers' answers do not depend on each other (run_ping_check reads them
    together afterwards), and each probe mostly waits, so the check takes as long as its
    slowest host instead of the sum of its layers (about 0.4 s for each layer at count 3)."""
    work = [(layer, host, port) for layer, hosts in plan for host, port in hosts]
    if len(work) == 1:  # one host (the probe's usual hub host, no gateway): no thread to start
        entries = [prober.probe(work[0][1], work[0][2], work[0][0])]
    elif work:
        with ThreadPoolExecutor(max_workers=min(16, len(work))) as pool:
            futures = [pool.submit(prober.probe, host, port, layer) for layer, host, port in work]
            entries = [future.result() for future in futures]
    else:
        entries = []
    found = dict((layer, []) for layer, _hosts in plan)
    for (layer, _host, _port), entry in zip(work, entries):
        found[layer].append(entry)
    return found


def _layer_status(entries):
    if not entries:
        return "none"
    answered = sum(1 for entry in entries if entry["answered"])
    return "up" if answered == len(entries) else "partial" if answered else "down"


def run_ping_check(hubs=None, config=None, targets=None, interface=None, gateway=True, count=3, timeout=1.0,
                   tcp_port=22, tcp_fallback=True, loss_warn=20.0, rtt_warn_ms=500.0, root="/", runner=None,
                   check_mode=False, tcp=None):
    stopwatch = Stopwatch()
    if hubs and config:
        raise CheckError("hubs and config are mutually exclusive")
    if count < 1 or timeout <= 0:
        raise CheckError("count must be at least 1 and timeout more than 0 (%r, %r)" % (count, timeout))
    if tcp_port is not None and not 1 <= tcp_port <= 65535:
        raise CheckError("tcp_port must be 1-65535, not %r" % (tcp_port,))
    given_runner, runner = runner, runner or Runner()
    hub_list = hub_hosts(hubs, config)
    target_list = [(host.strip(), tcp_port) for host in (targets or []) if host and host.strip()]

    route_dev, route_gw = default_route(runner, root, prefer_proc=True)
    dev = interface or route_dev
    layers = dict((name, {"status": "none", "hosts": []}) for name in LAYERS)
    if dev:
        link = link_state(dev, root)
        layers["link"] = {"status": "unknown" if link["up"] is None else "up" if link["up"] else "down",
                          "hosts": [], "interface": dev, "operstate": link["operstate"], "carrier": link["carrier"]}
    else:
        others = [os.path.basename(p) for p in sorted(glob.glob(under_root(root, "/sys/class/net/*")))
                  if os.path.basename(p) != "lo"]
        up = [name for name in others if link_state(name, root)["up"]]
        layers["link"] = {"status": "up" if up else "down" if others else "unknown", "hosts": [], "interface": None,
                          "up_interfaces": up, "note": "no default route"}
    prober = Prober(given_runner, count, timeout, tcp_fallback, tcp)
    plan = [("gateway", [(route_gw, tcp_port)] if gateway and route_gw and (not interface or interface == route_dev) else []),
            ("hub_host", hub_list), ("target", target_list)]
    link_down = layers["link"]["status"] == "down"
    probed = _probe_all(prober, [] if link_down else [(name, hosts) for name, hosts in plan if hosts])
    for name, hosts in plan:
        if link_down and hosts:
            layers[name] = {"status": "skipped", "hosts": [
                {"host": h, "layer": name, "answered": None, "method": None, "loss_pct": None, "rtt_ms": None,
                 "icmp_error": "not probed: the link is down", "tcp": None} for h, _p in hosts]}
            continue
        entries = probed.get(name, [])
        layers[name] = {"status": _layer_status(entries), "hosts": entries}
    if gateway and not route_gw:
        layers["gateway"]["note"] = "no default gateway"

    failed_layer = "link" if link_down else None
    filtered = []
    if failed_layer is None:
        for index, name in enumerate(LAYERS[1:], 1):
            if layers[name]["status"] != "down":
                continue
            higher_up = any(layers[h]["status"] in ("up", "partial") for h in LAYERS[index + 1:])
            if higher_up:
                filtered.append(name)
                continue
            failed_layer = name
            break

    problems = []
    for name in LAYERS[1:]:
        for entry in layers[name]["hosts"]:
            if not entry.get("answered"):
                continue
            if entry["method"] == "icmp" and entry["loss_pct"] is not None and entry["loss_pct"] >= loss_warn:
                problems.append("%s loses %.0f%% of pings" % (entry["host"], entry["loss_pct"]))
            avg = (entry["rtt_ms"] or {}).get("avg") if entry["method"] == "icmp" else (entry["tcp"] or {}).get("ms")
            if avg is not None and avg >= rtt_warn_ms:
                problems.append("%s answers in %.0f ms" % (entry["host"], avg))
        if layers[name]["status"] == "partial":
            down = [e["host"] for e in layers[name]["hosts"] if not e["answered"]]
            problems.append("%s %s not answering" % (name, ", ".join(down)))
    for name in filtered:
        problems.append("%s does not answer but a higher layer does (it filters probes)" % name)

    probed = [e for name in LAYERS[1:] for e in layers[name]["hosts"]]
    evidence = {"layers": layers, "interface": dev, "gateway": route_gw, "count": count, "timeout": timeout,
                "tcp_port": tcp_port, "tcp_fallback": tcp_fallback, "icmp": prober.icmp_usable,
                "loss_warn": loss_warn, "rtt_warn_ms": rtt_warn_ms}
    if failed_layer:
        status = FAIL
        if failed_layer == "link":
            if dev:
                summary = "link down: %s is %s" % (dev, layers["link"].get("operstate"))
            else:
                summary = "link down: no interface is up"
        else:
            hosts = ", ".join(e["host"] for e in layers[failed_layer]["hosts"])
            summary = "%s layer down: no answer from %s" % (failed_layer, hosts)
        below = [name for name in LAYERS[:LAYERS.index(failed_layer)] if layers[name]["status"] in ("up", "partial")]
        if below:
            summary += " (%s up)" % ", ".join(below)
    elif layers["link"]["status"] == "unknown" and not probed:
        status, summary = UNKNOWN, "no interface state and nothing to probe"
    elif problems:
        status, summary = WARN, "; ".join(problems)
    else:
        status = OK
        summary = "reachable: %s" % ", ".join("%s %s" % (name, layers[name]["status"]) for name in LAYERS
                                              if layers[name]["status"] not in ("none",))
    return make_result(status, summary, evidence, stopwatch, failed_layer=failed_layer,
                       targets=dict((e["host"], {"layer": e["layer"], "answered": e["answered"], "method": e["method"],
                                                 "loss_pct": e["loss_pct"], "rtt_ms": e["rtt_ms"],
                                                 "tcp_ms": (e["tcp"] or {}).get("ms")})
                                    for e in probed))
