"""The probe and the heartbeat monitor on a real lab fleet, deployed by playbooks/deploy.yml.

Nothing here is simulated: hub1 runs imagenode-monitor under systemd; node1
(systemd), node4 (cron) and node6 (screen) run the stand-in camera program
by their start method and imagenode-probe.service (Type=notify, WatchdogSec)
with CURVE keys the probe role made on each host. The fault is real: kill -9
of the camera program under cron.
The lab inventory runs the probe every 3 s with a 20 s grace (a Pi's
defaults are 10 s and 60 s); the monitor calls a node silent after 3 missed
intervals.
"""
import json
import os
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
