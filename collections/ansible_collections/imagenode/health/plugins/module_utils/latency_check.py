# Copyright (c) 2026 imagenode-health contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""latency_check: everyday operations timed against the node's own baseline.

Probes: a small fsync'd write in `path`, reading it back after dropping it
from the page cache (so the card is read, not memory), spawning /bin/true,
and optionally `ssh -o BatchMode=yes HOST true`. A marginal SD card or an
overloaded Pi shows up here long before it fails outright ("ssh took 45 s").

Each probe is compared with the median of its rolling baseline, kept in a
JSON state file on the node (written atomically; never in check mode). The
first `learn_runs` runs only learn. Only samples of healthy runs join the
baseline, so a slowly dying card cannot teach the check that slow is normal.
Absolute bounds (`warn_ms`, `fail_ms`) apply from the first run.
"""

import os
import time

from .atomic_file import atomic_write_json, read_json
from .check_result import FAIL, OK, WARN, CheckError, Stopwatch, make_result, worst
from .command_runner import Runner

STATE_VERSION = 1
PROBES = ("write", "read", "spawn", "ssh")
DEFAULT_WARN_MS = {"write": 1000.0, "read": 500.0, "spawn": 1000.0, "ssh": 10000.0}
DEFAULT_FAIL_MS = {"write": 5000.0, "read": 2000.0, "spawn": 5000.0, "ssh": 30000.0}
PAYLOAD = b"imagenode-health latency probe\n" * 128  # 4 KiB


def _median(values):
    """statistics.median's answer, without importing statistics (decimal, fractions, random: ~1 MiB)."""
    data = sorted(values)
    half = len(data) // 2
    if len(data) % 2:
        return data[half]
    return (data[half - 1] + data[half]) / 2


OPTIONS = {
    "path": {"type": "path", "default": "/var/tmp"},
    "ssh_host": {"type": "str"},
    "state_file": {"type": "path", "default": "/var/lib/imagenode-health/latency.json"},
    "learn_runs": {"type": "int", "default": 5},
    "window": {"type": "int", "default": 20},
    "warn_factor": {"type": "float", "default": 5.0},
    "fail_factor": {"type": "float", "default": 20.0},
    "floor_ms": {"type": "float", "default": 5.0},
    "warn_ms": {"type": "dict"},
    "fail_ms": {"type": "dict"},
}


def _ms(started):
    return round((time.monotonic() - started) * 1000.0, 3)


def probe_write_read(path):
    """(write probe, read probe) dicts with ms and error, in a temp file under path."""
    target = os.path.join(path, ".imagenode-health-latency.%d" % os.getpid())
    write = {"ms": None, "error": None}
    read = {"ms": None, "error": None}
    try:
        started = time.monotonic()
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, PAYLOAD)
            os.fsync(fd)
        finally:
            os.close(fd)
        write["ms"] = _ms(started)
    except OSError as exc:
        write["error"] = "cannot write %s: %s" % (target, exc.strerror or exc)
        read["error"] = "not measured: the write failed"
        _unlink(target)
        return write, read
    try:
        fd = os.open(target, os.O_RDONLY)
        try:
            if hasattr(os, "posix_fadvise"):  # drop the clean pages: read the device
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            started = time.monotonic()
            data = os.read(fd, len(PAYLOAD) + 1)
            read["ms"] = _ms(started)
        finally:
            os.close(fd)
        if data != PAYLOAD:
            read["error"] = "read back %d bytes that differ from the %d written" % (len(data), len(PAYLOAD))
    except OSError as exc:
        read["error"] = "cannot read %s: %s" % (target, exc.strerror or exc)
    _unlink(target)
    return write, read


def _unlink(path):
    try:
        os.unlink(path)
    except OSError:
        pass


def probe_command(runner, argv, timeout):
    """Time one command; error when it cannot run or exits non-zero."""
    started = time.monotonic()
    result = runner.run(argv, timeout=timeout)
    took = _ms(started)
    if result.error:
        return {"ms": None if result.rc is None and "not found" in result.error else took, "error": result.error}
    if result.rc != 0:
        return {"ms": took, "error": "%s exited %d: %s" % (argv[0], result.rc, result.stderr.strip()[:200])}
    return {"ms": took, "error": None}


def measure(path, ssh_host, runner, fail_ms):
    """All probes: {name: {ms, error}}."""
    results = {}
    results["write"], results["read"] = probe_write_read(path)
    results["spawn"] = probe_command(runner, ["/bin/true"], fail_ms["spawn"] / 1000.0 + 1)
    if ssh_host:
        limit = int(fail_ms["ssh"] / 1000.0) + 1
        results["ssh"] = probe_command(runner, ["ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=%d" % limit,
                                                ssh_host, "true"], limit + 5)
    return results


def _bounds(given, defaults, name):
    bounds = dict(defaults)
    for key, value in (given or {}).items():
        if key not in PROBES:
            raise CheckError("%s: %r is not a probe (%s)" % (name, key, ", ".join(PROBES)))
        try:
            bounds[key] = float(value)
        except (TypeError, ValueError):
            raise CheckError("%s.%s must be a number of milliseconds, not %r" % (name, key, value))
    return bounds


def load_state(state_file):
    state = read_json(state_file)
    if not isinstance(state, dict) or state.get("version") != STATE_VERSION or not isinstance(state.get("probes"), dict):
        return {"version": STATE_VERSION, "runs": 0, "probes": {}}
    return state


def judge(name, sample, baseline, learning, warn_factor, fail_factor, floor_ms, warn_ms, fail_ms):
    """(status, reason) of one probe."""
    if sample["error"]:
        return FAIL, sample["error"]
    took = sample["ms"]
    if took >= fail_ms[name]:
        return FAIL, "%s took %.1f ms (fail bound %.0f ms)" % (name, took, fail_ms[name])
    median = _median(baseline) if baseline else None
    reference = None if median is None else max(median, floor_ms)
    if not learning and reference is not None and took >= fail_factor * reference:
        return FAIL, "%s took %.1f ms, %.0fx its baseline %.1f ms" % (name, took, took / reference, median)
    if took >= warn_ms[name]:
        return WARN, "%s took %.1f ms (warn bound %.0f ms)" % (name, took, warn_ms[name])
    if not learning and reference is not None and took >= warn_factor * reference:
        return WARN, "%s took %.1f ms, %.0fx its baseline %.1f ms" % (name, took, took / reference, median)
    return OK, None


def run_latency_check(path="/var/tmp", ssh_host=None, state_file="/var/lib/imagenode-health/latency.json",
                      learn_runs=5, window=20, warn_factor=5.0, fail_factor=20.0, floor_ms=5.0,
                      warn_ms=None, fail_ms=None, runner=None, check_mode=False, measure_fn=None):
    stopwatch = Stopwatch()
    if learn_runs < 1 or window < 1:
        raise CheckError("learn_runs and window must be at least 1")
    if not 1 < warn_factor <= fail_factor:
        raise CheckError("warn_factor must be above 1 and at most fail_factor (%s, %s)" % (warn_factor, fail_factor))
    warn_bounds = _bounds(warn_ms, DEFAULT_WARN_MS, "warn_ms")
    fail_bounds = _bounds(fail_ms, DEFAULT_FAIL_MS, "fail_ms")
    if not os.path.isdir(path):
        raise CheckError("path %s is not a directory" % path)
    runner = runner or Runner()
    state = load_state(state_file)
    learning = state["runs"] < learn_runs
    samples = (measure_fn or measure)(path, ssh_host, runner, fail_bounds)

    probes = {}
    reasons = []
    for name in PROBES:
        if name not in samples:
            continue
        baseline = [float(v) for v in state["probes"].get(name, []) if isinstance(v, (int, float))]
        status, reason = judge(name, samples[name], baseline, learning, warn_factor, fail_factor, floor_ms,
                               warn_bounds, fail_bounds)
        probes[name] = {"ms": samples[name]["ms"], "error": samples[name]["error"], "status": status,
                        "baseline_median_ms": round(_median(baseline), 3) if baseline else None,
                        "baseline_samples": len(baseline), "warn_ms": warn_bounds[name], "fail_ms": fail_bounds[name]}
        if reason:
            reasons.append(reason)
    status = worst(p["status"] for p in probes.values())

    saved, state_error = False, None
    if status == OK:
        state["runs"] = state["runs"] + 1
        for name, probe in probes.items():
            history = state["probes"].get(name, []) + [probe["ms"]]
            state["probes"][name] = history[-window:]
        if not check_mode:
            try:
                atomic_write_json(state_file, state)
                saved = True
            except (IOError, OSError) as exc:
                state_error = "cannot save the baseline in %s: %s" % (state_file, exc.strerror or exc)
    runs_now = state["runs"] if status == OK else state["runs"] + 1
    timings = ", ".join("%s %.1f ms" % (n, p["ms"]) for n, p in probes.items() if p["ms"] is not None)
    if learning:
        summary = "learning baseline %d/%d" % (min(runs_now, learn_runs), learn_runs)
        summary += ": " + ("; ".join(reasons) if reasons else timings)
    elif reasons:
        summary = "; ".join(reasons)
    else:
        summary = "all probes within their baseline: %s" % timings
    if status != OK:
        summary += " (not added to the baseline)"
    if check_mode and status == OK:
        summary += " (check mode: baseline not saved)"
    if state_error:
        summary += "; " + state_error
    evidence = {"path": path, "ssh_host": ssh_host, "state_file": state_file, "saved": saved,
                "state_error": state_error, "runs": state["runs"], "learn_runs": learn_runs, "window": window,
                "warn_factor": warn_factor, "fail_factor": fail_factor, "floor_ms": floor_ms}
    return make_result(status, summary, evidence, stopwatch, learning=learning, probes=probes)
