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

say "Starting the stand-in camera program on every node: systemd on node1-3, cron on node4-5, screen on node6-7 (role imagenode.health.start_method)"
ansible-playbook lab/playbooks/cameras.yml

say "Auditing the healthy fleet: node_health runs every check on each node in one round trip"
ansible-playbook playbooks/audit.yml

say "Stopping hub2's hub program, as if its imagehub had died"
python lab/labctl.py hub-stop hub2

say "Auditing again: every node still reaches hub1, which imagenode uses (H1), and reports hub2 DOWN"
ansible-playbook playbooks/audit.yml

say "Read the table: hub:warn (the primary answers, the alternate does not); wifi and pwr unknown (a container has no radio and no Pi power sensors); inst ok (exactly one camera program, started by the node's method); lat ok while it learns the node's baseline"
