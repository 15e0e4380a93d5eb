#!/usr/bin/python
# Copyright (c) 2026 imagenode-health contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r"""
module: wifi_info
short_description: Report a camera node's WiFi link, visible networks and known networks
version_added: 0.1.0
description:
  - Reads the WiFi state through the first backend that answers, in this order
    NetworkManager (C(nmcli -t)), wpa_supplicant (C(wpa_cli), with C(iw) for the
    signal in dBm, the bitrate and the power-save state), plain
    C(/proc/net/wireless), and on macOS C(airport -I).
  - Only the tools' cached scan results are used; the check never starts a
    scan, which would stall the link it measures.
  - RV(status) is V(fail) when the interface is not associated or the signal is
    at or below O(signal_fail), V(warn) at or below O(signal_warn), V(unknown)
    when the node has no wireless interface or nothing could read it, else V(ok).
  - RV(strongest_known) is the visible network with the best signal among
    the configured ones, which is what a switch of network would join.
author:
  - imagenode-health contributors (@imagenode-health)
extends_documentation_fragment:
  - imagenode.health.check
  - imagenode.health.root
options:
  interface:
    description:
      - The wireless interface, for example V(wlan0).
      - Defaults to NetworkManager's WiFi device, else the first interface with a
        C(/sys/class/net/*/wireless) directory or a line in C(/proc/net/wireless).
    type: str
  signal_warn:
    description: Signal in dBm at or below which the status is V(warn).
    type: int
    default: -70
  signal_fail:
    description: Signal in dBm at or below which the status is V(fail).
    type: int
    default: -80
"""

EXAMPLES = r"""
- name: Read the WiFi state
  imagenode.health.wifi_info:
  register: wifi

- name: Say which known network is strongest
  ansible.builtin.debug:
    msg: "{{ wifi.strongest_known.ssid | default('none visible') }}"

- name: Stricter thresholds on one interface
  imagenode.health.wifi_info:
    interface: wlan1
    signal_warn: -65
    signal_fail: -75
"""

RETURN = r"""
status:
  description: V(ok), V(warn), V(fail) or V(unknown), as described above.
  returned: always
  type: str
  sample: warn
summary:
  description: One line a person can read.
  returned: always
  type: str
  sample: "wlan0 on Barn at -73 dBm (warn at or below -70 dBm); known network House is stronger at -55 dBm"
elapsed:
  description: Seconds the check took.
  returned: always
  type: float
  sample: 0.12
interface:
  description: The wireless interface, null when there is none.
  returned: always
  type: str
  sample: wlan0
backend:
  description: V(networkmanager), V(wpa_supplicant), V(proc) or V(airport); null when none answered.
  returned: always
  type: str
  sample: wpa_supplicant
connected:
  description: Whether the interface is associated; null when unknown.
  returned: always
  type: bool
  sample: true
ssid:
  description: The network the interface is associated with.
  returned: always
  type: str
  sample: Barn
bssid:
  description: The access point's MAC address, lower case.
  returned: always
  type: str
  sample: "aa:bb:cc:dd:ee:01"
signal_dbm:
  description: The signal of the current link in dBm.
  returned: always
  type: int
  sample: -73
quality:
  description: Link quality in percent (from dBm, -100 dBm is 0 and -50 dBm 100).
  returned: always
  type: int
  sample: 54
bitrate_mbps:
  description: The transmit bitrate in Mbit/s, where the backend reports it.
  returned: always
  type: float
  sample: 52.0
power_save:
  description: Whether WiFi power save is on (from C(iw)); null when unknown. Power save adds tens of ms of RTT.
  returned: always
  type: bool
  sample: true
visible:
  description: The networks in the cached scan results, strongest first.
  returned: always
  type: list
  elements: dict
  contains:
    ssid:
      description: Network name.
      type: str
    bssid:
      description: Access point MAC address.
      type: str
    signal_dbm:
      description: Signal in dBm.
      type: int
    quality:
      description: Quality in percent.
      type: int
    frequency:
      description: Frequency in MHz.
      type: int
    security:
      description: Security flags as the tool prints them.
      type: str
known:
  description: The SSIDs of the configured (known) networks.
  returned: always
  type: list
  elements: str
  sample: [Barn, House]
strongest_known:
  description: The visible known network with the best signal (ssid, bssid, signal_dbm), or null.
  returned: always
  type: dict
  sample: {"ssid": "House", "bssid": "aa:bb:cc:dd:ee:02", "signal_dbm": -55}
evidence:
  description: What the status was decided on.
  returned: always
  type: dict
  contains:
    interfaces:
      description: The wireless interfaces found.
      type: list
      elements: str
    backend:
      description: The backend that answered.
      type: str
    sources:
      description: The tools and files that were read.
      type: list
      elements: str
    frequency:
      description: Frequency of the current link in MHz.
      type: int
    signal_warn:
      description: The warn threshold used.
      type: int
    signal_fail:
      description: The fail threshold used.
      type: int
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.imagenode.health.plugins.module_utils.ansible_check import (
    check_argument_spec,
    exit_with_check,
)
from ansible_collections.imagenode.health.plugins.module_utils.wifi_info import OPTIONS, run_wifi_info


def main():
    module = AnsibleModule(argument_spec=check_argument_spec(OPTIONS), supports_check_mode=True)
    params = module.params
    exit_with_check(module, lambda: run_wifi_info(
        interface=params["interface"], signal_warn=params["signal_warn"], signal_fail=params["signal_fail"],
        root=params["root"], check_mode=module.check_mode))


if __name__ == "__main__":
    main()
