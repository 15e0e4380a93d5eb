"""wifi_info on a lab node with the simulated radio.

ONLY THE RADIO LAYER IS SIMULATED: the lab has no WiFi hardware, so node1
gets stand-ins for `nmcli` and `iw` (lab/radio/radio.py, installed by
labctl.set_radio) that report the networks and signals of a scenario file
(/etc/lab-radio/scenario.json) in nmcli's and iw's real formats. wifi_info
itself is the unmodified module, detecting NetworkManager as on a Pi.
Scenario: joined to a weak known network (Barn, -78 dBm), a stronger known
one in range (House, -52 dBm), a known one whose SSID has a ':' (nmcli
escapes it; -60 dBm) and a stronger unknown one (Cafe, -45 dBm).
Each network names the podman network behind it, for a later join.
"""
import os
import shutil
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "lab"))
sys.path.insert(0, os.path.dirname(__file__))
import labansible  # noqa: E402
import labctl  # noqa: E402

pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("podman"), reason="the lab needs root and podman"),
]

NODE = "node1"
NET = labctl.load_inventory()[0]["lab_network"]
SCENARIO = {
    "interface": "wlan0",
    "current": "Barn",
    "power_save": False,
    "networks": [
        {"ssid": "Barn", "bssid": "02:00:00:00:01:01", "signal_dbm": -78, "freq": 2437, "rate": 54,
         "security": "WPA2", "podman_network": NET},
        {"ssid": "House", "bssid": "02:00:00:00:01:02", "signal_dbm": -52, "freq": 5180, "rate": 130,
         "security": "WPA2", "podman_network": NET},
        {"ssid": "Cafe", "bssid": "02:00:00:00:01:03", "signal_dbm": -45, "freq": 2412, "rate": 65,
         "security": "", "podman_network": NET},
        {"ssid": "Shed: 2", "bssid": "02:00:00:00:01:04", "signal_dbm": -60, "freq": 2462, "rate": 54,
         "security": "WPA2", "podman_network": NET},
    ],
    "known": [{"name": "barn", "ssid": "Barn"}, {"name": "house-wifi", "ssid": "House"},
              {"name": "shed", "ssid": "Shed: 2"}],
}


@pytest.fixture(scope="module")
def lab():
    with labctl.lab_session():
        labctl.up([NODE])
        yield
        labctl.down()


def wifi():
    res = labansible.module(NODE, "wifi_info", {"signal_warn": -70, "signal_fail": -80})[NODE]
    assert "failed" not in res, res
    return res


def test_without_a_radio_it_is_unknown(lab):
    res = wifi()
    assert res["status"] == "unknown", res["summary"]
    assert res["strongest_known"] is None


def test_weak_current_network_and_a_stronger_known_one(lab):
    labctl.set_radio(NODE, SCENARIO)
    res = wifi()
    assert res["backend"] == "networkmanager"
    assert (res["ssid"], res["signal_dbm"], res["connected"]) == ("Barn", -78, True)
    assert res["status"] == "warn", res["summary"]
    assert sorted(res["known"]) == ["Barn", "House", "Shed: 2"]
    assert [n["ssid"] for n in res["visible"]] == ["Cafe", "House", "Shed: 2", "Barn"]  # strongest first
    assert res["strongest_known"] == {"ssid": "House", "bssid": "02:00:00:00:01:02", "signal_dbm": -52}
    assert "House is stronger" in res["summary"]
    assert res["power_save"] is False


def test_below_the_fail_threshold(lab):
    weaker = dict(SCENARIO, networks=[dict(SCENARIO["networks"][0], signal_dbm=-85)] + SCENARIO["networks"][1:])
    labctl.set_radio(NODE, weaker)
    res = wifi()
    assert res["status"] == "fail" and res["signal_dbm"] == -85, res["summary"]
    assert res["strongest_known"]["ssid"] == "House"
