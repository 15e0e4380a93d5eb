# Copyright (c) 2026 imagenode-health contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""wifi_info: the node's WiFi link, the networks it can see and the ones it knows.

Backends, in order: NetworkManager (`nmcli -t`), wpa_supplicant (`wpa_cli`,
with `iw` for signal, bitrate and power save), plain /proc/net/wireless, and
macOS `airport -I`. Scan results are the tools' cached ones: the check never
starts a scan, which would stall the link it is measuring.
"""

import glob
import os
import re

from .check_result import FAIL, OK, UNKNOWN, WARN, CheckError, Stopwatch, make_result
from .command_runner import Runner, read_text, under_root

OPTIONS = {
    "interface": {"type": "str"},
    "signal_warn": {"type": "int", "default": -70},
    "signal_fail": {"type": "int", "default": -80},
    "root": {"type": "path", "default": "/"},
}

AIRPORT = "/System/Library/PrivateFrameworks/Apple80211.framework/Versions/Current/Resources/airport"


def dbm_to_quality(dbm):
    """The usual linear mapping: -100 dBm is 0 %, -50 dBm and above is 100 %."""
    if dbm is None:
        return None
    return int(max(0, min(100, 2 * (dbm + 100))))


def quality_to_dbm(quality):
    if quality is None:
        return None
    return int(round(quality / 2.0 - 100))


def _int(text):
    try:
        return int(float(text))
    except (TypeError, ValueError):
        return None


def _float(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def split_terse(line):
    """One line of `nmcli -t` output into fields: ':' separates, '\\:' and '\\\\' are escapes."""
    fields, current, escaped = [], [], False
    for char in line:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == ":":
            fields.append("".join(current))
            current = []
        else:
            current.append(char)
    fields.append("".join(current))
    return fields


def parse_nmcli_devices(text):
    """`nmcli -t -f DEVICE,TYPE,STATE device` into [(device, type, state)]."""
    rows = []
    for line in text.splitlines():
        fields = split_terse(line)
        if len(fields) >= 3:
            rows.append((fields[0], fields[1], fields[2]))
    return rows


def parse_nmcli_wifi_list(text):
    """`nmcli -t -f IN-USE,SSID,BSSID,SIGNAL,RATE,FREQ,SECURITY device wifi list` into networks."""
    networks = []
    for line in text.splitlines():
        fields = split_terse(line)
        if len(fields) < 7:
            continue
        in_use, ssid, bssid, signal, rate, freq, security = fields[:7]
        quality = _int(signal)
        if not re.match(r"^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$", bssid) or quality is None:
            continue
        networks.append({"ssid": ssid, "bssid": bssid.lower(), "quality": quality,
                         "signal_dbm": quality_to_dbm(quality), "frequency": _int(freq.split()[0]) if freq else None,
                         "bitrate_mbps": _float(rate.split()[0]) if rate else None,
                         "security": security or None, "in_use": in_use.strip() == "*"})
    return networks


def parse_key_values(text, separator="="):
    """key=value lines (wpa_cli status) or 'key: value' lines (airport -I) into a dict."""
    values = {}
    for line in text.splitlines():
        if separator not in line:
            continue
        key, value = line.split(separator, 1)
        values[key.strip()] = value.strip()
    return values


def parse_wpa_list_networks(text):
    """`wpa_cli list_networks` into [{id, ssid, current, disabled}]."""
    networks = []
    for line in text.splitlines():
        fields = line.split("\t")
        if len(fields) < 3 or not fields[0].strip().isdigit():
            continue
        flags = fields[3] if len(fields) > 3 else ""
        networks.append({"id": int(fields[0]), "ssid": fields[1], "current": "[CURRENT]" in flags,
                         "disabled": "[DISABLED]" in flags})
    return networks


def parse_wpa_scan_results(text):
    """`wpa_cli scan_results` (bssid, frequency, signal level, flags, ssid; tabs) into networks."""
    networks = []
    for line in text.splitlines():
        fields = line.split("\t")
        if len(fields) < 4 or not re.match(r"^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$", fields[0]):
            continue
        level = _int(fields[2])
        if level is None:
            continue
        if level > 0:  # some drivers report unsigned levels
            level -= 256
        networks.append({"ssid": fields[4] if len(fields) > 4 else "", "bssid": fields[0].lower(),
                         "signal_dbm": level, "quality": dbm_to_quality(level), "frequency": _int(fields[1]),
                         "security": fields[3] or None})
    return networks


def parse_iw_link(text):
    """`iw dev IF link` into {connected, bssid, ssid, frequency, signal_dbm, bitrate_mbps}."""
    link = {"connected": False, "bssid": None, "ssid": None, "frequency": None, "signal_dbm": None,
            "bitrate_mbps": None}
    match = re.search(r"^Connected to ([0-9a-fA-F:]{17})", text, re.MULTILINE)
    if not match:
        return link
    link["connected"] = True
    link["bssid"] = match.group(1).lower()
    for key, pattern, convert in (("ssid", r"^\s*SSID: (.*)$", str), ("frequency", r"^\s*freq: ([0-9.]+)", _int),
                                  ("signal_dbm", r"^\s*signal: (-?[0-9]+) dBm", _int),
                                  ("bitrate_mbps", r"^\s*tx bitrate: ([0-9.]+) MBit/s", _float)):
        found = re.search(pattern, text, re.MULTILINE)
        if found:
            link[key] = convert(found.group(1))
    return link


def parse_power_save(text):
    """`iw dev IF get power_save` ("Power save: on") as True/False/None."""
    match = re.search(r"Power save:\s*(on|off)", text or "")
    return None if not match else match.group(1) == "on"


def parse_proc_wireless(text):
    """/proc/net/wireless: {interface: {status, link, level_dbm, noise}} after the two header lines."""
    interfaces = {}
    for line in text.splitlines()[2:]:
        if ":" not in line:
            continue
        name, rest = line.split(":", 1)
        fields = rest.split()
        if len(fields) < 4:
            continue
        link, level, noise = _float(fields[1].rstrip(".")), _float(fields[2].rstrip(".")), _float(fields[3].rstrip("."))
        if link is None or level is None:
            continue
        if level > 0:  # older drivers: unsigned
            level -= 256
        interfaces[name.strip()] = {"status": fields[0], "link": int(link), "level_dbm": int(level),
                                    "noise": None if noise is None else int(noise)}
    return interfaces


def wireless_interfaces(root="/"):
    """Interfaces with a /sys/class/net/IF/wireless or phy80211 directory, plus /proc/net/wireless's."""
    found = []
    for path in sorted(glob.glob(under_root(root, "/sys/class/net/*"))):
        if os.path.isdir(os.path.join(path, "wireless")) or os.path.exists(os.path.join(path, "phy80211")):
            found.append(os.path.basename(path))
    for name in parse_proc_wireless(read_text(under_root(root, "/proc/net/wireless"), "")):
        if name not in found:
            found.append(name)
    return found


def _empty(backend, interface):
    return {"backend": backend, "interface": interface, "connected": False, "ssid": None, "bssid": None,
            "signal_dbm": None, "quality": None, "bitrate_mbps": None, "frequency": None, "power_save": None,
            "visible": [], "known": [], "sources": []}


def _from_iw(info, runner, interface):
    """Fill signal, bitrate and power save from iw where the backend lacks them."""
    link = runner.run(["iw", "dev", interface, "link"])
    if link.ok:
        parsed = parse_iw_link(link.stdout)
        info["sources"].append("iw")
        if parsed["connected"]:
            info["connected"] = True
            for key in ("bssid", "ssid", "frequency", "signal_dbm", "bitrate_mbps"):
                if parsed[key] is not None:
                    info[key] = parsed[key]
    power = runner.run(["iw", "dev", interface, "get", "power_save"])
    if power.ok:
        info["power_save"] = parse_power_save(power.stdout)


def _from_proc(info, root, interface):
    entry = parse_proc_wireless(read_text(under_root(root, "/proc/net/wireless"), "")).get(interface)
    if entry is not None:
        info["sources"].append("/proc/net/wireless")
        if info["signal_dbm"] is None and entry["level_dbm"] > -256 and entry["level_dbm"] != 0:
            info["signal_dbm"] = entry["level_dbm"]
    return entry


def nmcli_backend(runner, interface):
    running = runner.run(["nmcli", "-t", "-f", "RUNNING", "general"])
    if not running.ok or running.stdout.strip() != "running":
        return None
    devices = runner.run(["nmcli", "-t", "-f", "DEVICE,TYPE,STATE", "device"])
    wifi = [row for row in parse_nmcli_devices(devices.stdout) if row[1] == "wifi"] if devices.ok else []
    if interface:
        wifi = [row for row in wifi if row[0] == interface]
    if not wifi:
        return None
    device, _type, state = wifi[0]
    info = _empty("networkmanager", device)
    info["sources"].append("nmcli")
    listing = runner.run(["nmcli", "-t", "-f", "IN-USE,SSID,BSSID,SIGNAL,RATE,FREQ,SECURITY",
                          "device", "wifi", "list", "ifname", device, "--rescan", "no"])
    networks = parse_nmcli_wifi_list(listing.stdout) if listing.ok else []
    current = [net for net in networks if net["in_use"]]
    info["visible"] = [dict((k, v) for k, v in net.items() if k not in ("in_use", "bitrate_mbps")) for net in networks]
    if state.startswith("connected") and current:
        net = current[0]
        info.update(connected=True, ssid=net["ssid"], bssid=net["bssid"], quality=net["quality"],
                    signal_dbm=net["signal_dbm"], bitrate_mbps=net["bitrate_mbps"], frequency=net["frequency"])
    connections = runner.run(["nmcli", "-t", "-f", "NAME,TYPE", "connection", "show"])
    for fields in (split_terse(line) for line in (connections.stdout.splitlines() if connections.ok else [])):
        if len(fields) >= 2 and fields[1] == "802-11-wireless":
            ssid = runner.run(["nmcli", "-t", "-g", "802-11-wireless.ssid", "connection", "show", "id", fields[0]])
            # -g is terse output too: a ':' or '\\' in the SSID comes escaped.
            name = split_terse(ssid.stdout.strip())[0] if ssid.ok and ssid.stdout.strip() else fields[0]
            if name not in info["known"]:
                info["known"].append(name)
    # iw reports dBm, which NetworkManager only gives as a percentage.
    _from_iw(info, runner, device)
    if info["connected"] and info["signal_dbm"] is not None:
        info["quality"] = dbm_to_quality(info["signal_dbm"]) if "iw" in info["sources"] else info["quality"]
    return info


def wpa_backend(runner, interface, root):
    if not interface:
        return None
    status = runner.run(["wpa_cli", "-i", interface, "status"])
    if not status.ok or "wpa_state=" not in status.stdout:
        return None
    values = parse_key_values(status.stdout)
    info = _empty("wpa_supplicant", interface)
    info["sources"].append("wpa_cli")
    if values.get("wpa_state") == "COMPLETED":
        info.update(connected=True, ssid=values.get("ssid"), bssid=(values.get("bssid") or "").lower() or None,
                    frequency=_int(values.get("freq")))
    networks = runner.run(["wpa_cli", "-i", interface, "list_networks"])
    if networks.ok:
        info["known"] = [net["ssid"] for net in parse_wpa_list_networks(networks.stdout) if not net["disabled"]]
    scan = runner.run(["wpa_cli", "-i", interface, "scan_results"])
    if scan.ok:
        info["visible"] = parse_wpa_scan_results(scan.stdout)
    _from_iw(info, runner, interface)
    if info["connected"] and info["signal_dbm"] is None:
        _from_proc(info, root, interface)
    if info["connected"] and info["signal_dbm"] is None:
        here = [net for net in info["visible"] if net["bssid"] == info["bssid"]]
        if here:
            info["signal_dbm"] = here[0]["signal_dbm"]
    info["quality"] = dbm_to_quality(info["signal_dbm"])
    return info


def proc_backend(runner, interface, root):
    if not interface:
        return None
    info = _empty("proc", interface)
    entry = _from_proc(info, root, interface)
    if entry is None:
        return None
    # /proc/net/wireless has no association state; a level means a link.
    info["connected"] = info["signal_dbm"] is not None
    info["quality"] = dbm_to_quality(info["signal_dbm"])
    _from_iw(info, runner, interface)
    return info


def airport_backend(runner):
    result = runner.run([AIRPORT, "-I"])
    if not result.ok:
        return None
    values = parse_key_values(result.stdout, ":")
    if "agrCtlRSSI" not in values and "AirPort" not in result.stdout:
        return None
    info = _empty("airport", "en0")
    info["sources"].append("airport")
    rssi = _int(values.get("agrCtlRSSI"))
    if values.get("state") == "running" and values.get("SSID"):
        info.update(connected=True, ssid=values.get("SSID"), signal_dbm=rssi, quality=dbm_to_quality(rssi),
                    bssid=(values.get("BSSID") or "").lower() or None, bitrate_mbps=_float(values.get("lastTxRate")))
    return info


def strongest_known(visible, known):
    """The visible network with the best signal whose SSID is a known one, or None."""
    candidates = [net for net in visible if net.get("ssid") in known and net.get("signal_dbm") is not None]
    if not candidates:
        return None
    best = max(candidates, key=lambda net: net["signal_dbm"])
    return {"ssid": best["ssid"], "bssid": best["bssid"], "signal_dbm": best["signal_dbm"]}


def run_wifi_info(interface=None, signal_warn=-70, signal_fail=-80, root="/", runner=None, check_mode=False):
    stopwatch = Stopwatch()
    if signal_fail > signal_warn:
        raise CheckError("signal_fail (%s dBm) must not be above signal_warn (%s dBm)" % (signal_fail, signal_warn))
    runner = runner or Runner()
    interfaces = wireless_interfaces(root)
    chosen = interface or (interfaces[0] if interfaces else None)
    info = nmcli_backend(runner, interface)
    if info is None:
        info = wpa_backend(runner, chosen, root) or proc_backend(runner, chosen, root)
    if info is None and chosen is None and os.path.exists(AIRPORT):
        info = airport_backend(runner)
    evidence = {"interfaces": interfaces, "signal_warn": signal_warn, "signal_fail": signal_fail}
    if info is None:
        what = "no wireless interface%s" % ("" if interface is None else " %s" % interface)
        if chosen:
            what = "wireless interface %s, but no backend could read it (nmcli, wpa_cli, /proc/net/wireless)" % chosen
        evidence.update(backend=None, sources=[], frequency=None)
        return make_result(UNKNOWN, what, evidence, stopwatch, interface=chosen, backend=None, connected=None,
                           ssid=None, bssid=None, signal_dbm=None, quality=None, bitrate_mbps=None, power_save=None,
                           visible=[], known=[], strongest_known=None)
    best = strongest_known(info["visible"], info["known"])
    evidence.update(backend=info["backend"], sources=info["sources"], frequency=info["frequency"])
    signal = info["signal_dbm"]
    if not info["connected"]:
        status, summary = FAIL, "%s is not associated with any network" % info["interface"]
    elif signal is None:
        status, summary = UNKNOWN, "%s on %s, but its signal level cannot be read" % (info["interface"], info["ssid"])
    else:
        status = FAIL if signal <= signal_fail else WARN if signal <= signal_warn else OK
        summary = "%s on %s at %d dBm" % (info["interface"], info["ssid"], signal)
        if status != OK:
            summary += " (%s at or below %d dBm)" % (status, signal_fail if status == FAIL else signal_warn)
    if info["power_save"]:
        summary += "; power save on (adds tens of ms of RTT)"
    if best and best["ssid"] != info["ssid"] and (signal is None or best["signal_dbm"] > signal):
        summary += "; known network %s is stronger at %d dBm" % (best["ssid"], best["signal_dbm"])
    return make_result(status, summary, evidence, stopwatch, interface=info["interface"], backend=info["backend"],
                       connected=info["connected"], ssid=info["ssid"], bssid=info["bssid"], signal_dbm=signal,
                       quality=info["quality"], bitrate_mbps=info["bitrate_mbps"], power_save=info["power_save"],
                       visible=sorted(info["visible"], key=lambda net: -(net.get("signal_dbm") or -999)),
                       known=info["known"], strongest_known=best)
