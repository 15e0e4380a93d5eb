"""Heartbeats over CURVE to a real loopback ROUTER; the bounded on-disk queue and its in-order replay."""

import os
import shutil
import threading

import pytest
import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator

from .conftest import FakeClock, FakeHealth, checks_healthy

from imagenode_health_core import heartbeat as wire
from imagenode_probe.daemon import Probe
from imagenode_probe.spool import Spool


class Monitor(object):
    """A minimal heartbeat monitor: CURVE ROUTER + ZAP, ACKs every valid heartbeat."""

    def __init__(self, keys, port=None):
        self.keys = keys
        self.port = port
        self.received = []
        self.thread = None

    def start(self):
        self.stop_event = threading.Event()
        self.ready = threading.Event()
        self.context = zmq.Context()
        self.auth = ThreadAuthenticator(self.context)
        self.auth.start()
        self.auth.allow("127.0.0.1")
        self.auth.configure_curve(domain="*", location=self.keys["allowed"])
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()
        assert self.ready.wait(5)
        return self

    def _serve(self):
        sock = self.context.socket(zmq.ROUTER)
        sock.setsockopt(zmq.LINGER, 0)
        public, secret = zmq.auth.load_certificate(self.keys["server_secret"])
        sock.curve_secretkey, sock.curve_publickey, sock.curve_server = secret, public, True
        if self.port:
            sock.bind("tcp://127.0.0.1:%d" % self.port)
        else:
            self.port = sock.bind_to_random_port("tcp://127.0.0.1")
        self.ready.set()
        while not self.stop_event.is_set():
            if sock.poll(50):
                identity, *frames = sock.recv_multipart()
                beat = wire.decode(frames)
                self.received.append(beat["seq"])
                sock.send_multipart([identity] + wire.ack(beat["seq"]))
        sock.close(linger=0)

    def stop(self):
        self.stop_event.set()
        self.thread.join(5)
        self.auth.stop()
        self.context.term()


@pytest.fixture
def keys(tmp_path):
    base = tmp_path / "keys"
    for name in ("server", "client", "allowed", "stranger"):
        (base / name).mkdir(parents=True)
    server_public, server_secret = zmq.auth.create_certificates(str(base / "server"), "server")
    client_public, client_secret = zmq.auth.create_certificates(str(base / "client"), "client")
    _pub, stranger_secret = zmq.auth.create_certificates(str(base / "stranger"), "stranger")
    shutil.copy(client_public, str(base / "allowed"))
    return {"server_public": server_public, "server_secret": server_secret, "client_secret": client_secret,
            "stranger_secret": stranger_secret, "allowed": str(base / "allowed")}


def make_probe(make_config, keys, port, client="client_secret", **extra):
    config = make_config(monitors=[{"address": "tcp://127.0.0.1:%d" % port, "server_key": keys["server_public"]}],
                         client_key=keys[client], ack_timeout=0.3, **extra)
    return Probe(config, health=FakeHealth(checks_healthy), clock=FakeClock(), boot_id="boot")


def test_outage_is_replayed_in_seq_order(make_config, keys):
    monitor = Monitor(keys).start()
    probe = make_probe(make_config, keys, monitor.port)
    try:
        for _ in range(2):
            probe.run_cycle()
        assert monitor.received == [0, 1] and len(probe.spool) == 0
        monitor.stop()
        for _ in range(3):  # the ROUTER is gone: these wait on disk
            probe.run_cycle()
        assert probe.spool.seqs() == [2, 3, 4]
        state = probe.state()
        assert state["queue_length"] == 3 and state["heartbeats_sent"] == 2
        back = Monitor(keys, port=monitor.port).start()
        try:
            report = probe.run_cycle()
            assert back.received == [2, 3, 4, 5]  # oldest first, then the new one
            assert report["heartbeat"]["seq"] == 5 and len(probe.spool) == 0
            assert probe.heartbeats_sent == 6 and probe.last_ack["seq"] == 5
        finally:
            back.stop()
    finally:
        if probe._links is not None:
            probe._links.close()


def test_seq_survives_a_restart(make_config, keys):
    monitor = Monitor(keys).start()
    try:
        probe = make_probe(make_config, keys, monitor.port)
        probe.run_cycle()
        probe._links.close()
        again = make_probe(make_config, keys, monitor.port)
        again.run_cycle()
        again._links.close()
        assert monitor.received[0] == 0 and monitor.received[1] > 0
    finally:
        monitor.stop()


def test_unknown_client_key_gets_no_ack_and_is_queued(make_config, keys):
    monitor = Monitor(keys).start()
    probe = make_probe(make_config, keys, monitor.port, client="stranger_secret")
    try:
        probe.run_cycle()
        probe.run_cycle()
        assert monitor.received == []
        assert probe.spool.seqs() == [0, 1]
        assert "no ACK" in probe._links.links[0].error
    finally:
        probe._links.close()
        monitor.stop()


def test_queue_is_bounded_oldest_dropped(make_config, keys, tmp_path):
    monitor = Monitor(keys).start()
    port = monitor.port
    monitor.stop()  # nothing listens there now
    probe = make_probe(make_config, keys, port, queue_max=3)
    try:
        for _ in range(6):
            probe.run_cycle()
        assert probe.spool.seqs() == [3, 4, 5]
    finally:
        probe._links.close()
    spool = Spool(str(tmp_path / "q2"), maximum=2)
    for seq in (7, 8, 10, 9):
        spool.put({"node": "n", "seq": seq})
    assert spool.seqs() == [9, 10]
    with open(os.path.join(spool.directory, "hb-%020d.json" % 10), "w") as handle:
        handle.write("{half")
    assert [seq for seq, _beat in spool.items()] == [9] and spool.seqs() == [9]


def test_heartbeat_follows_the_wire_format(make_config, keys):
    from imagenode_health_core.event_log import append_event, make_record
    monitor = Monitor(keys).start()
    probe = make_probe(make_config, keys, monitor.port)
    try:
        append_event(make_record("zmq_reset", "fixed", fault="hub", node="testnode"), probe.config["event_log"])
        first = probe.run_cycle()["heartbeat"]
        second = probe.run_cycle()["heartbeat"]
        assert wire.validate(first) and first["node"] == "testnode" and first["boot_id"] == "boot"
        assert [e["action"] for e in first["events"]] == ["zmq_reset"]
        assert second["events"] == []  # delivered once
        assert first["status"] == "ok" and first["checks"]["hub_check"] == "ok" and first["interval"] == 10
    finally:
        probe._links.close()
        monitor.stop()


def test_unwritable_queue_loses_heartbeats_not_the_probe(make_config, keys, tmp_path):
    # A read-only or broken card under the queue: undelivered heartbeats are
    # lost and counted, the cycle goes on, and the next delivery works.
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the queue's parent should be\n")
    monitor = Monitor(keys).start()
    port = monitor.port
    monitor.stop()
    probe = make_probe(make_config, keys, port, queue_dir=str(blocker / "queue"))
    try:
        for _ in range(2):
            assert probe.run_cycle()["heartbeat"]["seq"] is not None
        assert probe.spool_errors == 2 and len(probe.spool) == 0
        back = Monitor(keys, port=port).start()
        try:
            probe.run_cycle()
            assert back.received == [2]
        finally:
            back.stop()
    finally:
        probe._links.close()
