"""playbooks/audit.yml exactly as an operator runs it, against the lab fleet.

With hub2's hub program stopped, every node must show hub1 answering and
hub2 down; with a node's container gone, the run still reports the others.
"""
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


@pytest.fixture(scope="module")
def lab():
    with labctl.lab_session():
        labctl.up()
        labctl.hub_stop("hub2")
        yield
        labctl.down()


def audit():
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               PATH="%s:%s" % (os.path.join(ROOT, ".venv", "bin"), os.environ["PATH"]))
    return subprocess.run([os.path.join(ROOT, ".venv", "bin", "ansible-playbook"), "playbooks/audit.yml"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def table_rows(output):
    """node name -> its row in the printed fleet table."""
    return {m.group(1): m.group(0) for m in re.finditer(r"^\s+(node\d+)\s+(\S+)\s+(.*)$", output, re.M)}


def test_every_node_shows_hub1_up_and_hub2_down(lab):
    proc = audit()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = table_rows(proc.stdout)
    assert sorted(rows) == NODES
    for node, row in rows.items():
        assert re.search(r"WARN\s+tcp://hub1:5555 ok [\d.]+ ms \| tcp://hub2:5555 DOWN", row), row


def test_an_unreachable_node_is_reported_not_fatal(lab):
    subprocess.run(["podman", "rm", "-f", labctl.host("node7")["container"]], check=True, capture_output=True)
    proc = audit()
    rows = table_rows(proc.stdout)
    assert "UNREACH" in rows["node7"]
    assert all("WARN" in rows[n] for n in NODES if n != "node7")
