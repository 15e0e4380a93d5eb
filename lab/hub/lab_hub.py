#!/usr/bin/python3
"""The lab's stand-in for imagehub: a real imagezmq.ImageHub that answers OK.

Runs in the hub containers on Debian bookworm's python3 (3.11, python3-zmq 24,
python3-numpy 1.24) with the venv's imagezmq on PYTHONPATH (it is not in
Debian). Unlike imagehub it logs *every* message, heartbeats included, so tests
can see exactly what the nodes and the probe sent. Log format is imagehub's:
``%(asctime)s ~ %(message)s``, one line a message, flushed at once.

Usage: lab_hub.py [PORT]   (or LAB_HUB_PORT; default 5555)
"""
import logging
import os
import sys

import imagezmq

LOG_FILE = os.environ.get("LAB_HUB_LOG", "/var/log/imagehub/imagehub.log")


def describe(text, payload):
    """The log line for one message (without the timestamp)."""
    fields = text.split("|")
    # imagehub does message[1][0] on the second field: "node|" raises
    # IndexError there and the real hub dies. Flag it so tests can prove the
    # probe never sends it, but keep serving.
    prefix = "WOULD-CRASH-IMAGEHUB ~ " if len(fields) >= 2 and fields[1] == "" else ""
    size = len(payload)
    return prefix + text + (" [%d bytes]" % size if size else "")


def main(argv):
    port = argv[1] if len(argv) > 1 else os.environ.get("LAB_HUB_PORT", "5555")
    os.makedirs(os.path.dirname(LOG_FILE), exist_ok=True)
    # FileHandler flushes after every record, so a test reading the log right
    # after getting its OK sees the line.
    handler = logging.FileHandler(LOG_FILE)
    handler.setFormatter(logging.Formatter("%(asctime)s ~ %(message)s"))
    log = logging.getLogger("imagehub")
    log.addHandler(handler)
    log.setLevel(logging.INFO)

    hub = imagezmq.ImageHub(open_port="tcp://*:%s" % port)
    print("lab hub: imagezmq.ImageHub on tcp://*:%s, log %s" % (port, LOG_FILE), flush=True)
    while True:
        # recv_jpg reads only "msg" from the metadata, so images sent with
        # send_image (dtype/shape) are accepted too, as in imagehub.
        text, payload = hub.recv_jpg()
        try:
            log.info(describe(text, payload))
        finally:
            # Always answer: a REP socket that does not reply stalls the node.
            hub.send_reply(b"OK")


if __name__ == "__main__":
    main(sys.argv)
