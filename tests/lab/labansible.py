"""Run one imagenode.health module through Ansible, as an operator would, and
return its result: `ansible HOST -m imagenode.health.X -a JSON` with the JSON
stdout callback, so tests read the module's own return values rather than
scraping the human-readable output."""
import json
import os
import subprocess

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.path.join(ROOT, ".venv", "bin")


def env():
    return dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1",
                ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json",
                PATH="%s:%s" % (BIN, os.environ["PATH"]), LC_ALL="C.UTF-8")


def module(pattern, name, args=None, timeout=180, extra=()):
    """{host: result} of module `name` (short name in imagenode.health) on
    the hosts `pattern` matches; localhost runs with the local connection."""
    argv = [os.path.join(BIN, "ansible"), pattern, "-m", name if "." in name else "imagenode.health." + name]
    # No -a for no arguments: ansible takes "-a {}" for raw parameters.
    argv += (["-a", json.dumps(args)] if args else []) + list(extra)
    if pattern == "localhost":
        # The controller itself: local connection, this venv's interpreter
        # (psutil and friends are there), not the lab's podman connection.
        argv += ["-c", "local", "-e", "ansible_python_interpreter=%s" % os.path.join(BIN, "python")]
    proc = subprocess.run(argv, cwd=ROOT, env=env(), capture_output=True, text=True, timeout=timeout)
    try:
        data = json.loads(proc.stdout)
    except ValueError:
        raise AssertionError("ansible printed no JSON (exit %d):\n%s\n%s" % (proc.returncode, proc.stdout,
                                                                             proc.stderr))
    hosts = data["plays"][0]["tasks"][0]["hosts"]
    return hosts
