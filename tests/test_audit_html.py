# Copyright (c) 2026 imagenode-health contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The audit report as an operator gets it: written by imagenode.health.audit_report
through ansible-playbook on the controller, then opened in a real browser
(headless Chromium from Debian's packages; `make host` installs it).

The DOM Chromium builds must hold the fleet grid with a coloured cell per
node, every node's checks, and a node name holding a <script> as text only;
a screenshot must show the grid's colours, so the inline CSS really applies
with the network cut off (the page loads nothing)."""

import html
import json
import re
import shutil
import struct
import zlib

import pytest

from conftest import ROOT, run, venv_tool

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed: run `make host` (apt)")

EVIL = '<script>document.title="owned"</script>'
# The grid's colours in the page's CSS (audit_report.CSS), as RGB.
COLOURS = {"ok": (0xc8, 0xeb, 0xc9), "warn": (0xff, 0xe3, 0xa3), "fail": (0xf7, 0xb4, 0xb0),
           "unreachable": (0xc9, 0xb7, 0xe6)}


def check(status, summary, **extra):
    result = {"status": status, "summary": summary, "evidence": {"measured": summary}, "elapsed": 0.01}
    result.update(extra)
    return result


def health(status, summary):
    checks = {
        "hub_check": check(status, "hub " + summary, evidence={"hubs": [
            {"address": "tcp://hub1:5555", "ok": True, "rtt_ms": 2.0, "tcp": "connected"}]}),
        "ping_check": check("ok", "gateway answers"),
        "wifi_info": check("ok", "wlan0 on Barn at -61 dBm", signal_dbm=-61),
        "latency_check": check("ok", "all probes within their baseline",
                               probes={"write": {"ms": 2.5, "baseline_median_ms": 2.1}}),
    }
    return {"status": status, "summary": summary, "checks": checks, "changed": False, "elapsed": 1.0}


RESULTS = {
    "node1": health("ok", "4 of 4 checks ok"),
    "node2": health("warn", "1 of 4 checks not ok"),
    "node3": health("fail", "hub down"),
    "node4": {"unreachable": True, "changed": False, "msg": "Failed to connect to the host"},
    "node5" + EVIL: health("ok", "summary " + EVIL),
}


def write_report(tmp_path, ansible_env, fail_on="never"):
    """Run the action plugin from a playbook on localhost; its registered result."""
    out = tmp_path / "result.json"
    playbook = tmp_path / "report.yml"
    playbook.write_text(json.dumps([{
        "name": "report", "hosts": "localhost", "gather_facts": False,
        "vars": {"results": RESULTS},
        "tasks": [
            {"name": "write", "imagenode.health.audit_report": {
                "results": "{{ results }}", "dest_dir": str(tmp_path / "reports"), "fail_on": fail_on},
             "register": "report", "failed_when": False},
            {"name": "save", "ansible.builtin.copy": {"content": "{{ report | to_json }}", "dest": str(out),
                                                      "mode": "0644"}},
        ]}]))
    # The controller itself, with this venv's interpreter for the copy task.
    proc = run([venv_tool("ansible-playbook"), "-i", "localhost,", "-c", "local", str(playbook),
                "-e", "ansible_python_interpreter=%s" % venv_tool("python")],
               env=ansible_env, cwd=str(ROOT))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(out.read_text())


def chromium(*args, tmp_path):
    argv = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--user-data-dir=%s" % (tmp_path / "profile"),
            "--force-color-profile=srgb", "--hide-scrollbars"] + list(args)
    proc = run(argv, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def test_the_report_opens_in_chromium_and_shows_the_grid(tmp_path, ansible_env):
    report = write_report(tmp_path, ansible_env, fail_on="fail")
    assert report["over_threshold"] == ["node4", "node3"] and report["failed"] is False
    html_path = report["paths"]["latest_html"]
    dom = chromium("--dump-dom", "file://" + html_path, tmp_path=tmp_path).stdout

    grid = re.search(r'<div class="grid" id="fleet-grid">(.*?)</div>\s*<h2>', dom, re.S)
    assert grid, dom[:2000]
    cells = re.findall(r'<a class="cell st-(\w+)" id="cell-node-\d+" href="#node-\d+" data-node="([^"]*)"',
                       grid.group(1))
    # How a serialised DOM escapes attribute values depends on Chromium's
    # version; the value itself is what counts.
    assert [(html.unescape(name), state) for state, name in cells] == [
        ("node1", "ok"), ("node2", "warn"), ("node3", "fail"), ("node4", "unreachable"), ("node5" + EVIL, "ok")]
    assert '<div class="name">node5&lt;script&gt;document.title="owned"&lt;/script&gt;</div>' in dom
    # Every reached node's section with its checks, summaries and evidence.
    assert len(re.findall(r'<section class="node st-\w+" id="node-\d+"', dom)) == 5
    assert len(re.findall(r'<tr class="check" data-check="\w+">', dom)) == 16
    assert "<summary>evidence</summary>" in dom and "hub hub down" in dom
    assert "Failed to connect to the host" in dom
    # Baselines: the node's own for latency, none yet for the signal (first report).
    assert "2.1 ms (the node's own)" in dom and "none yet" in dom
    # The <script> in a node's name and summary is text in the DOM, never an element, and it did not run.
    outside_attributes = re.sub(r'="[^"]*"', '=""', dom)
    assert "<script" not in outside_attributes.lower()
    assert "<title>imagenode fleet audit" in dom and "owned" not in re.search(r"<title>(.*?)</title>", dom).group(1)


def test_the_grid_is_drawn_in_its_colours(tmp_path, ansible_env):
    report = write_report(tmp_path, ansible_env)
    shot = tmp_path / "shot.png"
    chromium("--window-size=1200,900", "--screenshot=%s" % shot, "file://" + report["paths"]["html"],
             tmp_path=tmp_path)
    width, height, pixels = read_png(shot.read_bytes())
    assert (width, height) == (1200, 900)
    seen = dict((state, 0) for state in COLOURS)
    for pixel in pixels:
        for state, rgb in COLOURS.items():
            if all(abs(a - b) <= 3 for a, b in zip(pixel, rgb)):
                seen[state] += 1
    # Each cell is about 11em wide: thousands of pixels of its colour.
    assert all(count > 2000 for count in seen.values()), seen


def test_what_changed_shows_on_the_second_report(tmp_path, ansible_env):
    write_report(tmp_path, ansible_env)
    RESULTS_BEFORE = dict(RESULTS)
    try:
        RESULTS["node4"] = health("ok", "back")
        RESULTS["node3"] = health("ok", "hub back")
        report = write_report(tmp_path, ansible_env)
    finally:
        RESULTS.clear()
        RESULTS.update(RESULTS_BEFORE)
    assert {c["node"] for c in report["changes"]["recovered"]} == {"node3", "node4"}
    dom = chromium("--dump-dom", "file://" + report["paths"]["latest_html"], tmp_path=tmp_path).stdout
    assert re.search(r"<b>recovered</b>: node3 \(fail → ok\), node4 \(unreachable → ok\)", dom), dom[-3000:]


def read_png(data):
    """(width, height, [(r, g, b), ...]) of an 8-bit RGB or RGBA, non-interlaced PNG (what Chromium writes)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = header
    assert depth == 8 and colour in (2, 6) and interlace == 0, header
    channels = 3 if colour == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * channels
    previous = bytearray(stride)
    pixels = []
    for row in range(height):
        start = row * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1:start + 1 + stride])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up = previous[i]
            corner = previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xff
            elif kind == 2:
                line[i] = (line[i] + up) & 0xff
            elif kind == 3:
                line[i] = (line[i] + ((left + up) >> 1)) & 0xff
            elif kind == 4:
                estimate = left + up - corner
                pa, pb, pc = abs(estimate - left), abs(estimate - up), abs(estimate - corner)
                best = left if pa <= pb and pa <= pc else up if pb <= pc else corner
                line[i] = (line[i] + best) & 0xff
        pixels.extend(tuple(line[i:i + 3]) for i in range(0, stride, channels))
        previous = line
    return width, height, pixels
