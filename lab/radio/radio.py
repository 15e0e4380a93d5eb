#!/usr/bin/env python3
"""The lab's simulated radio: stand-ins for `nmcli` and `iw` on a lab node.

There is no WiFi hardware (and no mac80211_hwsim) on the lab machines, so
only the radio layer is simulated: what the tools report. Installed as
/usr/local/bin/nmcli and /usr/local/bin/iw (the same file; it acts on the
name it was called by). It reads the scenario, /etc/lab-radio/scenario.json
(or $LAB_RADIO_SCENARIO):

    {"interface": "wlan0",
     "current": "Barn",                 # SSID joined, or null
     "power_save": false,
     "networks": [                      # what a scan sees
        {"ssid": "Barn", "bssid": "02:00:00:00:01:01", "signal_dbm": -78,
         "freq": 2437, "rate": 54, "security": "WPA2",
         "podman_network": "imagenode-lab"}],   # the real network behind it
     "known": [{"name": "barn", "ssid": "Barn"}]}  # NetworkManager profiles

`podman_network` is what a later "join" will connect the node to, so that
choosing a network changes real connectivity; these tools only report.
Output is exactly nmcli 1.42's terse format (-t: ':' separated, ':' and '\\'
escaped; SIGNAL in percent) and iw 5.19's `dev IF link` text, the formats
wifi_info's unit tests use. Unsupported invocations exit 2 ("Error: ...") as
nmcli does for bad arguments. Debian's python3 only.
"""
import json
import os
import sys

SCENARIO = os.environ.get("LAB_RADIO_SCENARIO", "/etc/lab-radio/scenario.json")


def load():
    with open(SCENARIO) as f:
        return json.load(f)


def quality(dbm):
    """NetworkManager's percentage for a dBm level (-100 dBm 0 %, -50 dBm 100 %)."""
    return max(0, min(100, 2 * (int(dbm) + 100)))


def terse(value):
    return str(value).replace("\\", "\\\\").replace(":", "\\:")


def fail(message, code=2):
    sys.stderr.write("Error: %s\n" % message)
    sys.exit(code)


def nmcli(argv, sc):
    fields, get, tersed = None, None, False
    args = list(argv)
    while args and args[0].startswith("-"):
        opt = args.pop(0)
        if opt in ("-t", "--terse"):
            tersed = True
        elif opt in ("-f", "--fields"):
            fields = args.pop(0).split(",")
        elif opt in ("-g", "--get-values"):
            get = args.pop(0).split(",")
            tersed = True
        else:
            fail("option '%s' is not supported by the lab's nmcli stand-in." % opt)
    if not tersed:
        fail("the lab's nmcli stand-in only speaks terse output (-t).")
    wanted = get or fields
    iface = sc.get("interface", "wlan0")
    current = sc.get("current")
    if args[:1] == ["general"]:
        rows = [{"RUNNING": "running", "STATE": "connected" if current else "disconnected"}]
    elif args == ["device"] or args[:2] == ["device", "status"]:
        rows = [{"DEVICE": iface, "TYPE": "wifi", "STATE": "connected" if current else "disconnected"},
                {"DEVICE": "eth0", "TYPE": "ethernet", "STATE": "unmanaged"},
                {"DEVICE": "lo", "TYPE": "loopback", "STATE": "unmanaged"}]
    elif args[:3] == ["device", "wifi", "list"]:
        rows = []
        for net in sc.get("networks", []):
            rows.append({"IN-USE": "*" if net["ssid"] == current else " ", "SSID": net["ssid"],
                         "BSSID": net["bssid"].upper(), "SIGNAL": quality(net["signal_dbm"]),
                         "RATE": "%s Mbit/s" % net.get("rate", 54), "FREQ": "%s MHz" % net.get("freq", 2437),
                         "SECURITY": net.get("security", "WPA2")})
    elif args[:2] == ["connection", "show"] and len(args) == 2:
        rows = [{"NAME": k["name"], "TYPE": "802-11-wireless", "DEVICE": iface if k["ssid"] == current else ""}
                for k in sc.get("known", [])]
    elif args[:2] == ["connection", "show"] and len(args) == 4 and args[2] == "id":
        found = [k for k in sc.get("known", []) if k["name"] == args[3]]
        if not found:
            fail("%s - no such connection profile." % args[3], 10)
        rows = [{"802-11-wireless.ssid": found[0]["ssid"], "connection.id": found[0]["name"]}]
    else:
        fail("'%s' is not supported by the lab's nmcli stand-in." % " ".join(args))
    for row in rows:
        keys = wanted or list(row)
        unknown = [k for k in keys if k not in row]
        if unknown:
            fail("invalid field '%s'." % unknown[0])
        print(":".join(terse(row[k]) for k in keys))


def iw(argv, sc):
    iface = sc.get("interface", "wlan0")
    if len(argv) < 3 or argv[0] != "dev" or argv[1] != iface:
        sys.stderr.write("command failed: No such device (-19)\n")
        sys.exit(237)
    current = [n for n in sc.get("networks", []) if n["ssid"] == sc.get("current")]
    if argv[2:] == ["link"]:
        if not current:
            print("Not connected.")
            return
        net = current[0]
        print("Connected to %s (on %s)" % (net["bssid"].lower(), iface))
        print("\tSSID: %s\n\tfreq: %s" % (net["ssid"], net.get("freq", 2437)))
        print("\tsignal: %d dBm\n\ttx bitrate: %.1f MBit/s" % (net["signal_dbm"], float(net.get("rate", 54))))
    elif argv[2:] == ["get", "power_save"]:
        print("Power save: %s" % ("on" if sc.get("power_save") else "off"))
    else:
        sys.stderr.write("lab iw stand-in: '%s' is not supported\n" % " ".join(argv))
        sys.exit(1)


def main():
    name = os.path.basename(sys.argv[0])
    try:
        sc = load()
    except (OSError, ValueError) as exc:
        # No scenario: as if the radio were off (NetworkManager not running).
        if name == "nmcli":
            fail("NetworkManager is not running (lab radio: no scenario: %s)." % exc, 8)
        sys.stderr.write("command failed: No such device (-19)\n")
        sys.exit(237)
    (nmcli if name == "nmcli" else iw)(sys.argv[1:], sc)


if __name__ == "__main__":
    main()
