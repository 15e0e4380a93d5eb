# Copyright (c) 2026 imagenode-health contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""zmq_reset with a fake hub check (results in the run_hub_check shape), a FakeRunner and fake instances."""

from ansible_collections.imagenode.health.plugins.module_utils import zmq_reset
from ansible_collections.imagenode.health.plugins.module_utils.hub_check import run_hub_check
from ansible_collections.imagenode.health.tests.unit.plugins.fake_hub import FakeHub
from ansible_collections.imagenode.health.tests.unit.plugins.fake_runner import FakeRunner

PRIMARY = "tcp://hub1:5555"
ALTERNATE = "tcp://hub2:5555"
UNIT = "imagenode-probe.service"


def hub_result(primary_ok, alternate_ok=True):
    """What run_hub_check (hub_probe.check_hubs) returns: the per-hub list is evidence.hubs."""
    hubs = [{"address": PRIMARY, "ok": primary_ok, "rtt_ms": 2.0 if primary_ok else None,
             "error": None if primary_ok else "no reply within 2.0 s (TCP: connected)", "attempts": 1,
             "tcp": "connected"},
            {"address": ALTERNATE, "ok": alternate_ok, "rtt_ms": 3.0 if alternate_ok else None,
             "error": None if alternate_ok else "no reply", "attempts": 1, "tcp": "connected"}]
    healthy = [h["address"] for h in hubs if h["ok"]]
    status = "ok" if primary_ok and alternate_ok else "warn" if primary_ok else "fail"
    return {"status": status, "summary": "hubs", "elapsed": 0.1,
            "evidence": {"node_name": "pi1", "timeout": 2.0, "attempts": 2, "hubs": hubs, "source": "hubs"},
            "healthy_hub": healthy[0] if healthy else None, "primary_hub": PRIMARY,
            "alternates_ok": [h["address"] for h in hubs[1:] if h["ok"]]}


class FakeHubCheck(object):
    """Answers hub_check calls from a list, in order; records the keyword arguments."""

    def __init__(self, *results):
        self.results = list(results)
        self.calls = []

    def __call__(self, **kwargs):
        self.calls.append(kwargs)
        return self.results[len(self.calls) - 1]


class FakeInstances(object):
    def __init__(self, pids):
        self.pids = list(pids)
        self.patterns = []

    def __call__(self, pattern):
        self.patterns.append(pattern)
        return [{"pid": pid, "launcher": "systemd"} for pid in self.pids]


def runner(probe_active=True):
    return FakeRunner({
        ("systemctl", "is-active", "--quiet", UNIT): (0 if probe_active else 3, ""),
        ("systemctl", "kill"): (0, ""),
        ("kill",): (0, ""),
    })


def acting_calls(fake):
    return [call for call in fake.calls if call[:2] == ["systemctl", "kill"] or call[0] == "kill"]


def run(hub_check, fake_runner, instances=None, **kwargs):
    return zmq_reset.run_zmq_reset(hubs=[PRIMARY, ALTERNATE], node_name="pi1", runner=fake_runner,
                                   hub_check=hub_check, instances=instances or FakeInstances([]), **kwargs)


def test_primary_ok_needs_nothing():
    check, fake = FakeHubCheck(hub_result(True)), runner()
    result = run(check, fake)
    assert result["needed"] is False
    assert result["changed"] is False
    assert result["fixed"] is True
    assert fake.calls == []
    assert len(check.calls) == 1
    assert check.calls[0]["hubs"] == [PRIMARY, ALTERNATE]
    assert check.calls[0]["node_name"] == "pi1"


def test_primary_down_probe_active_signals_the_probe_and_is_fixed():
    check, fake = FakeHubCheck(hub_result(False), hub_result(True)), runner(probe_active=True)
    result = run(check, fake)
    assert ["systemctl", "kill", "--signal=SIGUSR1", UNIT] in fake.calls
    assert result["needed"] is True
    assert result["changed"] is True
    assert result["fixed"] is True
    assert len(check.calls) == 2
    assert result["before"]["down"] == [PRIMARY]
    assert result["before"]["first_healthy"] == ALTERNATE
    assert result["after"]["answering"] == [PRIMARY, ALTERNATE]
    assert "answers after the reset" in result["summary"]
    assert any("SIGUSR1 to %s" % UNIT in action for action in result["actions"])
    assert result["actions"][-1] == "re-tested the hubs with a fresh socket"


def test_fixed_follows_the_second_hub_check():
    check, fake = FakeHubCheck(hub_result(False), hub_result(False)), runner(probe_active=True)
    result = run(check, fake)
    assert ["systemctl", "kill", "--signal=SIGUSR1", UNIT] in fake.calls
    assert result["changed"] is True
    assert result["fixed"] is False
    assert "still does not answer" in result["summary"]
    assert PRIMARY in result["summary"]


def test_failed_signal_is_reported_in_actions():
    fake = FakeRunner({("systemctl", "is-active", "--quiet", UNIT): (0, ""),
                       ("systemctl", "kill"): (1, "", "Failed to kill unit\n")})
    result = run(FakeHubCheck(hub_result(False), hub_result(False)), fake)
    assert any("failed (Failed to kill unit)" in action for action in result["actions"])


def test_probe_inactive_and_no_hook_changes_nothing_and_says_only_a_restart_helps():
    check, fake = FakeHubCheck(hub_result(False), hub_result(False)), runner(probe_active=False)
    instances = FakeInstances([4242])
    result = run(check, fake, instances=instances)
    assert acting_calls(fake) == []
    assert instances.patterns == []  # no hook: imagenode's pids are not even looked up
    assert result["changed"] is False
    assert result["fixed"] is False
    assert zmq_reset.NO_HOOK in result["summary"]
    assert "only a program restart" in result["summary"]
    assert result["notes"] == [zmq_reset.NO_HOOK]


def test_no_probe_unit_is_not_queried():
    check, fake = FakeHubCheck(hub_result(False), hub_result(True)), runner()
    result = run(check, fake, probe_unit="")
    assert fake.calls == []
    assert result["changed"] is False


def test_hook_signal_sends_kill_to_the_instances():
    check, fake = FakeHubCheck(hub_result(False), hub_result(True)), runner(probe_active=False)
    instances = FakeInstances([101, 202])
    result = run(check, fake, instances=instances, hook_signal="SIGUSR1", pattern="imagenode\\.py")
    assert instances.patterns == ["imagenode\\.py"]
    assert ["kill", "-s", "USR1", "101", "202"] in fake.calls
    assert not [call for call in fake.calls if call[:2] == ["systemctl", "kill"]]
    assert result["changed"] is True
    assert result["fixed"] is True
    assert result["notes"] == []
    assert zmq_reset.NO_HOOK not in result["summary"]


def test_hook_signal_with_probe_active_does_both():
    check, fake = FakeHubCheck(hub_result(False), hub_result(True)), runner(probe_active=True)
    run(check, fake, instances=FakeInstances([7]), hook_signal="SIGHUP")
    assert acting_calls(fake) == [["systemctl", "kill", "--signal=SIGUSR1", UNIT], ["kill", "-s", "HUP", "7"]]


def test_check_mode_acts_on_nothing():
    check, fake = FakeHubCheck(hub_result(False), hub_result(True)), runner(probe_active=True)
    result = run(check, fake, instances=FakeInstances([101]), hook_signal="SIGUSR1", check_mode=True)
    assert acting_calls(fake) == []
    assert len(check.calls) == 1
    assert result["changed"] is False
    assert result["fixed"] is None
    assert result["actions"]
    assert all(action.startswith("would ") for action in result["actions"])
    assert any("SIGUSR1 to %s" % UNIT in action for action in result["actions"])
    assert any("101" in action for action in result["actions"])


def test_check_mode_without_hook_keeps_the_note():
    check, fake = FakeHubCheck(hub_result(False)), runner(probe_active=False)
    result = run(check, fake, check_mode=True)
    assert acting_calls(fake) == []
    assert result["fixed"] is None
    assert all(action.startswith("would ") for action in result["actions"])
    assert "only a program restart" in result["summary"]


def test_force_resets_even_when_primary_ok():
    check, fake = FakeHubCheck(hub_result(True), hub_result(True)), runner(probe_active=True)
    result = run(check, fake, force=True)
    assert ["systemctl", "kill", "--signal=SIGUSR1", UNIT] in fake.calls
    assert result["needed"] is True
    assert result["fixed"] is True


def test_real_hub_check_result_shape_primary_ok_needs_nothing():
    """The default hub_check (run_hub_check) against a loopback hub: its answer must be read right."""
    with FakeHub() as hub:
        fake = runner()
        result = zmq_reset.run_zmq_reset(hubs=[hub.address], node_name="pi1", timeout=1.0, attempts=1,
                                         runner=fake, hub_check=run_hub_check, instances=FakeInstances([]))
    assert result["needed"] is False
    assert result["fixed"] is True
    assert result["before"]["answering"] == [hub.address]
    assert fake.calls == []
