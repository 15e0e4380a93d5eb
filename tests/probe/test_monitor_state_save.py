"""The monitor's state file, written a piece at a time (Fleet.iter_json) so
that saving a big fleet never holds up heartbeats for the whole walk."""

import json
import os

import pytest

pytest.importorskip("zmq")

from imagenode_health_core import heartbeat as hb  # noqa: E402
from imagenode_monitor import fleet as fleet_mod  # noqa: E402
from imagenode_monitor.fleet import Fleet  # noqa: E402
from imagenode_monitor.server import Monitor  # noqa: E402


def beat(name, seq=1, status="ok", events=()):
    return hb.decode(hb.encode({"node": name, "seq": seq, "boot_id": "b-" + name, "uptime": 12.5,
                                "sent": 999.5, "interval": 1, "status": status,
                                "checks": {"hub_check": status}, "step": None, "last_action": None,
                                "events": list(events), "queued": 0}))


def fleet_of(count, clock=1000.0):
    fleet = Fleet(silent_after=3, clock=lambda: clock, mono=lambda: 50.0)
    for i in range(count):
        fleet.ingest(beat("node%04d" % i, status="ok" if i % 3 else "fail",
                          events=[{"event": "restart", "n": i}]), clock, 49.0)
    return fleet


def test_pieces_join_to_the_snapshot():
    fleet = fleet_of(250)
    pieces = list(fleet.iter_json(chunk=100))
    # the opening, one piece per 100 nodes, the summary
    assert len(pieces) == 1 + 3 + 1
    assert json.loads("".join(pieces)) == json.loads(json.dumps(fleet.snapshot()))


def test_without_events_for_the_summary_view():
    fleet = fleet_of(5)
    data = json.loads("".join(fleet.iter_json(full=False)))
    assert data == json.loads(json.dumps(fleet.snapshot(full=False)))
    assert all("events" not in entry for entry in data["nodes"].values())


def test_an_empty_fleet_is_valid_json():
    data = json.loads("".join(Fleet().iter_json()))
    assert data["nodes"] == {} and data["version"] == fleet_mod.STATE_VERSION


def test_nodes_that_come_and_go_during_the_walk():
    fleet = fleet_of(300)
    pieces = fleet.iter_json(chunk=100)
    head = [next(pieces), next(pieces)]  # the opening and nodes 0..99
    del fleet.nodes["node0250"]  # gone before its turn: left out
    fleet.ingest(beat("late"), 1000.0, 49.5)  # arrived after the walk began: next save
    fleet.ingest(beat("node0000", seq=2), 1000.0, 49.5)  # already written: stays at seq 1
    data = json.loads("".join(head + list(pieces)))
    assert len(data["nodes"]) == 299
    assert "node0250" not in data["nodes"] and "late" not in data["nodes"]
    assert data["nodes"]["node0000"]["seq"] == 1
    assert data["nodes"]["node0299"]["seq"] == 1
    # the counters are read at the end of the walk
    assert data["monitor"]["heartbeats_total"] == 302


def test_saved_state_loads_back(tmp_path):
    path = str(tmp_path / "state.json")
    fleet = fleet_of(120)
    fleet.save(path)
    assert not fleet.dirty
    again = Fleet(clock=lambda: 1000.0, mono=lambda: 50.0)
    assert again.load(path) == 120
    assert again.nodes["node0007"].seq == 1 and again.nodes["node0000"].status == "fail"
    assert again.heartbeats_total == 120


def monitor_with(fleet, path):
    monitor = Monitor(state_path=path, metrics_port=None, curve=False)
    monitor.fleet = fleet
    return monitor


def test_the_loop_saves_a_piece_per_turn(tmp_path):
    path = str(tmp_path / "state.json")
    fleet = fleet_of(fleet_mod.NODES_PER_CHUNK * 3 + 1)
    monitor = monitor_with(fleet, path)
    monitor._save_begin()
    assert not fleet.dirty and monitor.saving()
    turns = 1
    while not monitor._save_step():
        turns += 1
        assert not os.path.exists(path)  # nothing on disk until the whole text is there
    # opening + 4 pieces of nodes + summary, then the end of the walk
    assert turns == 7
    monitor._wait_writer()
    assert not monitor.saving()
    assert json.load(open(path)) == json.loads(json.dumps(fleet.snapshot()))
    assert monitor._save_cost > 0


def test_a_failed_write_is_recorded_and_retried(tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the state directory should be")
    monitor = monitor_with(fleet_of(3), str(blocker / "state.json"))
    monitor._save_begin()
    while not monitor._save_step():
        pass
    monitor._wait_writer()
    assert monitor.fleet.dirty  # the next turn of the loop tries again
    assert monitor.fleet.monitor_events[-1]["event"] == "save_failed"


def test_state_json_is_the_whole_fleet(tmp_path):
    fleet = fleet_of(230)
    monitor = monitor_with(fleet, str(tmp_path / "state.json"))
    assert json.loads(monitor.state_json()) == json.loads(json.dumps(fleet.snapshot()))
