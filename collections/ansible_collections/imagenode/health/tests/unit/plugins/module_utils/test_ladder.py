# Copyright (c) 2026 imagenode-health contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The recovery ladder on node_health-shaped results: diagnosis, order, ceilings, the fleet guard."""

import pytest

from ansible_collections.imagenode.health.plugins.module_utils import ladder
from ansible_collections.imagenode.health.plugins.module_utils.check_result import CheckError

PRIMARY = "tcp://hub1:5555"
ALTERNATE = "tcp://hub2:5555"


# --- node_health-shaped check results -------------------------------------------------------------

def hub_result(primary_ok=True, alternate_ok=True, tcp="connected"):
    """A hub_check (hub_probe.check_hubs) result for a primary and one alternate."""
    hubs = [
        {"address": PRIMARY, "ok": primary_ok, "rtt_ms": 3.0 if primary_ok else None,
         "error": None if primary_ok else "no reply within 2.0 s (TCP: %s)" % tcp, "attempts": 1 if primary_ok else 2,
         "tcp": "connected" if primary_ok else tcp},
        {"address": ALTERNATE, "ok": alternate_ok, "rtt_ms": 4.0 if alternate_ok else None,
         "error": None if alternate_ok else "no reply", "attempts": 1, "tcp": "connected"},
    ]
    healthy = [h["address"] for h in hubs if h["ok"]]
    if primary_ok and alternate_ok:
        status, summary = "ok", "all 2 hub(s) answer"
    elif primary_ok:
        status, summary = "warn", "primary hub answers; alternate does not"
    elif healthy:
        status, summary = "fail", "primary hub %s does not answer; alternate %s answers" % (PRIMARY, ALTERNATE)
    else:
        status, summary = "fail", "no hub answers"
    return {"status": status, "summary": summary, "elapsed": 0.1,
            "evidence": {"node_name": "pi1", "timeout": 2.0, "attempts": 2, "hubs": hubs, "source": "hubs"},
            "healthy_hub": healthy[0] if healthy else None, "primary_hub": PRIMARY,
            "alternates_ok": [h["address"] for h in hubs[1:] if h["ok"]]}


def ping_result(failed_layer=None, hub_host="up"):
    layers = {"link": {"status": "down" if failed_layer == "link" else "up", "hosts": []},
              "gateway": {"status": "down" if failed_layer == "gateway" else "up", "hosts": []},
              "hub_host": {"status": hub_host, "hosts": []},
              "target": {"status": "none", "hosts": []}}
    if failed_layer:
        status, summary = "fail", "%s layer down: no answer from 192.168.1.1" % failed_layer
    else:
        status, summary = "ok", "reachable"
    return {"status": status, "summary": summary, "elapsed": 0.2, "failed_layer": failed_layer,
            "evidence": {"layers": layers}, "targets": {}}


def wifi_result(signal=-55, status="ok", connected=True, ssid="home", best=None):
    return {"status": status, "summary": "wlan0 on %s at %s dBm" % (ssid, signal), "elapsed": 0.1,
            "evidence": {}, "interface": "wlan0", "connected": connected, "ssid": ssid, "signal_dbm": signal,
            "strongest_known": best}


def instance_result(status="ok", count=1, frozen=()):
    summary = "one instance: pid 100 (systemd imagenode.service, up 50s)" if count == 1 else "no process runs imagenode.py"
    if frozen:
        summary = "frozen (stopped, alive but silent): pid %s; %s" % (", ".join(map(str, frozen)), summary)
    return {"status": status, "summary": summary, "elapsed": 0.1, "evidence": {}, "count": count,
            "duplicates": count > 1, "frozen": list(frozen), "pids": [100] * count}


def sd_result(status="ok"):
    return {"status": status, "summary": "sd card %s" % status, "elapsed": 0.1, "evidence": {}}


def health(**overrides):
    """A run_node_health result: every check healthy unless overridden (None drops a check)."""
    checks = {"hub_check": hub_result(), "ping_check": ping_result(), "wifi_info": wifi_result(),
              "instance_check": instance_result(), "sdcard_check": sd_result()}
    for name, value in overrides.items():
        if value is None:
            checks.pop(name, None)
        else:
            checks[name] = value
    worst = "fail" if any(c["status"] == "fail" for c in checks.values()) else "ok"
    return {"status": worst, "summary": "node health", "evidence": {}, "elapsed": 0.5, "checks": checks}


def climb(node, **kwargs):
    """Every step the ladder picks, re-checking the same (unchanged) faults after each."""
    done, taken = [], []
    for _index in range(len(ladder.LADDER) + 1):
        plan = ladder.next_step(node, done=list(done), **kwargs)
        if plan["next_step"] is None:
            return taken, plan
        taken.append(plan["next_step"])
        done.append(plan["next_step"])
    raise AssertionError("the ladder never stopped: %s" % taken)


# --- healthy --------------------------------------------------------------------------------------

def test_healthy_node_has_no_fault():
    plan = ladder.next_step(health())
    assert plan["healthy"] is True
    assert plan["faults"] == []
    assert plan["next_step"] is None
    assert plan["remaining"] == []
    assert plan["stop_reason"] == "healthy"
    assert plan["fleet_down_hubs"] == []


def test_warnings_no_step_fixes_are_not_faults():
    node = health(sdcard_check=sd_result("warn"), hub_check=hub_result(primary_ok=True, alternate_ok=False))
    assert ladder.diagnose(node["checks"]) == []


def test_unknown_checks_are_ignored():
    node = health(wifi_info={"status": "unknown", "summary": "no radio", "evidence": {}, "connected": None},
                  ping_check=None)
    assert ladder.next_step(node)["healthy"] is True


# --- program faults -------------------------------------------------------------------------------

@pytest.mark.parametrize("inst", [instance_result("fail", count=1, frozen=[100]), instance_result("fail", count=0)],
                         ids=["frozen", "none"])
def test_program_fault_climbs_restart_then_reboot(inst):
    node = health(instance_check=inst)
    plan = ladder.next_step(node)
    assert [f["layer"] for f in plan["faults"]] == ["program"]
    assert plan["faults"][0]["check"] == "instance_check"
    assert plan["next_step"] == "imagenode_restart"
    assert plan["remaining"] == ["imagenode_restart", "reboot"]
    assert ladder.next_step(node, done=["imagenode_restart"])["next_step"] == "reboot"
    last = ladder.next_step(node, done=["reboot"])
    assert last["next_step"] is None
    assert last["remaining"] == []
    assert "no step left" in last["stop_reason"]
    assert "program" in last["stop_reason"]


def test_duplicates_are_a_program_fault_even_when_status_warn():
    inst = dict(instance_result("warn", count=2), duplicates=True)
    assert ladder.next_step(health(instance_check=inst))["next_step"] == "imagenode_restart"


def test_never_back_down_the_ladder():
    node = health(instance_check=instance_result("fail", count=0))
    # A later step done (in any order in `done`) means nothing below it is taken again.
    assert ladder.next_step(node, done=["reboot", "zmq_reset"])["next_step"] is None
    assert ladder.next_step(node, done=["zmq_reset", "imagenode_restart"])["next_step"] == "reboot"
    # A step below this fault's remedies done does not skip them.
    assert ladder.next_step(node, done=["wifi_select"])["next_step"] == "imagenode_restart"


# --- hub faults -----------------------------------------------------------------------------------

def test_hub_unreachable_host_climbs_every_hub_remedy():
    node = health(hub_check=hub_result(primary_ok=False, alternate_ok=True, tcp="no answer from host"),
                  ping_check=ping_result(hub_host="down"))
    plan = ladder.next_step(node)
    assert [f["layer"] for f in plan["faults"]] == ["hub"]
    assert plan["faults"][0]["hub"] == PRIMARY
    assert plan["faults"][0]["alternates"] == [ALTERNATE]
    taken, last = climb(node)
    assert taken == ["zmq_reset", "hub_failover", "imagenode_restart", "reboot"]
    assert "no step left" in last["stop_reason"]


def test_hub_host_up_but_port_refused_is_hub_down_capped_at_hub_steps():
    node = health(hub_check=hub_result(primary_ok=False, tcp="refused or unreachable"),
                  ping_check=ping_result(hub_host="up"))
    faults = ladder.diagnose(node["checks"])
    assert [f["layer"] for f in faults] == ["hub_down"]
    assert "program is down" in faults[0]["summary"]
    assert ladder.ceiling(faults) == "hub_failover"
    taken, last = climb(node)
    assert taken == ["zmq_reset", "hub_failover"]
    assert "not climbing past the hub steps" in last["stop_reason"]
    assert PRIMARY in last["stop_reason"]


def test_hub_host_partial_counts_as_up():
    node = health(hub_check=hub_result(primary_ok=False, tcp="connected"), ping_check=ping_result(hub_host="partial"))
    assert [f["layer"] for f in ladder.diagnose(node["checks"])] == ["hub_down"]


def test_hub_down_with_missing_program_still_capped():
    node = health(hub_check=hub_result(primary_ok=False, tcp="refused or unreachable"),
                  ping_check=ping_result(hub_host="up"), instance_check=instance_result("fail", count=0))
    plan = ladder.next_step(node)
    assert sorted(f["layer"] for f in plan["faults"]) == ["hub_down", "program"]
    assert plan["remaining"] == ["zmq_reset", "hub_failover"]
    taken, last = climb(node)
    assert taken == ["zmq_reset", "hub_failover"]
    assert "not climbing past the hub steps" in last["stop_reason"]


def test_hub_down_with_storage_fault_is_not_capped():
    node = health(hub_check=hub_result(primary_ok=False, tcp="refused or unreachable"),
                  ping_check=ping_result(hub_host="up"), sdcard_check=sd_result("fail"))
    faults = ladder.diagnose(node["checks"])
    assert ladder.ceiling(faults) == "reboot"
    assert ladder.next_step(node, done=["hub_failover"])["next_step"] == "reboot"


def test_primary_ok_is_no_hub_fault():
    node = health(hub_check=dict(hub_result(primary_ok=True, alternate_ok=False), status="fail"))
    assert ladder.diagnose(node["checks"]) == []


# --- the fleet guard ------------------------------------------------------------------------------

def test_fleet_down_hubs_all_of_three():
    fleet = [hub_result(primary_ok=False) for _index in range(3)]
    assert ladder.fleet_down_hubs(fleet) == [PRIMARY]


def test_fleet_down_hubs_one_of_one_is_below_minimum():
    assert ladder.fleet_down_hubs([hub_result(primary_ok=False)]) == []


def test_fleet_down_hubs_one_of_three_is_this_node():
    fleet = [hub_result(primary_ok=False), hub_result(), hub_result()]
    assert ladder.fleet_down_hubs(fleet) == []


def test_fleet_down_hubs_threshold_and_missing_results():
    fleet = [hub_result(primary_ok=False), hub_result(primary_ok=False), hub_result(), hub_result(), None, {}]
    assert ladder.fleet_down_hubs(fleet) == []  # 2 of 4: not more than half
    assert ladder.fleet_down_hubs(fleet, threshold=0.4) == [PRIMARY]
    both = [hub_result(primary_ok=False, alternate_ok=False)] * 2
    assert ladder.fleet_down_hubs(both) == [PRIMARY, ALTERNATE]


def test_fleet_down_primary_caps_the_climb_even_with_program_missing():
    fleet = [hub_result(primary_ok=False) for _index in range(3)] + [hub_result()]
    # The host does not answer ping either: without the fleet this would climb to reboot.
    node = health(hub_check=hub_result(primary_ok=False, tcp="no answer from host"),
                  ping_check=ping_result(hub_host="down"), instance_check=instance_result("fail", count=0))
    alone = ladder.next_step(node, done=["hub_failover"])
    assert alone["next_step"] == "imagenode_restart"
    plan = ladder.next_step(node, fleet=fleet)
    assert plan["fleet_down_hubs"] == [PRIMARY]
    hub_fault = [f for f in plan["faults"] if f["check"] == "hub_check"]
    assert hub_fault[0]["layer"] == "hub_down"
    assert "most nodes" in hub_fault[0]["summary"]
    assert set(plan["remaining"]) <= {"zmq_reset", "hub_failover"}
    taken, last = climb(node, fleet=fleet)
    assert taken == ["zmq_reset", "hub_failover"]
    assert "imagenode_restart" not in taken and "reboot" not in taken
    assert "not climbing past the hub steps" in last["stop_reason"]


# --- network and wifi -----------------------------------------------------------------------------

@pytest.mark.parametrize("layer", ["gateway", "link"])
def test_network_down_climbs_wifi_steps_and_suppresses_hub_faults(layer):
    node = health(ping_check=ping_result(failed_layer=layer, hub_host="down"),
                  hub_check=hub_result(primary_ok=False, alternate_ok=False, tcp="no answer from host"),
                  wifi_info=wifi_result(-85, "fail", best={"ssid": "other", "signal_dbm": -40}))
    plan = ladder.next_step(node)
    assert [f["layer"] for f in plan["faults"]] == ["network"]
    assert plan["faults"][0]["check"] == "ping_check"
    taken, last = climb(node)
    assert taken == ["wifi_restart", "wifi_select", "reboot"]
    assert "zmq_reset" not in taken and "hub_failover" not in taken
    assert "no step left" in last["stop_reason"]


def test_hub_host_layer_down_is_not_a_network_fault():
    node = health(ping_check=ping_result(failed_layer="hub_host", hub_host="down"),
                  hub_check=hub_result(primary_ok=False, tcp="no answer from host"))
    assert [f["layer"] for f in ladder.diagnose(node["checks"])] == ["hub"]


def test_wifi_not_connected_is_a_network_fault():
    node = health(wifi_info=wifi_result(None, "fail", connected=False, ssid=None))
    plan = ladder.next_step(node)
    assert [f["layer"] for f in plan["faults"]] == ["network"]
    assert plan["faults"][0]["check"] == "wifi_info"
    assert plan["next_step"] == "wifi_restart"


def test_weak_wifi_with_stronger_known_network_selects_only():
    node = health(wifi_info=wifi_result(-80, "warn", best={"ssid": "other", "signal_dbm": -70}))
    plan = ladder.next_step(node)
    assert [f["layer"] for f in plan["faults"]] == ["wifi_weak"]
    assert plan["faults"][0]["better"] == "other"
    assert plan["remaining"] == ["wifi_select"]
    taken, last = climb(node)
    assert taken == ["wifi_select"]
    assert "no step left" in last["stop_reason"]


def test_weak_wifi_exactly_margin_is_a_fault():
    node = health(wifi_info=wifi_result(-78, "warn", best={"ssid": "other", "signal_dbm": -70}))
    assert ladder.next_step(node)["next_step"] == "wifi_select"
    assert ladder.next_step(node, margin_db=9)["healthy"] is True


@pytest.mark.parametrize("wifi", [
    wifi_result(-80, "warn", best={"ssid": "other", "signal_dbm": -75}),   # less than the margin
    wifi_result(-80, "warn", best={"ssid": "home", "signal_dbm": -60}),    # the same network
    wifi_result(-60, "ok", best={"ssid": "other", "signal_dbm": -40}),     # not weak
    wifi_result(-80, "warn", best=None),                                   # no other known network
    wifi_result(None, "warn", best={"ssid": "other", "signal_dbm": -40}),  # signal unknown
], ids=["below-margin", "same-ssid", "not-weak", "no-known", "no-signal"])
def test_wifi_without_a_fault(wifi):
    assert ladder.next_step(health(wifi_info=wifi))["healthy"] is True


# --- steps, errors, plan_result -------------------------------------------------------------------

def test_steps_without_reboot_never_choose_reboot():
    steps = [s for s in ladder.LADDER if s != "reboot"]
    node = health(instance_check=instance_result("fail", count=0), sdcard_check=sd_result("fail"))
    plan = ladder.next_step(node, steps=steps)
    assert "reboot" not in plan["remaining"]
    assert plan["next_step"] == "imagenode_restart"
    last = ladder.next_step(node, done=["imagenode_restart"], steps=steps)
    assert last["next_step"] is None
    assert "no step left" in last["stop_reason"]
    taken, _plans = climb(health(ping_check=ping_result("gateway")), steps=steps)
    assert taken == ["wifi_restart", "wifi_select"]


@pytest.mark.parametrize("kwargs", [{"done": ["restart_everything"]}, {"steps": ["zmq_reset", "reboots"]}])
def test_unknown_step_is_an_error(kwargs):
    with pytest.raises(CheckError) as info:
        ladder.next_step(health(), **kwargs)
    assert "unknown ladder step" in str(info.value)


def test_health_without_checks_is_an_error():
    with pytest.raises(CheckError):
        ladder.next_step({"status": "ok", "summary": "x"})


def test_plan_result_healthy():
    result = ladder.plan_result(health())
    assert result["status"] == "ok"
    assert result["summary"] == "no fault"
    assert result["next_step"] is None
    assert result["stop_reason"] == "healthy"
    assert isinstance(result["elapsed"], float)
    assert result["evidence"] == {"done": [], "steps": list(ladder.LADDER)}


def test_plan_result_fault_names_next_step():
    node = health(instance_check=instance_result("fail", count=1, frozen=[100]))
    result = ladder.plan_result(node, done=["zmq_reset"])
    assert result["status"] == "fail"
    assert "fault program" in result["summary"]
    assert "next step imagenode_restart" in result["summary"]
    assert result["next_step"] == "imagenode_restart"
    assert result["remaining"] == ["imagenode_restart", "reboot"]
    assert result["evidence"]["done"] == ["zmq_reset"]
    for key in ("healthy", "faults", "fleet_down_hubs"):
        assert key in result


def test_plan_result_stop_names_the_reason():
    node = health(instance_check=instance_result("fail", count=0))
    result = ladder.plan_result(node, done=["reboot"])
    assert result["status"] == "fail"
    assert "stop: no step left" in result["summary"]
    assert "next step" not in result["summary"]
