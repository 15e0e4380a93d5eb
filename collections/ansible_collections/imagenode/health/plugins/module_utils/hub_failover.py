# Copyright (c) 2026 imagenode-health contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""hub_failover: move imagenode to a healthy hub, and (optionally) back home.

imagenode only ever sends to hub_address.H1; H2, H3... are alternates that
imagenode itself ignores. Failing over therefore means rewriting the order in
imagenode.yaml (H1 becomes the healthy hub, the others keep their relative
order), restarting imagenode, and proving that the new process is connected
to the new hub and that the hub answers.

The node's home order is remembered in a small state file the first time a
failover moves away from it, so `failback` can put it back once the home
hub answers again.
"""

import functools
import os
import socket
import time

from .atomic_file import atomic_write, atomic_write_json, read_json
from .check_result import CheckError
from .hub_probe import check_hubs
from .imagenode_config import hub_addresses, node_name as config_node_name
from .imagenode_config_edit import parse_text, reorder_hubs
from .imagezmq_wire import parse_hub_address
from .recovery import Stopwatch, make_recovery_result

try:
    import psutil
    PSUTIL_IMPORT_ERROR = None
except ImportError as exc:  # psutil is python3-psutil on Debian and Pi OS
    psutil = None
    PSUTIL_IMPORT_ERROR = exc

DEFAULT_STATE_DIR = "/var/lib/imagenode-health"
STATE_FILE = "hub_failover.json"
START_METHODS = ["systemd", "cron", "screen", "any"]

# How often the connection wait looks at the new process's sockets.
POLL_INTERVAL = 0.5

# hub_failover's options (the common recovery options are added by the module).
OPTIONS = {
    "config": {"type": "path", "required": True},
    "hubs": {"type": "list", "elements": "str"},
    "prefer": {"type": "str"},
    "restart": {"type": "bool", "default": True},
    "failback": {"type": "bool", "default": False},
    "start_method": {"type": "str", "default": "any", "choices": START_METHODS},
    "pattern": {"type": "str", "default": "imagenode.py"},
    "timeout": {"type": "float", "default": 2.0},
    "attempts": {"type": "int", "default": 2},
    "verify_timeout": {"type": "float", "default": 30.0},
    "state_dir": {"type": "path", "default": DEFAULT_STATE_DIR},
    "command": {"type": "list", "elements": "str"},
    "user": {"type": "str"},
}


# --- reading the node's situation -------------------------------------------------

def _read_config(path):
    """(bytes, text, parsed dict, stat) of imagenode.yaml; CheckError when unusable.

    The bytes are kept so the backup is exactly what was there, whatever the encoding.
    """
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
        stat = os.stat(path)
    except (IOError, OSError) as exc:
        raise CheckError("cannot read imagenode config %s: %s" % (path, exc.strerror or exc))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CheckError("imagenode config %s is not UTF-8 text (byte %d); the file is unchanged" % (path, exc.start))
    return raw, text, parse_text(text, path), stat


def _answering(probe_result):
    """The addresses that answered, from a check_hubs-shaped result."""
    return [hub["address"] for hub in probe_result["evidence"]["hubs"] if hub["ok"]]


def _describe_down(probe_result):
    return ", ".join("%s down (%s)" % (hub["address"], hub["error"] or "no answer")
                     for hub in probe_result["evidence"]["hubs"] if not hub["ok"])


def _state_path(state_dir):
    return os.path.join(state_dir, STATE_FILE)


def _home_order(state, key, current):
    """The remembered home order, or the current one when there is none.

    A record that no longer names the same hubs (the file was edited by
    hand since) is stale, and is ignored rather than trusted.
    """
    entry = state.get(key) if isinstance(state, dict) else None
    home = entry.get("home") if isinstance(entry, dict) else None
    if isinstance(home, list) and sorted(home) == sorted(current):
        return list(home), True
    return list(current), False


def _candidates(current, hubs, path):
    """Alternates in the order to try them: option `hubs`, else the file's H2, H3..."""
    if not hubs:
        return current[1:]
    hubs = [str(hub).strip() for hub in hubs]
    unknown = [hub for hub in hubs if hub not in current]
    if unknown:
        raise CheckError("hubs %s are not in the hub_address of %s; hub_failover only reorders "
                         "the hubs the file names" % (", ".join(unknown), path))
    return [hub for hub in hubs if hub != current[0]]


def _choose(candidates, answering, prefer):
    """prefer when it answers, else the first alternate that answers, else None."""
    if prefer and prefer in answering:
        return prefer
    for hub in candidates:
        if hub in answering:
            return hub
    return None


def _moved_to_front(order, chosen):
    """chosen first, every other hub after it in its previous relative order."""
    return [chosen] + [hub for hub in order if hub != chosen]


def _view(order, answering):
    return {"hubs": list(order), "using": order[0], "answering": list(answering)}


# --- deciding ----------------------------------------------------------------------

def _plan(current, home, candidates, answering, prefer, failback):
    """(needed, new_order, chosen, failed_back, reason) from what was seen; no side effects."""
    if failback and home[0] != current[0] and home[0] in answering:
        return True, list(home), home[0], True, "home hub %s answers again" % home[0]
    if current[0] in answering:
        return False, list(current), current[0], False, "imagenode's hub %s answers" % current[0]
    chosen = _choose(candidates, answering, prefer)
    if chosen is None:
        return True, list(current), None, False, None
    return True, _moved_to_front(current, chosen), chosen, False, "imagenode's hub %s does not answer" % current[0]


# --- acting ------------------------------------------------------------------------

def _backup_path(path):
    """imagenode.yaml.<UTC time>.bak next to the file, never overwriting an older backup."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    candidate = "%s.%s.bak" % (path, stamp)
    number = 1
    while os.path.lexists(candidate):
        candidate = "%s.%s.%d.bak" % (path, stamp, number)
        number += 1
    return candidate


def _write_like(path, data, stat):
    """atomic_write with the original owner, group and mode (the file is pi's, we are root)."""
    atomic_write(path, data, mode=stat.st_mode & 0o7777, owner=(stat.st_uid, stat.st_gid))


def _remember_home(state_dir, state, key, home):
    """Record the home order the first time a failover leaves it."""
    state = dict(state) if isinstance(state, dict) else {}
    state[key] = {"home": list(home), "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    atomic_write_json(_state_path(state_dir), state)


def _write_all(config, raw, new_text, stat, state_dir, state, key, home):
    """Backup, home record (when home is given), then the new file: (backup path, actions done).

    Each write is atomic and the config is written last, so a failure part
    way leaves imagenode.yaml whole (normally the old one); it is reported as
    a module failure naming what could not be written and what was done.
    """
    real = os.path.realpath(config)  # a symlinked config is edited where it really is
    backup = _backup_path(real)
    actions = []
    try:
        _write_like(backup, raw, stat)
        actions.append("backed up %s to %s" % (config, backup))
        if home is not None:
            _remember_home(state_dir, state, key, home)
            actions.append("remembered home order %s in %s" % (", ".join(home), _state_path(state_dir)))
        _write_like(real, new_text.encode("utf-8"), stat)
    except (IOError, OSError) as exc:
        raise CheckError("cannot fail over in %s: %s (%s)%s"
                         % (config, exc.strerror or exc, getattr(exc, "filename", None) or "?",
                            "; done so far: " + "; ".join(actions) if actions else ""))
    return backup, actions


def wait_for_connection(pid, host, port, timeout, interval=POLL_INTERVAL):
    """True once process pid (or a child) has an ESTABLISHED TCP connection to host:port.

    ZMQ connects in the background after imagenode starts, so this polls on
    the monotonic clock until timeout. A process that is gone cannot connect,
    so that ends the wait at once.
    """
    deadline = time.monotonic() + timeout
    while True:
        targets = _resolve(host, port)
        try:
            if targets and _connected(psutil.Process(pid), targets, port):
                return True
        except psutil.NoSuchProcess:
            return False
        if time.monotonic() >= deadline:
            return False
        time.sleep(min(interval, max(0.0, deadline - time.monotonic())))


def _resolve(host, port):
    """The IP addresses host may be reached on (v4, v6 and v4-mapped v6 forms)."""
    try:
        infos = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError):
        return set()
    addresses = set()
    for info in infos:
        ip = info[4][0].split("%")[0]
        addresses.add(ip)
        if ":" not in ip:
            addresses.add("::ffff:%s" % ip)
    return addresses


def _established(conns, targets, port):
    return any(conn.status == psutil.CONN_ESTABLISHED and conn.raddr and conn.raddr.port == port
               and conn.raddr.ip in targets for conn in conns)


def _connected(process, targets, port):
    """Whether process or one of its children has an established connection to targets:port.

    Where this process may not see the program's sockets (root without
    CAP_SYS_PTRACE, as in a container), the node's own connection table is
    the evidence instead: a connection from this node to the new hub."""
    denied = False
    for proc in [process] + process.children(recursive=True):
        try:
            lister = getattr(proc, "net_connections", None) or proc.connections
            if _established(lister(kind="tcp"), targets, port):
                return True
        except psutil.NoSuchProcess:
            if proc is process:
                raise
        except psutil.AccessDenied:
            denied = True
    if denied:
        try:
            return _established(psutil.net_connections(kind="tcp"), targets, port)
        except psutil.AccessDenied:
            return False
    return False


def _restart_and_verify(chosen, restarter, waiter, reprobe, start_method, pattern, verify_timeout, actions):
    """(fixed, answering, summary tail): restart imagenode, then prove it uses chosen."""
    try:
        restarted = restarter(start_method=start_method, pattern=pattern, check_mode=False)
    except CheckError as exc:
        # The file is already rewritten; the result must say so, not fail the module.
        actions.append("restart of imagenode failed: %s" % exc)
        return False, _answering(reprobe()), "but imagenode could not be restarted: %s" % exc
    actions.extend(restarted.get("actions") or [])
    pid = restarted.get("pid")
    if not pid:
        return False, _answering(reprobe()), "but imagenode is not running after the restart: %s" % restarted.get("summary")
    host, port = parse_hub_address(chosen)
    connected = bool(waiter(pid, host, port, verify_timeout))
    answering = _answering(reprobe())
    actions.append("waited up to %.1f s for imagenode (pid %s) to connect to %s: %s"
                   % (verify_timeout, pid, chosen, "connected" if connected else "not connected"))
    if connected and chosen in answering:
        return True, answering, "imagenode (pid %s) is connected to it and it answers" % pid
    if not connected:
        return False, answering, "but imagenode (pid %s) has no TCP connection to it after %.1f s" % (pid, verify_timeout)
    return False, answering, "imagenode (pid %s) is connected to it, but it no longer answers" % pid


# --- the action --------------------------------------------------------------------

def _validate(verify_timeout, restart, connection_waiter, start_method):
    """Argument checks that must fail before anything is touched."""
    if start_method not in START_METHODS:
        raise CheckError("start_method must be one of %s, not %r" % (", ".join(START_METHODS), start_method))
    if not verify_timeout > 0:
        raise CheckError("verify_timeout must be more than 0 seconds, not %r" % (verify_timeout,))
    if restart and connection_waiter is None and psutil is None:
        # Checked up front: failing after the file is rewritten would hide the change.
        raise CheckError("verifying the failover needs psutil (python3-psutil): %s" % PSUTIL_IMPORT_ERROR)


def run_hub_failover(config, hubs=None, prefer=None, restart=True, failback=False, start_method="any",
                     pattern="imagenode.py", timeout=2.0, attempts=2, verify_timeout=30.0,
                     state_dir=DEFAULT_STATE_DIR, check_mode=False, restarter=None, prober=None,
                     connection_waiter=None, command=None, user=None):
    """The hub_failover recovery result (see the module's documentation)."""
    stopwatch = Stopwatch()
    _validate(verify_timeout, restart, connection_waiter, start_method)
    prober = prober or check_hubs
    if restart and restarter is None:
        # Resolved before anything is touched, so a missing piece cannot fail the run half done.
        restarter = _default_restarter()
        if command or user:
            # How to start imagenode again when it is not running (cron, screen).
            restarter = functools.partial(restarter, command=command, user=user)
    waiter = connection_waiter or wait_for_connection
    raw, text, settings, stat = _read_config(config)
    current = hub_addresses(settings, config)
    if prefer is not None and prefer.strip() not in current:
        raise CheckError("prefer %s is not in the hub_address of %s" % (prefer, config))
    prefer = prefer.strip() if prefer else None
    candidates = _candidates(current, hubs, config)
    name = config_node_name(settings, config) or socket.gethostname().split(".")[0]

    def reprobe():
        return prober(list(current), name, timeout, attempts)

    key = os.path.abspath(config)
    state = read_json(_state_path(state_dir), default={})
    home, remembered = _home_order(state, key, current)
    probed = reprobe()
    answering = _answering(probed)
    before = _view(current, answering)
    needed, new_order, chosen, failed_back, reason = _plan(current, home, candidates, answering, prefer, failback)
    extra = {"backup": None, "chosen": chosen, "failed_back": failed_back}

    if not needed:
        return make_recovery_result(stopwatch, False, None if check_mode else True, before, before,
                                    "%s; nothing to do" % reason, [], needed=False, **extra)
    if chosen is None:
        return make_recovery_result(stopwatch, False, None if check_mode else False, before, before,
                                    "no healthy alternate hub: %s; %s is unchanged" % (_describe_down(probed), config),
                                    [], needed=True, **extra)

    new_text = reorder_hubs(text, new_order, config)  # refuses, changing nothing, when unsafe
    extra["diff"] = {"before": text, "after": new_text, "before_header": config, "after_header": config}
    order_words = ", ".join("H%d=%s" % (number, hub) for number, hub in enumerate(new_order, 1))
    # Only the first move away from home is recorded: a second failover (H2 down
    # too) must not make H2's order the "home" to come back to.
    leaving_home = not remembered
    if prefer and chosen != prefer and not failed_back:
        reason += "; preferred hub %s does not answer" % prefer
    # The restart is planned (in its own check mode) before anything is written,
    # so a node whose imagenode cannot be restarted is refused with nothing changed.
    would_restart = restarter(start_method=start_method, pattern=pattern, check_mode=True) if restart else None
    if check_mode:
        return _predict(stopwatch, config, before, new_order, answering, order_words, leaving_home, state_dir,
                        would_restart, verify_timeout, chosen, reason, extra)

    extra["backup"], actions = _write_all(config, raw, new_text, stat, state_dir, state, key,
                                          current if leaving_home else None)
    actions.append("wrote hub_address %s to %s" % (order_words, config))
    verb = "failed back" if failed_back else "failed over"
    head = "%s; %s to %s in %s" % (reason, verb, chosen, config)

    if restart:
        fixed, after_answering, tail = _restart_and_verify(chosen, restarter, waiter, reprobe, start_method,
                                                           pattern, verify_timeout, actions)
    else:
        after_answering = _answering(reprobe())
        fixed = chosen in after_answering
        tail = "%s; imagenode must be restarted to use it" % ("it answers" if fixed else "but it no longer answers")
    return make_recovery_result(stopwatch, True, fixed, before, _view(new_order, after_answering),
                                "%s: %s" % (head, tail), actions, needed=True, **extra)


def _predict(stopwatch, config, before, new_order, answering, order_words, leaving_home, state_dir,
             would_restart, verify_timeout, chosen, reason, extra):
    """The check-mode result: what would be done, with nothing done.

    would_restart is the restart's own check-mode result, or None without restart.
    """
    actions = ["would back up %s to %s.<time>.bak" % (config, config)]
    if leaving_home:
        actions.append("would remember home order in %s" % _state_path(state_dir))
    actions.append("would write hub_address %s to %s" % (order_words, config))
    if would_restart is not None:
        actions.extend(would_restart.get("actions") or ["would restart imagenode"])
        actions.append("would wait up to %.1f s for imagenode to connect to %s" % (verify_timeout, chosen))
    summary = "%s; would move %s to H1 in %s%s" % (
        reason, chosen, config, "" if would_restart is not None else " (imagenode would need a restart to use it)")
    return make_recovery_result(stopwatch, False, None, before, _view(new_order, answering),
                                summary, actions, needed=True, **extra)


def _default_restarter():
    """imagenode_restart, imported only when needed so tests can inject a fake."""
    try:
        from .imagenode_restart import restart_imagenode
    except ImportError as exc:
        raise CheckError("restarting imagenode needs module_utils/imagenode_restart.py: %s" % exc)
    return restart_imagenode
