"""relaxed_checks: ping_check runs with the expensive checks while the node is healthy,
every cycle while it is not, and in a cycle that finds a fault before the ladder decides."""

import pytest

from .conftest import HUB1_DOWN, FakeClock, FakeHealth, checks_healthy, result

from imagenode_probe import config as probe_config
from imagenode_probe.daemon import Probe

CHEAP_BUT_PING = {"hub_check", "wifi_info", "instance_check"}


def checks_network_down():
    """WiFi link lost: no hub answers, and ping_check finds the link down (the ladder's network layer)."""
    checks = checks_healthy()
    checks["hub_check"] = result("fail", "no hub answers", {"hubs": [dict(h, ok=False) for h in HUB1_DOWN]})
    checks["ping_check"] = result("fail", "link wlan0 is down", {"layers": {"link": {"status": "down"}}},
                                  failed_layer="link")
    return checks


class Node(object):
    """The node as the checks see it now: healthy until `fault` is set."""

    def __init__(self):
        self.fault = None

    def __call__(self):
        return self.fault() if self.fault else checks_healthy()


def make_probe(make_config, node, **overrides):
    settings = dict(expensive_every=3, relaxed_checks=["ping_check"])
    settings.update(overrides)
    health = FakeHealth(node)
    return Probe(make_config(**settings), health=health, clock=FakeClock(), boot_id="b"), health


def test_default_relaxes_ping_check_only_where_hub_check_runs():
    assert probe_config.validate({"node": "n"})["relaxed_checks"] == ["ping_check"]
    assert probe_config.validate({"node": "n", "relaxed_checks": None})["relaxed_checks"] == ["ping_check"]
    assert probe_config.validate({"node": "n", "relaxed_checks": []})["relaxed_checks"] == []
    # without hub_check nothing shows the network while ping_check rests: it runs every cycle
    without_hub = probe_config.validate({"node": "n", "checks": ["ping_check", "instance_check"]})
    assert without_hub["relaxed_checks"] == []


@pytest.mark.parametrize("value, words", [
    (["ping_chek"], ["relaxed_checks", "ping_chek"]),
    (["ping_check", "sdcard_check"], ["relaxed_checks", "expensive_checks", "sdcard_check"]),
])
def test_bad_relaxed_checks_name_the_key(value, words):
    with pytest.raises(probe_config.ConfigError) as caught:
        probe_config.validate({"node": "n", "relaxed_checks": value})
    for word in words:
        assert word in str(caught.value)


def test_a_healthy_node_pings_with_the_expensive_checks(make_config):
    node = Node()
    probe, health = make_probe(make_config, node)
    reports = [probe.run_cycle(send=False, write=False) for _ in range(7)]
    assert len(health.calls) == 7  # one round per cycle: nothing was wrong
    for index, selected in enumerate(health.calls):
        assert CHEAP_BUT_PING <= set(selected)
        assert ("ping_check" in selected) == (index % 3 == 0), (index, selected)
    # its newest result still goes into every cycle's view (heartbeat, fact, textfile)
    assert all(report["health"]["checks"]["ping_check"]["status"] == "ok" for report in reports)


def test_a_fault_runs_the_left_out_ping_before_the_ladder_decides(make_config):
    node = Node()
    probe, health = make_probe(make_config, node, debounce=1)
    probe.run_cycle(send=False, write=False)  # cycle 0: everything
    probe.run_cycle(send=False, write=False)  # cycle 1: healthy, no ping
    assert "ping_check" not in health.calls[-1]
    node.fault = checks_network_down
    report = probe.run_cycle(send=False, write=False)
    # the cycle's own checks first, then the ping they left out, in the same cycle
    assert set(health.calls[-2]) == CHEAP_BUT_PING and health.calls[-1] == ["ping_check"]
    assert "ping_check" in report["selected"]
    # decided on the fresh ping: the link is down, so WiFi is restarted. With cycle 0's
    # ping (all up) the same hub failure would have read as a hub fault: zmq_reset.
    assert [f["layer"] for f in report["plan"]["faults"]] == ["network"]
    assert report["plan"]["next_step"] == "wifi_restart"


def test_ping_runs_every_cycle_until_the_node_is_healthy_again(make_config):
    node = Node()
    probe, health = make_probe(make_config, node, steps=[])  # no steps: the fault stays
    probe.run_cycle(send=False, write=False)
    node.fault = checks_network_down
    probe.run_cycle(send=False, write=False)  # cycle 1 finds the fault: two rounds (test above)
    assert health.calls[-1] == ["ping_check"]
    for _ in range(3):
        calls = len(health.calls)
        probe.run_cycle(send=False, write=False)
        rounds = health.calls[calls:]
        # not healthy at its last cycle: ping is among the cycle's own checks, no second round
        assert len(rounds) == 1 and "ping_check" in rounds[0], rounds
    node.fault = None
    probe.run_cycle(send=False, write=False)   # cycle 5: healthy again; ping still ran
    assert "ping_check" in health.calls[-1]
    probe.run_cycle(send=False, write=False)   # cycle 6, expensive: everything
    probe.run_cycle(send=False, write=False)   # cycle 7: healthy at its last cycle: relaxed
    assert "ping_check" not in health.calls[-1] and CHEAP_BUT_PING <= set(health.calls[-1])


def test_without_relaxed_checks_ping_runs_every_cycle(make_config):
    probe, health = make_probe(make_config, Node(), relaxed_checks=[])
    for _ in range(4):
        probe.run_cycle(send=False, write=False)
    assert all("ping_check" in selected for selected in health.calls)
