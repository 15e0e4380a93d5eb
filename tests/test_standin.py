"""The lab's stand-in camera program, against the real imagezmq.ImageHub.

The lab nodes run it in place of imagenode.py; these tests pin down the
behaviour the rest of the project relies on: what it sends, and that it exits
with status 0 when a reply does not come within patience, as imagenode does.
"""

import subprocess
import sys
import time

import imagezmq

from conftest import ROOT
from test_hub_check_imagezmq import free_port

STANDIN = str(ROOT / "tests" / "standin" / "imagenode.py")


def start(tmp_path, port, patience=1):
    (tmp_path / "imagenode.yaml").write_text(
        "# lab\nnode:\n  name: cam1\n  heartbeat: 1\n  patience: %d\n"
        "hub_address:\n  H1: tcp://127.0.0.1:%d\n  H2: tcp://127.0.0.1:1\n"
        "cameras:\n  P1:\n    viewname: door\n    framerate: 30\n" % (patience, port))
    return subprocess.Popen([sys.executable, STANDIN, str(tmp_path / "imagenode.yaml")], cwd=str(tmp_path))


def receive(hub, seconds):
    texts, payloads, until = [], [], time.monotonic() + seconds
    while time.monotonic() < until:
        if hub.zmq_socket.poll(50):
            text, payload = hub.recv_jpg()
            texts.append(text)
            payloads.append(bytes(payload))
            hub.send_reply(b"OK")
    return texts, payloads


def test_restart_then_frames_and_heartbeats_to_h1(tmp_path):
    port = free_port()
    hub = imagezmq.ImageHub(open_port="tcp://127.0.0.1:%d" % port)
    proc = start(tmp_path, port)
    try:
        texts, payloads = receive(hub, 2.5)
    finally:
        proc.terminate()
        proc.wait(10)
        hub.close()
    assert texts[0].startswith("cam1|Restart|")
    assert len(texts[0].split("|")) == 7
    assert "cam1 door|jpg" in texts and "cam1|Heartbeat" in texts
    # One message a tick (a heartbeat takes a frame's place), capped at 2 a
    # second: at most 5 in 2.5 s where the configured 30 fps would give 75.
    assert 2 <= len(texts) - 1 <= 6
    jpg = payloads[1]
    assert jpg.startswith(b"\xff\xd8") and jpg.endswith(b"\xff\xd9")


def test_exits_zero_when_the_hub_stops_answering(tmp_path):
    port = free_port()
    hub = imagezmq.ImageHub(open_port="tcp://127.0.0.1:%d" % port)
    proc = start(tmp_path, port, patience=1)
    receive(hub, 1.0)
    hub.close()  # the hub dies: the next request gets no reply
    started = time.monotonic()
    assert proc.wait(10) == 0
    assert time.monotonic() - started <= 1 + 2.0  # patience, plus one frame interval and slack
    assert "exiting" in (tmp_path / "imagenode.log").read_text()
