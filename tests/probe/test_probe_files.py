"""sd_notify to a real datagram socket; kill -9 safety of every file; the Prometheus textfile; the CLI."""

import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import time

from .conftest import PROBES, FakeClock, FakeHealth, checks_healthy, checks_hub_fault

from imagenode_probe.daemon import Probe
from imagenode_probe.notify import sd_notify


def _received(sock):
    got = []
    sock.settimeout(0.2)
    while True:
        try:
            got.append(sock.recv(4096).decode())
        except socket.timeout:
            return got


def test_sd_notify_path_and_abstract(tmp_path):
    path = str(tmp_path / "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    abstract = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    name = "imagenode-probe-test-%d" % os.getpid()
    abstract.bind("\0" + name)
    try:
        assert sd_notify("READY=1", {"NOTIFY_SOCKET": path})
        assert sd_notify("WATCHDOG=1", {"NOTIFY_SOCKET": "@" + name})
        assert _received(sock) == ["READY=1"] and _received(abstract) == ["WATCHDOG=1"]
        assert not sd_notify("READY=1", {})
        assert not sd_notify("READY=1", {"NOTIFY_SOCKET": str(tmp_path / "nobody")})
    finally:
        sock.close()
        abstract.close()


def test_run_sends_ready_and_watchdog_per_cycle(make_config, tmp_path):
    path = str(tmp_path / "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    try:
        probe = Probe(make_config(interval=1), health=FakeHealth(checks_healthy), boot_id="b",
                      environ={"NOTIFY_SOCKET": path})
        probe.run(max_cycles=2)
        messages = _received(sock)
    finally:
        sock.close()
    assert messages[0].startswith("READY=1")
    assert sum(1 for m in messages if m.startswith("WATCHDOG=1")) == 2
    assert messages[-1] == "STOPPING=1"


def test_no_watchdog_when_the_cycle_fails(make_config, tmp_path):
    path = str(tmp_path / "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    try:
        probe = Probe(make_config(interval=1), health=FakeHealth(checks_healthy), boot_id="b",
                      environ={"NOTIFY_SOCKET": path})
        probe.run_cycle = lambda: 1 / 0
        probe.run(max_cycles=1)
        messages = _received(sock)
    finally:
        sock.close()
    assert not any(m.startswith("WATCHDOG") for m in messages)


PROM_LINE = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[a-zA-Z_][a-zA-Z0-9_]*="(?:\\.|[^"\\])*"'
                       r'(,[a-zA-Z_][a-zA-Z0-9_]*="(?:\\.|[^"\\])*")*\})? -?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$')


def test_textfile_and_fact(make_config):
    steps = {"zmq_reset": lambda probe, plan, health: {"changed": True, "fixed": False, "summary": "s"}}
    probe = Probe(make_config(debounce=1), health=FakeHealth(checks_hub_fault), steps=steps, clock=FakeClock(),
                  boot_id="b")
    probe.run_cycle(send=False)
    text = open(probe.config["textfile"]).read()
    assert text.endswith("\n")
    for line in text.splitlines():
        assert re.match(r"^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .+$", line) or PROM_LINE.match(line), line
    values = dict(line.rsplit(" ", 1) for line in text.splitlines() if not line.startswith("#"))
    assert values['imagenode_health_status{node="testnode"}'] == "2"
    assert values['imagenode_health_check_status{node="testnode",check="hub_check"}'] == "2"
    assert values['imagenode_health_ladder_step{node="testnode"}'] == "1"
    for name in ("last_cycle_seconds", "queue_length", "heartbeats_sent_total"):
        assert 'imagenode_health_%s{node="testnode"}' % name in values
    fact = json.load(open(probe.config["facts_file"]))
    assert fact["status"] == "fail" and fact["step"] == "zmq_reset" and fact["checks"]["hub_check"] == "fail"
    assert fact["last_action"]["action"] == "zmq_reset" and fact["updated"].endswith("Z")


CHILD = r"""
import sys
sys.path.insert(0, %(probes)r)
sys.path.insert(0, %(tests)r)
from probe.conftest import FakeHealth, checks_healthy
from imagenode_probe import config
from imagenode_probe.daemon import Probe
c = config.validate(%(raw)r)
probe = Probe(c, health=FakeHealth(checks_healthy), boot_id="b")
probe.last_action = {"action": "x", "result": "y", "summary": "z" * 20000}
print("go", flush=True)
while True:
    probe.run_cycle(send=False)
    probe.spool.put({"node": "n", "seq": probe.total_cycles, "pad": "p" * 5000})
"""


def test_kill_9_leaves_every_file_readable(make_config, tmp_path):
    raw = {"node": "testnode", "state_dir": str(tmp_path / "s"), "queue_dir": str(tmp_path / "q"),
           "facts_file": str(tmp_path / "f.fact"), "textfile": str(tmp_path / "t.prom"), "hub_heartbeat": False,
           "imagenode_config": str(tmp_path / "none.yaml"), "queue_max": 5}
    script = CHILD % {"probes": PROBES, "tests": os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "raw": raw}
    random.seed(7)
    for _round in range(12):
        child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
        assert child.stdout.readline().strip() == b"go"
        time.sleep(random.uniform(0.02, 0.25))
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        child.stdout.close()
        state = json.load(open(os.path.join(raw["state_dir"], "state.json")))
        assert state["node"] == "testnode" and isinstance(state["next_seq"], int)
        assert json.load(open(raw["facts_file"]))["status"] == "ok"
        assert open(raw["textfile"]).read().endswith("\n")
        for name in os.listdir(raw["queue_dir"]):
            if name.endswith(".json"):
                json.load(open(os.path.join(raw["queue_dir"], name)))


def test_cli_check_and_status(tmp_path):
    conf = tmp_path / "probe.yaml"
    conf.write_text("node: clinode\nstate_dir: %s\nqueue_dir: %s/q\nchecks: [power_check]\nexpensive_checks: []\n"
                    % (tmp_path, tmp_path))
    env = dict(os.environ, PYTHONPATH=PROBES)
    tool = os.path.join(PROBES, "bin", "imagenode-probe")
    out = subprocess.run([sys.executable, tool, "check", "--json", "--config", str(conf)], env=env,
                         capture_output=True, text=True, timeout=60)
    data = json.loads(out.stdout)
    assert data["selected"] == ["power_check"] and "power_check" in data["checks"]
    status = subprocess.run([sys.executable, tool, "--config", str(conf), "status"], env=env,
                            capture_output=True, text=True, timeout=60)
    assert status.returncode == 0 and "queue length: 0" in status.stdout
    bad = subprocess.run([sys.executable, tool, "--config", str(tmp_path / "nope.yaml"), "run"], env=env,
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "cannot read" in bad.stderr
