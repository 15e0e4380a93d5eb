# Copyright (c) 2026 imagenode-health contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""CURVE key pairs: made once, kept, secret 0600 from the first byte, usable by pyzmq."""

import os
import stat

import pytest
import zmq
import zmq.auth

from ansible_collections.imagenode.health.plugins.module_utils import curve_keys


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_a_new_pair_loads_in_pyzmq_and_the_secret_is_private(tmp_path):
    result = curve_keys.ensure_keypair(str(tmp_path / "keys"), "node1")
    assert result["changed"] and result["action"] == "generate"
    public, secret = zmq.auth.load_certificate(result["secret_file"])
    assert public.decode() == result["public_key"] and secret
    assert zmq.curve_public(secret) == public
    only_public, none = zmq.auth.load_certificate(result["public_file"])
    assert only_public == public and none is None
    assert mode(result["secret_file"]) == 0o600 and mode(result["public_file"]) == 0o644
    assert mode(str(tmp_path / "keys")) == 0o700
    assert secret.decode() not in repr(result)  # the secret is never returned


def test_an_existing_pair_is_kept(tmp_path):
    first = curve_keys.ensure_keypair(str(tmp_path), "node1")
    before = open(first["secret_file"], "rb").read()
    again = curve_keys.ensure_keypair(str(tmp_path), "node1")
    assert not again["changed"] and again["action"] == "none"
    assert again["public_key"] == first["public_key"]
    assert open(first["secret_file"], "rb").read() == before


def test_a_lost_public_file_is_rewritten_from_the_secret(tmp_path):
    first = curve_keys.ensure_keypair(str(tmp_path), "node1")
    os.unlink(first["public_file"])
    again = curve_keys.ensure_keypair(str(tmp_path), "node1")
    assert again["changed"] and again["action"] == "write_public"
    assert zmq.auth.load_certificate(first["public_file"])[0].decode() == first["public_key"]


def test_a_loosened_secret_mode_is_tightened(tmp_path):
    first = curve_keys.ensure_keypair(str(tmp_path), "node1")
    os.chmod(first["secret_file"], 0o644)
    again = curve_keys.ensure_keypair(str(tmp_path), "node1")
    assert again["changed"] and again["action"] == "write_secret_mode"
    assert mode(first["secret_file"]) == 0o600 and again["public_key"] == first["public_key"]


def test_check_mode_predicts_and_writes_nothing(tmp_path):
    target = tmp_path / "keys"
    result = curve_keys.ensure_keypair(str(target), "node1", check_mode=True)
    assert result["changed"] and result["action"] == "generate" and result["public_key"] is None
    assert not target.exists()


@pytest.mark.parametrize("text", [
    "not a certificate\n",
    'curve\n    public-key = "short"\n    secret-key = "short"\n',
])
def test_an_unusable_secret_file_fails_and_is_left_untouched(tmp_path, text):
    secret = tmp_path / "node1.key_secret"
    secret.write_text(text)
    with pytest.raises(curve_keys.KeyFileError) as info:
        curve_keys.ensure_keypair(str(tmp_path), "node1")
    assert "node1.key_secret" in str(info.value) and "force" in str(info.value)
    assert secret.read_text() == text


def test_a_public_key_that_does_not_belong_to_the_secret_is_refused(tmp_path):
    public_a, secret_a = zmq.curve_keypair()
    public_b, _unused = zmq.curve_keypair()
    text = curve_keys.certificate_text("node1", public_b.decode(), secret_a.decode())
    (tmp_path / "node1.key_secret").write_text(text)
    with pytest.raises(curve_keys.KeyFileError, match="does not belong"):
        curve_keys.ensure_keypair(str(tmp_path), "node1")
    forced = curve_keys.ensure_keypair(str(tmp_path), "node1", force=True)
    assert forced["action"] == "generate" and forced["public_key"] not in (public_a.decode(), public_b.decode())


@pytest.mark.parametrize("name", ["", "..", "a/b", "x" * 65, "node 1"])
def test_bad_names_are_refused(tmp_path, name):
    with pytest.raises(curve_keys.KeyFileError, match="name"):
        curve_keys.ensure_keypair(str(tmp_path), name)
    assert os.listdir(str(tmp_path)) == []
