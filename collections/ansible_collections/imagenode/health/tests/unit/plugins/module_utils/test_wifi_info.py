# Copyright (c) 2026 imagenode-health contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""wifi_info parsers and backends on real-format tool output.

The samples are the formats nmcli 1.42, wpa_cli 2.10, iw 5.19 and the kernel's
/proc/net/wireless print on Raspberry Pi OS Bookworm (and airport -I on
macOS). There is no radio here, nor in the lab: the lab simulates only the
radio layer (stand-ins for these tools that report scenario-driven networks
and signals), so what is tested is the parsing and the decisions.
"""

import pytest

from ansible_collections.imagenode.health.plugins.module_utils.check_result import CheckError
from ansible_collections.imagenode.health.plugins.module_utils.wifi_info import (
    parse_iw_link,
    parse_nmcli_wifi_list,
    parse_power_save,
    parse_proc_wireless,
    parse_wpa_list_networks,
    parse_wpa_scan_results,
    run_wifi_info,
    split_terse,
    strongest_known,
)
from ansible_collections.imagenode.health.tests.unit.plugins.fake_runner import FakeRunner, write_tree

NMCLI_LIST = """\
*:Barn:AA\\:BB\\:CC\\:DD\\:EE\\:01:42:54 Mbit/s:2437 MHz:WPA2
 :House:AA\\:BB\\:CC\\:DD\\:EE\\:02:81:130 Mbit/s:5180 MHz:WPA2 WPA3
 :Coffee\\: Guest:AA\\:BB\\:CC\\:DD\\:EE\\:03:90:65 Mbit/s:2412 MHz:
 :broken line
"""
NMCLI = {
    ("nmcli", "-t", "-f", "RUNNING", "general"): (0, "running\n"),
    ("nmcli", "-t", "-f", "DEVICE,TYPE,STATE", "device"): (0, "eth0:ethernet:unavailable\nwlan0:wifi:connected\nlo:loopback:unmanaged\n"),
    ("nmcli", "-t", "-f", "IN-USE,SSID,BSSID,SIGNAL,RATE,FREQ,SECURITY"): (0, NMCLI_LIST),
    ("nmcli", "-t", "-f", "NAME,TYPE", "connection", "show"): (0, "Barn:802-11-wireless\nhouse-wifi:802-11-wireless\nWired connection 1:802-3-ethernet\n"),
    ("nmcli", "-t", "-g", "802-11-wireless.ssid", "connection", "show", "id", "Barn"): (0, "Barn\n"),
    ("nmcli", "-t", "-g", "802-11-wireless.ssid", "connection", "show", "id", "house-wifi"): (0, "House\n"),
}
IW_LINK = """\
Connected to aa:bb:cc:dd:ee:01 (on wlan0)
\tSSID: Barn
\tfreq: 2437
\tRX: 1433340 bytes (9875 packets)
\tTX: 215422 bytes (1322 packets)
\tsignal: -73 dBm
\trx bitrate: 65.0 MBit/s
\ttx bitrate: 52.0 MBit/s MCS 5

\tbss flags:\tshort-preamble short-slot-time
\tdtim period:\t1
\tbeacon int:\t100
"""
WPA_STATUS = """\
bssid=aa:bb:cc:dd:ee:01
freq=2437
ssid=Barn
id=0
mode=station
wifi_generation=4
pairwise_cipher=CCMP
group_cipher=CCMP
key_mgmt=WPA2-PSK
wpa_state=COMPLETED
ip_address=192.168.1.50
p2p_device_address=b8:27:eb:00:00:01
address=b8:27:eb:00:00:01
uuid=0b3e7b0c-0000-0000-0000-000000000000
"""
WPA_NETWORKS = """\
network id / ssid / bssid / flags
0\tBarn\tany\t[CURRENT]
1\tHouse\tany\t
2\tOld\tany\t[DISABLED]
"""
WPA_SCAN = """\
bssid / frequency / signal level / flags / ssid
aa:bb:cc:dd:ee:01\t2437\t-73\t[WPA2-PSK-CCMP][ESS]\tBarn
aa:bb:cc:dd:ee:02\t5180\t-55\t[WPA2-PSK-CCMP][ESS]\tHouse
aa:bb:cc:dd:ee:09\t2462\t-40\t[ESS]\tNeighbour
aa:bb:cc:dd:ee:0a\t2412\t190\t[ESS]\tUnsigned
"""
PROC_WIRELESS = """\
Inter-| sta-|   Quality        |   Discarded packets               | Missed | WE
 face | tus | link level noise |  nwid  crypt   frag  retry   misc | beacon | 22
 wlan0: 0000   37.  -73.  -256        0      0      0      0      0        0
"""
PROC_WIRELESS_UNSIGNED = PROC_WIRELESS.replace("-73.", "183.")
AIRPORT_I = """\
     agrCtlRSSI: -61
     agrExtRSSI: 0
    agrCtlNoise: -92
    agrExtNoise: 0
          state: running
        op mode: station
     lastTxRate: 144
        maxRate: 144
lastAssocStatus: 0
    802.11 auth: open
      link auth: wpa2-psk
          BSSID: a0:b1:c2:d3:e4:f5
           SSID: Barn
            MCS: 15
        channel: 6
"""


def wpa_runner(**extra):
    answers = {
        ("wpa_cli", "-i", "wlan0", "status"): (0, WPA_STATUS),
        ("wpa_cli", "-i", "wlan0", "list_networks"): (0, WPA_NETWORKS),
        ("wpa_cli", "-i", "wlan0", "scan_results"): (0, WPA_SCAN),
        ("iw", "dev", "wlan0", "link"): (0, IW_LINK),
        ("iw", "dev", "wlan0", "get", "power_save"): (0, "Power save: on\n"),
    }
    answers.update(extra)
    return FakeRunner(answers)


@pytest.fixture
def wlan_root(tmp_path):
    write_tree(tmp_path, {"/sys/class/net/wlan0/wireless/.keep": "", "/sys/class/net/eth0/operstate": "up\n"})
    return str(tmp_path)


def test_split_terse_unescapes_colons_and_backslashes():
    assert split_terse("a:AA\\:BB:c\\\\d:") == ["a", "AA:BB", "c\\d", ""]


def test_parse_nmcli_wifi_list():
    nets = parse_nmcli_wifi_list(NMCLI_LIST)
    assert [n["ssid"] for n in nets] == ["Barn", "House", "Coffee: Guest"]
    assert nets[0]["bssid"] == "aa:bb:cc:dd:ee:01" and nets[0]["in_use"] and nets[0]["quality"] == 42
    assert nets[0]["signal_dbm"] == -79 and nets[0]["bitrate_mbps"] == 54.0 and nets[0]["frequency"] == 2437
    assert nets[2]["security"] is None


def test_parse_iw_link_connected_and_not():
    link = parse_iw_link(IW_LINK)
    assert link == {"connected": True, "bssid": "aa:bb:cc:dd:ee:01", "ssid": "Barn", "frequency": 2437,
                    "signal_dbm": -73, "bitrate_mbps": 52.0}
    assert parse_iw_link("Not connected.\n")["connected"] is False
    assert parse_iw_link("")["signal_dbm"] is None


def test_parse_power_save():
    assert parse_power_save("Power save: on\n") is True
    assert parse_power_save("Power save: off\n") is False
    assert parse_power_save("command failed: Operation not supported (-95)\n") is None


def test_parse_wpa_outputs():
    nets = parse_wpa_list_networks(WPA_NETWORKS)
    assert [(n["ssid"], n["current"], n["disabled"]) for n in nets] == [
        ("Barn", True, False), ("House", False, False), ("Old", False, True)]
    assert parse_wpa_list_networks("Selected interface 'wlan0'\n" + WPA_NETWORKS)[0]["id"] == 0
    scan = parse_wpa_scan_results(WPA_SCAN)
    assert [n["signal_dbm"] for n in scan] == [-73, -55, -40, -66]
    assert parse_wpa_scan_results("FAIL\n") == [] and parse_wpa_list_networks("") == []


def test_parse_proc_wireless_signed_unsigned_and_garbage():
    assert parse_proc_wireless(PROC_WIRELESS)["wlan0"]["level_dbm"] == -73
    assert parse_proc_wireless(PROC_WIRELESS_UNSIGNED)["wlan0"]["level_dbm"] == -73
    assert parse_proc_wireless(PROC_WIRELESS.splitlines(True)[0]) == {}
    assert parse_proc_wireless("") == {}
    assert parse_proc_wireless("a\nb\n wlan0: xx yy\n") == {}


def test_strongest_known_ignores_unknown_networks():
    scan = parse_wpa_scan_results(WPA_SCAN)
    assert strongest_known(scan, ["Barn", "House"]) == {"ssid": "House", "bssid": "aa:bb:cc:dd:ee:02", "signal_dbm": -55}
    assert strongest_known(scan, []) is None


def test_networkmanager_backend_with_iw_dbm(wlan_root):
    runner = FakeRunner(dict(NMCLI, **{}))
    runner.answers[("iw", "dev", "wlan0", "link")] = (0, IW_LINK)
    runner.answers[("iw", "dev", "wlan0", "get", "power_save")] = (0, "Power save: off\n")
    result = run_wifi_info(root=wlan_root, runner=runner)
    assert result["backend"] == "networkmanager" and result["interface"] == "wlan0"
    assert result["ssid"] == "Barn" and result["bssid"] == "aa:bb:cc:dd:ee:01"
    assert result["signal_dbm"] == -73 and result["status"] == "warn"
    assert result["known"] == ["Barn", "House"]
    assert result["strongest_known"]["ssid"] == "House"
    assert "known network House is stronger" in result["summary"]
    assert result["power_save"] is False
    assert not any("--rescan" in c and "yes" in c for c in runner.calls)


def test_networkmanager_without_iw_uses_its_percentage(wlan_root):
    result = run_wifi_info(root=wlan_root, runner=FakeRunner(NMCLI))
    assert result["signal_dbm"] == -79 and result["quality"] == 42 and result["status"] == "warn"


def test_wpa_supplicant_backend(wlan_root):
    result = run_wifi_info(root=wlan_root, runner=wpa_runner())
    assert result["backend"] == "wpa_supplicant"
    assert result["connected"] and result["ssid"] == "Barn" and result["signal_dbm"] == -73
    assert result["known"] == ["Barn", "House"]
    assert result["visible"][0]["ssid"] == "Neighbour"
    assert result["strongest_known"]["ssid"] == "House" and result["power_save"] is True
    assert result["bitrate_mbps"] == 52.0 and result["quality"] == 54


@pytest.mark.parametrize("level, status", [(-60, "ok"), (-70, "warn"), (-75, "warn"), (-80, "fail"), (-90, "fail")])
def test_signal_thresholds(wlan_root, level, status):
    runner = wpa_runner(**{})
    runner.answers[("iw", "dev", "wlan0", "link")] = (0, IW_LINK.replace("-73 dBm", "%d dBm" % level))
    assert run_wifi_info(root=wlan_root, runner=runner)["status"] == status


def test_wpa_disconnected_is_fail(wlan_root):
    runner = wpa_runner()
    runner.answers[("wpa_cli", "-i", "wlan0", "status")] = (0, "wpa_state=SCANNING\naddress=b8:27:eb:00:00:01\n")
    runner.answers[("iw", "dev", "wlan0", "link")] = (0, "Not connected.\n")
    result = run_wifi_info(root=wlan_root, runner=runner)
    assert result["status"] == "fail" and result["connected"] is False
    assert "not associated" in result["summary"]


def test_proc_net_wireless_backend(tmp_path):
    write_tree(tmp_path, {"/proc/net/wireless": PROC_WIRELESS_UNSIGNED})
    result = run_wifi_info(root=str(tmp_path), runner=FakeRunner({}))
    assert result["backend"] == "proc" and result["interface"] == "wlan0"
    assert result["signal_dbm"] == -73 and result["status"] == "warn"


def test_interface_but_no_backend_is_unknown(wlan_root):
    result = run_wifi_info(root=wlan_root, runner=FakeRunner({("wpa_cli",): (255, "", "Failed to connect to non-global ctrl_ifname: wlan0\n")}))
    assert result["status"] == "unknown" and "no backend could read it" in result["summary"]


def test_no_wireless_interface_is_unknown(tmp_path):
    write_tree(tmp_path, {"/sys/class/net/eth0/operstate": "up\n"})
    result = run_wifi_info(root=str(tmp_path), runner=FakeRunner({}))
    assert result["status"] == "unknown" and result["summary"] == "no wireless interface"
    assert result["connected"] is None and result["visible"] == []


def test_airport_parsing(monkeypatch, tmp_path):
    from ansible_collections.imagenode.health.plugins.module_utils import wifi_info
    monkeypatch.setattr(wifi_info.os.path, "exists", lambda path: path == wifi_info.AIRPORT)
    result = run_wifi_info(root=str(tmp_path), runner=FakeRunner({(wifi_info.AIRPORT, "-I"): (0, AIRPORT_I)}))
    assert result["backend"] == "airport" and result["ssid"] == "Barn" and result["signal_dbm"] == -61
    assert result["bitrate_mbps"] == 144.0 and result["status"] == "ok"


def test_thresholds_in_the_wrong_order():
    with pytest.raises(CheckError, match="signal_fail"):
        run_wifi_info(signal_warn=-80, signal_fail=-70, runner=FakeRunner({}))


def test_nmcli_known_ssid_with_a_colon_is_unescaped():
    """`nmcli -g` escapes ':' like -t does: the known SSID must match the visible one."""
    outputs = dict(NMCLI)
    outputs[("nmcli", "-t", "-f", "NAME,TYPE", "connection", "show")] = (0, "Barn:802-11-wireless\ncafe:802-11-wireless\n")
    outputs[("nmcli", "-t", "-g", "802-11-wireless.ssid", "connection", "show", "id", "cafe")] = (0, "Coffee\\: Guest\n")
    runner = FakeRunner(outputs)
    result = run_wifi_info(runner=runner)
    assert "Coffee: Guest" in result["known"]
    assert result["strongest_known"]["ssid"] == "Coffee: Guest"
