# Copyright (c) 2026 imagenode-health contributors
# SPDX-License-Identifier: BSD-2-Clause
"""Offline stand-in for the get-pip.py script that ansible-test downloads.

ansible-test (2.19) bootstraps pip into each virtual environment it creates
by running ``~/.ansible/test/cache/get_pip_<version>.py``, and fetches that
script from ci-files.testing.ansible.com when it is not cached. That host is
not reachable here, so tests/run-all.sh copies this file into the cache.
ansible-test runs it with the new venv's Python (a venv made without pip) as
``get_pip_X_Y.py [pip options] pip==X.Y [--no-setuptools] [--no-wheel]``.

It bootstraps pip from ``ensurepip`` (no network) and pip-installs the
requested packages (``pip==24.2``) with the machine's pip configuration
(PyPI or a local index):

- fast path: run pip straight from ensurepip's bundled pip wheel to install
  the requested packages, so the venv ends up holding just them, as with the
  real get-pip.py with ``--no-setuptools --no-wheel``;
- fallback (no bundled wheel found): ``python -m ensurepip``, pip install,
  then remove the setuptools/wheel ensurepip added if asked not to have them;
- when the requested pip cannot be downloaded, the bundled pip is installed
  instead, with a warning, so ansible-test can still go on fully offline.
"""

from __future__ import annotations

import glob
import os
import subprocess
import sys

# Options that belong to get-pip.py itself, not to `pip install`.
GET_PIP_ONLY = {"--no-setuptools", "--no-wheel", "--no-pip"}


def log(message: str) -> None:
    """Say what the stand-in does (ansible-test shows it in its output)."""
    print("get_pip_stub: " + message, file=sys.stderr)
    sys.stderr.flush()


def run(command: list[str], check: bool = True) -> int:
    """Run a command; exit with a clear message when it fails and check is set."""
    status = subprocess.run(command, check=False).returncode
    if status and check:
        sys.exit("get_pip_stub: %s failed with status %d" % (" ".join(command), status))
    return status


def installed(name: str) -> bool:
    """Return whether a distribution is installed for this interpreter."""
    probe = "import importlib.metadata as m, sys; m.version(sys.argv[1])"
    return subprocess.run([sys.executable, "-c", probe, name], capture_output=True, check=False).returncode == 0


def bundled_pip_wheel() -> str | None:
    """The pip wheel ensurepip would install from, if it is on disk."""
    try:
        import ensurepip  # pylint: disable=import-outside-toplevel
    except ImportError:
        return None
    wheels = sorted(glob.glob(os.path.join(os.path.dirname(ensurepip.__file__), "_bundled", "pip-*.whl")))
    return wheels[-1] if wheels else None


def main(argv: list[str]) -> None:
    """Bootstrap pip offline, then install the requested packages."""
    pip_args = [arg for arg in argv if arg not in GET_PIP_ONLY]
    options = [arg for arg in pip_args if arg.startswith("-")]
    packages = [arg for arg in pip_args if not arg.startswith("-")]
    wheel = bundled_pip_wheel()

    if wheel:
        log("installing %s with pip from %s" % (" ".join(packages) or "pip", os.path.basename(wheel)))
        pip = [sys.executable, os.path.join(wheel, "pip")]
        if run(pip + ["install"] + pip_args, check=False):
            log("WARNING: could not install %s; installing the bundled pip instead" % " ".join(packages))
            run(pip + ["install", "--no-index"] + options + [wheel])
        return

    had_setuptools, had_wheel = installed("setuptools"), installed("wheel")
    log("bootstrapping pip with ensurepip")
    run([sys.executable, "-m", "ensurepip", "--default-pip"])
    if packages and run([sys.executable, "-m", "pip", "install"] + pip_args, check=False):
        log("WARNING: could not install %s; keeping ensurepip's pip" % " ".join(packages))
    remove = []
    if "--no-setuptools" in argv and not had_setuptools and installed("setuptools"):
        remove.append("setuptools")
    if "--no-wheel" in argv and not had_wheel and installed("wheel"):
        remove.append("wheel")
    if remove:
        run([sys.executable, "-m", "pip", "uninstall", "-y", "-q", "--disable-pip-version-check"] + remove)


if __name__ == "__main__":
    main(sys.argv[1:])
