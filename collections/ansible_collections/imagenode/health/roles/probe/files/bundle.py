# Copyright (c) 2026 imagenode-health contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""Pack the code one host needs into one tar, byte-for-byte the same every time.

Run on the controller by the probe role (python3 bundle.py COMPONENT DEST):
one file to send instead of thirty, so a deploy costs one transfer per host,
and unarchive sees "no change" when nothing changed. Deterministic: sorted
names, mtime 0, root-owned, modes 0644 (0755 for the commands).

COMPONENT is imagenode_probe or imagenode_monitor; the tar holds it, the
shared core (imagenode_health_core, without the Ansible glue) and its command
in bin/ (given its #! line here). Prints the tar's SHA-256.
"""

import hashlib
import io
import os
import sys
import tarfile

HERE = os.path.dirname(os.path.abspath(__file__))
# The shared core is the collection's own module_utils, installed under this name.
CORE = os.path.normpath(os.path.join(HERE, "..", "..", "..", "plugins", "module_utils"))
COMPONENTS = ("imagenode_probe", "imagenode_monitor")
# Debian's and Pi OS's interpreter, which has python3-zmq and python3-psutil.
SHEBANG = b"#!/usr/bin/python3\n"


def members(component):
    """(name in the tar, path on disk, mode) for everything component needs."""
    out = []
    for package, directory in (("imagenode_health_core", CORE), (component, os.path.join(HERE, component))):
        for name in sorted(os.listdir(directory)):
            # the ansible_*.py glue imports Ansible, which a node need not have
            if name.endswith(".py") and not (package == "imagenode_health_core" and name.startswith("ansible_")):
                out.append(("%s/%s" % (package, name), os.path.join(directory, name), 0o644))
    command = component.replace("_", "-")
    out.append(("bin/%s" % command, os.path.join(HERE, "bin", command), 0o755))
    return out


def build(component):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as tar:
        names = set()
        for name, path, mode in members(component):
            directory = name.split("/")[0]
            if directory not in names:
                names.add(directory)
                info = tarfile.TarInfo(directory)
                info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, 0
                tar.addfile(info)
            with open(path, "rb") as handle:
                data = handle.read()
            if name.startswith("bin/"):
                data = SHEBANG + data
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), mode, 0
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def main(argv):
    if len(argv) != 3 or argv[1] not in COMPONENTS:
        sys.stderr.write("usage: bundle.py {%s} DEST.tar\n" % "|".join(COMPONENTS))
        return 2
    data = build(argv[1])
    dest = argv[2]
    temp = dest + ".tmp"
    with open(temp, "wb") as handle:
        handle.write(data)
    os.replace(temp, dest)
    sys.stdout.write(hashlib.sha256(data).hexdigest() + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
