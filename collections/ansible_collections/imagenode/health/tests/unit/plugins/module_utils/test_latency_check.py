# Copyright (c) 2026 imagenode-health contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""latency_check: real probes in a temp dir, and a learned baseline against injected timings."""

import json
import os

import pytest

from ansible_collections.imagenode.health.plugins.module_utils.atomic_file import (
    atomic_write,
    atomic_write_json,
    read_json,
)
from ansible_collections.imagenode.health.plugins.module_utils.check_result import CheckError
from ansible_collections.imagenode.health.plugins.module_utils.command_runner import CommandResult
from ansible_collections.imagenode.health.plugins.module_utils.latency_check import (
    probe_write_read,
    run_latency_check,
)
from ansible_collections.imagenode.health.tests.unit.plugins.fake_runner import FakeRunner


def timings(**ms):
    """A measure_fn returning fixed timings (ms, or an error string)."""
    def measure(path, ssh_host, runner, fail_ms):
        result = {}
        for name, value in ms.items():
            if isinstance(value, str):
                result[name] = {"ms": None, "error": value}
            else:
                result[name] = {"ms": float(value), "error": None}
        return result
    return measure


def test_atomic_write_replaces_and_leaves_no_temp(tmp_path):
    target = tmp_path / "sub" / "state.json"
    atomic_write_json(str(target), {"a": 1})
    atomic_write(str(target), '{"a": 2}')
    assert read_json(str(target)) == {"a": 2}
    assert os.listdir(str(target.parent)) == ["state.json"]
    assert read_json(str(tmp_path / "missing.json"), "none") == "none"
    (tmp_path / "bad.json").write_text("{not json")
    assert read_json(str(tmp_path / "bad.json")) is None


def test_real_probes_in_a_temp_dir(tmp_path):
    write, read = probe_write_read(str(tmp_path))
    assert write["error"] is None and read["error"] is None
    assert write["ms"] > 0 and read["ms"] >= 0
    assert os.listdir(str(tmp_path)) == []


def test_write_probe_in_a_missing_place_fails(tmp_path):
    write, read = probe_write_read(str(tmp_path / "nope"))
    assert "cannot write" in write["error"] and "not measured" in read["error"]


def test_first_runs_learn_then_judge(tmp_path):
    state = str(tmp_path / "state" / "latency.json")
    normal = timings(write=10, read=1, spawn=3)
    for run in range(1, 4):
        result = run_latency_check(path=str(tmp_path), state_file=state, learn_runs=3, measure_fn=normal)
        assert result["status"] == "ok" and result["learning"] is True
        assert result["summary"].startswith("learning baseline %d/3" % run)
    saved = json.loads(open(state).read())
    assert saved["runs"] == 3 and saved["probes"]["write"] == [10.0, 10.0, 10.0]
    ok = run_latency_check(path=str(tmp_path), state_file=state, learn_runs=3, measure_fn=normal)
    assert ok["status"] == "ok" and ok["learning"] is False
    assert ok["probes"]["write"]["baseline_median_ms"] == 10.0
    slow = run_latency_check(path=str(tmp_path), state_file=state, learn_runs=3, measure_fn=timings(write=60, read=1, spawn=3))
    assert slow["status"] == "warn" and "6x its baseline 10.0 ms" in slow["summary"]
    assert "not added to the baseline" in slow["summary"]
    dying = run_latency_check(path=str(tmp_path), state_file=state, learn_runs=3, measure_fn=timings(write=250, read=1, spawn=3))
    assert dying["status"] == "fail" and dying["probes"]["write"]["status"] == "fail"
    # the slow runs did not join the baseline
    assert json.loads(open(state).read())["probes"]["write"] == [10.0] * 4


def test_floor_keeps_tiny_baselines_from_flapping(tmp_path):
    state = str(tmp_path / "latency.json")
    for _run in range(2):
        run_latency_check(path=str(tmp_path), state_file=state, learn_runs=2, measure_fn=timings(spawn=0.5))
    result = run_latency_check(path=str(tmp_path), state_file=state, learn_runs=2, measure_fn=timings(spawn=4))
    assert result["status"] == "ok"  # 8x of 0.5 ms, but under 5x the 5 ms floor


def test_absolute_bounds_apply_while_learning(tmp_path):
    result = run_latency_check(path=str(tmp_path), state_file=str(tmp_path / "s.json"),
                               measure_fn=timings(write=1500, read=1, spawn=1), warn_ms={"write": 1000})
    assert result["status"] == "warn" and result["learning"] is True
    assert "learning baseline 1/5" in result["summary"] and "warn bound 1000 ms" in result["summary"]
    assert not os.path.exists(str(tmp_path / "s.json"))


def test_window_keeps_the_last_samples(tmp_path):
    state = str(tmp_path / "s.json")
    for value in range(1, 6):
        run_latency_check(path=str(tmp_path), state_file=state, window=3, measure_fn=timings(write=value))
    assert read_json(state)["probes"]["write"] == [3.0, 4.0, 5.0]


def test_check_mode_does_not_write_the_baseline(tmp_path):
    state = str(tmp_path / "s.json")
    result = run_latency_check(path=str(tmp_path), state_file=state, check_mode=True)
    assert result["status"] == "ok" and "check mode: baseline not saved" in result["summary"]
    assert not os.path.exists(state) and result["evidence"]["saved"] is False


def test_unwritable_state_is_reported_not_fatal(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = run_latency_check(path=str(tmp_path), state_file=str(blocker / "s.json"), measure_fn=timings(write=1))
    assert result["status"] == "ok" and "cannot save the baseline" in result["summary"]


def test_ssh_probe_uses_batch_mode_and_failure_is_fail(tmp_path):
    runner = FakeRunner({("/bin/true",): (0, ""),
                         ("ssh",): (255, "", "Permission denied (publickey).\n")})
    result = run_latency_check(path=str(tmp_path), state_file=str(tmp_path / "s.json"), ssh_host="127.0.0.1",
                               runner=runner)
    ssh_call = [c for c in runner.calls if c[0] == "ssh"][0]
    assert ssh_call[:3] == ["ssh", "-o", "BatchMode=yes"] and ssh_call[-2:] == ["127.0.0.1", "true"]
    assert result["status"] == "fail" and "Permission denied" in result["probes"]["ssh"]["error"]
    assert result["probes"]["spawn"]["status"] == "ok"


def test_spawn_timeout_is_fail(tmp_path):
    runner = FakeRunner({("/bin/true",): CommandResult(["/bin/true"], error="/bin/true did not finish within 6.0 s")})
    result = run_latency_check(path=str(tmp_path), state_file=str(tmp_path / "s.json"), runner=runner)
    assert result["probes"]["spawn"]["status"] == "fail" and result["status"] == "fail"


def test_corrupt_state_starts_learning_again(tmp_path):
    state = tmp_path / "s.json"
    state.write_text("[1, 2")
    result = run_latency_check(path=str(tmp_path), state_file=str(state), measure_fn=timings(write=1))
    assert result["learning"] is True and read_json(str(state))["runs"] == 1


@pytest.mark.parametrize("kwargs, words", [
    ({"warn_factor": 30}, "warn_factor"),
    ({"warn_ms": {"disk": 5}}, "'disk' is not a probe"),
    ({"fail_ms": {"write": "slow"}}, "fail_ms.write"),
    ({"path": "/nonexistent/dir"}, "not a directory"),
    ({"learn_runs": 0}, "learn_runs"),
])
def test_bad_arguments(tmp_path, kwargs, words):
    kwargs.setdefault("state_file", str(tmp_path / "s.json"))
    with pytest.raises(CheckError, match=words):
        run_latency_check(**kwargs)
