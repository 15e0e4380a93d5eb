#!/usr/bin/env bash
# The test driver behind `make test` and `make test-<stage>`.
#
#   bash tests/run-all.sh                 # every stage: unit sanity lint integration molecule demo
#   bash tests/run-all.sh demo            # `make test-demo`: the demo alone
#   bash tests/run-all.sh sanity lint     # just these, in the order given
#
# It stops at the first failing stage and always ends with a summary of the
# stages run and the time each took. A stage that finds nothing to test fails:
# it never passes on nothing.
#
#   unit         pytest -m "not lab" tests/ (repo root), then
#                ansible-test units --venv in the collection
#   sanity       ansible-test sanity --local in the collection, offline
#   lint         ansible-lint (production profile, .ansible-lint; its yaml rule
#                runs yamllint with .yamllint over every YAML file), then
#                antsibull-changelog lint in the collection
#   integration  pytest -m lab tests/ (needs the podman lab: root, podman)
#   molecule     molecule test for every scenario
#   demo         `make demo`'s whole story (lab/demo.sh), which ends non-zero
#                when a step of it did not happen; then the HTML report must
#                name every node and no lab container may be left. About
#                4-6 minutes since the lab's connection is pipelined.
#
# Molecule scenarios live in extensions/molecule/<scenario>/molecule.yml at
# the repo root: molecule 26 finds them there because the root galaxy.yml
# makes the repo a collection. Each must disable the galaxy dependency step
# and prerun (Ansible Galaxy cannot be reached); this script checks that.
#
# ansible-test runs with HOME=.cache/ansible-test-home (kept between runs:
# its sanity venvs and pip cache live there) and finds the pip bootstrap
# script it would download in that cache: tests/ansible-test/get_pip_stub.py.
# ansible-test reads the collection's files from git: tracked and untracked
# ones, but not git-ignored ones.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="$ROOT/.venv/bin"
PY="$BIN/python"
COLL="$ROOT/collections/ansible_collections/imagenode/health"
COLL_REL="${COLL#"$ROOT"/}"
PYTHON_VERSION=3.11
AT_HOME="$ROOT/.cache/ansible-test-home"
LOGS="$ROOT/.cache/run-all"
MOLECULE_DIR="$ROOT/extensions/molecule"
DEFAULT_STAGES=(unit sanity lint integration molecule demo)
ALL_STAGES=("${DEFAULT_STAGES[@]}")
LAB_HOLD=()  # set by lab_hold_prefix for the stages that use the lab

export PATH="$BIN:$PATH"
export ANSIBLE_CONFIG="$ROOT/ansible.cfg"
case "${LC_ALL:-${LC_CTYPE:-${LANG:-}}}" in
    *UTF-8* | *utf8* | *UTF8* | *utf-8*) ;;
    *) export LC_ALL=C.UTF-8 ;;
esac
if [[ -t 1 ]]; then COLOR=yes; else COLOR=no; fi

say() { printf '%s\n' "$*"; }
fail() { say "run-all: FAIL: $*" >&2; return 1; }
note() { say "run-all: $*"; }

# ---- helpers ----------------------------------------------------------------

need_venv() {
    local tool
    for tool in python pytest ansible-test ansible-lint antsibull-changelog molecule; do
        [[ -x "$BIN/$tool" ]] || { fail "$BIN/$tool is missing: run \`make venv\` first"; return 1; }
    done
}

# pytest with a marker expression; exit status 5 (nothing collected) is a failure.
run_pytest() {
    local expr="$1" what="$2" rc
    (cd "$ROOT" && "${LAB_HOLD[@]}" "$BIN/pytest" -m "$expr" tests/)
    rc=$?
    case $rc in
        0) return 0 ;;
        5) fail "pytest -m '$expr' collected no tests ($what): there must be some" ;;
        *) fail "pytest -m '$expr' failed (exit status $rc)" ;;
    esac
}

# ansible-test, from inside the collection, with its own HOME and none of the
# repo's Ansible settings (ansible-test makes its own).
ansible_test() {
    install_get_pip_stub || return 1
    (cd "$COLL" && env -u ANSIBLE_CONFIG -u ANSIBLE_COLLECTIONS_PATH -u ANSIBLE_COLLECTIONS_PATHS \
        HOME="$AT_HOME" "$BIN/ansible-test" "$@")
}

# The pip version ansible-test bootstraps into its venvs, read from
# ansible-test itself: the cached script is get_pip_<version with _>.py.
install_get_pip_stub() {
    local version cache
    version="$("$PY" - <<'EOF'
import pathlib
import re

import ansible_test

source = pathlib.Path(ansible_test.__file__).parent / "_internal" / "python_requirements.py"
match = re.search(r"pip='([0-9][0-9.]*)'", source.read_text())
print(match.group(1) if match else "")
EOF
)"
    [[ -n "$version" ]] || { fail "cannot find the pip version ansible-test bootstraps (ansible_test/_internal/python_requirements.py)"; return 1; }
    cache="$AT_HOME/.ansible/test/cache/get_pip_${version//./_}.py"
    install -D -m 0644 "$ROOT/tests/ansible-test/get_pip_stub.py" "$cache" || return 1
    note "pip $version bootstrap for ansible-test: the offline stand-in at ${cache#"$ROOT"/}"
}

# ansible-test sees untracked files, CI's clean clone does not: say which.
note_untracked() {
    local untracked=()
    mapfile -t untracked < <(cd "$ROOT" && git ls-files --others --exclude-standard -- "$COLL_REL")
    if [[ ${#untracked[@]} -gt 0 ]]; then
        note "untracked files ansible-test includes here (a clean clone would not have them):"
        printf '    %s\n' "${untracked[@]}"
    fi
}

# ---- stages -------------------------------------------------------------------

stage_unit() {
    local log passed
    LAB_HOLD=()
    run_pytest "not lab" "top-level unit tests in tests/" || return 1

    mkdir -p "$LOGS"
    log="$LOGS/ansible-test-units.log"
    note_untracked
    # --venv: ansible-test builds its own venv for the unit tests (pytest-xdist
    # &c., pinned in tests/unit/constraints.txt), kept in tests/output/.tmp.
    ansible_test units --venv --python "$PYTHON_VERSION" --color "$COLOR" 2>&1 | tee "$log"
    [[ ${PIPESTATUS[0]} -eq 0 ]] || { fail "ansible-test units failed (log: ${log#"$ROOT"/})"; return 1; }
    passed="$(sed 's/\x1b\[[0-9;]*m//g' "$log" | grep -Eo '[0-9]+ passed' | awk '{n += $1} END {print n + 0}')"
    if grep -q 'All targets skipped' "$log" || [[ "$passed" -eq 0 ]]; then
        fail "ansible-test units found no unit tests in $COLL_REL/tests/unit/"
        return 1
    fi
    note "ansible-test units: $passed tests passed"
}

stage_sanity() {
    local ignores
    note_untracked
    for ignores in "$COLL"/tests/sanity/ignore-*.txt; do
        [[ -e "$ignores" ]] || continue
        note "sanity ignore file in use: ${ignores#"$ROOT"/} ($(grep -cv '^\s*\(#\|$\)' "$ignores") entries)"
    done
    # --local: the controller is .venv itself. Each sanity test still runs in
    # a venv of its own that ansible-test makes (and keeps) under $AT_HOME.
    ansible_test sanity --local --python "$PYTHON_VERSION" --color "$COLOR" ||
        { fail "ansible-test sanity failed"; return 1; }
}

stage_lint() {
    # No path arguments: ansible-lint lints the whole project (git's file list,
    # minus .ansible-lint's exclude_paths): playbooks/, inventory/, the
    # collection with its roles, meta and changelogs, extensions/molecule/.
    (cd "$ROOT" && "$BIN/ansible-lint" --profile production) ||
        { fail "ansible-lint failed"; return 1; }
    (cd "$COLL" && "$BIN/antsibull-changelog" lint -v) ||
        { fail "antsibull-changelog lint failed"; return 1; }
    note "antsibull-changelog lint: ok"
}

# The lab fleet is machine-wide: `labctl.py hold -- CMD` runs CMD holding the
# lab's lock from start to end, so no other lab user (a demo, another test
# run) comes between its steps. LAB_HOLD is that prefix, empty while labctl
# has no `hold`.
lab_hold_prefix() {
    LAB_HOLD=()
    if [[ -f "$ROOT/lab/labctl.py" ]] && "$PY" "$ROOT/lab/labctl.py" hold --help >/dev/null 2>&1; then
        LAB_HOLD=("$PY" "$ROOT/lab/labctl.py" hold --)
    else
        note "lab/labctl.py has no 'hold': lab steps are not serialised against other lab users"
    fi
}

stage_integration() {
    lab_hold_prefix
    run_pytest "lab" "lab tests (tests/lab/)"
}

# Scenario names as molecule derives them: the path below extensions/molecule/.
molecule_scenarios() {
    [[ -d "$MOLECULE_DIR" ]] || return 0
    find "$MOLECULE_DIR" -name molecule.yml -not -path '*/.*' -printf '%h\n' |
        sed "s|^$MOLECULE_DIR/||" | sort
}

# Galaxy is unreachable: a scenario must not install dependencies or prerun.
check_molecule_offline() {
    "$PY" - "$@" <<'EOF'
import sys

import yaml

bad = []
for path in sys.argv[1:]:
    with open(path, encoding="utf-8") as stream:
        config = yaml.safe_load(stream) or {}
    dependency = config.get("dependency") or {}
    if dependency.get("enabled", True) is not False:
        bad.append("%s: set `dependency: {name: galaxy, enabled: false}`" % path)
    if config.get("prerun", True) is not False:
        bad.append("%s: set `prerun: false`" % path)
for line in bad:
    print("run-all: FAIL: " + line, file=sys.stderr)
sys.exit(1 if bad else 0)
EOF
}

stage_molecule() {
    local scenarios=() scenario start
    mapfile -t scenarios < <(molecule_scenarios)
    if [[ ${#scenarios[@]} -eq 0 ]]; then
        fail "no molecule scenarios found (expected extensions/molecule/<scenario>/molecule.yml)"
        return 1
    fi
    if [[ -d "$ROOT/molecule" ]]; then
        fail "molecule/ at the repo root would hide extensions/molecule/ from molecule 26: move its scenarios"
        return 1
    fi
    local files=()
    for scenario in "${scenarios[@]}"; do files+=("$MOLECULE_DIR/$scenario/molecule.yml"); done
    check_molecule_offline "${files[@]}" || return 1
    lab_hold_prefix
    for scenario in "${scenarios[@]}"; do
        say "---- molecule scenario: $scenario"
        start=$EPOCHREALTIME
        (cd "$ROOT" && "${LAB_HOLD[@]}" "$BIN/molecule" test -s "$scenario") ||
            { fail "molecule scenario '$scenario' failed"; return 1; }
        note "molecule scenario '$scenario' passed in $(elapsed "$start")"
    done
}

stage_demo() {
    local log="$LOGS/demo.log" report="$ROOT/reports/demo/audit/latest.html" node left rc
    mkdir -p "$LOGS"
    # lab/demo.sh takes the lab for its whole story itself
    (cd "$ROOT" && bash lab/demo.sh) 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    [[ $rc -eq 0 ]] || { fail "make demo's story did not go as told (exit status $rc; $log)"; return 1; }
    [[ -s $report ]] || { fail "the demo left no HTML report at $report"; return 1; }
    for node in node1 node2 node3 node4 node5 node6 node7; do
        # the fleet grid's cell of the node (audit_report.py's markup)
        grep -q "data-node=\"$node\" data-status=\"" "$report" ||
            { fail "the fleet grid in the demo's HTML report has no cell for $node"; return 1; }
    done
    left=$(podman ps -a --format '{{.Names}}' | grep -c '^inlab-' || true)
    [[ $left -eq 0 ]] || { fail "the demo left $left lab container(s) behind"; return 1; }
    note "demo: the story as told, the report shows all 7 nodes, no lab container left"
}

# ---- main -----------------------------------------------------------------------

elapsed() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN {printf "%.1f s", b - a}'; }

declare -a SUMMARY=()
summary() {
    say ""
    say "==== summary ===================================================="
    local line
    for line in "${SUMMARY[@]}"; do say "  $line"; done
    say "  $(printf "%-12s %s" total "$(elapsed "$RUN_START")")"
}

main() {
    local stage stages=() start result
    if [[ $# -eq 0 ]]; then
        stages=("${DEFAULT_STAGES[@]}")
    else
        for stage in "$@"; do
            case " ${ALL_STAGES[*]} " in
                *" $stage "*) stages+=("$stage") ;;
                *) say "usage: bash tests/run-all.sh [$(IFS='|'; say "${ALL_STAGES[*]}")]..." >&2; exit 2 ;;
            esac
        done
    fi
    need_venv || exit 1

    RUN_START=$EPOCHREALTIME
    for stage in "${stages[@]}"; do
        say ""
        say "==== stage: $stage ($(date '+%H:%M:%S')) ===================================="
        start=$EPOCHREALTIME
        if "stage_$stage"; then result=PASS; else result=FAIL; fi
        SUMMARY+=("$(printf '%-12s %s  %s' "$stage" "$result" "$(elapsed "$start")")")
        if [[ $result == FAIL ]]; then
            summary
            say "run-all: stage '$stage' FAILED; later stages were not run." >&2
            exit 1
        fi
    done
    summary
    say "run-all: all ${#stages[@]} stage(s) passed."
}

main "$@"
