# The lab's connection: containers.podman's podman connection, pipelined.
#
# Why the lab has one of its own: without pipelining every task costs three
# to four `podman exec` calls per host (make the temp dir, run the module,
# remove the temp dir), and a `podman exec` costs a runtime start, so on a
# 2-core machine deploy.yml spent minutes in podman itself. With `exec -i` the
# module goes in on stdin: one `podman exec` per task, the way Ansible runs
# over SSH with pipelining on a real fleet (ansible.cfg turns it on there too).
# Upstream marks pipelining unsupported because it runs `exec` without `-i`,
# so the container's stdin is closed. And it runs `podman mount` for every
# task, though only file transfers use the mount: here it is made when the
# first file goes across. And a container that is gone, stopped or paused
# makes the host unreachable, as a dead SSH link does: upstream learns that
# from its temp-dir exec failing, which pipelining no longer runs.
# Copyright (c) 2026 imagenode-health contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt)

DOCUMENTATION = """
    name: lab_podman
    short_description: Run tasks in the lab's podman containers, pipelined
    description:
      - The podman connection of C(containers.podman), with the module sent
        on the stdin of one C(podman exec -i) instead of a file in a temp dir.
    options:
      remote_addr:
        description: The name or ID of the container.
        type: str
        default: inventory_hostname
        vars:
          - name: ansible_host
          - name: inventory_hostname
          - name: ansible_podman_host
      remote_user:
        description: The user to run commands as inside the container.
        type: str
        ini:
          - section: defaults
            key: remote_user
        env:
          - name: ANSIBLE_REMOTE_USER
        vars:
          - name: ansible_user
      podman_extra_args:
        description: Extra arguments for the podman command line.
        type: str
        default: ''
        vars:
          - name: ansible_podman_extra_args
        env:
          - name: ANSIBLE_PODMAN_EXTRA_ARGS
      podman_executable:
        description: The podman executable.
        type: str
        default: podman
        vars:
          - name: ansible_podman_executable
        env:
          - name: ANSIBLE_PODMAN_EXECUTABLE
      pipelining:
        description: Send modules on stdin (one C(podman exec) per task).
        type: bool
        default: true
        ini:
          - section: connection
            key: pipelining
        env:
          - name: ANSIBLE_PIPELINING
        vars:
          - name: ansible_pipelining
"""

import shlex

from ansible.errors import AnsibleConnectionFailure
from ansible.module_utils.common.text.converters import to_native
from ansible.plugins.connection import ConnectionBase, ensure_connect
from ansible_collections.containers.podman.plugins.connection.podman import Connection as PodmanConnection


PODMAN_ERRORS = (125, 255)


class Connection(PodmanConnection):
    """containers.podman.podman with stdin kept open, so pipelining works."""

    transport = "lab_podman"
    has_pipelining = True
    _mount_tried = False

    def _connect(self):
        # The container's filesystem is mounted by _mount(), on first use.
        ConnectionBase._connect(self)
        self._connected = True
        return self

    def _mount(self):
        if not self._mount_tried:
            self._mount_tried = True
            PodmanConnection._connect(self)

    @ensure_connect
    def put_file(self, in_path, out_path):
        self._mount()
        return super(Connection, self).put_file(in_path, out_path)

    @ensure_connect
    def fetch_file(self, in_path, out_path):
        self._mount()
        return super(Connection, self).fetch_file(in_path, out_path)

    @ensure_connect
    def exec_command(self, cmd, in_data=None, sudoable=False):
        # The grandparent's bookkeeping only; the parent's exec has no -i.
        super(PodmanConnection, self).exec_command(cmd, in_data=in_data, sudoable=sudoable)
        exec_args = ["exec"]
        if in_data is not None:
            exec_args.append("--interactive")
        if self.user:
            exec_args.extend(("--user", self.user))
        rc, stdout, stderr = self._podman(exec_args, shlex.split(to_native(cmd, errors="surrogate_or_strict")), in_data)
        # podman itself failed, not the command inside (whose own codes
        # podman passes through): 125 for no such container, 255 for one
        # that is stopped or paused ("container state improper"); podman's
        # message is then all there is, starting "Error: ".
        if rc in PODMAN_ERRORS and not stdout and stderr.startswith(b"Error: "):
            raise AnsibleConnectionFailure("podman exec in %s failed: %s" % (
                self._container_id, to_native(stderr.strip(), errors="surrogate_or_replace")))
        return rc, stdout, stderr
