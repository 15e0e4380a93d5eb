#!/usr/bin/python
# Copyright (c) 2026 imagenode-health contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r"""
module: curve_keypair
short_description: Make a ZeroMQ CURVE key pair on the host that uses it, once
version_added: 0.1.0
description:
  - Creates C(<dir>/<name>.key_secret) (mode 0600, the secret and public key)
    and C(<dir>/<name>.key) (mode 0644, the public key only) in the ZPL
    certificate layout that pyzmq's C(zmq.auth.load_certificate) reads.
  - An existing pair is kept; only a missing public file is rewritten from
    the secret one. The secret key never leaves the host and is never
    returned; RV(public_key) is what the other side needs.
  - A secret file that exists but cannot be used (no key, a public key that
    does not belong to it) fails the task and is left untouched, unless
    O(force=true).
  - The heartbeat monitor binds each probe key to a node by the key file's
    name in its C(clients/) directory, so use the node's name as O(name) for
    the key the node's probe sends with.
author:
  - imagenode-health contributors (@imagenode-health)
extends_documentation_fragment:
  - imagenode.health.files
options:
  dir:
    description: Directory of the key files; created mode 0700 when missing.
    type: path
    required: true
  name:
    description: Base name of the files (1-64 characters of A-Z a-z 0-9 _ . -).
    type: str
    required: true
  owner:
    description: User that owns both files (default the connecting user, usually root).
    type: str
  group:
    description: Group of both files.
    type: str
  force:
    description: Generate a new pair even when one exists (every holder of the old public key must be given the new one).
    type: bool
    default: false
requirements:
  - python3-zmq (pyzmq built with libsodium, as Debian's and Pi OS's are)
seealso:
  - module: imagenode.health.hub_check
"""

EXAMPLES = r"""
- name: The probe's own key pair on the node
  imagenode.health.curve_keypair:
    dir: /etc/imagenode-health/keys
    name: "{{ inventory_hostname }}"
  register: probe_key

- name: Authorize it on the monitor host
  ansible.builtin.copy:
    dest: "/etc/imagenode-health/keys/clients/{{ inventory_hostname }}.key"
    content: "{{ probe_key.public_certificate }}"
    mode: "0644"
  delegate_to: hub1
"""

RETURN = r"""
public_key:
  description: The pair's public key (Z85, 40 characters); null in check mode before a pair exists.
  returned: always
  type: str
  sample: "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"
public_certificate:
  description: The public certificate file's text, to copy to the other side; null when RV(public_key) is.
  returned: always
  type: str
public_file:
  description: Path of the public key file.
  returned: always
  type: str
  sample: /etc/imagenode-health/keys/node1.key
secret_file:
  description: Path of the secret key file (its content is never returned).
  returned: always
  type: str
  sample: /etc/imagenode-health/keys/node1.key_secret
action:
  description: What was done (or would be in check mode).
  returned: always
  type: str
  choices: [none, generate, write_public, write_secret_mode]
reason:
  description: Why.
  returned: always
  type: str
  sample: no secret key file yet
summary:
  description: One line for people.
  returned: always
  type: str
  sample: "node1: made a new CURVE key pair in /etc/imagenode-health/keys (no secret key file yet)"
elapsed:
  description: Seconds the module took.
  returned: always
  type: float
"""

import time

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.imagenode.health.plugins.module_utils import curve_keys


SAID = {
    "none": "key pair kept",
    "generate": "made a new CURVE key pair",
    "write_public": "public key file rewritten from the secret one",
    "write_secret_mode": "secret key file set back to 0600",
}


def _owner(module):
    """(uid, gid) for the owner and group options, or None when neither is set."""
    if not module.params["owner"] and not module.params["group"]:
        return None
    import grp
    import pwd
    uid = gid = -1
    try:
        if module.params["owner"]:
            uid = pwd.getpwnam(module.params["owner"]).pw_uid
        if module.params["group"]:
            gid = grp.getgrnam(module.params["group"]).gr_gid
    except KeyError as exc:
        module.fail_json(msg="owner/group: no such user or group %s" % exc)
    return (uid, gid)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            dir=dict(type="path", required=True),
            name=dict(type="str", required=True),
            owner=dict(type="str"),
            group=dict(type="str"),
            force=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    if not curve_keys.HAS_ZMQ:
        module.fail_json(msg=missing_required_lib("pyzmq (python3-zmq)"), exception=str(curve_keys.ZMQ_IMPORT_ERROR))
    if not curve_keys.valid_name(module.params["name"]):
        module.fail_json(msg="name %r must be 1-64 characters of A-Z a-z 0-9 _ . -" % module.params["name"])
    started = time.monotonic()
    try:
        result = curve_keys.ensure_keypair(module.params["dir"], module.params["name"], owner=_owner(module),
                                           check_mode=module.check_mode, force=module.params["force"])
    except curve_keys.KeyFileError as exc:
        module.fail_json(msg=str(exc))
    except (IOError, OSError) as exc:
        module.fail_json(msg="cannot write the key files in %s: %s" % (module.params["dir"], exc))
    public = result["public_key"]
    result["public_certificate"] = curve_keys.certificate_text(module.params["name"], public) if public else None
    result["summary"] = "%s: %s in %s (%s)" % (
        module.params["name"], SAID[result["action"]], module.params["dir"], result["reason"])
    result["elapsed"] = round(time.monotonic() - started, 3)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
