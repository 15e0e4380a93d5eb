# Copyright (c) 2026 imagenode-health contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""node_health's core: the registry, per-check options, and checks that cannot run.

ping_check never probes the real gateway here (gateway: false, loopback targets).
"""

import pytest

from ansible_collections.imagenode.health.plugins.module_utils import node_health
from ansible_collections.imagenode.health.plugins.module_utils.check_result import CheckError
from ansible_collections.imagenode.health.plugins.module_utils.node_health import (
    CHECK_ORDER,
    CHECKS,
    resolve_options,
    run_node_health,
)
from ansible_collections.imagenode.health.plugins.modules import (
    hub_check,
    instance_check,
    latency_check,
    ping_check,
    power_check,
    sdcard_check,
    wifi_info,
)
from ansible_collections.imagenode.health.tests.unit.plugins.fake_hub import FakeHub


def safe_options(tmp_path):
    return {"ping_check": {"gateway": False, "targets": ["127.0.0.1"], "count": 1},
            "latency_check": {"state_file": str(tmp_path / "latency.json"), "path": str(tmp_path)},
            "sdcard_check": {"canary_dir": str(tmp_path)}}


def test_single_modules_and_node_health_share_run_functions():
    assert CHECKS["hub_check"].run is hub_check.run_hub_check
    assert CHECKS["ping_check"].run is ping_check.run_ping_check
    assert CHECKS["wifi_info"].run is wifi_info.run_wifi_info
    assert CHECKS["instance_check"].run is instance_check.run_instance_check
    assert CHECKS["latency_check"].run is latency_check.run_latency_check
    assert CHECKS["sdcard_check"].run is sdcard_check.run_sdcard_check
    assert CHECKS["power_check"].run is power_check.run_power_check
    assert set(CHECKS) == set(CHECK_ORDER)


def test_check_mode_detection_matches_inspect():
    import functools
    import inspect

    def keyword_only(a, *args, check_mode=False, **kwargs):
        return a

    def local_named_so(a, b=1):
        check_mode = b
        return check_mode

    def varargs_named_so(a, *check_mode):
        return a

    def positional(check_mode):
        return check_mode

    for function in (keyword_only, local_named_so, varargs_named_so, positional, functools.partial(positional, 1),
                     lambda check_mode=False: check_mode) + tuple(check.run for check in CHECKS.values()):
        expected = "check_mode" in inspect.signature(function).parameters
        assert node_health._takes(function, "check_mode") is expected, function
    assert [CHECKS[name].takes_check_mode for name in CHECK_ORDER] == [False, True, True, True, True, True, True]


def test_resolve_options_defaults_given_and_shared_hubs():
    options = resolve_options("ping_check", {"count": 1}, hubs=["tcp://hub1:5555"])
    assert options["count"] == 1 and options["timeout"] == 1.0 and options["hubs"] == ["tcp://hub1:5555"]
    own = resolve_options("hub_check", {"hubs": ["tcp://own:5555"]}, hubs=["tcp://shared:5555"])
    assert own["hubs"] == ["tcp://own:5555"]
    assert "hubs" not in resolve_options("power_check", {}, hubs=["tcp://x:1"])
    with pytest.raises(CheckError, match="power_check has no option"):
        resolve_options("power_check", {"volts": 5})


def test_every_check_runs_and_none_crashes(tmp_path):
    result = run_node_health(options=safe_options(tmp_path), check_mode=True)
    assert set(result["checks"]) == set(CHECK_ORDER)
    for name, check in result["checks"].items():
        assert check["status"] in ("ok", "warn", "fail", "unknown"), name
        assert "summary" in check and "elapsed" in check
    # no hubs were given: hub_check cannot run, and says so
    assert result["checks"]["hub_check"]["status"] == "unknown"
    assert "no hubs" in result["checks"]["hub_check"]["summary"]
    assert result["facts"]["checks"]["hub_check"]["status"] == "unknown"
    assert not (tmp_path / "latency.json").exists()  # check mode


def test_shared_hubs_reach_hub_check_and_ping_check(tmp_path):
    with FakeHub() as hub:
        result = run_node_health(checks=["hub_check", "ping_check"], hubs=[hub.address],
                                 options=safe_options(tmp_path))
    assert result["checks"]["hub_check"]["status"] == "ok"
    assert result["checks"]["ping_check"]["targets"]["127.0.0.1"]["answered"] is True
    assert result["evidence"]["checks_run"] == ["hub_check", "ping_check"]


def test_check_error_and_crash_become_unknown(monkeypatch, tmp_path):
    def broken(**kwargs):
        raise ZeroDivisionError("boom")

    def refusing(**kwargs):
        raise CheckError("instance_check needs psutil (python3-psutil)")
    monkeypatch.setattr(CHECKS["power_check"], "run", broken)
    monkeypatch.setattr(CHECKS["instance_check"], "run", refusing)
    result = run_node_health(checks=["power_check", "instance_check", "latency_check"], options=safe_options(tmp_path))
    assert result["checks"]["power_check"]["status"] == "unknown"
    assert "check crashed: ZeroDivisionError: boom" in result["checks"]["power_check"]["summary"]
    assert result["checks"]["instance_check"]["summary"] == "cannot run: instance_check needs psutil (python3-psutil)"
    assert result["checks"]["latency_check"]["status"] == "ok"
    # Checks that could not run are worth a look: the node is not called healthy.
    assert result["status"] == "warn"
    assert "unknown: power_check, instance_check" in result["summary"]


def fake_statuses(monkeypatch, statuses):
    for name, status in statuses.items():
        monkeypatch.setattr(CHECKS[name], "run", lambda status=status, **kw: {
            "status": status, "summary": "said %s" % status, "evidence": {}, "elapsed": 0.0})


def test_a_missing_data_source_does_not_make_a_healthy_node_unknown(monkeypatch):
    fake_statuses(monkeypatch, {"wifi_info": "unknown", "power_check": "unknown", "instance_check": "ok"})
    result = run_node_health(checks=["wifi_info", "power_check", "instance_check"])
    assert result["status"] == "ok"
    assert "unknown: wifi_info, power_check" in result["summary"]


def test_only_unknowns_is_unknown(monkeypatch):
    fake_statuses(monkeypatch, {"wifi_info": "unknown", "power_check": "unknown"})
    assert run_node_health(checks=["wifi_info", "power_check"])["status"] == "unknown"


def test_overall_is_the_worst_and_the_summary_names_failures(monkeypatch):
    statuses = {"wifi_info": "warn", "power_check": "fail", "instance_check": "ok"}
    for name, status in statuses.items():
        monkeypatch.setattr(CHECKS[name], "run", lambda status=status, **kw: {
            "status": status, "summary": "said %s" % status, "evidence": {}, "elapsed": 0.0})
    result = run_node_health(checks=list(statuses))
    assert result["status"] == "fail"
    assert result["summary"] == "2 of 3 checks not ok: power_check fail (said fail); wifi_info warn (said warn)"
    assert result["evidence"]["by_status"]["ok"] == ["instance_check"]


def test_changed_only_from_a_manifest_creation(tmp_path):
    program = tmp_path / "imagenode.py"
    program.write_text("x\n")
    options = {"sdcard_check": {"canary_dir": str(tmp_path), "manifest": "create", "manifest_paths": [str(program)],
                                "manifest_file": str(tmp_path / "m.json")}}
    result = run_node_health(checks=["sdcard_check"], options=options, check_mode=True)
    assert result["changed"] is True and "changed" not in result["checks"]["sdcard_check"]
    assert "changed" not in run_node_health(checks=["power_check"])


def test_unknown_check_name():
    with pytest.raises(CheckError, match="unknown check 'disk_check'"):
        run_node_health(checks=["disk_check"])


def test_checks_run_concurrently(monkeypatch):
    import time

    def slow(**kwargs):
        time.sleep(0.4)
        return {"status": "ok", "summary": "slow", "evidence": {}, "elapsed": 0.4}
    for name in ("wifi_info", "power_check", "instance_check"):
        monkeypatch.setattr(CHECKS[name], "run", slow)
    started = time.monotonic()
    run_node_health(checks=["wifi_info", "power_check", "instance_check"])
    assert time.monotonic() - started < 1.0
    assert node_health.CHECKS["wifi_info"].run is slow


# --- the options' types, checked before a check runs ------------------------------------

@pytest.mark.parametrize("check, options, message", [
    ("power_check", {"window": "abc"}, "power_check option window must be an integer, not 'abc'"),
    ("sdcard_check", {"window": "60"}, "sdcard_check option window must be an integer, not '60'"),
    ("sdcard_check", {"canary": "yes"}, "sdcard_check option canary must be true or false"),
    ("power_check", {"window": True}, "power_check option window must be an integer, not True"),
    ("ping_check", {"targets": ["gw", 7]}, "ping_check option targets must be a list of str values"),
    ("instance_check", {"start_method": "init"}, "instance_check option start_method must be one of systemd"),
])
def test_a_wrong_option_value_is_named_not_a_crash(check, options, message):
    with pytest.raises(CheckError) as err:
        node_health.resolve_options(check, options)
    assert message in str(err.value)


def test_numbers_of_either_kind_fit_a_float_option():
    assert node_health.resolve_options("hub_check", {"timeout": 2})["timeout"] == 2
    assert node_health.resolve_options("hub_check", {"timeout": 0.5})["timeout"] == 0.5
