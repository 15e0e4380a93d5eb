#!/usr/bin/env python3
"""Timings for the start_method scenarios, measured from the controller.

    measure.py frames NODE HUB          new frames from NODE reach HUB
    measure.py kill NODE HUB            kill -9 imagenode, time to frames again
    measure.py reboot NODE HUB          restart the container, time to frames again

"Frames again" means: after the event, HUB's log shows NODE's `Restart`
message and then at least --frames new `NODE <view>|jpg` lines (so a frame
still in flight from the killed copy never counts). Prints one JSON object
and appends it to --record. Uses lab/labctl.py (podman exec, the hub's log).
"""
import argparse
import json
import os
import sys
import time

ROOT = os.environ.get("MOLECULE_PROJECT_DIRECTORY") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "lab"))
import labctl  # noqa: E402

LAUNCHER = "/usr/local/bin/imagenode-launch"


def holder(node):
    proc = labctl.exec_in(node, [LAUNCHER, "--status"], check=False)
    return int(proc.stdout.split()[0]) if proc.returncode == 0 and proc.stdout.strip() else None


def wait_frames(args, offset, t0, need_restart):
    """Seconds from t0 until the frames arrive (after a Restart line if asked)."""
    restart = "~ %s|Restart|" % args.node
    frame = "~ %s %s|jpg" % (args.node, args.view)
    deadline = t0 + args.timeout
    while time.monotonic() < deadline:
        lines = labctl.hub_log(args.hub)[offset:].splitlines()
        seen_restart, frames, first = not need_restart, 0, None
        for line in lines:
            if restart in line:
                seen_restart, frames = True, 0
            elif seen_restart and frame in line:
                frames += 1
                if frames == 1:
                    first = time.monotonic()
        if frames >= args.frames:
            return round(first - t0, 2)
        time.sleep(0.2)
    raise SystemExit("no %d new frames from %s at %s within %.0f s (last log lines: %s)" % (
        args.frames, args.node, args.hub, args.timeout, lines[-5:]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("event", choices=["frames", "kill", "reboot"])
    ap.add_argument("node")
    ap.add_argument("hub")
    ap.add_argument("--method", default="")
    ap.add_argument("--view", default="lab")
    ap.add_argument("--frames", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=30)
    ap.add_argument("--record", default="")
    args = ap.parse_args()
    result = {"event": args.event, "method": args.method, "node": args.node, "hub": args.hub}
    offset = len(labctl.hub_log(args.hub))
    result["pid_before"] = holder(args.node)
    if args.event == "frames":
        t0 = time.monotonic()
        result["seconds_to_frames"] = wait_frames(args, offset, t0, need_restart=False)
    elif args.event == "kill":
        if result["pid_before"] is None:
            raise SystemExit("%s: imagenode is not running, nothing to kill" % args.node)
        labctl.exec_in(args.node, ["kill", "-9", str(result["pid_before"])])
        t0 = time.monotonic()
        result["seconds_to_frames"] = wait_frames(args, offset, t0, need_restart=True)
    else:
        t0 = time.monotonic()
        result["seconds_to_boot"] = round(labctl.restart(args.node), 2)
        result["seconds_to_frames"] = wait_frames(args, offset, t0, need_restart=True)
    result["pid_after"] = holder(args.node)
    print(json.dumps(result))
    if args.record:
        with open(args.record, "a") as f:
            f.write(json.dumps(dict(result, at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
