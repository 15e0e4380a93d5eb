"""Shared fixtures for the top-level tests (run from the repo root by make test)."""

import os
import pathlib
import shutil
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"


def venv_tool(name):
    """A tool from the project's own .venv (never one a person installed)."""
    path = VENV_BIN / name
    if not path.exists():
        pytest.fail("%s is missing: run `make venv` first" % path)
    return str(path)


@pytest.fixture
def ansible_env():
    """Environment for running ansible from the repo, with its ansible.cfg."""
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), LC_ALL="C.UTF-8",
               PATH="%s:%s" % (VENV_BIN, os.environ.get("PATH", "")))
    return env


def run(argv, **kwargs):
    """Run a command as an argument list; output captured as text."""
    kwargs.setdefault("capture_output", True)
    kwargs.setdefault("text", True)
    kwargs.setdefault("timeout", 300)
    return subprocess.run(argv, check=False, **kwargs)


__all__ = ["ROOT", "run", "venv_tool", "shutil"]
