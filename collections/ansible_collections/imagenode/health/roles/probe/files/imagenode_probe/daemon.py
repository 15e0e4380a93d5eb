# Copyright (c) 2026 imagenode-health contributors
# SPDX-License-Identifier: BSD-2-Clause
"""The probe's cycle and its loop.

Each cycle: run the checks (node_health.run_node_health: cheap ones every
cycle, expensive ones every `expensive_every`th; relaxed ones, ping_check by
default, with the expensive ones while the node is healthy, every cycle while
it is not, and at once in a cycle whose other checks find something wrong),
choose a step with the shared ladder (ladder.next_step, the one recover.yml
uses), take it through recovery.run_action (same event log as the
playbooks), send a heartbeat, write state, fact and textfile. Timers use the
monotonic clock.

Local guards, on top of the ladder's own:
- debounce: a fault must be seen in `debounce` consecutive cycles first;
- grace: no action in the first `grace` seconds of the probe, and no step
  that restarts imagenode while its youngest instance is younger than that;
- reboot: only when reboot_budget.run_reboot_guard(mode="reserve") allows,
  refusals are logged loudly and retried when the budget says, never
  given up for good.
"""

import gc
import logging
import os
import signal
import subprocess
import threading
import time

from imagenode_health_core import heartbeat as wire
from imagenode_health_core import event_log, ladder, node_health, recovery
from imagenode_health_core.check_result import OK, CheckError
from imagenode_health_core.hub_probe import probe_hubs
from imagenode_health_core.imagenode_config import hub_addresses, load_config, node_name as config_node_name
from imagenode_health_core.kernel_log import KmsgFollower

from . import outputs
from .notify import sd_notify, watchdog_usec
from .spool import Spool

LOG = logging.getLogger("imagenode_probe")

# Steps that restart imagenode (directly or as part of the step): not while it is younger than grace.
RESTARTING_STEPS = ("hub_failover", "imagenode_restart", "reboot")


def _iso(epoch):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def read_uptime(path="/proc/uptime"):
    try:
        with open(path) as handle:
            return float(handle.read().split()[0])
    except (IOError, OSError, ValueError, IndexError):
        return None


def _launch(config):
    if config["start_method"] in ("cron", "screen"):
        return list(config["launcher"]), config["user"]
    return None, None


# --- the ladder's steps: each one the shared core's function ------------------------------

# The recovery modules are imported by the step that uses them: a healthy node's probe
# never loads them (nor psutil, which imagenode_restart needs), and stays smaller.

def step_zmq_reset(probe, plan, health):
    from imagenode_health_core import zmq_reset
    probe.reset_links()  # the probe's own hub link: done here, no signal to itself
    c = probe.config
    return zmq_reset.run_zmq_reset(config=c["imagenode_config"], timeout=c["hub_timeout"],
                                   attempts=c["hub_attempts"], probe_unit=None)


def step_hub_failover(probe, plan, health):
    from imagenode_health_core import hub_failover
    c = probe.config
    command, user = _launch(c)
    return hub_failover.run_hub_failover(config=c["imagenode_config"], start_method=c["start_method"],
                                         timeout=c["hub_timeout"], attempts=c["hub_attempts"],
                                         state_dir=c["state_dir"], command=command, user=user)


def step_wifi_restart(probe, plan, health):
    from imagenode_health_core import wifi_restart
    return wifi_restart.run_wifi_restart(timeout=probe.config["wifi_timeout"])


def step_wifi_select(probe, plan, health):
    from imagenode_health_core import wifi_select
    c = probe.config
    return wifi_select.run_wifi_select(config=c["imagenode_config"], margin_db=c["margin_db"],
                                       rollback_timeout=c["wifi_timeout"])


def step_imagenode_restart(probe, plan, health):
    from imagenode_health_core import imagenode_restart
    c = probe.config
    command, _user = _launch(c)
    return imagenode_restart.restart_imagenode(start_method=c["start_method"], command=command, user=c["user"])


STEPS = {
    "zmq_reset": step_zmq_reset,
    "hub_failover": step_hub_failover,
    "wifi_restart": step_wifi_restart,
    "wifi_select": step_wifi_select,
    "imagenode_restart": step_imagenode_restart,
}


def reserve_reboot(probe, reason, evidence):
    """The shared budget's answer (mode reserve): a recovery result with `allowed`."""
    from imagenode_health_core import reboot_budget
    c = probe.config
    return reboot_budget.run_reboot_guard(reason=reason, evidence=evidence, mode="reserve",
                                          state_path=os.path.join(c["state_dir"], "reboot_budget.json"),
                                          **c["reboot"])


def do_reboot(probe):
    LOG.critical("rebooting the node now: %s", " ".join(probe.config["reboot_command"]))
    subprocess.call(probe.config["reboot_command"])


class Probe(object):
    """One node's probe. Everything that touches the outside is injectable for tests."""

    def __init__(self, config, health=None, steps=None, guard=None, reboot=None, links=None, clock=time.monotonic,
                 wall=time.time, notify=sd_notify, environ=None, boot_id=None, hub_heartbeat=None):
        self.config = config
        self.health = health or node_health.run_node_health
        self.steps = dict(STEPS)
        self.steps.update(steps or {})
        self.guard = guard or reserve_reboot
        self.reboot = reboot or do_reboot
        self.clock, self.wall = clock, wall
        self.notify = notify
        self.environ = os.environ if environ is None else environ
        self.hub_heartbeat_fn = hub_heartbeat or self._hub_heartbeat
        self.boot_id = boot_id if boot_id is not None else event_log.boot_id()
        self.state_path = os.path.join(config["state_dir"], "state.json")
        self.spool = Spool(config["queue_dir"], config["queue_max"])
        self.event_log = event_log.EventLogReader(config["event_log"])
        self.spool_errors = 0
        self._links = links
        self.started = clock()
        self.cycle = 0                 # cycles of this process (the scheduler's count)
        self.results = {}              # the newest result of every check
        self.last_status = None        # the overall status of the last cycle (select_checks)
        self.streak = 0                # consecutive cycles with a fault
        self.reset_requested = False
        self.stop_requested = False
        self.pending_reboot = False
        self.reboot_retry_at = None
        self.wake = threading.Event()
        self.watchdog_extended = False
        self.hold = None
        self.last_cycle_seconds = 0.0
        self.faults = []
        self._executor = None          # the check threads, kept from cycle to cycle
        self._kernel_log = None        # the KmsgFollower, kept likewise (False: /dev/kmsg unreadable)
        self._durable_written = None   # outputs.durable_part of the state last fsync'd
        self._load_state()

    # --- state ------------------------------------------------------------------------

    def _load_state(self):
        state = outputs.read_state(self.state_path)
        queued = self.spool.seqs()
        # +1: the cycle killed before it saved may have used next_seq already.
        next_seq = int(state.get("next_seq", -1)) + 1 if isinstance(state.get("next_seq"), int) else 0
        self.seq = max([next_seq] + [seq + 1 for seq in queued])
        self.total_cycles = int(state.get("cycle", 0) or 0)
        self.delivered_epoch = float(state.get("delivered_epoch", 0) or 0)
        self.heartbeats_sent = int(state.get("heartbeats_sent", 0) or 0)
        self.last_action = state.get("last_action")
        self.last_ack = state.get("last_ack")
        same_boot = state.get("boot_id") == self.boot_id
        # A new boot starts a new episode: the reboot budget, not `done`, keeps reboots rare.
        self.done = list(state.get("done") or []) if same_boot else []
        self.step = state.get("step") if same_boot else None
        self.episode = state.get("episode") if same_boot else None
        # When this process first saw the current fault episode (monotonic; a restarted probe starts afresh).
        self.episode_since = self.clock() if self.episode else None

    def state(self):
        return {"node": self.config["node"], "boot_id": self.boot_id, "next_seq": self.seq,
                "cycle": self.total_cycles, "step": self.step, "done": list(self.done),
                "last_action": self.last_action, "episode": self.episode, "hold": self.hold,
                "delivered_epoch": self.delivered_epoch, "heartbeats_sent": self.heartbeats_sent,
                "last_ack": self.last_ack, "queue_length": len(self.spool), "updated": self.wall()}

    @property
    def links(self):
        if self._links is None and self.config["monitors"]:
            from .link import Links
            self._links = Links(self.config["monitors"], self.config["client_key"], self.config["ack_timeout"])
        return self._links

    def reset_links(self):
        """New sockets and context for the monitors (SIGUSR1 or zmq_reset)."""
        self.reset_requested = False
        if self._links is not None:
            LOG.info("resetting the monitor links (new ZMQ context and sockets)")
            self._links.reset()

    # --- checks -----------------------------------------------------------------------

    def select_checks(self):
        """Cheap checks every cycle; expensive ones on cycle 0, N, 2N...; relaxed ones
        every cycle while the node is not healthy, and with the expensive ones while it is."""
        c = self.config
        expensive = self.cycle % c["expensive_every"] == 0
        relaxed = not expensive and self.last_status == OK
        return [name for name in c["checks"] if expensive or not (
            name in c["expensive_checks"] or (relaxed and name in c["relaxed_checks"]))]

    def left_out(self, selected):
        """The relaxed checks this cycle did not run."""
        return [name for name in self.config["checks"] if name in self.config["relaxed_checks"]
                and name not in selected]

    def check_options(self):
        c = self.config
        options = dict((name, dict(value)) for name, value in c["check_options"].items())
        hub = options.setdefault("hub_check", {})
        hub.setdefault("timeout", c["hub_timeout"])
        hub.setdefault("attempts", c["hub_attempts"])
        options.setdefault("instance_check", {}).setdefault("start_method", c["start_method"])
        return options

    def _health_kwargs(self):
        """The probe's own pool of check threads for the shared node_health (not for an injected one)."""
        if self.health is not node_health.run_node_health:
            return {}
        if self._executor is None:
            from concurrent.futures import ThreadPoolExecutor
            # Two: the checks that wait on the network (hub_check, ping_check: first in CHECK_ORDER)
            # start at once, and the others, which take about a millisecond each, follow on
            # whichever thread is free first; so a cycle takes no longer than with one thread per
            # check. Measured side by side against four threads: ~5% less CPU per cycle (fewer
            # GIL hand-overs) and 0.4 MiB less RSS; one thread saved a little more but would
            # queue a ping of an unreachable host (seconds) behind a dead hub's timeouts.
            self._executor = ThreadPoolExecutor(max_workers=max(1, min(2, len(self.config["checks"]))),
                                                thread_name_prefix="check")
        kwargs = {"executor": self._executor}
        if self._kernel_log is None and node_health.kernel_log_users(self.config["checks"]):
            # /dev/kmsg kept open: each expensive cycle reads only the new kernel records
            follower = KmsgFollower()
            self._kernel_log = follower if follower.available else False
            if not follower.available:
                LOG.info("kernel log: %s; each check reads it for itself", follower.error)
        if self._kernel_log:
            kwargs["kernel_log"] = self._kernel_log
        return kwargs

    def run_checks(self, selected):
        options = dict((k, v) for k, v in self.check_options().items() if k in selected)
        try:
            result = self.health(checks=selected, options=options, config=self.config["imagenode_config"],
                                 **self._health_kwargs())
        except Exception as exc:  # pylint: disable=broad-except  # the probe must keep running
            LOG.error("node_health cannot run: %s", exc)
            result = {"checks": dict((name, {"status": "unknown", "summary": "node_health: %s" % exc,
                                             "evidence": {}, "cannot_run": True}) for name in selected)}
        self.results.update(result.get("checks") or {})
        checks = dict((n, r) for n, r in self.results.items() if n in self.config["checks"])
        return {"checks": checks, "status": node_health.overall_status(checks.values())}

    def _hub_heartbeat(self):
        """imagenode's own `<node>|Heartbeat` to H1 on a fresh REQ socket (LINGER 0), via hub_probe."""
        settings = load_config(self.config["imagenode_config"])
        name = config_node_name(settings, self.config["imagenode_config"]) or self.config["node"]
        hubs = hub_addresses(settings, self.config["imagenode_config"])
        return probe_hubs(hubs[:1], name, self.config["hub_timeout"], 1)

    def hub_heartbeat(self, selected):
        # hub_check already sent `<node>|Heartbeat` to every hub with a fresh REQ socket this cycle.
        if not self.config["hub_heartbeat"] or "hub_check" in selected:
            return
        try:
            self.hub_heartbeat_fn()
        except (CheckError, Exception) as exc:  # pylint: disable=broad-except
            LOG.warning("hub heartbeat not sent: %s", exc)

    # --- the ladder -------------------------------------------------------------------

    def youngest_instance(self, health):
        inst = health["checks"].get("instance_check") or {}
        ages = [item.get("age") for item in (inst.get("evidence") or {}).get("instances") or []
                if item.get("age") is not None]
        return min(ages) if ages else None

    def why_hold(self, step, health, act, debounce, probe_grace):
        grace = self.config["grace"]
        if not act:
            return "check only: would take %s" % step
        if debounce and self.streak < self.config["debounce"]:
            return "fault seen in %d of %d consecutive cycles: waiting before %s" % (
                self.streak, self.config["debounce"], step)
        age = self.clock() - self.started
        if probe_grace and age < grace:
            return "the probe started %.0f s ago (grace %.0f s): waiting before %s" % (age, grace, step)
        young = self.youngest_instance(health)
        # imagenode exits by itself when its hub stops answering (fix_comm_link) and its start method
        # starts it again, so against a dead hub it is always young. Once the hub fault has outlasted
        # the grace, that youth is a restart loop, not a start-up: failing over is the fix.
        looping = step == "hub_failover" and self.episode_since is not None \
            and self.clock() - self.episode_since >= grace
        if step in RESTARTING_STEPS and young is not None and young < grace and not looping:
            return "imagenode started %.0f s ago (grace %.0f s): not restarting it yet (%s)" % (young, grace, step)
        if step == "reboot" and self.reboot_retry_at is not None and self.clock() < self.reboot_retry_at:
            return "reboot refused by the budget; asking again in %.0f s" % (self.reboot_retry_at - self.clock())
        return None

    def decide(self, health, act=True, debounce=True, probe_grace=True):
        plan = ladder.next_step(health, done=self.done, steps=self.config["steps"], margin_db=self.config["margin_db"])
        self.hold = None
        if plan["healthy"]:
            if self.episode is not None:
                LOG.info("healthy again (fault episode since %s, steps %s)", self.episode.get("started"),
                         ", ".join(self.done) or "none")
            self.done, self.step, self.episode, self.streak = [], None, None, 0
            self.episode_since = None
            self.reboot_retry_at = None
            return plan
        self.streak += 1
        faults = "; ".join("%s: %s" % (f["layer"], f["summary"]) for f in plan["faults"])
        if self.episode is None:
            self.episode = {"started": _iso(self.wall()), "faults": [f["layer"] for f in plan["faults"]]}
            self.episode_since = self.clock()
            LOG.warning("fault: %s", faults)
        step = plan["next_step"]
        if step is None:
            self.hold = plan["stop_reason"]
            return plan
        self.hold = self.why_hold(step, health, act, debounce, probe_grace)
        if self.hold:
            LOG.info("%s", self.hold)
            return plan
        self.take(step, plan, health, faults)
        return plan

    def _extend_watchdog(self):
        if watchdog_usec(self.environ) and not self.watchdog_extended:
            budget = int((300 + 2 * self.config["wifi_timeout"]) * 1e6)
            self.notify("WATCHDOG=1\nWATCHDOG_USEC=%d" % budget, self.environ)
            self.watchdog_extended = True

    def take(self, step, plan, health, fault):
        node, log = self.config["node"], self.config["event_log"]
        self._extend_watchdog()
        if step == "reboot":
            return self.take_reboot(plan, health, fault)
        LOG.warning("taking step %s for: %s", step, fault)
        try:
            result = recovery.run_action(step, lambda: self.steps[step](self, plan, health), fault=fault,
                                         node=node, event_log=log)
            outcome = "fixed" if result.get("fixed") else ("changed" if result.get("changed") else "not fixed")
            summary = result.get("summary")
        except Exception as exc:  # pylint: disable=broad-except  # a step that cannot run is a result too
            outcome, summary = "error", "%s cannot run: %s" % (step, exc)
            LOG.error("%s", summary)
            try:
                event_log.append_event(event_log.make_record(step, outcome, fault=fault, node=node,
                                                             evidence={"summary": summary}), log)
            except (IOError, OSError) as err:
                LOG.error("cannot write the event log %s: %s", log, err)
        LOG.warning("step %s: %s: %s", step, outcome, summary)
        self.done.append(step)
        self.step = step
        self.last_action = {"action": step, "result": outcome, "time": _iso(self.wall()), "summary": summary}

    def take_reboot(self, plan, health, fault):
        evidence = {"steps_taken": list(self.done),
                    "checks": dict((n, r.get("status")) for n, r in health["checks"].items())}
        try:
            guard = recovery.run_action("reboot_guard", lambda: self.guard(self, fault, evidence), fault=fault,
                                        node=self.config["node"], event_log=self.config["event_log"])
        except Exception as exc:  # pylint: disable=broad-except
            guard = {"allowed": False, "summary": "reboot guard cannot run: %s" % exc,
                     "next_allowed_in": self.config["reboot"]["backoff_base"]}
        now = _iso(self.wall())
        if not guard.get("allowed"):
            wait = max(float(self.config["interval"]), float(guard.get("next_allowed_in") or 0))
            self.reboot_retry_at = self.clock() + wait
            LOG.error("REBOOT REFUSED for %s: %s (asking again in %.0f s)", fault, guard.get("summary"), wait)
            self.last_action = {"action": "reboot", "result": "refused", "time": now,
                                "summary": guard.get("summary"), "next_allowed_in": guard.get("next_allowed_in")}
            self.step = "reboot"
            return
        LOG.critical("REBOOT allowed by the budget: %s", guard.get("summary"))
        self.done.append("reboot")
        self.step = "reboot"
        self.last_action = {"action": "reboot", "result": "rebooting", "time": now, "summary": guard.get("summary")}
        self.pending_reboot = True

    # --- heartbeats -------------------------------------------------------------------

    def build_heartbeat(self, health):
        events = [e for e in self.event_log.events()
                  if isinstance(e, dict) and float(e.get("epoch") or 0) > self.delivered_epoch][:wire.MAX_EVENTS]
        beat = {"node": self.config["node"], "seq": self.seq, "boot_id": self.boot_id, "uptime": read_uptime(),
                "sent": round(self.wall(), 3), "interval": self.config["interval"], "status": health["status"],
                "checks": dict((n, r["status"]) for n, r in health["checks"].items()),
                "step": self.step, "last_action": self.last_action, "events": events, "queued": len(self.spool)}
        if self.hold:
            beat["hold"] = self.hold
        stripped = False
        while True:
            try:
                wire.encode(beat)
                break
            except wire.HeartbeatError:
                if not beat["events"]:
                    raise
                if not stripped:  # keep the records, drop their bulky evidence
                    beat["events"] = [dict(e, evidence={"summary": (e.get("evidence") or {}).get("summary")})
                                      for e in beat["events"]]
                    stripped = True
                else:
                    beat["events"] = beat["events"][:len(beat["events"]) // 2]
        if beat["events"]:
            # Once sent or queued on disk, the events travel with this heartbeat.
            self.delivered_epoch = max(float(e.get("epoch") or 0) for e in beat["events"])
        self.seq += 1
        return beat

    def send(self, beat):
        """Queue first (oldest first), then this heartbeat; to the spool when undelivered."""
        links = self.links
        if links is None:
            return False
        links.new_round()
        deadline = self.clock() + max(5.0, float(self.config["interval"]))
        for seq, old in self.spool.items():
            if not links.any_up() or self.clock() > deadline:
                break
            if links.deliver(old):
                self.spool.remove(seq)
                self.heartbeats_sent += 1
            else:
                break
        if not len(self.spool) and links.any_up():
            beat["queued"] = 0
            if links.deliver(beat):
                self.heartbeats_sent += 1
                self.last_ack = links.last_ack()
                return True
        try:
            self.spool.put(beat)
        except (IOError, OSError) as exc:
            # A read-only or full card: the heartbeat is lost, the probe goes
            # on (its next heartbeat, once a monitor answers, says why).
            self.spool_errors += 1
            LOG.warning("cannot queue heartbeat %d in %s: %s", beat["seq"], self.spool.directory, exc)
        self.last_ack = links.last_ack() or self.last_ack
        return False

    # --- one cycle --------------------------------------------------------------------

    def view(self, health):
        return {"node": self.config["node"], "status": health["status"], "summary": self.hold,
                "checks": dict((n, r["status"]) for n, r in health["checks"].items()),
                "step": self.step, "last_action": self.last_action, "faults": self.faults,
                "updated": self.wall(), "cycle_seconds": self.last_cycle_seconds,
                "queue_length": len(self.spool), "heartbeats_sent": self.heartbeats_sent}

    def write_outputs(self, health):
        view = self.view(health)
        try:
            self.write_state()
        except (IOError, OSError) as exc:
            LOG.warning("cannot write the state %s: %s", self.state_path, exc)
        for what, write, path in (("fact", outputs.write_facts, self.config["facts_file"]),
                                  ("textfile", outputs.write_textfile, self.config["textfile"])):
            try:
                write(path, view)
            except (IOError, OSError) as exc:
                LOG.warning("cannot write the %s %s: %s", what, path, exc)

    def write_state(self):
        """The state file: fsync'd when its durable part differs from the last one made
        durable by this process (always the first time), else only replaced atomically."""
        state = self.state()
        durable = outputs.durable_part(state)
        outputs.write_state(self.state_path, state, durable=durable != self._durable_written)
        self._durable_written = durable

    def run_cycle(self, act=True, send=True, write=True, debounce=True, probe_grace=True):
        started = self.clock()
        if self.reset_requested:
            self.reset_links()
        selected = self.select_checks()
        health = self.run_checks(selected)
        missed = self.left_out(selected) if health["status"] != OK else []
        if missed:
            # Something is wrong: the ladder must not decide on a relaxed check's result from a
            # healthy cycle (ping_check's hub host tells a dead hub program from a dead network).
            health = self.run_checks(missed)
            selected = selected + missed
        self.last_status = health["status"]
        self.hub_heartbeat(selected)
        plan = self.decide(health, act=act, debounce=debounce, probe_grace=probe_grace)
        self.faults = plan["faults"]
        beat = None
        if send:
            beat = self.build_heartbeat(health)
            self.send(beat)
        self.cycle += 1
        self.total_cycles += 1
        self.last_cycle_seconds = round(self.clock() - started, 3)
        if write:
            self.write_outputs(health)
        return {"selected": selected, "health": health, "plan": plan, "hold": self.hold, "step": self.step,
                "last_action": self.last_action, "heartbeat": beat, "cycle_seconds": self.last_cycle_seconds}

    # --- the daemon -------------------------------------------------------------------

    def _signal(self, signum, _frame):
        if signum == signal.SIGUSR1:
            self.reset_requested = True
        else:
            self.stop_requested = True
        self.wake.set()

    def install_signals(self):
        signal.signal(signal.SIGUSR1, self._signal)
        signal.signal(signal.SIGTERM, self._signal)
        signal.signal(signal.SIGINT, self._signal)

    def run(self, max_cycles=None):
        self.install_signals()
        original = watchdog_usec(self.environ)
        LOG.info("imagenode-probe for %s: every %s s, %d monitor(s)", self.config["node"], self.config["interval"],
                 len(self.config["monitors"]))
        self.notify("READY=1\nSTATUS=checking", self.environ)
        next_due = self.clock()
        done = 0
        while not self.stop_requested and (max_cycles is None or done < max_cycles):
            now = self.clock()
            if now < next_due:
                self.wake.wait(next_due - now)
                self.wake.clear()
                if self.reset_requested:
                    self.reset_links()
                continue
            try:
                report = self.run_cycle()
            except Exception:  # pylint: disable=broad-except  # no WATCHDOG=1: systemd restarts a probe stuck failing
                LOG.exception("cycle failed")
            else:
                message = "WATCHDOG=1\nSTATUS=%s%s" % (report["health"]["status"],
                                                       ", step %s" % report["step"] if report["step"] else "")
                if self.watchdog_extended and original:
                    message += "\nWATCHDOG_USEC=%d" % original
                    self.watchdog_extended = False
                self.notify(message, self.environ)
                if self.pending_reboot:
                    self.pending_reboot = False
                    self.reboot(self)
            done += 1
            if done == 1:
                # Start-up is done. No malloc_trim here: importing ctypes for it kept more
                # resident (0.3 MiB, measured side by side) than the trim gave back.
                gc.collect()
                gc.freeze()  # the start-up's objects: never garbage, no longer scanned every collection
            next_due += self.config["interval"]
            if next_due < self.clock():
                next_due = self.clock()
        self.notify("STOPPING=1", self.environ)
        if self._executor is not None:
            self._executor.shutdown(wait=False)
        if self._kernel_log:
            self._kernel_log.close()
        if self._links is not None:
            self._links.close()
