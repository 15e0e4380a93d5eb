"""Fixtures for the probe's tests: the probe and the shared core on sys.path."""

import os
import sys

import pytest

PROBES = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "probes")
if PROBES not in sys.path:
    sys.path.insert(0, PROBES)

from imagenode_probe import config as probe_config  # noqa: E402

HUBS_OK = [{"address": "tcp://hub1:5555", "ok": True, "tcp": "connected"},
           {"address": "tcp://hub2:5555", "ok": True, "tcp": "connected"}]
HUB1_DOWN = [{"address": "tcp://hub1:5555", "ok": False, "tcp": "no answer from host"},
             {"address": "tcp://hub2:5555", "ok": True, "tcp": "connected"}]


def result(status, summary="", evidence=None, **extra):
    out = {"status": status, "summary": summary or status, "evidence": evidence or {}, "elapsed": 0.0}
    out.update(extra)
    return out


def checks_healthy(age=1000.0):
    return {
        "hub_check": result("ok", "all hubs answer", {"hubs": HUBS_OK}),
        "ping_check": result("ok", "all up", {"layers": {"hub_host": {"status": "up"}}}, failed_layer=None),
        "wifi_info": result("unknown", "no wireless interface"),
        "instance_check": result("ok", "one instance", {"instances": [{"pid": 10, "age": age}]}, duplicates=False),
        "latency_check": result("ok"), "sdcard_check": result("ok"), "power_check": result("unknown"),
    }


def checks_hub_fault(age=1000.0):
    """hub1 does not answer and its host does not either: the ladder's `hub` layer."""
    checks = checks_healthy(age)
    checks["hub_check"] = result("fail", "primary hub tcp://hub1:5555 does not answer", {"hubs": HUB1_DOWN})
    checks["ping_check"] = result("warn", "hub host down", {"layers": {"hub_host": {"status": "down"}}},
                                  failed_layer="hub_host")
    return checks


def checks_program_fault(age=1000.0):
    checks = checks_healthy(age)
    checks["instance_check"] = result("fail", "frozen", {"instances": [{"pid": 10, "age": age}]}, duplicates=False)
    return checks


class FakeHealth(object):
    """node_health.run_node_health's stand-in: returns scenario() for the selected checks, records calls."""

    def __init__(self, scenario):
        self.scenario = scenario
        self.calls = []

    def __call__(self, checks=None, options=None, hubs=None, config=None, check_mode=False):
        self.calls.append(list(checks))
        every = self.scenario()
        return {"status": "ok", "checks": dict((name, dict(every[name])) for name in checks)}


class FakeClock(object):
    def __init__(self, now=1000.0):
        self.now = now

    def __call__(self):
        return self.now


@pytest.fixture
def make_config(tmp_path):
    def make(**overrides):
        raw = {"node": "testnode", "state_dir": str(tmp_path / "state"), "queue_dir": str(tmp_path / "queue"),
               "facts_file": str(tmp_path / "facts" / "imagenode_health.fact"),
               "textfile": str(tmp_path / "prom" / "imagenode_health.prom"),
               "imagenode_config": str(tmp_path / "imagenode.yaml"), "hub_heartbeat": False, "grace": 0,
               # the ladder tests see every check every cycle; test_probe_cadence.py tests relaxed_checks
               "relaxed_checks": []}
        raw.update(overrides)
        return probe_config.validate(raw)
    return make
