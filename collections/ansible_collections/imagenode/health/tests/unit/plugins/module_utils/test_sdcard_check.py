# Copyright (c) 2026 imagenode-health contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""sdcard_check on fake /proc and /sys trees of a Pi, with real-format kernel log lines."""

import os

import pytest

from ansible_collections.imagenode.health.plugins.module_utils.check_result import CheckError
from ansible_collections.imagenode.health.plugins.module_utils.sdcard_check import (
    block_device,
    count_mmc_errors,
    mount_of,
    parse_mountinfo,
    read_write_stats,
    run_sdcard_check,
)
from ansible_collections.imagenode.health.tests.unit.plugins.fake_runner import FakeRunner, write_tree

PI_MOUNTINFO = """\
22 1 179:2 / / rw,noatime shared:1 - ext4 /dev/mmcblk0p2 rw
23 22 0:5 / /dev rw,nosuid,relatime shared:2 - devtmpfs udev rw,size=1867796k,nr_inodes=466949,mode=755
30 22 179:1 / /boot/firmware rw,relatime shared:9 - vfat /dev/mmcblk0p1 rw,fmask=0022,dmask=0022,codepage=437
41 22 8:1 / /media/usb\\040stick rw,relatime shared:20 - ext4 /dev/sda1 rw
"""
PI_TREE = {
    "/proc/self/mountinfo": PI_MOUNTINFO,
    "/proc/uptime": "86400.00 300000.00\n",
    "/sys/class/block/mmcblk0/dev": "179:0\n",
    "/sys/class/block/mmcblk0p1/dev": "179:1\n",
    "/sys/class/block/mmcblk0p1/partition": "1\n",
    "/sys/class/block/mmcblk0p2/dev": "179:2\n",
    "/sys/class/block/mmcblk0p2/partition": "2\n",
    "/sys/class/block/sda/dev": "8:0\n",
    "/sys/class/block/sda1/dev": "8:1\n",
    "/sys/class/block/sda1/partition": "1\n",
    "/sys/fs/ext4/mmcblk0p2/errors_count": "0\n",
    "/sys/fs/ext4/mmcblk0p2/first_error_time": "0\n",
    "/sys/fs/ext4/mmcblk0p2/last_error_time": "0\n",
    "/sys/block/mmcblk0/stat": ("   13286     3604   791570    69404     8745     9102   602816   121872"
                                "        0    46012   196464        0        0        0        0     1345     5186\n"),
}
MMC_LOG = """\
2026-12-01T03:12:40+0000 pi kernel: mmc0: Timeout waiting for hardware interrupt.
2026-12-01T03:12:40+0000 pi kernel: mmcblk0: error -110 sending status command, retrying
2026-12-01T03:12:51+0000 pi kernel: mmcblk0: error -110 transferring data, sector 4196352, nr 8, cmd response 0x900, card status 0xb00
2026-12-01T03:13:00+0000 pi kernel: mmc1: Timeout waiting for hardware interrupt.
2026-12-01T03:13:01+0000 pi kernel: brcmfmac: brcmf_sdio_readframes: RXHEADER FAILED: -110
"""
QUIET = {("journalctl",): (0, "2026-12-01T00:00:00+0000 pi kernel: Booting Linux\n")}


def pi(tmp_path, **changes):
    files = dict(PI_TREE)
    files.update(changes)
    root = tmp_path / "root"
    write_tree(root, files)
    canary = tmp_path / "canary"
    canary.mkdir()
    return {"root": str(root), "canary_dir": str(canary)}


def test_parse_mountinfo_and_escapes():
    mounts = parse_mountinfo(PI_MOUNTINFO + "garbage\n\n12 1 nodevno / /x rw - ext4 /dev/x rw\n")
    assert len(mounts) == 4
    assert mounts[0] == {"devno": "179:2", "mountpoint": "/", "options": ["rw", "noatime"], "fstype": "ext4",
                         "source": "/dev/mmcblk0p2", "super_options": ["rw"]}
    assert mounts[3]["mountpoint"] == "/media/usb stick"
    assert parse_mountinfo("") == []


def test_mount_of_longest_prefix():
    mounts = parse_mountinfo(PI_MOUNTINFO)
    assert mount_of(mounts, "/home/pi")["mountpoint"] == "/"
    assert mount_of(mounts, "/boot/firmware/config.txt")["devno"] == "179:1"
    assert mount_of(mounts, "/bootx")["mountpoint"] == "/"


def test_block_device_of_partitions(tmp_path):
    write_tree(tmp_path, PI_TREE)
    assert block_device("179:2", str(tmp_path)) == ("mmcblk0p2", "mmcblk0")
    assert block_device("8:1", str(tmp_path)) == ("sda1", "sda")
    assert block_device("179:0", str(tmp_path)) == ("mmcblk0", "mmcblk0")
    assert block_device("0:33", str(tmp_path)) == (None, None)


def test_count_mmc_errors_ours_and_others():
    from ansible_collections.imagenode.health.plugins.module_utils.kernel_log import parse_journal
    ours, others = count_mmc_errors(parse_journal(MMC_LOG), {"mmc0", "mmcblk0"})
    assert len(ours) == 3 and len(others) == 1 and "mmc1" in others[0]
    assert count_mmc_errors([], {"mmc0"}) == ([], [])


def test_write_stats_per_day(tmp_path):
    write_tree(tmp_path, PI_TREE)
    written, per_day = read_write_stats("mmcblk0", str(tmp_path))
    assert written == 602816 * 512 and round(per_day) == 602816 * 512
    write_tree(tmp_path, {"/sys/block/mmcblk0/stat": "garbage\n"})
    assert read_write_stats("mmcblk0", str(tmp_path)) == (None, None)


def test_healthy_card_is_ok_and_says_what_it_read(tmp_path):
    result = run_sdcard_check(runner=FakeRunner(QUIET), **pi(tmp_path))
    assert result["status"] == "ok", result["summary"]
    assert result["device"] == "mmcblk0p2" and result["disk"] == "mmcblk0" and result["is_mmc"]
    assert result["read_only"] is False and result["mmc_errors"] == 0 and result["ext4_errors"] == 0
    assert result["mb_written_per_day"] == 308.6
    assert result["evidence"]["sources"] == {"mountinfo": True, "block_device": True, "kernel_log": True,
                                             "ext4_counters": True, "canary": True, "manifest": False,
                                             "write_stats": True}
    assert result["evidence"]["canary"]["ok"] is True
    assert "changed" not in result


def test_mmc_errors_warn_and_fail(tmp_path):
    result = run_sdcard_check(runner=FakeRunner({("journalctl",): (0, MMC_LOG)}), **pi(tmp_path))
    assert result["status"] == "warn" and result["mmc_errors"] == 3
    assert "3 mmc error(s) on mmcblk0" in result["summary"]
    assert result["evidence"]["kernel_log"]["other_mmc_errors"] == 1
    strict = run_sdcard_check(runner=FakeRunner({("journalctl",): (0, MMC_LOG)}), mmc_fail=3, **pi(tmp_path / "b"))
    assert strict["status"] == "fail"


def test_mmc_errors_not_counted_when_root_is_usb(tmp_path):
    usb = PI_MOUNTINFO.replace("22 1 179:2 / / rw,noatime shared:1 - ext4 /dev/mmcblk0p2 rw",
                               "22 1 8:1 / / rw,noatime shared:1 - ext4 /dev/sda1 rw")
    result = run_sdcard_check(runner=FakeRunner({("journalctl",): (0, MMC_LOG)}),
                              **pi(tmp_path, **{"/proc/self/mountinfo": usb}))
    assert result["device"] == "sda1" and result["is_mmc"] is False
    assert result["mmc_errors"] == 0 and result["status"] == "ok"
    assert "4 mmc error(s) on another device" in result["summary"]


def test_ext4_errors_fail(tmp_path):
    result = run_sdcard_check(runner=FakeRunner(QUIET), **pi(tmp_path, **{
        "/sys/fs/ext4/mmcblk0p2/errors_count": "4\n", "/sys/fs/ext4/mmcblk0p2/first_error_time": "1764547200\n"}))
    assert result["status"] == "fail" and result["ext4_errors"] == 4
    assert "recorded 4 error(s) since 2025-12-01" in result["summary"]


def test_read_only_remount_fails(tmp_path):
    ro = PI_MOUNTINFO.replace("/ / rw,noatime shared:1 - ext4 /dev/mmcblk0p2 rw", "/ / ro,noatime shared:1 - ext4 /dev/mmcblk0p2 ro")
    result = run_sdcard_check(runner=FakeRunner(QUIET), **pi(tmp_path, **{"/proc/self/mountinfo": ro}))
    assert result["status"] == "fail" and result["read_only"] is True
    assert "mounted read-only" in result["summary"]


def test_emergency_read_only_after_errors_fails(tmp_path):
    # Linux 6.x after an ext4 error with errors=remount-ro: the mount still
    # says rw, the superblock options say emergency_ro.
    line = "/ / rw,noatime shared:1 - ext4 /dev/mmcblk0p2 rw"
    emergency = PI_MOUNTINFO.replace(line, line + ",errors=remount-ro,emergency_ro")
    result = run_sdcard_check(runner=FakeRunner(QUIET), **pi(tmp_path, **{"/proc/self/mountinfo": emergency}))
    assert result["status"] == "fail" and result["read_only"] is True
    assert "read-only by the kernel after filesystem errors" in result["summary"]
    assert "emergency_ro" in result["evidence"]["mount"]["super_options"]


def test_errors_remount_ro_option_alone_is_not_read_only(tmp_path):
    # "errors=remount-ro" is the policy, not the state: a healthy card has it.
    line = "/ / rw,noatime shared:1 - ext4 /dev/mmcblk0p2 rw"
    policy = PI_MOUNTINFO.replace(line, line + ",errors=remount-ro")
    result = run_sdcard_check(runner=FakeRunner(QUIET), **pi(tmp_path, **{"/proc/self/mountinfo": policy}))
    assert result["status"] == "ok" and result["read_only"] is False, result["summary"]


def test_canary_failure_fails(tmp_path):
    args = pi(tmp_path)
    args["canary_dir"] = str(tmp_path / "missing")
    result = run_sdcard_check(runner=FakeRunner(QUIET), **args)
    assert result["status"] == "fail" and result["evidence"]["canary"]["ok"] is False


def test_container_overlay_root_says_what_it_could_not_read(tmp_path):
    overlay = "600 500 0:48 / / rw,relatime - overlay overlay rw,lowerdir=/l,upperdir=/u,workdir=/w\n"
    result = run_sdcard_check(runner=FakeRunner({}), **pi(tmp_path, **{"/proc/self/mountinfo": overlay}))
    assert result["device"] is None and result["status"] == "ok"
    sources = result["evidence"]["sources"]
    assert sources["block_device"] is False and sources["kernel_log"] is False and sources["ext4_counters"] is False
    assert sources["canary"] is True


def test_nothing_readable_is_unknown(tmp_path):
    result = run_sdcard_check(root=str(tmp_path), canary=False, runner=FakeRunner({}))
    assert result["status"] == "unknown"


def test_manifest_create_then_verify(tmp_path):
    program = tmp_path / "imagenode"
    (program / "tools").mkdir(parents=True)
    (program / "imagenode.py").write_text("print('hello')\n")
    (program / "tools" / "nodehealth.py").write_text("x = 1\n")
    manifest_file = str(tmp_path / "state" / "manifest.json")
    common = dict(manifest_paths=[str(program)], manifest_file=manifest_file, runner=FakeRunner(QUIET), **pi(tmp_path))
    dry = run_sdcard_check(manifest="create", check_mode=True, **common)
    assert dry["changed"] is True and "would create a manifest of 2 file(s)" in dry["summary"]
    assert not os.path.exists(manifest_file)
    created = run_sdcard_check(manifest="create", **common)
    assert created["changed"] is True and os.path.exists(manifest_file)
    verified = run_sdcard_check(manifest="verify", **common)
    assert verified["status"] == "ok" and "2 file(s) verified" in verified["summary"] and "changed" not in verified
    (program / "tools" / "nodehealth.py").write_text("x = 2\n")
    (program / "imagenode.py").unlink()
    broken = run_sdcard_check(manifest="verify", **common)
    assert broken["status"] == "fail" and "1 file(s) changed, 1 missing" in broken["summary"]
    assert broken["evidence"]["manifest"]["changed"] == [str(program / "tools" / "nodehealth.py")]


def test_verify_without_manifest_warns(tmp_path):
    result = run_sdcard_check(manifest="verify", manifest_file=str(tmp_path / "none.json"),
                              runner=FakeRunner(QUIET), **pi(tmp_path))
    assert result["status"] == "warn" and "no readable manifest" in result["summary"]


def test_write_rate_threshold(tmp_path):
    result = run_sdcard_check(write_warn_mb_per_day=100, runner=FakeRunner(QUIET), **pi(tmp_path))
    assert result["status"] == "warn" and "309 MB written per day" in result["summary"]


@pytest.mark.parametrize("kwargs, words", [
    ({"manifest": "create"}, "needs manifest_paths"),
    ({"manifest": "maybe"}, "manifest must be"),
    ({"mmc_warn": 5, "mmc_fail": 2}, "mmc_warn"),
])
def test_bad_arguments(kwargs, words):
    with pytest.raises(CheckError, match=words):
        run_sdcard_check(canary=False, runner=FakeRunner({}), **kwargs)
