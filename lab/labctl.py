#!/usr/bin/env python3
"""labctl: the podman lab fleet (hubs and camera nodes as systemd containers).

The fleet is defined once, by the Ansible inventory inventory/lab.yml (groups
`hubs` and `nodes`, `ansible_host` = container name, `lab_ipv4`, and
`lab_network`/`lab_subnet`/`lab_gateway` in all.vars). Run as root with the
venv's python:  labctl.py image | up [--only NAME ...] | down | status |
hub-stop NAME | hub-start NAME | card-fail NAME | card-replace NAME.
Tests import it:

    image() -> str                       build the image if missing, its tag
    up(names=None) -> list[dict]         (re)create the fleet (or some hosts)
    down() -> None                       remove lab containers and network
    status() -> list[dict]               what runs, which hubs answer
    exec_in(host, argv, ...) -> CompletedProcess   podman exec
    hub_stop(name) / hub_start(name)     stop / start (and wait for) a hub
    hub_log(name) -> str                 the hub's received-message log
    set_radio(name, scenario)            the simulated radio (nmcli, iw) on a node
                                         (CLI: radio NAME SCENARIO.json)
    hub_answers(ip, port) -> bool        one imagezmq request from the host
    restart(name) -> float               podman restart (a reboot as the node
                                         sees it), wait for systemd; seconds
    card_fail(name)                      the node's SD card (lab/sdcard.py) hits
                                         an ext4 error: the kernel makes it read-only
    card_replace(name) -> float          power off, a new card, power on; seconds
    lab_session()                        context manager: hold the lab for
                                         this process (tests hold it per module)

Only stdlib and PyYAML, plus pyzmq (imported lazily) to talk to the hubs.
"""
import argparse
import concurrent.futures
import contextlib
import fcntl
import functools
import glob
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import time

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sdcard  # noqa: E402  # lab/sdcard.py, beside this file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INVENTORY = os.path.join(ROOT, "inventory", "lab.yml")
IMAGE_DIR = os.path.join(ROOT, "lab", "image")
HUB_DIR = os.path.join(ROOT, "lab", "hub")
CACHE = os.path.join(ROOT, ".cache")
IMAGE_REPO = "localhost/imagenode-lab"
HUB_LOG = "/var/log/imagehub/imagehub.log"
BOOT_TIMEOUT = 90  # seconds for systemd to reach running (2 cores, 9 boots)
HUB_TIMEOUT = 30  # seconds for a hub to answer after its unit started


# Containers and the network are machine-wide names, so is the lock.
LOCK = "/run/lock/imagenode-lab.lock" if os.path.isdir("/run/lock") else os.path.join(CACHE, "lab.lock")


class LabError(Exception):
    pass


_lock = {"fd": None, "depth": 0}
# Set by `labctl.py hold -- CMD` for CMD and its children, which run inside
# the holder's session (a whole demo, a whole molecule scenario).
HELD_ENV = "IMAGENODE_LAB_HELD_BY"


@contextlib.contextmanager
def lab_session():
    """Hold the lab fleet for this process. Several sessions share this
    machine (test runs, the demo, people): without it one run's `up`/`down`
    tears down the fleet under another's tests. Re-entrant within a process;
    another process waits (and is told who holds it)."""
    if _lock["depth"] == 0 and os.environ.get(HELD_ENV):
        yield  # an ancestor holds the lab for us
        return
    if _lock["depth"] == 0:
        fd = os.open(LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 300, 0).decode(errors="replace").strip()
            print("labctl: waiting for the lab, held by %s" % holder, file=sys.stderr, flush=True)
            fcntl.flock(fd, fcntl.LOCK_EX)
        os.ftruncate(fd, 0)
        os.pwrite(fd, ("pid %d: %s\n" % (os.getpid(), " ".join(sys.argv))).encode(), 0)
        _lock["fd"] = fd
    _lock["depth"] += 1
    try:
        yield
    finally:
        _lock["depth"] -= 1
        if _lock["depth"] == 0:
            os.close(_lock["fd"])  # closing releases the flock
            _lock["fd"] = None


def exclusive(fn):
    """Run fn inside lab_session()."""
    @functools.wraps(fn)
    def wrapper(*args, **kw):
        with lab_session():
            return fn(*args, **kw)
    return wrapper


def run(argv, check=True, **kw):
    """subprocess.run, output captured as text by default; LabError on failure."""
    if not {"stdout", "stderr", "capture_output"} & set(kw):
        kw["capture_output"] = True
    kw.setdefault("text", not isinstance(kw.get("input"), bytes))
    proc = subprocess.run(argv, **kw)
    if check and proc.returncode != 0:
        err = proc.stderr or ""
        err = err.decode(errors="replace") if isinstance(err, bytes) else err
        raise LabError("%s: exit %d %s" % (" ".join(argv[:4]), proc.returncode, err.strip()))
    return proc


# ---- the fleet, from the inventory -------------------------------------------

def load_inventory(path=INVENTORY):
    """(all.vars, {host: merged vars}) with Ansible's precedence for our
    shapes: all.vars < parent group vars < child group vars < host vars."""
    with open(path) as f:
        data = yaml.safe_load(f)
    top = data["all"]
    hosts = {}

    def walk(group, inherited, groups):
        gvars = dict(inherited, **(group.get("vars") or {}))
        for name, hvars in (group.get("hosts") or {}).items():
            merged = {**hosts.get(name, {}), **gvars, **(hvars or {})}
            merged["group_names"] = sorted(set(merged.get("group_names", [])) | set(groups))
            hosts[name] = merged
        for cname, child in (group.get("children") or {}).items():
            walk(child or {}, gvars, groups + [cname])

    walk(top, {}, [])
    return top.get("vars") or {}, hosts


def fleet():
    """Hosts in inventory order, hubs first: dicts with name, container,
    role, ip, vars."""
    _, hosts = load_inventory()
    out = []
    for name, v in hosts.items():
        role = v.get("lab_role") or ("hub" if "hubs" in v["group_names"] else "node")
        out.append({"name": name, "container": v.get("ansible_host", name),
                    "role": role, "ip": v["lab_ipv4"], "vars": v})
    return sorted(out, key=lambda h: h["role"] != "hub")


def host(name):
    """A fleet host by inventory name or container name."""
    for h in fleet():
        if name in (h["name"], h["container"]):
            return h
    raise LabError("no lab host %r in %s" % (name, INVENTORY))


def select(names):
    """Hosts for `names` (inventory names, container names or group names)."""
    all_hosts = fleet()
    if not names:
        return all_hosts
    chosen = [h for h in all_hosts
              if h["name"] in names or h["container"] in names
              or set(names) & set(h["vars"]["group_names"])]
    known = {x for h in all_hosts for x in [h["name"], h["container"]] + h["vars"]["group_names"]}
    unknown = set(names) - known
    if unknown:
        raise LabError("not in the lab inventory: %s" % ", ".join(sorted(unknown)))
    return chosen


# ---- the image -----------------------------------------------------------------

def image_tag():
    """localhost/imagenode-lab:<12 hex of sha256 over lab/image/*>."""
    digest = hashlib.sha256()
    for path in sorted(glob.glob(os.path.join(IMAGE_DIR, "*"))):
        with open(path, "rb") as f:
            digest.update(os.path.basename(path).encode() + b"\0" + f.read() + b"\0")
    return "%s:%s" % (IMAGE_REPO, digest.hexdigest()[:12])


def debian_mirror():
    """The bookworm mirror this machine's apt already uses (never hard-coded)."""
    candidates = []
    for path in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
        with open(path) as f:
            text = "\n".join(l for l in f.read().splitlines() if not l.lstrip().startswith("#"))
        for para in text.split("\n\n"):
            fields = {}
            for line in para.splitlines():
                if ":" in line and not line[0].isspace():
                    k, v = line.split(":", 1)
                    fields[k.strip().lower()] = v.split()
            if ("deb" in fields.get("types", []) and "bookworm" in fields.get("suites", [])
                    and fields.get("enabled", ["yes"])[0].lower() != "no"):
                candidates += fields.get("uris", [])
    for path in ["/etc/apt/sources.list"] + sorted(glob.glob("/etc/apt/sources.list.d/*.list")):
        if os.path.exists(path):
            for line in open(path):
                words = line.split("#", 1)[0].split()
                if words[:1] == ["deb"]:
                    words = [w for w in words[1:] if not w.startswith("[") and not w.endswith("]")]
                    if len(words) >= 2 and words[1] == "bookworm":
                        candidates.append(words[0])
    if not candidates:
        raise LabError("no 'deb ... bookworm' source in /etc/apt: cannot pick a mirror")
    return candidates[0]


def image_exists(tag):
    return run(["podman", "image", "exists", tag], check=False).returncode == 0


def _unmount_under(path):
    """Unmount anything a failed debootstrap left mounted inside path."""
    with open("/proc/mounts") as f:
        points = [l.split()[1] for l in f if l.split()[1].startswith(path + "/")]
    for p in sorted(points, reverse=True):
        run(["umount", "-l", p], check=False)


@exclusive
def image(quiet=False):
    """Build the lab image unless the current tag exists; return the tag."""
    tag = image_tag()
    if image_exists(tag):
        if not quiet:
            print("lab image %s is current" % tag)
        return tag
    t0 = time.monotonic()
    os.makedirs(CACHE, exist_ok=True)
    rootfs = os.path.join(CACHE, "rootfs-" + tag.rsplit(":", 1)[1])
    try:
        _unmount_under(rootfs)
        run(["rm", "-rf", "--one-file-system", rootfs])
        # build.sh prints its own phases; the .deb cache stays for rebuilds.
        run(["bash", os.path.join(IMAGE_DIR, "build.sh"), rootfs, debian_mirror(),
             os.path.join(CACHE, "debs")], capture_output=False)
        print("image: importing into podman as %s" % tag, flush=True)
        # --xattrs keeps file capabilities (ping); numeric owners, not names.
        tar = subprocess.Popen(["tar", "--numeric-owner", "--xattrs", "--xattrs-include=*",
                                "-C", rootfs, "-c", "."], stdout=subprocess.PIPE)
        imp = subprocess.run(["podman", "import", "--change", "CMD=/sbin/init", "-", tag],
                             stdin=tar.stdout, capture_output=True, text=True)
        tar.stdout.close()
        if tar.wait() != 0 or imp.returncode != 0:
            raise LabError("image import failed: %s" % imp.stderr.strip())
    finally:
        _unmount_under(rootfs)
        run(["rm", "-rf", "--one-file-system", rootfs], check=False)
    # Older lab images are dead weight (each is a few hundred MB).
    listed = run(["podman", "images", "--format", "{{.Repository}}:{{.Tag}}", IMAGE_REPO]).stdout
    for old in set(listed.split()) - {tag}:
        if run(["podman", "rmi", old], check=False).returncode == 0:
            print("image: removed old %s" % old)
    print("image: built %s in %.0f s" % (tag, time.monotonic() - t0))
    return tag


# ---- containers ----------------------------------------------------------------

def exec_in(container, argv, check=True, user=None, input=None, timeout=60, **kw):
    """podman exec in a lab container (inventory or container name);
    a CompletedProcess with text stdout/stderr unless told otherwise."""
    try:
        container = host(container)["container"]
    except LabError:
        pass
    cmd = ["podman", "exec"] + (["-i"] if input is not None else [])
    cmd += (["--user", user] if user else []) + [container] + list(argv)
    return run(cmd, check=check, input=input, timeout=timeout, **kw)


def existing_containers():
    """Names of lab containers podman has a record of (running or not)."""
    out = run(["podman", "ps", "-a", "--format", "{{.Names}}"]).stdout.split()
    names = {h["container"] for h in fleet()}
    return [n for n in out if n in names]


@exclusive
def down(quiet=False):
    """Remove the lab containers and the lab network; silent if none exist."""
    net = load_inventory()[0]["lab_network"]
    gone = existing_containers()
    if gone:
        # -t 0: nothing in a lab container needs a clean shutdown.
        run(["podman", "rm", "--force", "--ignore", "-t", "0"] + gone)
    # The cards after their containers: a bind mount keeps a card busy.
    sdcard.remove_all()
    had_net = run(["podman", "network", "exists", net], check=False).returncode == 0
    if had_net:
        run(["podman", "network", "rm", net])
    if (gone or had_net) and not quiet:
        print("lab down: removed %d container(s)%s" % (len(gone), ", network " + net if had_net else ""))


def systemd_state(container):
    proc = exec_in(container, ["systemctl", "is-system-running"], check=False, timeout=20)
    return proc.stdout.strip() or "no-systemd"


def wait_running(container, timeout=BOOT_TIMEOUT):
    """Wait for systemd's boot to finish; 'running', or 'degraded' (reported)."""
    deadline = time.monotonic() + timeout
    while True:
        state = systemd_state(container)
        if state == "running":
            return state
        if state == "degraded":
            failed = exec_in(container, ["systemctl", "--failed", "--plain", "--no-legend"],
                             check=False).stdout.split("\n")
            print("%s: degraded, failed units: %s" % (container, "; ".join(
                l.split()[0] for l in failed if l.strip())), file=sys.stderr)
            return state
        if time.monotonic() > deadline:
            raise LabError("%s: systemd still %r after %d s" % (container, state, timeout))
        time.sleep(0.3)


def hub_answers(ip, port=5555, timeout=1.0, text="labctl|Heartbeat"):
    """One imagezmq request (json {"msg": text} + empty frame); True on b"OK"."""
    import zmq  # only the hub checks need pyzmq

    sock = zmq.Context.instance().socket(zmq.REQ)
    # LINGER 0 and timeouts: never block on a dead hub, never hang on close.
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.RCVTIMEO, int(timeout * 1000))
    sock.setsockopt(zmq.SNDTIMEO, int(timeout * 1000))
    try:
        sock.connect("tcp://%s:%s" % (ip, port))
        sock.send_multipart([json.dumps({"msg": text}).encode(), b""])
        return sock.recv() == b"OK"
    except zmq.ZMQError:
        return False
    finally:
        sock.close()


def wait_hub(h, timeout=HUB_TIMEOUT):
    deadline = time.monotonic() + timeout
    while not hub_answers(h["ip"], h["vars"].get("hub_port", 5555), timeout=0.5):
        if time.monotonic() > deadline:
            raise LabError("%s: hub does not answer on %s:%s" % (h["name"], h["ip"],
                                                                 h["vars"].get("hub_port", 5555)))
    return True


def _tar(files):
    """An in-memory tar of {path in container: (bytes, mode)}, owned by root."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for path, (data, mode) in sorted(files.items()):
            info = tarfile.TarInfo(path.lstrip("/"))
            info.size, info.mode, info.mtime = len(data), mode, int(time.time())
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def setup_hub(h):
    """Install lab_hub.py, the venv's imagezmq and lab-hub.service; start it."""
    import imagezmq  # the venv's copy; pure Python, so it runs on Debian's python3

    files = {"/opt/lab-hub/lab_hub.py": (_read(os.path.join(HUB_DIR, "lab_hub.py")), 0o755),
             "/etc/systemd/system/lab-hub.service":
                 (_read(os.path.join(HUB_DIR, "lab-hub.service")), 0o644),
             "/etc/default/lab-hub":
                 (b"LAB_HUB_PORT=%d\n" % int(h["vars"].get("hub_port", 5555)), 0o644)}
    pkg = os.path.dirname(imagezmq.__file__)
    for name in os.listdir(pkg):
        if name.endswith(".py"):
            files["/opt/imagezmq/imagezmq/" + name] = (_read(os.path.join(pkg, name)), 0o644)
    exec_in(h["container"], ["tar", "-x", "-C", "/"], input=_tar(files))
    exec_in(h["container"], ["systemctl", "enable", "--now", "--quiet", "lab-hub.service"])
    wait_hub(h)


def node_config(h):
    """~pi/imagenode.yaml in imagenode's format; hubs from imagenode_hubs."""
    v = h["vars"]
    lines = ["# imagenode settings for %s (lab)" % h["name"], "node:",
             "  name: %s" % h["name"], "  heartbeat: 10", "  patience: 10", "hub_address:"]
    for i, addr in enumerate(v.get("imagenode_hubs", [])):
        lines.append("  H%d: %s   # %s" % (i + 1, addr, "primary hub" if i == 0 else "alternate"))
    lines += ["cameras:", "  P1:", "    viewname: lab", "    resolution: (320, 240)",
              "    framerate: 8", ""]
    return "\n".join(lines)


def setup_node(h):
    user = h["vars"].get("imagenode_user", "pi")
    path = h["vars"].get("imagenode_config", "/home/%s/imagenode.yaml" % user)
    # Written as the user, so the file is the user's as on a Pi.
    exec_in(h["container"], ["tee", path], user=user, input=node_config(h),
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def start_host(h, tag, add_hosts, net):
    """Run one container, wait for systemd, give it its role. Returns a row."""
    card = []
    if h["vars"].get("lab_sdcard_mount"):
        # A real ext4 card at that path (lab/sdcard.py), so it can fail for real.
        card = ["--volume", "%s:%s" % (sdcard.create(h["name"]), h["vars"]["lab_sdcard_mount"])]
    run(["podman", "run", "-d", "--name", h["container"], "--hostname", h["name"],
         "--network", net, "--ip", h["ip"]] + add_hosts + card +
        ["--systemd=always",
         # A reboot inside (systemctl reboot, ansible.builtin.reboot) ends
         # the container's PID 1; podman starts it again, as a Pi boots.
         "--restart=always",
         # The host's hard nofile limit is 20000; podman would ask for more.
         "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096",
         # NET_ADMIN: firewall-rule fault injection (nft/iptables) inside.
         # NET_RAW: podman 4 drops it, and Debian's ping carries the file
         # capability cap_net_raw, so without it ping fails even for root.
         # SYS_PTRACE: root on a Pi may read every process's sockets and
         # fds (psutil's connections); podman's root may not without it.
         "--cap-add", "NET_ADMIN", "--cap-add", "NET_RAW", "--cap-add", "SYS_PTRACE",
         tag, "/sbin/init"])
    state = wait_running(h["container"])
    if h["role"] == "hub":
        setup_hub(h)
        state += ", hub answers"
    else:
        setup_node(h)
    return {"name": h["name"], "role": h["role"], "container": h["container"],
            "ip": h["ip"], "state": state}


def print_table(rows):
    cols = ["name", "role", "container", "ip", "state"]
    widths = [max(len(c), *(len(str(r[c])) for r in rows)) for c in cols]
    for r in [dict(zip(cols, cols))] + rows:
        print("  ".join(str(r[c]).ljust(w) for c, w in zip(cols, widths)).rstrip())


@exclusive
def up(names=None):
    """(Re)create the lab network and containers (all, or `names`)."""
    t0 = time.monotonic()
    allvars = load_inventory()[0]
    chosen = select(names)
    tag = image(quiet=True)
    # podman's records can outlive a run: start from nothing, every time.
    down(quiet=True)
    net = allvars["lab_network"]
    run(["podman", "network", "create", "--subnet", allvars["lab_subnet"],
         "--gateway", allvars["lab_gateway"], net])
    # /etc/hosts entries for the whole fleet: names resolve without DNS.
    add_hosts = []
    for h in fleet():
        add_hosts += ["--add-host", "%s:%s" % (h["name"], h["ip"])]
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(chosen)) as pool:
        futures = [pool.submit(start_host, h, tag, add_hosts, net) for h in chosen]
        rows, errors = [], []
        for h, fut in zip(chosen, futures):
            try:
                rows.append(fut.result())
            except Exception as exc:  # report every host, not only the first
                errors.append("%s: %s" % (h["name"], exc))
                rows.append({"name": h["name"], "role": h["role"], "container": h["container"],
                             "ip": h["ip"], "state": "FAILED"})
    print_table(rows)
    if errors:
        raise LabError("lab up failed:\n  " + "\n  ".join(errors))
    print("lab up: %d container(s) in %.1f s (image %s)" % (len(rows), time.monotonic() - t0, tag))
    return rows


def status():
    """Rows for every inventory host: container state, systemd, hub answer."""
    # JSON: the text template's {{.State}} says "Up 7 seconds ago" in podman 4.3.
    listed = json.loads(run(["podman", "ps", "-a", "--format", "json"]).stdout or "[]")
    states = {n: c.get("State", "?") for c in listed for n in c.get("Names", [])}
    rows = []
    for h in fleet():
        state = states.get(h["container"], "absent")
        if state == "running":
            state = systemd_state(h["container"])
            if h["role"] == "hub":
                ok = hub_answers(h["ip"], h["vars"].get("hub_port", 5555))
                state += ", hub answers" if ok else ", hub DOES NOT ANSWER"
        rows.append({"name": h["name"], "role": h["role"], "container": h["container"],
                     "ip": h["ip"], "state": state})
    return rows


@exclusive
def hub_stop(name):
    """Stop a hub's program (the container keeps running)."""
    exec_in(host(name)["container"], ["systemctl", "stop", "lab-hub.service"])


@exclusive
def hub_start(name):
    """Start a hub's program and wait until it answers."""
    h = host(name)
    exec_in(h["container"], ["systemctl", "start", "lab-hub.service"])
    wait_hub(h)


@exclusive
def restart(name, timeout=BOOT_TIMEOUT):
    """Restart a lab container (its systemd shuts down and boots again: a
    reboot as far as the node can tell; /run is a fresh tmpfs) and wait for
    systemd to be running. Returns the seconds it took."""
    h = host(name)
    t0 = time.monotonic()
    run(["podman", "restart", h["container"]], timeout=timeout)
    wait_running(h["container"], timeout=timeout)
    return time.monotonic() - t0


def card_fail(name):
    """The node's SD card hits an ext4 error; returns once the kernel has
    made it read-only (lab/sdcard.py)."""
    try:
        sdcard.fail(host(name)["name"])
    except sdcard.CardError as exc:
        raise LabError(str(exc))


@exclusive
def card_replace(name, timeout=BOOT_TIMEOUT):
    """What an operator does for a dead card: power the node off, put in a
    new (empty) card, power it on. Waits for systemd; returns the seconds."""
    h = host(name)
    if not h["vars"].get("lab_sdcard_mount"):
        raise LabError("%s has no lab SD card (lab_sdcard_mount in inventory/lab.yml)" % name)
    t0 = time.monotonic()
    run(["podman", "stop", "-t", "0", h["container"]], timeout=timeout)  # the power cut
    try:
        sdcard.create(h["name"])
    except sdcard.CardError as exc:
        raise LabError(str(exc))
    run(["podman", "start", h["container"]], timeout=timeout)
    wait_running(h["container"], timeout=timeout)
    return time.monotonic() - t0


def hub_log(name):
    """The text of the hub's message log ('' if nothing was received yet)."""
    proc = exec_in(host(name)["container"], ["cat", HUB_LOG], check=False)
    return proc.stdout if proc.returncode == 0 else ""


RADIO_SCENARIO = "/etc/lab-radio/scenario.json"


def set_radio(name, scenario):
    """Give a node the simulated radio (lab/radio/radio.py as nmcli and iw in
    /usr/local/bin, ahead of any real ones on PATH, and as lab-radio, the
    NetworkManager.service stand-in) and this scenario (a dict, see radio.py).
    Only the radio layer is simulated: joining a network changes the node's
    real link. `links` defaults to the inventory's lab network (eth0 and
    lab_gateway); "service" installs NetworkManager.service and leaves it
    running or stopped; "wedged" sets /run/lab-radio/wedged (a reboot clears it)."""
    h = host(name)
    allvars = load_inventory()[0]
    scenario = dict(scenario)
    scenario.setdefault("links", {allvars["lab_network"]: {"dev": "eth0", "gateway": allvars["lab_gateway"]}})
    tool = _read(os.path.join(ROOT, "lab", "radio", "radio.py"))
    files = {"/usr/local/bin/nmcli": (tool, 0o755), "/usr/local/bin/iw": (tool, 0o755),
             "/usr/local/sbin/lab-radio": (tool, 0o755),
             RADIO_SCENARIO: (json.dumps(scenario, indent=2).encode() + b"\n", 0o644)}
    unit = "/etc/systemd/system/NetworkManager.service"
    if "service" in scenario:
        files[unit] = (_read(os.path.join(ROOT, "lab", "radio", "NetworkManager.service")), 0o644)
    c = h["container"]
    if "service" not in scenario:
        # An earlier scenario's unit: stopped by the tool and scenario it was started with.
        exec_in(c, ["sh", "-c", "if test -e %s; then systemctl disable --now --quiet NetworkManager.service;"
                                " rm -f %s /run/lab-radio/running; systemctl daemon-reload; fi" % (unit, unit)])
    exec_in(c, ["tar", "-x", "-C", "/"], input=_tar(files))
    exec_in(c, ["mkdir", "-p", "/run/lab-radio"])
    exec_in(c, ["sh", "-c", "touch /run/lab-radio/wedged" if scenario.get("wedged")
                else "rm -f /run/lab-radio/wedged"])
    if "service" in scenario:
        exec_in(c, ["systemctl", "daemon-reload"])
        exec_in(c, ["systemctl", "enable", "--quiet", "NetworkManager.service"])
        if scenario["service"] == "stopped":
            exec_in(c, ["systemctl", "stop", "NetworkManager.service"])
            exec_in(c, ["/usr/local/sbin/lab-radio", "stop"])  # also when it was not running
        else:
            exec_in(c, ["systemctl", "restart", "NetworkManager.service"])
    else:
        exec_in(c, ["/usr/local/sbin/lab-radio", "apply"])


def hold(argv):
    """Run argv inside one lab session: no other lab user can come between
    its steps (up, faults, checks, down). Returns its exit status."""
    if not argv:
        raise SystemExit("labctl.py hold: no command given")
    with lab_session():
        env = dict(os.environ, **{HELD_ENV: str(os.getpid())})
        return subprocess.call(argv, env=env)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="labctl.py", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("image", help="build the lab image unless it is current")
    p = sub.add_parser("up", help="(re)create the lab fleet")
    p.add_argument("--only", nargs="+", metavar="NAME", help="hosts or groups to start")
    sub.add_parser("down", help="remove the lab containers and network")
    sub.add_parser("status", help="containers, systemd state, hub answers")
    for cmd in ("hub-stop", "hub-start", "restart", "card-fail", "card-replace"):
        sub.add_parser(cmd).add_argument("name")
    p = sub.add_parser("radio", help="give a node the simulated radio with a scenario (JSON file)")
    p.add_argument("name")
    p.add_argument("scenario", help="a JSON file, see lab/radio/radio.py")
    p = sub.add_parser("hold", help="run a command that holds the lab from start to end")
    p.add_argument("command", nargs=argparse.REMAINDER, help="-- CMD [ARG...]")
    args = ap.parse_args(argv)
    if args.cmd == "hold":
        return hold(args.command[1:] if args.command[:1] == ["--"] else args.command)
    try:
        if args.cmd == "image":
            image()
        elif args.cmd == "up":
            up(args.only)
        elif args.cmd == "down":
            down()
        elif args.cmd == "status":
            print_table(status())
        elif args.cmd == "hub-stop":
            hub_stop(args.name)
        elif args.cmd == "hub-start":
            hub_start(args.name)
        elif args.cmd == "radio":
            with open(args.scenario) as handle:
                set_radio(args.name, json.load(handle))
        elif args.cmd == "restart":
            print("%s restarted, systemd running, in %.1f s" % (args.name, restart(args.name)))
        elif args.cmd == "card-fail":
            card_fail(args.name)
            print("%s: its SD card had an ext4 error; the kernel made it read-only" % args.name)
        elif args.cmd == "card-replace":
            print("%s: a new SD card, powered on, systemd running, in %.1f s" % (args.name, card_replace(args.name)))
    except LabError as exc:
        print("labctl: %s" % exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
