"""The lab fleet itself: real systemd containers and real imagezmq hubs.

Needs root and podman (the `lab` marker); the module brings the fleet up once
and removes it at the end.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import uuid

import pytest
import zmq
import imagezmq

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "lab"))
import labctl  # noqa: E402
sys.path.insert(0, os.path.dirname(__file__))
import labansible  # noqa: E402

pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("podman"),
                       reason="the lab needs root and podman"),
]

NODES = [h for h in labctl.fleet() if h["role"] == "node"]
HUBS = {h["name"]: h for h in labctl.fleet() if h["role"] == "hub"}


@pytest.fixture(scope="module")
def lab():
    # The session lock keeps other runs (the demo, other test processes) from
    # re-creating or removing the fleet while these tests use it.
    with labctl.lab_session():
        rows = labctl.up()
        yield rows
        labctl.down()


def send(hub, text, timeout_ms=3000):
    """One message through the real imagezmq.ImageSender; its reply or None."""
    sender = imagezmq.ImageSender(connect_to="tcp://%s:%s" % (hub["ip"], hub["vars"]["hub_port"]))
    # ImageSender blocks forever by default: bound it, and never hang on close.
    sender.zmq_socket.setsockopt(zmq.RCVTIMEO, timeout_ms)
    sender.zmq_socket.setsockopt(zmq.LINGER, 0)
    try:
        return sender.send_jpg(text, b"")
    except zmq.Again:
        return None
    finally:
        sender.close()


def test_up_reports_every_host(lab):
    assert sorted(r["name"] for r in lab) == sorted(h["name"] for h in labctl.fleet())
    assert all(r["state"].startswith("running") for r in lab), lab


@pytest.mark.parametrize("node", [h["name"] for h in NODES])
def test_node_runs_systemd_cron_screen(lab, node):
    assert labctl.exec_in(node, ["ps", "-o", "comm=", "-p", "1"]).stdout.strip() == "systemd"
    assert labctl.systemd_state(node) == "running"
    assert labctl.exec_in(node, ["systemctl", "is-active", "cron"]).stdout.strip() == "active"
    labctl.exec_in(node, ["sh", "-c", "command -v screen && command -v crontab"])


def test_node_config_names_the_hubs(lab):
    text = labctl.exec_in("node1", ["cat", "/home/pi/imagenode.yaml"]).stdout
    owner = labctl.exec_in("node1", ["stat", "-c", "%U", "/home/pi/imagenode.yaml"]).stdout
    assert owner.strip() == "pi"
    assert "name: node1" in text and "H1: tcp://hub1:5555" in text and "H2: tcp://hub2:5555" in text


def test_imagesender_gets_ok_from_hub1(lab):
    assert send(HUBS["hub1"], "node1|Heartbeat") == b"OK"


def test_stopped_hub_does_not_answer_until_started(lab):
    labctl.hub_stop("hub2")
    try:
        assert send(HUBS["hub2"], "node1|Heartbeat", timeout_ms=1500) is None
        assert not labctl.hub_answers(HUBS["hub2"]["ip"], timeout=0.5)
        assert send(HUBS["hub1"], "node1|Heartbeat") == b"OK"  # the other hub is unaffected
    finally:
        labctl.hub_start("hub2")
    assert send(HUBS["hub2"], "node1|Heartbeat") == b"OK"


def test_message_from_inside_node1_reaches_hub1_log(lab):
    text = "node1|labtest|%s" % uuid.uuid4().hex
    # What imagenode does: python3-zmq REQ, two frames, wait for OK; by name.
    code = ("import json, zmq, sys\n"
            "s = zmq.Context().socket(zmq.REQ)\n"
            "s.setsockopt(zmq.LINGER, 0); s.setsockopt(zmq.RCVTIMEO, 5000)\n"
            "s.connect('tcp://hub1:5555')\n"
            "s.send_multipart([json.dumps({'msg': sys.argv[1]}).encode(), b''])\n"
            "print(s.recv().decode())\n")
    out = labctl.exec_in("node1", ["python3", "-c", code, text]).stdout
    assert out.strip() == "OK"
    assert text in labctl.hub_log("hub1")


def test_hub_flags_text_that_would_crash_imagehub(lab):
    assert send(HUBS["hub1"], "node9|") == b"OK"  # still answers afterwards
    assert send(HUBS["hub1"], "node9|Heartbeat") == b"OK"
    assert "WOULD-CRASH-IMAGEHUB ~ node9|" in labctl.hub_log("hub1")


def ansible_verbose(*args):
    """`ansible node1 ARGS -vvv` as the repo runs it: (exit code, output, the
    podman sub-commands the connection ran)."""
    proc = subprocess.run([os.path.join(labansible.BIN, "ansible"), "node1", "-vvv"] + list(args),
                          cwd=labansible.ROOT, env=dict(labansible.env(), ANSIBLE_STDOUT_CALLBACK="default"),
                          capture_output=True, text=True, timeout=120)
    calls = re.findall(r"RUN \[b'[^']*podman', b'(\w+)'", proc.stdout)
    return proc.returncode, proc.stdout + proc.stderr, calls


def test_lab_connection_runs_a_task_in_one_podman_exec(lab):
    # lab/connection_plugins/lab_podman.py: pipelined, as over SSH; upstream's
    # podman connection needs a mount, three execs and a temp dir per task.
    rc, out, calls = ansible_verbose("-m", "ansible.builtin.ping", "--become")
    assert rc == 0 and "node1 | SUCCESS" in out and "pong" in out, out[-2000:]
    assert calls == ["exec"], out[-2000:]


def test_lab_connection_copies_and_fetches_files(lab, tmp_path):
    text = "labtest %s\n" % uuid.uuid4().hex
    rc, out, calls = ansible_verbose("-m", "ansible.builtin.copy", "--become", "-a", json.dumps(
        {"content": text, "dest": "/root/labtest-copy", "mode": "0600"}))
    assert rc == 0, out[-2000:]
    assert "mount" in calls  # files go across the container's mounted filesystem
    assert labctl.exec_in("node1", ["cat", "/root/labtest-copy"]).stdout == text
    assert labctl.exec_in("node1", ["stat", "-c", "%a", "/root/labtest-copy"]).stdout.strip() == "600"
    rc, out, _ = ansible_verbose("-m", "ansible.builtin.fetch", "-a", json.dumps(
        {"src": "/root/labtest-copy", "dest": str(tmp_path) + "/", "flat": False}))
    assert rc == 0, out[-2000:]
    assert (tmp_path / "node1" / "root" / "labtest-copy").read_text() == text


def test_node3_card_fails_read_only_and_is_replaced(lab):
    # node3's SD card is a real ext4 filesystem on a loop device (lab/sdcard.py).
    card = labctl.host("node3")["vars"]["lab_sdcard_mount"]

    def check():
        return labansible.module("node3", "sdcard_check", {"path": card})["node3"]
    before = check()
    assert before["status"] == "ok" and before["read_only"] is False, before["summary"]
    boot = labctl.exec_in("node3", ["cut", "-d", " ", "-f", "22", "/proc/1/stat"]).stdout
    labctl.card_fail("node3")
    failed = check()
    assert failed["status"] == "fail" and failed["read_only"] is True, failed["summary"]
    assert failed["ext4_errors"] >= 1
    write = labctl.exec_in("node3", ["touch", card + "/after-the-error"], check=False)
    assert write.returncode != 0 and "Read-only file system" in write.stderr
    labctl.card_replace("node3")
    assert labctl.exec_in("node3", ["cut", "-d", " ", "-f", "22", "/proc/1/stat"]).stdout != boot  # powered off and on
    after = check()
    assert after["status"] == "ok" and after["read_only"] is False and after["ext4_errors"] == 0, after["summary"]
