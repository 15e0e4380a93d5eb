# Copyright (c) 2026 imagenode-health contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""The reboot budget: the last step of the recovery ladder may reboot, but not in a loop.

Field complaints this is designed against: reboot loops, silent reboots with
no record of why, and restart counters that never reset or stop for good.

* Every reboot is reserved here first: its reason, a summary of the evidence,
  the time and the boot id go into a state file under /var/lib (it must
  survive the reboot it explains), written only with atomic_file, so a power
  cut or kill -9 leaves the old state or the new one.
* Policy: up to `max_reboots` within `window` seconds. Once spent, another
  reboot is allowed only `backoff_base` seconds after the last one, doubling
  per extra reboot and capped at `backoff_max`: the node is never given up
  on for good, it just reboots more and more rarely. Old reboots leave the
  window, so the budget refills by itself (no counter that never resets).
* A Pi has no RTC: until NTP syncs the clock may be behind. A reboot dated in
  the future therefore counts as if it had happened just now (conservative),
  and a reservation re-dates such records to "now" in the file, so that a
  clock that stays behind cannot refuse reboots forever.
* The boot id tells a new boot from the same one: a reservation made in this
  boot that has not led to a reboot yet is the same slot, so the playbook and
  the probe daemon asking in turn do not spend the budget twice.
* A state file that exists but cannot be read or parsed means "budget
  unknown". Blocking forever would leave a broken node broken; allowing the
  full budget could start a loop. The choice: treat the budget as spent, with
  the file's modification time as the last reboot, so at most one reboot per
  `backoff_base` is allowed (doubling, capped, as usual) for one window after
  the state was lost. The unreadable file is kept as `<state>.corrupt`.
* A reservation that cannot be written is not allowed: a reboot that leaves
  no record is exactly the silent, possibly looping reboot to avoid.

Python 3.8 compatible and free of Ansible imports: the on-node probe daemon
uses it too.
"""

import contextlib
import errno
import json
import math
import os
import time

from .atomic_file import atomic_write_json
from .check_result import CheckError, Stopwatch
from .event_log import boot_id as read_boot_id
from .recovery import make_recovery_result

try:
    import fcntl
except ImportError:  # not on the node (Windows); locking is then skipped
    fcntl = None

DEFAULT_STATE_PATH = "/var/lib/imagenode-health/reboot_budget.json"
STATE_VERSION = 1
MODES = ("query", "reserve", "reset")

# Records kept in the file: the window's reboots, newest last. The event log
# holds the long history; this file only needs enough to decide, and must
# stay small on an SD card.
KEEP = 50
# What is returned as before/after: the newest few, enough for a person.
SHOW = 10
# Characters of evidence kept per reboot record.
EVIDENCE_CHARS = 300
# Seconds to wait for another process (playbook or probe) holding the lock.
LOCK_TIMEOUT = 10.0

OPTIONS = {
    "mode": {"type": "str", "choices": list(MODES), "default": "reserve"},
    "reason": {"type": "str"},
    "evidence": {"type": "raw"},
    "state_path": {"type": "path", "default": DEFAULT_STATE_PATH},
    "max_reboots": {"type": "int", "default": 3},
    "window": {"type": "int", "default": 86400},
    "backoff_base": {"type": "int", "default": 3600},
    "backoff_max": {"type": "int", "default": 14400},
}


# --- policy and decision (pure) ------------------------------------------


def make_policy(max_reboots=3, window=86400, backoff_base=3600, backoff_max=14400):
    """The budget as a dict, refusing values that would make it meaningless
    (a zero backoff is a loop; a cap below the base is a typo)."""
    policy = {"max_reboots": max_reboots, "window": window,
              "backoff_base": backoff_base, "backoff_max": backoff_max}
    for name, value in policy.items():
        if not isinstance(value, int) or isinstance(value, bool):
            raise CheckError("%s must be an integer, not %r" % (name, value))
    if max_reboots < 0:
        raise CheckError("max_reboots must be 0 or more, not %d" % max_reboots)
    if window <= 0 or backoff_base <= 0:
        raise CheckError("window and backoff_base must be more than 0 seconds")
    if backoff_max < backoff_base:
        raise CheckError("backoff_max (%d) must not be less than backoff_base (%d)" % (backoff_max, backoff_base))
    return policy


def backoff_seconds(extra, policy):
    """The wait after the last reboot once the budget is spent: backoff_base
    for the first extra reboot, doubling per further one, capped so that the
    node is never refused for good. Doubled step by step so that a huge
    count cannot build a huge integer."""
    wait = policy["backoff_base"]
    for _step in range(max(0, extra)):
        if wait >= policy["backoff_max"]:
            break
        wait *= 2
    return min(wait, policy["backoff_max"])


def age(entry, now):
    """Seconds since entry's reboot; 0 for one dated in the future, since a
    clock that went back (no RTC) must not make a recent reboot look old."""
    return max(0.0, now - entry["epoch"])


def in_window(entries, now, policy):
    """The entries within the window. Future ones count (age 0)."""
    return [entry for entry in entries if age(entry, now) < policy["window"]]


def pending_entry(entries, boot_id):
    """The newest entry when it was reserved in this boot: its reboot has not
    happened yet, so asking again is the same slot, not another reboot."""
    if boot_id and entries and entries[-1].get("boot_id") == boot_id:
        return entries[-1]
    return None


def effective_count(recent):
    """(recorded reboots, reboots since the first budget_unknown record).

    While a record flagged budget_unknown (state was lost) is in the window,
    the budget counts as spent from that record on: one reboot per
    backoff_base, doubling with every reboot since.
    """
    count = len(recent)
    flagged = [index for index, entry in enumerate(recent) if entry.get("budget_unknown")]
    if not flagged:
        return count, 0
    return count, len(recent) - flagged[0]


def decide(state, now, policy, boot_id=None):
    """Whether a reboot is allowed at `now` (pure: no clock, no file).

    Returns allowed, reason_text, reboots_in_window (recorded, including a
    reservation still pending in this boot), next_allowed_epoch,
    wait_seconds, pending (a reservation of this boot is being reused) and
    budget_unknown.
    """
    entries = sorted(state.get("reboots", []), key=lambda entry: entry["epoch"])
    pending = pending_entry(entries, boot_id)
    others = [entry for entry in entries if entry is not pending]
    recent = in_window(others, now, policy)
    count, since_unknown = effective_count(recent)
    unknown = bool(since_unknown) or bool(state.get("unreadable"))
    # Budget unknown: spent from the flagged record on, so the first
    # reboot since waits backoff_base and each further one doubles.
    counted = max(count, policy["max_reboots"] - 1 + since_unknown) if since_unknown else count
    total_recent = len(recent) + (1 if pending is not None and age(pending, now) < policy["window"] else 0)
    decision = {"reboots_in_window": total_recent, "pending": pending is not None,
                "budget_unknown": unknown, "next_allowed_epoch": now, "wait_seconds": 0}
    window = short_duration(policy["window"])
    prefix = "budget unknown (%s): at most one reboot per %s; " % (
        state.get("unreadable") or "state was lost", short_duration(policy["backoff_base"])) if unknown else ""
    if counted < policy["max_reboots"] or not recent:  # max_reboots 0: none to wait after
        decision["allowed"] = True
        decision["reason_text"] = "%sreboot allowed: %d of %d reboots in the last %s used" % (
            prefix, count, policy["max_reboots"], window)
    else:
        last_age = min(age(entry, now) for entry in recent)
        wait = backoff_seconds(counted - policy["max_reboots"], policy)
        remaining = max(0.0, wait - last_age)
        spent = "%sbudget spent: %d reboots in the last %s (last %s ago)" % (
            prefix, count, window, hours_minutes(last_age))
        if remaining <= 0:
            decision["allowed"] = True
            decision["reason_text"] = "%s; reboot allowed: the backoff of %s has passed" % (
                spent, short_duration(wait))
        else:
            decision["allowed"] = False
            decision["next_allowed_epoch"] = now + remaining
            decision["wait_seconds"] = int(math.ceil(remaining))
            decision["reason_text"] = "%s; next allowed in %s (backoff %s)" % (
                spent, short_duration(remaining), short_duration(wait))
    if pending is not None and decision["allowed"]:
        decision["reason_text"] += "; a reboot reserved in this boot %s ago has not happened yet, " \
            "so this is the same reservation" % hours_minutes(age(pending, now))
    return decision


def reanchor(entries, now):
    """Entries with future dates re-dated to now (original kept in
    recorded_epoch): they then age with the clock, so a clock stuck behind
    delays a reboot by the backoff, never forever. Returns (entries, count)."""
    result, moved = [], 0
    for entry in entries:
        if entry["epoch"] > now:
            entry = dict(entry, epoch=now, recorded_epoch=entry.get("recorded_epoch", entry["epoch"]))
            moved += 1
        result.append(entry)
    return result, moved


def prune(entries, now, policy):
    """What the file keeps: the window's reboots, at most KEEP, newest last."""
    return sorted(in_window(entries, now, policy), key=lambda entry: entry["epoch"])[-KEEP:]


# --- formatting -------------------------------------------------------------


def short_duration(seconds):
    """47m, 1h, 4h30m, 24h: a wait rounded up, so 'in 47m' is never early."""
    seconds = int(math.ceil(max(0.0, seconds)))
    if seconds < 60:
        return "%ds" % seconds
    minutes = int(math.ceil(seconds / 60.0))
    if minutes < 60:
        return "%dm" % minutes
    hours, minutes = divmod(minutes, 60)
    return "%dh" % hours if minutes == 0 else "%dh%02dm" % (hours, minutes)


def hours_minutes(seconds):
    """0h12m: how long ago, rounded down."""
    seconds = int(max(0.0, seconds))
    return "%dh%02dm" % (seconds // 3600, seconds % 3600 // 60)


def evidence_summary(evidence):
    """A short text of the evidence: the file must stay small, and the full
    evidence goes into the event log record anyway."""
    if evidence is None:
        return None
    if isinstance(evidence, dict) and isinstance(evidence.get("summary"), str):
        text = evidence["summary"]
    elif isinstance(evidence, str):
        text = evidence
    else:
        text = json.dumps(evidence, sort_keys=True, default=str)
    return text if len(text) <= EVIDENCE_CHARS else text[:EVIDENCE_CHARS - 3] + "..."


def iso(epoch):
    """UTC time for people reading the file (epoch stays the truth)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


# --- the state file -----------------------------------------------------------


def valid_entry(entry):
    """An entry the decision can use: a dict with a numeric epoch."""
    return (isinstance(entry, dict) and isinstance(entry.get("epoch"), (int, float))
            and not isinstance(entry.get("epoch"), bool) and not math.isnan(entry["epoch"])
            and not math.isinf(entry["epoch"]))


def load_state(path):
    """The state in path: {"reboots": [...]} plus "unreadable" (why) when the
    file exists but cannot be used. A missing file is an empty budget; an
    unusable one becomes one virtual budget_unknown reboot at the file's
    modification time (see the module docstring for why)."""
    try:
        with open(path, "rb") as handle:
            data = json.loads(handle.read().decode("utf-8"))
    except (IOError, OSError) as exc:
        if getattr(exc, "errno", None) == errno.ENOENT:
            return {"reboots": []}
        return unreadable_state(path, "cannot read %s: %s" % (path, exc.strerror or exc))
    except ValueError as exc:  # also UnicodeDecodeError
        return unreadable_state(path, "%s is not valid JSON: %s" % (path, exc))
    if not isinstance(data, dict) or not isinstance(data.get("reboots"), list) \
            or not all(valid_entry(entry) for entry in data["reboots"]):
        return unreadable_state(path, "%s does not hold a reboot list" % path)
    return {"reboots": [dict(entry) for entry in data["reboots"]]}


def unreadable_state(path, why):
    """The stand-in for a state that was lost: one virtual reboot at the
    file's mtime (its last write, so likely the last reservation). Without an
    mtime nothing is known and one reboot is allowed, to be recorded."""
    state = {"reboots": [], "unreadable": why}
    try:
        mtime = os.stat(path).st_mtime
    except OSError:
        return state
    state["reboots"].append({"epoch": mtime, "time": iso(mtime), "boot_id": None, "budget_unknown": True,
                             "reason": "unknown: the state file was unreadable", "evidence": why})
    return state


def write_state(path, entries, now, replace_unreadable=False):
    """Write entries atomically (the only way this file is written). An
    unreadable file is first kept aside as <path>.corrupt for a post-mortem."""
    if replace_unreadable:
        try:
            os.replace(path, path + ".corrupt")
        except OSError:
            pass  # atomic_write replaces it anyway
    atomic_write_json(path, {"version": STATE_VERSION, "updated": iso(now), "reboots": entries})


@contextlib.contextmanager
def locked(path):
    """Hold <path>.lock while reading, deciding and writing, so the playbook
    and the probe daemon cannot both take the last slot. The wait is timed
    on the monotonic clock (NTP may step the wall clock). Without fcntl, or
    when the lock file cannot be made, the write reports the real problem."""
    if fcntl is None:
        yield
        return
    try:
        directory = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(directory):
            os.makedirs(directory, 0o755)
        fd = os.open(path + ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:
        yield
        return
    try:
        deadline = time.monotonic() + LOCK_TIMEOUT
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except (IOError, OSError):
                if time.monotonic() >= deadline:
                    raise CheckError("another process has held %s.lock for %.0f s" % (path, LOCK_TIMEOUT))
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)  # closing releases the lock, as does a kill -9


# --- the action -----------------------------------------------------------------


def shown(entries, now, policy):
    """before/after: the window's newest few, small enough for a result."""
    return [dict(entry) for entry in prune(entries, now, policy)][-SHOW:]


def run_reboot_guard(reason=None, evidence=None, state_path=DEFAULT_STATE_PATH, max_reboots=3, window=86400,
                     backoff_base=3600, backoff_max=14400, mode="reserve", check_mode=False, now=None,
                     boot_id=None):
    """Answer (query), take (reserve) or clear (reset) the reboot budget.

    Returns a recovery result (see recovery.make_recovery_result) with
    allowed, reboots_in_window, next_allowed_in, budget, budget_unknown and
    state_path; state_error when the state could not be written.
    """
    stopwatch = Stopwatch()
    policy = make_policy(max_reboots, window, backoff_base, backoff_max)
    if mode not in MODES:
        raise CheckError("mode must be one of %s, not %r" % (", ".join(MODES), mode))
    if mode == "reserve" and not (reason or "").strip():
        raise CheckError("a reservation needs a reason: it is what explains the reboot later")
    now = time.time() if now is None else now
    boot_id = read_boot_id() if boot_id is None else boot_id
    context = {"stopwatch": stopwatch, "policy": policy, "path": state_path, "now": now,
               "boot_id": boot_id, "check_mode": check_mode}
    if check_mode or mode == "query":
        return _run(mode, reason, evidence, context)
    with locked(state_path):
        return _run(mode, reason, evidence, context)


def _run(mode, reason, evidence, context):
    """Read the state under the lock, then do what the mode asks."""
    state = load_state(context["path"])
    if mode == "reset":
        return _reset(state, context)
    decision = decide(state, context["now"], context["policy"], context["boot_id"])
    if mode == "query":
        return _result(context, state, state["reboots"], decision, False, [], decision["reason_text"], needed=False)
    if not decision["allowed"]:
        return _refuse(state, decision, context)
    return _reserve(state, decision, reason, evidence, context)


def _reserve(state, decision, reason, evidence, context):
    """Record the reboot before it happens: this record is what explains it."""
    now, boot_id = context["now"], context["boot_id"]
    entries, moved = reanchor(state["reboots"], now)
    pending = pending_entry(sorted(entries, key=lambda entry: entry["epoch"]), boot_id)
    entry = {"epoch": round(now, 3), "time": iso(now), "boot_id": boot_id, "reason": reason,
             "evidence": evidence_summary(evidence)}
    if decision["budget_unknown"]:
        entry["budget_unknown"] = True  # keeps the cautious rate for one window
    if pending is not None:
        entry["reservations"] = pending.get("reservations", 1) + 1
        entries = [item for item in entries if item is not pending]
    after = prune(entries + [entry], now, context["policy"])
    verb = "would record" if context["check_mode"] else "recorded"
    actions = ["%s the reboot in %s (reason: %s)" % (verb, context["path"], reason)]
    if moved:
        actions.insert(0, "%s %d reboot record(s) dated in the future (clock behind) as now" % (
            "would re-date" if context["check_mode"] else "re-dated", moved))
    summary = "%s; %s (reason: %s)" % (
        decision["reason_text"], "check mode, so not recorded" if context["check_mode"]
        else "recorded in %s before the reboot" % context["path"], reason)
    decision = dict(decision, reboots_in_window=len(in_window(after, now, context["policy"])))
    if context["check_mode"]:
        return _result(context, state, after, decision, False, actions, summary)
    try:
        write_state(context["path"], after, now, replace_unreadable=bool(state.get("unreadable")))
    except (IOError, OSError) as exc:
        return _cannot_record(state, decision, context, exc)
    return _result(context, state, after, decision, True, actions, summary)


def _refuse(state, decision, context):
    """Not allowed: say why and when. Future-dated records are still re-dated
    (bookkeeping, not a change: changed stays false) so they age from now."""
    now = context["now"]
    entries, moved = reanchor(state["reboots"], now)
    actions = []
    result_extra = {}
    if moved and not context["check_mode"]:
        try:
            write_state(context["path"], prune(entries, now, context["policy"]), now,
                        replace_unreadable=bool(state.get("unreadable")))
            actions.append("re-dated %d reboot record(s) dated in the future (clock behind) as now" % moved)
        except (IOError, OSError) as exc:
            result_extra["state_error"] = "cannot write %s: %s" % (context["path"], exc)
    summary = "reboot not allowed: " + decision["reason_text"]
    return _result(context, state, entries, decision, False, actions, summary, **result_extra)


def _cannot_record(state, decision, context, exc):
    """A reservation that cannot be written is refused: a reboot with no
    record is the silent, possibly looping reboot this guard exists to stop."""
    error = "cannot write %s: %s" % (context["path"], exc)
    decision = dict(decision, allowed=False, reboots_in_window=len(in_window(
        state["reboots"], context["now"], context["policy"])))
    summary = "reboot not allowed: %s, and a reboot that leaves no record could loop unnoticed" % error
    return _result(context, state, state["reboots"], decision, False, [], summary, state_error=error)


def _reset(state, context):
    """An operator's explicit clearing of the budget; an unreadable file is
    replaced (and kept aside), since resetting is the way out of it."""
    before = state["reboots"]
    unreadable = state.get("unreadable")
    full = {"allowed": True, "reboots_in_window": 0, "wait_seconds": 0, "budget_unknown": False}
    if not before and not unreadable:
        return _result(context, state, [], full, False, [], "budget already empty: nothing to reset", needed=False)
    what = "the unreadable state (%s; kept as %s.corrupt)" % (unreadable, context["path"]) if unreadable \
        else "%d reboot record(s)" % len(before)
    if context["check_mode"]:
        return _result(context, state, [], full, False, ["would clear %s" % what],
                       "budget would be reset (check mode): would clear %s" % what)
    try:
        write_state(context["path"], [], context["now"], replace_unreadable=bool(unreadable))
    except (IOError, OSError) as exc:
        error = "cannot write %s: %s" % (context["path"], exc)
        decision = decide(state, context["now"], context["policy"], context["boot_id"])
        return _result(context, state, before, decision, False, [],
                       "budget not reset: %s; %s" % (error, decision["reason_text"]), state_error=error)
    return _result(context, state, [], full, True, ["cleared %s" % what],
                   "budget reset: cleared %s; a reboot is allowed" % what)


def _result(context, state, after, decision, changed, actions, summary, needed=True, **extra):
    """The recovery result with the guard's own keys."""
    now, policy = context["now"], context["policy"]
    result = make_recovery_result(
        context["stopwatch"], changed, None, shown(state["reboots"], now, policy), shown(after, now, policy),
        summary, actions, needed,
        allowed=bool(decision["allowed"]),
        reboots_in_window=int(decision["reboots_in_window"]),
        next_allowed_in=0 if decision["allowed"] else int(decision["wait_seconds"]),
        budget=dict(policy),
        budget_unknown=bool(decision.get("budget_unknown")),
        state_path=context["path"])
    result.update(extra)
    return result
