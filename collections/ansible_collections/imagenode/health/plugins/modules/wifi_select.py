#!/usr/bin/python
# Copyright (c) 2026 imagenode-health contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r"""
module: wifi_select
short_description: Move a camera node to a stronger known WiFi network, rolling back if it leads nowhere
version_added: 0.1.0
description:
  - Reads the WiFi state as M(imagenode.health.wifi_info) does (the cached
    scan, the known networks and the current signal) and picks the strongest
    visible known network, or the one named by O(ssid).
  - It joins only when that network's signal beats the current one by at
    least O(margin_db) dB (a node that is not associated joins any candidate).
    A named network that is the current one is a no-op; a named network that is
    not visible, or not known, is reported (RV(fixed) false) and nothing is done.
  - After the join it waits up to O(rollback_timeout) seconds for connectivity,
    at least one of O(targets) answering (ICMP, then a TCP connect; a hub is
    tried on its own port). Without it the previous network is joined again and
    checked, and RV(rolled_back) is true, RV(fixed) false.
  - NetworkManager joins with C(nmcli connection up id PROFILE), wpa_supplicant
    with C(wpa_cli select_network ID) (then C(enable_network all), so that the
    other networks stay candidates), macOS with C(networksetup -setairportnetwork IF SSID).
  - Secrets are never read or shown; no PSK appears in a result, a summary, an
    argument list or the event log.
author:
  - imagenode-health contributors (@imagenode-health)
extends_documentation_fragment:
  - imagenode.health.recovery
notes:
  - Linux with NetworkManager or wpa_supplicant (Raspberry Pi OS, Debian);
    macOS only with a named network (O(ssid)), since it has no cached scan to compare.
  - Changing network drops the link for a moment; run it from the node itself
    or over a connection that survives the change.
options:
  ssid:
    description:
      - The network to join. Without it, the strongest visible known network other than the current one.
    type: str
  margin_db:
    description: How many dB stronger than the current signal a network must be to be joined.
    type: int
    default: 8
  rollback_timeout:
    description:
      - Seconds to wait after joining for a target to answer before going back
        to the previous network (and again for the way back).
    type: float
    default: 30.0
  targets:
    description:
      - Hosts that prove connectivity, as V(host), V(host:port) or V(tcp://host:port);
        one answer is enough. A host without a port gets O(tcp_port) for the TCP fallback.
      - Defaults to the default gateway (of the moment) and the hub hosts from O(hubs) or O(config).
      - Mutually exclusive with O(hubs) and O(config).
    type: list
    elements: str
  hubs:
    description:
      - Hub addresses of the form C(tcp://host:port); their hosts are default targets, probed on the hub port.
      - Mutually exclusive with O(config).
    type: list
    elements: str
  config:
    description:
      - Path of an imagenode.yaml on the node; the hubs are its C(hub_address) C(H1), C(H2)...
      - Needs PyYAML (C(python3-yaml)) on the node.
    type: path
  tcp_port:
    description: TCP port for the fallback probe of the gateway and of targets given without a port.
    type: int
    default: 22
  interface:
    description:
      - The wireless interface, for example V(wlan0). Defaults to NetworkManager's WiFi
        device or the first wireless interface; V(en0) on macOS.
    type: str
"""

EXAMPLES = r"""
- name: Move to a clearly stronger known network, proving the hubs are reachable from it
  imagenode.health.wifi_select:
    config: /home/pi/imagenode.yaml
    margin_db: 10
  register: select

- name: Join a named network, back to the old one if the gateway does not answer in 20 s
  imagenode.health.wifi_select:
    ssid: House
    rollback_timeout: 20

- name: Which network would it join, and why
  imagenode.health.wifi_select:
    hubs: [tcp://hub1:5555]
  check_mode: true
"""

RETURN = r"""
changed:
  description: Whether a network was joined (including a rollback).
  returned: always
  type: bool
fixed:
  description:
    - True when the node is on the new network with connectivity, or when nothing was needed.
    - False after a rollback, or when a named network could not be joined; null in check mode.
  returned: always
  type: bool
needed:
  description: False when no network beats the current one by O(margin_db), or the named one is the current one.
  returned: always
  type: bool
before:
  description: The WiFi state before.
  returned: always
  type: dict
  contains:
    ssid:
      description: The associated SSID, or null.
      type: str
    signal_dbm:
      description: Its signal in dBm.
      type: int
    associated:
      description: Whether the interface was associated.
      type: bool
    backend:
      description: The wifi_info backend.
      type: str
    reachable:
      description: "{target: answered} of the targets probed."
      type: dict
  sample: {"ssid": "Barn", "signal_dbm": -78, "associated": true, "backend": "networkmanager",
           "reachable": {"10.89.42.1": true, "hub1": true}}
after:
  description: The same at the end; in check mode the prediction (with C(predicted)).
  returned: always
  type: dict
actions:
  description: The commands run, or in check mode those that would be run. They never hold a secret.
  returned: always
  type: list
  elements: str
  sample: ["nmcli -t -w 30 connection up id house-wifi"]
summary:
  description: One line a person can read, with the signal numbers the decision was made on.
  returned: always
  type: str
  sample: "joined House: House at -52 dBm is 26 dB stronger than Barn at -78 dBm (margin 8 dB); hub1 answers"
elapsed:
  description: Seconds the action took.
  returned: always
  type: float
backend:
  description: V(networkmanager), V(wpa_supplicant) or V(airport).
  returned: always
  type: str
previous:
  description: The network the node was on before, or null.
  returned: always
  type: str
  sample: Barn
candidate:
  description: The network chosen (ssid, signal_dbm), or null when none was.
  returned: always
  type: dict
  sample: {"ssid": "House", "signal_dbm": -52}
reason:
  description: Why that network was chosen, or why none was.
  returned: always
  type: str
joined:
  description: The network joined and kept, or null.
  returned: always
  type: str
  sample: House
rolled_back:
  description: Whether the join led nowhere and the previous network was joined again.
  returned: always
  type: bool
back:
  description: After a rollback, whether connectivity is back on the previous network; else null.
  returned: always
  type: bool
took:
  description: Seconds from the join until connectivity was proven (or the rollback finished); null when nothing was joined.
  returned: always
  type: float
event_log:
  description: The event log the record was appended to.
  returned: when a record was written
  type: str
event_log_error:
  description: Why the record could not be written.
  returned: when the event log could not be written
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.imagenode.health.plugins.module_utils.ansible_recovery import (
    exit_with_recovery,
    recovery_argument_spec,
)
from ansible_collections.imagenode.health.plugins.module_utils.wifi_select import OPTIONS, run_wifi_select


def main():
    module = AnsibleModule(argument_spec=recovery_argument_spec(OPTIONS), supports_check_mode=True,
                           mutually_exclusive=[("hubs", "config"), ("targets", "hubs"), ("targets", "config")])
    params = module.params
    exit_with_recovery(module, "wifi_select", lambda: run_wifi_select(
        ssid=params["ssid"], margin_db=params["margin_db"], rollback_timeout=params["rollback_timeout"],
        targets=params["targets"], hubs=params["hubs"], config=params["config"], tcp_port=params["tcp_port"],
        interface=params["interface"], check_mode=module.check_mode))


if __name__ == "__main__":
    main()
