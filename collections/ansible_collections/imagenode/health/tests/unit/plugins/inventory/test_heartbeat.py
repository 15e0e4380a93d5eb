# Copyright (c) 2026 imagenode-health contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The heartbeat inventory plugin as Ansible loads it: a *.heartbeat.yml source
read by InventoryManager (through the auto plugin), from a state file and from
a loopback HTTP server."""

import functools
import http.server
import json
import pathlib
import threading
import time

import pytest

from ansible.errors import AnsibleParserError
from ansible.inventory.data import InventoryData
from ansible.inventory.manager import InventoryManager
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import inventory_loader
from ansible.utils.collection_loader import AnsibleCollectionConfig
from ansible.utils.collection_loader._collection_finder import _AnsibleCollectionFinder
from ansible.utils.display import Display

PLUGIN = "imagenode.health.heartbeat"
GROUPS = ("healthy", "degraded", "failing", "silent")

# Plain pytest (PYTHONPATH=collections) has no collection finder; ansible-test
# units installs its own. Install one only when there is none, so the plugin
# loader resolves imagenode.health.heartbeat by its FQCN.
if AnsibleCollectionConfig.collection_finder is None:
    _AnsibleCollectionFinder(paths=[str(pathlib.Path(__file__).resolve().parents[7])])._install()


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch):
    """The loopback server must be reached directly, never through a proxy."""
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("no_proxy", "*")


@pytest.fixture
def warnings(monkeypatch):
    """The warnings the plugin shows, collected instead of printed."""
    seen = []
    monkeypatch.setattr(Display(), "warning", lambda msg, *args, **kwargs: seen.append(msg))
    return seen


def node(state, status="ok", age=2.0, **extra):
    entry = {"state": state, "status": status, "checks": {"hub_check": status}, "last_seen": time.time() - age,
             "age": age, "step": None, "last_action": None, "seq": 7}
    entry.update(extra)
    return entry


def fleet(generated=None, **nodes):
    return {"nodes": nodes, "generated": time.time() if generated is None else generated, "silent_after": 3}


FLEET = {
    "node1": node("healthy"),
    "node2": node("degraded", status="warn"),
    "node3": node("failing", status="fail", step="zmq_reset",
                  last_action={"action": "zmq_reset", "result": "not_fixed", "time": "2026-01-01T00:00:00Z"}),
    "node7": node("silent", status="unknown", age=95.0),
}


def write_source(tmp_path, name="monitor.heartbeat.yml", **options):
    options.setdefault("plugin", PLUGIN)
    source = tmp_path / name
    source.write_text("".join("%s: %s\n" % (key, json.dumps(value)) for key, value in options.items()))
    return str(source)


def write_state(tmp_path, state, name="state.json"):
    path = tmp_path / name
    path.write_text(state if isinstance(state, str) else json.dumps(state))
    return str(path)


def load(source):
    """The inventory Ansible builds from source (as ansible-playbook -i source)."""
    return InventoryManager(loader=DataLoader(), sources=[source])


def parse_directly(source):
    """Run the plugin itself on source, so its errors are raised, not warned about."""
    plugin = inventory_loader.get(PLUGIN)
    assert plugin is not None, "%s is not found by the plugin loader" % PLUGIN
    assert plugin.verify_file(source)
    inventory = InventoryData()
    plugin.parse(inventory, DataLoader(), source, cache=False)
    return inventory


def members(inventory, group):
    return sorted(host.name for host in inventory.groups[group].get_hosts())


# ---- from a state file --------------------------------------------------------


def test_state_file_groups_and_hostvars(tmp_path):
    path = write_state(tmp_path, fleet(**FLEET))
    inventory = load(write_source(tmp_path, path=path))
    assert members(inventory, "healthy") == ["node1"]
    assert members(inventory, "degraded") == ["node2"]
    assert members(inventory, "failing") == ["node3"]
    assert members(inventory, "silent") == ["node7"]
    assert [h.name for h in inventory.get_hosts("silent")] == ["node7"]  # what -l silent selects
    hostvars = inventory.get_host("node3").get_vars()
    assert hostvars["imagenode_heartbeat_state"] == "failing"
    assert hostvars["imagenode_heartbeat"]["step"] == "zmq_reset"
    assert hostvars["imagenode_heartbeat"]["last_action"]["action"] == "zmq_reset"
    assert hostvars["imagenode_heartbeat"]["seq"] == 7


def test_relative_path_is_relative_to_the_source_file(tmp_path, monkeypatch):
    write_state(tmp_path, fleet(node1=node("healthy")))
    monkeypatch.chdir("/")
    inventory = load(write_source(tmp_path, path="state.json"))
    assert members(inventory, "healthy") == ["node1"]


def test_group_prefix(tmp_path):
    path = write_state(tmp_path, fleet(**FLEET))
    inventory = load(write_source(tmp_path, path=path, group_prefix="hb_"))
    assert members(inventory, "hb_silent") == ["node7"]
    assert members(inventory, "hb_healthy") == ["node1"]
    assert "silent" not in inventory.groups


def test_every_group_exists_even_when_empty(tmp_path):
    path = write_state(tmp_path, fleet(node1=node("healthy")))
    inventory = load(write_source(tmp_path, path=path))
    for group in GROUPS:
        assert group in inventory.groups
    assert members(inventory, "silent") == []


def test_unknown_state_is_skipped_with_a_warning(tmp_path, warnings):
    path = write_state(tmp_path, fleet(node1=node("healthy"), node9=node("rebooting")))
    inventory = load(write_source(tmp_path, path=path))
    assert inventory.get_host("node9") is None
    assert members(inventory, "healthy") == ["node1"]
    assert any("node9" in w and "rebooting" in w for w in warnings), warnings


def test_keyed_groups_from_constructed(tmp_path):
    path = write_state(tmp_path, fleet(**FLEET))
    source = write_source(tmp_path, path=path, keyed_groups=[{"key": "imagenode_heartbeat.status", "prefix": "status"}])
    inventory = load(source)
    assert members(inventory, "status_warn") == ["node2"]
    assert members(inventory, "status_fail") == ["node3"]


def test_other_file_names_are_not_claimed(tmp_path):
    plugin = inventory_loader.get(PLUGIN)
    path = write_state(tmp_path, fleet(**FLEET))
    assert not plugin.verify_file(write_source(tmp_path, name="monitor.yml", path=path))
    assert plugin.verify_file(write_source(tmp_path, name="fleet.heartbeat.yaml", path=path))


# ---- recompute_silent ---------------------------------------------------------


def test_stale_state_file_recomputes_silent(tmp_path):
    # Written an hour ago, when node1 had been seen 2 s before: silent now.
    state = fleet(generated=time.time() - 3600, node1=node("healthy"), node2=node("degraded", status="warn"))
    inventory = load(write_source(tmp_path, path=write_state(tmp_path, state)))
    assert members(inventory, "silent") == ["node1", "node2"]
    assert members(inventory, "healthy") == []
    hostvars = inventory.get_host("node1").get_vars()
    assert hostvars["imagenode_heartbeat_state"] == "silent"
    assert hostvars["imagenode_heartbeat"]["state"] == "healthy"  # the monitor's entry as it was


def test_recompute_uses_the_node_interval(tmp_path):
    # 25 s quiet: beyond 3 x 5 s, within 3 x 10 s (the default interval).
    state = fleet(node1=node("healthy", age=25.0, interval=5), node2=node("healthy", age=25.0))
    inventory = load(write_source(tmp_path, path=write_state(tmp_path, state)))
    assert members(inventory, "silent") == ["node1"]
    assert members(inventory, "healthy") == ["node2"]


def test_recompute_silent_can_be_turned_off(tmp_path):
    state = fleet(generated=time.time() - 3600, node1=node("healthy"))
    inventory = load(write_source(tmp_path, path=write_state(tmp_path, state), recompute_silent=False))
    assert members(inventory, "healthy") == ["node1"]
    assert members(inventory, "silent") == []


# ---- errors -------------------------------------------------------------------


def test_malformed_json_is_a_clear_error(tmp_path):
    path = write_state(tmp_path, '{"nodes": {"node1": ')
    with pytest.raises(AnsibleParserError, match="not valid JSON") as raised:
        parse_directly(write_source(tmp_path, path=path))
    assert path in str(raised.value)


@pytest.mark.parametrize("state", [[], {"nodes": []}, {"generated": 1}, {"nodes": {}, "generated": "soon"}])
def test_wrong_shape_is_a_clear_error(tmp_path, state):
    path = write_state(tmp_path, state)
    with pytest.raises(AnsibleParserError) as raised:
        parse_directly(write_source(tmp_path, path=path))
    assert path in str(raised.value)


def test_url_and_path_together_are_an_error(tmp_path):
    path = write_state(tmp_path, fleet(**FLEET))
    with pytest.raises(AnsibleParserError, match="mutually exclusive"):
        parse_directly(write_source(tmp_path, path=path, url="http://127.0.0.1:1/state.json"))


def test_neither_url_nor_path_is_an_error(tmp_path):
    with pytest.raises(AnsibleParserError, match="one of the options url or path is required"):
        parse_directly(write_source(tmp_path))


def test_missing_state_file_names_it(tmp_path):
    missing = str(tmp_path / "nope.json")
    with pytest.raises(AnsibleParserError, match="could not be read") as raised:
        parse_directly(write_source(tmp_path, path=missing))
    assert missing in str(raised.value)


def test_a_failed_source_leaves_no_groups(tmp_path):
    # As ansible-playbook sees it: the source fails to parse, nothing is added.
    inventory = load(write_source(tmp_path, path=write_state(tmp_path, "not json")))
    assert "silent" not in inventory.groups


# ---- from the monitor's URL ---------------------------------------------------


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest's output clean
        pass


@pytest.fixture
def http_monitor(tmp_path):
    """A loopback HTTP server serving tmp_path/www; yields its base URL."""
    root = tmp_path / "www"
    root.mkdir()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, "http://127.0.0.1:%d" % server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_url_groups_and_hostvars(tmp_path, http_monitor):
    root, base = http_monitor
    write_state(root, fleet(**FLEET))
    inventory = load(write_source(tmp_path, name="fleet.heartbeat.yml", url=base + "/state.json", timeout=2))
    assert members(inventory, "silent") == ["node7"]
    assert members(inventory, "failing") == ["node3"]
    assert members(inventory, "degraded") == ["node2"]
    assert members(inventory, "healthy") == ["node1"]
    assert inventory.get_host("node7").get_vars()["imagenode_heartbeat"]["age"] == 95.0


def test_url_not_found_is_a_clear_error(tmp_path, http_monitor):
    _root, base = http_monitor
    url = base + "/state.json"
    with pytest.raises(AnsibleParserError, match="could not be read") as raised:
        parse_directly(write_source(tmp_path, name="fleet.heartbeat.yml", url=url))
    assert url in str(raised.value)


def test_url_malformed_json_names_the_url(tmp_path, http_monitor):
    root, base = http_monitor
    write_state(root, "<html>monitor</html>")
    url = base + "/state.json"
    with pytest.raises(AnsibleParserError, match="not valid JSON") as raised:
        parse_directly(write_source(tmp_path, name="fleet.heartbeat.yml", url=url))
    assert url in str(raised.value)


def test_url_must_be_http(tmp_path):
    with pytest.raises(AnsibleParserError, match="http:// or https://"):
        parse_directly(write_source(tmp_path, url="file:///etc/passwd"))


def test_timeout_is_honoured(tmp_path):
    # A listening socket that never answers: the read gives up after timeout.
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)
    try:
        url = "http://127.0.0.1:%d/state.json" % sock.getsockname()[1]
        start = time.monotonic()
        with pytest.raises(AnsibleParserError, match="could not be read"):
            parse_directly(write_source(tmp_path, url=url, timeout=0.5))
        assert time.monotonic() - start < 5
    finally:
        sock.close()


def test_url_without_the_state_path_says_so(tmp_path, http_monitor):
    root, base = http_monitor
    (root / "index.html").write_text("imagenode-monitor ok\n")
    with pytest.raises(AnsibleParserError, match="not valid JSON") as raised:
        parse_directly(write_source(tmp_path, name="fleet.heartbeat.yml", url=base + "/"))
    assert "/state.json: does the url lack that path?" in str(raised.value)


def test_url_with_the_state_path_gets_no_hint(tmp_path, http_monitor):
    root, base = http_monitor
    write_state(root, "<html>monitor</html>")
    with pytest.raises(AnsibleParserError, match="not valid JSON") as raised:
        parse_directly(write_source(tmp_path, name="fleet.heartbeat.yml", url=base + "/state.json"))
    assert "lack that path" not in str(raised.value)
