# Copyright (c) 2026 imagenode-health contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""wifi_select's decisions (margin, named networks, rollback, secrets) on a fake radio.

There is no radio here: FakeRadio answers nmcli, iw, wpa_cli, ip and systemctl
in their real formats from a small state, and a join changes that state, the
way the lab's radio stand-in does (the lab then makes it change real links).
"""

import json

import pytest

from ansible_collections.imagenode.health.plugins.module_utils.check_result import CheckError
from ansible_collections.imagenode.health.plugins.module_utils.command_runner import CommandResult
from ansible_collections.imagenode.health.plugins.module_utils.event_log import read_events
from ansible_collections.imagenode.health.plugins.module_utils.recovery import run_action
from ansible_collections.imagenode.health.plugins.module_utils.wifi_select import choose, run_wifi_select
from ansible_collections.imagenode.health.tests.unit.plugins.fake_runner import FakeRunner

PSK = "correct-horse-battery-staple-7731"


def terse(value):
    return str(value).replace("\\", "\\\\").replace(":", "\\:")


class FakeRadio(FakeRunner):
    """A node's WiFi tools answering from state; joins change the state.

    networks: {ssid: (dbm, reaches)} reaches: whether targets answer on it.
    known: {profile: ssid}. backend: "nm" or "wpa".
    """

    def __init__(self, current="Barn", networks=None, known=None, backend="nm", nm_running=True, wedged=False,
                 units=None):
        FakeRunner.__init__(self, {("systemctl",): (0, ""), ("ip",): (0, ""), ("nmcli",): (0, ""),
                                   ("iw",): (0, ""), ("wpa_cli",): (0, ""), ("networksetup",): (0, "")})
        self.current = current
        self.networks = networks if networks is not None else {
            "Barn": (-78, True), "House": (-52, True), "Cafe": (-45, True), "Nowhere": (-70, False)}
        self.known = known if known is not None else {"barn": "Barn", "house-wifi": "House", "nowhere": "Nowhere"}
        self.backend = backend
        self.nm_running = nm_running
        self.wedged = wedged
        self.units = units if units is not None else {"NetworkManager.service": ("active", "enabled")}
        self.restart_joins = True

    # -- what the node sees
    def online(self):
        return self.current is not None and self.networks[self.current][1]

    def reachable(self, host):
        return self.online()

    def run(self, argv, timeout=None):
        argv = [str(a) for a in argv]
        self.calls.append(argv)
        out = self.answer(argv)
        if isinstance(out, CommandResult):
            return out
        rc, stdout = out[0], out[1]
        return CommandResult(argv, rc, stdout, out[2] if len(out) > 2 else "")

    def answer(self, argv):
        if "--show-secrets" in argv:
            return 0, PSK + "\n"  # what a careless caller would print
        if argv[0] == "nmcli":
            return self.nmcli(argv[1:])
        if argv[0] == "iw":
            if argv[3:] == ["link"] or argv[-1] == "link":
                if self.current is None or (self.backend == "nm" and not self.nm_running):
                    return 0, "Not connected.\n"
                return 0, ("Connected to 02:00:00:00:00:%02x (on wlan0)\n\tSSID: %s\n\tfreq: 2437\n"
                           "\tsignal: %d dBm\n\ttx bitrate: 54.0 MBit/s\n"
                           % (sorted(self.networks).index(self.current), self.current, self.networks[self.current][0]))
            return 0, "Power save: off\n"
        if argv[0] == "ip":
            routes = [{"dst": "default", "gateway": "192.168.1.1", "dev": "wlan0"}] if self.online() else []
            return 0, json.dumps(routes)
        if argv[0] == "systemctl":
            return self.systemctl(argv[1:])
        if argv[0] == "wpa_cli":
            return self.wpa(argv[3:])
        if argv[0] == "networksetup":
            return 0, ""
        return CommandResult(argv, error="%s not found" % argv[0])

    def bssid(self, ssid):
        return "02:00:00:00:00:%02x" % sorted(self.networks).index(ssid)

    def nmcli(self, args):
        if not self.nm_running or self.backend != "nm":
            return 8, "", "Error: NetworkManager is not running.\n"
        opts = []
        while args and args[0].startswith("-"):
            opts.append(args.pop(0))
            if opts[-1] in ("-f", "-g", "-w"):
                opts.append(args.pop(0))
        if args == ["general"]:
            return 0, "running\n"
        if args == ["device"]:
            return 0, "wlan0:wifi:%s\neth0:ethernet:unavailable\n" % ("connected" if self.current else "disconnected")
        if args[:3] == ["device", "wifi", "list"]:
            rows = ["%s:%s:%s:%d:54 Mbit/s:2437 MHz:WPA2" % (
                "*" if s == self.current else " ", terse(s), terse(self.bssid(s).upper()), 2 * (d + 100))
                for s, (d, _r) in sorted(self.networks.items())]
            return 0, "\n".join(rows) + "\n"
        if args == ["connection", "show"]:
            return 0, "".join("%s:802-11-wireless\n" % terse(p) for p in self.known)
        if args[:3] == ["connection", "show", "id"]:
            if "802-11-wireless-security.psk" in opts[-1]:
                return 0, "\n"  # never shown without --show-secrets
            return 0, terse(self.known[args[3]]) + "\n"
        if args[:3] == ["connection", "up", "id"]:
            ssid = self.known.get(args[3])
            if ssid not in self.networks:
                return 4, "", "Error: Connection activation failed: (53) The Wi-Fi network could not be found.\n"
            if self.wedged:
                self.current = None
                return 4, "", "Error: Connection activation failed: (1) Unknown reason.\n"
            self.current = ssid
            return 0, "Connection successfully activated (D-Bus active path: /org/freedesktop/NetworkManager/ActiveConnection/3)\n"
        return 2, "", "Error: not supported\n"

    def wpa(self, args):
        ids = sorted(set(self.known.values()))
        if args == ["status"]:
            if self.current is None:
                return 0, "wpa_state=SCANNING\n"
            return 0, "bssid=%s\nfreq=2437\nssid=%s\nwpa_state=COMPLETED\n" % (self.bssid(self.current), self.current)
        if args == ["list_networks"]:
            return 0, "network id / ssid / bssid / flags\n" + "".join(
                "%d\t%s\tany\t%s\n" % (i, s, "[CURRENT]" if s == self.current else "") for i, s in enumerate(ids))
        if args == ["scan_results"]:
            return 0, "bssid / frequency / signal level / flags / ssid\n" + "".join(
                "%s\t2437\t%d\t[WPA2-PSK-CCMP][ESS]\t%s\n" % (self.bssid(s), d, s)
                for s, (d, _r) in sorted(self.networks.items()))
        if args[:1] == ["select_network"]:
            self.current = ids[int(args[1])]
            return 0, "OK\n"
        if args[:1] == ["enable_network"]:
            return 0, "OK\n"
        return 1, "FAIL\n"

    def systemctl(self, args):
        verb, unit = args[0], args[-1]
        active, enabled = self.units.get(unit, ("inactive", None))
        if verb == "is-active":
            return (0 if active == "active" else 3), active + "\n"
        if verb == "is-enabled":
            if enabled is None:
                return 1, "", "Failed to get unit file state for %s: No such file or directory\n" % unit
            return (0 if enabled == "enabled" else 1), enabled + "\n"
        if verb == "reset-failed":
            return 0, ""
        if verb == "restart":
            self.units[unit] = ("active", enabled)
            if unit == "NetworkManager.service":
                self.nm_running = True
            if self.restart_joins and not self.wedged:
                self.current = self.current or self.last
            return 0, ""
        return 1, "", "Unknown command verb %s.\n" % verb

    last = "Barn"


class RadioProber(object):
    def __init__(self, radio):
        self.radio = radio
        self.probed = []

    def probe(self, host, port, layer):
        self.probed.append((host, port))
        return {"host": host, "answered": self.radio.reachable(host)}


class Clock(object):
    def __init__(self):
        self.now = 100.0
        self.sleeps = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


def select(radio, **kw):
    clock = Clock()
    kw.setdefault("hubs", ["tcp://hub1:5555"])
    result = run_wifi_select(runner=radio, prober=RadioProber(radio), clock=clock, sleep=clock.sleep, **kw)
    return result, clock


def joins(radio):
    return [c for c in radio.calls if c[:1] == ["nmcli"] and "up" in c or "select_network" in c
            or c[:2] == ["networksetup", "-setairportnetwork"]]


def test_moves_to_the_strongest_known_network_beyond_the_margin():
    radio = FakeRadio()
    result, _clock = select(radio)
    assert result["fixed"] is True and result["changed"] is True and result["needed"] is True
    assert result["joined"] == "House" and result["rolled_back"] is False
    assert result["candidate"] == {"ssid": "House", "signal_dbm": -52}  # not Cafe: stronger but unknown
    assert joins(radio) == [["nmcli", "-t", "-w", "30", "connection", "up", "id", "house-wifi", "ifname", "wlan0"]]
    assert result["before"]["ssid"] == "Barn" and result["after"]["ssid"] == "House"
    assert result["after"]["reachable"] == {"192.168.1.1": True, "hub1": True}
    assert "-52 dBm" in result["summary"] and "-78 dBm" in result["summary"]


def test_the_strongest_known_network_without_connectivity_is_rolled_back_from():
    radio = FakeRadio(networks={"Barn": (-78, True), "House": (-52, True), "Nowhere": (-40, False)})
    result, _clock = select(radio, rollback_timeout=3)
    assert result["candidate"]["ssid"] == "Nowhere" and result["rolled_back"] is True and radio.current == "Barn"


def test_not_enough_margin_means_nothing_to_do():
    radio = FakeRadio(networks={"Barn": (-60, True), "House": (-55, True)})
    result, _clock = select(radio, margin_db=8)
    assert result["needed"] is False and result["changed"] is False and result["fixed"] is True
    assert joins(radio) == []
    assert "5 dB stronger" in result["summary"] and "8 dB margin" in result["summary"]
    result, _clock = select(radio, margin_db=5)
    assert result["joined"] == "House"


def test_not_associated_joins_any_known_candidate():
    radio = FakeRadio(current=None)
    result, _clock = select(radio, margin_db=100)
    assert result["joined"] == "House" and result["fixed"] is True
    radio = FakeRadio(current=None, networks={"House": (-52, True), "Nowhere": (-40, False)})
    result, _clock = select(radio, rollback_timeout=2)
    # Nowhere is strongest but has no connectivity, and there is nothing to go back to
    assert result["fixed"] is False and "no previous network" in result["summary"]


def test_named_network_that_is_current_is_a_no_op():
    radio = FakeRadio()
    result, _clock = select(radio, ssid="Barn")
    assert result["needed"] is False and result["changed"] is False
    assert joins(radio) == [] and "already on Barn" in result["summary"]


def test_named_network_not_visible_changes_nothing_and_says_so():
    radio = FakeRadio()
    result, _clock = select(radio, ssid="Attic")
    assert result["fixed"] is False and result["changed"] is False and result["needed"] is True
    assert "Attic is not visible" in result["summary"]
    assert joins(radio) == [] and radio.current == "Barn"


def test_named_network_visible_but_unknown_is_refused():
    radio = FakeRadio()
    result, _clock = select(radio, ssid="Cafe")
    assert result["fixed"] is False and "not a known network" in result["summary"] and joins(radio) == []


def test_rollback_when_the_new_network_leads_nowhere():
    radio = FakeRadio()
    result, clock = select(radio, ssid="Nowhere", rollback_timeout=5)
    assert result["rolled_back"] is True and result["fixed"] is False and result["changed"] is True
    assert result["back"] is True and result["joined"] is None
    assert joins(radio) == [["nmcli", "-t", "-w", "5", "connection", "up", "id", "nowhere", "ifname", "wlan0"],
                            ["nmcli", "-t", "-w", "5", "connection", "up", "id", "barn", "ifname", "wlan0"]]
    assert radio.current == "Barn"
    assert result["after"]["ssid"] == "Barn" and any(result["after"]["reachable"].values())
    assert "rolled back to Barn" in result["summary"] and "connectivity is back" in result["summary"]
    assert sum(clock.sleeps) >= 5  # it waited the whole rollback_timeout on Nowhere


def test_rollback_that_does_not_bring_connectivity_back_says_so():
    radio = FakeRadio(networks={"Barn": (-78, False), "House": (-50, False)})
    result, _clock = select(radio, rollback_timeout=2)
    assert result["rolled_back"] is True and result["back"] is False
    assert "NO connectivity" in result["summary"]


def test_psk_never_appears_anywhere(tmp_path):
    radio = FakeRadio()
    log = str(tmp_path / "events.json")
    for kw in ({}, {"ssid": "Nowhere", "rollback_timeout": 2}, {"ssid": "Attic"}):
        radio.current = "Barn"
        clock = Clock()
        result = run_action("wifi_select", lambda: run_wifi_select(
            runner=radio, prober=RadioProber(radio), clock=clock, sleep=clock.sleep,
            hubs=["tcp://hub1:5555"], **kw), event_log=log)
        assert PSK not in json.dumps(result)
    assert not [c for c in radio.calls if "--show-secrets" in c or any("psk" in a for a in c)]
    assert PSK not in json.dumps(read_events(log)) and len(read_events(log)) == 3


def test_check_mode_says_what_and_why_and_changes_nothing():
    radio = FakeRadio()
    result, _clock = select(radio, check_mode=True)
    assert result["changed"] is False and result["fixed"] is None
    assert joins(radio) == [] and radio.current == "Barn"
    assert result["summary"].startswith("would join House")
    assert "-52 dBm" in result["summary"] and "-78 dBm" in result["summary"]
    assert result["actions"] == ["nmcli -t -w 30 connection up id house-wifi ifname wlan0"]


def test_wpa_supplicant_selects_the_network_id_and_reenables_the_others():
    radio = FakeRadio(backend="wpa", known={"a": "Barn", "b": "House"})
    result, _clock = select(radio, interface="wlan0")
    assert result["backend"] == "wpa_supplicant" and result["joined"] == "House"
    wpa = [c for c in radio.calls if c[:1] == ["wpa_cli"] and c[3] in ("select_network", "enable_network")]
    assert wpa == [["wpa_cli", "-i", "wlan0", "select_network", "1"], ["wpa_cli", "-i", "wlan0", "enable_network", "all"]]


def test_macos_joins_a_named_network_with_networksetup():
    radio = FakeRunner({("networksetup",): (0, "")})
    clock = Clock()
    prober = RadioProber(type("R", (), {"reachable": lambda self, h: True})())
    result = run_wifi_select(ssid="House", system="Darwin", runner=radio, prober=prober, clock=clock,
                             sleep=clock.sleep, targets=["10.0.0.1"], rollback_timeout=1)
    assert ["networksetup", "-setairportnetwork", "en0", "House"] in radio.calls
    assert result["backend"] == "airport"


def test_choose_prefers_known_and_reports_numbers():
    info = {"connected": True, "ssid": "Barn", "signal_dbm": -70, "backend": "networkmanager",
            "visible": [{"ssid": "Barn", "signal_dbm": -70}, {"ssid": "House", "signal_dbm": -61},
                        {"ssid": "Cafe", "signal_dbm": -30}], "known": ["Barn", "House"]}
    candidate, reason, joinable = choose(info, None, 8)
    assert candidate == {"ssid": "House", "signal_dbm": -61} and joinable is True
    assert "9 dB stronger" in reason
    assert choose(info, None, 10)[2] is False


def test_bad_arguments():
    with pytest.raises(CheckError):
        run_wifi_select(rollback_timeout=0, runner=FakeRadio())
    with pytest.raises(CheckError):
        run_wifi_select(hubs=["tcp://a:1"], config="/x.yaml", runner=FakeRadio())


def test_no_running_wifi_service_is_a_result_not_a_failure():
    # NetworkManager stopped: the ladder must be told "not fixed" and go on.
    radio = FakeRadio(nm_running=False)
    result = run_wifi_select(runner=radio, targets=["10.0.0.1"])
    assert result["needed"] is True and result["fixed"] is False and result["changed"] is False
    assert "no WiFi service" in result["summary"]
    assert not [call for call in radio.calls if call[:3] == ["nmcli", "connection", "up"]]
