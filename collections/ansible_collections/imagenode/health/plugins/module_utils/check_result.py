# Copyright (c) 2026 imagenode-health contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""The result every health check returns, shared by the modules and the probe.

A check never raises for an unhealthy node: an unhealthy node is a result.
It raises CheckError only when it cannot run at all (bad arguments, for
example), and the caller turns that into a module failure or a probe log line.
"""

import time

OK = "ok"
WARN = "warn"
FAIL = "fail"
UNKNOWN = "unknown"

STATUSES = (OK, WARN, FAIL, UNKNOWN)

# Severity for "worst of": unknown ranks between ok and warn, because a
# missing data source is worth a look but is not evidence of a fault.
_SEVERITY = {OK: 0, UNKNOWN: 1, WARN: 2, FAIL: 3}


class CheckError(Exception):
    """The check could not run; the message names what is wrong."""


def worst(statuses):
    """The most severe of several statuses (ok for none)."""
    result = OK
    for status in statuses:
        if _SEVERITY[status] > _SEVERITY[result]:
            result = status
    return result


def at_least(status, threshold):
    """True when status is as severe as threshold (for fail_on)."""
    return _SEVERITY[status] >= _SEVERITY[threshold]


class Stopwatch(object):
    """Elapsed time on the monotonic clock: a Pi has no RTC, and NTP may
    step the wall clock while a check runs."""

    def __init__(self):
        self.started = time.monotonic()

    def seconds(self):
        return round(time.monotonic() - self.started, 3)


def make_result(status, summary, evidence, stopwatch, **extra):
    """Assemble the common result shape: status, summary, evidence, elapsed."""
    if status not in STATUSES:
        raise ValueError("status must be one of %s, not %r" % (", ".join(STATUSES), status))
    result = {
        "status": status,
        "summary": summary,
        "evidence": evidence,
        "elapsed": stopwatch.seconds(),
    }
    result.update(extra)
    return result
