# Copyright (c) 2026 imagenode-health contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""wifi_restart: which service it restarts, in which order, and how it proves the link is back.

No radio here either: FakeRadio (see test_wifi_select) answers the tools from a
small state; restarting the service re-associates unless the driver is wedged.
"""

import pytest

from ansible_collections.imagenode.health.plugins.module_utils.check_result import CheckError
from ansible_collections.imagenode.health.plugins.module_utils.wifi_restart import (
    detect_service,
    restart_commands,
    run_wifi_restart,
)
from ansible_collections.imagenode.health.tests.unit.plugins.fake_runner import FakeRunner
from ansible_collections.imagenode.health.tests.unit.plugins.module_utils.test_wifi_select import (
    Clock,
    FakeRadio,
    RadioProber,
)


def restart(radio, **kw):
    clock = Clock()
    result = run_wifi_restart(runner=radio, prober=RadioProber(radio), clock=clock, sleep=clock.sleep,
                              system="Linux", **kw)
    return result, clock


def systemctl_changes(radio):
    return [c for c in radio.calls if c[:2] in (["systemctl", "reset-failed"], ["systemctl", "restart"])]


def stopped_nm():
    # NetworkManager stopped: the unit is inactive but still enabled, nmcli says not running.
    radio = FakeRadio(current=None, nm_running=False, units={"NetworkManager.service": ("inactive", "enabled")})
    return radio


def test_networkmanager_stopped_is_detected_by_its_enabled_unit_and_restarted():
    radio = stopped_nm()
    result, _clock = restart(radio)
    assert result["service"] == "NetworkManager" and result["unit"] == "NetworkManager.service"
    assert systemctl_changes(radio) == [["systemctl", "reset-failed", "NetworkManager.service"],
                                        ["systemctl", "restart", "NetworkManager.service"]]
    assert result["actions"] == ["systemctl reset-failed NetworkManager.service",
                                 "systemctl restart NetworkManager.service"]
    assert result["fixed"] is True and result["changed"] is True and result["needed"] is True
    assert result["before"] == {"associated": False, "ssid": None, "signal_dbm": None, "gateway": None,
                                "gateway_ok": False}
    assert result["after"]["ssid"] == "Barn" and result["after"]["gateway_ok"] is True
    assert result["took"] is not None and result["took"] >= 0
    assert "back in" in result["summary"]


def test_nmcli_answering_is_enough_to_detect_networkmanager():
    radio = FakeRadio(units={})
    assert detect_service(radio, "wlan0", "Linux")["service"] == "NetworkManager"


def test_wpa_supplicant_per_interface_then_plain_then_dhcpcd():
    radio = FakeRadio(backend="wpa", units={"wpa_supplicant@wlan0.service": ("active", "enabled"),
                                            "wpa_supplicant.service": ("active", "enabled")})
    assert detect_service(radio, "wlan0", "Linux")["unit"] == "wpa_supplicant@wlan0.service"
    radio = FakeRadio(backend="wpa", units={"wpa_supplicant.service": ("inactive", "enabled"),
                                            "dhcpcd.service": ("active", "enabled")})
    assert detect_service(radio, "wlan0", "Linux")["unit"] == "wpa_supplicant.service"
    radio = FakeRadio(backend="wpa", units={"wpa_supplicant.service": ("inactive", "disabled"),
                                            "dhcpcd.service": ("active", "enabled")})
    found = detect_service(radio, "wlan0", "Linux")
    assert (found["service"], found["unit"]) == ("dhcpcd", "dhcpcd.service")
    # the order of the probes: NetworkManager first
    first = [c for c in radio.calls if c[0] == "systemctl"][0]
    assert first == ["systemctl", "is-active", "NetworkManager.service"]


def test_no_wifi_service_is_an_error():
    radio = FakeRadio(backend="wpa", units={})
    with pytest.raises(CheckError, match="no WiFi service"):
        detect_service(radio, "wlan0", "Linux")
    with pytest.raises(CheckError, match="no systemctl"):
        detect_service(FakeRunner({}), "wlan0", "Linux")


def test_healthy_link_needs_nothing_unless_forced():
    radio = FakeRadio()
    result, _clock = restart(radio)
    assert result["needed"] is False and result["changed"] is False and result["fixed"] is True
    assert systemctl_changes(radio) == [] and result["took"] is None
    result, _clock = restart(radio, force=True)
    assert result["needed"] is True and result["changed"] is True
    assert len(systemctl_changes(radio)) == 2


def test_check_mode_names_the_service_and_changes_nothing():
    radio = stopped_nm()
    result, _clock = restart(radio, check_mode=True)
    assert systemctl_changes(radio) == [] and radio.nm_running is False
    assert result["changed"] is False and result["fixed"] is None
    assert "would restart NetworkManager.service" in result["summary"]
    assert result["actions"] == ["systemctl reset-failed NetworkManager.service",
                                 "systemctl restart NetworkManager.service"]


def test_wedged_driver_times_out_polling_on_the_monotonic_clock():
    radio = stopped_nm()
    radio.wedged = True
    result, clock = restart(radio, timeout=5)
    assert result["fixed"] is False and result["changed"] is True
    assert result["took"] >= 5 and sum(clock.sleeps) >= 5 and len(clock.sleeps) >= 5
    assert "still not associated" in result["summary"]


def test_a_late_association_is_waited_for():
    radio = stopped_nm()
    radio.restart_joins = False
    ticks = []

    class LateProber(RadioProber):
        def probe(self, host, port, layer):
            ticks.append(host)
            return RadioProber.probe(self, host, port, layer)

    clock = Clock()
    original = clock.sleep

    def sleep(seconds):
        original(seconds)
        if clock.now >= 102:
            radio.current = "Barn"

    result = run_wifi_restart(runner=radio, prober=LateProber(radio), clock=clock, sleep=sleep, system="Linux",
                              timeout=30)
    assert result["fixed"] is True and 2 <= result["took"] < 3


def test_macos_cycles_the_airport_power():
    found = detect_service(FakeRunner({}), None, "Darwin")
    assert restart_commands(found) == [["networksetup", "-setairportpower", "en0", "off"],
                                       ["networksetup", "-setairportpower", "en0", "on"]]
    runner = FakeRunner({("networksetup",): (0, ""), ("route",): (0, "   route to: default\n    gateway: 10.0.0.1\n")})
    clock = Clock()
    result = run_wifi_restart(runner=runner, system="Darwin", force=True, timeout=1, clock=clock,
                              sleep=clock.sleep, prober=RadioProber(type("R", (), {"reachable": lambda s, h: True})()))
    assert [c for c in runner.calls if c[0] == "networksetup"] == [
        ["networksetup", "-setairportpower", "en0", "off"], ["networksetup", "-setairportpower", "en0", "on"]]
    assert result["service"] == "airport" and result["unit"] is None


def test_bad_timeout():
    with pytest.raises(CheckError):
        run_wifi_restart(timeout=0, runner=FakeRadio(), system="Linux")
