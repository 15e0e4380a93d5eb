"""Talk to the lab's imagenode-monitor from inside a node, as an attacker or a broken peer would.

Run in a lab node with Debian's python3-zmq: `python3 - MODE ...` with this
file on stdin (tests/lab/test_probe_fleet.py does that through labctl). It
prints one JSON line.

  rogue NODE ADDRESS SERVER_KEY          a fresh CURVE key no one authorized,
                                         sending a valid heartbeat as NODE
  as NAME ADDRESS SERVER_KEY CLIENT_KEY  the node's own (authorized) key,
                                         sending a valid heartbeat as NAME
  flood COUNT ADDRESS SERVER_KEY CLIENT_KEY
                                         COUNT malformed or random messages over
                                         the node's own CURVE session, by kind

Valid heartbeats use a seq far above any real one and a boot id of their own,
so a refused one could not be mistaken for the probe's.
"""
import json
import os
import random
import sys
import time

import zmq
import zmq.auth

FAKE_SEQ = 10 ** 9


def socket_for(context, address, server_key, client_key=None):
    sock = context.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 2000)
    sock.setsockopt(zmq.SNDHWM, 0)  # no limit: the flood is flow-controlled by TCP only
    if client_key:
        public, secret = zmq.auth.load_certificate(client_key)
    else:
        public, secret = zmq.curve_keypair()
    sock.curve_publickey, sock.curve_secretkey = public, secret
    sock.curve_serverkey = zmq.auth.load_certificate(server_key)[0]
    sock.connect(address)
    return sock


def heartbeat(name):
    body = {"node": name, "seq": FAKE_SEQ, "boot_id": "test-%d" % os.getpid(), "status": "ok",
            "sent": time.time(), "interval": 3, "checks": {"hub_check": "ok"}}
    return [b"IHB1", json.dumps(body).encode("utf-8")]


def acked(sock, timeout=4.0):
    if not sock.poll(int(timeout * 1000)):
        return None
    return [frame.decode("ascii", "replace") for frame in sock.recv_multipart()]


def malformed(kind, rng):
    """One message of a kind the monitor must count and drop."""
    if kind == "frames":
        return [b"IHB1"] if rng.random() < 0.5 else [b"IHB1", b"{}", b"extra"]
    if kind == "magic":
        return [os.urandom(rng.randint(0, 16)), b"{}"]
    if kind == "oversized":
        return [b"IHB1", b" " * (65536 + 1 + rng.randint(0, 4096))]
    if kind == "json":
        # random bytes behind a byte no UTF-8 text holds: never valid JSON by chance
        # (a random "7" would be JSON, and a schema error, not a JSON one)
        return [b"IHB1", b"\xff" + os.urandom(rng.randint(0, 200))]
    # schema: JSON, not a heartbeat
    return [b"IHB1", json.dumps(rng.choice([[], {"node": "bad name!", "seq": 1}, {"node": "x", "seq": -1},
                                             {"node": "x", "seq": 1, "status": "great"}, 7])).encode()]


def main(argv):
    mode, context = argv[0], zmq.Context()
    if mode == "rogue":
        name, address, server_key = argv[1:4]
        sock = socket_for(context, address, server_key)
        sock.send_multipart(heartbeat(name))
        print(json.dumps({"reply": acked(sock)}))
    elif mode == "as":
        name, address, server_key, client_key = argv[1:5]
        sock = socket_for(context, address, server_key, client_key)
        sock.send_multipart(heartbeat(name))
        print(json.dumps({"reply": acked(sock)}))
    elif mode == "flood":
        count, address, server_key, client_key = int(argv[1]), argv[2], argv[3], argv[4]
        sock = socket_for(context, address, server_key, client_key)
        rng = random.Random(42)
        kinds = ("frames", "magic", "json", "schema")
        sent = dict((kind, 0) for kind in kinds + ("oversized",))
        for index in range(count):
            # one in a hundred is 64 KiB and more: enough to prove the count, not a gigabyte of traffic
            kind = "oversized" if index % 100 == 0 else kinds[index % len(kinds)]
            sock.send_multipart(malformed(kind, rng))
            sent[kind] += 1
        started = time.time()
        sock.close(linger=60000)
        context.term()  # returns once every queued message is out (or the linger is over)
        print(json.dumps({"sent": sent, "flush_seconds": round(time.time() - started, 1)}))
        return
    else:
        raise SystemExit("unknown mode %r" % mode)
    context.destroy(linger=0)  # term() would wait for sockets never closed


if __name__ == "__main__":
    main(sys.argv[1:])
