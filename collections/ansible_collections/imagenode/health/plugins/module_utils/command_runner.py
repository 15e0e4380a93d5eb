# Copyright (c) 2026 imagenode-health contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""Running the node's own tools (ip, ping, nmcli, journalctl...) the same way everywhere.

Argument lists only, never a shell; LC_ALL=C so the output is the format the
parsers know; a timeout so a wedged tool (a hung driver makes `iw` block)
cannot hang the check. Binaries are found on PATH plus /usr/sbin and /sbin,
where Debian keeps `ip`, `iw` and `wpa_cli` out of an ordinary user's PATH.
No Ansible import: the probe uses this too.
"""

import os
import subprocess

EXTRA_PATH = ("/usr/local/sbin", "/usr/sbin", "/sbin", "/usr/local/bin", "/usr/bin", "/bin")


class CommandResult(object):
    """What a command did: rc (None when it did not run), stdout, stderr, error."""

    def __init__(self, argv, rc=None, stdout="", stderr="", error=None):
        self.argv = list(argv)
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr
        self.error = error

    @property
    def ok(self):
        return self.error is None and self.rc == 0

    def __repr__(self):
        return "CommandResult(%r, rc=%r, error=%r)" % (self.argv, self.rc, self.error)


def search_path():
    """PATH, then the sbin directories (each once, in order)."""
    seen = []
    for directory in os.environ.get("PATH", "").split(os.pathsep) + list(EXTRA_PATH):
        if directory and directory not in seen:
            seen.append(directory)
    return os.pathsep.join(seen)


def find_binary(name):
    """The full path of a tool, or None. Absolute paths are taken as they are."""
    if os.path.isabs(name):
        return name if os.access(name, os.X_OK) and os.path.isfile(name) else None
    return _which(name, search_path())


def _which(name, path):
    """shutil.which(name, path=path) on POSIX, without importing shutil (bz2, lzma...)."""
    if os.path.dirname(name):
        candidates = [name]
    else:
        candidates, seen = [], set()
        for directory in path.split(os.pathsep):
            if directory not in seen:
                seen.add(directory)
                candidates.append(os.path.join(directory, name))
    for candidate in candidates:
        if os.path.exists(candidate) and os.access(candidate, os.X_OK) and not os.path.isdir(candidate):
            return candidate
    return None


class Runner(object):
    """Runs commands; tests replace it with one that answers from samples.

    `which` finds a binary (default: find_binary); a module may pass
    AnsibleModule.get_bin_path wrapped to the same one-argument form.
    """

    # The real system: readers may take /proc, /dev/kmsg... for a command's answer
    # (a test's runner that answers from samples has no such attribute).
    live_system = True

    def __init__(self, timeout=10.0, which=None):
        self.timeout = timeout
        self._which = which or find_binary

    def which(self, name):
        return self._which(name)

    def run(self, argv, timeout=None):
        """Run argv (a list); never raises for a missing or failing tool."""
        argv = [str(arg) for arg in argv]
        path = self.which(argv[0])
        if path is None:
            return CommandResult(argv, error="%s not found" % argv[0])
        env = dict(os.environ, LC_ALL="C", LANG="C", PATH=search_path())
        limit = self.timeout if timeout is None else timeout
        try:
            proc = subprocess.run([path] + argv[1:], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, env=env, timeout=limit, check=False)
        except subprocess.TimeoutExpired:
            return CommandResult(argv, error="%s did not finish within %.1f s" % (argv[0], limit))
        except OSError as exc:
            return CommandResult(argv, error="cannot run %s: %s" % (argv[0], exc.strerror or exc))
        return CommandResult(argv, proc.returncode, proc.stdout.decode("utf-8", "replace"),
                             proc.stderr.decode("utf-8", "replace"))


def read_text(path, default=None):
    """A small file's text (sysfs, procfs), or default when it cannot be read."""
    try:
        with open(path, "rb") as handle:
            return handle.read().decode("utf-8", "replace")
    except (IOError, OSError):
        return default


def under_root(root, path):
    """path inside a fake tree rooted at root ("/" is the real system)."""
    if not root or root == "/":
        return path
    return os.path.join(root, path.lstrip("/"))
