"""node_health on all seven lab nodes, through Ansible, in one module call each.

Every check's result comes back for every node and none crashes, although a
container lacks several data sources (no WiFi radio, no Pi power sensors,
no camera program running): those are `unknown` or an honest finding, with
a summary, never "check crashed". The fact imagenode_health is set too.
"""
import os
import shutil
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "lab"))
sys.path.insert(0, os.path.dirname(__file__))
import labansible  # noqa: E402
import labctl  # noqa: E402

pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("podman"), reason="the lab needs root and podman"),
]

NODES = sorted(h["name"] for h in labctl.fleet() if h["role"] == "node")
CHECKS = ["hub_check", "ping_check", "wifi_info", "instance_check", "latency_check", "sdcard_check", "power_check"]


@pytest.fixture(scope="module")
def results():
    with labctl.lab_session():
        labctl.up()
        try:
            yield labansible.module("nodes", "node_health", {"config": "/home/pi/imagenode.yaml"}, timeout=300)
        finally:
            labctl.down()


def test_every_node_returns_every_check(results):
    assert sorted(results) == NODES
    for node, res in results.items():
        assert "failed" not in res and "unreachable" not in res, (node, res.get("msg"))
        assert sorted(res["checks"]) == sorted(CHECKS), node
        assert res["evidence"]["checks_run"] == CHECKS
        for name, check in res["checks"].items():
            assert check["status"] in ("ok", "warn", "fail", "unknown"), (node, name, check)
            assert check["summary"] and "crashed" not in check["summary"], (node, name, check["summary"])
            assert "traceback" not in check["evidence"], (node, name)
            assert isinstance(check["elapsed"], float)


def test_what_a_container_has_and_lacks(results):
    for node, res in results.items():
        checks = res["checks"]
        assert checks["hub_check"]["status"] == "ok", (node, checks["hub_check"]["summary"])
        assert checks["ping_check"]["status"] == "ok" and checks["ping_check"]["failed_layer"] is None
        assert checks["wifi_info"]["status"] == "unknown"  # no radio, simulated or real
        assert checks["power_check"]["status"] == "unknown"  # no hwmon rpi_volt, no vcgencmd
        assert checks["instance_check"]["count"] == 0  # nothing started a camera program here
        assert checks["latency_check"]["learning"] is True  # the first run on a fresh node learns


def test_overall_status_and_fact(results):
    rank = {"ok": 0, "warn": 2, "fail": 3}
    for node, res in results.items():
        # Worst of the checks that had data: no radio and no Pi sensors say nothing.
        known = [c["status"] for c in res["checks"].values() if c["status"] != "unknown"]
        assert res["status"] == max(known, key=rank.get), node
        fact = res["ansible_facts"]["imagenode_health"]
        assert fact["status"] == res["status"]
        assert sorted(fact["checks"]) == sorted(CHECKS)
        assert res["changed"] is False
