"""The lab's SD cards: a real ext4 filesystem for a lab node that has one.

A container's root is an overlay on the host's disk, and remounting it
read-only from inside is refused (no CAP_SYS_ADMIN, and EBUSY while
anything has a file open for writing). So a node with `lab_sdcard_mount`
in inventory/lab.yml gets a card of its own: an ext4 image on a loop device,
mounted on the host with errors=remount-ro (as Raspberry Pi OS mounts its
root) and bind-mounted into the container at that path.

fail() is what a dying card does to it: an ext4 error, after which the
kernel itself makes the filesystem read-only. The error is raised through
ext4's own fault injection (/sys/fs/ext4/DEV/trigger_fs_error), the same
ext4_error() a corrupted block leads to, because corrupting a mounted
filesystem and then hitting the bad block is not deterministic.
replace() is the operator's fix: a new, empty card.

Everything lives under /run/imagenode-lab/NODE/ (card.img, mnt/); the image
is sparse, so a card costs the host only what was written to it.
"""
import os
import subprocess
import time

BASE = "/run/imagenode-lab"
SIZE = "64M"


class CardError(Exception):
    pass


def _run(argv, check=True):
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, LC_ALL="C"))
    if check and proc.returncode != 0:
        raise CardError("%s failed (%d): %s" % (" ".join(argv), proc.returncode, proc.stderr.strip()))
    return proc


def paths(node):
    base = os.path.join(BASE, node)
    return {"dir": base, "image": os.path.join(base, "card.img"), "mnt": os.path.join(base, "mnt")}


def loop_of(image):
    """The loop device backing image ('' if none)."""
    out = _run(["losetup", "--noheadings", "--output", "NAME", "--associated", image], check=False).stdout
    return out.split()[0] if out.split() else ""


def create(node):
    """A new, empty card for node, mounted on the host; its mount point
    (what the container bind-mounts)."""
    remove(node)
    p = paths(node)
    os.makedirs(p["mnt"], exist_ok=True)
    _run(["truncate", "-s", SIZE, p["image"]])
    _run(["mkfs.ext4", "-q", "-F", "-L", "lab-sdcard", p["image"]])
    loop = _run(["losetup", "--find", "--show", p["image"]]).stdout.strip()
    _run(["mount", "-o", "errors=remount-ro,noatime", loop, p["mnt"]])
    return p["mnt"]


def remove(node):
    """Unmount and free node's card, if it has one (the container using it
    must be gone, or its bind mount keeps the filesystem alive)."""
    p = paths(node)
    if os.path.ismount(p["mnt"]):
        _run(["umount", "--lazy", p["mnt"]], check=False)
    if os.path.exists(p["image"]):
        loop = loop_of(p["image"])
        if loop:
            _run(["losetup", "--detach", loop], check=False)
        os.unlink(p["image"])
    for directory in (p["mnt"], p["dir"]):
        if os.path.isdir(directory) and not os.path.ismount(directory) and not os.listdir(directory):
            os.rmdir(directory)


def remove_all():
    """Every card under BASE (a lab taken down by another run's labctl)."""
    if os.path.isdir(BASE):
        for node in sorted(os.listdir(BASE)):
            remove(node)


def writable(node):
    """Whether a write to node's card succeeds now (seen from the host)."""
    probe = os.path.join(paths(node)["mnt"], ".lab-write-probe")
    try:
        with open(probe, "w") as handle:
            handle.write("x")
        os.unlink(probe)
        return True
    except OSError:
        return False


def fail(node, timeout=10.0):
    """An ext4 error on node's card; returns once the kernel has made it
    read-only (it aborts the journal from a work item, a moment later)."""
    p = paths(node)
    loop = loop_of(p["image"]) if os.path.exists(p["image"]) else ""
    if not loop or not os.path.ismount(p["mnt"]):
        raise CardError("%s has no lab SD card (lab_sdcard_mount in inventory/lab.yml)" % node)
    with open("/sys/fs/ext4/%s/trigger_fs_error" % os.path.basename(loop), "w") as handle:
        handle.write("lab: the card failed\n")
    deadline = time.monotonic() + timeout
    while writable(node):
        if time.monotonic() > deadline:
            raise CardError("the kernel kept %s's card writable %.0f s after an ext4 error" % (node, timeout))
        time.sleep(0.2)
