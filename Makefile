# imagenode-health: every entry point a person or CI uses.
# `make demo` and `make test` install what they need (apt + .venv) themselves.
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
.DEFAULT_GOAL := help

ROOT      := $(abspath .)
VENV      := $(ROOT)/.venv
PY        := $(VENV)/bin/python
BIN       := $(VENV)/bin
COLL      := $(ROOT)/collections/ansible_collections/imagenode/health
# Ansible and molecule find the collection, the lab inventory and each other
# through ansible.cfg; PATH puts the venv's tools first for sub-processes.
export PATH := $(BIN):$(PATH)
export ANSIBLE_CONFIG := $(ROOT)/ansible.cfg

.PHONY: help deps host venv image lab-up lab-down lab-status demo test \
        test-unit test-sanity test-lint test-molecule test-integration test-demo build clean bench

help:
	@echo "make demo   - set up, start the lab fleet, deploy, break it seven ways, heal it, audit it (reports/demo/)"
	@echo "make test   - set up and run every test (pytest, sanity, lint, lab, molecule, the demo as a test); make test-STAGE runs one"
	@echo "make lab-up / make lab-down / make lab-status - the lab fleet by hand"
	@echo "make bench  - one table: probe vs monit/node_exporter, lab faults with and without the probe, monitor ingest, audit vs ping (bench/results.md)"

## ---- setup -------------------------------------------------------------
deps: host venv

# Debian packages and podman's configuration (idempotent, a no-op when done).
host:
	@bash lab/host-setup.sh

# The venv is rebuilt only when requirements.txt changes (stamp holds its hash).
venv: $(VENV)/.requirements.sha256
$(VENV)/.requirements.sha256: requirements.txt
	@echo "==> Python toolchain into .venv (pinned in requirements.txt)"
	@test -x $(PY) || python3 -m venv $(VENV)
	@# This machine's pip config names find-links folders that may be absent: drop that noise.
	@$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt 2>&1 | { grep -v 'is ignored: it is neither a file nor a directory' || true; }
	@sha256sum requirements.txt > $@

# The lab image, tagged by the hash of what goes into it; reused when present.
image: deps
	@$(PY) lab/labctl.py image

## ---- the lab fleet -----------------------------------------------------
lab-up: image
	@$(PY) lab/labctl.py up

lab-down: venv
	@$(PY) lab/labctl.py down

lab-status: venv
	@$(PY) lab/labctl.py status

## ---- demo --------------------------------------------------------------
# The image is built inside the demo's own lab session (lab/demo.sh), so its
# build shows in the demo's narration and timings.
demo: deps
	@bash lab/demo.sh

## ---- benchmark -------------------------------------------------------
bench: image
	@$(PY) bench/bench.py

## ---- tests -------------------------------------------------------------
test: deps image
	@bash tests/run-all.sh

test-unit: venv
	@bash tests/run-all.sh unit

test-sanity: venv
	@bash tests/run-all.sh sanity

test-lint: venv
	@bash tests/run-all.sh lint

test-integration: deps image
	@bash tests/run-all.sh integration

test-molecule: deps image
	@bash tests/run-all.sh molecule

test-demo: deps image
	@bash tests/run-all.sh demo

## ---- packaging ---------------------------------------------------------
build: venv
	@mkdir -p build
	@cd $(COLL) && $(BIN)/ansible-galaxy collection build --force --output-path $(ROOT)/build

clean: lab-down
	rm -rf build reports
