"""The probe and the heartbeat monitor on a real lab fleet, deployed by playbooks/deploy.yml.

Nothing here is simulated: hub1 runs imagenode-monitor under systemd; node1
(systemd), node4 (cron) and node6 (screen) run the stand-in camera program
by their start method and imagenode-probe.service (Type=notify, WatchdogSec)
with CURVE keys the probe role made on each host. The fault is real: kill -9
of the camera program under cron.
The lab inventory runs the probe every 3 s with a 20 s grace (a Pi's
defaults are 10 s and 60 s); the monitor calls a node silent after 3 missed
intervals.

Every fault below is real (kill -9, SIGSTOP, a paused container, an nftables
drop of the monitor's port, a stopped hub program, foreign CURVE keys and
malformed frames sent from a node over the lab network). The tests share
one deployed fleet and run in file order; the hub1 failover is last because
it moves every node to hub2.
"""
import json
import os
import random
import re
import shutil
import subprocess
import sys
import time
import urllib.request

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "lab"))
import labctl  # noqa: E402

pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("podman"), reason="the lab needs root and podman"),
]

HOSTS = ["hub1", "hub2", "node1", "node4", "node6"]
NODES = ["node1", "node4", "node6"]
MONITOR = "http://%s:9108" % labctl.host("hub1")["ip"]
BIN = os.path.join(ROOT, ".venv", "bin")
ENV = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1",
           PATH="%s:%s" % (BIN, os.environ["PATH"]))
CAMERA = "python3 -u .*imagenode.py"
KEYS = "/etc/imagenode-health/keys"
MONITOR_ZMQ = "tcp://%s:5556" % labctl.host("hub1")["ip"]
PROBE = "/opt/imagenode-health/bin/imagenode-probe"
with open(os.path.join(ROOT, "tests", "lab", "monitor_client.py"), encoding="utf-8") as _f:
    CLIENT = _f.read()
TIMES = {}
RECAP = re.compile(r"^(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


def playbook(*args, timeout=900):
    proc = subprocess.run([os.path.join(BIN, "ansible-playbook")] + list(args), cwd=ROOT, env=ENV,
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    return proc.stdout


def recap(output):
    return dict((m.group(1), {"changed": int(m.group(3)), "unreachable": int(m.group(4)), "failed": int(m.group(5))})
                for m in RECAP.finditer(output))


def sh(name, *argv, check=True, timeout=60):
    return labctl.exec_in(name, list(argv), check=check, timeout=timeout)


def monitor_state():
    with urllib.request.urlopen(MONITOR + "/state.json", timeout=5) as response:
        return json.loads(response.read().decode("utf-8"))


def node_entry(name):
    return monitor_state()["nodes"].get(name) or {}


def wait_for(predicate, timeout, step=0.5, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    value = predicate()
    assert value, "timed out after %s s waiting for %s" % (timeout, what)
    return value


def camera_pids(name):
    proc = sh(name, "pgrep", "-f", CAMERA, check=False)
    return sorted(int(p) for p in proc.stdout.split())


def events(name):
    proc = sh(name, "cat", "/var/lib/imagenode-health/events.json", check=False)
    return json.loads(proc.stdout)["events"] if proc.returncode == 0 else []


@pytest.fixture(scope="module")
def fleet():
    with labctl.lab_session():
        labctl.up(HOSTS)
        playbook("lab/playbooks/cameras.yml", "-l", ",".join(NODES))
        started = time.monotonic()
        first = playbook("playbooks/deploy.yml", "-l", ",".join(["hub1"] + NODES))
        TIMES["deploy"] = round(time.monotonic() - started, 1)
        started = time.monotonic()
        second = playbook("playbooks/deploy.yml", "-l", ",".join(["hub1"] + NODES))
        TIMES["deploy_again"] = round(time.monotonic() - started, 1)
        # every node heartbeating and healthy, and past the probe's start grace
        wait_for(lambda: all(node_entry(n).get("state") == "healthy" for n in NODES), 90, what="a healthy fleet")
        time.sleep(max(0, 22 - (time.monotonic() - started)))
        yield {"first": recap(first), "second": recap(second)}
        print("\nprobe fleet times: %s" % json.dumps(TIMES, sort_keys=True))
        labctl.down()


def test_deploy_sets_up_probe_and_monitor_and_is_idempotent(fleet):
    assert set(fleet["first"]) == {"hub1"} | set(NODES)
    assert all(r["changed"] > 0 for r in fleet["first"].values())
    # the second run of deploy.yml changes nothing on any host (and so restarts nothing)
    assert {h: r["changed"] for h, r in fleet["second"].items()} == dict.fromkeys(["hub1"] + NODES, 0)
    for name in NODES:
        # the secret key is the node's own: made there, root's, 0600
        stat = sh(name, "stat", "-c", "%a %U", "/etc/imagenode-health/keys/%s.key_secret" % name).stdout.split()
        assert stat == ["600", "root"]
        shown = sh(name, "systemctl", "show", "-p", "Type,WatchdogUSec,ActiveState", "imagenode-probe.service").stdout
        assert "Type=notify" in shown and "WatchdogUSec=30s" in shown and "ActiveState=active" in shown
        assert sh(name, "/opt/imagenode-health/bin/imagenode-probe", "validate").returncode == 0
        fact = json.loads(sh(name, "cat", "/etc/ansible/facts.d/imagenode_health.fact").stdout)
        assert fact["node"] == name and fact["status"] == "ok"
        prom = sh(name, "cat", "/var/lib/prometheus/node-exporter/imagenode_health.prom").stdout
        assert "imagenode_health_" in prom
    # hub1's allow list names each node's key after the node; secrets never travel
    clients = sh("hub1", "ls", "/etc/imagenode-health/keys/clients").stdout.split()
    assert sorted(clients) == sorted("%s.key" % n for n in NODES)
    assert "secret" not in sh("hub1", "cat", *["/etc/imagenode-health/keys/clients/%s.key" % n for n in NODES]).stdout
    # `setup` shows the probe's view of the node (the local fact)
    out = subprocess.run([os.path.join(BIN, "ansible"), "node4", "-m", "ansible.builtin.setup", "-a",
                          "filter=ansible_local"], cwd=ROOT, capture_output=True, text=True, timeout=120,
                         env=dict(ENV, ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json"))
    assert out.returncode == 0, out.stdout + out.stderr
    result = json.loads(out.stdout)["plays"][0]["tasks"][0]["hosts"]["node4"]
    local = result["ansible_facts"]["ansible_local"]["imagenode_health"]
    assert local["node"] == "node4" and local["source"] == "imagenode-probe" and local["status"] == "ok"


def test_camera_killed_under_cron_is_restarted_by_the_probe_before_cron(fleet):
    name = "node4"  # started by cron: @reboot and an every-minute keep-alive
    # kill just after a minute starts, so cron's keep-alive is at least 50 s away
    wait_for(lambda: 2 <= time.localtime().tm_sec <= 8, 70, step=0.2, what="the start of a minute")
    minute = time.localtime().tm_min
    old = camera_pids(name)
    assert len(old) == 1
    killed = time.monotonic()
    sh(name, "kill", "-9", str(old[0]))
    new = wait_for(lambda: [p for p in camera_pids(name) if p not in old], 45, step=0.2, what="a new camera program")
    TIMES["cron_kill_to_restart"] = round(time.monotonic() - killed, 1)
    # restarted within the same minute: cron's keep-alive had not run yet
    assert time.localtime().tm_min == minute, TIMES
    assert len(camera_pids(name)) == 1
    # the probe records its step once it has proven the new instance (a few seconds after it starts)
    restart = wait_for(lambda: [e for e in events(name) if e.get("action") == "imagenode_restart"], 30,
                       what="the probe's record of its restart")
    assert restart[-1]["result"] == "fixed", restart
    # the restarted program is still cron's: the next check says so
    wait_for(lambda: node_entry(name).get("state") == "healthy"
             and (node_entry(name).get("last_action") or {}).get("action") == "imagenode_restart", 30,
             what="the monitor to show node4 healthy after its restart")
    assert len(camera_pids(name)) == 1


def dropped():
    return monitor_state()["monitor"]["dropped"]


def client(name, *args, timeout=300):
    """tests/lab/monitor_client.py run inside a node with its python3-zmq; its JSON line."""
    proc = labctl.exec_in(name, ["python3", "-", *args], input=CLIENT, timeout=timeout)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_unknown_key_and_false_name_are_refused_and_counted(fleet):
    before = dropped()
    # a CURVE key no one authorized: the ZAP handler refuses it, no ACK ever comes
    rogue = client("node6", "rogue", "node6", MONITOR_ZMQ, "%s/monitor-hub1.key" % KEYS)
    assert rogue["reply"] is None
    # node6's own, authorized key sending as node1: dropped as name_mismatch, no ACK
    false = client("node6", "as", "node1", MONITOR_ZMQ, "%s/monitor-hub1.key" % KEYS, "%s/node6.key_secret" % KEYS)
    assert false["reply"] is None
    after = wait_for(lambda: (lambda d: d if d["unauthenticated"] > before["unauthenticated"]
                              and d["name_mismatch"] > before["name_mismatch"] else None)(dropped()),
                     10, what="both refusals counted")
    assert after["name_mismatch"] == before["name_mismatch"] + 1
    # neither reached node1's record (its seq is the probe's, not the fake one)
    assert node_entry("node1")["seq"] < 10 ** 9
    # node6's own heartbeats, same key, still go through: the refusal was the name, not the key
    received = node_entry("node6")["received"]
    wait_for(lambda: node_entry("node6")["received"] > received, 15, what="node6's next heartbeat")
    assert node_entry("node6")["state"] == "healthy"


def test_100000_malformed_frames_are_counted_and_the_monitor_keeps_serving(fleet):
    before = dropped()
    received = node_entry("node6")["received"]
    flood = client("node6", "flood", "100000", MONITOR_ZMQ, "%s/monitor-hub1.key" % KEYS,
                   "%s/node6.key_secret" % KEYS)
    assert sum(flood["sent"].values()) == 100000
    kinds = list(flood["sent"])

    def counted():
        now = dropped()
        return now if sum(now[k] - before[k] for k in now) >= 100000 else None
    try:
        after = wait_for(counted, 60, what="all 100,000 malformed messages counted")
    finally:
        print("\nflood: sent %s, counted %s" % (flood, dict((k, v - before.get(k, 0)) for k, v in dropped().items())))
    assert dict((k, after[k] - before[k]) for k in after if after[k] != before[k]) == flood["sent"]
    # still serving: HTTP answers, and node6's real heartbeats are still ACKed and stored
    with urllib.request.urlopen(MONITOR + "/healthz", timeout=5) as response:
        assert response.status == 200
    wait_for(lambda: node_entry("node6")["received"] >= received + 3, 30, what="node6's next heartbeats")
    assert sh("hub1", "systemctl", "show", "-p", "NRestarts", "imagenode-monitor.service").stdout.strip() == \
        "NRestarts=0"


def probe_pid(name):
    return int(sh(name, "systemctl", "show", "-p", "MainPID", "--value", "imagenode-probe.service").stdout)


def test_probe_killed_while_writing_state_always_leaves_readable_state(fleet):
    name = "node1"
    rng = random.Random(7)
    for _round in range(5):
        pid = wait_for(lambda: probe_pid(name), 30, what="a running probe")
        # at a random point of its 3 s cycle: sometimes in the middle of writing state.json
        time.sleep(rng.uniform(0.0, 3.0))
        sh(name, "kill", "-9", str(pid))
        text = sh(name, "cat", "/var/lib/imagenode-health/state.json").stdout
        state = json.loads(text)
        assert state["node"] == name and isinstance(state["next_seq"], int)
        # and the event log the playbooks share with it (a killed writer may leave a temp file
        # beside them, never a torn file; the next writer removes stale temps)
        assert isinstance(events(name), list)
        wait_for(lambda: probe_pid(name) not in (0, pid), 30, what="systemd to restart the probe")
    assert sh(name, PROBE, "status").returncode == 0
    # the restarted probe carries on the sequence: the monitor saw no seq go backwards
    wait_for(lambda: node_entry(name).get("state") == "healthy", 60, what="node1 healthy again")
    assert node_entry(name)["out_of_order"] == 0


def test_stopped_probe_is_replaced_by_the_systemd_watchdog(fleet):
    name = "node1"
    pid = probe_pid(name)
    restarts = int(sh(name, "systemctl", "show", "-p", "NRestarts", "--value", "imagenode-probe.service").stdout)
    sh(name, "kill", "-STOP", str(pid))  # running, but alive no more: only WATCHDOG=1 tells the difference
    stopped = time.monotonic()
    wait_for(lambda: probe_pid(name) not in (0, pid), 75, step=1, what="the watchdog to replace the stopped probe")
    TIMES["sigstop_to_new_probe"] = round(time.monotonic() - stopped, 1)
    assert int(sh(name, "systemctl", "show", "-p", "NRestarts", "--value",
                  "imagenode-probe.service").stdout) == restarts + 1
    journal = sh(name, "journalctl", "-u", "imagenode-probe.service", "--no-pager", "-n", "50").stdout
    assert "Watchdog timeout" in journal, journal[-2000:]
    wait_for(lambda: node_entry(name).get("state") == "healthy", 60, what="node1 healthy again")


def heartbeat_inventory():
    # UNPARSED_FAILED: a source the plugin cannot read is an error, not an empty inventory
    out = subprocess.run([os.path.join(BIN, "ansible-inventory"), "-i", "inventory/lab.heartbeat.yml", "--list"],
                         cwd=ROOT, env=dict(ENV, ANSIBLE_INVENTORY_UNPARSED_FAILED="true"), capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    return json.loads(out.stdout)


def test_paused_node_is_silent_for_monitor_and_inventory_and_comes_back(fleet):
    name = "node6"
    container = labctl.host(name)["container"]
    subprocess.run(["podman", "pause", container], check=True, capture_output=True)
    try:
        paused = time.monotonic()
        # silent after 3 missed 3 s intervals
        wait_for(lambda: node_entry(name).get("state") == "silent", 30, what="node6 silent")
        TIMES["pause_to_silent"] = round(time.monotonic() - paused, 1)
        groups = heartbeat_inventory()
        assert name in groups["silent"]["hosts"]
        assert "node4" in groups["healthy"]["hosts"] and "node4" not in groups["silent"]["hosts"]
    finally:
        subprocess.run(["podman", "unpause", container], check=True, capture_output=True)
    wait_for(lambda: node_entry(name).get("state") == "healthy", 60, what="node6 back")
    assert name in heartbeat_inventory()["healthy"]["hosts"]
    assert node_entry(name)["out_of_order"] == 0


def test_cut_link_queues_heartbeats_and_sends_them_in_order_on_reconnect(fleet):
    name = "node4"
    table = "probe_test_cut"
    before = node_entry(name)
    # a real cut: the node's packets to the monitor's port are dropped
    sh(name, "nft", "add", "table", "inet", table)
    sh(name, "nft", "add", "chain", "inet", table, "out", "{ type filter hook output priority 0 ; }")
    sh(name, "nft", "add", "rule", "inet", table, "out", "ip", "daddr", labctl.host("hub1")["ip"],
       "tcp", "dport", "5556", "drop")
    try:
        wait_for(lambda: node_entry(name).get("state") == "silent", 40, what="node4 silent behind the cut")
        queued = wait_for(lambda: json.loads(sh(name, "cat", "/var/lib/imagenode-health/state.json").stdout)
                          ["queue_length"] >= 4, 40, what="heartbeats queued on disk")
        assert queued
    finally:
        sh(name, "nft", "delete", "table", "inet", table)
    back = wait_for(lambda: (lambda e: e if e.get("state") == "healthy" and e.get("queued") == 0 else None)(
        node_entry(name)), 90, what="node4 back with its queue sent")
    # every heartbeat of the cut arrived, none out of order, none twice
    assert back["out_of_order"] == before["out_of_order"]
    assert back["received"] - before["received"] == back["seq"] - before["seq"]
    assert back["duplicates"] == before["duplicates"]


def hubs_of(name):
    import yaml
    config = yaml.safe_load(sh(name, "cat", "/home/pi/imagenode.yaml").stdout)
    return [config["hub_address"][k] for k in sorted(config["hub_address"])]


def test_hub1_stopped_nodes_move_to_hub2_without_a_playbook(fleet):
    assert all(hubs_of(n)[0] == "tcp://hub1:5555" for n in NODES)
    labctl.hub_stop("hub1")
    stopped = time.monotonic()
    try:
        for name in NODES:
            wait_for(lambda: hubs_of(name)[0] == "tcp://hub2:5555", 150, step=2,
                     what="%s's probe to put hub2 first in its imagenode.yaml" % name)
            TIMES["hub1_stop_to_failover_" + name] = round(time.monotonic() - stopped, 1)
        # the cameras stream to hub2 now, one instance each, and the probes say why
        wait_for(lambda: all(n in labctl.hub_log("hub2") for n in NODES), 60, what="every camera at hub2")
        for name in NODES:
            assert len(camera_pids(name)) == 1, name
            record = wait_for(lambda: [e for e in events(name) if e.get("action") == "hub_failover"], 30,
                              what="%s's hub_failover record" % name)
            assert record[-1]["result"] in ("fixed", "changed"), record[-1]
            # hub2 answers as H1 now; hub1, the alternate, is still down: hub_check warns, the node
            # is degraded (no longer failing) until hub1 is back
            wait_for(lambda: node_entry(name).get("state") in ("degraded", "healthy")
                     and node_entry(name).get("checks", {}).get("hub_check") in ("ok", "warn"), 60,
                     what="%s no longer failing, on hub2" % name)
    finally:
        labctl.hub_start("hub1")
