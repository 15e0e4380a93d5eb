# Copyright (c) 2026 imagenode-health contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""yaml_loader: the same answer parsed here or in a python child (which the probe
daemon uses, so that it never keeps PyYAML resident), the same errors, and a clear
error when the child cannot parse at all."""

import datetime
import os
import subprocess
import sys

import pytest

from ansible_collections.imagenode.health.plugins.module_utils import imagenode_config, yaml_loader
from ansible_collections.imagenode.health.plugins.module_utils.check_result import CheckError
from ansible_collections.imagenode.health.plugins.module_utils.yaml_loader import (
    YamlError,
    YamlUnavailable,
    parse_here,
    parse_in_child,
)

# Every kind of value a safe load builds: a real imagenode.yaml's, plus int keys, a set,
# binary, anchors and aliases, and a date (which the child hands back as ISO text).
DOCUMENT = u"""\
# imagenode settings
node:
  name: Barn \u00e9t\u00e9
  heartbeat: 10
  stall_watcher: true
  patience: 2.5
  queuemax: null
hub_address:
  H1: tcp://hub1:5555
  H2: 'tcp://hub2:5555'
sensors: &sensors
  T1: {name: Temp, type: DS18B20, gpio: 4, read_interval_minutes: 10}
copy: *sensors
cameras:
  P1: {resolution: (640, 480), framerate: 16, vflip: False}
1: one
2.5: two and a half
tags: !!set {a, b}
blob: !!binary aGVsbG8=
installed: 2026-12-03
"""


def test_the_child_gives_what_this_process_gives():
    here = parse_here(DOCUMENT)
    there = parse_in_child(DOCUMENT)
    assert here["installed"] == datetime.date(2026, 12, 3) and there["installed"] == "2026-12-03"
    del here["installed"], there["installed"]
    assert there == here
    assert there[1] == "one" and there[2.5] == "two and a half"  # keys keep their types
    assert there["tags"] == set(["a", "b"]) and there["blob"] == b"hello"
    assert there["node"]["name"] == u"Barn \u00e9t\u00e9"
    assert parse_in_child(DOCUMENT.encode("utf-8")) == parse_in_child(DOCUMENT)


@pytest.mark.parametrize("text", [u"hub_address:\n  H1: tcp://hub1:5555\n    bad: indent\n",
                                  u"a: [1, 2\n", u"a: !!python/object:os.system ls\n", u"a: *nowhere\n"])
def test_errors_are_the_same_here_and_in_the_child(text):
    with pytest.raises(YamlError) as here:
        parse_here(text)
    with pytest.raises(YamlError) as there:
        parse_in_child(text)
    assert (there.value.problem, there.value.line) == (here.value.problem, here.value.line)
    assert there.value.problem


def test_an_empty_document_is_none_in_both():
    assert parse_here(u"") is None and parse_in_child(u"") is None
    assert parse_in_child(u"# only a comment\n") is None


def test_a_python_without_pyyaml_is_reported_as_unavailable():
    # -S: no site, so no site-packages on the child's path, and no PyYAML
    with pytest.raises(YamlUnavailable, match="yaml"):
        parse_in_child(u"a: 1\n", python=[sys.executable, "-S"])


def test_a_child_that_fails_is_an_error_not_a_result():
    with pytest.raises(YamlError, match="exit status 1"):
        parse_in_child(u"a: 1\n", python=["/bin/false"])
    with pytest.raises(YamlError, match="cannot start the YAML parser"):
        parse_in_child(u"a: 1\n", python=["/nonexistent/python3"])


def test_a_child_that_hangs_is_stopped():
    with pytest.raises(YamlError, match="took more than"):
        parse_in_child(u"a: 1\n", python=[sys.executable, "-c", "import time; time.sleep(30)", "--"], timeout=0.5)


def test_load_config_through_the_child_names_the_file_and_line(tmp_path, monkeypatch):
    monkeypatch.setattr(imagenode_config, "_PARSER", [parse_here])
    imagenode_config.use_parser(parse_in_child)
    path = tmp_path / "imagenode.yaml"
    path.write_text(u"node:\n  name: cam1\nhub_address:\n  H1: tcp://hub:5555\n")
    assert imagenode_config.hub_addresses(imagenode_config.load_config(str(path))) == ["tcp://hub:5555"]
    path.write_text(u"node:\n  name: cam1\nhub_address:\n  H1: tcp://hub:5555\n   x: y\n")
    with pytest.raises(CheckError, match=r"imagenode.yaml is not valid YAML at line 5: "):
        imagenode_config.load_config(str(path))


def test_a_process_that_parses_in_the_child_never_imports_pyyaml(tmp_path):
    path = tmp_path / "imagenode.yaml"
    path.write_text(u"node:\n  name: cam1\nhub_address:\n  H1: tcp://hub:5555\n  H2: tcp://hub2:5555\n")
    prefix = "ansible_collections.imagenode.health.plugins.module_utils"
    code = ("import sys; from %s import imagenode_config, yaml_loader, node_health; "
            "imagenode_config.use_parser(yaml_loader.parse_in_child); "
            "print(imagenode_config.hub_addresses(imagenode_config.load_config(sys.argv[1]))[1], "
            "'yaml' in sys.modules)" % prefix)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    out = subprocess.run([sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE, env=env, check=True)
    assert out.stdout.decode().split() == ["tcp://hub2:5555", "False"]


def test_pyyaml_is_imported_only_when_first_needed():
    assert yaml_loader.yaml_module() is yaml_loader.yaml_module()
    assert hasattr(yaml_loader.yaml_module(), "safe_load")
