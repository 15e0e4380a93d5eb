# Copyright (c) 2026 imagenode-health contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""power_check: under-voltage, throttling and temperature on a Raspberry Pi.

Sources, most trusted first:
- hwmon `rpi_volt` (`in0_lcrit_alarm`): under-voltage now;
- the thermal zone (`/sys/class/thermal/thermal_zone0/temp`, millidegrees);
- the kernel log: `Under-voltage detected!` / `Undervoltage detected!` and
  `Voltage normalised` in the window;
- `vcgencmd get_throttled`, secondary only: on current kernels the hwmon
  driver clears the "has occurred" bits (16-19) every 2 s, so their absence
  proves nothing. Bits 0-3 (now) are used.
No source at all (an x86 machine, a container) is `unknown`, never `ok`.
"""

import glob
import os
import re

from .check_result import FAIL, OK, UNKNOWN, WARN, CheckError, Stopwatch, make_result
from .command_runner import Runner, read_text, under_root
from .kernel_log import read_kernel_log

OPTIONS = {
    "temp_warn": {"type": "float", "default": 70.0},
    "temp_fail": {"type": "float", "default": 80.0},
    "window": {"type": "int", "default": 3600},
    "root": {"type": "path", "default": "/"},
}

THROTTLED_BITS = {
    0: "under-voltage", 1: "arm frequency capped", 2: "throttled", 3: "soft temperature limit",
    16: "under-voltage has occurred", 17: "arm frequency capping has occurred",
    18: "throttling has occurred", 19: "soft temperature limit has occurred",
}

_UNDERVOLTAGE = re.compile(r"Under-?voltage detected", re.IGNORECASE)
_NORMALISED = re.compile(r"Voltage normali[sz]ed", re.IGNORECASE)
_THROTTLED = re.compile(r"^throttled=(0x[0-9a-fA-F]+|[0-9]+)\s*$")


def parse_throttled(text):
    """vcgencmd get_throttled output ("throttled=0x50005") as an int, or None."""
    match = _THROTTLED.match((text or "").strip())
    if not match:
        return None
    return int(match.group(1), 0)


def decode_throttled(value):
    """The names of the bits set in a get_throttled value."""
    return [name for bit, name in sorted(THROTTLED_BITS.items()) if value & (1 << bit)]


def read_hwmon_alarm(root="/"):
    """(hwmon dir, alarm 0/1) of the rpi_volt sensor, or (None, None)."""
    for name_file in sorted(glob.glob(under_root(root, "/sys/class/hwmon/*/name"))):
        if (read_text(name_file) or "").strip() != "rpi_volt":
            continue
        directory = os.path.dirname(name_file)
        alarm = (read_text(os.path.join(directory, "in0_lcrit_alarm")) or "").strip()
        if alarm in ("0", "1"):
            return directory, int(alarm)
    return None, None


def read_temperature(root="/"):
    """thermal_zone0 in degrees C, or None (missing, or an implausible value)."""
    text = read_text(under_root(root, "/sys/class/thermal/thermal_zone0/temp"))
    try:
        celsius = int(text.strip()) / 1000.0
    except (AttributeError, ValueError):
        return None
    if not -40.0 <= celsius <= 150.0:
        return None
    return round(celsius, 3)


def run_power_check(temp_warn=70.0, temp_fail=80.0, window=3600, root="/", runner=None, check_mode=False,
                    kernel_log=None):
    """kernel_log: node_health's kernel_log.SharedKernelLog (one read for this check and sdcard_check)
    or the probe's kernel_log.KmsgFollower."""
    stopwatch = Stopwatch()
    if temp_warn > temp_fail:
        raise CheckError("temp_warn (%s) must not be above temp_fail (%s)" % (temp_warn, temp_fail))
    if window < 1:
        raise CheckError("window must be at least 1 second, not %r" % (window,))
    given_runner, runner = runner, runner or Runner()
    problems = []   # (status, text)
    hwmon_dir, alarm = read_hwmon_alarm(root)
    temperature = read_temperature(root)

    log = kernel_log.get(window) if kernel_log is not None else read_kernel_log(window, given_runner, root)
    events = log.matching(_UNDERVOLTAGE) if log.source else []
    normalised = log.matching(_NORMALISED) if log.source else []
    # The Pi kernel only prints under-voltage lines on a Pi: an empty log elsewhere is no source.
    log_is_power_source = bool(log.source) and (hwmon_dir is not None or bool(events) or bool(normalised))

    vcgencmd = runner.run(["vcgencmd", "get_throttled"])
    throttled = parse_throttled(vcgencmd.stdout) if vcgencmd.ok else None
    vcgencmd_error = None
    if throttled is None:
        vcgencmd_error = vcgencmd.error or "unexpected output %r" % (vcgencmd.stdout.strip()[:60],)

    sources = {"hwmon": hwmon_dir is not None, "thermal": temperature is not None,
               "kernel_log": log_is_power_source, "vcgencmd": throttled is not None}
    evidence = {
        "sources": sources,
        "hwmon": {"path": hwmon_dir, "in0_lcrit_alarm": alarm},
        "temperature_c": temperature, "temp_warn": temp_warn, "temp_fail": temp_fail,
        "kernel_log": {"source": log.source, "error": log.error, "window": window,
                       "undervoltage_events": len(events), "normalised_events": len(normalised),
                       "last_event": (events[-1][0] + " " + events[-1][1]) if events else None},
        "vcgencmd": {"throttled": None if throttled is None else hex(throttled),
                     "flags": decode_throttled(throttled) if throttled is not None else [],
                     "error": vcgencmd_error,
                     "note": "the has-occurred bits are cleared by the hwmon driver: their absence proves nothing"},
    }
    if not any(sources.values()):
        return make_result(UNKNOWN, "no power or temperature source on this node (no rpi_volt hwmon, "
                           "thermal zone, under-voltage kernel log or vcgencmd)", evidence, stopwatch,
                           undervoltage=None, throttled=None, temperature_c=None)

    undervoltage_now = alarm == 1 or (throttled is not None and bool(throttled & 0x1))
    if undervoltage_now:
        problems.append((FAIL, "under-voltage now"))
    if throttled is not None and throttled & 0xE:
        problems.append((WARN, "now: %s" % ", ".join(decode_throttled(throttled & 0xE))))
    if events:
        problems.append((WARN, "%d under-voltage event(s) in the kernel log in the last %d s" % (len(events), window)))
    elif throttled is not None and throttled & 0xF0000:
        problems.append((WARN, "vcgencmd: %s" % ", ".join(decode_throttled(throttled & 0xF0000))))
    if temperature is not None and temperature >= temp_fail:
        problems.append((FAIL, "temperature %.1f C is at least %.1f C" % (temperature, temp_fail)))
    elif temperature is not None and temperature >= temp_warn:
        problems.append((WARN, "temperature %.1f C is at least %.1f C" % (temperature, temp_warn)))

    read = [name for name, present in sorted(sources.items()) if present]
    if problems:
        status = FAIL if any(level == FAIL for level, _text in problems) else WARN
        summary = "; ".join(text for _level, text in problems)
    else:
        status = OK
        parts = ["no under-voltage"]
        if temperature is not None:
            parts.append("temperature %.1f C" % temperature)
        summary = "%s (from %s)" % (", ".join(parts), ", ".join(read))
    if hwmon_dir is None and throttled is None:
        undervoltage = True if events else None
    else:
        undervoltage = undervoltage_now
    return make_result(status, summary, evidence, stopwatch,
                       undervoltage=undervoltage,
                       throttled=bool(throttled & 0xE) if throttled is not None else None,
                       temperature_c=temperature)
