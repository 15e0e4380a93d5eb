"""The probe's configuration: defaults and errors that name the key."""

import pytest

from imagenode_health_core.yaml_loader import parse_in_child
from imagenode_probe.config import ConfigError, load, validate


def test_defaults():
    c = validate({})
    assert c["interval"] == 10 and c["expensive_every"] == 6 and c["grace"] == 60 and c["debounce"] == 2
    assert c["start_method"] == "any" and c["launcher"] == ["/usr/local/bin/imagenode-launch"] and c["user"] == "pi"
    assert c["steps"][-1] == "reboot" and c["steps"][0] == "zmq_reset"
    assert c["reboot"] == {"max_reboots": 3, "window": 86400, "backoff_base": 3600, "backoff_max": 14400}
    assert c["queue_dir"] == "/var/lib/imagenode-health/queue" and c["queue_max"] == 1000
    assert c["event_log"] == "/var/lib/imagenode-health/events.json"
    assert c["hub_heartbeat"] is True and c["node"]


@pytest.mark.parametrize("raw, words", [
    ({"intervall": 5}, ["unknown key", "intervall"]),
    ({"interval": "ten"}, ["interval", "number"]),
    ({"interval": 0}, ["interval", "at least"]),
    ({"expensive_every": 2.5}, ["expensive_every", "integer"]),
    ({"debounce": 0}, ["debounce"]),
    ({"start_method": "init"}, ["start_method", "systemd"]),
    ({"steps": ["zmq_reset", "format_disk"]}, ["steps", "format_disk"]),
    ({"checks": ["hub_check", "nope"]}, ["checks", "nope"]),
    ({"reboot": {"max_reboots": 3, "backoff_base": 100, "backoff_max": 10}}, ["reboot.backoff_max"]),
    ({"reboot": {"maxreboots": 3}}, ["reboot", "maxreboots"]),
    ({"reboot": {"window": "day"}}, ["reboot.window", "integer"]),
    ({"monitors": [{"address": "hub:5556", "server_key": "/k"}]}, ["monitors[0].address", "tcp://"]),
    ({"monitors": [{"address": "tcp://mon:5556"}]}, ["monitors[0].server_key"]),
    ({"monitors": [{"address": "tcp://mon:5556", "server_key": "/k", "port": 1}]}, ["monitors[0]", "port"]),
    ({"monitors": "tcp://mon:5556"}, ["monitors", "list"]),
    ({"hub_heartbeat": "yes"}, ["hub_heartbeat"]),
    ({"node": "bad|name"}, ["node"]),
    ({"check_options": {"hub_check": {"timeot": 1}}}, ["check_options.hub_check", "timeot"]),
    ({"check_options": {"nocheck": {}}}, ["check_options", "nocheck"]),
    ({"check_options": {"power_check": {"window": "1h"}}}, ["check_options.power_check", "window", "integer", "1h"]),
    ({"check_options": {"instance_check": {"duplicate_status": "x"}}}, ["duplicate_status", "warn, fail"]),
    ({"queue_max": 0}, ["queue_max"]),
])
def test_errors_name_the_key(raw, words):
    with pytest.raises(ConfigError) as info:
        validate(raw)
    for word in words:
        assert word in str(info.value)


def test_load_file(tmp_path):
    path = tmp_path / "probe.yaml"
    path.write_text("node: n1\ninterval: 5\nmonitors:\n  - address: tcp://10.0.0.1:5556\n    server_key: /k\n")
    c = load(str(path))
    assert c["node"] == "n1" and c["interval"] == 5 and c["monitors"][0]["address"] == "tcp://10.0.0.1:5556"
    path.write_text("interval: [\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load(str(path))
    path.write_text("grace: -1\n")
    with pytest.raises(ConfigError, match="probe.yaml: grace"):
        load(str(path))
    with pytest.raises(ConfigError, match="cannot read"):
        load(str(tmp_path / "missing.yaml"))
    assert load(str(tmp_path / "missing.yaml"), missing_ok=True)["interval"] == 10


def test_validate_command_prints_the_resolved_config_or_names_the_bad_key(tmp_path):
    """What the probe role's template validation runs: exit 0 and the resolved
    config, or exit 2 naming the key (the role then keeps the old file)."""
    import json
    import subprocess
    import sys

    from .conftest import PROBES
    path = tmp_path / "probe.yaml"
    path.write_text("node: n1\ninterval: 5\n")
    cli = [sys.executable, PROBES + "/bin/imagenode-probe", "--config", str(path), "validate"]
    good = subprocess.run(cli, capture_output=True, text=True, timeout=60)
    assert good.returncode == 0, good.stderr
    resolved = json.loads(good.stdout)
    assert resolved["node"] == "n1" and resolved["interval"] == 5 and resolved["grace"] == 60
    path.write_text("node: n1\nintervall: 5\n")
    bad = subprocess.run(cli, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "intervall" in bad.stderr and bad.stdout == ""
    missing = subprocess.run(cli[:3] + [str(tmp_path / "none.yaml"), "validate"], capture_output=True, text=True, timeout=60)
    assert missing.returncode == 2 and "cannot read" in missing.stderr


def test_load_in_a_child_parser_gives_the_same_and_names_the_line(tmp_path):
    path = tmp_path / "probe.yaml"
    path.write_text("# the daemon's own file\nnode: n1\ninterval: 5\ncheck_options:\n  hub_check: {timeout: 1.5}\n")
    assert load(str(path), parse=parse_in_child) == load(str(path))
    path.write_text("node: n1\ninterval: 5\n  grace: 3\n")
    with pytest.raises(ConfigError, match="probe.yaml is not valid YAML at line 3: "):
        load(str(path), parse=parse_in_child)
