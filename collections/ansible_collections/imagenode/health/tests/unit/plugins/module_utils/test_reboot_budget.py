# Copyright (c) 2026 imagenode-health contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The reboot budget: no loops, no silent reboots, no counter that never resets or stops for good."""

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from ansible_collections.imagenode.health.plugins.module_utils import reboot_budget
from ansible_collections.imagenode.health.plugins.module_utils.check_result import CheckError
from ansible_collections.imagenode.health.plugins.module_utils.reboot_budget import (
    backoff_seconds,
    decide,
    make_policy,
    run_reboot_guard,
)

T0 = 1767225600.0  # 2026-01-01T00:00:00Z
HOUR = 3600
DAY = 86400
POLICY = make_policy()


def state_of(*epochs, boot="old-boot"):
    return {"reboots": [{"epoch": epoch, "boot_id": boot, "reason": "test"} for epoch in epochs]}


def guard(path, now, mode="reserve", boot="boot-%d", **kwargs):
    """run_reboot_guard with a fresh boot id per call unless one is given,
    as if every reservation had been followed by its reboot."""
    if "%d" in boot:
        boot = boot % int(now)
    kwargs.setdefault("reason", "imagenode not sending")
    return run_reboot_guard(state_path=str(path), now=now, mode=mode, boot_id=boot, **kwargs)


def digest(path):
    with open(str(path), "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def leftovers(directory):
    return [name for name in os.listdir(str(directory)) if name.endswith(".tmp")]


# --- the policy --------------------------------------------------------------


def test_three_reboots_in_a_day_then_the_fourth_waits_the_backoff(tmp_path):
    path = tmp_path / "budget.json"
    for index in range(3):
        result = guard(path, T0 + index * 600)
        assert result["allowed"] and result["changed"], result["summary"]
        assert result["reboots_in_window"] == index + 1
        assert result["next_allowed_in"] == 0
    fourth = guard(path, T0 + 1200 + 720)  # 12 minutes after the third
    assert not fourth["allowed"] and not fourth["changed"]
    assert fourth["next_allowed_in"] == HOUR - 720
    assert fourth["summary"] == ("reboot not allowed: budget spent: 3 reboots in the last 24h (last 0h12m ago); "
                                 "next allowed in 48m (backoff 1h)")
    assert len(json.loads(path.read_text())["reboots"]) == 3  # a refusal records no reboot
    assert guard(path, T0 + 1200 + HOUR)["allowed"]  # the backoff has passed


def test_backoff_doubles_per_extra_reboot_and_caps():
    assert [backoff_seconds(extra, POLICY) for extra in range(5)] == [3600, 7200, 14400, 14400, 14400]
    assert backoff_seconds(10 ** 6, POLICY) == 14400  # a huge count cannot overflow or stop for good


def test_decide_wait_grows_with_each_extra_reboot():
    now = T0 + 10
    waits = [decide(state_of(*[T0 - i for i in range(n)]), now, POLICY)["wait_seconds"] for n in (3, 4, 5, 6)]
    assert waits == [3600 - 10, 7200 - 10, 14400 - 10, 14400 - 10]


def test_never_a_permanent_stop_after_twenty_reboots(tmp_path):
    path = tmp_path / "budget.json"
    now, allowed = T0, 0
    for _index in range(20):
        result = guard(path, now)
        if not result["allowed"]:
            assert 0 < result["next_allowed_in"] <= 14400
            now += result["next_allowed_in"]
            result = guard(path, now)
        assert result["allowed"], result["summary"]
        allowed += 1
        now += 60
    assert allowed == 20
    refused = guard(path, now)
    assert not refused["allowed"] and 0 < refused["next_allowed_in"] <= 14400
    many = decide(state_of(*[T0 - i for i in range(200)]), T0, POLICY)
    assert 0 < many["wait_seconds"] <= 14400


def test_old_reboots_leave_the_window(tmp_path):
    decision = decide(state_of(T0 - DAY - 1, T0 - DAY, T0 - DAY + 100), T0, POLICY)
    assert decision["allowed"] and decision["reboots_in_window"] == 1
    path = tmp_path / "budget.json"
    for index in range(3):
        guard(path, T0 + index)
    assert not guard(path, T0 + 10)["allowed"]
    later = guard(path, T0 + DAY + 5)
    assert later["allowed"] and later["reboots_in_window"] == 1  # the three are forgotten
    assert len(json.loads(path.read_text())["reboots"]) == 1  # and pruned from the file


def test_a_reboot_dated_in_the_future_counts_as_recent():
    # the clock went back a day (no RTC, before NTP): those reboots are not old
    decision = decide(state_of(T0 + DAY, T0 + DAY + 1, T0 + DAY + 2), T0, POLICY)
    assert not decision["allowed"]
    assert decision["reboots_in_window"] == 3
    assert decision["wait_seconds"] == HOUR  # as if just now, not a day plus an hour


def test_a_clock_stuck_behind_delays_but_does_not_stop_reboots(tmp_path):
    path = tmp_path / "budget.json"
    for index in range(3):
        guard(path, T0 + DAY + index)
    first = guard(path, T0)  # clock now a day behind
    assert not first["allowed"] and first["next_allowed_in"] == HOUR
    assert any("re-dated 3" in action for action in first["actions"])
    assert guard(path, T0 + HOUR)["allowed"]  # aged from when they were seen


def test_max_reboots_zero_means_backoff_from_the_first(tmp_path):
    path = tmp_path / "budget.json"
    assert guard(path, T0, max_reboots=0)["allowed"]
    second = guard(path, T0 + 60, max_reboots=0)
    # the first reboot was already beyond a budget of none, so the next one is the second extra: 2 x base
    assert not second["allowed"] and second["next_allowed_in"] == 2 * HOUR - 60


def test_invalid_policy_is_refused():
    with pytest.raises(CheckError, match="backoff_max"):
        make_policy(backoff_base=3600, backoff_max=60)
    with pytest.raises(CheckError):
        make_policy(backoff_base=0)
    with pytest.raises(CheckError, match="reason"):
        run_reboot_guard(reason="  ", state_path="/nonexistent/x.json", check_mode=True)


# --- the boot id ----------------------------------------------------------------


def test_a_second_reservation_in_the_same_boot_is_the_same_slot(tmp_path):
    path = tmp_path / "budget.json"
    guard(path, T0, boot="boot-a")
    guard(path, T0 + 10, boot="boot-b")
    third = guard(path, T0 + 20, boot="boot-c")
    again = guard(path, T0 + 30, boot="boot-c", reason="probe agrees")  # the reboot has not happened yet
    assert third["allowed"] and again["allowed"]
    assert again["reboots_in_window"] == 3
    entries = json.loads(path.read_text())["reboots"]
    assert [entry["boot_id"] for entry in entries] == ["boot-a", "boot-b", "boot-c"]
    assert entries[-1]["reservations"] == 2 and entries[-1]["reason"] == "probe agrees"
    assert not guard(path, T0 + 40, boot="boot-d")["allowed"]  # a new boot: the slot was used


# --- the state file -------------------------------------------------------------


def test_reserve_records_reason_and_evidence_before_the_reboot(tmp_path):
    path = tmp_path / "budget.json"
    result = guard(path, T0, boot="b1", evidence={"summary": "no frames for 300 s", "frames": [1] * 1000})
    assert result["changed"] and result["fixed"] is None and result["needed"]
    assert result["before"] == []
    assert result["budget"] == {"max_reboots": 3, "window": 86400, "backoff_base": 3600, "backoff_max": 14400}
    assert result["state_path"] == str(path)
    data = json.loads(path.read_text())
    assert data["reboots"] == result["after"]
    entry = data["reboots"][0]
    assert entry["reason"] == "imagenode not sending" and entry["evidence"] == "no frames for 300 s"
    assert entry["boot_id"] == "b1" and entry["epoch"] == T0 and entry["time"] == "2026-01-01T00:00:00Z"
    assert leftovers(tmp_path) == []
    guard(path, T0 + 1, evidence="x" * 5000)
    assert len(json.loads(path.read_text())["reboots"][-1]["evidence"]) <= 300


def test_reserve_writes_only_through_atomic_write(tmp_path, monkeypatch):
    calls = []
    real = reboot_budget.atomic_write_json
    monkeypatch.setattr(reboot_budget, "atomic_write_json", lambda *args, **kw: calls.append(args) or real(*args, **kw))
    guard(tmp_path / "budget.json", T0)
    assert len(calls) == 1 and calls[0][0] == str(tmp_path / "budget.json")


def test_check_mode_decides_and_writes_nothing(tmp_path):
    path = tmp_path / "budget.json"
    guard(path, T0)
    before = digest(path)
    result = guard(path, T0 + 60, check_mode=True)
    assert result["allowed"] and not result["changed"]
    assert result["reboots_in_window"] == 2 and len(result["after"]) == 2  # the prediction
    assert digest(path) == before
    assert not guard(path, T0 + 60, mode="reset", check_mode=True)["changed"]
    assert digest(path) == before
    missing = tmp_path / "absent" / "budget.json"
    guard(missing, T0, check_mode=True)
    assert not missing.parent.exists()
    assert sorted(os.listdir(str(tmp_path))) == ["budget.json", "budget.json.lock"]


def test_query_answers_without_writing(tmp_path):
    path = tmp_path / "budget.json"
    for index in range(3):
        guard(path, T0 + index)
    before = digest(path)
    result = guard(path, T0 + 60, mode="query")
    assert not result["allowed"] and not result["changed"] and not result["needed"]
    assert result["next_allowed_in"] == HOUR - 58 and "budget spent" in result["summary"]
    assert digest(path) == before


@pytest.mark.parametrize("content", [b"{\"reboots\": [{\"epo", b"\xff\xfe garbage", b"[1, 2]",
                                     b"{\"reboots\": [{\"epoch\": \"yesterday\"}]}"])
def test_a_corrupt_state_file_allows_one_reboot_per_backoff_base(tmp_path, content):
    path = tmp_path / "budget.json"
    path.write_bytes(content)
    os.utime(str(path), (T0, T0))  # last written at T0: likely the last reboot
    soon = guard(path, T0 + 600)
    assert not soon["allowed"] and soon["budget_unknown"]
    assert soon["next_allowed_in"] == HOUR - 600
    assert "budget unknown" in soon["summary"] and str(path) in soon["summary"]
    assert path.read_bytes() == content  # a refusal leaves the evidence alone
    later = guard(path, T0 + HOUR)
    assert later["allowed"] and later["changed"] and later["budget_unknown"]
    assert (tmp_path / "budget.json.corrupt").read_bytes() == content
    data = json.loads(path.read_text())  # readable again
    assert all(entry.get("budget_unknown") for entry in data["reboots"])
    # the cautious rate lasts a window: not the full budget of three at once
    assert not guard(path, T0 + HOUR + 60)["allowed"]
    assert guard(path, T0 + DAY + HOUR + 1)["allowed"]


def test_a_corrupt_state_file_with_an_old_mtime_allows_a_reboot_at_once(tmp_path):
    path = tmp_path / "budget.json"
    path.write_text("not json")
    os.utime(str(path), (T0 - 2 * DAY, T0 - 2 * DAY))
    assert guard(path, T0)["allowed"]


def test_a_reservation_that_cannot_be_written_is_refused(tmp_path, monkeypatch):
    def fail(*args, **kwargs):
        raise OSError(30, "Read-only file system")
    monkeypatch.setattr(reboot_budget, "atomic_write_json", fail)
    result = guard(tmp_path / "budget.json", T0)
    assert not result["allowed"] and not result["changed"]
    assert "Read-only file system" in result["state_error"] and "no record" in result["summary"]


def test_reset_clears_the_budget(tmp_path):
    path = tmp_path / "budget.json"
    for index in range(3):
        guard(path, T0 + index)
    assert not guard(path, T0 + 10)["allowed"]
    reset = guard(path, T0 + 20, mode="reset")
    assert reset["changed"] and reset["allowed"] and len(reset["before"]) == 3 and reset["after"] == []
    assert "cleared 3 reboot record(s)" in reset["summary"]
    assert json.loads(path.read_text())["reboots"] == []
    assert guard(path, T0 + 30)["allowed"]
    again = guard(tmp_path / "other.json", T0, mode="reset")
    assert not again["changed"] and not again["needed"]


def test_reset_replaces_a_corrupt_file(tmp_path):
    path = tmp_path / "budget.json"
    path.write_text("{")
    reset = guard(path, T0, mode="reset")
    assert reset["changed"] and (tmp_path / "budget.json.corrupt").read_text() == "{"
    assert json.loads(path.read_text())["reboots"] == []


# --- kill -9 --------------------------------------------------------------------

WRITER = textwrap.dedent("""
    import sys
    from ansible_collections.imagenode.health.plugins.module_utils.reboot_budget import run_reboot_guard
    path, index = sys.argv[1], 0
    while True:
        index += 1
        run_reboot_guard("loop %d" % index, evidence={"summary": "x" * 200}, state_path=path,
                         max_reboots=10 ** 6, boot_id="boot-%d" % index)
""")


def inode(path):
    try:
        return os.stat(str(path)).st_ino
    except OSError:
        return None


def test_the_state_survives_kill_9_at_random_moments(tmp_path):
    path = tmp_path / "budget.json"
    collections = os.path.abspath(os.path.join(os.path.dirname(reboot_budget.__file__), *[".."] * 5))
    env = dict(os.environ, PYTHONPATH=collections)
    rng = random.Random(1234)
    started = time.monotonic()
    kills = 0
    while kills < 30 and time.monotonic() - started < 4.5:
        previous = inode(path)
        process = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], env=env)
        # wait until this process has replaced the file (each write is a new
        # inode), so the kill lands among writes, not during start-up
        while inode(path) == previous and process.poll() is None and time.monotonic() - started < 4.5:
            time.sleep(0.002)
        assert process.poll() is None, "the writer died by itself"
        time.sleep(rng.uniform(0, 0.02))
        process.send_signal(signal.SIGKILL)
        process.wait()
        kills += 1
        data = json.loads(path.read_text())  # always whole: old or new, never half
        assert isinstance(data["reboots"], list) and data["reboots"]
    assert kills >= 10
    assert len(json.loads(path.read_text())["reboots"]) > kills  # it was killed among writes
    assert guard(path, time.time(), mode="query", max_reboots=10 ** 6)["allowed"]
