"""sdcard_check against a real, really corrupted ext4 filesystem.

Host side, not in a container: an ext4 image on a loop device (truncate,
mkfs.ext4, losetup, mount), two inodes cleared with `debugfs -w clri` while
unmounted, then the files looked up so the kernel itself records ext4 errors
(/sys/fs/ext4/loopN/errors_count). sdcard_check runs through Ansible on
localhost with `path` (and its canary) inside the mount. Then the mount is
remounted read-only, which must be reported. A second image is mounted
errors=remount-ro, as Raspberry Pi OS mounts its root, and one corrupted
lookup makes the kernel itself take it read-only, as it does to a dying card.
Loop devices and mounts are removed in finalizers whatever happens. No lab containers are used, so the
lab is not held.
"""
import os
import shutil
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(__file__))
import labansible  # noqa: E402

pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(os.geteuid() != 0 or not all(shutil.which(t) for t in ("losetup", "mkfs.ext4", "debugfs")),
                       reason="needs root, losetup, mkfs.ext4 and debugfs"),
]


def sh(argv, **kw):
    return subprocess.run(argv, check=True, capture_output=True, text=True, timeout=60, **kw)


def corrupted_card(base, request, files, mount_options):
    """An ext4 image on a loop device holding `files`, each inode cleared with
    `debugfs -w clri` while unmounted (its directory entry stays behind,
    "deleted inode referenced" on lookup, as a dying card leaves them), then
    mounted at base/mnt with mount_options. Loop device and mount are removed
    by a finalizer whatever happens. Returns {"mnt", "loop"}."""
    image, mnt = str(base / "card.img"), str(base / "mnt")
    os.mkdir(mnt)
    state = {"loop": None, "mounted": False}

    def cleanup():
        # Always: a leaked loop device or mount outlives the test run.
        if state["mounted"]:
            subprocess.run(["umount", "-l", mnt], capture_output=True)
        if state["loop"]:
            subprocess.run(["losetup", "-d", state["loop"]], capture_output=True)
    request.addfinalizer(cleanup)

    sh(["truncate", "-s", "32M", image])
    sh(["mkfs.ext4", "-q", "-F", image])
    state["loop"] = sh(["losetup", "--find", "--show", image]).stdout.strip()
    sh(["mount", state["loop"], mnt])
    state["mounted"] = True
    for rel in files:
        os.makedirs(os.path.dirname(os.path.join(mnt, rel)), exist_ok=True)
        with open(os.path.join(mnt, rel), "w") as f:
            f.write("program file\n")
    sh(["umount", mnt])
    state["mounted"] = False
    for rel in files:
        sh(["debugfs", "-w", "-R", "clri /%s" % rel, state["loop"]])
    sh(["mount", "-o", mount_options, state["loop"], mnt])
    state["mounted"] = True
    return {"mnt": mnt, "loop": state["loop"]}


@pytest.fixture(scope="module")
def corrupted(tmp_path_factory, request):
    # errors=continue: keep the fs writable, so read-only is our own step later.
    state = corrupted_card(tmp_path_factory.mktemp("sdcard"), request,
                           ("imagenode/imagenode.py", "imagenode.yaml"), "errors=continue")
    mnt = state["mnt"]
    for rel in ("imagenode/imagenode.py", "imagenode.yaml"):
        with pytest.raises(OSError):
            os.stat(os.path.join(mnt, rel))
    # The kernel counts the errors in the superblock from a work item, a
    # moment after the failing lookup: wait for it (bounded), syncing.
    counter = "/sys/fs/ext4/%s/errors_count" % os.path.basename(state["loop"])
    for _attempt in range(50):
        os.sync()
        with open(counter) as f:
            errors = int(f.read())
        if errors >= 2:
            break
        time.sleep(0.2)
    assert errors >= 2, "the kernel recorded %d ext4 errors, not 2, within 10 s" % errors
    return {"mnt": mnt, "loop": state["loop"]}


def sdcard(mnt):
    return labansible.module("localhost", "sdcard_check", {"path": mnt, "canary_dir": mnt})["localhost"]


def test_ext4_errors_are_reported(corrupted):
    res = sdcard(corrupted["mnt"])
    assert res["status"] == "fail", res["summary"]
    assert res["ext4_errors"] >= 2
    assert res["device"] == os.path.basename(corrupted["loop"])
    assert "error" in res["summary"]
    assert res["read_only"] is False
    assert res["evidence"]["canary"]["ok"] is True


def test_read_only_remount_is_reported(corrupted):
    sh(["mount", "-o", "remount,ro", corrupted["mnt"]])
    res = sdcard(corrupted["mnt"])
    assert res["status"] == "fail"
    assert res["read_only"] is True
    assert "read-only" in res["summary"]
    assert res["evidence"]["canary"]["ok"] is False


@pytest.fixture
def dying(tmp_path, request):
    """An ext4 card mounted errors=remount-ro, one corrupted lookup away from
    the kernel's emergency read-only."""
    return corrupted_card(tmp_path, request, ("imagenode.yaml",), "errors=remount-ro")


def test_kernel_read_only_after_errors_is_reported(dying):
    assert sdcard(dying["mnt"])["status"] == "ok"  # healthy until the bad block is read
    with pytest.raises(OSError):
        os.stat(os.path.join(dying["mnt"], "imagenode.yaml"))
    # The kernel aborts the journal and stops writes from a work item: wait
    # for a write to fail (bounded).
    probe = os.path.join(dying["mnt"], "write-probe")
    for _attempt in range(50):
        try:
            with open(probe, "w") as f:
                f.write("x")
            os.unlink(probe)
        except OSError:
            break
        time.sleep(0.2)
    else:
        pytest.fail("the kernel kept %s writable for 10 s after an ext4 error with errors=remount-ro" % dying["mnt"])
    res = sdcard(dying["mnt"])
    assert res["status"] == "fail", res["summary"]
    assert res["read_only"] is True, res["evidence"]["mount"]
    assert "read-only" in res["summary"]
    assert res["evidence"]["canary"]["ok"] is False
