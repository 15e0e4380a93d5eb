# Copyright (c) 2026 imagenode-health contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""power_check on fake /sys trees and recorded vcgencmd / kernel log output."""

import pytest

from ansible_collections.imagenode.health.plugins.module_utils.check_result import CheckError
from ansible_collections.imagenode.health.plugins.module_utils.power_check import (
    decode_throttled,
    parse_throttled,
    run_power_check,
)
from ansible_collections.imagenode.health.tests.unit.plugins.fake_runner import FakeRunner, write_tree

PI_TREE = {
    "/sys/class/hwmon/hwmon0/name": "cpu_thermal\n",
    "/sys/class/hwmon/hwmon1/name": "rpi_volt\n",
    "/sys/class/hwmon/hwmon1/in0_lcrit_alarm": "0\n",
    "/sys/class/thermal/thermal_zone0/temp": "48312\n",
}
QUIET_LOG = {("journalctl",): (0, "2026-12-01T18:00:00+0000 pi kernel: Booting Linux\n")}


def with_vcgencmd(text):
    answers = dict(QUIET_LOG)
    answers[("vcgencmd",)] = (0, text)
    return FakeRunner(answers)


def pi(tmp_path, **changes):
    files = dict(PI_TREE)
    files.update(changes)
    write_tree(tmp_path, files)
    return str(tmp_path)


@pytest.mark.parametrize("text, value", [
    ("throttled=0x0\n", 0), ("throttled=0x50005\n", 0x50005), ("throttled=0x80000", 0x80000),
    ("", None), ("VCHI initialization failed\n", None), ("throttled=zz", None),
])
def test_parse_throttled(text, value):
    assert parse_throttled(text) == value


def test_decode_throttled_names_bits():
    assert decode_throttled(0x50005) == ["under-voltage", "throttled", "under-voltage has occurred",
                                         "throttling has occurred"]


def test_healthy_pi_is_ok(tmp_path):
    result = run_power_check(root=pi(tmp_path), runner=with_vcgencmd("throttled=0x0\n"))
    assert result["status"] == "ok", result["summary"]
    assert result["temperature_c"] == 48.312 and result["undervoltage"] is False
    assert result["evidence"]["sources"] == {"hwmon": True, "thermal": True, "kernel_log": True, "vcgencmd": True}


def test_hwmon_alarm_is_fail_even_when_vcgencmd_says_nothing(tmp_path):
    root = pi(tmp_path, **{"/sys/class/hwmon/hwmon1/in0_lcrit_alarm": "1\n"})
    result = run_power_check(root=root, runner=with_vcgencmd("throttled=0x0\n"))
    assert result["status"] == "fail" and "under-voltage now" in result["summary"]


def test_kernel_log_events_warn_without_vcgencmd(tmp_path):
    log = ("2026-12-01T18:10:00+0000 pi kernel: hwmon hwmon1: Undervoltage detected!\n"
           "2026-12-01T18:10:04+0000 pi kernel: hwmon hwmon1: Voltage normalised\n")
    result = run_power_check(root=pi(tmp_path), runner=FakeRunner({("journalctl",): (0, log)}))
    assert result["status"] == "warn"
    assert result["evidence"]["kernel_log"]["undervoltage_events"] == 1
    assert result["evidence"]["kernel_log"]["normalised_events"] == 1
    assert result["evidence"]["sources"]["vcgencmd"] is False


def test_vcgencmd_throttled_now_warns_and_occurred_bits_warn(tmp_path):
    result = run_power_check(root=pi(tmp_path), runner=with_vcgencmd("throttled=0x20002\n"))
    assert result["status"] == "warn" and "arm frequency capped" in result["summary"]
    assert result["throttled"] is True


@pytest.mark.parametrize("millideg, status", [("69999", "ok"), ("70000", "warn"), ("80500", "fail")])
def test_temperature_thresholds(tmp_path, millideg, status):
    root = pi(tmp_path, **{"/sys/class/thermal/thermal_zone0/temp": millideg + "\n"})
    assert run_power_check(root=root, runner=FakeRunner(QUIET_LOG))["status"] == status


def test_implausible_temperature_is_ignored(tmp_path):
    write_tree(tmp_path, {"/sys/class/thermal/thermal_zone0/temp": "999999\n"})
    result = run_power_check(root=str(tmp_path), runner=FakeRunner({}))
    assert result["status"] == "unknown" and result["temperature_c"] is None


def test_no_source_at_all_is_unknown(tmp_path):
    result = run_power_check(root=str(tmp_path), runner=FakeRunner({("journalctl",): (0, "")}))
    assert result["status"] == "unknown"
    assert result["undervoltage"] is None
    assert not any(result["evidence"]["sources"].values())


def test_malformed_vcgencmd_is_no_source(tmp_path):
    result = run_power_check(root=str(tmp_path), runner=FakeRunner({("vcgencmd",): (255, "VCHI initialization failed\n")}))
    assert result["status"] == "unknown"
    assert result["evidence"]["vcgencmd"]["error"]


def test_bad_thresholds_are_errors():
    with pytest.raises(CheckError, match="temp_warn"):
        run_power_check(temp_warn=90, temp_fail=80, runner=FakeRunner({}))
