# Copyright (c) 2026 imagenode-health contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The scheduling examples for the nightly audit (examples/schedule/): the
systemd units pass systemd-analyze verify, the timer is nightly, persistent and
randomised, and the cron line runs the same command as the service."""

import configparser
import shlex
import shutil

import pytest

from conftest import ROOT, run

SCHEDULE = ROOT / "examples" / "schedule"
INSTALLED = "/opt/imagenode-health"


def unit(name):
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str
    parser.read_string((SCHEDULE / name).read_text())
    return parser


def service_command():
    return shlex.split(unit("imagenode-audit.service")["Service"]["ExecStart"])


def test_the_timer_is_nightly_persistent_and_randomised():
    timer = unit("imagenode-audit.timer")["Timer"]
    assert timer["OnCalendar"] == "*-*-* 02:30:00"
    assert timer["Persistent"] == "true" and timer["RandomizedDelaySec"]
    assert timer["Unit"] == "imagenode-audit.service"
    assert unit("imagenode-audit.timer")["Install"]["WantedBy"] == "timers.target"


def test_the_service_runs_the_audit_once():
    service = unit("imagenode-audit.service")["Service"]
    assert service["Type"] == "oneshot"
    assert service_command()[:2] == ["%s/.venv/bin/ansible-playbook" % INSTALLED, "-i"]
    assert "playbooks/audit.yml" in service_command()
    assert service["WorkingDirectory"] == INSTALLED


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze (Debian package systemd) is not installed here, so the units cannot be verified")
def test_systemd_accepts_the_units(tmp_path):
    # The units as installed from this checkout (its own venv, a user that exists here).
    for name in ("imagenode-audit.service", "imagenode-audit.timer"):
        text = (SCHEDULE / name).read_text().replace(INSTALLED, str(ROOT)).replace("User=pi", "User=root")
        (tmp_path / name).write_text(text)
    proc = run(["systemd-analyze", "verify", "--man=no", str(tmp_path / "imagenode-audit.timer"),
                str(tmp_path / "imagenode-audit.service")])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "imagenode-audit" not in proc.stderr, proc.stderr


def test_the_cron_line_runs_what_the_service_runs():
    lines = [line for line in (SCHEDULE / "imagenode-audit.cron").read_text().splitlines()
             if line.strip() and not line.startswith("#") and "=" not in line.split()[0]]
    assert len(lines) == 1
    fields = lines[0].split(None, 6)
    assert fields[:5] == ["30", "2", "*", "*", "*"] and fields[5] == "pi"
    command = fields[6]
    assert "%" not in command  # cron would cut the line there
    assert run(["bash", "-n", "-c", command]).returncode == 0
    assert " ".join(service_command()[1:]) in command
