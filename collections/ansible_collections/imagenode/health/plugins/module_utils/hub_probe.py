# Copyright (c) 2026 imagenode-health contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""Does each hub answer an imagezmq request in time? (the hub_check core)

Every attempt uses a fresh REQ socket with LINGER 0 ("Lazy Pirate"): after one
missed reply a REQ socket is stuck for good, and a socket with the default
LINGER makes close() hang. All hubs are asked at once, on one poller, so the
whole check is bounded by timeout x attempts however many hubs are dead.

A ZMQ socket monitor tells how far each attempt got, which is what an
operator needs to know next: no TCP connection (host or link down), refused
(host up, nothing on the port), or connected but silent (hub program hung).
"""

import itertools
import math
import os
import struct
import threading
import time

from .check_result import CheckError, FAIL, OK, WARN, Stopwatch, make_result
from .imagezmq_wire import HUB_REPLY_OK, encode_text_message, heartbeat_text, parse_hub_address

try:
    import zmq
    ZMQ_IMPORT_ERROR = None
except ImportError as exc:  # pyzmq is python3-zmq on Debian and Pi OS
    zmq = None
    ZMQ_IMPORT_ERROR = exc

# A socket monitor's first frame: the event (uint16) and its value (uint32), native order.
# Unpacked here rather than with zmq.utils.monitor, which in pyzmq 27 imports asyncio
# and ssl: about 3 MiB of resident memory for the probe, which runs this every cycle.
_MONITOR_EVENT = struct.Struct("=HI")


def monitor_event(frames):
    """The event number of a socket monitor message (its frames)."""
    return _MONITOR_EVENT.unpack(frames[0][:_MONITOR_EVENT.size])[0]


# How far the TCP side of an attempt got, from the socket monitor's events.
TCP_NOT_TRIED = "not tried"
TCP_PENDING = "no answer from host"
TCP_REFUSED = "refused or unreachable"
TCP_CONNECTED = "connected"


# One context per process, kept from call to call: a context starts an I/O thread and a
# reaper, which cost the probe more CPU each cycle (about 0.6 ms) than asking the hubs.
# The sockets are still fresh for every attempt. A forked child makes its own.
_CONTEXT = {"pid": None, "context": None}
_CONTEXT_LOCK = threading.Lock()
# Monitor endpoints named by a counter: pyzmq's default name is the socket's file
# descriptor, which the next attempt's socket may reuse before the old monitor is gone.
_MONITOR_NUMBERS = itertools.count()


def shared_context():
    """This process's zmq context for hub probes."""
    with _CONTEXT_LOCK:
        if _CONTEXT["pid"] != os.getpid() or _CONTEXT["context"] is None or _CONTEXT["context"].closed:
            _CONTEXT["context"] = zmq.Context()
            _CONTEXT["pid"] = os.getpid()
        return _CONTEXT["context"]


class _Attempt(object):
    """One REQ socket (and its monitor) for one hub in one round."""

    def __init__(self, context, address, frames):
        self.socket = context.socket(zmq.REQ)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.monitor = None
        self.tcp = TCP_PENDING
        try:
            self.monitor = self.socket.get_monitor_socket(
                addr="inproc://imagenode-health.hub-probe.%d.%d" % (os.getpid(), next(_MONITOR_NUMBERS)))
            self.monitor.setsockopt(zmq.LINGER, 0)
            self.socket.connect(address)
            self.sent_at = time.monotonic()
            # A REQ socket queues the request until it connects: send does not block.
            self.socket.send_multipart(frames, flags=zmq.NOBLOCK)
        except zmq.ZMQError:
            self.close()  # a kept context must not keep this attempt's sockets
            raise

    def read_monitor(self):
        while self.monitor.poll(0):
            event = monitor_event(self.monitor.recv_multipart(zmq.NOBLOCK))
            if event in (zmq.EVENT_CONNECTED, zmq.EVENT_HANDSHAKE_SUCCEEDED):
                self.tcp = TCP_CONNECTED
            elif event == zmq.EVENT_CONNECT_RETRIED and self.tcp != TCP_CONNECTED:
                self.tcp = TCP_REFUSED

    def close(self):
        if self.monitor is not None:
            try:
                self.socket.disable_monitor()
            except zmq.ZMQError:
                pass
            self.monitor.close(linger=0)
        self.socket.close(linger=0)


def _round(context, pending, frames, timeout):
    """One attempt at every pending hub; fills in the ones that answered."""
    attempts = {}
    poller = zmq.Poller()
    for hub in pending:
        hub["attempts"] += 1
        try:
            attempt = _Attempt(context, hub["address"], frames)
        except zmq.ZMQError as exc:
            hub["error"] = "cannot connect: %s" % exc
            continue
        attempts[attempt.socket] = (hub, attempt)
        poller.register(attempt.socket, zmq.POLLIN)
    try:
        waiting = _await_replies(poller, attempts, timeout)
        for sock, (hub, attempt) in attempts.items():
            attempt.read_monitor()
            hub["tcp"] = attempt.tcp
            if sock in waiting:
                hub["error"] = "no reply within %.1f s (TCP: %s)" % (timeout, attempt.tcp)
    finally:
        # the context is kept: every socket of this round is closed here, whatever happened
        for _hub, attempt in attempts.values():
            attempt.close()


def _await_replies(poller, attempts, timeout):
    """Poll until every attempt has a reply or the timeout; the sockets still waiting."""
    deadline = time.monotonic() + timeout
    waiting = set(attempts)
    while waiting:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        for sock, _event in poller.poll(max(1, int(remaining * 1000))):
            hub, attempt = attempts[sock]
            reply = sock.recv_multipart(flags=zmq.NOBLOCK)
            waiting.discard(sock)
            poller.unregister(sock)
            hub["rtt_ms"] = round((time.monotonic() - attempt.sent_at) * 1000.0, 2)
            if reply == [HUB_REPLY_OK]:
                hub["ok"], hub["error"] = True, None
            else:
                hub["error"] = "unexpected reply %r (imagezmq hubs answer b'OK')" % (b"|".join(reply)[:64],)
    return waiting


def probe_hubs(addresses, node_name, timeout=2.0, attempts=2):
    """Ask every hub once per round, up to `attempts` rounds; per-hub evidence.

    Returns a list of dicts (address, ok, rtt_ms, error, attempts, tcp) in the
    order given. Raises CheckError for arguments it cannot use.
    """
    if zmq is None:
        raise CheckError("checking hubs needs pyzmq (python3-zmq): %s" % ZMQ_IMPORT_ERROR)
    if not addresses:
        raise CheckError("hubs must name at least one hub")
    if math.isnan(timeout) or timeout <= 0:
        raise CheckError("timeout must be more than 0 seconds, not %r" % (timeout,))
    if attempts < 1:
        raise CheckError("attempts must be at least 1, not %r" % (attempts,))
    for address in addresses:
        parse_hub_address(address)
    frames = encode_text_message(heartbeat_text(node_name))
    hubs = [{"address": a.strip(), "ok": False, "rtt_ms": None, "error": None,
             "attempts": 0, "tcp": TCP_NOT_TRIED} for a in addresses]
    context = shared_context()
    for _round_number in range(attempts):
        pending = [hub for hub in hubs if not hub["ok"]]
        if not pending:
            break
        _round(context, pending, frames, timeout)
    return hubs


def _describe(hub):
    if hub["ok"]:
        return "%s answers in %.1f ms" % (hub["address"], hub["rtt_ms"])
    return "%s does not answer (%s)" % (hub["address"], hub["error"])


def check_hubs(addresses, node_name, timeout=2.0, attempts=2):
    """The hub_check result. The first hub is the one imagenode sends to."""
    stopwatch = Stopwatch()
    hubs = probe_hubs(addresses, node_name, timeout, attempts)
    primary, alternates = hubs[0], hubs[1:]
    healthy = [hub["address"] for hub in hubs if hub["ok"]]
    down = [hub for hub in hubs if not hub["ok"]]
    if not down:
        status, summary = OK, "all %d hub(s) answer: %s" % (len(hubs), "; ".join(_describe(h) for h in hubs))
    elif primary["ok"]:
        status = WARN
        summary = "primary hub %s; alternate %s" % (_describe(primary), "; ".join(_describe(h) for h in down))
    elif healthy:
        status = FAIL
        summary = "primary hub %s; alternate %s answers, so a failover is possible" % (_describe(primary), healthy[0])
    else:
        status = FAIL
        summary = "no hub answers: %s" % "; ".join(_describe(h) for h in hubs)
    evidence = {"node_name": node_name, "timeout": timeout, "attempts": attempts, "hubs": hubs}
    return make_result(status, summary, evidence, stopwatch,
                       healthy_hub=healthy[0] if healthy else None,
                       primary_hub=primary["address"],
                       alternates_ok=[h["address"] for h in alternates if h["ok"]])
