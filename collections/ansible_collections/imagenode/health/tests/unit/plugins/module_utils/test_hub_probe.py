# Copyright (c) 2026 imagenode-health contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""hub_check's core against in-process REP sockets: up, down, garbage, slow."""

import json
import os
import time

import pytest

from ansible_collections.imagenode.health.plugins.module_utils.check_result import CheckError
from ansible_collections.imagenode.health.plugins.module_utils import hub_probe
from ansible_collections.imagenode.health.plugins.module_utils.hub_probe import (
    TCP_REFUSED,
    check_hubs,
)
from ansible_collections.imagenode.health.tests.unit.plugins.fake_hub import FakeHub, free_port

# Time a check may take beyond timeout x attempts (socket set-up, thread wake-ups).
MARGIN = 1.0


def test_hub_up_is_ok_and_gets_the_imagezmq_heartbeat():
    with FakeHub() as hub:
        result = check_hubs([hub.address], "node3", timeout=2.0, attempts=2)
    assert result["status"] == "ok"
    assert result["healthy_hub"] == hub.address
    entry = result["evidence"]["hubs"][0]
    assert entry["ok"] and entry["error"] is None and entry["attempts"] == 1
    assert entry["rtt_ms"] > 0
    # Exactly the two frames imagezmq sends: JSON metadata, then the payload.
    (frames,) = hub.received
    assert len(frames) == 2
    assert json.loads(frames[0].decode("utf-8")) == {"msg": "node3|Heartbeat", "dtype": "uint8", "shape": [3, 3]}
    assert frames[1] == b"\x00" * 9


def test_hub_down_fails_within_timeout_times_attempts():
    address = "tcp://127.0.0.1:%d" % free_port()
    started = time.monotonic()
    result = check_hubs([address], "node3", timeout=0.4, attempts=3)
    took = time.monotonic() - started
    assert result["status"] == "fail"
    assert result["healthy_hub"] is None
    entry = result["evidence"]["hubs"][0]
    assert entry["attempts"] == 3 and not entry["ok"]
    assert entry["tcp"] == TCP_REFUSED
    assert "no reply within 0.4 s" in entry["error"]
    assert 0.4 * 3 <= took <= 0.4 * 3 + MARGIN


def test_hub_answering_garbage_is_not_healthy():
    with FakeHub(reply=b"NOPE") as hub:
        result = check_hubs([hub.address], "node3", timeout=1.0, attempts=2)
    assert result["status"] == "fail"
    assert "unexpected reply" in result["evidence"]["hubs"][0]["error"]
    assert len(hub.received) == 2  # asked again, on a fresh socket


def test_hub_slower_than_timeout_fails_and_never_hangs():
    with FakeHub(delay=1.0) as hub:
        started = time.monotonic()
        result = check_hubs([hub.address], "node3", timeout=0.3, attempts=2)
        took = time.monotonic() - started
    assert result["status"] == "fail"
    entry = result["evidence"]["hubs"][0]
    assert entry["tcp"] == "connected"  # reached, but too slow: the hub program, not the link
    assert took <= 0.3 * 2 + MARGIN


def test_slow_hub_within_timeout_is_ok_with_its_rtt():
    with FakeHub(delay=0.2) as hub:
        result = check_hubs([hub.address], "node3", timeout=2.0, attempts=1)
    assert result["status"] == "ok"
    assert result["evidence"]["hubs"][0]["rtt_ms"] >= 200


def test_primary_down_with_healthy_alternate_fails_and_names_it():
    dead = "tcp://127.0.0.1:%d" % free_port()
    with FakeHub() as alternate:
        result = check_hubs([dead, alternate.address], "node3", timeout=0.5, attempts=1)
    assert result["status"] == "fail"
    assert result["healthy_hub"] == alternate.address
    assert result["alternates_ok"] == [alternate.address]
    assert "failover is possible" in result["summary"]


def test_alternate_down_is_a_warning():
    dead = "tcp://127.0.0.1:%d" % free_port()
    with FakeHub() as primary:
        result = check_hubs([primary.address, dead], "node3", timeout=0.5, attempts=1)
    assert result["status"] == "warn"
    assert result["healthy_hub"] == primary.address


def test_dead_hubs_are_asked_at_once_not_one_after_another():
    dead = ["tcp://127.0.0.1:%d" % free_port() for dummy in range(4)]
    started = time.monotonic()
    check_hubs(dead, "node3", timeout=0.5, attempts=2)
    assert time.monotonic() - started <= 0.5 * 2 + MARGIN


@pytest.mark.parametrize("address", [
    "hub1:5555", "tcp://hub1", "tcp://hub1:0", "tcp://hub1:70000", "tcp://*:5555",
    "udp://hub1:5555", "tcp://hub 1:5555", "",
])
def test_bad_address_is_refused_naming_it(address):
    with pytest.raises(CheckError) as err:
        check_hubs([address], "node3")
    assert repr(address) in str(err.value)


@pytest.mark.parametrize("name, words", [
    ("", "must not be empty"), ("  ", "must not be empty"),
    ("barn|cam", "must not contain '|'"), ("barn\ncam", "control characters"),
])
def test_bad_node_name_is_refused(name, words):
    with pytest.raises(CheckError) as err:
        check_hubs(["tcp://127.0.0.1:5555"], name)
    assert words in str(err.value)


@pytest.mark.parametrize("kwargs, words", [
    ({"timeout": 0}, "timeout must be more than 0"),
    ({"attempts": 0}, "attempts must be at least 1"),
])
def test_bad_timing_is_refused(kwargs, words):
    with pytest.raises(CheckError) as err:
        check_hubs(["tcp://127.0.0.1:5555"], "node3", **kwargs)
    assert words in str(err.value)


def test_no_hubs_is_refused():
    with pytest.raises(CheckError, match="at least one hub"):
        check_hubs([], "node3")


def _open_fds():
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts open file descriptors in /proc/self/fd")
def test_the_kept_context_keeps_no_socket_of_a_finished_check():
    """One zmq context for every call (no new I/O thread per cycle), and every call
    closes its sockets: a probe asking a live and a dead hub for hours leaks nothing."""
    dead = "tcp://127.0.0.1:%d" % free_port()
    with FakeHub() as hub:
        check_hubs([hub.address, dead], "node3", timeout=0.2, attempts=1)  # the context and its threads exist
        context = hub_probe.shared_context()
        time.sleep(0.2)
        before = _open_fds()
        for _cycle in range(30):
            result = check_hubs([hub.address, dead], "node3", timeout=0.1, attempts=2)
            assert result["evidence"]["hubs"][0]["ok"] and not result["evidence"]["hubs"][1]["ok"]
        time.sleep(0.2)  # the context's reaper closes what the sockets left
        assert hub_probe.shared_context() is context
        assert _open_fds() <= before + 2  # each zmq socket holds an eventfd: 30 x 4 sockets would show
        assert len(hub.received) == 31
