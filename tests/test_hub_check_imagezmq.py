"""hub_check run by Ansible against the real imagezmq.ImageHub on loopback.

The peer is imagezmq's own ImageHub (the class imagehub is built on), not a
stand-in: if our frames were not what imagezmq expects, it would not answer.
"""

import json
import socket
import threading

import imagezmq
import pytest

from conftest import run, venv_tool


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def image_hub():
    """A real ImageHub answering OK, like imagehub; yields (address, texts received)."""
    address = "tcp://127.0.0.1:%d" % free_port()
    hub = imagezmq.ImageHub(open_port=address)
    received, stop = [], threading.Event()

    def serve():
        while not stop.is_set():
            if hub.zmq_socket.poll(50):
                text, _payload = hub.recv_jpg()
                received.append(text)
                hub.send_reply(b"OK")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield address, received
    stop.set()
    thread.join(5)
    hub.close()


def hub_check(ansible_env, args):
    """Run the module through `ansible localhost`; its JSON result."""
    proc = run([venv_tool("ansible"), "localhost", "-m", "imagenode.health.hub_check",
                "-a", json.dumps(args)], env=dict(ansible_env, ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
                                                  ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json"))
    assert proc.returncode in (0, 2), proc.stderr
    return json.loads(proc.stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"]


def test_real_imagehub_answers_ok(ansible_env, image_hub):
    address, received = image_hub
    result = hub_check(ansible_env, {"hubs": [address], "node_name": "labnode"})
    assert result["status"] == "ok", result
    assert result["healthy_hub"] == address
    assert received == ["labnode|Heartbeat"]


def test_closed_port_fails_within_timeout_times_attempts(ansible_env):
    timeout, attempts = 0.5, 3
    result = hub_check(ansible_env, {"hubs": ["tcp://127.0.0.1:%d" % free_port()],
                                     "timeout": timeout, "attempts": attempts})
    assert result["status"] == "fail"
    assert result["elapsed"] <= timeout * attempts + 1.0
    assert result["evidence"]["hubs"][0]["attempts"] == attempts


def test_config_from_imagenode_yaml_with_real_hub(ansible_env, image_hub, tmp_path):
    address, received = image_hub
    dead = "tcp://127.0.0.1:%d" % free_port()
    config = tmp_path / "imagenode.yaml"
    config.write_text("# lab\nnode:\n  name: Barn\nhub_address:\n  H1: %s  # primary\n  H2: %s\n" % (dead, address))
    result = hub_check(ansible_env, {"config": str(config), "timeout": 0.5, "attempts": 1})
    assert result["status"] == "fail"
    assert result["healthy_hub"] == address
    assert "failover is possible" in result["summary"]
    assert received == ["Barn|Heartbeat"]
