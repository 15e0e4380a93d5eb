#!/bin/bash
# Builds the lab image's root filesystem: bash build.sh ROOTFS MIRROR [DEBCACHE]
# Called by `labctl.py image`, which picks MIRROR from this machine's apt
# sources, imports ROOTFS with podman and removes it. No mirror is named here.
set -euo pipefail

ROOTFS=$1
MIRROR=$2
DEBCACHE=${3:-}
HERE=$(cd "$(dirname "$0")" && pwd)

# Package list: packages.txt without comments and blank lines, comma-joined.
INCLUDE=$(sed -e 's/#.*//' -e 's/[[:space:]]//g' -e '/^$/d' "$HERE/packages.txt" | paste -sd, -)

echo "image: debootstrap bookworm (minbase + $(tr , "\n" <<<"$INCLUDE" | wc -l) packages) from $MIRROR"
args=(--variant=minbase --include="$INCLUDE")
# A kept .deb cache makes a rebuild after a package-list change much faster.
if [ -n "$DEBCACHE" ]; then mkdir -p "$DEBCACHE"; args+=(--cache-dir="$DEBCACHE"); fi
LOG=$ROOTFS.debootstrap.log
if ! debootstrap "${args[@]}" bookworm "$ROOTFS" "$MIRROR" >"$LOG" 2>&1; then
    # Keep dpkg's own log: the rootfs is removed by labctl after a failure.
    cat "$ROOTFS/debootstrap/debootstrap.log" >>"$LOG" 2>/dev/null || true
    grep -E '^(E:|dpkg: (error|dependency))| depends on ' "$LOG" | head -20 >&2
    echo "image: debootstrap failed; full log in $LOG" >&2
    exit 1
fi
rm -f "$LOG"

echo "image: configuring users, systemd units"
in_root() { chroot "$ROOTFS" "$@"; }
# The Pi's default user, with Pi OS's password-less sudo (Ansible's become).
in_root useradd --create-home --uid 1000 --user-group --shell /bin/bash pi
echo 'pi ALL=(ALL) NOPASSWD: ALL' >"$ROOTFS/etc/sudoers.d/010_pi-nopasswd"
chmod 0440 "$ROOTFS/etc/sudoers.d/010_pi-nopasswd"
# No root password at all ('*': nothing can log in with one); access is podman exec.
in_root usermod --password '*' root
# Units that cannot work in a container (no devices, no consoles, a read-only
# /sys, a rootfs podman already mounted) are masked so that
# `systemctl is-system-running` says "running", not "degraded"; the timers
# (apt, e2scrub, fstrim) would only add load and noise to nine containers.
in_root systemctl mask --quiet \
    systemd-remount-fs.service getty@tty1.service console-getty.service \
    serial-getty@.service getty.target \
    systemd-udevd.service systemd-udevd-control.socket systemd-udevd-kernel.socket \
    systemd-udev-trigger.service systemd-udev-settle.service \
    systemd-modules-load.service systemd-sysctl.service systemd-firstboot.service \
    sys-kernel-debug.mount sys-kernel-tracing.mount sys-kernel-config.mount \
    sys-fs-fuse-connections.mount dev-hugepages.mount dev-mqueue.mount \
    systemd-hwdb-update.service systemd-random-seed.service \
    apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer e2scrub_reap.service \
    fstrim.timer
in_root systemctl enable --quiet cron.service
# Empty machine-id: systemd makes a fresh one in each container at boot.
: >"$ROOTFS/etc/machine-id"
rm -f "$ROOTFS/var/lib/dbus/machine-id"

echo "image: trimming apt caches"
in_root apt-get clean
rm -rf "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/cache/apt/*.bin "$ROOTFS"/var/log/*.log
