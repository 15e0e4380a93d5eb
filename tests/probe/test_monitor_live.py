"""imagenode-monitor on loopback, as a real process, with real CURVE and ZAP."""

import json
import os
import random
import re
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

PROBES = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "probes")
if PROBES not in sys.path:
    sys.path.insert(0, PROBES)

zmq = pytest.importorskip("zmq")
import zmq.auth  # noqa: E402

from imagenode_health_core import heartbeat as hb  # noqa: E402
from imagenode_monitor.server import create_keys  # noqa: E402

BIN = os.path.join(PROBES, "bin", "imagenode-monitor")


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_get(port, path, timeout=5):
    with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=timeout) as response:
        return response.read().decode("utf-8")


class MonitorProcess(object):
    def __init__(self, keys, state, silent_after=3, extra=()):
        self.zport, self.hport = free_port(), free_port()
        self.endpoint = "tcp://127.0.0.1:%d" % self.zport
        self.proc = subprocess.Popen(
            [sys.executable, BIN, "run", "--bind", self.endpoint, "--keys", keys, "--state", state,
             "--silent-after", str(silent_after), "--metrics", str(self.hport)] + list(extra),
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.time() + 10
        while True:
            try:
                http_get(self.hport, "/healthz", timeout=1)
                break
            except OSError:
                if self.proc.poll() is not None or time.time() > deadline:
                    raise AssertionError("monitor did not start: %s" % self.proc.stderr.read().decode())
                time.sleep(0.05)

    def state(self):
        return json.loads(http_get(self.hport, "/state.json"))

    def metrics(self):
        return http_get(self.hport, "/metrics")

    def stop(self):
        self.proc.terminate()
        try:
            rc = self.proc.wait(10)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self.proc.stderr.close()
        return rc


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    directory = str(tmp_path_factory.mktemp("keys"))
    create_keys(directory, "monitor")
    create_keys(directory, "node1", authorize=True)
    create_keys(directory, "flooder", authorize=True)
    for name in ("node2", "quiet", "keeper"):
        create_keys(directory, name, authorize=True)
    create_keys(directory, "rogue")  # not in clients/: must be refused
    return directory


@pytest.fixture
def monitor(keys, tmp_path):
    proc = MonitorProcess(keys, str(tmp_path / "state.json"))
    yield proc
    proc.stop()


class Client(object):
    def __init__(self, keys, name, endpoint, hwm=1000):
        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.SNDHWM, hwm)
        public, secret = zmq.auth.load_certificate(os.path.join(keys, name + ".key_secret"))
        server, _ = zmq.auth.load_certificate(os.path.join(keys, "monitor.key"))
        self.sock.curve_publickey = public
        self.sock.curve_secretkey = secret
        self.sock.curve_serverkey = server
        self.sock.connect(endpoint)

    def beat(self, node="node1", seq=1, timeout=3.0, **fields):
        body = {"node": node, "seq": seq, "status": "ok", "interval": 10, "sent": time.time(),
                "boot_id": "boot-a", "checks": {"hub_check": "ok"}, "step": None, "last_action": None,
                "events": [], "queued": 0}
        body.update(fields)
        self.sock.send_multipart(hb.encode(body))
        if not timeout:
            return None
        if self.sock.poll(int(timeout * 1000)):
            return hb.parse_ack(self.sock.recv_multipart())
        return None

    def close(self):
        self.sock.close(0)
        self.ctx.term()


def wait_for(predicate, timeout=10.0, step=0.05):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    return predicate()


def dropped(metrics_text):
    return dict((m.group(1), int(m.group(2))) for m in re.finditer(
        r'^imagenode_monitor_dropped_total\{reason="([a-z_]+)"\} (\d+)$', metrics_text, re.M))


def test_known_key_gets_ack_and_node_is_healthy(monitor, keys):
    client = Client(keys, "node1", monitor.endpoint)
    try:
        assert client.beat(seq=7) == 7
        node = monitor.state()["nodes"]["node1"]
        assert node["state"] == "healthy"
        assert node["status"] == "ok" and node["seq"] == 7 and node["checks"] == {"hub_check": "ok"}
        # a warn is degraded, a fail is failing; a repeated seq is ACKed again but counted
        assert client.beat(seq=8, status="warn") == 8
        assert monitor.state()["nodes"]["node1"]["state"] == "degraded"
        assert client.beat(seq=9, status="fail", step="imagenode_restart") == 9
        assert client.beat(seq=9, status="fail") == 9
        assert client.beat(seq=3, status="ok") == 3
        node = monitor.state()["nodes"]["node1"]
        assert node["state"] == "failing" and node["step"] == "imagenode_restart" and node["seq"] == 9
        assert node["duplicates"] == 1 and node["out_of_order"] == 1 and node["received"] == 5
    finally:
        client.close()


def test_node_goes_silent_after_missed_intervals(monitor, keys):
    client = Client(keys, "quiet", monitor.endpoint)
    try:
        assert client.beat(node="quiet", seq=1, interval=0.2) == 1
        assert monitor.state()["nodes"]["quiet"]["state"] == "healthy"
        started = time.time()
        assert wait_for(lambda: monitor.state()["nodes"]["quiet"]["state"] == "silent", timeout=5)
        assert time.time() - started >= 0.4  # 3 x 0.2 s after the heartbeat, not before
        assert client.beat(node="quiet", seq=2, interval=0.2) == 2
        assert monitor.state()["nodes"]["quiet"]["state"] == "healthy"
    finally:
        client.close()


def test_state_survives_a_restart(keys, tmp_path):
    state = str(tmp_path / "state.json")
    first = MonitorProcess(keys, state)
    client = Client(keys, "keeper", first.endpoint)
    try:
        assert client.beat(node="keeper", seq=41, status="warn", interval=30) == 41
    finally:
        client.close()
    assert first.stop() == 0
    saved = json.load(open(state))
    assert saved["nodes"]["keeper"]["seq"] == 41
    time.sleep(0.3)
    second = MonitorProcess(keys, state)
    try:
        node = second.state()["nodes"]["keeper"]
        assert node["seq"] == 41 and node["status"] == "warn" and node["state"] == "degraded"
        assert node["age"] >= 0.3  # the age continued from the wall clock
        client = Client(keys, "keeper", second.endpoint)
        try:
            assert client.beat(node="keeper", seq=41, interval=30) == 41  # a duplicate across the restart
            assert second.state()["nodes"]["keeper"]["duplicates"] == 1
        finally:
            client.close()
    finally:
        second.stop()


def test_unknown_key_gets_no_ack_and_is_counted(monitor, keys):
    rogue = Client(keys, "rogue", monitor.endpoint)
    try:
        assert rogue.beat(node="evil", seq=1, timeout=1.5) is None
    finally:
        rogue.close()
    counts = wait_for(lambda: dropped(monitor.metrics()).get("unauthenticated"), timeout=5)
    assert counts >= 1
    assert "evil" not in monitor.state()["nodes"]
    # and the monitor still serves the known key
    client = Client(keys, "node1", monitor.endpoint)
    try:
        assert client.beat(seq=1) == 1
    finally:
        client.close()


def _garbage(rng):
    """100,000 bad messages, as (frames, expected reason)."""
    good = {"node": "node1", "seq": 1, "status": "ok"}
    schema_bodies = [
        {"seq": 1}, {"node": "", "seq": 1}, {"node": "a b", "seq": 1}, {"node": "x" * 65, "seq": 1},
        {"node": "n", "seq": -1}, {"node": "n", "seq": "1"}, {"node": "n", "seq": True},
        {"node": "n", "seq": 1, "status": "bad"}, {"node": "n", "seq": 1, "interval": "10"},
        {"node": "n", "seq": 1, "checks": {"a": "nope"}}, {"node": "n", "seq": 1, "checks": []},
        {"node": "n", "seq": 1, "events": [1]}, {"node": "n", "seq": 1, "events": [{}] * 51},
        {"node": "n", "seq": 1, "step": 3}, {"node": "n", "seq": 1, "last_action": "x"}, [1, 2], "text", 7,
    ]
    schema = [json.dumps(b).encode() for b in schema_bodies]
    bad_json = [b"{", b"{\"node\":", b"\xff\xfe\x00", b"", b"nul", b"{'node': 'n'}", b"[" * 100000 + b"]" * 100000,
                json.dumps(good).encode()[:-1]]
    oversized = hb.MAGIC, json.dumps(dict(good, pad="x" * (hb.MAX_BYTES + 10))).encode()
    plan = ([("magic", 30000), ("frames", 20000), ("json", 20000), ("schema", 29800), ("oversized", 200)])
    messages = []
    for reason, count in plan:
        for _ in range(count):
            if reason == "magic":
                frames = [os.urandom(rng.randint(0, 12)) + b"!", os.urandom(rng.randint(0, 64))]
            elif reason == "frames":
                n = rng.choice((1, 3, 4, 6))
                frames = [hb.MAGIC] + [os.urandom(rng.randint(0, 32)) for _ in range(n - 1)]
            elif reason == "json":
                frames = [hb.MAGIC, rng.choice(bad_json[:6] + bad_json[7:])]
            elif reason == "schema":
                frames = [hb.MAGIC, rng.choice(schema)]
            else:
                frames = list(oversized)
            messages.append((frames, reason))
    # a few deeply nested ones (RecursionError inside json) among the json errors
    for i in range(10):
        messages[50000 + i] = ([hb.MAGIC, bad_json[6][:60000]], "json")
    rng.shuffle(messages)
    return messages


def test_flood_of_malformed_frames_is_counted_and_survived(monitor, keys):
    rng = random.Random(1234)
    messages = _garbage(rng)
    expected = {}
    for _, reason in messages:
        expected[reason] = expected.get(reason, 0) + 1
    assert sum(expected.values()) == 100000
    before = dropped(monitor.metrics())
    flooder = Client(keys, "flooder", monitor.endpoint, hwm=200000)
    try:
        assert flooder.beat(node="flooder", seq=1) == 1  # connected and authenticated
        for frames, _ in messages:
            while True:
                try:
                    flooder.sock.send_multipart(frames, zmq.NOBLOCK)
                    break
                except zmq.Again:
                    time.sleep(0.001)

        def done():
            counts = dropped(monitor.metrics())
            return sum(counts.values()) - sum(before.values()) >= 100000 and counts
        counts = wait_for(done, timeout=30, step=0.2)
        assert counts, "not every message was counted"
        for reason, count in expected.items():
            assert counts[reason] - before.get(reason, 0) == count, (reason, counts)
        assert counts["internal"] == before.get("internal", 0)
        # no reply to any of them: the next thing on the socket is the ACK of a good heartbeat
        assert flooder.beat(node="flooder", seq=2) == 2
    finally:
        flooder.close()
    assert "flooder" in monitor.state()["nodes"]
    assert monitor.proc.poll() is None


METRIC_LINE = re.compile(
    r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*")(,[a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*")*\})? '
    r'-?[0-9.e+-]+$|^# (HELP|TYPE) .*$')


def test_metrics_parse_as_prometheus_text(monitor, keys):
    client = Client(keys, "node1", monitor.endpoint)
    try:
        assert client.beat(seq=5, status="fail", step='wifi "restart"\\x') == 5
    finally:
        client.close()
    other = Client(keys, "node2", monitor.endpoint)
    try:
        assert other.beat(node="node2", seq=1, status="warn") == 1
    finally:
        other.close()
    text = monitor.metrics()
    lines = text.rstrip("\n").split("\n")
    bad = [line for line in lines if not METRIC_LINE.match(line)]
    assert not bad, bad
    assert 'imagenode_monitor_node_state{node="node1",state="failing"} 1' in lines
    assert 'imagenode_monitor_node_state{node="node2",state="degraded"} 1' in lines
    assert 'imagenode_monitor_node_status{node="node1"} 2' in lines
    assert 'imagenode_monitor_node_status{node="node2"} 1' in lines
    assert 'imagenode_monitor_ladder_step{node="node1",step="wifi \\"restart\\"\\\\x"} 1' in lines
    assert 'imagenode_monitor_ladder_step{node="node2",step="none"} 1' in lines
    assert re.search(r'^imagenode_monitor_last_seen_age_seconds\{node="node1"\} [0-9.]+$', text, re.M)
    assert re.search(r'^imagenode_monitor_heartbeats_total 2$', text, re.M)
    assert set(dropped(text)) >= {"frames", "magic", "json", "schema", "oversized", "unauthenticated"}
    types = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M))
    assert types["imagenode_monitor_heartbeats_total"] == "counter"
    assert types["imagenode_monitor_node_state"] == "gauge"


def test_status_json_from_file_and_url(monitor, keys, tmp_path):
    client = Client(keys, "node1", monitor.endpoint)
    try:
        assert client.beat(seq=11, last_action={"action": "zmq_reset", "result": "fixed", "time": "t"}) == 11
    finally:
        client.close()
    url = subprocess.run([sys.executable, BIN, "status", "--json", "--url", "http://127.0.0.1:%d" % monitor.hport],
                         capture_output=True, text=True, timeout=30)
    assert url.returncode == 0, url.stderr
    data = json.loads(url.stdout)
    assert data["silent_after"] == 3 and isinstance(data["generated"], float)
    node = data["nodes"]["node1"]
    for key in ("state", "status", "checks", "last_seen", "age", "step", "last_action", "seq"):
        assert key in node
    assert node["state"] == "healthy" and node["seq"] == 11 and node["last_action"]["action"] == "zmq_reset"
    # the state file is written within a second
    state = str(tmp_path / "state.json")
    assert wait_for(lambda: (json.load(open(state)).get("nodes", {}).get("node1", {}).get("seq") == 11)
                    if os.path.exists(state) else False, timeout=5)
    result = subprocess.run([sys.executable, BIN, "status", "--json", "--state", state],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["nodes"]["node1"]["seq"] == 11
    table = subprocess.run([sys.executable, BIN, "status", "--state", state], capture_output=True, text=True, timeout=30)
    assert table.returncode == 0
    assert re.search(r"^node\s+state\s+status\s+age\s+step\s+last action\s+seq", table.stdout, re.M)
    assert re.search(r"^node1\s+healthy\s+ok\s+\S+\s+-\s+zmq_reset fixed\s+11", table.stdout, re.M)
    missing = subprocess.run([sys.executable, BIN, "status", "--state", str(tmp_path / "none.json")],
                             capture_output=True, text=True, timeout=30)
    assert missing.returncode == 2


def test_a_key_speaks_only_for_its_own_node(monitor, keys, tmp_path):
    """node1's key claiming to be node2: no ACK, counted, node2 untouched."""
    client = Client(keys, "node1", monitor.endpoint)
    try:
        assert client.beat(node="node2", seq=1, status="fail", timeout=1.5) is None
        assert client.beat(node="node1", seq=1) == 1  # the same connection still works for itself
    finally:
        client.close()
    assert "node2" not in monitor.state()["nodes"]
    assert dropped(monitor.metrics())["name_mismatch"] == 1
    # --names any: a shared key (an operator's choice) may speak for any node
    relaxed = MonitorProcess(keys, str(tmp_path / "relaxed.json"), extra=["--names", "any"])
    try:
        client = Client(keys, "node1", relaxed.endpoint)
        try:
            assert client.beat(node="node2", seq=1) == 1
        finally:
            client.close()
        assert "node2" in relaxed.state()["nodes"]
    finally:
        relaxed.stop()
