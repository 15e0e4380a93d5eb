"""ping_check on a lab node whose links are cut for real.

Faults, inside node1 (it has CAP_NET_ADMIN): an nftables output rule that
drops everything to a hub's address (ICMP and the TCP fallback alike), then
`ip link set eth0 down`. Hubs come from the node's own imagenode.yaml
(H1 hub1, H2 hub2). A layer is down only when all its hosts are: one hub
cut is a warning that names it, both cut is `failed_layer: hub_host`, the
interface down is `failed_layer: link`.
"""
import os
import shutil
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "lab"))
sys.path.insert(0, os.path.dirname(__file__))
import labansible  # noqa: E402
import labctl  # noqa: E402

pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("podman"), reason="the lab needs root and podman"),
]

NODE = "node1"
TABLE = "labcut"  # our own nftables table: deleting it undoes every cut


@pytest.fixture(scope="module")
def lab():
    with labctl.lab_session():
        labctl.up(["hub1", "hub2", NODE])
        labctl.exec_in(NODE, ["nft", "add", "table", "inet", TABLE])
        labctl.exec_in(NODE, ["nft", "add", "chain", "inet", TABLE, "out",
                              "{ type filter hook output priority 0 ; }"])
        yield
        labctl.down()


def cut(hub):
    labctl.exec_in(NODE, ["nft", "add", "rule", "inet", TABLE, "out", "ip", "daddr", labctl.host(hub)["ip"], "drop"])


def ping():
    res = labansible.module(NODE, "ping_check", {"config": "/home/pi/imagenode.yaml", "count": 2})[NODE]
    assert "failed" not in res, res
    return res


def test_both_hubs_answer_before_any_cut(lab):
    res = ping()
    assert res["status"] == "ok", res["summary"]
    assert res["failed_layer"] is None
    assert res["targets"]["hub1"]["answered"] and res["targets"]["hub2"]["answered"]
    # the echo requests came from the module's own ICMP socket (root in a podman container: a
    # datagram "ping socket", podman admitting group 0), not from a ping child, and they were answered
    hosts = res["evidence"]["layers"]["hub_host"]["hosts"]
    assert [(h["method"], h["icmp_via"], h["loss_pct"]) for h in hosts] == [("icmp", "datagram socket", 0.0)] * 2


def test_one_hub_cut_is_not_a_down_layer(lab):
    cut("hub1")
    res = ping()
    assert res["failed_layer"] is None  # hub2 still answers
    assert res["status"] == "warn"
    assert res["targets"]["hub1"]["answered"] is False
    assert res["targets"]["hub2"]["answered"] is True
    assert res["evidence"]["layers"]["hub_host"]["status"] == "partial"
    hub1 = [h for h in res["evidence"]["layers"]["hub_host"]["hosts"] if h["host"] == "hub1"][0]
    assert "not permitted" in hub1["icmp_error"]  # the drop rule refuses the send, as ping's sendmsg is refused
    assert "hub1" in res["summary"]


def test_both_hubs_cut_is_hub_host(lab):
    cut("hub2")  # hub1 is still cut
    res = ping()
    assert res["status"] == "fail"
    assert res["failed_layer"] == "hub_host", res["summary"]
    assert res["evidence"]["layers"]["gateway"]["status"] == "up"  # the cut is above the gateway
    assert not res["targets"]["hub1"]["answered"] and not res["targets"]["hub2"]["answered"]


def test_interface_down_is_link(lab):
    labctl.exec_in(NODE, ["nft", "delete", "table", "inet", TABLE])
    labctl.exec_in(NODE, ["ip", "link", "set", "eth0", "down"])
    res = ping()  # podman exec needs no network: the module still runs
    assert res["status"] == "fail"
    assert res["failed_layer"] == "link", res["summary"]
    assert res["evidence"]["layers"]["hub_host"]["status"] == "skipped"
