# Copyright (c) 2026 imagenode-health contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""ping_check: ping output parsers, routes, links and the layer logic.

No traffic leaves loopback: remote hosts are answered by a fake runner
(recorded ping output) and a fake TCP connect; the real TCP probe is tried
on 127.0.0.1 only.
"""

import socket
import time

import pytest

from ansible_collections.imagenode.health.plugins.module_utils.check_result import CheckError
from ansible_collections.imagenode.health.plugins.module_utils.command_runner import CommandResult
from ansible_collections.imagenode.health.plugins.module_utils.ping_check import (
    default_route,
    link_state,
    parse_ping,
    parse_proc_route,
    run_ping_check,
    tcp_connect,
)
from ansible_collections.imagenode.health.tests.unit.plugins.fake_runner import FakeRunner, write_tree

IPUTILS_OK = """\
PING 192.168.1.1 (192.168.1.1) 56(84) bytes of data.
64 bytes from 192.168.1.1: icmp_seq=1 ttl=64 time=2.43 ms
64 bytes from 192.168.1.1: icmp_seq=2 ttl=64 time=1.91 ms
64 bytes from 192.168.1.1: icmp_seq=3 ttl=64 time=2.61 ms

--- 192.168.1.1 ping statistics ---
3 packets transmitted, 3 received, 0% packet loss, time 402ms
rtt min/avg/max/mdev = 1.912/2.318/2.611/0.295 ms
"""
IPUTILS_LOSSY = """\
PING 10.0.0.5 (10.0.0.5) 56(84) bytes of data.
64 bytes from 10.0.0.5: icmp_seq=2 ttl=64 time=812 ms

--- 10.0.0.5 ping statistics ---
3 packets transmitted, 1 received, 66.6667% packet loss, time 2031ms
rtt min/avg/max/mdev = 812.101/812.101/812.101/0.000 ms
"""
IPUTILS_DEAD = """\
PING 10.0.0.9 (10.0.0.9) 56(84) bytes of data.
From 10.0.0.2 icmp_seq=1 Destination Host Unreachable
From 10.0.0.2 icmp_seq=2 Destination Host Unreachable

--- 10.0.0.9 ping statistics ---
3 packets transmitted, 0 received, +3 errors, 100% packet loss, time 2047ms
pipe 3
"""
BUSYBOX = """\
PING 192.168.1.1 (192.168.1.1): 56 data bytes
64 bytes from 192.168.1.1: seq=0 ttl=64 time=0.421 ms
64 bytes from 192.168.1.1: seq=1 ttl=64 time=0.311 ms

--- 192.168.1.1 ping statistics ---
2 packets transmitted, 2 packets received, 0% packet loss
round-trip min/avg/max = 0.311/0.366/0.421 ms
"""
MACOS = """\
PING 192.168.1.1 (192.168.1.1): 56 data bytes
64 bytes from 192.168.1.1: icmp_seq=0 ttl=64 time=3.834 ms

--- 192.168.1.1 ping statistics ---
3 packets transmitted, 3 packets received, 0.0% packet loss
round-trip min/avg/max/stddev = 1.945/3.005/3.834/0.762 ms
"""
PROC_ROUTE = """\
Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
wlan0\t00000000\t0101A8C0\t0003\t0\t0\t600\t00000000\t0\t0\t0
eth0\t00000000\t0100000A\t0003\t0\t0\t100\t00000000\t0\t0\t0
eth0\t0000000A\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0
"""
IP_ROUTE = ('[{"dst":"default","gateway":"192.168.1.1","dev":"wlan0","protocol":"dhcp","metric":600,"flags":[]},'
            '{"dst":"default","gateway":"10.0.0.1","dev":"eth9","metric":700,"flags":[]}]')


class PingRunner(FakeRunner):
    """Answers `ping ... HOST` from {host: output}; hosts not listed time out with 100% loss."""

    def __init__(self, outputs, route=IP_ROUTE, ping=True):
        answers = {("ip", "-j", "route"): (0, route)}
        if ping:
            answers[("ping",)] = (0, "")
        FakeRunner.__init__(self, answers)
        self.outputs = outputs

    def run(self, argv, timeout=None):
        if argv[0] != "ping":
            return FakeRunner.run(self, argv, timeout)
        self.calls.append(list(argv))
        host = argv[-1]
        if host in self.outputs:
            return CommandResult(argv, 0, self.outputs[host])
        return CommandResult(argv, 1, "PING %s\n\n--- %s ping statistics ---\n3 packets transmitted, 0 received, "
                                      "100%% packet loss, time 2040ms\n" % (host, host))


def fake_tcp(answering=()):
    calls = []

    def connect(host, port, timeout):
        calls.append((host, port))
        if host in answering:
            return True, "refused", 1.5
        return False, "timeout", None
    connect.calls = calls
    return connect


@pytest.fixture
def node(tmp_path):
    write_tree(tmp_path, {"/sys/class/net/wlan0/operstate": "up\n", "/sys/class/net/wlan0/carrier": "1\n",
                          "/sys/class/net/lo/operstate": "unknown\n"})
    return str(tmp_path)


@pytest.mark.parametrize("text, expected", [
    (IPUTILS_OK, {"transmitted": 3, "received": 3, "loss_pct": 0.0,
                  "rtt_ms": {"min": 1.912, "avg": 2.318, "max": 2.611, "mdev": 0.295}}),
    (IPUTILS_LOSSY, {"transmitted": 3, "received": 1, "loss_pct": 66.6667,
                     "rtt_ms": {"min": 812.101, "avg": 812.101, "max": 812.101, "mdev": 0.0}}),
    (IPUTILS_DEAD, {"transmitted": 3, "received": 0, "loss_pct": 100.0, "rtt_ms": None}),
    (BUSYBOX, {"transmitted": 2, "received": 2, "loss_pct": 0.0, "rtt_ms": {"min": 0.311, "avg": 0.366, "max": 0.421}}),
    (MACOS, {"transmitted": 3, "received": 3, "loss_pct": 0.0,
             "rtt_ms": {"min": 1.945, "avg": 3.005, "max": 3.834, "mdev": 0.762}}),
])
def test_parse_ping_formats(text, expected):
    assert parse_ping(text) == expected


@pytest.mark.parametrize("text", ["", "ping: socket: Operation not permitted\n", "ping: unknown host hub9\n",
                                  "3 packets transmitted", "rtt min/avg/max/mdev = 1/2/3/4 ms\n"])
def test_parse_ping_malformed_is_none(text):
    assert parse_ping(text) is None


def test_routes_from_ip_json_and_proc():
    assert default_route(FakeRunner({("ip",): (0, IP_ROUTE)})) == ("wlan0", "192.168.1.1")
    assert default_route(FakeRunner({("ip",): (0, "[]")})) == (None, None)
    assert parse_proc_route(PROC_ROUTE) == ("eth0", "10.0.0.1")
    assert parse_proc_route("") == (None, None)
    assert parse_proc_route("header\nwlan0 zz yy 0003 0 0 0 0\n") == (None, None)


def test_route_falls_back_to_proc_when_ip_is_missing(tmp_path):
    write_tree(tmp_path, {"/proc/net/route": PROC_ROUTE})
    assert default_route(FakeRunner({}), str(tmp_path)) == ("eth0", "10.0.0.1")


PROC_ROUTE_ODD = """\
Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
*\t00000000\t00000000\t0201\t0\t0\t5\t00000000\t0\t0\t0
eth1\t00000000\t0101A8C0\t0003\t0\t0\t0\t00000080\t0\t0\t0
wlan0\t00000000\t0101A8C0\t0003\t0\t0\t600\t00000000\t0\t0\t0
eth0\t00000000\t00000000\t0001\t0\t0\t700\t00000000\t0\t0\t0
"""


def test_proc_route_skips_unreachable_and_half_default_routes():
    # `ip -j route show default` lists the unreachable route without a dev and not 0.0.0.0/1 at all
    assert parse_proc_route(PROC_ROUTE_ODD) == ("wlan0", "192.168.1.1")
    assert parse_proc_route(PROC_ROUTE_ODD.replace("\t600\t", "\t800\t")) == ("eth0", None)  # no RTF_GATEWAY


def test_ping_check_reads_the_route_table_without_ip(node):
    # with /proc/net/route readable, no `ip` child: the same route as `ip -j route` gives
    write_tree(node, {"/proc/net/route": PROC_ROUTE.replace("\t100\t00000000", "\t900\t00000000")})
    runner = PingRunner({"192.168.1.1": IPUTILS_OK, "hub1": IPUTILS_OK})
    result = run_ping_check(hubs=["tcp://hub1:5555"], root=node, runner=runner, tcp=fake_tcp())
    assert result["status"] == "ok", result["summary"]
    assert (result["evidence"]["interface"], result["evidence"]["gateway"]) == ("wlan0", "192.168.1.1")
    assert [call for call in runner.calls if call[0] == "ip"] == []
    assert default_route(runner, node, prefer_proc=True) == default_route(PingRunner({}), "/nonexistent")


def test_ping_check_asks_ip_where_there_is_no_proc_route(node):
    runner = PingRunner({"192.168.1.1": IPUTILS_OK, "hub1": IPUTILS_OK})
    result = run_ping_check(hubs=["tcp://hub1:5555"], root=node, runner=runner, tcp=fake_tcp())
    assert result["evidence"]["gateway"] == "192.168.1.1"
    assert [call[:3] for call in runner.calls if call[0] == "ip"] == [["ip", "-j", "route"]]


def test_link_state(tmp_path):
    write_tree(tmp_path, {"/sys/class/net/wlan0/operstate": "dormant\n", "/sys/class/net/tun0/operstate": "unknown\n",
                          "/sys/class/net/tun0/carrier": "1\n"})
    assert link_state("wlan0", str(tmp_path))["up"] is False
    assert link_state("tun0", str(tmp_path))["up"] is True
    assert link_state("eth7", str(tmp_path))["up"] is None


def test_tcp_connect_on_loopback_connected_and_refused():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    try:
        assert tcp_connect("127.0.0.1", port, 1.0)[:2] == (True, "connected")
    finally:
        listener.close()
    answered, result, took = tcp_connect("127.0.0.1", port, 1.0)
    assert answered is True and result == "refused" and took >= 0


def test_all_layers_up(node):
    runner = PingRunner({"192.168.1.1": IPUTILS_OK, "hub1": IPUTILS_OK, "8.8.4.4": BUSYBOX})
    result = run_ping_check(hubs=["tcp://hub1:5555", "tcp://hub1:5556"], targets=["8.8.4.4"], root=node,
                            runner=runner, tcp=fake_tcp())
    assert result["status"] == "ok", result["summary"]
    assert result["failed_layer"] is None
    assert result["targets"]["hub1"]["rtt_ms"]["avg"] == 2.318 and result["targets"]["hub1"]["method"] == "icmp"
    assert [c[-1] for c in runner.calls if c[0] == "ping"].count("hub1") == 1  # each host once
    assert result["evidence"]["layers"]["link"]["interface"] == "wlan0"


def test_hub_host_down(node):
    result = run_ping_check(hubs=["tcp://hub1:5555"], root=node, runner=PingRunner({"192.168.1.1": IPUTILS_OK}),
                            tcp=fake_tcp())
    assert result["status"] == "fail" and result["failed_layer"] == "hub_host"
    assert "hub_host layer down: no answer from hub1 (link, gateway up)" == result["summary"]
    hub = result["evidence"]["layers"]["hub_host"]["hosts"][0]
    assert hub["tcp"] == {"port": 5555, "result": "timeout", "ms": None}


def test_icmp_dropped_but_tcp_answers(node):
    tcp = fake_tcp(answering=("hub1",))
    result = run_ping_check(hubs=["tcp://hub1:5555"], root=node, runner=PingRunner({"192.168.1.1": IPUTILS_OK}), tcp=tcp)
    assert result["status"] == "ok" and result["targets"]["hub1"]["method"] == "tcp"
    assert ("hub1", 5555) in tcp.calls


def test_gateway_dropping_probes_is_not_the_failed_layer(node):
    result = run_ping_check(hubs=["tcp://hub1:5555"], root=node, runner=PingRunner({"hub1": IPUTILS_OK}), tcp=fake_tcp())
    assert result["failed_layer"] is None and result["status"] == "warn"
    assert "gateway does not answer but a higher layer does" in result["summary"]


def test_gateway_down_with_everything_above(node):
    result = run_ping_check(hubs=["tcp://hub1:5555"], targets=["10.9.9.9"], root=node, runner=PingRunner({}),
                            tcp=fake_tcp())
    assert result["failed_layer"] == "gateway" and result["status"] == "fail"


def test_a_layer_is_down_only_when_all_its_hosts_fail(node):
    runner = PingRunner({"192.168.1.1": IPUTILS_OK, "hub1": IPUTILS_OK})
    result = run_ping_check(hubs=["tcp://hub1:5555", "tcp://hub2:5555"], root=node, runner=runner, tcp=fake_tcp())
    assert result["failed_layer"] is None and result["status"] == "warn"
    assert result["evidence"]["layers"]["hub_host"]["status"] == "partial"
    assert "hub_host hub2 not answering" in result["summary"]


def test_loss_and_rtt_warn(node):
    runner = PingRunner({"192.168.1.1": IPUTILS_OK, "10.0.0.5": IPUTILS_LOSSY})
    result = run_ping_check(targets=["10.0.0.5"], root=node, runner=runner, tcp=fake_tcp())
    assert result["status"] == "warn"
    assert "10.0.0.5 loses 67% of pings" in result["summary"] and "answers in 812 ms" in result["summary"]
    assert result["targets"]["10.0.0.5"]["loss_pct"] == 66.6667


def test_link_down_skips_the_rest(tmp_path):
    write_tree(tmp_path, {"/sys/class/net/wlan0/operstate": "down\n"})
    runner = PingRunner({})
    result = run_ping_check(hubs=["tcp://hub1:5555"], root=str(tmp_path), runner=runner, tcp=fake_tcp())
    assert result["failed_layer"] == "link" and result["summary"] == "link down: wlan0 is down"
    assert not [c for c in runner.calls if c[0] == "ping"]
    assert result["evidence"]["layers"]["hub_host"]["status"] == "skipped"


def test_no_ping_binary_uses_tcp_only(node):
    tcp = fake_tcp(answering=("192.168.1.1", "hub1"))
    result = run_ping_check(hubs=["tcp://hub1:5555"], root=node, runner=PingRunner({}, ping=False), tcp=tcp)
    assert result["status"] == "ok" and result["evidence"]["icmp"] is False
    assert tcp.calls == [("192.168.1.1", 22), ("hub1", 5555)]


def test_targets_of_a_layer_are_probed_concurrently(node):
    def slow(host, port, timeout):
        time.sleep(0.5)
        return True, "refused", 500.0
    started = time.monotonic()
    result = run_ping_check(targets=["10.0.0.%d" % i for i in range(1, 9)], gateway=False, root=node,
                            runner=PingRunner({}, ping=False), tcp=slow, rtt_warn_ms=1000)
    assert time.monotonic() - started < 2.0
    assert result["status"] == "ok" and len(result["targets"]) == 8


def test_every_layer_is_probed_at_once(node):
    """The gateway, the hub host and a target are probed together, not layer after layer
    (each probe waits at a barrier that only opens when all three are waiting): the
    check takes as long as its slowest host. The layers still come out in their order."""
    import threading
    barrier = threading.Barrier(3, timeout=10)

    def meet(host, port, timeout):
        barrier.wait()  # BrokenBarrierError, and a failed test, if the probes ran one by one
        return True, "refused", 1.0
    result = run_ping_check(hubs=["tcp://hub1:5555"], targets=["8.8.4.4"], root=node,
                            runner=PingRunner({}, ping=False), tcp=meet)
    layers = result["evidence"]["layers"]
    assert [layers[name]["hosts"][0]["host"] for name in ("gateway", "hub_host", "target")] == [
        "192.168.1.1", "hub1", "8.8.4.4"]
    assert all(layers[name]["status"] == "up" for name in ("gateway", "hub_host", "target"))
    assert result["status"] == "ok" and result["failed_layer"] is None


def test_hubs_from_imagenode_yaml(node, tmp_path):
    config = tmp_path / "imagenode.yaml"
    config.write_text("node:\n  name: Barn\nhub_address:\n  H1: tcp://hub1:5555\n  H2: tcp://hub2:5556\n")
    tcp = fake_tcp(answering=("hub2",))
    result = run_ping_check(config=str(config), gateway=False, root=node, runner=PingRunner({"hub1": IPUTILS_OK}), tcp=tcp)
    assert set(result["targets"]) == {"hub1", "hub2"} and ("hub2", 5556) in tcp.calls


def test_real_probe_on_loopback(node):
    result = run_ping_check(targets=["127.0.0.1"], gateway=False, root=node, count=1, timeout=1.0, tcp_port=9)
    assert result["targets"]["127.0.0.1"]["answered"] is True


@pytest.mark.parametrize("kwargs, words", [
    ({"hubs": ["hub1:5555"]}, "not of the form tcp://host:port"),
    ({"hubs": ["tcp://h:1"], "config": "/x.yaml"}, "mutually exclusive"),
    ({"count": 0}, "count must be at least 1"),
    ({"tcp_port": 70000}, "tcp_port"),
    ({"config": "/nonexistent/imagenode.yaml"}, "cannot read imagenode config"),
])
def test_bad_arguments(kwargs, words):
    with pytest.raises(CheckError, match=words):
        run_ping_check(runner=PingRunner({}), tcp=fake_tcp(), **kwargs)
