"""wifi_select and wifi_restart on a lab node, with REAL loss and return of connectivity.

ONLY THE RADIO LAYER IS SIMULATED: the lab has no WiFi hardware, so node1 gets
the stand-ins for `nmcli` and `iw` (lab/radio/radio.py, installed by
labctl.set_radio) that report a scenario's networks and signals in the tools'
real formats, and a NetworkManager.service stand-in. What is not simulated is
connectivity: joining a network brings the node's real podman link for that
network up (and the others down), a network with no podman network behind it
("nowhere") leaves the node with no route to the hubs, and stopping
NetworkManager takes the link down. So reaching hub1 afterwards (a real TCP
connect from the node to the hub's port, and hub_check's imagezmq request) is
real evidence. The modules are the unmodified ones, run through Ansible.
"""
import json
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
HUB = "hub1"
NET = labctl.load_inventory()[0]["lab_network"]
HUB_IP = labctl.host(HUB)["ip"]
CONFIG = "/home/pi/imagenode.yaml"
PSK = "lab-psk-never-printed-4471"
SCENARIO = {
    "interface": "wlan0",
    "current": "Barn",
    "power_save": False,
    "service": "running",
    "networks": [
        {"ssid": "Barn", "bssid": "02:00:00:00:02:01", "signal_dbm": -78, "freq": 2437, "rate": 54,
         "security": "WPA2", "podman_network": NET},
        {"ssid": "House", "bssid": "02:00:00:00:02:02", "signal_dbm": -52, "freq": 5180, "rate": 130,
         "security": "WPA2", "podman_network": NET},
        # Strong, known, and leading nowhere: no podman network behind it.
        {"ssid": "Nowhere", "bssid": "02:00:00:00:02:03", "signal_dbm": -70, "freq": 2462, "rate": 54,
         "security": "WPA2", "podman_network": "nowhere"},
    ],
    "known": [{"name": "barn", "ssid": "Barn", "psk": PSK}, {"name": "house-wifi", "ssid": "House", "psk": PSK},
              {"name": "nowhere", "ssid": "Nowhere", "psk": PSK}],
}
TIMES = {}


@pytest.fixture(scope="module")
def lab():
    with labctl.lab_session():
        labctl.up([NODE, HUB])
        yield
        print("\nlab times: %s" % json.dumps(TIMES))
        labctl.down()


def sh(*argv, check=True):
    return labctl.exec_in(NODE, list(argv), check=check).stdout


def hub_reachable():
    """A real TCP connect from the node to hub1's port."""
    code = ("import socket,sys\ntry:\n socket.create_connection((%r, 5555), 2).close()\nexcept OSError:\n"
            " sys.exit(1)\n" % HUB_IP)
    return labctl.exec_in(NODE, ["python3", "-c", code], check=False).returncode == 0


def links():
    """eth0's state and the default route: the node's real connectivity."""
    state = sh("ip", "-o", "link", "show", "dev", "eth0")
    return ("state UP" in state or ",UP" in state.split(">")[0], sh("ip", "route", "show", "default").strip())


def scenario_hash():
    return sh("sha256sum", labctl.RADIO_SCENARIO).split()[0]


def wifi():
    res = labansible.module(NODE, "wifi_info", {})[NODE]
    assert "failed" not in res, res
    return res


def run(name, args, check=False):
    res = labansible.module(NODE, name, args, extra=["--check"] if check else ())[NODE]
    assert "failed" not in res, res
    assert PSK not in json.dumps(res)
    return res


def fresh():
    labctl.set_radio(NODE, SCENARIO)
    assert hub_reachable(), "on Barn the node reaches hub1"
    assert links()[0]


def test_check_mode_of_wifi_select_changes_nothing(lab):
    fresh()
    digest, link = scenario_hash(), links()
    res = run("wifi_select", {"config": CONFIG}, check=True)
    assert res["changed"] is False and res["fixed"] is None
    assert res["summary"].startswith("would join House"), res["summary"]
    assert "-52 dBm" in res["summary"] and "-78 dBm" in res["summary"]
    assert (scenario_hash(), links()) == (digest, link)
    assert wifi()["ssid"] == "Barn"


def test_select_moves_to_the_stronger_known_network_and_reaches_the_hub(lab):
    fresh()
    res = run("wifi_select", {"config": CONFIG, "rollback_timeout": 15})
    assert res["fixed"] is True and res["joined"] == "House", res["summary"]
    assert res["previous"] == "Barn" and res["rolled_back"] is False
    assert res["after"]["reachable"].get("hub1") is True
    TIMES["wifi_select_join"] = res["took"]
    info = wifi()
    assert (info["ssid"], info["signal_dbm"]) == ("House", -52)
    assert hub_reachable()
    hub = labansible.module(NODE, "hub_check", {"config": CONFIG})[NODE]
    assert "failed" not in hub and hub["healthy_hub"] == "tcp://hub1:5555", hub
    assert PSK not in sh("cat", "/var/lib/imagenode-health/events.json")


def test_select_of_a_network_with_no_route_rolls_back(lab):
    fresh()
    res = run("wifi_select", {"config": CONFIG, "ssid": "Nowhere", "rollback_timeout": 6})
    assert res["rolled_back"] is True and res["fixed"] is False and res["back"] is True, res["summary"]
    assert res["actions"][:2] == ["nmcli -t -w 6 connection up id nowhere ifname wlan0",
                                  "nmcli -t -w 6 connection up id barn ifname wlan0"]
    TIMES["wifi_select_rollback"] = res["took"]
    assert wifi()["ssid"] == "Barn"
    assert hub_reachable() and links()[0]


def test_networkmanager_stopped_is_a_real_outage_and_wifi_restart_ends_it(lab):
    fresh()
    sh("systemctl", "stop", "NetworkManager")
    assert not hub_reachable(), "with NetworkManager stopped the hub is unreachable for real"
    assert links() == (False, "")
    assert wifi()["connected"] is not True

    # check mode first: says what, changes nothing
    digest = scenario_hash()
    res = run("wifi_restart", {"timeout": 30}, check=True)
    assert res["changed"] is False and res["service"] == "NetworkManager"
    assert "would restart NetworkManager.service" in res["summary"], res["summary"]
    assert scenario_hash() == digest and links() == (False, "")
    assert sh("systemctl", "is-active", "NetworkManager", check=False).strip() == "inactive"

    res = run("wifi_restart", {"timeout": 30})
    assert res["fixed"] is True and res["changed"] is True, res["summary"]
    assert res["service"] == "NetworkManager" and res["unit"] == "NetworkManager.service"
    assert res["before"]["associated"] is False and res["after"]["ssid"] == "Barn"
    assert res["after"]["gateway_ok"] is True
    assert isinstance(res["took"], float) and 0 <= res["took"] < 30
    TIMES["wifi_restart"] = res["took"]
    assert hub_reachable() and links()[0]
    hub = labansible.module(NODE, "hub_check", {"config": CONFIG})[NODE]
    assert hub.get("healthy_hub") == "tcp://hub1:5555", hub


def test_a_scenario_can_start_with_networkmanager_stopped(lab):
    labctl.set_radio(NODE, dict(SCENARIO, service="stopped"))
    assert not hub_reachable() and links() == (False, "")
    res = run("wifi_restart", {"timeout": 20})
    assert res["fixed"] is True and res["after"]["ssid"] == "Barn", res["summary"]
    assert hub_reachable()


def test_wifi_restart_needs_nothing_on_a_healthy_link(lab):
    fresh()
    res = run("wifi_restart", {"timeout": 10})
    assert res["needed"] is False and res["changed"] is False, res["summary"]


def test_a_wedged_driver_survives_a_service_restart_but_not_a_reboot(lab):
    labctl.set_radio(NODE, dict(SCENARIO, wedged=True))
    assert not hub_reachable()
    res = run("wifi_restart", {"timeout": 4})
    assert res["fixed"] is False and res["took"] >= 4, res["summary"]
    TIMES["reboot"] = round(labctl.restart(NODE), 1)  # /run is a fresh tmpfs: the flag is gone
    assert labctl.exec_in(NODE, ["test", "-e", "/run/lab-radio/wedged"], check=False).returncode != 0
    assert hub_reachable(), "NetworkManager autoconnects at boot"
    assert wifi()["ssid"] == "Barn"
