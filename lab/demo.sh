#!/usr/bin/env bash
# `make demo`: the main job on the built-in lab fleet, narrated a line a step.
# Deploy the probe to a fleet of nine containers (hub1, hub2, node1..node7),
# audit it, break it for real in seven ways, watch the probes heal what they can
# and refuse what they must, run recover.yml for what needs Ansible, replace a
# dead SD card, audit again. Every wait polls real
# state (the heartbeat monitor, the nodes) with a timeout. Playbook output goes
# to reports/demo/*.log; the screen shows what each step found.
# The lab is taken down at the end unless KEEP_LAB=1 (then `make lab-down`).
set -euo pipefail
cd "$(dirname "$0")/.."
# The whole story runs in one lab session: no other lab user (a test run)
# can take the fleet down between its steps.
if [ -z "${IMAGENODE_LAB_HELD_BY:-}" ]; then
    exec .venv/bin/python lab/labctl.py hold -- bash "$0" "$@"
fi
export PATH="$PWD/.venv/bin:$PATH" ANSIBLE_CONFIG="$PWD/ansible.cfg" ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0
LOGDIR="$PWD/reports/demo"
# The demo's audits keep their reports apart from yours (reports/), and start
# with no history: the first audit of a new lab has nothing to compare with,
# so "what changed" in the final one is what this run did.
AUDIT_DIR="$LOGDIR/audit"
rm -rf "$AUDIT_DIR"
mkdir -p "$LOGDIR" "$AUDIT_DIR"
LABCTL=(python lab/labctl.py)
WATCH=(python lab/demo/watch.py)
MONITOR_BIN=/opt/imagenode-health/bin/imagenode-monitor
CAMERA_DIR=/home/pi/imagenode/imagenode

say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
note() { printf '    %s\n' "$*"; }
# Something in the story did not happen: say so, go on with the rest, and
# end non-zero (a demo that only prints is no proof; `make test` runs it).
MISSED=()
miss() { note "$*"; MISSED+=("$*"); }

# Step timings: `step NAME` ends the previous step and starts this one.
DEMO_T0=$(date +%s)
STEP_NAME="" STEP_T=0 TIMES=()
step() {
    local now; now=$(date +%s)
    if [ -n "$STEP_NAME" ]; then TIMES+=("$(printf '%4d s  %s' $((now - STEP_T)) "$STEP_NAME")"); fi
    STEP_NAME="$1" STEP_T=$now
}

# ansible-playbook into reports/demo/NAME.log; on the screen only the
# messages of the tasks named in SHOW (|-separated), errors and the recap.
play() {
    local name="$1"; shift
    local log="$LOGDIR/$name.log" rc=0
    ansible-playbook "$@" >"$log" 2>&1 || rc=$?
    awk -v show="${SHOW:-}" '
        BEGIN { n = split(show, want, "|") }
        /^TASK \[/ { keep = 0; for (i = 1; i <= n; i++) if (want[i] != "" && index($0, "[" want[i] "]")) keep = 1; next }
        /^PLAY RECAP/ { recap = 1; print "    PLAY RECAP"; next }
        recap && NF { sub(/ +skipped=.*/, ""); print "    " $0; next }
        /^(fatal|\[ERROR\])/ && errors++ < 4 { print "    " substr($0, 1, 220); next }
        keep && /^    msg: [|>][0-9]*[-+]?$/ { block = 1; next }
        keep && /^    msg: / { sub(/^    msg: /, ""); if ($0 ~ /^\047.*\047$/) { $0 = substr($0, 2, length($0) - 2); gsub(/\047\047/, "\047") } print "    " $0; next }
        keep && block && /^        / { print "    " substr($0, 9); next }
        { block = 0 }' "$log"
    note "(full output: ${log#"$PWD"/})"
    return "$rc"
}

monitor_view() {
    podman exec "$(node_container hub1)" "$MONITOR_BIN" status | sed 's/^/    /'
}
node_container() { python -c 'import sys; sys.path.insert(0, "lab"); import labctl; print(labctl.host(sys.argv[1])["container"])' "$1"; }
on() { local n="$1"; shift; podman exec "$(node_container "$n")" "$@"; }
# The camera program's pid on a node (the oldest if several), waiting up to 15 s for one.
camera_pid() {
    local pid="" i
    for i in $(seq 30); do
        pid=$(on "$1" pgrep -o -f "python3 -u .*imagenode.py" || true)
        [ -n "$pid" ] && break
        sleep 0.5
    done
    [ -n "$pid" ] || { echo "no camera program runs on $1" >&2; return 1; }
    echo "$pid"
}

cleanup() {
    local rc=$?
    step "(end)"
    if [ "${KEEP_LAB:-0}" = 1 ]; then
        say "The lab keeps running (KEEP_LAB=1): try 'ansible-playbook playbooks/audit.yml', then 'make lab-down'."
    else
        say "Taking the lab down (KEEP_LAB=1 keeps it running)"
        "${LABCTL[@]}" down || true
        left=$(podman ps -a --format '{{.Names}}' | grep -c '^inlab-' || true)
        note "lab containers left: $left"
        [ "$left" = 0 ] || miss "$left lab container(s) left behind"
    fi
    say "Timings (whole demo $(( $(date +%s) - DEMO_T0 )) s; setup by 'make deps' not included)"
    printf '    %s\n' "${TIMES[@]}"
    printf '%s\n' "${TIMES[@]}" > "$LOGDIR/timings.txt"
    if [ "${#MISSED[@]}" -gt 0 ]; then
        say "The demo did not go as told, in ${#MISSED[@]} place(s):"
        printf '    %s\n' "${MISSED[@]}"
        [ "$rc" -ne 0 ] || rc=1
    fi
    exit "$rc"
}
trap cleanup EXIT

# ---------------------------------------------------------------------------
step "lab image"
say "The lab image: built once (debootstrap, about a minute), then reused while lab/image/* is unchanged"
"${LABCTL[@]}" image | sed 's/^/    /'

step "lab up"
say "Starting the lab fleet: hub1 and hub2 (real imagezmq hubs), node1 ... node7 (systemd as PID 1), on podman network 10.89.42.0/24"
"${LABCTL[@]}" up | sed 's/^/    /'

step "stand-in camera program"
say "Putting the lab's stand-in for imagenode.py on every node (a Pi would already have imagenode)"
SHOW="" play standin lab/playbooks/demo_standin.yml

step "deploy.yml"
say "Deploying with playbooks/deploy.yml: imagenode-monitor on hub1, then each node's start method (systemd on node1-3, cron on node4-5, screen on node6-7) and its probe (every 3 s in the lab)"
SHOW="" play deploy playbooks/deploy.yml

step "probes reporting"
say "Waiting for every probe's heartbeat to reach the monitor on hub1, all healthy"
if ! "${WATCH[@]}" until node1,node2,node3,node4,node5,node6,node7=healthy --timeout 90; then
    say "STOP: the probes' heartbeats do not all reach the monitor; what node1's probe and hub1's monitor say:"
    on node1 /opt/imagenode-health/bin/imagenode-probe status 2>&1 | head -8 | sed 's/^/    /' || true
    on node1 journalctl -u imagenode-probe.service --no-pager -o cat -n 5 | sed 's/^/    probe:   /' || true
    on node1 sh -c 'grep -A4 "^monitors" /etc/imagenode-health/probe.yaml' | sed 's/^/    /' || true
    on hub1 journalctl -u imagenode-monitor.service --no-pager -o cat -n 5 | sed 's/^/    monitor: /' || true
    on hub1 ls /etc/imagenode-health/keys/clients | tr '\n' ' ' | sed 's/^/    monitor allow list: /'; echo
    exit 1
fi
monitor_view

step "audit (healthy)"
say "Auditing the fleet: playbooks/audit.yml runs every check on each node in one round trip"
SHOW="Print the fleet table|Print the report's summary and where it is" play audit-1 playbooks/audit.yml -e "audit_report_dir=$AUDIT_DIR" \
    || miss "NOT all green: the audit found a node failing (the table above says which)"
note "wifi and pwr are unknown: a container has no radio and no Pi power sensors; lat learns each node's baseline"

# ---------------------------------------------------------------------------
step "fault 1: hub1 stopped"
FAULTS_T=$(date +%s)
say "FAULT: stopping hub1's hub program (its container and the monitor keep running); every node sends to hub1 (H1)"
"${LABCTL[@]}" hub-stop hub1
note "imagenode gives up on a silent hub and exits, its start method starts it again, and again; each probe should move its node to hub2 (hub_failover)"
"${WATCH[@]}" until node1,node2,node3,node4,node5,node6,node7=healed --timeout 120 \
    || miss "NOT every node failed over within 120 s (see above)"
step "hub1 back"
say "hub1's hub program is repaired (started again); the nodes stay on hub2 (failback is opt-in: recover.yml -e recover_failback=true)"
"${LABCTL[@]}" hub-start hub1

# ---------------------------------------------------------------------------
step "faults 2-8 injected"
# node4's camera runs under cron, whose keep-alive starts a missing camera on
# every minute: kill it well before one, so it is the probe that restarts it.
sec=$((10#$(date +%S)))
if [ "$sec" -gt 42 ]; then
    note "waiting $((62 - sec)) s for a new minute: cron's every-minute keep-alive must not be the one that restarts node4's camera"
    sleep $((62 - sec))
fi
NODE3_BOOT=$(on node3 cut -d " " -f 22 /proc/1/stat)
say "FAULTS: seven more at once, each done for real on its node"
"${LABCTL[@]}" radio node1 lab/demo/radio-weak.json
note "node1 (systemd): WiFi joined to 'Barn' at -78 dBm while the known 'House' is at -52 dBm (only the radio is simulated)"
on node2 kill -STOP "$(camera_pid node2)" || miss "node2: FAILED to inject its fault"
note "node2 (systemd): camera program frozen with SIGSTOP (alive to systemd, sending nothing)"
on node4 kill -9 "$(camera_pid node4)" || miss "node4: FAILED to inject its fault"
note "node4 (cron):    camera program killed with kill -9"
on node6 runuser -u pi -- sh -c "cd $CAMERA_DIR && setsid nohup python3 -u imagenode.py >/dev/null 2>&1 </dev/null &"
note "node6 (screen):  a second camera program started by hand (a duplicate instance)"
# node3's card is a real ext4 filesystem on a loop device (lab/sdcard.py);
# a container's own root cannot be made read-only from inside.
"${LABCTL[@]}" card-fail node3 | sed 's/^/    /' || miss "node3: FAILED to inject its fault"
note "node3 (systemd): its SD card (ext4, errors=remount-ro, holding the probe's state) had an ext4 error: the kernel made it read-only"
on node5 kill -STOP "$(camera_pid node5)" || miss "node5: FAILED to inject its fault"
note "node5 (cron):    camera program frozen with SIGSTOP"
on node7 systemctl stop imagenode-probe.service
on node7 kill -STOP "$(camera_pid node7)" || miss "node7: FAILED to inject its fault"
note "node7 (screen):  its probe stopped (as if someone stopped it and forgot), and its camera frozen: nothing on node7 can heal it"

step "probes healing"
say "Watching the monitor's live view while the probes heal what they can (node3's card cannot be healed; node7 is not expected to heal itself)"
"${WATCH[@]}" until node1,node2,node4,node5,node6=healed node3=refused node7=silent --timeout 150 \
    || miss "NOT everything reached the expected state within 150 s (see above)"
say "The monitor's view now: imagenode-monitor status on hub1"
monitor_view

step "node3 not rebooted"
say "node3: a read-only card is the one fault whose only step is a reboot, and its probe refused it"
note "the reboot budget lives on the card: a reboot it cannot record is one it could not count, and so could loop"
if [ "$(on node3 cut -d " " -f 22 /proc/1/stat)" = "$NODE3_BOOT" ]; then
    note "node3 was not rebooted (its PID 1 started at the same tick as before the fault)"
else
    miss "node3 was rebooted"
fi

# ---------------------------------------------------------------------------
step "recover.yml node7"
say "node7's probe is not running, so Ansible does the work: ansible-playbook playbooks/recover.yml -l node7"
REC_T0=$(date +%s)
SHOW="Print what was wrong, what fixed it and how long it took" play recover-node7 playbooks/recover.yml -l node7 \
    || miss "recover.yml exited non-zero"
REC_T1=$(date +%s)
step "node7's probe back"
say "Starting node7's probe again, so the monitor sees node7 once more"
ansible node7 -m ansible.builtin.systemd_service -a "name=imagenode-probe.service state=started" >"$LOGDIR/node7-probe-start.log" 2>&1 \
    && note "node7: imagenode-probe.service started" || miss "node7: could not start the probe (reports/demo/node7-probe-start.log)"
"${WATCH[@]}" until node7=healthy --timeout 90 || miss "node7 not healthy in the monitor within 90 s"

step "node3's new card"
say "node3 needs a person: the operator powers it off, puts in a new SD card and powers it on (labctl.py card-replace node3)"
"${LABCTL[@]}" card-replace node3 | sed 's/^/    /' || miss "node3: the card could not be replaced"
note "systemd starts imagenode and the probe again; the probe writes its state on the new card"
"${WATCH[@]}" until node3=healthy --timeout 90 || miss "node3 not healthy in the monitor within 90 s of its new card"

# ---------------------------------------------------------------------------
step "final audit"
say "The final audit: every node, every check, and the HTML report"
AUDIT_RC=0
SHOW="Print the fleet table|Print the report's summary and where it is" play audit-2 playbooks/audit.yml -e "audit_report_dir=$AUDIT_DIR" || AUDIT_RC=$?

step "summary"
say "Who did what since the first fault (each node's event log; node3's went with its old card)"
"${WATCH[@]}" events --since "$FAULTS_T" --playbook node7 --from "$REC_T0" --to "$REC_T1"
say "The report: $AUDIT_DIR/latest.html (and latest.json; timestamped copies beside them)"
exit "$AUDIT_RC"
