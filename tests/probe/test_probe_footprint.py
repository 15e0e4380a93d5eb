"""The probe's cheaper cycle (issue 6): its check threads and its kernel log are kept from
cycle to cycle, the start-up's objects are frozen out of the collector's scans, the fact
and textfile are replaced without fsync, and the state is fsync'd only when its durable part
changes."""

import os
import threading

import pytest

from .conftest import FakeClock, FakeHealth, checks_healthy, checks_hub_fault

from imagenode_health_core import atomic_file
from imagenode_probe import daemon, outputs
from imagenode_probe.daemon import Probe


def test_the_check_threads_are_kept_between_cycles(make_config, tmp_path):
    (tmp_path / "imagenode.yaml").write_text("node:\n  name: testnode\nhub_address:\n  H1: tcp://127.0.0.1:9\n")
    probe = Probe(make_config(checks=["wifi_info", "instance_check"]), clock=FakeClock(), boot_id="b")
    seen = []
    for _cycle in range(3):
        report = probe.run_cycle(send=False, act=False)
        assert set(report["health"]["checks"]) == set(["wifi_info", "instance_check"])
        seen.append(probe._executor)
        names = sorted(t.name for t in threading.enumerate() if t.name.startswith("check"))
        assert 1 <= len(names) <= 2
    assert seen[0] is not None and seen[0] is seen[1] is seen[2]
    probe._executor.shutdown()


@pytest.mark.skipif(not os.access("/dev/kmsg", os.R_OK), reason="needs a readable /dev/kmsg (root)")
def test_the_kernel_log_is_followed_not_read_again_every_expensive_cycle(make_config, tmp_path):
    (tmp_path / "imagenode.yaml").write_text("node:\n  name: testnode\nhub_address:\n  H1: tcp://127.0.0.1:9\n")
    config = make_config(checks=["sdcard_check", "power_check"], check_options={"sdcard_check": {"canary": False, "manifest_file": str(tmp_path / "manifest.json")}})
    probe = Probe(config, clock=FakeClock(), boot_id="b")
    first = probe.run_cycle(send=False, act=False)
    follower = probe._kernel_log
    assert follower.available
    ring = follower.records_read  # the ring buffer, read once at start
    for _cycle in range(3):
        report = probe.run_cycle(send=False, act=False)
        assert probe._kernel_log is follower
        assert report["health"]["checks"]["sdcard_check"]["evidence"]["kernel_log"]["source"] == "dmesg"
    assert follower.records_read - ring < 50  # new records only, not the ring buffer three more times
    assert first["health"]["checks"]["sdcard_check"]["status"] == report["health"]["checks"]["sdcard_check"]["status"]
    probe._executor.shutdown()


def test_an_injected_health_gets_no_executor(make_config):
    health = FakeHealth(checks_healthy)
    probe = Probe(make_config(), health=health, clock=FakeClock(), boot_id="b")
    probe.run_cycle(send=False)
    assert probe._executor is None


def test_run_freezes_the_start_up_objects_after_the_first_cycle(make_config, monkeypatch):
    calls = []
    monkeypatch.setattr(daemon.gc, "freeze", lambda: calls.append("freeze"))
    probe = Probe(make_config(interval=1), health=FakeHealth(checks_healthy), boot_id="b",
                  notify=lambda *a: None)
    probe.run(max_cycles=2)
    assert calls == ["freeze"]  # once, after the first cycle


def test_fact_and_textfile_are_replaced_without_fsync_the_state_with(make_config, monkeypatch):
    durable, volatile = [], []
    monkeypatch.setattr(outputs, "atomic_write_json", lambda path, value, mode=0o644: durable.append(path))
    monkeypatch.setattr(outputs, "atomic_write_volatile", lambda path, data, mode=0o644: volatile.append(path))
    probe = Probe(make_config(), health=FakeHealth(checks_healthy), clock=FakeClock(), boot_id="b")
    probe.run_cycle(send=False)
    assert durable == [probe.state_path]
    assert sorted(volatile) == sorted([probe.config["facts_file"], probe.config["textfile"]])
    assert atomic_file.atomic_write_volatile is not atomic_file.atomic_write


def test_the_state_is_fsynced_only_when_its_durable_part_changes(make_config, monkeypatch):
    """The heartbeat sequence and counters change every cycle; a journal commit on the
    SD card every cycle is spared. The episode, step and last action are made durable."""
    writes = []
    monkeypatch.setattr(outputs, "atomic_write_json", lambda path, value, mode=0o644: writes.append("durable"))
    monkeypatch.setattr(outputs, "atomic_write_volatile",
                        lambda path, data, mode=0o644: writes.append("volatile") if path.endswith("state.json") else None)
    scenario = [checks_healthy]
    probe = Probe(make_config(), health=FakeHealth(lambda: scenario[0]()), clock=FakeClock(), boot_id="b")
    for _cycle in range(3):
        probe.run_cycle(send=False)
    assert writes == ["durable", "volatile", "volatile"]  # a new process: durable first
    probe.last_action = {"step": "zmq_reset", "ok": True, "why": "test"}
    probe.run_cycle(send=False)
    probe.run_cycle(send=False)
    assert writes[3:] == ["durable", "volatile"]
    scenario[0] = checks_hub_fault  # a fault episode begins (debounce holds the step back)
    probe.run_cycle(send=False)
    assert probe.episode is not None and writes[5:] == ["durable"]
    probe.run_cycle(send=False, act=False)
    assert writes[6:] == ["volatile"]


def test_a_volatile_state_write_is_still_whole_and_read_back(make_config):
    probe = Probe(make_config(), health=FakeHealth(checks_healthy), clock=FakeClock(), boot_id="b")
    for _cycle in range(3):
        probe.run_cycle(send=False)
    again = Probe(make_config(), health=FakeHealth(checks_healthy), clock=FakeClock(), boot_id="b")
    assert again.seq == probe.seq + 1 and again.total_cycles == 3
    assert [n for n in os.listdir(os.path.dirname(probe.state_path)) if n.endswith(".tmp")] == []


def test_the_queue_directory_is_listed_once_not_every_cycle(tmp_path, monkeypatch):
    from imagenode_probe import spool as spool_module
    directory = tmp_path / "queue"
    directory.mkdir()
    stale = directory / ".hb-00000000000000000007.json.abcdefgh.tmp"  # a writer killed mid-write
    stale.write_text("{")
    old = os.path.getmtime(str(stale)) - 3600
    os.utime(str(stale), (old, old))
    listed = []
    real_listdir = os.listdir
    monkeypatch.setattr(spool_module.os, "listdir", lambda d: listed.append(d) or real_listdir(d))
    queue = spool_module.Spool(str(directory), maximum=3)
    for seq in range(5):
        queue.put({"node": "n", "seq": seq})
        assert len(queue) == min(seq + 1, 3)
    assert queue.seqs() == [2, 3, 4] and queue.dropped == 2
    # listed once, at first use, which swept the stale temp; never again, nor by atomic_write
    for _cycle in range(10):
        len(queue)
        queue.seqs()
    assert listed == [str(directory)] and not stale.exists()
    os.unlink(str(directory / ("hb-%020d.json" % 3)))  # removed from outside
    assert [seq for seq, _beat in queue.items()] == [2, 4] and queue.seqs() == [2, 4]
    assert sorted(real_listdir(str(directory))) == ["hb-%020d.json" % 2, "hb-%020d.json" % 4]
