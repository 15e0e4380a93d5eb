"""The probe and the heartbeat monitor on a real lab fleet, deployed by playbooks/deploy.yml.

Nothing here is simulated: hub1 runs imagenode-monitor under systemd; node1
(systemd), node4 (cron) and node6 (screen) run the stand-in camera program
by their start method and imagenode-probe.service (Type=notify, WatchdogSec)
with CURVE keys the probe role made on each host. Faults are real: kill -9 of
the camera program, hub1's program stopped, a paused container, a link to
the monitor cut with nftables, a probe frozen with SIGSTOP or killed with -9.
The lab inventory runs the probe every 3 s with a 20 s grace (a Pi's
defaults are 10 s and 60 s); the monitor calls a node silent after 3 missed
intervals.
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


def probe_status(name):
    return json.loads(sh(name, "/opt/imagenode-health/bin/imagenode-probe", "status", "--json").stdout)


def events(name):
    proc = sh(name, "cat", "/var/lib/imagenode-health/events.json", check=False)
    return json.loads(proc.stdout)["events"] if proc.returncode == 0 else []


def main_pid(name):
    return int(sh(name, "systemctl", "show", "-p", "MainPID", "--value", "imagenode-probe.service").stdout.strip())


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


def test_hub1_stopped_moves_nodes_to_hub2_without_a_playbook(fleet):
    before = dict((n, sh("hub2", "grep", "-c", "%s lab|jpg" % n, labctl.HUB_LOG, check=False).stdout.strip() or "0")
                  for n in NODES)
    labctl.hub_stop("hub1")
    stopped = time.monotonic()
    try:
        def moved():
            return all(re.search(r"^H1:\s*tcp://hub2:5555", sh(n, "cat", "/home/pi/imagenode.yaml").stdout, re.M)
                       for n in NODES)
        wait_for(moved, 150, step=1, what="every node's imagenode.yaml to list hub2 first")
        TIMES["hub1_stop_to_failover"] = round(time.monotonic() - stopped, 1)

        def sending():
            return all(int(sh("hub2", "grep", "-c", "%s lab|jpg" % n, labctl.HUB_LOG, check=False).stdout.strip()
                           or 0) > int(before[n]) for n in NODES)
        wait_for(sending, 60, step=1, what="hub2 to receive every node's frames")
        for name in NODES:
            failover = wait_for(lambda: [e for e in events(name) if e["action"] == "hub_failover"], 30,
                                what="%s's record of its failover" % name)
            assert failover[-1]["result"] == "fixed", failover
            assert len(camera_pids(name)) == 1
    finally:
        labctl.hub_start("hub1")


def test_paused_node_goes_silent_and_returns(fleet):
    name = "node6"
    labctl.run(["podman", "pause", labctl.host(name)["container"]])
    paused = time.monotonic()
    try:
        seq_before = node_entry(name).get("seq")
        wait_for(lambda: node_entry(name).get("state") == "silent", 30, what="node6 silent")
        TIMES["pause_to_silent"] = round(time.monotonic() - paused, 1)
        # 3 missed intervals of 3 s: not silent before 9 s
        assert time.monotonic() - paused >= 9 - 3
        inventory = subprocess.run([os.path.join(BIN, "ansible-inventory"), "-i", "inventory/lab.yml", "-i",
                                    "inventory/lab.heartbeat.yml", "--list"], cwd=ROOT, env=ENV,
                                   capture_output=True, text=True, timeout=120)
        assert inventory.returncode == 0, inventory.stderr
        groups = json.loads(inventory.stdout)
        assert groups["silent"]["hosts"] == [name]
        assert set(groups.get("healthy", {}).get("hosts", [])) | set(groups.get("degraded", {}).get("hosts", [])) \
            >= {"node1", "node4"}
    finally:
        labctl.run(["podman", "unpause", labctl.host(name)["container"]])
    wait_for(lambda: node_entry(name).get("state") in ("healthy", "degraded"), 30, what="node6 back")
    entry = node_entry(name)
    assert entry["seq"] > seq_before and entry["out_of_order"] == 0


def test_cut_link_queues_heartbeats_and_delivers_them_in_order(fleet):
    name = "node1"
    hub1 = labctl.host("hub1")["ip"]
    before = node_entry(name)
    rule = ["nft", "add", "table", "inet", "labcut"]
    sh(name, *rule)
    sh(name, "nft", "add", "chain", "inet", "labcut", "out", "{ type filter hook output priority 0 ; }")
    sh(name, "nft", "add", "rule", "inet", "labcut", "out", "ip", "daddr", hub1, "tcp", "dport", "5556", "drop")
    try:
        wait_for(lambda: node_entry(name).get("state") == "silent", 40, what="node1 silent with its link cut")
        queued = wait_for(lambda: probe_status(name)["queue_length"] >= 3 and probe_status(name)["queue_length"],
                          60, what="heartbeats queued on node1")
    finally:
        sh(name, "nft", "delete", "table", "inet", "labcut")
    restored = time.monotonic()
    wait_for(lambda: probe_status(name)["queue_length"] == 0, 60, what="node1's queue delivered")
    TIMES["queue_delivered"] = round(time.monotonic() - restored, 1)
    after = node_entry(name)
    # every queued heartbeat arrived (received counts each stored one), none out of order or twice
    assert after["received"] - before["received"] >= queued
    assert after["out_of_order"] == before["out_of_order"] and after["duplicates"] == before["duplicates"]
    assert after["seq"] >= before["seq"] + queued and after["state"] in ("healthy", "degraded")


INTRUDER = r"""
import json, sys, time, zmq, zmq.auth
sys.path.insert(0, "/opt/imagenode-health")
from imagenode_health_core import heartbeat as hb
mode, claim = sys.argv[1], sys.argv[2]
server, _ = zmq.auth.load_certificate("/etc/imagenode-health/keys/monitor-hub1.key")
if mode == "rogue":
    public, secret = zmq.curve_keypair()
else:
    public, secret = zmq.auth.load_certificate("/etc/imagenode-health/keys/node1.key_secret")
ctx = zmq.Context()
sock = ctx.socket(zmq.DEALER)
sock.setsockopt(zmq.LINGER, 0)
sock.setsockopt(zmq.SNDHWM, 200000)
sock.curve_publickey, sock.curve_secretkey, sock.curve_serverkey = public, secret, server
sock.connect("tcp://hub1:5556")
beat = {"node": claim, "seq": 10**9, "status": "fail", "interval": 3, "sent": time.time(), "boot_id": "x",
        "checks": {"hub_check": "fail"}, "step": None, "last_action": None, "events": [], "queued": 0}
if mode == "flood":
    rng = __import__("random").Random(7)
    kinds = [[b"junk"], [hb.MAGIC, b"{not json"], [hb.MAGIC, b'{"node": 1}'], [b"XXXX", b"{}"],
             [hb.MAGIC, b"x" * (hb.MAX_BYTES + 1)], [hb.MAGIC, b"[]", b"extra"]]
    for i in range(100000):
        sock.send_multipart(kinds[rng.randrange(len(kinds))] if rng.random() < 0.9
                            else [hb.MAGIC, bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64)))])
    beat["node"], beat["status"] = "node1", "ok"
sock.send_multipart(hb.encode(beat))
deadline = time.time() + (30 if mode == "flood" else 2)
ack = None
while time.time() < deadline and ack is None:
    if sock.poll(200):
        ack = hb.parse_ack(sock.recv_multipart())
print(json.dumps({"ack": ack}))
"""


def intruder(mode, claim):
    return json.loads(sh("node1", "python3", "-c", INTRUDER, mode, claim, timeout=120).stdout)


def dropped():
    return monitor_state()["monitor"]["dropped"]


def test_unknown_keys_and_false_names_are_refused_and_counted(fleet):
    before = dropped()
    assert intruder("rogue", "node4") == {"ack": None}  # a key the monitor does not know
    wait_for(lambda: dropped()["unauthenticated"] > before["unauthenticated"], 10, what="the refusal counted")
    assert intruder("claim", "node4") == {"ack": None}  # node1's key speaking as node4
    wait_for(lambda: dropped()["name_mismatch"] == before["name_mismatch"] + 1, 10, what="the false name counted")
    assert node_entry("node4").get("status") != "fail"


def test_a_flood_of_malformed_frames_is_counted_and_the_monitor_keeps_serving(fleet):
    before = dropped()
    result = intruder("flood", "node1")
    # after 100,000 bad frames the same connection's good heartbeat is answered
    assert result["ack"] == 10 ** 9
    after = dropped()
    counted = sum(after.values()) - sum(before.values())
    assert counted >= 100000, (before, after)
    assert after["internal"] == before["internal"]
    assert sh("hub1", "systemctl", "is-active", "imagenode-monitor.service").stdout.strip() == "active"
    wait_for(lambda: all(node_entry(n).get("age", 99) < 10 for n in NODES), 30, what="the fleet still heard")


def test_a_frozen_probe_is_restarted_by_the_watchdog(fleet):
    name = "node4"
    pid = main_pid(name)
    sh(name, "kill", "-STOP", str(pid))
    frozen = time.monotonic()
    new = wait_for(lambda: main_pid(name) not in (0, pid) and main_pid(name), 75, step=1,
                   what="systemd's watchdog to replace the frozen probe")
    TIMES["watchdog_restart"] = round(time.monotonic() - frozen, 1)
    journal = sh(name, "journalctl", "-u", "imagenode-probe.service", "--no-pager", "-n", "200").stdout
    assert "Watchdog timeout" in journal or "watchdog" in journal.lower()
    wait_for(lambda: sh(name, "systemctl", "is-active", "imagenode-probe.service", check=False).stdout.strip()
             == "active", 30, what="the new probe ready")
    assert new != pid


STATE_FILES = ["/var/lib/imagenode-health/state.json", "/var/lib/imagenode-health/events.json"]


def test_kill_9_of_the_probe_never_leaves_a_half_written_state(fleet):
    name = "node6"
    rng = random.Random(6)
    for _ in range(5):
        pid = main_pid(name)
        time.sleep(rng.uniform(0.0, 3.0))
        sh(name, "kill", "-9", str(pid))
        for path in STATE_FILES:
            json.loads(sh(name, "cat", path).stdout)  # readable JSON, every time
        wait_for(lambda: main_pid(name) not in (0, pid), 30, what="systemd to start the probe again")
    status = probe_status(name)
    assert status["state"]["node"] == name and isinstance(status["events"], list)
    leftovers = sh(name, "find", "/var/lib/imagenode-health", "-name", "*.tmp", "-mmin", "+1").stdout
    assert leftovers == ""
