# Copyright (c) 2026 imagenode-health contributors
# Simplified BSD License (see LICENSES/BSD-2-Clause.txt or https://opensource.org/licenses/BSD-2-Clause)
# SPDX-License-Identifier: BSD-2-Clause
"""ICMP echo from the calling process: what `ping -n -c COUNT -i 0.2 -W TIMEOUT host`
answers (transmitted, received, loss, round trips), without starting ping.

The probe runs ping_check every cycle: one ping child per host per cycle was
most of its CPU on a node. The socket is, in this order:
- an ICMP datagram socket ("ping socket"): Linux allows it to the groups in
  net.ipv4.ping_group_range (systemd opens it to every group, podman to root
  in a container), macOS to everyone; the kernel picks the echo id and hands
  the socket only its own replies;
- a raw ICMP socket (root, or CAP_NET_RAW): every ICMP packet of the host
  arrives on it, so replies are matched by id, sequence and source address.
Where neither can be opened, open_socket says why and the caller runs ping.
"""

import itertools
import os
import select
import socket
import struct
import sys
import time

ECHO_REQUEST = {socket.AF_INET: 8, socket.AF_INET6: 128}
ECHO_REPLY = {socket.AF_INET: 0, socket.AF_INET6: 129}
PROTOCOL = {socket.AF_INET: socket.IPPROTO_ICMP, socket.AF_INET6: getattr(socket, "IPPROTO_ICMPV6", 58)}
INTERVAL = 0.2  # seconds between requests, as ping -i 0.2 (the shortest ping allows a user)

_HEADER = struct.Struct("!BBHHH")   # type, code, checksum, id, sequence
_STAMP = struct.Struct("!d")        # the payload: when the request was sent (monotonic)
_IDS = itertools.count((os.getpid() * 7919) & 0xFFFF)


class IcmpUnavailable(Exception):
    """No ICMP socket can be opened here (the caller uses the ping program)."""


def checksum(data):
    """The Internet checksum (RFC 1071) of data (bytes)."""
    if len(data) % 2:
        data += b"\x00"
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


_KINDS = {"datagram": socket.SOCK_DGRAM, "raw": socket.SOCK_RAW}
# Linux's filters of a raw ICMP socket by message type: a set bit drops that type.
# (SOL_RAW/ICMP_FILTER from linux/icmp.h, ICMP6_FILTER from linux/icmpv6.h.)
_SOL_RAW, _ICMP_FILTER, _ICMP6_FILTER = 255, 1, 1


def only_echo_replies(sock, family):
    """Have the kernel hand a raw socket echo replies only, as ping does: without
    this, every ICMP packet of the host wakes the probe (on loopback, its own
    requests too: twice the wake-ups). Replies still need matching by id,
    sequence and source. True when the filter is set; elsewhere than Linux, or
    where the kernel refuses it, the socket stays unfiltered."""
    if not sys.platform.startswith("linux"):
        return False  # the BSDs' ICMPv6 filter bits mean the opposite, and their ICMP has none
    try:
        if family == socket.AF_INET:
            sock.setsockopt(_SOL_RAW, _ICMP_FILTER, struct.pack("=I", 0xFFFFFFFF & ~(1 << ECHO_REPLY[family])))
        else:
            words = [0xFFFFFFFF] * 8
            words[ECHO_REPLY[family] >> 5] &= ~(1 << (ECHO_REPLY[family] & 31))
            sock.setsockopt(PROTOCOL[family], _ICMP6_FILTER, struct.pack("=8I", *words))
    except OSError:
        return False
    return True


def open_socket(family, kinds=("datagram", "raw")):
    """(socket, "datagram" or "raw") for ICMP echo, the first of kinds that opens;
    IcmpUnavailable says why none does. A raw socket gets only_echo_replies."""
    errors = []
    for name in kinds:
        try:
            sock = socket.socket(family, _KINDS[name], PROTOCOL[family])
        except OSError as exc:
            errors.append("%s socket: %s" % (name, exc.strerror or exc))
            continue
        if name == "raw":
            only_echo_replies(sock, family)
        return sock, name
    raise IcmpUnavailable("; ".join(errors))


def _ascii(host):
    """host as bytes when it is plain ASCII: a str makes the socket module encode it
    with the idna codec, and importing that (with stringprep and unicodedata) keeps
    about 0.3 MiB resident in the probe. A name with other characters stays a str."""
    try:
        return host.encode("ascii")
    except (AttributeError, UnicodeError):
        return host


def resolve(host):
    """(family, address) of host as ping uses it (the first address getaddrinfo gives)."""
    for family, _type, _proto, _name, sockaddr in socket.getaddrinfo(_ascii(host), None, 0, socket.SOCK_DGRAM):
        if family in ECHO_REQUEST:
            return family, sockaddr[0]
    raise socket.gaierror("no IPv4 or IPv6 address for %s" % host)


def _request(family, ident, seq):
    payload = _STAMP.pack(time.monotonic())
    header = _HEADER.pack(ECHO_REQUEST[family], 0, 0, ident, seq)
    if family == socket.AF_INET:  # ICMPv6's checksum covers a pseudo-header: the kernel computes it
        header = _HEADER.pack(ECHO_REQUEST[family], 0, checksum(header + payload), ident, seq)
    return header + payload


def _parse_reply(family, packet, kind):
    """(id, seq, sent) of an echo reply, or None for any other packet."""
    if family == socket.AF_INET and kind == "raw":
        if len(packet) < 20:
            return None
        packet = packet[(packet[0] & 0x0F) * 4:]  # a raw IPv4 socket gives the IP header too
    if len(packet) < _HEADER.size + _STAMP.size:
        return None
    kind_, code, _sum, ident, seq = _HEADER.unpack_from(packet)
    if kind_ != ECHO_REPLY[family] or code != 0:
        return None
    return ident, seq, _STAMP.unpack_from(packet, _HEADER.size)[0]


def _summary(transmitted, rtts):
    received = len(rtts)
    loss = round(100.0 * (transmitted - received) / transmitted, 1) if transmitted else 100.0
    rtt = None
    if rtts:
        avg = sum(rtts) / received
        mdev = (sum((r - avg) ** 2 for r in rtts) / received) ** 0.5
        rtt = {"min": round(min(rtts), 3), "avg": round(avg, 3), "max": round(max(rtts), 3), "mdev": round(mdev, 3)}
    return {"transmitted": transmitted, "received": received, "loss_pct": loss, "rtt_ms": rtt}


def echo(host, count=3, timeout=1.0, interval=INTERVAL):
    """ping's answer for host: {transmitted, received, loss_pct, rtt_ms {min, avg, max, mdev}, socket}.

    Requests go every `interval` seconds; replies are awaited until `timeout`
    seconds after the last request (ping's -W with -c), or until all came.
    A request that cannot be sent counts as lost (send_error says why); when
    none can (no route, a firewall dropping them), that OSError is raised.
    Raises IcmpUnavailable when no ICMP socket opens, socket.gaierror when
    the host has no address."""
    family, address = resolve(host)
    sock, kind = open_socket(family)
    ident = next(_IDS) & 0xFFFF
    sent, rtts, seen = {}, [], set()
    send_error = None
    try:
        sock.setblocking(False)
        started = time.monotonic()
        deadline = None
        seq = 0
        while True:
            now = time.monotonic()
            if seq < count and now >= started + seq * interval:
                try:
                    sock.sendto(_request(family, ident, seq), (address, 0))
                    sent[seq] = now
                except OSError as exc:  # a firewall's drop (EPERM), no route: ping counts it lost too
                    send_error = send_error or exc
                seq += 1
                if seq == count:
                    deadline = now + timeout
                continue
            if seq == count and (len(seen) == len(sent) or now >= deadline):
                break
            wake = deadline if seq == count else started + seq * interval
            readable, _w, _x = select.select([sock], [], [], max(0.0, wake - now))
            if not readable:
                continue
            try:
                packet, source = sock.recvfrom(2048)
            except BlockingIOError:
                continue
            except OSError:  # an ICMP error queued for a datagram socket (unreachable): not a reply
                continue
            reply = _parse_reply(family, packet, kind)
            if reply is None or (kind == "raw" and (reply[0] != ident or source[0] != address)):
                continue
            _ident, reply_seq, _stamp = reply
            if reply_seq in sent and reply_seq not in seen:
                seen.add(reply_seq)
                rtts.append((time.monotonic() - sent[reply_seq]) * 1000.0)
    finally:
        sock.close()
    if not sent and send_error is not None:
        raise send_error
    result = _summary(count, rtts)
    result["socket"] = kind
    if send_error is not None:
        result["send_error"] = send_error.strerror or str(send_error)
    return result
