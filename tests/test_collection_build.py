"""The collection as a user gets it: built, installed from the tarball, used.

Everything runs against the installed copy in a temporary collections path,
with an empty ansible.cfg (never the repo's), from a working directory
outside the repo, so nothing can fall back to the source tree.
"""

import json
import pathlib
import socket
import tarfile

import pytest

from conftest import ROOT, run, venv_tool

COLLECTION = ROOT / "collections" / "ansible_collections" / "imagenode" / "health"
FQCN = "imagenode.health.hub_check"


def closed_port():
    """A loopback TCP port nothing listens on (bound once, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """Build the tarball, install it into an empty path; (tarball, env, cwd)."""
    base = tmp_path_factory.mktemp("collection")
    build_dir, coll_path, work = base / "build", base / "collections", base / "work"
    for path in (build_dir, coll_path, work):
        path.mkdir()
    cfg = base / "ansible.cfg"
    cfg.write_text("[defaults]\n")
    env = {
        "PATH": "%s:/usr/bin:/bin" % venv_tool("ansible").rsplit("/", 1)[0],
        "HOME": str(base),
        "LC_ALL": "C.UTF-8",
        "ANSIBLE_CONFIG": str(cfg),
        "ANSIBLE_COLLECTIONS_PATH": str(coll_path),
        "ANSIBLE_LOCAL_TEMP": str(base / "tmp"),
        "ANSIBLE_HOME": str(base / "ansible-home"),
    }

    proc = run([venv_tool("ansible-galaxy"), "collection", "build", str(COLLECTION),
                "--output-path", str(build_dir)], env=env, cwd=work)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    tarballs = list(build_dir.glob("imagenode-health-*.tar.gz"))
    assert len(tarballs) == 1, (tarballs, proc.stdout)

    proc = run([venv_tool("ansible-galaxy"), "collection", "install", "--offline",
                "-p", str(coll_path), str(tarballs[0])], env=env, cwd=work)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return tarballs[0], env, work, coll_path


def test_tarball_holds_the_collection(installed):
    tarball = installed[0]
    with tarfile.open(tarball) as tar:
        names = set(tar.getnames())
    for required in ("MANIFEST.json", "FILES.json", "README.md", "meta/runtime.yml",
                     "LICENSES/GPL-3.0-or-later.txt", "LICENSES/BSD-2-Clause.txt",
                     "plugins/modules/hub_check.py"):
        assert required in names, required
    assert not any(name.startswith("tests/output") for name in names), "tests/output is shipped"
    manifest = json.loads(tarfile.open(tarball).extractfile("MANIFEST.json").read())
    assert manifest["collection_info"]["license"] == ["GPL-3.0-or-later", "BSD-2-Clause"]


def test_installed_where_asked(installed):
    coll_path = installed[3]
    target = coll_path / "ansible_collections" / "imagenode" / "health"
    assert (target / "MANIFEST.json").is_file()
    assert (target / "plugins" / "modules" / "hub_check.py").is_file()


def test_ansible_doc_renders_from_installed_copy(installed):
    _tarball, env, work, coll_path = installed
    proc = run([venv_tool("ansible-doc"), "-t", "module", FQCN], env=env, cwd=work)
    assert proc.returncode == 0, proc.stderr
    assert "hubs" in proc.stdout and "timeout" in proc.stdout and "attempts" in proc.stdout
    proc = run([venv_tool("ansible-doc"), "-t", "module", "--json", FQCN], env=env, cwd=work)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)[FQCN]["doc"]
    assert pathlib.Path(doc["filename"]).is_relative_to(coll_path), doc["filename"]
    assert doc["version_added"] == "0.1.0"


def test_module_runs_from_installed_copy_and_fails_on_closed_port(installed):
    _tarball, env, work, _coll_path = installed
    hub = "tcp://127.0.0.1:%d" % closed_port()
    env = dict(env, ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json", ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
               ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_INVENTORY_UNPARSED_WARNING="0")
    proc = run([venv_tool("ansible"), "localhost", "-m", FQCN,
                "-a", "hubs=%s timeout=0.5 attempts=1" % hub], env=env, cwd=work, timeout=120)
    # 0 when the module reports fail as data, 2 when it also fails the task.
    assert proc.returncode in (0, 2), proc.stdout + proc.stderr
    result = json.loads(proc.stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"]
    assert result["status"] == "fail", result
    assert result["healthy_hub"] is None, result
    assert result["evidence"]["hubs"][0]["address"] == hub, result
    assert result["summary"], result


@pytest.mark.parametrize("name", ["GPL-3.0-or-later.txt", "BSD-2-Clause.txt"])
def test_licence_texts_agree(name):
    """The repo's licence texts and the collection's (shipped) copies are one text."""
    shipped = (COLLECTION / "LICENSES" / name).read_bytes()
    assert (ROOT / "LICENSES" / name).read_bytes() == shipped
    if name.startswith("GPL"):
        assert (ROOT / "LICENSE").read_bytes() == shipped
        assert b"GNU GENERAL PUBLIC LICENSE" in shipped and b"Version 3, 29 June 2007" in shipped
    else:
        assert b"Copyright (c) 2026 imagenode-health contributors" in shipped
