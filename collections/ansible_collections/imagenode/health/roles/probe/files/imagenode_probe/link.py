# Copyright (c) 2026 imagenode-health contributors
# SPDX-License-Identifier: BSD-2-Clause
"""Heartbeats to the monitors: one CURVE DEALER socket per monitor, ACK per heartbeat.

A heartbeat is delivered when a monitor ACKs its seq within ack_timeout. A
missed ACK means the socket may be stuck (or the monitor refused our key,
which ZeroMQ does not report): the socket is replaced by a new one, and the
monitor is not asked again in the same round, so a dead monitor costs one
timeout per cycle, not one per queued heartbeat.
"""

import logging
import time

from imagenode_health_core import curve_keys
from imagenode_health_core import heartbeat as wire

try:
    import zmq
except ImportError:  # python3-zmq
    zmq = None

LOG = logging.getLogger("imagenode_probe.link")


class KeyError_(ValueError):
    """A key file the probe cannot use."""


def _read_keys(path):
    """(public, secret or None) as bytes: the shared core's certificate reader
    (not zmq.auth's, whose import costs the probe about 1.3 MiB)."""
    public, secret = curve_keys.read_certificate(path)
    return public.encode("ascii"), (secret.encode("ascii") if secret else None)


def load_keys(client_key, server_key):
    """(client public, client secret, server public) from zmq.auth certificate files."""
    try:
        public, secret = _read_keys(client_key)
    except (IOError, OSError, ValueError) as exc:
        raise KeyError_("client_key %s: %s" % (client_key, exc))
    if not secret:
        raise KeyError_("client_key %s holds no secret key (give the .key_secret file)" % client_key)
    try:
        server_public, _unused = _read_keys(server_key)
    except (IOError, OSError, ValueError) as exc:
        raise KeyError_("server_key %s: %s" % (server_key, exc))
    return public, secret, server_public


class MonitorLink(object):
    """One monitor: address, keys, and the current DEALER socket."""

    def __init__(self, context, address, client_key, server_key, ack_timeout=2.0):
        self.context = context
        self.address = address
        self.client_key = client_key
        self.server_key = server_key
        self.ack_timeout = ack_timeout
        self.socket = None
        self.down = False            # missed an ACK in this round
        self.last_ack = None         # {"seq", "time"}
        self.error = None

    def _open(self):
        public, secret, server = load_keys(self.client_key, self.server_key)
        sock = self.context.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.SNDHWM, 100)
        sock.curve_publickey = public
        sock.curve_secretkey = secret
        sock.curve_serverkey = server
        sock.connect(self.address)
        self.socket = sock

    def close(self):
        if self.socket is not None:
            self.socket.close(linger=0)
            self.socket = None

    def reset(self, context=None):
        self.close()
        if context is not None:
            self.context = context
        self.down = False

    def send(self, frames, seq):
        """True when the monitor ACKs seq in time; the socket is replaced otherwise."""
        try:
            if self.socket is None:
                self._open()
            self.socket.send_multipart(frames, flags=zmq.NOBLOCK)
        except KeyError_ as exc:
            self.error, self.down = str(exc), True
            return False
        except zmq.ZMQError as exc:
            self.error, self.down = "send: %s" % exc, True
            self.close()
            return False
        deadline = time.monotonic() + self.ack_timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self.socket.poll(max(1, int(remaining * 1000)), zmq.POLLIN):
                break
            try:
                reply = self.socket.recv_multipart(flags=zmq.NOBLOCK)
            except zmq.Again:
                continue
            acked = wire.parse_ack(reply)
            if acked == seq:
                self.error, self.down = None, False
                self.last_ack = {"seq": seq, "time": time.time(), "monitor": self.address}
                return True
            # an ACK for an older seq, or noise: keep waiting for ours
        self.error = "no ACK for seq %d within %.1f s" % (seq, self.ack_timeout)
        self.down = True
        self.close()  # a stuck DEALER is replaced, never reused
        return False


class Links(object):
    """All monitors of the probe; `deliver` is true when any monitor ACKs."""

    def __init__(self, monitors, client_key, ack_timeout=2.0):
        self.monitors = monitors
        self.client_key = client_key
        self.ack_timeout = ack_timeout
        self.context = None
        self.links = []
        self.reset()

    def reset(self):
        """New context and sockets (SIGUSR1, zmq_reset's contract)."""
        for link in self.links:
            link.close()
        if self.context is not None:
            self.context.term()
        self.context = zmq.Context() if zmq is not None and self.monitors else None
        self.links = [MonitorLink(self.context, m["address"], self.client_key, m["server_key"], self.ack_timeout)
                      for m in self.monitors]

    def new_round(self):
        for link in self.links:
            link.down = False

    def any_up(self):
        return any(not link.down for link in self.links)

    def deliver(self, heartbeat):
        """Send to every monitor not down this round; True if one ACKed."""
        frames = wire.encode(heartbeat)
        delivered = False
        for link in self.links:
            if link.down:
                continue
            if link.send(frames, heartbeat["seq"]):
                delivered = True
            else:
                LOG.warning("monitor %s: %s", link.address, link.error)
        return delivered

    def last_ack(self):
        acks = [link.last_ack for link in self.links if link.last_ack]
        return max(acks, key=lambda ack: ack["time"]) if acks else None

    def close(self):
        for link in self.links:
            link.close()
        if self.context is not None:
            self.context.term()
            self.context = None
