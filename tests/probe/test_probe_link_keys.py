"""The probe's CURVE keys are read by the shared core (curve_keys), as zmq.auth would read them."""

import os

import pytest

zmq = pytest.importorskip("zmq")
import zmq.auth  # noqa: E402

from imagenode_monitor.server import create_keys  # noqa: E402
from imagenode_probe import link  # noqa: E402


def test_keys_read_as_zmq_auth_reads_them(tmp_path):
    keys = str(tmp_path)
    create_keys(keys, "node1")
    create_keys(keys, "monitor")
    secret_file = os.path.join(keys, "node1.key_secret")
    server_file = os.path.join(keys, "monitor.key")
    public, secret, server = link.load_keys(secret_file, server_file)
    assert (public, secret) == zmq.auth.load_certificate(secret_file)
    assert server == zmq.auth.load_certificate(server_file)[0]


def test_a_public_only_client_key_is_refused_by_name(tmp_path):
    keys = str(tmp_path)
    create_keys(keys, "node1")
    public_only = os.path.join(keys, "node1.key")
    with pytest.raises(link.KeyError_, match="holds no secret key"):
        link.load_keys(public_only, public_only)


def test_a_file_without_a_key_is_refused_by_name(tmp_path):
    empty = tmp_path / "empty.key"
    empty.write_text("# nothing here\n")
    with pytest.raises(link.KeyError_, match="client_key .*empty.key"):
        link.load_keys(str(empty), str(empty))
