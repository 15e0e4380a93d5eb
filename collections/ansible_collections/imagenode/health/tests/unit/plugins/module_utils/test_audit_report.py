# Copyright (c) 2026 imagenode-health contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The audit report on node_health-shaped results: states, baselines, the diff
with the previous report, escaping, rotation and atomic writes."""

import json
import os
import re

import pytest

from ansible_collections.imagenode.health.plugins.module_utils import audit_report, atomic_file
from ansible_collections.imagenode.health.plugins.module_utils.check_result import CheckError

NOW = 1796097600  # 2026-12-01T04:00:00Z


def check(status="ok", summary="fine", **extra):
    result = {"status": status, "summary": summary, "evidence": {"seen": summary}, "elapsed": 0.01}
    result.update(extra)
    return result


def node(status="ok", signal=-60, write_ms=3.0, write_baseline=None, rtt=2.5, hub_status="ok", summary=None):
    """A node_health result with the checks the report reads measurements from."""
    hubs = [{"address": "tcp://hub1:5555", "ok": rtt is not None, "rtt_ms": rtt, "tcp": "connected"},
            {"address": "tcp://hub2:5555", "ok": True, "rtt_ms": 9.0, "tcp": "connected"}]
    checks = {
        "hub_check": check(hub_status, "hubs", evidence={"hubs": hubs}),
        "ping_check": check(),
        "wifi_info": check(summary="wlan0 on Barn", signal_dbm=signal),
        "instance_check": check(),
        "latency_check": check(probes={"write": {"ms": write_ms, "baseline_median_ms": write_baseline},
                                       "read": {"ms": 0.2, "baseline_median_ms": None}}),
        "sdcard_check": check(),
        "power_check": check("unknown", "no Pi power sensors"),
    }
    return {"status": status, "summary": summary or "%s node" % status, "checks": checks, "elapsed": 1.1,
            "changed": False}


UNREACHABLE = {"unreachable": True, "changed": False, "msg": "Failed to create temporary directory"}


# --- states -------------------------------------------------------------------------------------------

def test_node_states():
    assert audit_report.node_state(node("warn"))[:2] == ("warn", "warn node")
    state, summary, reachable = audit_report.node_state(UNREACHABLE)
    assert (state, reachable) == ("unreachable", False) and "temporary directory" in summary
    assert audit_report.node_state({})[0] == "unreachable"
    assert audit_report.node_state(None)[0] == "unreachable"
    # Reached, but the module could not run there: a failure of that node.
    state, summary, reachable = audit_report.node_state({"failed": True, "msg": "MODULE FAILURE"})
    assert (state, reachable) == ("fail", True) and "MODULE FAILURE" in summary
    assert audit_report.node_state({"skipped": True, "skip_reason": "Conditional result was False"})[0] == "unknown"


def test_report_counts_and_unreachable_rows():
    report = audit_report.build_report({"node1": node(), "node2": node("fail"), "node10": UNREACHABLE},
                                       now=NOW, fail_on="fail")
    assert list(report["nodes"]) == ["node1", "node2", "node10"]  # natural order
    assert report["fleet"] == {"status": "unreachable", "total": 3,
                               "counts": {"ok": 1, "unknown": 0, "warn": 0, "fail": 1, "unreachable": 1}}
    assert report["over_threshold"] == ["node10", "node2"]  # worst first
    gone = report["nodes"]["node10"]
    assert gone["status"] == "unreachable" and not gone["reachable"] and gone["checks"] == {}
    assert report["changes"] is None and report["previous"] is None
    assert report["generated_at"] == "2026-12-01T04:00:00Z"


@pytest.mark.parametrize("fail_on, expected", [
    ("never", []),
    ("unreachable", ["node4"]),
    ("fail", ["node4", "node3"]),
    ("warn", ["node4", "node3", "node2"]),
])
def test_thresholds(fail_on, expected):
    results = {"node1": node(), "node2": node("warn"), "node3": node("fail"), "node4": UNREACHABLE,
               "node5": node("unknown")}
    assert audit_report.build_report(results, now=NOW, fail_on=fail_on)["over_threshold"] == expected


def test_bad_arguments():
    with pytest.raises(CheckError):
        audit_report.build_report({}, fail_on="sometimes")
    with pytest.raises(CheckError):
        audit_report.build_report({}, window=0)


def test_no_nodes():
    report = audit_report.build_report({}, now=NOW)
    assert report["fleet"]["status"] == "unknown" and report["fleet"]["total"] == 0
    assert "<html" in audit_report.render_html(report)


# --- the diff with the previous report ------------------------------------------------------------------

def test_changes_since_the_previous_report():
    before = audit_report.build_report({"node1": node("fail"), "node2": node(), "node3": UNREACHABLE,
                                        "node4": node("warn"), "old": node()}, now=NOW)
    before["id"] = "audit-before"
    after = audit_report.build_report({"node1": node(), "node2": UNREACHABLE, "node3": node("warn"),
                                       "node4": node("fail"), "node9": node("fail")}, previous=before, now=NOW + 86400)
    changes = after["changes"]
    assert changes["newly_failing"] == [{"node": "node2", "from": "ok", "to": "unreachable"},
                                        {"node": "node4", "from": "warn", "to": "fail"},
                                        {"node": "node9", "from": None, "to": "fail"}]
    assert changes["recovered"] == [{"node": "node1", "from": "fail", "to": "ok"},
                                    {"node": "node3", "from": "unreachable", "to": "warn"}]
    assert changes["new"] == ["node9"] and changes["gone"] == ["old"]
    assert {c["node"] for c in changes["status_changed"]} == {"node1", "node2", "node3", "node4"}
    assert after["previous"] == {"id": "audit-before", "generated_at": before["generated_at"]}


def test_check_level_changes():
    before = audit_report.build_report({"node1": node(hub_status="fail"), "node2": node()}, now=NOW)
    after = audit_report.build_report({"node1": node(), "node2": node(hub_status="fail")}, previous=before, now=NOW)
    assert [(c["node"], c["check"]) for c in after["changes"]["checks_newly_failing"]] == [("node2", "hub_check")]
    assert [(c["node"], c["check"], c["to"]) for c in after["changes"]["checks_recovered"]] == [
        ("node1", "hub_check", "ok")]


def test_unchanged_fleet_has_empty_changes():
    before = audit_report.build_report({"node1": node()}, now=NOW)
    after = audit_report.build_report({"node1": node()}, previous=before, now=NOW)
    assert all(not v for v in after["changes"].values())


# --- baselines ------------------------------------------------------------------------------------------

def test_latency_uses_the_nodes_own_baseline():
    report = audit_report.build_report({"node1": node(write_ms=30.0, write_baseline=3.0)}, now=NOW)
    write = report["nodes"]["node1"]["metrics"]["latency_write_ms"]
    assert write == {"value": 30.0, "baseline": 3.0, "baseline_source": "node", "baseline_samples": None,
                     "flag": "slower"}


def test_signal_baseline_comes_from_the_report_history():
    previous = None
    for signal in (-60, -62, -58):
        previous = audit_report.build_report({"node1": node(signal=signal)}, previous=previous, now=NOW)
    first = audit_report.build_report({"node1": node(signal=-60)}, now=NOW)["nodes"]["node1"]["metrics"]
    assert first["signal_dbm"]["baseline"] is None and first["signal_dbm"]["baseline_samples"] == 0
    report = audit_report.build_report({"node1": node(signal=-75)}, previous=previous, now=NOW)
    metric = report["nodes"]["node1"]["metrics"]["signal_dbm"]
    assert metric["baseline"] == -60 and metric["baseline_source"] == "reports" and metric["baseline_samples"] == 3
    assert metric["flag"] == "weaker"  # 15 dB below its median
    assert report["nodes"]["node1"]["history"]["signal_dbm"] == [-60, -62, -58, -75]
    # The hub round trip and a latency probe with no node baseline: history too.
    assert report["nodes"]["node1"]["metrics"]["hub_rtt_ms"]["baseline_source"] == "reports"
    assert report["nodes"]["node1"]["metrics"]["latency_read_ms"]["baseline_source"] == "reports"


def test_history_is_bounded_and_survives_an_unreachable_audit():
    previous = None
    for signal in range(-70, -50):
        previous = audit_report.build_report({"node1": node(signal=signal)}, previous=previous, now=NOW, window=5)
    assert previous["nodes"]["node1"]["history"]["signal_dbm"] == [-55, -54, -53, -52, -51]
    dark = audit_report.build_report({"node1": UNREACHABLE}, previous=previous, now=NOW, window=5)
    assert dark["nodes"]["node1"]["metrics"] == {}
    assert dark["nodes"]["node1"]["history"]["signal_dbm"] == [-55, -54, -53, -52, -51]


def test_a_small_change_is_not_flagged():
    previous = audit_report.build_report({"node1": node(signal=-60, write_ms=3.0)}, now=NOW)
    report = audit_report.build_report({"node1": node(signal=-65, write_ms=4.0, write_baseline=3.0)},
                                       previous=previous, now=NOW)
    assert all(m["flag"] is None for m in report["nodes"]["node1"]["metrics"].values())


# --- HTML -------------------------------------------------------------------------------------------------

def test_html_has_the_grid_the_nodes_and_their_checks():
    report = audit_report.build_report({"node1": node(), "node2": node("fail"), "node3": UNREACHABLE}, now=NOW)
    page = audit_report.render_html(report)
    assert page.startswith("<!DOCTYPE html>")
    assert '<div class="grid" id="fleet-grid">' in page
    for name, state in (("node1", "ok"), ("node2", "fail"), ("node3", "unreachable")):
        assert re.search(r'<a class="cell st-%s" id="cell-node-\d+" href="#node-\d+" data-node="%s"' % (state, name),
                         page), name
    assert page.count('<tr class="check"') == 14  # 7 checks on each reached node
    assert "no measurements: the node was not reached" in page
    assert "WiFi signal" in page and "(the node&#x27;s own)" not in page


def test_html_is_self_contained():
    page = audit_report.render_html(audit_report.build_report({"node1": node()}, now=NOW))
    assert "<script" not in page.lower()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", page)
    assert "@import" not in page and "url(" not in page
    assert "default-src 'none'" in page


def test_html_escapes_what_the_nodes_say():
    evil = '<script>alert("x")</script>'
    result = node("fail", summary="summary " + evil)
    result["checks"]["hub_check"]["summary"] = "hub " + evil
    result["checks"]["hub_check"]["evidence"]["note"] = "</pre>" + evil
    report = audit_report.build_report({"node1" + evil: result, "n2\" onmouseover=\"x": UNREACHABLE}, now=NOW)
    page = audit_report.render_html(report)
    assert "<script" not in page and "</pre><script" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert 'onmouseover="x' not in page and "n2&quot; onmouseover=&quot;x" in page


def test_html_lists_the_changes():
    before = audit_report.build_report({"node1": node("fail"), "node2": node()}, now=NOW)
    page = audit_report.render_html(audit_report.build_report({"node1": node(), "node2": UNREACHABLE},
                                                              previous=before, now=NOW))
    assert re.search(r"<b>newly failing</b>: node2 \(ok &rarr; unreachable\)", page)
    assert re.search(r"<b>recovered</b>: node1 \(fail &rarr; ok\)", page)
    first = audit_report.render_html(before)
    assert "no previous report" in first


# --- files ---------------------------------------------------------------------------------------------

def test_files_latest_and_the_previous_report(tmp_path):
    out = audit_report.run_audit_report({"node1": node(), "node2": UNREACHABLE}, str(tmp_path), now=NOW,
                                        fail_on="fail")
    assert out["status"] == "fail" and out["changed"] and out["over_threshold"] == ["node2"]
    assert out["report_id"] == "audit-20261201T040000Z"
    for key in ("json", "html", "latest_json", "latest_html"):
        assert os.path.isfile(out["paths"][key])
    with open(out["paths"]["json"]) as handle:
        saved = json.load(handle)
    with open(out["paths"]["latest_json"]) as handle:
        assert json.load(handle) == saved
    assert saved["id"] == out["report_id"] and saved["nodes"]["node2"]["status"] == "unreachable"
    assert "first report here" in out["summary"]

    again = audit_report.run_audit_report({"node1": node(), "node2": node()}, str(tmp_path), now=NOW)
    assert again["report_id"] == "audit-20261201T040000Z-2"  # the same second: not overwritten
    assert again["evidence"]["previous"] == out["paths"]["json"]
    assert again["changes"]["recovered"] == [{"node": "node2", "from": "unreachable", "to": "ok"}]
    assert "recovered: node2 (ok)" in again["summary"]
    third = audit_report.run_audit_report({"node1": node()}, str(tmp_path), now=NOW + 60)
    assert third["evidence"]["previous"] == again["paths"]["json"]
    assert third["changes"]["gone"] == ["node2"]


def test_keep_rotates_the_oldest(tmp_path):
    ids = [audit_report.run_audit_report({"node1": node()}, str(tmp_path), now=NOW + 3600 * i, keep=3)["report_id"]
           for i in range(5)]
    names = sorted(os.listdir(str(tmp_path)))
    assert names == sorted(["latest.json", "latest.html"] + ["%s.%s" % (i, e) for i in ids[2:] for e in ("json", "html")])
    # Files that are not reports are never touched.
    (tmp_path / "notes.txt").write_text("mine")
    audit_report.run_audit_report({"node1": node()}, str(tmp_path), now=NOW + 3600 * 9, keep=1)
    assert sorted(os.listdir(str(tmp_path))) == ["audit-20261201T130000Z.html", "audit-20261201T130000Z.json",
                                                 "latest.html", "latest.json", "notes.txt"]


def test_keep_zero_keeps_all(tmp_path):
    for i in range(4):
        audit_report.run_audit_report({"node1": node()}, str(tmp_path), now=NOW + i, keep=0)
    assert len(audit_report.list_reports(str(tmp_path))) == 4
    with pytest.raises(CheckError):
        audit_report.run_audit_report({}, str(tmp_path), keep=-1)


def test_a_damaged_report_is_skipped(tmp_path):
    first = audit_report.run_audit_report({"node1": node("fail")}, str(tmp_path), now=NOW)
    (tmp_path / "audit-20261201T050000Z.json").write_text("{half a rep")
    out = audit_report.run_audit_report({"node1": node()}, str(tmp_path), now=NOW + 7200)
    assert out["evidence"]["previous"] == first["paths"]["json"]
    assert out["changes"]["recovered"][0]["node"] == "node1"


def test_check_mode_writes_nothing(tmp_path):
    out = audit_report.run_audit_report({"node1": node()}, str(tmp_path / "reports"), now=NOW, check_mode=True)
    assert not out["changed"] and not out["evidence"]["written"]
    assert not (tmp_path / "reports").exists()


def test_dest_dir_must_be_a_directory(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(CheckError):
        audit_report.run_audit_report({}, str(tmp_path / "file"))


def test_writes_are_atomic(tmp_path, monkeypatch):
    """A writer killed mid-write leaves the previous latest.json whole."""
    audit_report.run_audit_report({"node1": node()}, str(tmp_path), now=NOW)
    with open(str(tmp_path / "latest.json")) as handle:
        before = handle.read()
    calls = []
    real_replace = os.replace

    def dying_replace(src, dst):
        calls.append(dst)
        if dst.endswith("latest.json"):
            raise OSError(28, "No space left on device")
        return real_replace(src, dst)

    monkeypatch.setattr(atomic_file.os, "replace", dying_replace)
    with pytest.raises(OSError):
        audit_report.run_audit_report({"node1": node("fail")}, str(tmp_path), now=NOW + 60)
    with open(str(tmp_path / "latest.json")) as handle:
        assert handle.read() == before
    assert not [n for n in os.listdir(str(tmp_path)) if n.endswith(".tmp")]  # no temp file left
    assert calls[-1].endswith("latest.json")


def test_plain_turns_subclasses_into_builtins():
    class Tagged(str):
        pass

    class Mapping(dict):
        pass

    value = audit_report.plain(Mapping({Tagged("a"): [Tagged("b"), 1, 2.5, True, None, (3,)], "o": object}))
    assert value.__class__ is dict and list(value)[0].__class__ is str and value["a"][0].__class__ is str
    assert value["a"][1:] == [1, 2.5, True, None, [3]]
    assert isinstance(value["o"], str)
    json.dumps(value)


def test_summary_line():
    before = audit_report.build_report({"node1": node(), "node2": node()}, now=NOW)
    report = audit_report.build_report({"node1": node(), "node2": UNREACHABLE, "node3": node()},
                                       previous=before, now=NOW)
    assert audit_report.summary_line(report) == (
        "3 node(s): 1 unreachable, 2 ok; newly failing: node2 (unreachable); new: node3")
