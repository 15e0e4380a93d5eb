"""Scheduler, debounce, grace and the ladder climb, through the shared ladder.next_step."""

import json

from .conftest import FakeClock, FakeHealth, checks_healthy, checks_hub_fault, checks_program_fault

from imagenode_health_core import ladder
from imagenode_health_core.event_log import read_events
from imagenode_health_core.recovery import Stopwatch, make_recovery_result
from imagenode_probe.daemon import Probe


class FakeSteps(object):
    """Fake recovery actions: each records its call and returns a recovery result."""

    def __init__(self, fixed=()):
        self.calls = []
        self.fixed = set(fixed)

    def functions(self):
        def make(name):
            def perform(probe, plan, health):
                self.calls.append(name)
                return make_recovery_result(Stopwatch(), True, name in self.fixed, {}, {}, "fake %s" % name)
            return perform
        return dict((name, make(name)) for name in ladder.LADDER if name != "reboot")


def test_scheduler_cheap_every_cycle_expensive_every_nth(make_config):
    health = FakeHealth(checks_healthy)
    probe = Probe(make_config(expensive_every=3), health=health, clock=FakeClock(), boot_id="b")
    for _ in range(7):
        probe.run_cycle(send=False, write=False)
    expensive = {"latency_check", "sdcard_check", "power_check"}
    for index, selected in enumerate(health.calls):
        assert {"hub_check", "ping_check", "wifi_info", "instance_check"} <= set(selected)
        assert (expensive <= set(selected)) == (index % 3 == 0), (index, selected)
        if index % 3:
            assert not expensive & set(selected)
    # the newest expensive results are still part of every cycle's view
    report = probe.run_cycle(send=False, write=False)
    assert "sdcard_check" in report["health"]["checks"]


def test_fault_seen_once_is_not_acted_on(make_config):
    seen = iter([checks_hub_fault(), checks_healthy(), checks_hub_fault(), checks_healthy()])
    steps = FakeSteps()
    probe = Probe(make_config(), health=FakeHealth(lambda: next(seen)), steps=steps.functions(),
                  clock=FakeClock(), boot_id="b")
    holds = [probe.run_cycle(send=False)["hold"] for _ in range(4)]
    assert steps.calls == []
    assert "1 of 2 consecutive cycles" in holds[0] and holds[1] is None
    assert read_events(probe.config["event_log"]) == []


def test_ladder_order_and_stop_when_healthy(make_config):
    steps = FakeSteps()

    def scenario():  # fixed once zmq_reset and hub_failover have run
        return checks_healthy() if len(steps.calls) >= 2 else checks_hub_fault()
    probe = Probe(make_config(), health=FakeHealth(scenario), steps=steps.functions(), clock=FakeClock(),
                  boot_id="b")
    reports = [probe.run_cycle(send=False) for _ in range(6)]
    assert steps.calls == ["zmq_reset", "hub_failover"]
    assert reports[0]["hold"].startswith("fault seen in 1 of 2")
    assert reports[1]["plan"]["next_step"] == "zmq_reset" and reports[2]["plan"]["next_step"] == "hub_failover"
    assert reports[3]["plan"]["healthy"] and probe.done == [] and probe.step is None
    assert probe.last_action["action"] == "hub_failover"
    # the same event log as the playbooks: one record per step, via recovery.run_action
    events = read_events(probe.config["event_log"])
    assert [e["action"] for e in events] == ["zmq_reset", "hub_failover"]
    assert events[0]["fault"].startswith("hub:") and events[0]["node"] == "testnode"
    state = json.load(open(probe.state_path))
    assert state["done"] == [] and state["last_action"]["action"] == "hub_failover"


def test_ladder_climbs_in_order_to_the_reboot_guard(make_config):
    steps = FakeSteps()
    asked = []

    def guard(probe, reason, evidence):
        asked.append(evidence["steps_taken"])
        return make_recovery_result(Stopwatch(), False, None, [], [], "reboot not allowed: budget spent",
                                    allowed=False, next_allowed_in=3600)
    clock = FakeClock()
    probe = Probe(make_config(), health=FakeHealth(checks_hub_fault), steps=steps.functions(), guard=guard,
                  clock=clock, boot_id="b")
    for _ in range(8):
        probe.run_cycle(send=False)
    assert steps.calls == ["zmq_reset", "hub_failover", "imagenode_restart"]
    assert asked == [["zmq_reset", "hub_failover", "imagenode_restart"]]  # asked once, then waits
    assert probe.last_action["result"] == "refused" and "budget" in probe.last_action["summary"]
    assert "asking again" in probe.hold and not probe.pending_reboot
    clock.now += 3601
    probe.run_cycle(send=False)
    assert len(asked) == 2  # never a permanent stop
    assert [e["action"] for e in read_events(probe.config["event_log"])][-1] == "reboot_guard"


def test_reboot_through_the_real_budget(make_config):
    steps = FakeSteps()
    rebooted = []
    probe = Probe(make_config(steps=["reboot"], reboot={"max_reboots": 1}), health=FakeHealth(checks_hub_fault),
                  steps=steps.functions(), reboot=rebooted.append, clock=FakeClock(), boot_id="b")
    probe.run_cycle(send=False)
    probe.run_cycle(send=False)
    assert probe.pending_reboot and probe.last_action["result"] == "rebooting"
    budget = json.load(open(probe.config["state_dir"] + "/reboot_budget.json"))
    assert len(budget["reboots"]) == 1 and budget["reboots"][0]["reason"].startswith("hub:")


def test_hub_down_stops_at_the_hub_steps(make_config):
    steps = FakeSteps()

    def scenario():  # hub1's host answers, the hub does not: its program is down
        checks = checks_hub_fault()
        checks["hub_check"]["evidence"]["hubs"][0]["tcp"] = "refused or unreachable"
        checks["ping_check"]["evidence"]["layers"]["hub_host"]["status"] = "up"
        return checks
    probe = Probe(make_config(), health=FakeHealth(scenario), steps=steps.functions(), clock=FakeClock(),
                  boot_id="b")
    for _ in range(6):
        report = probe.run_cycle(send=False)
    assert steps.calls == ["zmq_reset", "hub_failover"]
    assert "not climbing past the hub steps" in report["hold"]


def test_grace_no_restart_of_a_young_program(make_config):
    steps = FakeSteps(fixed=["imagenode_restart"])
    age = {"value": 5.0}
    clock = FakeClock()
    probe = Probe(make_config(grace=60), health=FakeHealth(lambda: checks_program_fault(age["value"])),
                  steps=steps.functions(), clock=clock, boot_id="b")
    first = probe.run_cycle(send=False)
    assert "probe started" in probe.run_cycle(send=False)["hold"]  # the probe's own grace
    clock.now += 120
    held = probe.run_cycle(send=False)
    assert steps.calls == [] and "imagenode started 5 s ago" in held["hold"]
    age["value"] = 61.0
    probe.run_cycle(send=False)
    assert steps.calls == ["imagenode_restart"]
    assert first["plan"]["next_step"] == "imagenode_restart"


def test_hub_failover_not_held_forever_by_a_camera_that_restarts_itself(make_config):
    """imagenode exits when its hub stops answering and its start method starts it again, so the
    camera is always young while hub1 is down. The young-program guard must not hold the failover
    for good: once the hub fault has lasted the grace, the probe fails over."""
    steps = FakeSteps()
    clock = FakeClock()
    probe = Probe(make_config(grace=20, debounce=1), health=FakeHealth(lambda: checks_hub_fault(age=4.0)),
                  steps=steps.functions(), clock=clock, boot_id="b")
    clock.now += 30  # past the probe's own grace
    holds = []
    for _ in range(8):
        holds.append(probe.run_cycle(send=False)["hold"])
        clock.now += 3
    assert steps.calls[0] == "zmq_reset"
    assert any(h and "imagenode started 4 s ago" in h for h in holds), holds
    assert steps.calls == ["zmq_reset", "hub_failover"], (steps.calls, holds)


def test_check_mode_takes_no_action(make_config):
    steps = FakeSteps()
    probe = Probe(make_config(), health=FakeHealth(checks_hub_fault), steps=steps.functions(), clock=FakeClock(),
                  boot_id="b")
    for _ in range(3):
        report = probe.run_cycle(act=False, send=False, write=False, debounce=False)
    assert steps.calls == [] and report["hold"] == "check only: would take zmq_reset"


def test_a_step_that_cannot_run_is_recorded_and_the_climb_goes_on(make_config):
    def broken(probe, plan, health):
        raise RuntimeError("no systemctl")
    steps = FakeSteps()
    functions = steps.functions()
    functions["zmq_reset"] = broken
    probe = Probe(make_config(debounce=1), health=FakeHealth(checks_hub_fault), steps=functions,
                  clock=FakeClock(), boot_id="b")
    probe.run_cycle(send=False)
    assert probe.last_action["result"] == "error" and "no systemctl" in probe.last_action["summary"]
    probe.run_cycle(send=False)
    assert steps.calls == ["hub_failover"]
    assert [e["result"] for e in read_events(probe.config["event_log"])][0] == "error"


def test_new_boot_starts_a_new_episode(make_config):
    steps = FakeSteps()
    config = make_config(debounce=1)
    probe = Probe(config, health=FakeHealth(checks_hub_fault), steps=steps.functions(), clock=FakeClock(),
                  boot_id="boot1")
    probe.run_cycle(send=False)
    assert probe.done == ["zmq_reset"]
    same = Probe(config, health=FakeHealth(checks_hub_fault), clock=FakeClock(), boot_id="boot1")
    assert same.done == ["zmq_reset"] and same.seq > probe.seq - 1
    other = Probe(config, health=FakeHealth(checks_hub_fault), clock=FakeClock(), boot_id="boot2")
    assert other.done == []


def test_sigusr1_resets_the_links(make_config):
    import signal

    class Links(object):
        resets = 0

        def reset(self):
            Links.resets += 1
    probe = Probe(make_config(), health=FakeHealth(checks_healthy), links=Links(), clock=FakeClock(), boot_id="b")
    probe._signal(signal.SIGUSR1, None)
    assert probe.reset_requested and probe.wake.is_set()
    probe.run_cycle(send=False, write=False)
    assert Links.resets == 1 and not probe.reset_requested
