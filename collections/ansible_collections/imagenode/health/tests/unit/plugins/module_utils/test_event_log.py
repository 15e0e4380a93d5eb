# Copyright (c) 2026 imagenode-health contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The event log (append, read, rotation, kill -9) and recovery.run_action's record."""

import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import textwrap
import time

import pytest

from ansible_collections.imagenode.health.plugins.module_utils import event_log, recovery
from ansible_collections.imagenode.health.plugins.module_utils.check_result import Stopwatch

COLLECTIONS = os.path.abspath(os.path.join(os.path.dirname(__file__), *[os.pardir] * 7))


def rec(seq):
    return event_log.make_record("zmq_reset", "fixed", fault="hub", node="pi1", evidence={"seq": seq})


def seqs(records):
    return [r["evidence"]["seq"] for r in records]


# --- records, append, read ------------------------------------------------------------------------

def test_record_fields():
    before = time.time()
    record = event_log.make_record("reboot", "changed", fault="program", evidence={"x": 1})
    assert set(record) == {"time", "epoch", "boot_id", "node", "fault", "action", "result", "evidence"}
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", record["time"])
    assert before - 1 <= record["epoch"] <= time.time() + 1
    with open("/proc/sys/kernel/random/boot_id") as handle:
        # The kernel's boot_id, then PID 1's start time (containers share the kernel).
        assert record["boot_id"].split("/")[0] == handle.read().strip()
    assert record["node"] == socket.gethostname().split(".")[0]
    assert (record["fault"], record["action"], record["result"], record["evidence"]) == \
        ("program", "reboot", "changed", {"x": 1})
    assert event_log.make_record("a", "b", node="pi7")["node"] == "pi7"
    assert event_log.make_record("a", "b")["evidence"] == {}


def test_append_and_read(tmp_path):
    path = str(tmp_path / "state" / "events.json")  # the directory is created
    assert event_log.read_events(path) == []
    assert event_log.append_event(rec(1), path) == 1
    assert event_log.append_event(rec(2), path) == 2
    events = event_log.read_events(path)
    assert seqs(events) == [1, 2]
    assert (events[0]["action"], events[0]["result"], events[0]["fault"], events[0]["node"]) == \
        ("zmq_reset", "fixed", "hub", "pi1")
    with open(path) as handle:
        assert json.load(handle) == {"events": events}
    assert oct(os.stat(path).st_mode & 0o777) == oct(0o644)


def test_rotation_moves_old_half_and_bounds_files(tmp_path):
    path = str(tmp_path / "events.json")
    for seq in range(1, 11):
        event_log.append_event(rec(seq), path, keep=10, rotations=3)
    assert not os.path.exists(path + ".1")
    assert event_log.append_event(rec(11), path, keep=10, rotations=3) == 5
    assert seqs(event_log.read_events(path)) == [7, 8, 9, 10, 11]
    assert seqs(event_log.read_events(path + ".1")) == [1, 2, 3, 4, 5, 6]
    for seq in range(12, 18):
        event_log.append_event(rec(seq), path, keep=10, rotations=3)
    assert seqs(event_log.read_events(path)) == [13, 14, 15, 16, 17]
    assert seqs(event_log.read_events(path + ".1")) == [7, 8, 9, 10, 11, 12]
    assert seqs(event_log.read_events(path + ".2")) == [1, 2, 3, 4, 5, 6]
    for seq in range(18, 51):
        count = event_log.append_event(rec(seq), path, keep=10, rotations=3)
        assert count <= 10
    names = sorted(name for name in os.listdir(str(tmp_path)) if not name.endswith(".tmp"))
    assert names == ["events.json", "events.json.1", "events.json.2", "events.json.3"]
    chain = []
    for suffix in (".3", ".2", ".1", ""):
        chain += seqs(event_log.read_events(path + suffix))
    assert chain == list(range(chain[0], 51))  # newest records, contiguous, oldest file first
    assert len(chain) < 40


def test_no_rotations_keeps_newest(tmp_path):
    path = str(tmp_path / "events.json")
    for seq in range(1, 8):
        event_log.append_event(rec(seq), path, keep=4, rotations=0)
    assert seqs(event_log.read_events(path)) == [4, 5, 6, 7]
    assert os.listdir(str(tmp_path)) == ["events.json"]


@pytest.mark.parametrize("content", [b"{\"events\": [1, 2", b"\xff\xfe\x00garbage", b"[1, 2, 3]",
                                     b"{\"events\": \"none\"}", b""],
                         ids=["truncated", "not-utf8", "list", "events-not-list", "empty"])
def test_corrupt_or_unreadable_log(tmp_path, content):
    path = tmp_path / "events.json"
    path.write_bytes(content)
    assert event_log.read_events(str(path)) == []
    assert event_log.append_event(rec(1), str(path)) == 1
    assert seqs(event_log.read_events(str(path))) == [1]


def test_log_that_is_a_directory_reads_empty(tmp_path):
    assert event_log.read_events(str(tmp_path)) == []


# --- kill -9 --------------------------------------------------------------------------------------

WRITER = textwrap.dedent("""
    import sys
    from ansible_collections.imagenode.health.plugins.module_utils import event_log
    path, keep = sys.argv[1], int(sys.argv[2])
    events = event_log.read_events(path)
    seq = events[-1]["evidence"]["seq"] + 1 if events else 1
    sys.stdout.write("ready\\n")
    sys.stdout.flush()
    while True:
        event_log.append_event(event_log.make_record("x", "fixed", node="pi1", evidence={"seq": seq}), path,
                               keep=keep, rotations=3)
        seq += 1
""")


def test_kill_9_never_corrupts_the_log(tmp_path):
    keep = 30
    path = str(tmp_path / "events.json")
    env = dict(os.environ, PYTHONPATH=COLLECTIONS)
    rng = random.Random(1234 + keep)
    last_count, last_seq, kills, rotated_drops = 0, 0, 0, 0
    started = time.monotonic()
    while kills < 20 and time.monotonic() - started < 4.0:
        proc = subprocess.Popen([sys.executable, "-c", WRITER, path, str(keep)], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            assert proc.stdout.readline() == b"ready\n", proc.stderr.read()
            time.sleep(rng.uniform(0.0, 0.06))
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            proc.stdout.close()
            proc.stderr.close()
        assert proc.returncode == -signal.SIGKILL
        kills += 1
        if os.path.exists(path):
            with open(path, "rb") as handle:
                assert isinstance(json.loads(handle.read().decode("utf-8"))["events"], list)
        events = event_log.read_events(path)
        assert isinstance(events, list)
        numbers = seqs(events)
        if numbers:
            # whole records only, none lost or repeated within the log
            assert numbers == list(range(numbers[0], numbers[0] + len(numbers)))
            assert numbers[-1] >= last_seq
            last_seq = numbers[-1]
        if len(events) < last_count:
            rotated = seqs(event_log.read_events(path + ".1"))
            assert rotated and rotated[-1] + 1 == numbers[0], "the log shrank without a rotation"
            rotated_drops += 1
        last_count = len(events)
    assert kills >= 10
    assert last_seq > keep  # the writers got far enough to rotate
    assert rotated_drops >= 1


# --- recovery.run_action --------------------------------------------------------------------------

def action_result(changed=True, fixed=True, needed=True):
    return recovery.make_recovery_result(Stopwatch(), changed, fixed, {"seen": "before"}, {"seen": "after"},
                                         "did the thing", actions=["one", "two"], needed=needed)


class Perform(object):
    def __init__(self, result):
        self.result, self.calls = result, 0

    def __call__(self):
        self.calls += 1
        return self.result


def test_make_recovery_result_shape():
    result = recovery.make_recovery_result(Stopwatch(), 1, None, {"a": 1}, {"b": 2}, "s", extra="x")
    assert result["changed"] is True and result["fixed"] is None and result["needed"] is True
    assert result["actions"] == [] and result["extra"] == "x"
    assert set(result) >= {"changed", "fixed", "needed", "before", "after", "actions", "summary", "elapsed"}


def test_check_mode_writes_nothing(tmp_path):
    path = str(tmp_path / "events.json")
    perform = Perform(action_result())
    result = recovery.run_action("zmq_reset", perform, check_mode=True, event_log=path)
    assert perform.calls == 1
    assert result is perform.result
    assert not os.path.exists(path)
    assert "event_log" not in result


def test_not_needed_writes_nothing(tmp_path):
    path = str(tmp_path / "events.json")
    result = recovery.run_action("zmq_reset", Perform(action_result(False, True, needed=False)), event_log=path)
    assert result["needed"] is False
    assert not os.path.exists(path)


def test_no_event_log_writes_nothing(tmp_path):
    result = recovery.run_action("zmq_reset", Perform(action_result()), event_log="")
    assert "event_log" not in result and "event_log_error" not in result


@pytest.mark.parametrize("changed,fixed,outcome", [(True, True, "fixed"), (False, True, "fixed"),
                                                   (True, False, "changed"), (False, False, "not fixed"),
                                                   (False, None, "not fixed")])
def test_one_record_per_action(tmp_path, changed, fixed, outcome):
    path = str(tmp_path / "events.json")
    perform = Perform(action_result(changed, fixed))
    result = recovery.run_action("hub_failover", perform, fault="hub", node="pi3", event_log=path)
    assert perform.calls == 1
    assert result["event_log"] == path
    events = event_log.read_events(path)
    assert len(events) == 1
    entry = events[0]
    assert (entry["action"], entry["result"], entry["fault"], entry["node"]) == ("hub_failover", outcome, "hub", "pi3")
    assert entry["evidence"]["before"] == {"seen": "before"}
    assert entry["evidence"]["after"] == {"seen": "after"}
    assert entry["evidence"]["actions"] == ["one", "two"]
    assert entry["evidence"]["summary"] == "did the thing"
    recovery.run_action("hub_failover", perform, event_log=path)
    assert len(event_log.read_events(path)) == 2


def test_unwritable_log_is_reported_not_raised(tmp_path):
    blocker = tmp_path / "afile"
    blocker.write_text("i am a file\n")
    path = str(blocker / "events.json")
    result = recovery.run_action("reboot", Perform(action_result()), event_log=path)
    assert "event_log_error" in result
    assert path in result["event_log_error"]
    assert "event_log" not in result
    assert result["fixed"] is True and result["changed"] is True
    assert blocker.read_text() == "i am a file\n"
