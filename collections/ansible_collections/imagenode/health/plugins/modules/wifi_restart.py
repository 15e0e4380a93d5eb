#!/usr/bin/python
# Copyright (c) 2026 imagenode-health contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r"""
module: wifi_restart
short_description: Restart the WiFi service a camera node really uses and prove the link came back
version_added: 0.1.0
description:
  - Detects the service that runs the node's WiFi, in this order
    NetworkManager (its systemd unit is active or enabled, or C(nmcli general)
    answers), wpa_supplicant (C(wpa_supplicant@IF.service), else
    C(wpa_supplicant.service)) and dhcpcd (C(dhcpcd.service)).
  - Restarts it with C(systemctl reset-failed UNIT) then C(systemctl restart UNIT);
    on macOS the WiFi power is cycled with C(networksetup -setairportpower IF off) and C(on).
  - Then waits, up to O(timeout) seconds on the monotonic clock, until the
    interface is associated (as M(imagenode.health.wifi_info) sees it) and the
    default gateway answers (as M(imagenode.health.ping_check) probes it,
    ICMP then TCP). RV(took) is how long that took.
  - Nothing is needed (RV(needed) false) when the interface is associated and
    the gateway answers, unless O(force).
  - The module fails when no WiFi service can be found.
author:
  - imagenode-health contributors (@imagenode-health)
extends_documentation_fragment:
  - imagenode.health.recovery
notes:
  - Linux with systemd (Raspberry Pi OS, Debian); macOS only through C(networksetup).
  - Restarting the WiFi service drops the link for a few seconds; run it from
    the node itself (the probe, a timer) or over a connection that does not use WiFi.
options:
  interface:
    description:
      - The wireless interface, for example V(wlan0); it names the
        C(wpa_supplicant@IF.service) unit and the interface whose association is checked.
      - Defaults to NetworkManager's WiFi device or the first wireless interface; V(en0) on macOS.
    type: str
  timeout:
    description: Seconds to wait after the restart for the association and the gateway's answer.
    type: float
    default: 60.0
  force:
    description: Restart even when the interface is associated and the gateway answers.
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Restart WiFi when the link is gone
  imagenode.health.wifi_restart:
    fault: "{{ ping.summary }}"
  register: wifi_restart

- name: How long the link took to come back
  ansible.builtin.debug:
    msg: "{{ wifi_restart.service }} back in {{ wifi_restart.took }} s"

- name: Say which service would be restarted, change nothing
  imagenode.health.wifi_restart:
    force: true
  check_mode: true
"""

RETURN = r"""
changed:
  description: Whether the service was restarted.
  returned: always
  type: bool
fixed:
  description: Associated and the gateway answers at the end; null in check mode.
  returned: always
  type: bool
  sample: true
needed:
  description: False when the link was already associated and the gateway answered (and not O(force)).
  returned: always
  type: bool
before:
  description: The link before.
  returned: always
  type: dict
  contains:
    associated:
      description: Whether the interface was associated.
      type: bool
    ssid:
      description: The associated SSID, or null.
      type: str
    signal_dbm:
      description: Signal in dBm, or null.
      type: int
    gateway:
      description: The default gateway, or null when there is no default route.
      type: str
    gateway_ok:
      description: Whether the gateway answered.
      type: bool
  sample: {"associated": false, "ssid": null, "signal_dbm": null, "gateway": null, "gateway_ok": false}
after:
  description: The link at the end, with the same keys as RV(before); in check mode the prediction (with C(predicted)).
  returned: always
  type: dict
  sample: {"associated": true, "ssid": "Barn", "signal_dbm": -61, "gateway": "192.168.1.1", "gateway_ok": true}
actions:
  description: The commands run, or in check mode those that would be run.
  returned: always
  type: list
  elements: str
  sample: ["systemctl reset-failed NetworkManager.service", "systemctl restart NetworkManager.service"]
summary:
  description: One line a person can read.
  returned: always
  type: str
  sample: "restarted NetworkManager.service; back in 2.4 s: on Barn at -61 dBm, gateway 192.168.1.1 answers"
elapsed:
  description: Seconds the action took.
  returned: always
  type: float
took:
  description: Seconds from the restart until associated with the gateway answering (or the timeout); null when nothing was restarted.
  returned: always
  type: float
  sample: 2.4
service:
  description: The detected WiFi service, V(NetworkManager), V(wpa_supplicant), V(dhcpcd) or V(airport) (macOS).
  returned: always
  type: str
  sample: NetworkManager
unit:
  description: The systemd unit restarted (or that would be), null on macOS.
  returned: always
  type: str
  sample: NetworkManager.service
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
from ansible_collections.imagenode.health.plugins.module_utils.wifi_restart import OPTIONS, run_wifi_restart


def main():
    module = AnsibleModule(argument_spec=recovery_argument_spec(OPTIONS), supports_check_mode=True)
    params = module.params
    exit_with_recovery(module, "wifi_restart", lambda: run_wifi_restart(
        interface=params["interface"], timeout=params["timeout"], force=params["force"],
        check_mode=module.check_mode))


if __name__ == "__main__":
    main()
