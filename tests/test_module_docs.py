"""Every module's documentation renders with ansible-doc, as a user reads it:
every option typed and described, check mode declared, RETURN present."""

import json

import pytest

from conftest import ROOT, run, venv_tool

MODULE_DIR = ROOT / "collections/ansible_collections/imagenode/health/plugins/modules"
MODULES = sorted(p.stem for p in MODULE_DIR.glob("*.py"))


def test_the_modules_are_found():
    assert "hub_check" in MODULES and "node_health" in MODULES
    for name in ("zmq_reset", "hub_failover", "wifi_restart", "wifi_select", "imagenode_restart", "reboot_guard"):
        assert name in MODULES


@pytest.mark.parametrize("name", MODULES)
def test_ansible_doc_renders(ansible_env, name):
    fqcn = "imagenode.health.%s" % name
    proc = run([venv_tool("ansible-doc"), "--json", fqcn], env=ansible_env, cwd=str(ROOT))
    assert proc.returncode == 0, proc.stderr
    entry = json.loads(proc.stdout)[fqcn]
    doc = entry["doc"]
    assert doc["short_description"] and doc["description"]
    for option, spec in doc["options"].items():
        assert spec.get("type"), "%s: option %s has no type" % (name, option)
        assert spec.get("description"), "%s: option %s has no description" % (name, option)
    assert doc["attributes"]["check_mode"]["support"] in ("full", "partial")
    returned = entry["return"]
    assert "summary" in returned and "elapsed" in returned
    if "imagenode.health.recovery" in doc.get("extends_documentation_fragment", []) or "fixed" in returned:
        # A recovery action: what it saw, what it did, whether the fault is gone.
        for key in ("fixed", "needed", "before", "after", "actions"):
            assert key in returned, "%s: RETURN has no %s" % (name, key)
    elif "  - imagenode.health.files\n" in (MODULE_DIR / (name + ".py")).read_text():
        # Sets a host up (keys, files): what it did and why.
        assert "action" in returned and "reason" in returned, name
    else:
        assert "status" in returned
    assert entry["examples"].strip()
