# Copyright (c) 2026 imagenode-health contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The cheaper probe cycle (issue 6): one kernel-log read shared by sdcard_check and
power_check, the live-system shortcuts of the kernel log (no journalctl without
journal files, /dev/kmsg for dmesg), the parsed imagenode.yaml reused while the
file is unchanged, the fsync-free atomic write, the probe's kept check threads,
and the modules the steady cycle no longer imports."""

import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from ansible_collections.imagenode.health.plugins.module_utils import (
    atomic_file,
    command_runner,
    event_log,
    imagenode_config,
    kernel_log,
    latency_check,
    node_health,
    power_check,
    sdcard_check,
    yaml_loader,
)
from ansible_collections.imagenode.health.plugins.module_utils.kernel_log import (
    KernelLog,
    SharedKernelLog,
    parse_dmesg,
    read_kernel_log,
)
from ansible_collections.imagenode.health.tests.unit.plugins.fake_runner import FakeRunner

DMESG = """\
[    5.123456] Under-voltage detected! (0x00050005)
[ 3600.500000] mmc0: Timeout waiting for hardware interrupt.
[ 3700.000001] Voltage normalised (0x00000000)
"""


# --- the shared read -----------------------------------------------------------------

def test_node_health_reads_the_kernel_log_once_for_sdcard_and_power(monkeypatch, tmp_path):
    reads = []

    def fake_read(window, runner=None, root="/"):
        reads.append(window)
        return KernelLog("dmesg", parse_dmesg(DMESG), window=window, read_wall=time.time(), read_uptime=3800.0)

    monkeypatch.setattr(kernel_log, "read_kernel_log", fake_read)
    monkeypatch.setattr(sdcard_check, "read_kernel_log", fake_read)
    monkeypatch.setattr(power_check, "read_kernel_log", fake_read)
    options = {"sdcard_check": {"canary": False}}
    result = node_health.run_node_health(checks=["sdcard_check", "power_check"], options=options)
    assert reads == [86400]  # once, the longer window (sdcard_check's default)
    power = result["checks"]["power_check"]["evidence"]["kernel_log"]
    sdcard = result["checks"]["sdcard_check"]["evidence"]["kernel_log"]
    assert power["source"] == sdcard["source"] == "dmesg"
    # power_check's own window (3600 s before uptime 3800): the 5 s under-voltage line is out,
    # as power_check's own read leaves it out; sdcard_check's day has the mmc line
    assert power["undervoltage_events"] == 0 and power["last_event"] is None
    assert sdcard["other_mmc_errors"] == 1


def test_one_check_alone_reads_for_itself(monkeypatch):
    resolved = {"power_check": node_health.resolve_options("power_check")}
    assert node_health.share_kernel_log(resolved) is None
    assert "kernel_log" not in resolved["power_check"]
    resolved = dict((n, node_health.resolve_options(n)) for n in ("sdcard_check", "power_check", "wifi_info"))
    shared = node_health.share_kernel_log(resolved)
    assert shared.window == 86400
    assert resolved["sdcard_check"]["kernel_log"] is shared and resolved["power_check"]["kernel_log"] is shared
    assert "kernel_log" not in resolved["wifi_info"]
    resolved["power_check"]["root"] = "/elsewhere"
    assert node_health.share_kernel_log(dict(resolved)) is None  # different roots: each its own


def test_shared_log_is_read_once_across_threads(monkeypatch):
    calls = []

    def fake_read(window, runner=None, root="/"):
        calls.append(window)
        time.sleep(0.05)
        return KernelLog("dmesg", parse_dmesg(DMESG), window=window, read_uptime=3800.0)

    monkeypatch.setattr(kernel_log, "read_kernel_log", fake_read)
    shared = SharedKernelLog(86400)
    with ThreadPoolExecutor(max_workers=4) as pool:
        logs = list(pool.map(shared.get, [86400, 3600, 3600, 86400]))
    assert calls == [86400] and shared.reads == 1
    assert len(logs[0].lines) == 3 and len(logs[1].lines) == 2


def test_within_cuts_journal_lines_by_wall_time():
    now = 1764612000.0  # 2025-12-01T18:00:00Z
    log = KernelLog("journalctl", [("2025-12-01T16:59:59+0000", "old"), ("2025-12-01T17:00:00+00:00", "edge"),
                                   ("2025-12-01T19:30:00+0200", "recent"), ("garbled", "kept")],
                    window=86400, read_wall=now)
    assert [m for _t, m in log.within(3600).lines] == ["edge", "recent", "kept"]
    assert log.within(86400) is log
    assert kernel_log._journal_epoch("2025-12-01T18:00:00Z") == now


# --- live-system shortcuts -------------------------------------------------------------

class LiveFake(FakeRunner):
    live_system = True


def test_no_journal_files_no_journalctl(tmp_path):
    runner = LiveFake({("journalctl",): (0, "", "No journal files were found.\n"), ("dmesg",): (0, DMESG)})
    (tmp_path / "proc").mkdir()
    (tmp_path / "proc" / "uptime").write_text("3800.00 1.00\n")
    log = read_kernel_log(600, runner, root=str(tmp_path))
    assert ["journalctl"] not in [c[:1] for c in runner.calls]
    assert log.source == "dmesg" and len(log.lines) == 2
    # the answer journalctl would have given
    slow = read_kernel_log(600, FakeRunner(runner.answers), root=str(tmp_path))
    assert (slow.source, slow.lines) == (log.source, log.lines)


def test_journal_files_mean_journalctl_runs(tmp_path):
    machine = tmp_path / "var" / "log" / "journal" / "0123456789abcdef0123456789abcdef"
    machine.mkdir(parents=True)
    (machine / "system.journal").write_text("")
    assert kernel_log.journal_files_present(str(tmp_path))
    runner = LiveFake({("journalctl",): (0, "2026-12-01T18:02:11+0000 pi kernel: mmc0: Timeout\n")})
    assert read_kernel_log(600, runner, root=str(tmp_path)).source == "journalctl"
    assert not kernel_log.journal_files_present(str(tmp_path / "nothing"))


def test_kmsg_records_parse_as_dmesg_prints_them(tmp_path):
    records = [b"6,1,5123456,-;Under-voltage detected! (0x00050005)\n",
               b"3,2,3600500000,-;mmc0: Timeout\\x0a second line\n SUBSYSTEM=mmc\n DEVICE=+mmc:mmc0\n",
               b"4,3,3700000001,c;tab\\x09and \\x5c backslash\n"]  # the kernel writes a backslash as \\x5c

    class Kmsg(object):
        def __init__(self):
            self.left = list(records)

    fake = tmp_path / "kmsg"
    fake.write_bytes(b"")
    state = Kmsg()
    real_read, real_open = os.read, os.open

    def fake_open(path, flags, *args):
        return real_open(str(fake), os.O_RDONLY) if path == "/fake/kmsg" else real_open(path, flags, *args)

    def fake_read(fd, size):
        if state.left and os.fstat(fd).st_ino == fake.stat().st_ino:
            return state.left.pop(0)
        if os.fstat(fd).st_ino == fake.stat().st_ino:
            raise BlockingIOError()
        return real_read(fd, size)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(kernel_log.os, "open", fake_open)
        mp.setattr(kernel_log.os, "read", fake_read)
        lines = kernel_log.read_kmsg(since_boot=3000.0, path="/fake/kmsg")
    assert lines == [("+3600.500s", "mmc0: Timeout"), ("+3700.000s", "tab\tand \\ backslash")]


@pytest.mark.skipif(not os.access("/dev/kmsg", os.R_OK) or not command_runner.find_binary("dmesg"),
                    reason="needs a readable /dev/kmsg and dmesg")
def test_kmsg_matches_dmesg_on_this_system():
    for _attempt in range(3):  # a kernel message may arrive between the two reads
        out = subprocess.run([command_runner.find_binary("dmesg")], stdout=subprocess.PIPE,
                             env=dict(os.environ, LC_ALL="C"), check=False)
        if out.returncode:
            pytest.skip("dmesg cannot read the kernel log here")
        if kernel_log.read_kmsg() == parse_dmesg(out.stdout.decode("utf-8", "replace")):
            return
    raise AssertionError("/dev/kmsg and dmesg disagree")


def test_a_test_runner_is_never_bypassed():
    runner = FakeRunner({("journalctl",): (0, "2026-12-01T18:02:11+0000 pi kernel: x\n")})
    assert read_kernel_log(600, runner).source == "journalctl"
    assert runner.calls and runner.calls[0][0] == "journalctl"
    assert command_runner.Runner.live_system is True and not hasattr(runner, "live_system")


# --- imagenode.yaml --------------------------------------------------------------------

def _settled(path, age=10):  # mtime only: utime sets the ctime to now
    past = time.time() - age
    os.utime(str(path), (past, past))


def test_config_is_parsed_again_only_when_the_file_changes(tmp_path, monkeypatch):
    path = tmp_path / "imagenode.yaml"
    path.write_text("node:\n  name: cam1\nhub_address:\n  H1: tcp://hub:5555\n")
    _settled(path)
    monkeypatch.setattr(imagenode_config, "_SETTLED_SECONDS", 0.0)  # utime cannot age the ctime
    parses = []
    real = yaml_loader.parse_here
    monkeypatch.setattr(imagenode_config, "_PARSER", [lambda text: parses.append(1) or real(text)])
    first = imagenode_config.load_config(str(path))
    first["node"]["name"] = "changed by a caller"
    second = imagenode_config.load_config(str(path))
    assert len(parses) == 1 and second["node"]["name"] == "cam1"  # reused, and a copy
    path.write_text("node:\n  name: cam2\nhub_address:\n  H1: tcp://hub:5555\n")
    assert imagenode_config.load_config(str(path))["node"]["name"] == "cam2"  # changed: parsed again
    assert len(parses) == 2
    monkeypatch.setattr(imagenode_config, "_SETTLED_SECONDS", 3600.0)
    path.write_text("node:\n  name: cam3\nhub_address:\n  H1: tcp://hub:5555\n")
    assert imagenode_config.load_config(str(path))["node"]["name"] == "cam3"
    assert imagenode_config.load_config(str(path))["node"]["name"] == "cam3"
    assert len(parses) == 4  # a file changed in the last seconds is parsed every time


# --- files ---------------------------------------------------------------------------

def test_volatile_write_is_atomic_without_fsync(tmp_path, monkeypatch):
    synced = []
    monkeypatch.setattr(atomic_file.os, "fsync", synced.append)
    target = tmp_path / "sub" / "x.prom"
    atomic_file.atomic_write_volatile(str(target), "a 1\n", mode=0o640)
    assert target.read_text() == "a 1\n" and (target.stat().st_mode & 0o777) == 0o640 and not synced
    atomic_file.atomic_write(str(target), "a 2\n")
    assert target.read_text() == "a 2\n" and len(synced) == 2  # the durable one: file and directory
    assert os.listdir(str(target.parent)) == ["x.prom"]


def test_temp_names_are_what_remove_stale_temps_cleans(tmp_path):
    fd, temp = atomic_file._make_temp(str(tmp_path), ".state.json.", ".tmp")
    os.close(fd)
    name = os.path.basename(temp)
    assert name.startswith(".state.json.") and name.endswith(".tmp") and len(name) == len(".state.json..tmp") + 8
    assert (os.stat(temp).st_mode & 0o777) == 0o600
    old = time.time() - 3600
    os.utime(temp, (old, old))
    atomic_file.remove_stale_temps(str(tmp_path / "state.json"))
    assert not os.path.exists(temp)


def test_which_finds_what_shutil_finds():
    import shutil
    path = command_runner.search_path()
    for name in ("sh", "ls", "no-such-tool-here", "/bin/sh"):
        assert command_runner._which(name, path) == shutil.which(name, path=path)


def test_median_is_statistics_median():
    for values in ([3.0], [1.0, 2.0], [5.0, 1.0, 4.0], [2.5, 1.5, 9.0, 0.1], [1, 2, 3, 4, 5, 6]):
        assert latency_check._median(values) == statistics.median(values)


def test_node_health_on_a_kept_executor():
    with ThreadPoolExecutor(max_workers=2) as pool:
        for _round in range(2):
            result = node_health.run_node_health(checks=["wifi_info", "instance_check"], executor=pool)
            assert set(result["checks"]) == set(["wifi_info", "instance_check"])


# --- what the steady cycle imports ----------------------------------------------------

def test_the_checks_do_not_import_what_only_recovery_or_rare_paths_need():
    code = ("import sys; from ansible_collections.imagenode.health.plugins.module_utils import node_health; "
            "print(' '.join(m for m in ('psutil', 'statistics', 'tempfile', 'shutil', 'hashlib', 'traceback')"
            " if m in sys.modules))")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    out = subprocess.run([sys.executable, "-c", code], stdout=subprocess.PIPE, env=env, check=True)
    loaded = out.stdout.decode().split()
    # traceback may come with a test runner's own imports of logging; the rest must not
    assert [m for m in loaded if m != "traceback"] == [] or sys.platform != "linux", loaded


def test_a_file_from_the_future_is_kept_parsed_too(tmp_path, monkeypatch):
    """A Pi without a real-time clock boots with its clock behind the files' times until
    NTP answers: the parse is kept all the same (the daemon's parse is a python child)."""
    path = tmp_path / "imagenode.yaml"
    path.write_text("node:\n  name: cam1\nhub_address:\n  H1: tcp://hub:5555\n")
    monkeypatch.setattr(imagenode_config.time, "time", lambda: os.stat(str(path)).st_ctime - 3600.0)
    parses = []
    real = yaml_loader.parse_here
    monkeypatch.setattr(imagenode_config, "_PARSER", [lambda text: parses.append(1) or real(text)])
    for _read in range(3):
        assert imagenode_config.load_config(str(path))["node"]["name"] == "cam1"
    assert len(parses) == 1


def _plant_stale_temp(path):
    fd, temp = atomic_file._make_temp(os.path.dirname(path), ".%s." % os.path.basename(path), ".tmp")
    os.close(fd)
    old = time.time() - 3600
    os.utime(temp, (old, old))
    return temp


def test_stale_temps_are_swept_at_the_first_write_then_once_a_minute(tmp_path, monkeypatch):
    path = str(tmp_path / "imagenode_health.prom")
    first = _plant_stale_temp(path)
    atomic_file.atomic_write_volatile(path, "a 1\n")
    assert not os.path.exists(first)  # this process's first write of the file sweeps
    second = _plant_stale_temp(path)
    listed = []
    real_listdir = os.listdir
    monkeypatch.setattr(atomic_file.os, "listdir", lambda d: listed.append(d) or real_listdir(d))
    for value in range(5):  # the probe's next cycles: no listing of the directory
        atomic_file.atomic_write_volatile(path, "a %d\n" % value)
    assert listed == [] and os.path.exists(second)
    atomic_file._SWEPT[path] -= atomic_file.STALE_TEMP_SECONDS + 1  # a minute later
    atomic_file.atomic_write_volatile(path, "a 9\n")
    assert listed == [str(tmp_path)] and not os.path.exists(second)
    assert sorted(real_listdir(str(tmp_path))) == ["imagenode_health.prom"]


def test_the_sweep_memory_stays_bounded_for_a_writer_of_many_names(tmp_path):
    for index in range(300):
        atomic_file.atomic_write_volatile(str(tmp_path / ("hb-%d.json" % index)), "{}")
    assert len(atomic_file._SWEPT) <= 256


def test_the_event_log_is_parsed_again_only_when_it_changes(tmp_path):
    path = str(tmp_path / "events.json")
    parsed = []

    def parse(where):
        parsed.append(where)
        return event_log.read_events(where)
    reader = event_log.EventLogReader(path, parse=parse)
    assert reader.events() == [] and parsed == []  # no log yet: nothing to parse
    event_log.append_event(event_log.make_record("zmq_reset", "fixed", node="n"), path)
    assert [e["action"] for e in reader.events()] == ["zmq_reset"]
    for _cycle in range(5):
        assert [e["action"] for e in reader.events()] == ["zmq_reset"]
    assert len(parsed) == 1
    event_log.append_event(event_log.make_record("hub_failover", "fixed", node="n"), path)
    assert [e["action"] for e in reader.events()] == ["zmq_reset", "hub_failover"] and len(parsed) == 2
    os.unlink(path)
    assert reader.events() == []
