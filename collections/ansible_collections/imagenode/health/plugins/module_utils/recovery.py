# Copyright (c) 2026 imagenode-health contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""The result every recovery action returns, and the record it leaves.

An action looks, acts (unless in check mode), looks again and proves the
outcome. Its result always has:

  changed   something on the node was done (never in check mode)
  fixed     the fault is gone afterwards (in check mode: None, not known)
  before    what the action saw first (a small dict)
  after     what it saw at the end (in check mode, the prediction)
  actions   the steps done, or in check mode the steps it would do
  summary   one line a person can read
  elapsed   seconds, on the monotonic clock

`needed` is False when there was nothing to do (the fault was not there):
such a run leaves no record; every other run outside check mode appends
one to the node's event log, including "no alternate, nothing done".
"""

from .check_result import Stopwatch
from .event_log import DEFAULT_PATH as EVENT_LOG, append_event, make_record

__all__ = ["Stopwatch", "EVENT_LOG", "make_recovery_result", "record", "run_action"]


def make_recovery_result(stopwatch, changed, fixed, before, after, summary, actions=None, needed=True, **extra):
    result = {
        "changed": bool(changed),
        "fixed": fixed,
        "needed": bool(needed),
        "before": before,
        "after": after,
        "actions": list(actions or []),
        "summary": summary,
        "elapsed": stopwatch.seconds(),
    }
    result.update(extra)
    return result


def record(action, result, fault=None, node=None, path=EVENT_LOG):
    """Append the record of one action's result; returns the record."""
    outcome = "fixed" if result.get("fixed") else ("changed" if result.get("changed") else "not fixed")
    evidence = {"before": result.get("before"), "after": result.get("after"),
                "actions": result.get("actions"), "summary": result.get("summary"),
                "elapsed": result.get("elapsed")}
    entry = make_record(action, outcome, fault=fault, node=node, evidence=evidence)
    append_event(entry, path)
    return entry


def run_action(action, perform, check_mode=False, fault=None, node=None, event_log=EVENT_LOG):
    """Call perform() (which returns a recovery result) and leave its record.

    The record is written outside check mode whenever the action was needed,
    so a decision not to act is on record too. A log that cannot be written
    does not undo the action: the result says so in `event_log_error`.
    """
    result = perform()
    if check_mode or not result.get("needed", True) or not event_log:
        return result
    try:
        record(action, result, fault=fault, node=node, path=event_log)
        result["event_log"] = event_log
    except (IOError, OSError) as exc:
        result["event_log_error"] = "cannot write the event log %s: %s" % (event_log, exc)
    return result
