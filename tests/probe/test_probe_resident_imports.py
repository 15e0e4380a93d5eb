"""What the running probe keeps resident (issue 6, RSS at most node_exporter's).

`imagenode-probe run` parses its probe.yaml and imagenode.yaml in a python
child, so PyYAML is never imported by the daemon, nor ctypes; its CLI parser does not
import shutil; its ICMP resolves names without the idna codec. Each is
checked on the real daemon or the real code path, in a fresh process."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

PROBES = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "probes")
TOOL = os.path.join(PROBES, "bin", "imagenode-probe")


def _mapped(pid, fragment):
    with open("/proc/%d/maps" % pid) as maps:
        return [line.split()[-1] for line in maps if fragment in line]


def _wait_for(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("not within %.0f s" % timeout)


def _fact(path):
    try:
        with open(path) as handle:
            return json.load(handle)
    except (IOError, ValueError):
        return None


def test_the_daemon_reads_its_yaml_without_importing_pyyaml(tmp_path):
    yaml = pytest.importorskip("yaml")
    if not getattr(yaml, "__with_libyaml__", False):
        pytest.skip("this PyYAML has no libyaml extension, whose mapping in /proc/PID/maps shows the import")
    if not os.path.isdir("/proc/self"):
        pytest.skip("needs /proc to see what the daemon has mapped")
    node_yaml = tmp_path / "imagenode.yaml"
    # a dead hub: hub_check can only say `fail` when it parsed the file (else `unknown`)
    node_yaml.write_text("node:\n  name: yamlnode  # a comment\nhub_address:\n  H1: tcp://127.0.0.1:9\n")
    fact = tmp_path / "f.fact"
    conf = tmp_path / "probe.yaml"
    conf.write_text("# written by a person, in YAML\nnode: yamlnode\ninterval: 1\ngrace: 3600\n"
                    "checks: [hub_check]\nexpensive_checks: []\nhub_heartbeat: false\n"
                    "check_options: {hub_check: {timeout: 0.3, attempts: 1}}\n"
                    "imagenode_config: %s\nstate_dir: %s/s\nqueue_dir: %s/q\nfacts_file: %s\ntextfile: %s/t.prom\n"
                    % (node_yaml, tmp_path, tmp_path, fact, tmp_path))
    daemon = subprocess.Popen([sys.executable, TOOL, "--config", str(conf), "run"], env=dict(os.environ, PYTHONPATH=PROBES),
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        seen = _wait_for(lambda: (_fact(str(fact)) or {}).get("checks"))
        assert seen == {"hub_check": "fail"}
        assert _mapped(daemon.pid, "_yaml") == []
        assert _mapped(daemon.pid, "_ctypes") == []  # no malloc_trim: ctypes costs more than it gives back
        # a changed imagenode.yaml is parsed again (in a child): broken, hub_check cannot run; mended, it can
        node_yaml.write_text("node:\n  name: yamlnode\nhub_address:\n  H1: [tcp://127.0.0.1:9\n")
        _wait_for(lambda: _fact(str(fact))["checks"]["hub_check"] == "unknown")
        node_yaml.write_text("node:\n  name: yamlnode\nhub_address:\n  H1: tcp://127.0.0.1:9\n")
        _wait_for(lambda: _fact(str(fact))["checks"]["hub_check"] == "fail")
        assert _mapped(daemon.pid, "_yaml") == []
        assert daemon.poll() is None
    finally:
        daemon.send_signal(signal.SIGTERM)
        _out, err = daemon.communicate(timeout=30)
    assert daemon.returncode == 0, err.decode()[-2000:]


def _fresh(code):
    out = subprocess.run([sys.executable, "-c", code], env=dict(os.environ, PYTHONPATH=PROBES),
                         capture_output=True, text=True, timeout=60, check=True)
    return out.stdout.split()


def test_the_cli_parser_does_not_import_shutil():
    loaded = _fresh("import sys; from imagenode_probe.cli import build_parser; "
                    "build_parser().parse_args(['--config', '/x', 'run']); "
                    "print(' '.join(m for m in ('shutil', 'bz2', 'lzma', 'yaml') if m in sys.modules) or 'none')")
    assert loaded == ["none"]


def test_help_is_laid_out_for_the_terminal_width():
    env = dict(os.environ, PYTHONPATH=PROBES, COLUMNS="40")
    out = subprocess.run([sys.executable, TOOL, "check", "--help"], env=env, capture_output=True, text=True,
                         timeout=60, check=True).stdout
    assert max(len(line) for line in out.splitlines()) <= 40
    env["COLUMNS"] = "200"
    wide = subprocess.run([sys.executable, TOOL, "check", "--help"], env=env, capture_output=True, text=True,
                          timeout=60, check=True).stdout
    assert len(wide.splitlines()) < len(out.splitlines())


def test_icmp_resolves_without_the_idna_codec():
    loaded = _fresh("import sys; from imagenode_health_core import icmp_echo; "
                    "print(icmp_echo.resolve('localhost')[1], icmp_echo.resolve('127.0.0.1')[1], "
                    "'encodings.idna' in sys.modules)")
    assert loaded[0] in ("127.0.0.1", "::1") and loaded[1:] == ["127.0.0.1", "False"]
