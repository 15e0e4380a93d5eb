# Copyright (c) 2026 imagenode-health contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""hub_failover against real loopback hubs, with a fake restart and connection wait."""

import glob
import hashlib
import json
import os
import socket
import time

import pytest

from ansible_collections.imagenode.health.plugins.module_utils.check_result import CheckError
from ansible_collections.imagenode.health.plugins.module_utils.hub_failover import (
    run_hub_failover,
    wait_for_connection,
)
from ansible_collections.imagenode.health.tests.unit.plugins import fake_hub
from ansible_collections.imagenode.health.tests.unit.plugins.fake_hub import FakeHub, free_port

# The node's user owns imagenode.yaml; the module runs as root (so do these tests).
OWNER_UID, OWNER_GID, MODE = 1234, 2345, 0o640

TEMPLATE = """\
# imagenode settings for the barn (comments must survive)
node:
  name: Barn   # shown on the hub
hub_address:
  # H1 is the only hub imagenode uses
  H1: {h1}    # the house
  H2: '{h2}'  # the shed
  H3: "{h3}"
cameras:
  P1:
    viewname: door
"""


def down():
    """A loopback hub address nothing listens on."""
    return "tcp://127.0.0.1:%d" % free_port()


class FakeRestarter(object):
    """Stands in for imagenode_restart.restart_imagenode, recording its calls."""

    def __init__(self, pid=4242, refuse=None):
        self.pid, self.refuse, self.calls = pid, refuse, []

    def __call__(self, start_method="any", pattern="imagenode.py", check_mode=False):
        self.calls.append({"start_method": start_method, "pattern": pattern, "check_mode": check_mode})
        if self.refuse:
            raise CheckError(self.refuse)
        if check_mode:
            return {"changed": False, "fixed": None, "pid": None, "summary": "would restart",
                    "actions": ["would restart imagenode via %s" % start_method]}
        return {"changed": True, "fixed": bool(self.pid), "pid": self.pid, "summary": "restarted",
                "actions": ["restarted imagenode (pid %s)" % self.pid]}


class FakeWaiter(object):
    """The connection wait, answering `connected` and recording what it was asked."""

    def __init__(self, connected=True):
        self.connected, self.calls = connected, []

    def __call__(self, pid, host, port, timeout):
        self.calls.append((pid, host, port, timeout))
        return self.connected


@pytest.fixture
def node(tmp_path):
    """A node directory: imagenode.yaml owned by the node user, and a state dir."""
    class Node(object):
        directory = tmp_path
        config = str(tmp_path / "imagenode.yaml")
        state_dir = str(tmp_path / "state")

        def write(self, text):
            with open(self.config, "w") as handle:
                handle.write(text)
            os.chown(self.config, OWNER_UID, OWNER_GID)
            os.chmod(self.config, MODE)

        def read(self):
            with open(self.config) as handle:
                return handle.read()

        def backups(self):
            return sorted(glob.glob(self.config + ".*.bak"))

        def tree_hash(self):
            digest = hashlib.sha256()
            for root, dirs, files in os.walk(str(tmp_path)):
                dirs.sort()
                for name in sorted(files):
                    path = os.path.join(root, name)
                    stat = os.stat(path)
                    digest.update(("%s %o %d %d\n" % (path, stat.st_mode, stat.st_uid, stat.st_gid)).encode())
                    with open(path, "rb") as handle:
                        digest.update(handle.read())
            return digest.hexdigest()

        def run(self, **kwargs):
            options = dict(config=self.config, state_dir=self.state_dir, timeout=0.3, attempts=1,
                           verify_timeout=5.0, restarter=FakeRestarter(), connection_waiter=FakeWaiter())
            options.update(kwargs)
            return run_hub_failover(**options)
    return Node()


def port_of(address):
    return int(address.rsplit(":", 1)[1])


def test_h1_answering_needs_nothing_and_touches_nothing(node):
    with FakeHub() as h1:
        node.write(TEMPLATE.format(h1=h1.address, h2=down(), h3=down()))
        before = node.tree_hash()
        restarter = FakeRestarter()
        result = node.run(restarter=restarter)
    assert result["needed"] is False and result["changed"] is False and result["fixed"] is True
    assert result["chosen"] == h1.address and result["backup"] is None
    assert restarter.calls == []
    assert node.tree_hash() == before


def test_failover_rewrites_backs_up_restarts_and_verifies(node):
    with FakeHub() as h2, FakeHub() as h3:
        h1 = down()
        original = TEMPLATE.format(h1=h1, h2=h2.address, h3=h3.address)
        node.write(original)
        restarter, waiter = FakeRestarter(pid=4242), FakeWaiter(connected=True)
        result = node.run(restarter=restarter, connection_waiter=waiter, start_method="systemd")
    assert result["changed"] is True and result["fixed"] is True and result["needed"] is True
    assert result["chosen"] == h2.address and result["failed_back"] is False
    assert result["before"] == {"hubs": [h1, h2.address, h3.address], "using": h1,
                                "answering": [h2.address, h3.address]}
    assert result["after"]["hubs"] == [h2.address, h1, h3.address]
    assert result["after"]["using"] == h2.address
    # Only the two values moved; comments, quoting and other keys are as they were.
    assert node.read() == TEMPLATE.format(h1=h2.address, h2=h1, h3=h3.address)
    assert result["diff"] == {"before": original, "after": node.read(),
                              "before_header": node.config, "after_header": node.config}
    # The backup holds the old bytes; backup and new file keep the node user's owner and mode.
    assert node.backups() == [result["backup"]]
    with open(result["backup"]) as handle:
        assert handle.read() == original
    for path in (node.config, result["backup"]):
        stat = os.stat(path)
        assert (stat.st_uid, stat.st_gid, stat.st_mode & 0o7777) == (OWNER_UID, OWNER_GID, MODE)
    # Restarted for real, then proven connected to the chosen hub's host and port.
    # (planned first in the restart's own check mode, before anything was written)
    assert restarter.calls == [{"start_method": "systemd", "pattern": "imagenode.py", "check_mode": check}
                               for check in (True, False)]
    assert waiter.calls == [(4242, "127.0.0.1", port_of(h2.address), 5.0)]
    # The home order is remembered for failback.
    with open(os.path.join(node.state_dir, "hub_failover.json")) as handle:
        state = json.load(handle)
    assert state[os.path.abspath(node.config)]["home"] == [h1, h2.address, h3.address]


def test_prefer_wins_when_it_answers(node):
    with FakeHub() as h2, FakeHub() as h3:
        h1 = down()
        node.write(TEMPLATE.format(h1=h1, h2=h2.address, h3=h3.address))
        result = node.run(prefer=h3.address)
    assert result["chosen"] == h3.address and result["fixed"] is True
    # H1 gets the preferred hub; the others follow in their old relative order.
    assert node.read() == TEMPLATE.format(h1=h3.address, h2=h1, h3=h2.address)


def test_prefer_that_is_down_gives_the_first_alternate_that_answers(node):
    with FakeHub() as h2:
        h1, h3 = down(), down()
        node.write(TEMPLATE.format(h1=h1, h2=h2.address, h3=h3))
        result = node.run(prefer=h3)
    assert result["chosen"] == h2.address
    assert "preferred hub %s does not answer" % h3 in result["summary"]


def test_hubs_option_chooses_among_the_given_alternates_only(node):
    with FakeHub() as h2, FakeHub() as h3:
        h1 = down()
        node.write(TEMPLATE.format(h1=h1, h2=h2.address, h3=h3.address))
        result = node.run(hubs=[h3.address])
    assert result["chosen"] == h3.address
    with pytest.raises(CheckError, match="not in the hub_address of"):
        node.run(hubs=["tcp://127.0.0.1:1"])


def test_no_healthy_alternate_changes_nothing(node):
    h1, h2, h3 = down(), down(), down()
    node.write(TEMPLATE.format(h1=h1, h2=h2, h3=h3))
    before = node.tree_hash()
    restarter = FakeRestarter()
    result = node.run(restarter=restarter)
    assert result["changed"] is False and result["fixed"] is False and result["needed"] is True
    assert result["chosen"] is None and result["backup"] is None
    assert result["summary"].startswith("no healthy alternate hub: %s down (" % h1)
    assert "%s down (" % h3 in result["summary"]
    assert restarter.calls == []
    assert node.tree_hash() == before


def test_check_mode_predicts_and_changes_nothing(node):
    with FakeHub() as h2:
        h1, h3 = down(), down()
        original = TEMPLATE.format(h1=h1, h2=h2.address, h3=h3)
        node.write(original)
        before = node.tree_hash()
        restarter, waiter = FakeRestarter(), FakeWaiter()
        result = node.run(check_mode=True, restarter=restarter, connection_waiter=waiter)
    assert node.tree_hash() == before  # no rewrite, no backup, no state file
    assert result["changed"] is False and result["fixed"] is None and result["backup"] is None
    assert result["after"]["hubs"][0] == h2.address
    assert result["actions"] and all(action.startswith("would") for action in result["actions"])
    assert [call["check_mode"] for call in restarter.calls] == [True]
    assert waiter.calls == []
    assert result["diff"]["before"] == original
    assert result["diff"]["after"] == TEMPLATE.format(h1=h2.address, h2=h1, h3=h3)


def test_malformed_yaml_fails_naming_file_and_line_and_leaves_it(node):
    text = "node:\n  name: Barn\nhub_address:\n  H1: tcp://127.0.0.1:1\n  H2: tcp://x: y\n"
    node.write(text)
    before = node.tree_hash()
    with pytest.raises(CheckError) as err:
        node.run()
    assert "%s is not valid YAML at line 5" % node.config in str(err.value)
    with open(node.config, "rb") as handle:
        assert handle.read() == text.encode()
    assert node.tree_hash() == before


def test_flow_style_is_refused_and_the_file_left_alone(node):
    with FakeHub() as h2:
        node.write("node: {name: Barn}\nhub_address: {H1: '%s', H2: '%s'}\n" % (down(), h2.address))
        before = node.tree_hash()
        restarter = FakeRestarter()
        with pytest.raises(CheckError, match="flow style"):
            node.run(restarter=restarter)
    assert node.tree_hash() == before and restarter.calls == []


def hub_on(monkeypatch, port):
    """A FakeHub at a given port, so a hub can come back at its old address."""
    monkeypatch.setattr(fake_hub, "free_port", lambda: port)
    return FakeHub()


def test_failback_restores_the_home_order_exactly(node, monkeypatch):
    h1_port = free_port()
    h1 = "tcp://127.0.0.1:%d" % h1_port
    with FakeHub() as h3:
        h2 = FakeHub().__enter__()
        original = TEMPLATE.format(h1=h1, h2=h2.address, h3=h3.address)
        node.write(original)
        assert node.run()["chosen"] == h2.address
        # H2 goes down too: the second failover must keep the first home order.
        h2.__exit__(None, None, None)
        second = node.run()
        assert second["chosen"] == h3.address
        assert second["after"]["hubs"] == [h3.address, h2.address, h1]
        with hub_on(monkeypatch, h1_port):
            # Without failback, a node on an answering alternate stays there.
            assert node.run()["needed"] is False
            back = node.run(failback=True)
    assert back["failed_back"] is True and back["changed"] is True and back["fixed"] is True
    assert back["chosen"] == h1 and back["after"]["hubs"] == [h1, h2.address, h3.address]
    # Every value went back to its own line: the file is the original, byte for byte.
    assert node.read() == original
    assert len(node.backups()) == 3
    with open(os.path.join(node.state_dir, "hub_failover.json")) as handle:
        assert json.load(handle)[os.path.abspath(node.config)]["home"] == [h1, h2.address, h3.address]


def test_failback_without_a_remembered_home_has_nothing_to_do(node):
    with FakeHub() as h1:
        node.write(TEMPLATE.format(h1=h1.address, h2=down(), h3=down()))
        result = node.run(failback=True)
    assert result["needed"] is False and result["failed_back"] is False


def test_not_connected_after_restart_is_not_fixed(node):
    with FakeHub() as h2:
        node.write(TEMPLATE.format(h1=down(), h2=h2.address, h3=down()))
        result = node.run(connection_waiter=FakeWaiter(connected=False))
    assert result["changed"] is True and result["fixed"] is False
    assert "has no TCP connection" in result["summary"]


def test_chosen_hub_that_stops_answering_is_not_fixed(node):
    """The second probe (after the restart) decides, not the first."""
    h1, h2 = "tcp://hub1:5555", "tcp://hub2:5555"
    node.write(TEMPLATE.format(h1=h1, h2=h2, h3="tcp://hub3:5555"))
    answers = iter([[h2], []])
    asked = []

    def prober(addresses, node_name, timeout, attempts):
        asked.append((list(addresses), node_name))
        up = next(answers)
        return {"evidence": {"hubs": [{"address": a, "ok": a in up, "error": None if a in up else "no reply"}
                                      for a in addresses]}}
    waiter = FakeWaiter(connected=True)
    result = node.run(prober=prober, connection_waiter=waiter)
    assert result["changed"] is True and result["fixed"] is False
    assert "no longer answers" in result["summary"]
    assert waiter.calls == [(4242, "hub2", 5555, 5.0)]
    assert asked[0] == ([h1, h2, "tcp://hub3:5555"], "Barn")


def test_restart_that_leaves_no_process_is_not_fixed(node):
    with FakeHub() as h2:
        node.write(TEMPLATE.format(h1=down(), h2=h2.address, h3=down()))
        waiter = FakeWaiter()
        result = node.run(restarter=FakeRestarter(pid=None), connection_waiter=waiter)
    assert result["changed"] is True and result["fixed"] is False and waiter.calls == []
    assert "not running after the restart" in result["summary"]


def test_a_restart_that_cannot_be_done_is_refused_before_any_change(node):
    with FakeHub() as h2:
        node.write(TEMPLATE.format(h1=down(), h2=h2.address, h3=down()))
        before = node.tree_hash()
        restarter = FakeRestarter(refuse="imagenode (pid 7) was started by hand")
        with pytest.raises(CheckError, match="started by hand"):
            node.run(restarter=restarter)
    assert node.tree_hash() == before
    assert [call["check_mode"] for call in restarter.calls] == [True]


def test_an_unwritable_state_dir_fails_before_the_config_is_written(node):
    with FakeHub() as h2:
        original = TEMPLATE.format(h1=down(), h2=h2.address, h3=down())
        node.write(original)
        restarter = FakeRestarter()
        # A state dir below a regular file cannot be created.
        with pytest.raises(CheckError, match="cannot fail over in .*done so far: backed up"):
            node.run(state_dir=os.path.join(node.config, "state"), restarter=restarter)
    assert node.read() == original
    assert [call["check_mode"] for call in restarter.calls] == [True]


def test_without_restart_only_the_file_changes(node):
    with FakeHub() as h2:
        node.write(TEMPLATE.format(h1=down(), h2=h2.address, h3=down()))
        restarter, waiter = FakeRestarter(), FakeWaiter()
        result = node.run(restart=False, restarter=restarter, connection_waiter=waiter)
    assert result["changed"] is True and result["fixed"] is True
    assert "imagenode must be restarted to use it" in result["summary"]
    assert restarter.calls == [] and waiter.calls == []


def test_symlinked_config_is_edited_where_it_is(node, tmp_path):
    with FakeHub() as h2:
        h1 = down()
        node.write(TEMPLATE.format(h1=h1, h2=h2.address, h3=down()))
        link = str(tmp_path / "link.yaml")
        os.symlink(node.config, link)
        result = node.run(config=link)
    assert os.path.islink(link) and result["fixed"] is True
    assert node.read().split("\n")[5] == "  H1: %s    # the house" % h2.address


def test_wait_for_connection_sees_a_real_established_connection():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    client = socket.create_connection(("127.0.0.1", port))
    try:
        assert wait_for_connection(os.getpid(), "localhost", port, 2.0) is True
        started = time.monotonic()
        assert wait_for_connection(os.getpid(), "127.0.0.1", free_port(), 0.3) is False
        assert time.monotonic() - started < 2.0
    finally:
        client.close()
        server.close()


def test_wait_for_connection_of_a_gone_process_ends_at_once():
    started = time.monotonic()
    assert wait_for_connection(2 ** 22 + 12345, "127.0.0.1", 5555, 5.0) is False
    assert time.monotonic() - started < 1.0
