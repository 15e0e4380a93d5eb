# Copyright (c) 2026 imagenode-health contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""An in-process REP socket that behaves like a healthy, broken or slow hub."""

import socket
import threading
import time

import zmq


def free_port():
    """A loopback TCP port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class FakeHub(object):
    """Answers each request with `reply` after `delay` seconds, recording what came."""

    def __init__(self, reply=b"OK", delay=0.0):
        self.reply, self.delay = reply, delay
        self.received = []
        self.port = free_port()
        self.address = "tcp://127.0.0.1:%d" % self.port
        self._stop = threading.Event()
        self._context = zmq.Context()
        self._socket = self._context.socket(zmq.REP)
        self._socket.setsockopt(zmq.LINGER, 0)
        self._socket.bind(self.address)
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self):
        while not self._stop.is_set():
            if not self._socket.poll(50):
                continue
            self.received.append(self._socket.recv_multipart())
            time.sleep(self.delay)
            self._socket.send(self.reply)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(5)
        self._socket.close(linger=0)
        self._context.term()
