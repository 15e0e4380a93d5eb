# Copyright (c) 2026 imagenode-health contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The probe's kernel log (kernel_log.KmsgFollower): /dev/kmsg kept open, each record
read once and searched once per pattern, with the answers of a full read."""

import os
import re
import time
import uuid

import pytest

from ansible_collections.imagenode.health.plugins.module_utils import kernel_log, node_health
from ansible_collections.imagenode.health.plugins.module_utils.kernel_log import KmsgFollower, read_kmsg

UNDERVOLTAGE = re.compile(r"Under-?voltage detected")
MMC = re.compile(r"\bmmc\d+: ")


class FakeKmsg(object):
    """/dev/kmsg as the kernel serves it: one record per read, EAGAIN at the end, every
    open from the oldest record still in the ring; `overwrite` drops the oldest ones,
    and a reader that had not read them gets EPIPE once (as from the kernel)."""

    def __init__(self, tmp_path):
        self.records = []      # (seq, bytes)
        self.first = 0         # the oldest seq still in the ring
        self.cursor = {}       # fd -> next seq
        self.opens = 0
        self.reads = 0
        self.dummy = str(tmp_path / "kmsg")
        with open(self.dummy, "wb"):
            pass

    def add(self, secs, message, level=6):
        seq = len(self.records)
        self.records.append((seq, b"%d,%d,%d,-;%s\n" % (level, seq, int(secs * 1000000), message.encode())))

    def overwrite(self, count):
        self.first += count

    def open(self, path):
        if path != "/fake/kmsg":
            raise OSError(13, "Permission denied")
        fd = os.open(self.dummy, os.O_RDONLY)
        self.cursor[fd] = self.first
        self.opens += 1
        return fd

    def read(self, fd, size):
        if fd not in self.cursor:
            raise AssertionError("read of an fd that is not a fake /dev/kmsg")
        if self.cursor[fd] < self.first:
            self.cursor[fd] = self.first
            raise BrokenPipeError()
        if self.cursor[fd] >= len(self.records):
            raise BlockingIOError()
        self.reads += 1
        record = self.records[self.cursor[fd]][1]
        self.cursor[fd] += 1
        return record


@pytest.fixture
def kmsg(tmp_path, monkeypatch):
    fake = FakeKmsg(tmp_path)
    monkeypatch.setattr(kernel_log, "_open_kmsg", fake.open)
    real_read = os.read
    monkeypatch.setattr(kernel_log.os, "read", lambda fd, size: fake.read(fd, size) if fd in fake.cursor
                        else real_read(fd, size))
    return fake


class Uptime(object):
    def __init__(self, now):
        self.now = now

    def __call__(self):
        return self.now


def test_each_record_is_read_once_and_answers_are_a_full_reads(kmsg):
    kmsg.add(5.0, "Under-voltage detected! (0x00050005)")
    kmsg.add(3600.5, "mmc0: Timeout waiting for hardware interrupt.")
    kmsg.add(3700.0, "Voltage normalised (0x00000000)")
    uptime = Uptime(3800.0)
    follower = KmsgFollower("/fake/kmsg", uptime=uptime)
    assert follower.available and follower.records_read == 3
    log = follower.get(86400)
    assert log.source == "dmesg" and log.error is None
    assert log.matching(UNDERVOLTAGE) == [("+5.000s", "Under-voltage detected! (0x00050005)")]
    assert log.within(100).matching(MMC) == []  # 3600.5 is before 3800 - 100
    assert follower.get(100).matching(MMC) == []
    assert len(follower.get(600).matching(MMC)) == 1
    assert log.matching(MMC) == [("+3600.500s", "mmc0: Timeout waiting for hardware interrupt.")]
    # what a full read of the same window answers
    full = kernel_log.KernelLog("dmesg", read_kmsg(0.0, "/fake/kmsg"), window=86400)
    assert log.matching(MMC) == full.matching(MMC) and log.matching(UNDERVOLTAGE) == full.matching(UNDERVOLTAGE)
    assert log.lines == full.lines

    reads = kmsg.reads
    kmsg.add(3801.0, "mmc0: error -110 whilst initialising SD card")
    kmsg.add(3802.0, "eth0: link up")
    uptime.now = 3810.0
    log = follower.get(86400)
    assert kmsg.reads - reads == 2  # only the new records
    assert [m for _t, m in log.matching(MMC)] == [
        "mmc0: Timeout waiting for hardware interrupt.", "mmc0: error -110 whilst initialising SD card"]
    follower.close()
    assert not follower.available


def test_a_pattern_first_asked_later_searches_the_records_before_it_once(kmsg):
    for second in range(100):
        kmsg.add(float(second), "mmc0: Timeout" if second % 10 == 0 else "noise %d" % second)
    follower = KmsgFollower("/fake/kmsg", uptime=Uptime(200.0))
    log = follower.get(3600)
    opens = kmsg.opens
    assert len(log.matching(MMC)) == 10
    assert kmsg.opens == opens + 1  # one fresh read for the history of the new pattern
    kmsg.add(150.0, "mmc0: Timeout")
    assert len(follower.get(3600).matching(MMC)) == 11
    assert kmsg.opens == opens + 1  # then never again


def test_records_overwritten_before_they_were_read_are_counted_lost(kmsg):
    kmsg.add(1.0, "first")
    follower = KmsgFollower("/fake/kmsg", uptime=Uptime(10.0))
    follower.get(60).matching(MMC)
    for second in range(2, 7):
        kmsg.add(float(second), "mmc0: Timeout %d" % second)
    kmsg.overwrite(4)  # the ring wrapped: the records of seconds 1-4 are gone
    log = follower.get(60)
    assert follower.lost == 3  # seconds 2, 3 and 4 came and went unread
    assert [m for _t, m in log.matching(MMC)] == ["mmc0: Timeout 5", "mmc0: Timeout 6"]


def test_matches_older_than_the_longest_window_are_dropped_and_capped(kmsg, monkeypatch):
    monkeypatch.setattr(KmsgFollower, "MAX_MATCHES", 5)
    follower = KmsgFollower("/fake/kmsg", uptime=Uptime(100.0))
    follower.get(50).matching(MMC)
    for second in range(100, 120):
        kmsg.add(float(second), "mmc0: Timeout %d" % second)
    uptime = Uptime(160.0)
    follower._uptime = uptime
    log = follower.get(50)
    assert [m for _t, m in log.matching(MMC)] == ["mmc0: Timeout %d" % s for s in range(115, 120)]  # the newest 5
    uptime.now = 168.0
    assert [m for _t, m in follower.get(50).matching(MMC)] == ["mmc0: Timeout 118", "mmc0: Timeout 119"]


def test_unreadable_kmsg_is_not_available_and_says_why(kmsg):
    follower = KmsgFollower("/elsewhere/kmsg")
    assert not follower.available and "Permission denied" in follower.error


def test_node_health_gives_the_follower_to_the_kernel_log_checks(kmsg, tmp_path):
    kmsg.add(1.0, "Under-voltage detected! (0x00050005)")
    follower = KmsgFollower("/fake/kmsg")
    resolved = dict((n, node_health.resolve_options(n)) for n in ("power_check", "wifi_info"))
    assert node_health.share_kernel_log(resolved, follower) is follower  # even one check alone
    assert resolved["power_check"]["kernel_log"] is follower and "kernel_log" not in resolved["wifi_info"]
    resolved = {"power_check": dict(node_health.resolve_options("power_check"), root=str(tmp_path))}
    assert node_health.share_kernel_log(resolved, follower) is None  # another root: not this system's log
    users = node_health.kernel_log_users(["hub_check", "sdcard_check", "power_check"])
    assert users == ["sdcard_check", "power_check"]


@pytest.mark.skipif(not os.access("/dev/kmsg", os.R_OK | os.W_OK),
                    reason="needs /dev/kmsg readable and writable (root), to write a line to the real kernel log")
def test_on_the_real_kernel_log_a_new_line_is_found_reading_only_the_new_records():
    token = "imagenode-health test %s" % uuid.uuid4().hex
    pattern = re.compile(re.escape(token))
    follower = KmsgFollower()
    try:
        assert follower.get(86400).matching(pattern) == []
        before = follower.records_read
        with open("/dev/kmsg", "w") as kmsg:  # a user-space line in the kernel log, as systemd writes its own
            kmsg.write(token + "\n")
        deadline = time.monotonic() + 5
        found = []
        while not found and time.monotonic() < deadline:
            found = follower.get(86400).matching(pattern)
        assert [message for _when, message in found] == [token]
        assert follower.records_read - before < 50  # the new records, not the ring buffer again
        assert read_kmsg() is not None and any(message == token for _when, message in read_kmsg())
    finally:
        follower.close()
