# Copyright (c) 2026 imagenode-health contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""Parsing YAML safely: in this process, or in a short-lived python child.

PyYAML is imported only when first needed. A module run, a playbook's check
or `imagenode-probe check` parses in its own process (parse_here).

The probe daemon runs for months and reads two YAML files that change a few
times a year (its probe.yaml and imagenode.yaml, whose parse it caches until
the file changes). Kept resident, PyYAML costs it about 1.4 MiB of its
footprint (its modules, libyaml, and the datetime and base64 modules it
pulls in). So the daemon parses in a child (parse_in_child): the same safe
loader in `python3 -I`, its result passed back with marshal, which carries
every type a safe load can build except dates and times; those come back as
their ISO 8601 text. Nothing of imagenode.yaml or probe.yaml that this project
reads is a date. The child is this file run as a script (_child_main), so
both sides parse with the one parse_here; it needs the file on disk, as the
probe's bundle has it (not a module's zipped payload, which parses here).

Both raise YamlError (the problem and its line, as PyYAML reports them) or
YamlUnavailable (no PyYAML, the message says why).
"""

import marshal
import os
import subprocess
import sys

_SCRIPT = os.path.abspath(__file__)
CHILD_TIMEOUT = 20.0  # seconds: a node's config parses in well under one, even on a Pi Zero

_MODULE = {}


class YamlError(ValueError):
    """The text is not valid YAML: `problem` as PyYAML says it, `line` (1-based) or None."""

    def __init__(self, problem, line=None):
        ValueError.__init__(self, problem)
        self.problem = problem
        self.line = line

    def where(self):
        """' at line N', or '' when the parser gave no line."""
        return "" if self.line is None else " at line %d" % self.line


class YamlUnavailable(ImportError):
    """PyYAML (python3-yaml on Debian and Pi OS) cannot be imported; the text says why."""


def yaml_module():
    """The yaml module, imported on first use; YamlUnavailable when it is not installed."""
    if "yaml" not in _MODULE:
        try:
            import yaml  # pylint: disable=import-outside-toplevel
            _MODULE["yaml"] = yaml
        except ImportError as exc:
            _MODULE["yaml"] = None
            _MODULE["error"] = str(exc)
    if _MODULE["yaml"] is None:
        raise YamlUnavailable(_MODULE["error"])
    return _MODULE["yaml"]


def parse_here(text):
    """The document in text (bytes or str), parsed by PyYAML's safe loader in this process
    (libyaml's where present: about 9 times faster)."""
    yaml = yaml_module()
    try:
        return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # nosec: safe loader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise YamlError(str(getattr(exc, "problem", None) or exc), None if mark is None else mark.line + 1)


def parse_in_child(text, python=None, timeout=CHILD_TIMEOUT):
    """parse_here's answer, computed in a child `python -I` (python: the interpreter's
    argument list, this one by default), so that this process never imports PyYAML."""
    if isinstance(text, str):
        text = text.encode("utf-8")
    argv = list(python or [sys.executable]) + ["-I", _SCRIPT]
    env = dict(os.environ, LC_ALL="C")
    try:
        proc = subprocess.run(argv, input=text, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              env=env, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise YamlError("the YAML parser (a python child) took more than %g s" % timeout)
    except OSError as exc:
        raise YamlError("cannot start the YAML parser %s: %s" % (argv[0], exc.strerror or exc))
    try:
        answer = marshal.loads(proc.stdout)
    except (EOFError, ValueError, TypeError):
        answer = None
    if not isinstance(answer, tuple) or not answer or proc.returncode != 0:
        lines = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise YamlError("the YAML parser (a python child) failed with exit status %d%s" % (
            proc.returncode, ": " + lines[-1] if lines else ""))
    if answer[0] == "ok":
        return answer[1]
    if answer[0] == "missing":
        raise YamlUnavailable(answer[1])
    return _raise_error(answer)


def _raise_error(answer):
    problem = answer[1] if len(answer) > 1 else "unknown problem"
    line = answer[2] if len(answer) > 2 else None
    raise YamlError(problem, line)


def _plain(value, dates):
    """value with dates and times (instances of dates) as ISO 8601 text: marshal carries
    every other type a safe load builds."""
    if isinstance(value, dict):
        return dict((_plain(key, dates), _plain(item, dates)) for key, item in value.items())
    if isinstance(value, list):
        return [_plain(item, dates) for item in value]
    if isinstance(value, dates):
        return value.isoformat()
    return value


def _child_main():
    """parse_in_child's other side: stdin's document, as one marshal'd tuple on stdout:
    ("ok", data), ("error", problem, line or None) or ("missing", why)."""
    import datetime  # pylint: disable=import-outside-toplevel  # the child only: PyYAML loads it anyway
    try:
        answer = ("ok", _plain(parse_here(sys.stdin.buffer.read()), (datetime.date, datetime.datetime)))
    except YamlUnavailable as exc:
        answer = ("missing", str(exc))
    except YamlError as exc:
        answer = ("error", exc.problem, exc.line)
    except RecursionError:
        answer = ("error", "nested too deeply", None)
    try:
        blob = marshal.dumps(answer)
    except ValueError as exc:
        blob = marshal.dumps(("error", "holds a value that cannot be passed on (%s)" % exc, None))
    sys.stdout.buffer.write(blob)


if __name__ == "__main__":
    _child_main()
