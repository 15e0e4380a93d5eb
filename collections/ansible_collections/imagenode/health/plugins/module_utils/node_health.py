# Copyright (c) 2026 imagenode-health contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""node_health: every check in one call, and the registry of checks.

The registry (name -> run function + option spec with defaults) is what the
single modules, node_health and the probe share: all of them call the same
run functions. The specs are plain dicts in Ansible's argument_spec form, so
a module can validate them, and the probe reads their defaults.

node_health itself never fails for a node that lacks a data source: a check
that cannot run (CheckError, or any crash) becomes that check's `unknown`
with the message. Checks run at once, in threads, so one node's audit costs
about as long as its slowest check.
"""

import time
from concurrent.futures import ThreadPoolExecutor

from . import instance_check, latency_check, ping_check, power_check, sdcard_check, wifi_info
from .kernel_log import SharedKernelLog
from .check_result import OK, STATUSES, UNKNOWN, WARN, CheckError, Stopwatch, make_result, worst
from .hub_check import OPTIONS as HUB_CHECK_OPTIONS, run_hub_check


def _takes(function, name):
    """Whether function has a parameter called name (inspect.signature's answer, without
    importing inspect, which the probe's steady cycle never needs otherwise)."""
    code = getattr(function, "__code__", None)
    if code is None:  # not a plain function (a partial, a callable object): ask inspect
        import inspect
        return name in inspect.signature(function).parameters
    count = code.co_argcount + getattr(code, "co_kwonlyargcount", 0)
    count += bool(code.co_flags & 0x04) + bool(code.co_flags & 0x08)  # CO_VARARGS, CO_VARKEYWORDS
    return name in code.co_varnames[:count]


class Check(object):
    """One registered check: its run function and its option spec."""

    def __init__(self, name, run, options, uses_hubs=False):
        self.name = name
        self.run = run
        self.options = options
        self.uses_hubs = uses_hubs
        self.takes_check_mode = _takes(run, "check_mode")

    def defaults(self):
        return dict((key, spec.get("default")) for key, spec in self.options.items())


CHECK_ORDER = ("hub_check", "ping_check", "wifi_info", "instance_check", "latency_check", "sdcard_check", "power_check")
CHECKS = {
    "hub_check": Check("hub_check", run_hub_check, HUB_CHECK_OPTIONS, uses_hubs=True),
    "ping_check": Check("ping_check", ping_check.run_ping_check, ping_check.OPTIONS, uses_hubs=True),
    "wifi_info": Check("wifi_info", wifi_info.run_wifi_info, wifi_info.OPTIONS),
    "instance_check": Check("instance_check", instance_check.run_instance_check, instance_check.OPTIONS),
    "latency_check": Check("latency_check", latency_check.run_latency_check, latency_check.OPTIONS),
    "sdcard_check": Check("sdcard_check", sdcard_check.run_sdcard_check, sdcard_check.OPTIONS),
    "power_check": Check("power_check", power_check.run_power_check, power_check.OPTIONS),
}


# What each spec type of the checks' OPTIONS accepts (the types the modules'
# argument_spec has already converted to), and how an error names it.
_OPTION_TYPES = {
    "int": ((int,), "an integer"),
    "float": ((int, float), "a number"),
    "bool": ((bool,), "true or false"),
    "str": ((str,), "a string"),
    "path": ((str,), "a path"),
    "list": ((list, tuple), "a list"),
    "dict": ((dict,), "a mapping"),
}


def check_option(check, key, spec, value):
    """CheckError naming the check and the option when value does not fit spec
    (its type, list elements and choices), so a wrong value in the probe's
    check_options is reported as such, not as a crash of the check."""
    kinds, what = _OPTION_TYPES.get(spec.get("type"), ((object,), "a value"))
    ok = isinstance(value, kinds) and not (isinstance(value, bool) and bool not in kinds)
    if ok and spec.get("elements") and isinstance(value, (list, tuple)):
        element_kinds = _OPTION_TYPES.get(spec["elements"], ((object,), ""))[0]
        if not all(isinstance(item, element_kinds) for item in value):
            raise CheckError("%s option %s must be a list of %s values, not %r" % (check, key, spec["elements"], value))
    if not ok:
        raise CheckError("%s option %s must be %s, not %r" % (check, key, what, value))
    if spec.get("choices") is not None and value not in spec["choices"]:
        raise CheckError("%s option %s must be one of %s, not %r" % (
            check, key, ", ".join(str(choice) for choice in spec["choices"]), value))


def resolve_options(name, given=None, hubs=None, config=None):
    """A check's options: its defaults, then `given` (each checked against its spec),
    then the shared hubs/config where it takes them."""
    check = CHECKS[name]
    options = check.defaults()
    unknown = sorted(set(given or {}) - set(options))
    if unknown:
        raise CheckError("%s has no option(s) %s (it has %s)" % (name, ", ".join(unknown), ", ".join(sorted(options))))
    for key, value in (given or {}).items():
        if value is not None:
            check_option(name, key, check.options[key], value)
            options[key] = value
    if check.uses_hubs and not options.get("hubs") and not options.get("config"):
        options["hubs"], options["config"] = hubs, config
    return options


def run_one(name, options, check_mode=False):
    """A check's result; unknown with the message when it cannot run."""
    stopwatch = Stopwatch()
    check = CHECKS[name]
    kwargs = dict(options)
    if check.takes_check_mode:
        kwargs["check_mode"] = check_mode
    try:
        if check.uses_hubs and name == "hub_check" and not kwargs.get("hubs") and not kwargs.get("config"):
            raise CheckError("no hubs: give hubs or config (to node_health or to hub_check)")
        result = check.run(**kwargs)
    except CheckError as exc:
        return make_result(UNKNOWN, "cannot run: %s" % exc, {"error": str(exc)}, stopwatch, cannot_run=True)
    except Exception as exc:  # pylint: disable=broad-except  # one broken check must not cost the others
        import traceback  # only for a crash: the probe's steady cycle never loads it
        return make_result(UNKNOWN, "check crashed: %s: %s" % (type(exc).__name__, exc),
                           {"error": str(exc), "traceback": traceback.format_exc().splitlines()[-6:]}, stopwatch,
                           cannot_run=True)
    if result.get("status") not in STATUSES:
        return make_result(UNKNOWN, "check returned no valid status", {"result": result}, stopwatch)
    return result


def overall_status(results):
    """The worst of the checks that had data. A check with no data source
    (no radio, no Pi power sensors) says nothing about the node's health, so
    it does not make a healthy node `unknown`; a check that could not run at
    all (bad options, a crash) is worth a look, so it counts as `warn`.
    `unknown` only when no check had anything to say."""
    results = list(results)
    known = [r["status"] for r in results if r["status"] != UNKNOWN]
    if any(r.get("cannot_run") for r in results):
        known.append(WARN)
    return worst(known) if known else UNKNOWN


def kernel_log_users(names):
    """Those of the named checks that read the kernel log (take a kernel_log)."""
    return [name for name in names if name in CHECKS and _takes(CHECKS[name].run, "kernel_log")]


def share_kernel_log(resolved, source=None):
    """Give the checks that read the kernel log (sdcard_check, power_check) one source of it
    between them, when they run on the same root: the same lines, one journalctl or dmesg
    instead of one each. source: a kernel log the caller keeps (the probe's
    kernel_log.KmsgFollower, which reads the live system's /dev/kmsg), used instead of a
    read for this run, even by one check alone. resolved: {name: options}, changed in place."""
    users = kernel_log_users(resolved)
    roots = set(resolved[name].get("root") or "/" for name in users)
    if source is not None and users and roots == set(["/"]):
        shared = source
    elif len(users) < 2 or len(roots) != 1:
        return None
    else:
        try:
            window = max(int(resolved[name].get("window") or 0) for name in users)
        except (TypeError, ValueError):
            return None  # the check says what is wrong with its window
        shared = SharedKernelLog(window, resolved[users[0]].get("root") or "/")
    for name in users:
        resolved[name] = dict(resolved[name], kernel_log=shared)
    return shared


def run_node_health(checks=None, options=None, hubs=None, config=None, check_mode=False, executor=None,
                    kernel_log=None):
    """Run the chosen checks (all by default) at once; overall status is the worst.

    executor: a concurrent.futures executor to run them on, kept by the caller
    (the probe keeps one, so its threads are not started anew every cycle);
    by default a pool of one thread per check for this call.
    kernel_log: a kernel log kept by the caller for the checks that read it
    (the probe's kernel_log.KmsgFollower); by default one read for this call."""
    stopwatch = Stopwatch()
    selected = list(checks) if checks else list(CHECK_ORDER)
    for name in selected:
        if name not in CHECKS:
            raise CheckError("unknown check %r (checks are %s)" % (name, ", ".join(CHECK_ORDER)))
    options = options or {}
    resolved = dict((name, resolve_options(name, options.get(name), hubs, config)) for name in selected)
    share_kernel_log(resolved, kernel_log)
    if executor is not None:
        futures = dict((name, executor.submit(run_one, name, resolved[name], check_mode)) for name in selected)
        results = dict((name, futures[name].result()) for name in selected)
    else:
        with ThreadPoolExecutor(max_workers=len(selected)) as pool:
            futures = dict((name, pool.submit(run_one, name, resolved[name], check_mode)) for name in selected)
            results = dict((name, futures[name].result()) for name in selected)
    changed = False
    for result in results.values():
        changed = bool(result.pop("changed", False)) or changed
    status = overall_status(results.values())
    by_status = dict((s, [n for n in selected if results[n]["status"] == s]) for s in STATUSES)
    bad = ["%s %s (%s)" % (n, results[n]["status"], results[n]["summary"]) for n in selected
           if results[n]["status"] in ("fail", "warn")]
    bad.sort(key=lambda text: 0 if " fail (" in text else 1)
    if bad:
        summary = "%d of %d checks not ok: %s" % (len(bad), len(selected), "; ".join(bad))
    else:
        summary = "%d of %d checks ok" % (len(by_status[OK]), len(selected))
    if by_status[UNKNOWN]:
        summary += "; unknown: %s" % ", ".join(by_status[UNKNOWN])
    evidence = {"checks_run": selected, "by_status": by_status}
    fact = {"status": status, "summary": summary, "checked_at": int(time.time()),
            "checks": dict((n, {"status": r["status"], "summary": r["summary"]}) for n, r in results.items())}
    result = make_result(status, summary, evidence, stopwatch, checks=results, facts=fact)
    if changed:
        result["changed"] = True
    return result
