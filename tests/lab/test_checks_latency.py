"""latency_check learns a baseline on a normal directory, then flags a
directory on a filesystem that answers slowly.

The slow filesystem is real FUSE (tests/lab/slowfs.py, fusepy over libfuse2):
a passthrough whose write and fsync sleep, run on the host and checked
through Ansible on localhost (the lab containers have no /dev/fuse and no
CAP_SYS_ADMIN, and giving them that would make them unlike a Pi). No lab
containers are used, so the lab is not held. The mount is removed in a
finalizer whatever happens.
"""
import os
import shutil
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(__file__))
import labansible  # noqa: E402

DELAY = 0.1  # seconds per write and per fsync: ~200 ms per probe, 40x a 5 ms floor

pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(os.geteuid() != 0 or not os.path.exists("/dev/fuse"), reason="needs root and /dev/fuse"),
]


@pytest.fixture(scope="module")
def dirs(tmp_path_factory, request):
    pytest.importorskip("fuse", reason="fusepy (requirements.txt) and libfuse2 (lab/host-setup.sh)")
    base = tmp_path_factory.mktemp("latency")
    normal, backing, slow = base / "normal", base / "backing", base / "slow"
    for d in (normal, backing, slow):
        d.mkdir()
    proc = subprocess.Popen([sys.executable, os.path.join(os.path.dirname(__file__), "slowfs.py"),
                             str(backing), str(slow), str(DELAY)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def cleanup():
        # Always unmount: a dead FUSE daemon leaves a mount that hangs callers.
        subprocess.run(["umount", "-l", str(slow)], capture_output=True)
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
    request.addfinalizer(cleanup)
    deadline = time.monotonic() + 15
    while not os.path.ismount(str(slow)):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise AssertionError("slowfs did not mount: %s" % (proc.stdout.read() if proc.poll() is not None else "timeout"))
        time.sleep(0.1)
    return {"normal": str(normal), "slow": str(slow), "state": str(base / "latency.json")}


def latency(path, state):
    return labansible.module("localhost", "latency_check",
                             {"path": path, "state_file": state, "learn_runs": 3})["localhost"]


def test_learns_on_a_normal_dir_then_flags_the_slow_one(dirs):
    for run in range(1, 4):
        res = latency(dirs["normal"], dirs["state"])
        assert res["status"] == "ok", res["summary"]
        assert res["learning"] is True
        assert res["summary"].startswith("learning baseline %d/3" % run), res["summary"]
    res = latency(dirs["normal"], dirs["state"])
    assert res["status"] == "ok" and res["learning"] is False, res["summary"]

    res = latency(dirs["slow"], dirs["state"])
    assert res["learning"] is False
    assert res["status"] in ("warn", "fail"), res["summary"]
    write = res["probes"]["write"]
    assert write["status"] in ("warn", "fail")
    assert write["ms"] >= 2 * DELAY * 1000 * 0.9  # both the write and the fsync stalled
    assert write["ms"] < write["warn_ms"]  # under the absolute bound: flagged by its baseline
    assert "baseline" in res["summary"] and "not added to the baseline" in res["summary"]
    # A slow sample never poisons the baseline: the normal dir is ok again.
    assert latency(dirs["normal"], dirs["state"])["status"] == "ok"
