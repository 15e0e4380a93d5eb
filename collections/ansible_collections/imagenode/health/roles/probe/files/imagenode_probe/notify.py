# Copyright (c) 2026 imagenode-health contributors
# SPDX-License-Identifier: BSD-2-Clause
"""sd_notify without libsystemd: one datagram to $NOTIFY_SOCKET."""

import os
import socket


def sd_notify(message, environ=None):
    """Send message (e.g. "READY=1") to systemd; False when not under systemd or it fails."""
    path = (os.environ if environ is None else environ).get("NOTIFY_SOCKET")
    if not path or not hasattr(socket, "AF_UNIX"):
        return False
    if path.startswith("@"):  # abstract namespace
        path = "\0" + path[1:]
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        sock.connect(path)
        sock.sendall(message.encode("utf-8"))
        return True
    except (OSError, socket.error):
        return False
    finally:
        sock.close()


def watchdog_usec(environ=None):
    """The watchdog interval systemd set for this service (WATCHDOG_USEC), or None."""
    environ = os.environ if environ is None else environ
    try:
        value = int(environ.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    pid = environ.get("WATCHDOG_PID")
    if pid and pid != str(os.getpid()):
        return None
    return value if value > 0 else None
