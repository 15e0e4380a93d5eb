# Copyright (c) 2026 imagenode-health contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Kernel log reading: journalctl short-iso, dmesg, neither; and the command runner."""

import os
import sys

from ansible_collections.imagenode.health.plugins.module_utils.command_runner import Runner, find_binary
from ansible_collections.imagenode.health.plugins.module_utils.kernel_log import (
    parse_dmesg,
    parse_journal,
    read_kernel_log,
)
from ansible_collections.imagenode.health.tests.unit.plugins.fake_runner import FakeRunner, write_tree

JOURNAL = """\
2026-12-01T18:02:11+0000 raspberrypi kernel: mmc0: Timeout waiting for hardware interrupt.
2026-12-01T18:02:11+00:00 raspberrypi kernel: mmcblk0: error -110 sending status command, retrying
-- Boot 0a1b2c3d4e5f --
2026-12-01T18:10:00+0000 raspberrypi kernel: hwmon hwmon1: Undervoltage detected!
"""

DMESG = """\
[    0.000000] Booting Linux on physical CPU 0x0
[    5.123456] Under-voltage detected! (0x00050005)
[ 3600.500000] mmc0: Timeout waiting for hardware interrupt.
garbage line without a timestamp
[ 3700.000001] Voltage normalised (0x00000000)
"""


def test_parse_journal_keeps_time_and_message_and_skips_other_lines():
    lines = parse_journal(JOURNAL)
    assert lines[0] == ("2026-12-01T18:02:11+0000", "mmc0: Timeout waiting for hardware interrupt.")
    assert lines[1][1].startswith("mmcblk0: error -110")
    assert len(lines) == 3


def test_parse_dmesg_window_from_seconds_since_boot():
    assert len(parse_dmesg(DMESG)) == 4
    recent = parse_dmesg(DMESG, since_boot=3000.0)
    assert [msg for _t, msg in recent] == [
        "mmc0: Timeout waiting for hardware interrupt.", "Voltage normalised (0x00000000)"]
    assert recent[0][0] == "+3600.500s"


def test_parse_empty_and_malformed():
    assert parse_journal("") == [] and parse_dmesg("") == []
    assert parse_journal("-- No entries --\n") == []
    assert parse_dmesg("[abc] nope\n\x00\x01") == []


def test_journalctl_first():
    log = read_kernel_log(600, FakeRunner({("journalctl",): (0, JOURNAL)}))
    assert log.source == "journalctl" and len(log.lines) == 3


def test_no_journal_files_falls_back_to_dmesg(tmp_path):
    write_tree(tmp_path, {"/proc/uptime": "3800.00 100.00\n"})
    runner = FakeRunner({("journalctl",): (0, "-- No entries --\n", "No journal files were found.\n"),
                         ("dmesg",): (0, DMESG)})
    log = read_kernel_log(600, runner, root=str(tmp_path))
    assert log.source == "dmesg"
    assert len(log.lines) == 2  # since boot second 3200


def test_neither_readable_says_why():
    runner = FakeRunner({("dmesg",): (1, "", "dmesg: read kernel buffer failed: Operation not permitted\n")})
    log = read_kernel_log(600, runner)
    assert log.source is None and log.lines == []
    assert "journalctl not found" in log.error and "Operation not permitted" in log.error


def test_runner_runs_argument_lists_in_the_c_locale():
    result = Runner(timeout=5).run([sys.executable, "-c", "import os; print(os.environ['LC_ALL'])"])
    assert result.ok and result.stdout.strip() == "C"


def test_runner_reports_missing_tool_and_timeout_without_raising():
    assert Runner().run(["no-such-tool-xyz"]).error == "no-such-tool-xyz not found"
    slow = Runner(timeout=0.2).run([sys.executable, "-c", "import time; time.sleep(5)"])
    assert slow.rc is None and "did not finish within 0.2 s" in slow.error


def test_find_binary_searches_sbin_too(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    assert find_binary("sh") in ("/usr/bin/sh", "/bin/sh")
    assert find_binary(sys.executable) == sys.executable
    assert find_binary(os.path.join("/nonexistent", "tool")) is None
