"""playbooks/audit.yml's report against the lab fleet, as a scheduled audit runs it.

Three audits into one report directory: the healthy fleet; then node7 frozen
(`podman pause`: its container is there, but nothing in it can run, so
Ansible cannot reach it) and hub2's hub program stopped (every other node
degraded, not failing); then both restored. The second audit must write the
JSON, the HTML and latest, list node7 as unreachable and newly failing, and
exit non-zero (audit_fail_on=fail); the third must show node7 recovered and
exit zero. Each audit is a real `ansible-playbook playbooks/audit.yml`.
"""
import json
import os
import re
import shutil
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "lab"))
import labctl  # noqa: E402

pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("podman"),
                       reason="the lab needs root and podman"),
]

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
NODES = sorted(h["name"] for h in labctl.fleet() if h["role"] == "node")
FROZEN = "node7"


@pytest.fixture(scope="module")
def lab():
    with labctl.lab_session():
        labctl.up()
        # The camera program on every node by its start method, as `make demo`
        # does: a fresh lab node has none, and instance_check fails it.
        proc = playbook("lab/playbooks/cameras.yml")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        yield
        subprocess.run(["podman", "unpause", labctl.host(FROZEN)["container"]], capture_output=True)
        labctl.down()


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    return str(tmp_path_factory.mktemp("reports"))


def playbook(path, *extra):
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               PATH="%s:%s" % (os.path.join(ROOT, ".venv", "bin"), os.environ["PATH"]))
    argv = [os.path.join(ROOT, ".venv", "bin", "ansible-playbook"), path] + list(extra)
    return subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def audit(report_dir, *extra):
    return playbook("playbooks/audit.yml", "-e", "audit_report_dir=%s" % report_dir, *extra)


def latest(report_dir):
    with open(os.path.join(report_dir, "latest.json")) as handle:
        return json.load(handle)


def timestamped(report_dir):
    return sorted(n for n in os.listdir(report_dir) if re.match(r"audit-\d{8}T\d{6}Z(-\d+)?\.(json|html)$", n))


def test_1_healthy_fleet_first_report(lab, reports):
    proc = audit(reports)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    report = latest(reports)
    assert sorted(report["nodes"]) == NODES
    assert all(n["status"] in ("ok", "warn", "unknown") for n in report["nodes"].values()), out
    assert report["changes"] is None and "first report here" in out
    assert len(timestamped(reports)) == 2  # one .json, one .html
    # latency_check's own baseline shows in the report.
    node1 = report["nodes"]["node1"]["metrics"]
    assert "latency_write_ms" in node1 and "hub_rtt_ms" in node1, node1


def test_2_unreachable_node_is_reported_and_the_run_fails(lab, reports):
    labctl.hub_stop("hub2")
    subprocess.run(["podman", "pause", labctl.host(FROZEN)["container"]], check=True, capture_output=True)
    try:
        proc = audit(reports)
    finally:
        subprocess.run(["podman", "unpause", labctl.host(FROZEN)["container"]], check=True, capture_output=True)
        labctl.hub_start("hub2")
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    # The console: the table row, the summary, and the reason for the exit status.
    assert re.search(r"^\s+%s\s+UNREACH\s" % FROZEN, proc.stdout, re.M), out
    assert "at or over audit_fail_on=fail (%s)" % FROZEN in out, out
    report = latest(reports)
    assert report["nodes"][FROZEN]["status"] == "unreachable" and report["over_threshold"] == [FROZEN]
    assert [(c["node"], c["to"]) for c in report["changes"]["newly_failing"]] == [(FROZEN, "unreachable")], \
        report["changes"]
    others = [report["nodes"][n] for n in NODES if n != FROZEN]
    assert all(n["checks"]["hub_check"]["status"] == "warn" for n in others)  # hub2 down: degraded
    assert len(timestamped(reports)) == 4
    with open(os.path.join(reports, report["id"] + ".html")) as handle:
        page = handle.read()
    with open(os.path.join(reports, "latest.html")) as handle:
        assert handle.read() == page
    assert re.search(r'<a class="cell st-unreachable" id="cell-node-\d+" href="#node-\d+" data-node="%s"' % FROZEN,
                     page)
    assert re.search(r"<b>newly failing</b>: [^<]*%s \(\w+ &rarr; unreachable\)" % FROZEN, page)


def test_3_restored_node_shows_as_recovered(lab, reports):
    proc = audit(reports)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    report = latest(reports)
    assert report["nodes"][FROZEN]["status"] != "unreachable"
    assert [c["node"] for c in report["changes"]["recovered"]] == [FROZEN], report["changes"]
    assert "recovered: %s" % FROZEN in out
    assert len(timestamped(reports)) == 6
    # The history carried across the unreachable audit: node7's baselines come from reports 1 (and 3).
    assert report["nodes"][FROZEN]["metrics"]["hub_rtt_ms"]["baseline_samples"] == 1
