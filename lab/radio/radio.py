#!/usr/bin/env python3
"""The lab's simulated radio: stand-ins for `nmcli` and `iw` on a lab node.

There is no WiFi hardware (and no mac80211_hwsim) on the lab machines, so
only the radio layer is simulated: what the tools report and which network
is joined. Joining a network changes REAL connectivity: the node's podman
link behind that network is brought up (with its default route) and every
other one down, with real `ip` commands (the container has NET_ADMIN).
Installed as /usr/local/bin/nmcli, /usr/local/bin/iw and /usr/local/sbin/lab-radio
(the same file; it acts on the name it was called by: lab-radio start|stop is
the NetworkManager.service stand-in). It reads the scenario,
/etc/lab-radio/scenario.json (or $LAB_RADIO_SCENARIO):

    {"interface": "wlan0",
     "current": "Barn",                 # SSID joined, or null
     "last": "Barn",                    # written here: what a (re)start rejoins
     "power_save": false,
     "networks": [                      # what a scan sees
        {"ssid": "Barn", "bssid": "02:00:00:00:01:01", "signal_dbm": -78,
         "freq": 2437, "rate": 54, "security": "WPA2",
         "podman_network": "imagenode-lab"}],   # the real network behind it
     "known": [{"name": "barn", "ssid": "Barn", "psk": "..."}],  # NM profiles
     "links": {"imagenode-lab": {"dev": "eth0", "gateway": "10.89.42.1"}},
     "service": "running",              # optional: NetworkManager.service
     "wedged": false}                   # optional: see below

`links` (written by labctl.set_radio from the inventory) maps a podman
network to the node's device and gateway on it. Joining network X
(`nmcli connection up id PROFILE`, `nmcli device wifi connect SSID`) sets
current=X (an atomic rewrite of the scenario) and brings X's link up
(`ip link set dev DEV up`, `ip route replace default via GW dev DEV`) and
every other listed link down; a network whose podman_network is not in
`links` (say "nowhere") has no route anywhere: all links go down.

With a `service` key, NetworkManager is a systemd unit (NetworkManager.service,
installed by set_radio): `lab-radio start` marks it running
(/run/lab-radio/running) and autoconnects to current (or last); `lab-radio
stop` disassociates (links down, current=null, nmcli says NetworkManager is
not running, iw says Not connected). Without a `service` key NetworkManager
always counts as running and nothing touches the links until a join.

A wedged driver is the flag file /run/lab-radio/wedged (set_radio writes it
for "wedged": true): association never succeeds until a reboot, which
clears /run (a tmpfs) as on a Pi.

A profile's "psk" is never printed: nmcli's -g/-f on
802-11-wireless-security.psk prints an empty value, as real nmcli does
without --show-secrets (which the stand-in refuses).
Output is exactly nmcli 1.42's terse format (-t: ':' separated, ':' and '\\'
escaped; SIGNAL in percent) and iw 5.19's `dev IF link` text, the formats
wifi_info's unit tests use. Unsupported invocations exit 2 ("Error: ...") as
nmcli does for bad arguments. Debian's python3 only.
"""
import fcntl
import json
import os
import subprocess
import sys
import tempfile
import uuid

SCENARIO = os.environ.get("LAB_RADIO_SCENARIO", "/etc/lab-radio/scenario.json")
RUN_DIR = os.environ.get("LAB_RADIO_RUN", "/run/lab-radio")
RUNNING = os.path.join(RUN_DIR, "running")
WEDGED = os.path.join(RUN_DIR, "wedged")
LOCK = os.path.join(RUN_DIR, "lock")
IP_PATH = "/usr/sbin:/sbin:/usr/bin:/bin"


def load():
    with open(SCENARIO) as f:
        return json.load(f)


def save(sc):
    """Rewrite the scenario atomically (a reader sees the old or the new one)."""
    directory = os.path.dirname(SCENARIO) or "."
    fd, tmp = tempfile.mkstemp(prefix=".scenario.", dir=directory)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(sc, f, indent=2)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, SCENARIO)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def locked():
    """An exclusive lock on the radio's state (joins, service start/stop)."""
    os.makedirs(RUN_DIR, exist_ok=True)
    fd = os.open(LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def has_service(sc):
    return "service" in sc


def nm_running(sc):
    return not has_service(sc) or os.path.exists(RUNNING)


def wedged():
    return os.path.exists(WEDGED)


def quality(dbm):
    """NetworkManager's percentage for a dBm level (-100 dBm 0 %, -50 dBm 100 %)."""
    return max(0, min(100, 2 * (int(dbm) + 100)))


def terse(value):
    return str(value).replace("\\", "\\\\").replace(":", "\\:")


def fail(message, code=2):
    sys.stderr.write("Error: %s\n" % message)
    sys.exit(code)


# ---- the real links behind the simulated networks ---------------------------

def ip(*argv):
    env = dict(os.environ, PATH=IP_PATH, LC_ALL="C")
    proc = subprocess.run(["ip"] + list(argv), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True)
    if proc.returncode != 0:
        sys.stderr.write("lab radio: ip %s: %s\n" % (" ".join(argv), proc.stderr.strip()))
    return proc.returncode == 0


def apply_links(sc, ssid):
    """Bring up the link of ssid's podman network (None: no network), all others down."""
    links = sc.get("links") or {}
    net = [n for n in sc.get("networks", []) if n["ssid"] == ssid]
    target = links.get(net[0].get("podman_network")) if net and ssid is not None else None
    for name, link in sorted(links.items()):
        if target is None or link["dev"] != target["dev"]:
            ip("link", "set", "dev", link["dev"], "down")
    if target is not None:
        ip("link", "set", "dev", target["dev"], "up")
        if target.get("gateway"):
            ip("route", "replace", "default", "via", target["gateway"], "dev", target["dev"])


def join(sc, ssid):
    """Associate with ssid: scenario current=ssid, then the real links."""
    sc["current"] = ssid
    if ssid is not None:
        sc["last"] = ssid
    save(sc)
    apply_links(sc, ssid)


def disassociate(sc):
    if sc.get("current") is not None:
        sc["last"] = sc["current"]
    sc["current"] = None
    save(sc)
    apply_links(sc, None)


def activate(sc, ssid):
    """A join as NetworkManager does it: fails when not running, not in range or wedged."""
    if not nm_running(sc):
        fail("NetworkManager is not running.", 8)
    if not [n for n in sc.get("networks", []) if n["ssid"] == ssid]:
        fail("Connection activation failed: (53) The Wi-Fi network could not be found.", 4)
    if wedged():
        # The driver never completes the association (until a reboot).
        disassociate(sc)
        fail("Connection activation failed: (1) Unknown reason (device wlan0 timed out associating).", 4)
    join(sc, ssid)


# ---- nmcli ----------------------------------------------------------------------

def nmcli_action(args, sc):
    """connection up / device wifi connect / device disconnect: the joins."""
    iface = sc.get("interface", "wlan0")
    known = sc.get("known", [])
    if args[:1] in (["connection"], ["con"], ["c"]) and args[1:2] == ["up"]:
        rest = args[2:]
        if rest[:1] in (["id"], ["uuid"]):
            rest = rest[1:]
        if not rest:
            fail("neither a valid connection nor device given.")
        name, extra = rest[0], rest[1:]
        if extra and (extra[0] != "ifname" or len(extra) != 2 or extra[1] != iface):
            fail("'%s' is not supported by the lab's nmcli stand-in." % " ".join(extra[:1]))
        found = [k for k in known if k["name"] == name or str(uuid.uuid5(uuid.NAMESPACE_DNS, k["name"])) == name]
        if not found:
            fail("unknown connection '%s'." % name, 10)
        fd = locked()
        try:
            sc = load()
            activate(sc, found[0]["ssid"])
        finally:
            os.close(fd)
        print("Connection successfully activated (D-Bus active path: "
              "/org/freedesktop/NetworkManager/ActiveConnection/%d)" % (1 + len(sc.get("networks", []))))
        return True
    if args[:3] == ["device", "wifi", "connect"] and len(args) >= 4:
        ssid, rest = args[3], args[4:]
        given_password = False
        while rest:
            key = rest.pop(0)
            if key in ("ifname", "password") and rest:
                value = rest.pop(0)  # a password is never echoed, not even in an error
                if key == "ifname" and value != iface:
                    fail("Device '%s' not found." % value, 10)
                given_password = given_password or key == "password"
            else:
                fail("'%s' is not supported by the lab's nmcli stand-in." % key)
        net = [n for n in sc.get("networks", []) if n["ssid"] == ssid]
        if not net:
            fail("No network with SSID '%s' found." % ssid, 10)
        if not [k for k in known if k["ssid"] == ssid] and net[0].get("security") and not given_password:
            fail("Connection activation failed: (7) Secrets were required, but not provided.", 4)
        fd = locked()
        try:
            sc = load()
            activate(sc, ssid)
        finally:
            os.close(fd)
        print("Device '%s' successfully activated with '%s'." % (iface, uuid.uuid5(uuid.NAMESPACE_DNS, ssid)))
        return True
    if args[:2] == ["device", "disconnect"] and len(args) == 3:
        if args[2] != iface:
            fail("Device '%s' not found." % args[2], 10)
        if not nm_running(sc):
            fail("NetworkManager is not running.", 8)
        fd = locked()
        try:
            sc = load()
            disassociate(sc)
        finally:
            os.close(fd)
        print("Device '%s' successfully disconnected." % iface)
        return True
    return False


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
        elif opt in ("-w", "--wait"):
            args.pop(0)  # joins here are immediate
        else:
            # --show-secrets included: the stand-in never prints a PSK.
            fail("option '%s' is not supported by the lab's nmcli stand-in." % opt)
    if not tersed:
        fail("the lab's nmcli stand-in only speaks terse output (-t).")
    if not nm_running(sc):
        fail("NetworkManager is not running.", 8)
    if nmcli_action(args, sc):
        return
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
        rows = [{"NAME": k["name"], "TYPE": "802-11-wireless", "DEVICE": iface if k["ssid"] == current else "",
                 "UUID": str(uuid.uuid5(uuid.NAMESPACE_DNS, k["name"]))}
                for k in sc.get("known", [])]
    elif args[:2] == ["connection", "show"] and len(args) == 4 and args[2] == "id":
        found = [k for k in sc.get("known", []) if k["name"] == args[3]]
        if not found:
            fail("%s - no such connection profile." % args[3], 10)
        # Secrets are never shown without --show-secrets: an empty value.
        rows = [{"802-11-wireless.ssid": found[0]["ssid"], "connection.id": found[0]["name"],
                 "connection.type": "802-11-wireless",
                 "802-11-wireless-security.key-mgmt": "wpa-psk" if "psk" in found[0] else "",
                 "802-11-wireless-security.psk": ""}]
    else:
        fail("'%s' is not supported by the lab's nmcli stand-in." % " ".join(args))
    for row in rows:
        keys = wanted or [k for k in row if k != "UUID"]
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
        if not current or not nm_running(sc):
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


# ---- the NetworkManager.service stand-in --------------------------------------

def service(argv):
    """lab-radio start|stop: ExecStart/ExecStop of NetworkManager.service;
    lab-radio apply: the links for the current network (labctl.set_radio)."""
    if argv not in (["start"], ["stop"], ["apply"]):
        sys.stderr.write("usage: lab-radio start|stop|apply\n")
        sys.exit(2)
    fd = locked()
    try:
        sc = load()
        if argv == ["apply"]:
            current = sc.get("current")
            apply_links(sc, current if nm_running(sc) and not wedged() else None)
        elif argv == ["start"]:
            with open(RUNNING, "w") as f:
                f.write("%d\n" % os.getpid())
            target = sc.get("current") or sc.get("last")
            known = [k["ssid"] for k in sc.get("known", [])]
            visible = [n["ssid"] for n in sc.get("networks", [])]
            if wedged() or target not in known or target not in visible:
                # autoconnect finds nothing it can join (or the driver hangs)
                disassociate(sc)
                print("lab radio: NetworkManager running, %s" % (
                    "driver wedged: no association" if wedged() else "nothing to autoconnect to"))
            else:
                join(sc, target)
                print("lab radio: NetworkManager running, autoconnected to %s" % target)
        else:
            disassociate(sc)
            if os.path.exists(RUNNING):
                os.unlink(RUNNING)
            print("lab radio: NetworkManager stopped, disassociated")
    finally:
        os.close(fd)


def main():
    name = os.path.basename(sys.argv[0])
    if name == "lab-radio":
        service(sys.argv[1:])
        return
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
