#!/usr/bin/env bash
# `make demo`: the main job on the built-in lab fleet, narrated a line a step.
# The lab is taken down at the end unless KEEP_LAB=1 (then `make lab-down`).
set -euo pipefail
cd "$(dirname "$0")/.."
# The whole story runs in one lab session: no other lab user (a test run)
# can take the fleet down between its steps.
if [ -z "${IMAGENODE_LAB_HELD_BY:-}" ]; then
    exec .venv/bin/python lab/labctl.py hold -- bash "$0" "$@"
fi
export PATH="$PWD/.venv/bin:$PATH" ANSIBLE_CONFIG="$PWD/ansible.cfg"
say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

cleanup() {
    if [ "${KEEP_LAB:-0}" = 1 ]; then
        say "The lab keeps running (KEEP_LAB=1): try 'ansible-playbook playbooks/audit.yml', then 'make lab-down'."
    else
        say "Taking the lab down (KEEP_LAB=1 keeps it running)"
        python lab/labctl.py down
    fi
}
trap cleanup EXIT

say "Starting the lab fleet: hub1 and hub2 (real imagezmq.ImageHub), node1 ... node7 (systemd as PID 1)"
python lab/labctl.py up

say "Stopping hub2, as if its machine had died"
python lab/labctl.py hub-stop hub2

say "Auditing the fleet: node_health runs every check on each node in one round trip (hubs from its imagenode.yaml)"
ansible-playbook playbooks/audit.yml

say "Expected: every node shows hub1 answering and hub2 DOWN (hub:warn: the primary works, the alternate does not); wifi and pwr unknown (a container has no radio and no Pi power sensors); inst fail where no camera program runs"
