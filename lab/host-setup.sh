#!/bin/bash
# Host preparation for the podman lab fleet (run as root by `make host`).
# Idempotent: silent when everything is in place, one line per action otherwise.
set -euo pipefail

# libfuse2: fusepy (ctypes) needs it for the slow-FUSE latency test.
# chromium: the audit report test opens the HTML report in a headless browser.
PACKAGES=(podman runc debootstrap uidmap fuse3 libfuse2 e2fsprogs chromium)
CONF=/etc/containers/containers.conf

if [ "$(id -u)" -ne 0 ]; then
    echo "host-setup: must run as root (apt-get, /etc/containers)" >&2
    exit 1
fi

missing=()
for p in "${PACKAGES[@]}"; do
    # dpkg-query prints "install ok installed" only for a fully installed package.
    if [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" != "install ok installed" ]; then
        missing+=("$p")
    fi
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "host-setup: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# containers.conf is TOML. Only our keys are set (in their sections); every
# other line, comment and key of an existing file is kept as it is.
# crun fails on this kernel's hybrid cgroups, hence runc; the hard nofile limit
# is 20000 and podman asks for more by default, hence explicit ulimits.
mkdir -p "$(dirname "$CONF")"
/usr/bin/python3 - "$CONF" <<'EOF'
import os, re, sys

path = sys.argv[1]
want = {
    "containers": {"default_ulimits": '["nofile=1024:1024", "nproc=4096:4096"]'},
    "engine": {"runtime": '"runc"'},
}
lines = open(path).read().splitlines() if os.path.exists(path) else []
changed = []

def section_bounds(name):
    """(header index, end index) of [name], or None."""
    start = None
    for i, line in enumerate(lines):
        m = re.match(r"\s*\[([^\[\]]+)\]\s*(#.*)?$", line)
        if m:
            if start is not None:
                return start, i
            if m.group(1).strip() == name:
                start = i
    return (start, len(lines)) if start is not None else None

for section, keys in want.items():
    for key, value in keys.items():
        bounds = section_bounds(section)
        if bounds is None:
            if lines and lines[-1].strip():
                lines.append("")
            lines += ["[%s]" % section, "%s = %s" % (key, value)]
            changed.append("%s.%s" % (section, key))
            continue
        start, end = bounds
        for i in range(start + 1, end):
            if re.match(r"\s*%s\s*=" % re.escape(key), lines[i]):
                # A value may span several lines (a TOML array): take them all.
                j = i
                if "[" in lines[i].split("=", 1)[1] and "]" not in lines[i].split("=", 1)[1]:
                    while j + 1 < end and "]" not in lines[j]:
                        j += 1
                current = " ".join(l.strip() for l in lines[i:j + 1]).split("=", 1)[1]
                if re.sub(r"\s+", "", current) != re.sub(r"\s+", "", value):
                    lines[i:j + 1] = ["%s = %s" % (key, value)]
                    changed.append("%s.%s" % (section, key))
                break
        else:
            lines.insert(start + 1, "%s = %s" % (key, value))
            changed.append("%s.%s" % (section, key))

if changed:
    with open(path + ".tmp", "w") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(path + ".tmp", path)
    for c in changed:
        print("host-setup: set %s in %s" % (c, path))
EOF
