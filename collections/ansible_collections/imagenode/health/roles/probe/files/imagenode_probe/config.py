# Copyright (c) 2026 imagenode-health contributors
# SPDX-License-Identifier: BSD-2-Clause
"""The probe's configuration (/etc/imagenode-health/probe.yaml): defaults and validation.

Every error names the key, so a typo in the file is found from the journal.
"""

import copy
import os
import re
import socket

from imagenode_health_core import ladder, node_health
from imagenode_health_core.check_result import CheckError
from imagenode_health_core.yaml_loader import YamlError, YamlUnavailable, parse_here

DEFAULT_PATH = "/etc/imagenode-health/probe.yaml"
START_METHODS = ("systemd", "cron", "screen", "any")
CHEAP_CHECKS = ("hub_check", "ping_check", "wifi_info", "instance_check")
EXPENSIVE_CHECKS = ("latency_check", "sdcard_check", "power_check")
# Checks that only repeat what the others already show while the node is healthy: a hub
# that answers has proved its link, gateway and host reachable. They run every cycle once
# anything is wrong, and in a faulty cycle before the ladder decides (see daemon). The
# default (relaxed_checks unset) relaxes them only where hub_check runs too.
RELAXED_CHECKS = ("ping_check",)
_ADDRESS = re.compile(r"^tcp://[A-Za-z0-9._\[\]:-]+:[0-9]{1,5}$")

DEFAULTS = {
    "node": None,                      # the host name
    "imagenode_config": "/home/pi/imagenode.yaml",
    "start_method": "any",
    "launcher": ["/usr/local/bin/imagenode-launch"],
    "user": "pi",
    "interval": 10.0,
    "expensive_every": 6,
    "checks": list(node_health.CHECK_ORDER),
    "expensive_checks": list(EXPENSIVE_CHECKS),
    "relaxed_checks": None,            # RELAXED_CHECKS when hub_check is among the checks, else none
    "check_options": {},
    "grace": 60.0,
    "debounce": 2,
    "steps": list(ladder.LADDER),
    "margin_db": 8,
    "hub_timeout": 2.0,
    "hub_attempts": 2,
    "wifi_timeout": 60.0,
    "reboot": {"max_reboots": 3, "window": 86400, "backoff_base": 3600, "backoff_max": 14400},
    "reboot_command": ["systemctl", "reboot"],
    "monitors": [],
    "client_key": "/etc/imagenode-health/keys/client.key_secret",
    "ack_timeout": 2.0,
    "queue_dir": "/var/lib/imagenode-health/queue",
    "queue_max": 1000,
    "state_dir": "/var/lib/imagenode-health",
    "event_log": None,                 # state_dir/events.json (the playbooks' default too)
    "facts_file": "/etc/ansible/facts.d/imagenode_health.fact",
    "textfile": "/var/lib/prometheus/node-exporter/imagenode_health.prom",
    "hub_heartbeat": True,
}


class ConfigError(ValueError):
    """The configuration cannot be used; the text names the key."""


def _number(key, value, minimum=None, integer=False):
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds):
        raise ConfigError("%s must be %s, not %r" % (key, "an integer" if integer else "a number", value))
    if minimum is not None and value < minimum:
        raise ConfigError("%s must be at least %s, not %r" % (key, minimum, value))
    return value


def _string(key, value, allow_none=False):
    if value is None and allow_none:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ConfigError("%s must be a non-empty string, not %r" % (key, value))
    return value


def _string_list(key, value, choices=None):
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        raise ConfigError("%s must be a list of strings, not %r" % (key, value))
    if choices is not None:
        bad = [item for item in value if item not in choices]
        if bad:
            raise ConfigError("%s: unknown %s (choose from %s)" % (key, ", ".join(bad), ", ".join(choices)))
    return value


def validate(raw):
    """The full configuration: DEFAULTS overlaid with raw (a dict), checked."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError("the probe configuration must be a mapping of keys, not %s" % type(raw).__name__)
    unknown = sorted(set(raw) - set(DEFAULTS))
    if unknown:
        raise ConfigError("unknown key(s) %s (known: %s)" % (", ".join(unknown), ", ".join(sorted(DEFAULTS))))
    config = copy.deepcopy(DEFAULTS)
    for key, value in raw.items():
        if key == "reboot" and isinstance(value, dict):
            bad = sorted(set(value) - set(DEFAULTS["reboot"]))
            if bad:
                raise ConfigError("reboot: unknown key(s) %s (known: %s)" % (
                    ", ".join(bad), ", ".join(sorted(DEFAULTS["reboot"]))))
            config["reboot"].update(value)
        elif value is not None or key in ("node", "event_log"):
            config[key] = value
    c = config
    c["node"] = _string("node", c["node"], allow_none=True) or socket.gethostname().split(".")[0]
    if not re.match(r"^[A-Za-z0-9_.-]{1,64}$", c["node"]):
        raise ConfigError("node %r must be 1-64 characters of A-Z a-z 0-9 _ . - (the heartbeat's node)" % c["node"])
    for key in ("imagenode_config", "user", "client_key", "queue_dir", "state_dir", "facts_file", "textfile"):
        _string(key, c[key])
    c["event_log"] = _string("event_log", c["event_log"], allow_none=True) or os.path.join(c["state_dir"], "events.json")
    if c["start_method"] not in START_METHODS:
        raise ConfigError("start_method must be one of %s, not %r" % (", ".join(START_METHODS), c["start_method"]))
    c["launcher"] = _string_list("launcher", c["launcher"])
    c["reboot_command"] = _string_list("reboot_command", c["reboot_command"])
    if not c["launcher"]:
        raise ConfigError("launcher must name a command (used to start imagenode by cron or screen)")
    _number("interval", c["interval"], 1)
    _number("expensive_every", c["expensive_every"], 1, integer=True)
    _number("grace", c["grace"], 0)
    _number("debounce", c["debounce"], 1, integer=True)
    _number("margin_db", c["margin_db"], 0, integer=True)
    _number("hub_timeout", c["hub_timeout"], 0.1)
    _number("hub_attempts", c["hub_attempts"], 1, integer=True)
    _number("wifi_timeout", c["wifi_timeout"], 1)
    _number("ack_timeout", c["ack_timeout"], 0.05)
    _number("queue_max", c["queue_max"], 1, integer=True)
    c["checks"] = _string_list("checks", c["checks"], node_health.CHECK_ORDER)
    c["expensive_checks"] = _string_list("expensive_checks", c["expensive_checks"], node_health.CHECK_ORDER)
    if c["relaxed_checks"] is None:
        c["relaxed_checks"] = [name for name in RELAXED_CHECKS if "hub_check" in c["checks"]]
    c["relaxed_checks"] = _string_list("relaxed_checks", c["relaxed_checks"], node_health.CHECK_ORDER)
    both = [name for name in c["relaxed_checks"] if name in c["expensive_checks"]]
    if both:
        raise ConfigError("relaxed_checks and expensive_checks both name %s: a check has one cadence "
                          "(remove it from one of them)" % ", ".join(both))
    c["steps"] = _string_list("steps", c["steps"], ladder.LADDER)
    if not isinstance(c["check_options"], dict):
        raise ConfigError("check_options must map check names to their options")
    for name, options in c["check_options"].items():
        if name not in node_health.CHECKS:
            raise ConfigError("check_options: unknown check %r (checks are %s)" % (
                name, ", ".join(node_health.CHECK_ORDER)))
        if not isinstance(options, dict):
            raise ConfigError("check_options.%s must be a mapping of options" % name)
        bad = sorted(set(options) - set(node_health.CHECKS[name].options))
        if bad:
            raise ConfigError("check_options.%s: unknown option(s) %s" % (name, ", ".join(bad)))
        try:
            node_health.resolve_options(name, options)
        except CheckError as exc:
            raise ConfigError("check_options.%s: %s" % (name, exc))
    if not isinstance(c["reboot"], dict):
        raise ConfigError("reboot must be a mapping (max_reboots, window, backoff_base, backoff_max)")
    for key in ("max_reboots", "window", "backoff_base", "backoff_max"):
        _number("reboot.%s" % key, c["reboot"][key], 0, integer=True)
    if c["reboot"]["window"] < 1 or c["reboot"]["backoff_base"] < 1:
        raise ConfigError("reboot.window and reboot.backoff_base must be at least 1 second")
    if c["reboot"]["backoff_max"] < c["reboot"]["backoff_base"]:
        raise ConfigError("reboot.backoff_max must not be less than reboot.backoff_base")
    if not isinstance(c["hub_heartbeat"], bool):
        raise ConfigError("hub_heartbeat must be true or false, not %r" % (c["hub_heartbeat"],))
    if not isinstance(c["monitors"], list):
        raise ConfigError("monitors must be a list of {address, server_key}")
    for index, monitor in enumerate(c["monitors"]):
        where = "monitors[%d]" % index
        if not isinstance(monitor, dict):
            raise ConfigError("%s must be a mapping with address and server_key" % where)
        bad = sorted(set(monitor) - {"address", "server_key"})
        if bad:
            raise ConfigError("%s: unknown key(s) %s (known: address, server_key)" % (where, ", ".join(bad)))
        address = monitor.get("address")
        if not isinstance(address, str) or not _ADDRESS.match(address):
            raise ConfigError("%s.address must be tcp://host:port, not %r" % (where, address))
        _string("%s.server_key" % where, monitor.get("server_key"))
    return config


def load(path=DEFAULT_PATH, missing_ok=False, parse=parse_here):
    """The validated configuration in the YAML file at path. parse is yaml_loader's
    parse_here, or parse_in_child for the daemon (which keeps no PyYAML resident)."""
    try:
        with open(path, "rb") as handle:
            text = handle.read()
    except (IOError, OSError) as exc:
        if missing_ok and getattr(exc, "errno", None) == 2:
            return validate({})
        raise ConfigError("cannot read %s: %s" % (path, exc.strerror or exc))
    try:
        raw = parse(text)
    except YamlUnavailable as exc:
        raise ConfigError("reading %s needs PyYAML (python3-yaml): %s" % (path, exc))
    except YamlError as exc:
        raise ConfigError("%s is not valid YAML%s: %s" % (path, exc.where(), exc.problem))
    try:
        return validate(raw)
    except ConfigError as exc:
        raise ConfigError("%s: %s" % (path, exc))
