"""The heartbeat inventory plugin as a user runs it: ansible-inventory with a
monitor.heartbeat.yml source, from the repo with its ansible.cfg."""

import json
import time

from conftest import ROOT, run, venv_tool


def _entry(state, status, age):
    return {"state": state, "status": status, "checks": {"hub_check": status}, "last_seen": time.time() - age,
            "age": age, "step": None, "last_action": None, "seq": 12}


def _write(tmp_path, generated=None, **options):
    state = {
        "nodes": {
            "node1": _entry("healthy", "ok", 3),
            "node2": _entry("degraded", "warn", 4),
            "node3": _entry("failing", "fail", 5),
            "node7": _entry("silent", "unknown", 120),
        },
        "generated": time.time() if generated is None else generated,
        "silent_after": 3,
    }
    (tmp_path / "state.json").write_text(json.dumps(state))
    lines = ["plugin: imagenode.health.heartbeat", "path: state.json"]
    lines += ["%s: %s" % (key, json.dumps(value)) for key, value in options.items()]
    source = tmp_path / "monitor.heartbeat.yml"
    source.write_text("\n".join(lines) + "\n")
    return str(source)


def _hosts(listing, group):
    return sorted(listing.get(group, {}).get("hosts", []))


def _unwrap(value):
    """ansible-inventory marks strings from a plugin as unsafe in its JSON."""
    if isinstance(value, dict) and set(value) == {"__ansible_unsafe"}:
        return value["__ansible_unsafe"]
    return value


def test_list_has_the_health_groups(ansible_env, tmp_path):
    source = _write(tmp_path)
    proc = run([venv_tool("ansible-inventory"), "-i", source, "--list"], env=ansible_env, cwd=str(ROOT))
    assert proc.returncode == 0, proc.stderr
    listing = json.loads(proc.stdout)
    for group in ("healthy", "degraded", "failing", "silent"):
        assert group in listing["all"]["children"]
    assert _hosts(listing, "healthy") == ["node1"]
    assert _hosts(listing, "degraded") == ["node2"]
    assert _hosts(listing, "failing") == ["node3"]
    assert _hosts(listing, "silent") == ["node7"]
    hostvars = listing["_meta"]["hostvars"]["node3"]
    assert _unwrap(hostvars["imagenode_heartbeat_state"]) == "failing"
    assert _unwrap(hostvars["imagenode_heartbeat"]["status"]) == "fail"
    assert "Failed to parse" not in proc.stderr


def test_graph_silent(ansible_env, tmp_path):
    source = _write(tmp_path)
    proc = run([venv_tool("ansible-inventory"), "-i", source, "--graph", "silent"], env=ansible_env, cwd=str(ROOT))
    assert proc.returncode == 0, proc.stderr
    lines = [line.strip() for line in proc.stdout.splitlines()]
    assert lines[0] == "@silent:"
    assert [line for line in lines[1:] if line] == ["|--node7"]


def test_stale_state_file_makes_every_node_silent(ansible_env, tmp_path):
    source = _write(tmp_path, generated=time.time() - 3600)
    proc = run([venv_tool("ansible-inventory"), "-i", source, "--graph", "silent"], env=ansible_env, cwd=str(ROOT))
    assert proc.returncode == 0, proc.stderr
    assert sorted(line.strip() for line in proc.stdout.splitlines()[1:] if line.strip()) == [
        "|--node1", "|--node2", "|--node3", "|--node7"]


def test_combined_with_the_lab_inventory(ansible_env, tmp_path):
    # The heartbeat source adds groups; the lab inventory keeps its own hosts.
    source = _write(tmp_path, group_prefix="hb_")
    proc = run([venv_tool("ansible-inventory"), "-i", str(ROOT / "inventory" / "lab.yml"), "-i", source, "--list"],
               env=ansible_env, cwd=str(ROOT))
    assert proc.returncode == 0, proc.stderr
    listing = json.loads(proc.stdout)
    assert _hosts(listing, "hb_silent") == ["node7"]
    assert "hb_healthy" in listing["all"]["children"]
    node7 = listing["_meta"]["hostvars"]["node7"]
    assert _unwrap(node7["ansible_host"]) == "inlab-node7"  # from lab.yml
    assert _unwrap(node7["imagenode_heartbeat_state"]) == "silent"  # from the monitor


def test_malformed_state_is_reported_by_name(ansible_env, tmp_path):
    source = _write(tmp_path)
    (tmp_path / "state.json").write_text("{not json")
    proc = run([venv_tool("ansible-inventory"), "-i", source, "--list"], env=dict(ansible_env, ANSIBLE_INVENTORY_UNPARSED_FAILED="true"),
               cwd=str(ROOT))
    assert proc.returncode != 0
    assert "not valid JSON" in proc.stderr and str(tmp_path / "state.json") in proc.stderr


def test_ansible_doc_renders(ansible_env):
    proc = run([venv_tool("ansible-doc"), "--json", "-t", "inventory", "imagenode.health.heartbeat"], env=ansible_env,
               cwd=str(ROOT))
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)["imagenode.health.heartbeat"]["doc"]
    for option in ("url", "path", "timeout", "validate_certs", "recompute_silent", "group_prefix"):
        assert doc["options"][option]["type"] and doc["options"][option]["description"], option
    assert doc["options"]["recompute_silent"]["default"] is True
