#!/usr/bin/env python3
"""A stand-in for imagenode.py in the lab: the same behaviour, seen from outside.

What it shares with imagenode (see ../shared/reference/imagezmq-protocol.md):
- reads ~/imagenode.yaml: node.name, hub_address.H1 (H2... are ignored, as
  imagenode ignores them), node.heartbeat (seconds), node.patience (seconds);
- speaks imagezmq REQ/REP: two frames, JSON metadata, expects b"OK";
- sends `Name|Restart|hostname|sys_type|ip|ram_MB|hours_since_boot` at start,
  `Name|Heartbeat` every heartbeat, and small jpg frames `Name view|jpg`;
- when a reply does not come within patience it exits with status 0, as
  imagenode's fix_comm_link does, so only its start method brings it back;
- logs to imagenode.log in its working directory.
It has no camera: its frames are one fixed 8x8 grey baseline JPEG. The frame
rate comes from cameras.P1.framerate, capped to keep the hubs' logs small.
Runs on the node with Debian's python3, python3-zmq and python3-yaml.
"""

import json
import logging
import os
import signal
import socket
import sys
import time

import yaml
import zmq

# A valid 8x8 grey baseline JPEG (141 bytes): one DC-only block.
TINY_JPG = bytes.fromhex(
    "ffd8ffdb0043000101010101010101010101010101010101010101010101010101010101"
    "0101010101010101010101010101010101010101010101010101010101010101010101ff"
    "c0000b080008000801011100ffc40014000100000000000000000000000000000000ffc4"
    "0014100100000000000000000000000000000000ffda0008010100003f003fffd9")
MAX_FPS = 2.0

log = logging.getLogger("imagenode")


def load_settings(path):
    with open(path) as handle:
        config = yaml.safe_load(handle)
    node = config.get("node") or {}
    camera = (config.get("cameras") or {}).get("P1") or {}
    return {
        "name": str(node["name"]),
        "hub": config["hub_address"]["H1"],
        "heartbeat": float(node.get("heartbeat") or 10),
        "patience": float(node.get("patience") or 10),
        "view": str(camera.get("viewname") or "view"),
        "fps": min(float(camera.get("framerate") or MAX_FPS), MAX_FPS),
    }


class Link(object):
    """imagezmq's REQ sender, with imagenode's patience as the reply timeout."""

    def __init__(self, address, patience):
        self.context = zmq.Context()
        self.socket = self.context.socket(zmq.REQ)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.connect(address)
        self.patience_ms = int(patience * 1000)

    def send(self, text, payload):
        self.socket.send_multipart([json.dumps({"msg": text}).encode("utf-8"), payload])
        if not self.socket.poll(self.patience_ms):
            return False
        return self.socket.recv() == b"OK"


def restart_text(name):
    """imagenode's start message: Name|Restart|hostname|sys_type|ip|ram_MB|hours_since_boot."""
    hostname = socket.gethostname()
    try:
        ip = socket.gethostbyname(hostname)
    except OSError:
        ip = "0.0.0.0"
    with open("/proc/meminfo") as meminfo:
        ram_mb = int(meminfo.readline().split()[1]) // 1024
    with open("/proc/uptime") as uptime:
        hours = float(uptime.read().split()[0]) / 3600.0
    return "%s|Restart|%s|Linux|%s|%d|%.1f" % (name, hostname, ip, ram_mb, hours)


def main():
    config_path = sys.argv[1] if len(sys.argv) > 1 else os.path.expanduser("~/imagenode.yaml")
    logging.basicConfig(filename="imagenode.log", level=logging.INFO,
                        format="%(asctime)s ~ %(message)s")
    settings = load_settings(config_path)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    link = Link(settings["hub"], settings["patience"])
    log.info("Starting imagenode.py stand-in, pid %d, hub %s", os.getpid(), settings["hub"])
    name, frame_text = settings["name"], "%s %s|jpg" % (settings["name"], settings["view"])
    if not link.send(restart_text(name), TINY_JPG):
        log.info("No reply from hub %s within %.0f s; exiting", settings["hub"], settings["patience"])
        return 0
    next_heartbeat = time.monotonic() + settings["heartbeat"]
    while True:
        time.sleep(1.0 / settings["fps"])
        text = frame_text
        if time.monotonic() >= next_heartbeat:
            text, next_heartbeat = "%s|Heartbeat" % name, time.monotonic() + settings["heartbeat"]
        if not link.send(text, TINY_JPG):
            # imagenode's fix_comm_link: exit 0 and let the start method restart it.
            log.info("No reply from hub %s within %.0f s; exiting", settings["hub"], settings["patience"])
            return 0


if __name__ == "__main__":
    sys.exit(main())
