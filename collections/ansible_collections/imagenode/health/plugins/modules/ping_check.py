#!/usr/bin/python
# Copyright (c) 2026 imagenode-health contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r"""
module: ping_check
short_description: Check a camera node's reachability layer by layer and name the failed layer
version_added: 0.1.0
description:
  - Checks, bottom up, the V(link) (the default route's interface, or O(interface),
    is up in C(/sys/class/net/*/operstate); the route comes from C(ip -j route) or
    C(/proc/net/route)), the V(gateway) (the default gateway answers), the
    V(hub_host) layer (the hosts of O(hubs) or O(config) answer) and the
    V(target) layer (O(targets) answer).
  - Each host is sent O(count) ICMP echo requests 0.2 s apart, as by C(ping -i 0.2),
    from the module's own ICMP socket where one opens (a datagram ping socket where
    C(net.ipv4.ping_group_range) admits the user, else a raw socket as root), else by
    the system C(ping) (iputils, busybox or macOS output). Each host's evidence says
    which in C(icmp_via). When ICMP gets no answer or cannot be used, the host is tried with a TCP connect to
    the hub's port for hub hosts and to O(tcp_port) for the others. A refused
    connection is an answer, since only a live host refuses.
  - A layer is down only when all its hosts fail. A lower layer that fails
    while a higher one answers only filters probes (a gateway that drops pings
    is not a dead network); that is a V(warn), not RV(failed_layer).
  - All hosts of all layers are probed at once, so the check takes as long as its slowest host;
    when the link is down, the other layers are skipped.
  - RV(status) is V(fail) when a layer is down (RV(failed_layer) names it), V(warn)
    for a partly answering layer, a filtering layer, loss of at least O(loss_warn)
    percent or a round trip of at least O(rtt_warn_ms), V(unknown) with neither an
    interface state nor anything to probe, else V(ok).
author:
  - imagenode-health contributors (@imagenode-health)
extends_documentation_fragment:
  - imagenode.health.check
  - imagenode.health.hubs
  - imagenode.health.root
options:
  targets:
    description: Extra hosts (names or addresses) for the V(target) layer.
    type: list
    elements: str
    default: []
  interface:
    description:
      - The interface of the V(link) layer. Defaults to the default route's.
      - When it is not the default route's interface, the gateway is not probed.
    type: str
  gateway:
    description: Whether to probe the default gateway.
    type: bool
    default: true
  count:
    description: ICMP echo requests per host (sent 0.2 s apart).
    type: int
    default: 3
  timeout:
    description: Seconds to wait for a reply (ping's C(-W)), and for a TCP connect.
    type: float
    default: 1.0
  tcp_port:
    description: The TCP fallback port for the gateway and O(targets); hub hosts use their hub port.
    type: int
    default: 22
  tcp_fallback:
    description: Whether hosts that do not answer ICMP are tried with a TCP connect.
    type: bool
    default: true
  loss_warn:
    description: ICMP loss in percent from which an answering host makes the status V(warn).
    type: float
    default: 20.0
  rtt_warn_ms:
    description:
      - Average round trip in milliseconds from which an answering host makes the status V(warn).
      - WiFi power save alone moves a Pi's idle round trip to 50-130 ms, so keep this well above that.
    type: float
    default: 500.0
"""

EXAMPLES = r"""
- name: Which layer is down between the node and its hubs?
  imagenode.health.ping_check:
    config: /home/pi/imagenode.yaml
  register: reach

- name: Also check two more hosts, falling back to TCP port 80 where ICMP is dropped
  imagenode.health.ping_check:
    hubs:
      - tcp://hub1:5555
    targets:
      - 192.168.1.10
      - nas.local
    tcp_port: 80

- name: Tell the operator what to fix
  ansible.builtin.debug:
    msg: "{{ reach.failed_layer | default('nothing', true) }}"
"""

RETURN = r"""
status:
  description: V(ok), V(warn), V(fail) or V(unknown), as described above.
  returned: always
  type: str
  sample: fail
summary:
  description: One line a person can read.
  returned: always
  type: str
  sample: "hub_host layer down: no answer from hub1 (link, gateway up)"
elapsed:
  description: Seconds the check took.
  returned: always
  type: float
  sample: 1.45
failed_layer:
  description: V(link), V(gateway), V(hub_host) or V(target), the lowest layer that is down; null when none is.
  returned: always
  type: str
  sample: hub_host
targets:
  description:
    - Per probed host, its layer, whether it answered, how (V(icmp) or V(tcp)), ICMP loss in percent,
      the ICMP round trip (min, avg, max, mdev in ms) and the TCP connect time in ms.
  returned: always
  type: dict
  sample:
    hub1: {"layer": "hub_host", "answered": true, "method": "icmp", "loss_pct": 0.0,
           "rtt_ms": {"min": 1.9, "avg": 2.3, "max": 2.6, "mdev": 0.3}, "tcp_ms": null}
evidence:
  description: What the status was decided on.
  returned: always
  type: dict
  contains:
    layers:
      description:
        - Per layer its status (V(up), V(partial), V(down), V(skipped), V(none), V(unknown) for the link)
          and its hosts, each with its ICMP and TCP results.
      type: dict
    interface:
      description: The interface of the link layer.
      type: str
    gateway:
      description: The default gateway, or null.
      type: str
    count:
      description: Echo requests per host.
      type: int
    timeout:
      description: Seconds waited per reply.
      type: float
    tcp_port:
      description: The TCP fallback port.
      type: int
    tcp_fallback:
      description: Whether TCP was tried.
      type: bool
    icmp:
      description: Whether a C(ping) binary was found.
      type: bool
    loss_warn:
      description: The loss threshold used.
      type: float
    rtt_warn_ms:
      description: The round-trip threshold used.
      type: float
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.imagenode.health.plugins.module_utils.ansible_check import (
    check_argument_spec,
    exit_with_check,
)
from ansible_collections.imagenode.health.plugins.module_utils.ping_check import OPTIONS, run_ping_check


def main():
    module = AnsibleModule(
        argument_spec=check_argument_spec(OPTIONS),
        mutually_exclusive=[("hubs", "config")],
        supports_check_mode=True,
    )
    params = module.params
    exit_with_check(module, lambda: run_ping_check(
        hubs=params["hubs"], config=params["config"], targets=params["targets"], interface=params["interface"],
        gateway=params["gateway"], count=params["count"], timeout=params["timeout"], tcp_port=params["tcp_port"],
        tcp_fallback=params["tcp_fallback"], loss_warn=params["loss_warn"], rtt_warn_ms=params["rtt_warn_ms"],
        root=params["root"], check_mode=module.check_mode))


if __name__ == "__main__":
    main()
