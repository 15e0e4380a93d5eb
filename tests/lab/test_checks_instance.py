"""instance_check with real duplicate camera programs on a lab node.

The stand-in camera program (tests/standin/imagenode.py, installed where
imagenode lives on a Pi: ~pi/imagenode/imagenode/imagenode.py) is started
three ways at once on node1: in a screen session as pi, as a transient
systemd unit (`systemd-run --unit imagenode`), and by hand (setsid nohup
from a shell). instance_check must count three, flag the duplicates, name
each one's launcher, and keep the oldest. With only hub1 up each program
has a hub that answers, so none of them exits on its own meanwhile.
"""
import os
import shutil
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "lab"))
sys.path.insert(0, os.path.dirname(__file__))
import labansible  # noqa: E402
import labctl  # noqa: E402

pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("podman"), reason="the lab needs root and podman"),
]

NODE = "node1"
WORKDIR = "/home/pi/imagenode/imagenode"
STANDIN = os.path.join(os.path.dirname(__file__), "..", "standin", "imagenode.py")


def instances():
    res = labansible.module(NODE, "instance_check", {"pattern": "imagenode.py"})[NODE]
    assert "failed" not in res, res
    return res


def wait_count(n, timeout=15):
    deadline = time.monotonic() + timeout
    while True:
        res = instances()
        if res["count"] == n or time.monotonic() > deadline:
            return res
        time.sleep(0.5)


@pytest.fixture(scope="module")
def lab():
    with labctl.lab_session():
        labctl.up(["hub1", NODE])
        labctl.exec_in(NODE, ["mkdir", "-p", WORKDIR], user="pi")
        with open(STANDIN) as f:
            labctl.exec_in(NODE, ["tee", WORKDIR + "/imagenode.py"], user="pi", input=f.read(),
                           stdout=subprocess.DEVNULL)
        yield
        labctl.down()


def test_one_in_screen_is_not_a_duplicate(lab):
    labctl.exec_in(NODE, ["runuser", "-u", "pi", "--", "screen", "-dmS", "cam",
                          "sh", "-c", "cd %s && exec python3 imagenode.py" % WORKDIR])
    res = wait_count(1)
    assert res["count"] == 1 and res["duplicates"] is False, res["summary"]
    assert res["status"] == "ok"
    only = res["evidence"]["instances"][0]
    assert (only["launcher"], only["launcher_detail"]) == ("screen", "cam")


def test_duplicates_and_who_launched_each(lab):
    labctl.exec_in(NODE, ["systemd-run", "--unit", "imagenode", "--uid", "pi", "--working-directory", WORKDIR,
                          "python3", WORKDIR + "/imagenode.py"])
    labctl.exec_in(NODE, ["runuser", "-u", "pi", "--", "sh", "-c",
                          "cd %s && setsid nohup python3 imagenode.py >/dev/null 2>&1 </dev/null &" % WORKDIR])
    res = wait_count(3)
    assert res["count"] == 3, res["summary"]
    assert res["duplicates"] is True
    assert res["status"] == "warn"
    by_launcher = {i["launcher"]: i for i in res["evidence"]["instances"]}
    assert sorted(by_launcher) == ["hand", "screen", "systemd"]
    assert by_launcher["screen"]["launcher_detail"] == "cam"
    assert by_launcher["systemd"]["launcher_detail"] == "imagenode.service"
    assert res["keeper"] == by_launcher["screen"]["pid"]  # the oldest, with start_method any
    assert sorted(res["pids"]) == sorted(i["pid"] for i in res["evidence"]["instances"])
    # Each of them really is a camera program: the hub hears node1.
    assert "node1" in labctl.hub_log("hub1")


def test_keeper_follows_the_configured_start_method(lab):
    res = labansible.module(NODE, "instance_check", {"start_method": "systemd"})[NODE]
    by_launcher = {i["launcher"]: i for i in res["evidence"]["instances"]}
    assert res["keeper"] == by_launcher["systemd"]["pid"], res["summary"]
