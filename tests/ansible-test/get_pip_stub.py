# Copyright (c) 2026 imagenode-health contributors
# SPDX-License-Identifier: BSD-2-Clause
"""Offline stand-in for the get-pip.py script that ansible-test downloads.

ansible-test (2.19) bootstraps pip into each virtual environment it creates
by running ``~/.ansible/test/cache/get_pip_<version>.py`` and fetches that
script from ci-files.testing.ansible.com when it is not cached. That host is
not reachable here, so tests/run-all.sh copies this file into the cache
instead. It is run as ``python get_pip_X_Y.py [pip options] pip==X.Y
[--no-setuptools] [--no-wheel]`` inside a venv created without pip and:

1. bootstraps pip with the interpreter's own ``ensurepip`` (no network);
2. pip-installs the requested packages (``pip==24.2``) with the usual pip
   configuration (PyPI or a local index);
3. honours ``--no-setuptools`` / ``--no-wheel`` as get-pip.py does, by
   removing what ensurepip added, so the venv holds just pip like the real
   script would leave it.
"""

from __future__ import annotations

import subprocess
import sys

# Options that belong to get-pip.py itself, not to `pip install`.
GET_PIP_ONLY = {"--no-setuptools", "--no-wheel", "--no-pip"}


def run(*args: str) -> None:
    """Run the venv's Python with the given arguments; fail loudly."""
    command = [sys.executable, *args]
    result = subprocess.run(command, check=False)
    if result.returncode:
        sys.exit(f"get_pip_stub: {' '.join(command)} failed with status {result.returncode}")


def installed(name: str) -> bool:
    """Return whether a distribution is installed in this interpreter."""
    probe = "import importlib.metadata as m, sys; m.version(sys.argv[1])"
    result = subprocess.run([sys.executable, "-c", probe, name], capture_output=True, check=False)
    return result.returncode == 0


def main(argv: list[str]) -> None:
    """Bootstrap pip offline, then install the requested packages."""
    pip_args = [arg for arg in argv if arg not in GET_PIP_ONLY]
    had_setuptools = installed("setuptools")
    had_wheel = installed("wheel")

    run("-m", "ensurepip", "--default-pip")

    if any(not arg.startswith("-") for arg in pip_args):
        run("-m", "pip", "install", "--disable-pip-version-check", *pip_args)

    remove = []
    if "--no-setuptools" in argv and not had_setuptools and installed("setuptools"):
        remove.append("setuptools")
    if "--no-wheel" in argv and not had_wheel and installed("wheel"):
        remove.append("wheel")
    if remove:
        run("-m", "pip", "uninstall", "--disable-pip-version-check", "-y", "-q", *remove)


if __name__ == "__main__":
    main(sys.argv[1:])
