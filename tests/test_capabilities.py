"""The capability table: one list drives the dataclass, the clauses' gates, the bridge handshake,
the docs and the two outcomes pytest has no word for (not applicable, not implemented)."""

from __future__ import annotations

import json
import shlex
import sys
from dataclasses import fields
from pathlib import Path

import pytest
from sinkkit.adapters.bridge import capabilities_from, decode_error, protocol_schemas
from sinkkit.conformance.capabilities import (
    CAPABILITY_TABLE,
    Capabilities,
    NotApplicable,
    UnknownCapability,
)
from sinkkit.conformance.clauses import CLAUSES, declare, requires
from sinkkit.conformance.docgen import render_contract
from sinkkit.conformance.errors import SinkError, Unavailable
from sinkkit.conformance.outcomes import SEVERITY, MethodNotImplemented
from sinkkit.tooling.parity import CELLS

from tests.test_bridge_suite import outcomes, run_bridge_suite

ROOT = Path(__file__).resolve().parents[1]
PY_PEER = shlex.join([sys.executable, str(ROOT / "examples/bridge-python/peer.py")])
NAMES = [c.name for c in CAPABILITY_TABLE]


def test_the_dataclass_has_one_field_per_table_row_with_the_tables_default():
    flags = {f.name: f.default for f in fields(Capabilities) if f.name != "divergences"}
    assert flags == {c.name: c.default for c in CAPABILITY_TABLE}


def test_a_capability_outside_the_table_is_refused_everywhere_it_is_named():
    with pytest.raises(TypeError):
        Capabilities(teleportation=True)
    with pytest.raises(UnknownCapability):
        requires("teleportation")
    with pytest.raises(UnknownCapability):
        declare("identity.teleportation", "never registered", requires=("teleportation",))
    with pytest.raises(UnknownCapability):
        NotApplicable("teleportation", "no such thing")


def test_the_not_applicable_text_names_each_missing_capability_with_its_sentence():
    exc = NotApplicable.missing("lane-x", ["persistent", "kill_safe"])
    assert exc.capability == "persistent"
    table = {c.name: c.doc for c in CAPABILITY_TABLE}
    assert exc.reason == (f"lane-x declares no persistent: {table['persistent']}; "
                          f"kill_safe: {table['kill_safe']}")


def test_every_session_clause_requires_a_session_store():
    sessions = [c for c in CLAUSES.values() if c.resource == "sessions"]
    assert sessions and all("session_store" in c.requires for c in sessions)


def test_the_contract_lists_the_clauses_each_capability_gates():
    text = render_contract()
    for capability in CAPABILITY_TABLE:
        gated = [c.id for c in CLAUSES.values() if capability.name in c.requires]
        assert gated, f"{capability.name} gates no clause"
        (row,) = [line for line in text.split("## Capabilities", 1)[1].splitlines()
                  if line.startswith(f"- `{capability.name}` ")]
        assert all(f"`{c}`" in row for c in gated), capability.name


def test_a_peer_may_declare_every_capability_of_the_table():
    declared = capabilities_from({n: True for n in NAMES} | {"divergences": {"a.b": "why"}})
    assert all(declared.has(n) for n in NAMES)
    assert dict(declared.divergences) == {"a.b": "why"}
    schema = protocol_schemas()["capabilities.json"]["properties"]
    assert set(NAMES) <= set(schema)


def test_an_undeclared_capability_takes_the_tables_default():
    declared = capabilities_from({"persistent": False, "multi_process": False})
    assert declared.has("session_store") and not declared.has("kill_safe")


@pytest.mark.parametrize("answer", [{"kill_safe": "yes"}, {"divergences": []}, [],
                                    {"interface": 1}, {"interface": "2.0"}])
def test_a_malformed_handshake_is_refused_as_unavailable(answer):
    with pytest.raises(Unavailable, match="bridge: "):
        capabilities_from(answer)


def test_a_peer_of_this_interface_major_version_is_accepted():
    assert capabilities_from({"interface": "1.7"}).has("persistent")


def test_json_rpc_method_not_found_is_not_implemented_and_not_a_sink_error():
    exc = decode_error("deleteRepo", {"code": -32601, "message": "method not found: deleteRepo"})
    assert isinstance(exc, MethodNotImplemented) and not isinstance(exc, SinkError)
    assert exc.method == "deleteRepo"


def test_the_parity_matrix_knows_every_outcome_in_severity_order():
    assert list(CELLS) == list(SEVERITY)


# --- through the suite: a peer that declares what it lacks, a peer missing a method ------------

def test_a_peer_without_a_session_store_shows_the_session_clauses_not_applicable(tmp_path):
    proc, report = run_bridge_suite(f"{PY_PEER} --no-sessions", tmp_path,
                                    "--sinkkit-clause=sessions",
                                    "--sinkkit-clause=reliability.concurrent.session-writes")
    assert proc.returncode == 0, proc.stdout[-3000:]
    found = {c: o for c, o in outcomes(report).items() if o != "not run"}
    assert found and set(found.values()) == {"not applicable"}, found
    assert report["capabilities"]["session_store"] is False
    detail = json.dumps(report["clauses"]["sessions.set-get.round-trips"]["details"])
    assert "declares no session_store" in detail


def test_a_peer_missing_a_method_shows_not_implemented_for_the_clauses_using_it(tmp_path):
    proc, report = run_bridge_suite(f"{PY_PEER} --missing deleteRepo", tmp_path,
                                    "--sinkkit-clause=repos")
    found = outcomes(report)
    assert found["repos.delete.removes"] == "not implemented", proc.stdout[-3000:]
    assert "deleteRepo" in json.dumps(report["clauses"]["repos.delete.removes"]["details"])
    assert found["repos.permissions.empty-list"] == "pass"
    assert "fail" not in found.values(), {c: o for c, o in found.items() if o == "fail"}
    assert report["summary"]["not implemented"] >= 1 and report["summary"]["fail"] == 0
    assert proc.returncode == 1  # incomplete is not conformant, though counted apart from fail
    assert "not implemented" in proc.stdout and " failed" not in proc.stdout.splitlines()[-1]
