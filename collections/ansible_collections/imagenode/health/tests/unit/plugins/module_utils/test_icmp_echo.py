# Copyright (c) 2026 imagenode-health contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""ICMP echo from the checking process (icmp_echo), and ping_check using it on the live
system instead of one ping child per host; a test's runner still gets the ping program."""

import os
import socket
import struct
import sys
import time

import pytest

from ansible_collections.imagenode.health.plugins.module_utils import icmp_echo, ping_check
from ansible_collections.imagenode.health.plugins.module_utils.ping_check import run_ping_check
from ansible_collections.imagenode.health.tests.unit.plugins.fake_runner import FakeRunner


def _icmp_socket_reason():
    try:
        sock, _kind = icmp_echo.open_socket(socket.AF_INET)
    except icmp_echo.IcmpUnavailable as exc:
        return str(exc)
    sock.close()
    return None


NO_ICMP = _icmp_socket_reason()
needs_icmp = pytest.mark.skipif(NO_ICMP is not None, reason="no ICMP socket for this user here (%s): the "
                                "lab's containers run these paths as root" % NO_ICMP)


def test_checksum_is_rfc_1071():
    # RFC 1071's worked example: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2, its complement 220d
    assert icmp_echo.checksum(b"\x00\x01\xf2\x03\xf4\xf5\xf6\xf7") == 0x220D
    packet = icmp_echo._request(socket.AF_INET, 0x1234, 7)
    assert icmp_echo.checksum(packet) == 0  # a packet with its checksum sums to zero
    assert icmp_echo.checksum(b"\x01") == icmp_echo.checksum(b"\x01\x00")  # odd length: padded


def test_replies_are_told_from_other_packets():
    stamp = struct.pack("!d", 12.5)
    reply = struct.pack("!BBHHH", 0, 0, 0, 0x1234, 2) + stamp
    ip_header = b"\x45" + b"\x00" * 19
    assert icmp_echo._parse_reply(socket.AF_INET, reply, "datagram") == (0x1234, 2, 12.5)
    assert icmp_echo._parse_reply(socket.AF_INET, ip_header + reply, "raw") == (0x1234, 2, 12.5)
    request = struct.pack("!BBHHH", 8, 0, 0, 0x1234, 2) + stamp  # our own request, seen by a raw socket
    assert icmp_echo._parse_reply(socket.AF_INET, ip_header + request, "raw") is None
    unreachable = struct.pack("!BBHHH", 3, 1, 0, 0, 0) + stamp
    assert icmp_echo._parse_reply(socket.AF_INET, unreachable, "datagram") is None
    assert icmp_echo._parse_reply(socket.AF_INET, b"\x00\x00", "datagram") is None
    v6 = struct.pack("!BBHHH", 129, 0, 0, 9, 0) + stamp
    assert icmp_echo._parse_reply(socket.AF_INET6, v6, "raw") == (9, 0, 12.5)


def _raw_socket_reason():
    try:
        sock, _kind = icmp_echo.open_socket(socket.AF_INET, kinds=("raw",))
    except icmp_echo.IcmpUnavailable as exc:
        return str(exc)
    sock.close()
    return None


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the ICMP type filter is Linux's")
@pytest.mark.skipif(_raw_socket_reason() is not None, reason="no raw ICMP socket for this user here (it needs "
                    "root or CAP_NET_RAW; CI runs as root)")
@pytest.mark.parametrize("family, host", [(socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")])
def test_a_raw_socket_is_woken_by_echo_replies_only(family, host):
    # On loopback a raw socket sees the request it sent before the reply: unfiltered, the
    # first packet read is our own request (type 8 / 128). With the filter it is the reply.
    if family == socket.AF_INET6 and not (socket.has_ipv6 and os.path.exists("/proc/net/if_inet6")):
        pytest.skip("no IPv6 on this host")
    sock, kind = icmp_echo.open_socket(family, kinds=("raw",))
    try:
        assert kind == "raw"
        sock.settimeout(2.0)
        sock.sendto(icmp_echo._request(family, 0x4242, 0), (host, 0))
        packet, _source = sock.recvfrom(2048)
    finally:
        sock.close()
    assert icmp_echo._parse_reply(family, packet, "raw") is not None, "first packet is not an echo reply"


@needs_icmp
def test_loopback_answers_every_request_as_ping_counts_them():
    result = icmp_echo.echo("127.0.0.1", count=3, timeout=1.0)
    assert (result["transmitted"], result["received"], result["loss_pct"]) == (3, 3, 0.0)
    assert result["socket"] in ("datagram", "raw")
    rtt = result["rtt_ms"]
    assert set(rtt) == {"min", "avg", "max", "mdev"} and 0 < rtt["min"] <= rtt["avg"] <= rtt["max"] < 1000


@needs_icmp
def test_no_reply_is_total_loss_after_ping_s_wait(monkeypatch):
    monkeypatch.setattr(icmp_echo, "_parse_reply", lambda family, packet, kind: None)  # every reply lost
    started = time.monotonic()
    result = icmp_echo.echo("127.0.0.1", count=2, timeout=0.3)
    took = time.monotonic() - started
    assert (result["transmitted"], result["received"], result["loss_pct"], result["rtt_ms"]) == (2, 0, 100.0, None)
    assert 0.2 + 0.3 - 0.05 <= took < 0.2 + 0.3 + 1.0  # one interval, then the wait after the last request


def test_a_host_without_address_is_a_resolver_error():
    with pytest.raises(socket.gaierror):
        icmp_echo.echo("no-such-host.invalid", count=1, timeout=0.2)


@needs_icmp
def test_ping_check_on_the_live_system_sends_its_own_echo_requests(monkeypatch):
    started = []
    monkeypatch.setattr(ping_check.Runner, "run", lambda self, argv, timeout=None: started.append(argv))
    result = run_ping_check(hubs=["tcp://127.0.0.1:5555"], gateway=False, count=2, timeout=0.5)
    entry = result["evidence"]["layers"]["hub_host"]["hosts"][0]
    assert entry["answered"] and entry["method"] == "icmp" and entry["loss_pct"] == 0.0
    assert entry["icmp_via"] in ("datagram socket", "raw socket")
    assert [argv for argv in started if argv and argv[0] == "ping"] == []  # no ping child


def test_unresolvable_hub_host_is_reported_by_the_live_check(monkeypatch):
    def no_socket(family):
        raise AssertionError("a host without an address needs no socket")

    monkeypatch.setattr(icmp_echo, "open_socket", no_socket)
    result = run_ping_check(hubs=["tcp://no-such-host.invalid:5555"], gateway=False, count=1, timeout=0.2,
                            tcp_fallback=False)
    entry = result["evidence"]["layers"]["hub_host"]["hosts"][0]
    assert not entry["answered"] and "cannot resolve no-such-host.invalid" in entry["icmp_error"]


def test_without_an_icmp_socket_the_ping_program_is_used(monkeypatch):
    def unavailable(family):
        raise icmp_echo.IcmpUnavailable("datagram socket: Permission denied; raw socket: Operation not permitted")

    class LiveFake(FakeRunner):
        live_system = True

    out = ("PING 10.0.0.9 (10.0.0.9) 56(84) bytes of data.\n\n--- 10.0.0.9 ping statistics ---\n"
           "3 packets transmitted, 3 received, 0% packet loss, time 402ms\n"
           "rtt min/avg/max/mdev = 0.2/0.3/0.4/0.1 ms\n")
    monkeypatch.setattr(icmp_echo, "open_socket", unavailable)
    runner = LiveFake({("ping",): (0, out)})
    result = run_ping_check(hubs=["tcp://10.0.0.9:5555"], gateway=False, runner=runner)
    entry = result["evidence"]["layers"]["hub_host"]["hosts"][0]
    assert entry["answered"] and entry["icmp_via"] == "ping" and runner.calls[0][0] == "ping"


def test_a_test_runner_always_answers_for_ping(monkeypatch):
    def bypassed(*args, **kwargs):
        raise AssertionError("the test's runner was bypassed")

    monkeypatch.setattr(icmp_echo, "echo", bypassed)
    runner = FakeRunner({("ping",): (1, "3 packets transmitted, 0 received, 100% packet loss\n")})
    result = run_ping_check(hubs=["tcp://10.0.0.9:5555"], gateway=False, runner=runner, tcp_fallback=False)
    entry = result["evidence"]["layers"]["hub_host"]["hosts"][0]
    assert not entry["answered"] and entry["icmp_via"] == "ping" and entry["icmp_error"] == "no ICMP reply (3 sent)"
