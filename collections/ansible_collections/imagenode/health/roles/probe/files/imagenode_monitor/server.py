# Copyright (c) 2026 imagenode-health contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""The monitor's loop: a CURVE ROUTER for heartbeats, its own ZAP handler
(in the same thread, so every refused key is counted), the socket monitor
(handshake failures), an HTTP thread for /metrics and /state.json, the state
file and the live table.

Every message is handled under a guard: input never ends the loop."""

import glob
import os
import shutil
import signal
import sys
import threading
import time

try:
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
except ImportError:  # pragma: no cover - Python < 3.7
    from http.server import BaseHTTPRequestHandler, HTTPServer as ThreadingHTTPServer

import zmq
import zmq.utils.z85  # the ZAP handler turns the client key it is given into the allow list's Z85
from zmq.utils.monitor import parse_monitor_message

from imagenode_health_core import atomic_file, curve_keys
from imagenode_health_core import heartbeat as hb

from .fleet import Fleet, metrics_text, table_text

ZAP_ENDPOINT = "inproc://zeromq.zap.01"
SERVER_KEY = "monitor.key_secret"
# The socket's own limit: a frame above it closes the connection inside
# libzmq (it cannot be counted per message). Frames between MAX_BYTES and
# this are received and counted as "oversized".
SOCKET_MAXMSGSIZE = 2 * hb.MAX_BYTES
HWM = 100000
BATCH = 2000
SAVE_EVERY = 1.0
# Saving the state takes time in proportion to the fleet: the pause between
# saves grows so that saving never takes more than 1/SAVE_SHARE of the loop.
SAVE_SHARE = 20
KEYS_RELOAD_EVERY = 2.0
_NOBLOCK = int(zmq.NOBLOCK)
_SNDMORE_NOBLOCK = int(zmq.NOBLOCK | zmq.SNDMORE)
# Pending connections the kernel holds for the ROUTER: after a monitor
# restart a whole fleet reconnects at once (libzmq's default is 100).
BACKLOG = 4096


def load_client_keys(clients_dir):
    """{z85 public key (bytes): name} for every DIR/clients/*.key."""
    keys = {}
    for path in sorted(glob.glob(os.path.join(clients_dir, "*.key"))):
        try:
            public, _unused = curve_keys.read_certificate(path)
        except (IOError, OSError, curve_keys.KeyFileError):
            continue  # one unreadable file must not lock the rest of the fleet out
        keys[public.encode("ascii")] = os.path.splitext(os.path.basename(path))[0]
    return keys


def create_keys(directory, name, authorize=False):
    """A CURVE pair DIR/NAME.key and DIR/NAME.key_secret (0600), kept when it exists
    (the same code as the curve_keypair module). authorize also puts the public
    key in DIR/clients/NAME.key: the monitor's allow list, where the file's
    name is the node the key may speak for."""
    made = curve_keys.ensure_keypair(directory, name)
    result = {"public": made["public_file"], "secret": made["secret_file"], "public_key": made["public_key"],
              "action": made["action"]}
    if authorize:
        target = os.path.join(directory, "clients", name + curve_keys.PUBLIC_SUFFIX)
        atomic_file.atomic_write(target, curve_keys.certificate_text(name, made["public_key"]), mode=0o644)
        result["authorized"] = target
    return result


class _Handler(BaseHTTPRequestHandler):
    server_version = "imagenode-monitor"
    monitor = None  # set on a subclass per server

    def log_message(self, fmt, *args):  # quiet: a scrape every 15 s is not news
        pass

    def _send(self, code, ctype, body):
        data = body.encode("utf-8")
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        try:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._send(200, "text/plain; version=0.0.4; charset=utf-8", metrics_text(self.monitor.snapshot(full=False)))
            elif path == "/state.json":
                self._send(200, "application/json", self.monitor.state_json())
            elif path in ("/", "/healthz"):
                self._send(200, "text/plain; charset=utf-8", "imagenode-monitor ok\n")
            else:
                self._send(404, "text/plain; charset=utf-8", "not found\n")
        except Exception as exc:  # a scrape must never take the monitor down
            try:
                self._send(500, "text/plain; charset=utf-8", "error: %s\n" % exc)
            except Exception:
                pass


class Monitor(object):
    """One monitor: call start() then loop() (or run())."""

    def __init__(self, bind="tcp://*:5556", keys_dir="/etc/imagenode-health/keys",
                 state_path="/var/lib/imagenode-monitor/state.json", silent_after=3,
                 metrics_port=9108, metrics_bind="127.0.0.1", live=False, curve=True,
                 max_nodes=100000, out=None, names="key"):
        self.bind = bind
        # "key": a heartbeat must name the node its key was issued to (the
        # key file's name in clients/), so one stolen node key cannot speak
        # for the fleet. "any": a key may report any node name.
        self.names = names
        self.keys_dir = keys_dir
        self.state_path = state_path
        self.curve = curve
        self.live = live
        self.metrics_port = metrics_port
        self.metrics_bind = metrics_bind
        self.fleet = Fleet(silent_after=silent_after, max_nodes=max_nodes)
        self.lock = threading.Lock()
        self.running = False
        self.out = out or sys.stdout
        self.clients = {}
        self.clients_stamp = None
        self.ctx = None
        self.router = self.zap = self.events = None
        self.httpd = None
        self.http_thread = None
        self._save_iter = self._save_pieces = self._writer = None
        self._save_cost = 0.0

    # --- set up ----------------------------------------------------------
    def start(self):
        if self.state_path:
            self.fleet.load(self.state_path)
        self.ctx = zmq.Context()
        router = self.ctx.socket(zmq.ROUTER)
        router.setsockopt(zmq.LINGER, 0)
        router.setsockopt(zmq.BACKLOG, BACKLOG)
        router.setsockopt(zmq.MAXMSGSIZE, SOCKET_MAXMSGSIZE)
        router.setsockopt(zmq.RCVHWM, HWM)
        router.setsockopt(zmq.SNDHWM, HWM)
        if self.curve:
            secret_file = os.path.join(self.keys_dir, SERVER_KEY)
            public, secret = curve_keys.read_certificate(secret_file)
            if not secret:
                raise curve_keys.KeyFileError("%s holds no secret key" % secret_file)
            self._reload_clients(force=True)
            self.zap = self.ctx.socket(zmq.REP)
            self.zap.setsockopt(zmq.LINGER, 0)
            self.zap.bind(ZAP_ENDPOINT)
            router.curve_secretkey = secret.encode("ascii")
            router.curve_publickey = public.encode("ascii")
            router.curve_server = True
            router.zap_domain = b"imagenode-health"
        self.events = router.get_monitor_socket(zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
                                                | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
                                                | zmq.EVENT_HANDSHAKE_FAILED_AUTH)
        router.bind(self.bind)
        self.router = router
        if self.metrics_port is not None:
            handler = type("Handler", (_Handler,), {"monitor": self})
            self.httpd = ThreadingHTTPServer((self.metrics_bind, self.metrics_port), handler)
            self.httpd.daemon_threads = True
            self.http_thread = threading.Thread(target=self.httpd.serve_forever, name="imagenode-monitor-http")
            self.http_thread.daemon = True
            self.http_thread.start()
        self.running = True
        return self

    def endpoint(self):
        return self.router.getsockopt(zmq.LAST_ENDPOINT).decode()

    def http_port(self):
        return self.httpd.server_address[1] if self.httpd else None

    def snapshot(self, full=True):
        with self.lock:
            return self.fleet.snapshot(full=full)

    # --- ZAP: our own handler, so refused keys are counted -----------------
    def _reload_clients(self, force=False):
        clients_dir = os.path.join(self.keys_dir, "clients")
        # The directory's own times change when a key is added, removed or
        # replaced (the probe role writes by rename), so a big allow list is
        # not listed and stat'ed every 2 s. A key edited in place: SIGHUP.
        try:
            info = os.stat(clients_dir)
            stamp = (info.st_mtime_ns, info.st_ctime_ns, info.st_ino)
        except OSError:
            stamp = None
        if force or stamp != self.clients_stamp:
            self.clients = load_client_keys(clients_dir)
            self.clients_stamp = stamp

    def _handle_zap(self):
        for _count in range(BATCH):
            try:
                request = self.zap.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            try:
                version, request_id, _domain, address, _identity, mechanism = request[:6]
                credentials = request[6:]
                name = None
                if mechanism == b"CURVE" and len(credentials) == 1 and len(credentials[0]) == 32:
                    name = self.clients.get(zmq.utils.z85.encode(credentials[0]))
                if name is not None:
                    reply = [version, request_id, b"200", b"OK", name.encode("utf-8"), b""]
                else:
                    with self.lock:
                        self.fleet.drop("unauthenticated", "refused key from %s" % address.decode("ascii", "replace"))
                    reply = [version, request_id, b"400", b"unknown key", b"", b""]
            except Exception:
                reply = [b"1.0", request[1] if len(request) > 1 else b"", b"500", b"internal", b"", b""]
            self.zap.send_multipart(reply)

    def _handle_events(self):
        for _count in range(BATCH):
            try:
                frames = self.events.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            try:
                event = parse_monitor_message(frames)
            except Exception:
                continue
            # FAILED_AUTH follows a ZAP refusal, which is already counted
            if event["event"] in (zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL, zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL):
                with self.lock:
                    self.fleet.drop("handshake", "handshake failed from %s" % event.get("endpoint", b"?"))

    # --- heartbeats --------------------------------------------------------
    def _classify(self, frames):
        """(heartbeat, None) or (None, reason)."""
        if len(frames) != 2:
            return None, "frames"
        if frames[0] != hb.MAGIC:
            return None, "magic"
        if len(frames[1]) > hb.MAX_BYTES:
            return None, "oversized"
        try:
            return hb.decode(frames), None
        except hb.HeartbeatError as exc:
            return None, ("json" if str(exc).startswith("not UTF-8 JSON") else "schema")
        except RecursionError:  # deeply nested JSON
            return None, "json"

    def _handle_router(self):
        # The hot path: at 10,000 nodes a second every microsecond here is 1%
        # of a core. pyzmq's recv_multipart/send_multipart and its flag enums
        # cost more than the few socket calls they wrap, so they are spelled
        # out with plain int flags.
        recv = self.router.recv
        fleet = self.fleet
        clock = time.time
        mono = time.monotonic
        acks = []
        with self.lock:
            bound = self.curve and self.names == "key"
            for _count in range(BATCH):
                try:
                    frames = [recv(_NOBLOCK, copy=False)]
                except zmq.Again:
                    break
                # the rest of a message is there once its first frame is
                while frames[-1].more:
                    frames.append(recv(_NOBLOCK, copy=False))
                try:
                    beat, reason = self._classify([frame.bytes for frame in frames[1:]])
                    if reason is not None:
                        fleet.drop(reason)
                        continue
                    if bound:
                        # the ZAP handler's reply named the key: libzmq hands it back per message
                        owner = frames[1].get("User-Id")
                        if owner != beat["node"]:
                            fleet.drop("name_mismatch", "key %s sent a heartbeat as %s" % (owner, beat["node"]))
                            continue
                    if fleet.ingest(beat, clock(), mono()) is None:
                        continue
                    acks.append((frames[0].bytes, str(beat["seq"]).encode("ascii")))
                except Exception as exc:  # the guard: count it, keep going
                    fleet.drop("internal", repr(exc))
        send = self.router.send
        ack = hb.ACK
        for identity, seq in acks:
            try:
                # [identity, ACK, seq]; a ROUTER drops what it cannot deliver
                send(identity, _SNDMORE_NOBLOCK)
                send(ack, _SNDMORE_NOBLOCK)
                send(seq, _NOBLOCK)
            except zmq.ZMQError:
                pass

    # --- periodic ----------------------------------------------------------
    def save(self):
        """Write the state file now, in full (at the end, and in tests)."""
        if not self.state_path:
            return
        self._wait_writer()
        with self.lock:
            self.fleet.dirty = False
            text = "".join(self.fleet.iter_json())
        atomic_file.atomic_write(self.state_path, text + "\n")

    # A save in the loop: one piece of the fleet's JSON per turn of the loop
    # (Fleet.iter_json), then the file is written and fsync'ed by a thread, so
    # neither the serializing nor the disk ever holds up heartbeats for long.
    # The loop is the only writer of the fleet, so its pieces need no lock.
    def _save_begin(self):
        self.fleet.dirty = False
        self._save_pieces = []
        self._save_iter = self.fleet.iter_json()
        self._save_cost = 0.0

    def _save_step(self):
        """Serialize the next piece; True when the save is handed to the writer."""
        started = time.monotonic()
        try:
            self._save_pieces.append(next(self._save_iter))
            return False
        except StopIteration:
            text = "".join(self._save_pieces) + "\n"
            self._save_iter = self._save_pieces = None
            self._writer = threading.Thread(target=self._write_state, args=(text,), name="imagenode-monitor-save")
            self._writer.daemon = True
            self._writer.start()
            return True
        finally:
            self._save_cost += time.monotonic() - started

    def _write_state(self, text):
        try:
            atomic_file.atomic_write(self.state_path, text)
        except Exception as exc:
            with self.lock:
                self.fleet.dirty = True
                self.fleet.monitor_events.append({"time": time.time(), "event": "save_failed", "detail": str(exc)[:200]})

    def _wait_writer(self):
        if self._writer is not None:
            self._writer.join()
            self._writer = None

    def saving(self):
        return self._save_iter is not None or (self._writer is not None and self._writer.is_alive())

    def state_json(self):
        """/state.json: the same pieces, the lock taken per piece, so a scrape
        of a big fleet does not stop the loop for the whole walk."""
        pieces = self.fleet.iter_json()
        out = []
        while True:
            with self.lock:
                try:
                    out.append(next(pieces))
                except StopIteration:
                    return "".join(out)

    def _draw(self):
        snap = self.snapshot(full=False)
        try:
            rows = shutil.get_terminal_size((100, 40)).lines - 3
        except Exception:
            rows = 40
        text = table_text(snap, colour=True, max_rows=max(5, rows))
        self.out.write("\x1b[H\x1b[2J" + time.strftime("imagenode-monitor  %Y-%m-%d %H:%M:%S  ") + self.bind + "\n" + text)
        self.out.flush()

    def loop(self, until=None):
        poller = zmq.Poller()
        poller.register(self.router, zmq.POLLIN)
        poller.register(self.events, zmq.POLLIN)
        if self.zap is not None:
            poller.register(self.zap, zmq.POLLIN)
        next_save = time.monotonic() + SAVE_EVERY
        next_keys = time.monotonic() + KEYS_RELOAD_EVERY
        next_draw = time.monotonic()
        while self.running and (until is None or not until()):
            try:
                # a save under way goes on at once when there is nothing to read
                ready = dict(poller.poll(0 if self._save_iter is not None else 100))
            except zmq.ZMQError as exc:
                if exc.errno == getattr(zmq, "EINTR", 4):
                    continue
                raise
            except KeyboardInterrupt:
                break
            if self.zap is not None and self.zap in ready:
                self._handle_zap()
            if self.events in ready:
                self._handle_events()
            if self.router in ready:
                self._handle_router()
            now = time.monotonic()
            if self._save_iter is not None:
                try:
                    if self._save_step():
                        next_save = now + max(SAVE_EVERY, SAVE_SHARE * self._save_cost)
                except Exception as exc:  # a save that fails must not end the loop
                    self._save_iter = self._save_pieces = None
                    next_save = now + SAVE_EVERY
                    with self.lock:
                        self.fleet.dirty = True
                        self.fleet.monitor_events.append({"time": time.time(), "event": "save_failed", "detail": str(exc)[:200]})
            elif now >= next_save and self.fleet.dirty and self.state_path and not self.saving():
                self._save_begin()
            if self.zap is not None and now >= next_keys:
                next_keys = now + KEYS_RELOAD_EVERY
                self._reload_clients()
            if self.live and now >= next_draw:
                next_draw = now + 1.0
                self._draw()

    def stop(self):
        self.running = False

    def close(self):
        """Persist and release everything (call after loop() returns)."""
        try:
            self.save()
        finally:
            if self.httpd is not None:
                self.httpd.shutdown()
                self.httpd.server_close()
            if self.router is not None:
                try:
                    self.router.disable_monitor()
                except zmq.ZMQError:
                    pass
            for sock in (self.events, self.router, self.zap):
                if sock is not None:
                    sock.close(0)
            if self.ctx is not None:
                self.ctx.term()

    def run(self):
        def stop(_signum, _frame):
            self.running = False
        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        if hasattr(signal, "SIGHUP"):
            signal.signal(signal.SIGHUP, lambda *_: self._reload_clients(force=True))
        self.start()
        sys.stderr.write("imagenode-monitor: heartbeats on %s, http on %s:%s, %d client keys, %d nodes from %s\n"
                         % (self.endpoint(), self.metrics_bind, self.http_port(), len(self.clients),
                            len(self.fleet.nodes), self.state_path))
        sys.stderr.flush()
        try:
            self.loop()
        finally:
            self.close()
        return 0
