"""The upstream lanes' own machinery: checkout preparation, records, the generated report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sinkkit.conformance.clauses import CLAUSES
from sinkkit.conformance.errors import ConfigError
from sinkkit.upstream import docgen, records
from sinkkit.upstream.harness import checkout_and_kind, node_pg_url
from sinkkit.upstream.prepare import CheckoutError, check_checkout, drop_cli_workspace

CLI = "./packages/git-proxy-cli"


def fake_checkout(tmp_path: Path) -> Path:
    (tmp_path / "src" / "db").mkdir(parents=True)
    (tmp_path / "package.json").write_text(json.dumps(
        {"name": "@finos/git-proxy", "workspaces": [CLI], "dependencies": {"lodash": "^4"}},
        indent=2))
    (tmp_path / "package-lock.json").write_text(json.dumps({"lockfileVersion": 3, "packages": {
        "": {"name": "@finos/git-proxy", "workspaces": [CLI]},
        "node_modules/lodash": {"version": "4.17.21"},
        "node_modules/@finos/git-proxy": {"version": "2.1.0"},
        "node_modules/@finos/git-proxy/node_modules/react": {"version": "16.14.0"},
        "node_modules/@finos/git-proxy-cli": {"link": True, "resolved": "packages/git-proxy-cli"},
        "packages/git-proxy-cli": {"version": "2.1.0"},
    }}, indent=2))
    return tmp_path


def test_preparing_drops_the_cli_workspace_and_nothing_else(tmp_path):
    checkout = fake_checkout(tmp_path)
    assert drop_cli_workspace(checkout) is True
    manifest = json.loads((checkout / "package.json").read_text())
    lock = json.loads((checkout / "package-lock.json").read_text())
    assert "workspaces" not in manifest and manifest["dependencies"] == {"lodash": "^4"}
    assert sorted(lock["packages"]) == ["", "node_modules/lodash"]
    assert "workspaces" not in lock["packages"][""]


def test_preparing_twice_changes_nothing_the_second_time(tmp_path):
    checkout = fake_checkout(tmp_path)
    drop_cli_workspace(checkout)
    before = {p.name: p.read_text() for p in checkout.glob("*.json")}
    assert drop_cli_workspace(checkout) is False
    assert {p.name: p.read_text() for p in checkout.glob("*.json")} == before


def test_a_folder_without_src_db_is_not_a_checkout(tmp_path):
    (tmp_path / "package.json").write_text("{}")
    with pytest.raises(CheckoutError, match="no src/db"):
        check_checkout(tmp_path)


def test_the_checkout_check_refuses_in_one_line_without_a_checkout(monkeypatch):
    monkeypatch.delenv("SINKKIT_UPSTREAM_CHECKOUT", raising=False)
    with pytest.raises(ConfigError) as caught:
        checkout_and_kind()
    assert "SINKKIT_UPSTREAM_CHECKOUT" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_an_unprepared_checkout_is_refused_naming_the_prepare_command(tmp_path, monkeypatch):
    monkeypatch.setenv("SINKKIT_UPSTREAM_CHECKOUT", str(fake_checkout(tmp_path)))
    monkeypatch.setenv("SINKKIT_UPSTREAM_KIND", "fs")
    with pytest.raises(ConfigError, match=r"sinkkit\.upstream\.prepare"):
        checkout_and_kind()


def test_a_socket_dsn_becomes_a_url_node_postgres_reads():
    assert node_pg_url("host=/tmp/pg port=5433 user=postgres dbname=gp") == \
        "postgresql://postgres@/gp?host=%2Ftmp%2Fpg&port=5433"
    assert node_pg_url("postgresql://u:p%40ss@127.0.0.1:5432/gp") == \
        "postgresql://u:p%40ss@127.0.0.1:5432/gp"


def test_a_snapshot_folder_name_gives_the_commit(tmp_path):
    folder = tmp_path / "git-proxy-7eeab394"
    folder.mkdir()
    assert records.checkout_commit(folder) == "7eeab394"


def _report(outcomes: dict[str, dict[str, str]]) -> dict:
    clauses = {cid: {"outcome": "pass", "statement": c.statement, "tests": {}, "details": {}}
               for cid, c in CLAUSES.items()}
    for cid, tests in outcomes.items():
        worst = "fail" if "fail" in tests.values() else "pass"
        clauses[cid] = {"outcome": worst, "statement": CLAUSES[cid].statement,
                        "tests": tests,
                        "details": {n: "AssertionError: assert 1 == 2" for n, o in tests.items()
                                    if o == "fail"}}
    return {"suite_version": "1.0", "clauses": clauses,
            "summary": {"pass": len(CLAUSES) - len(outcomes), "fail": len(outcomes)}}


def test_a_record_names_only_the_failing_tests_of_a_clause(tmp_path):
    cid = next(iter(CLAUSES))
    report = _report({cid: {"suite/test_a.py::test_one": "fail",
                            "suite/test_a.py::test_two": "pass"}})
    built = records.build(report, tmp_path, "fs", "0" * 40)
    assert list(built["clauses"]) == [cid]
    assert built["clauses"][cid]["tests"] == ["test_a.py::test_one"]
    assert built["clauses"][cid]["expected"] == "AssertionError: assert 1 == 2"


def test_a_rebuilt_record_keeps_the_reason_written_by_hand(tmp_path):
    cid = next(iter(CLAUSES))
    report = _report({cid: {"suite/test_a.py::test_one": "fail"}})
    previous = records.Record(clauses={cid: {"reason": "read-modify-write loses users"}})
    built = records.build(report, tmp_path, "fs", "0" * 40, previous)
    assert built["clauses"][cid]["reason"] == "read-modify-write loses users"


def test_a_reproduction_is_the_tail_of_the_failing_tests_transcript(tmp_path):
    cid = next(iter(CLAUSES))
    nodeid = "suite/test_a.py::test_one"
    calls = [{"call": "getRepo", "params": [f"r{i}"], "returned": None} for i in range(12)]
    (tmp_path / f"{records.transcript_name(nodeid)}.json").write_text(
        json.dumps({"test": nodeid, "calls": calls}))
    built = records.build(_report({cid: {nodeid: "fail"}}), tmp_path, "fs", "0" * 40)
    shown = built["clauses"][cid]["calls"]
    assert shown[0] == "... 4 earlier calls"
    assert shown[-1] == 'getRepo("r11") -> null'


@pytest.mark.parametrize("record", records.every_record(), ids=lambda r: r.name)
def test_every_recorded_divergence_names_a_clause_a_reason_and_its_tests(record):
    assert record.clauses, f"{record.name} records no divergence"
    for cid, entry in record.clauses.items():
        assert cid in CLAUSES, f"{record.name}: unknown clause {cid}"
        assert entry["reason"].strip() and "\n" not in entry["reason"]
        assert entry["tests"], f"{record.name}: {cid} names no failing test"


def test_docs_upstream_md_is_current():
    assert docgen.DOC.read_text(encoding="utf-8") == docgen.render(), \
        "docs/upstream.md is stale: python -m sinkkit.upstream.docgen --write"


def test_the_report_lists_every_translation_the_host_makes():
    translations = json.loads(docgen.TRANSLATIONS.read_text(encoding="utf-8"))
    text = docgen.render()
    assert len(translations) >= 10
    assert all(f"- {t}" in text for t in translations)


def test_the_lane_stops_before_any_test_in_one_line_without_a_checkout(monkeypatch):
    from sinkkit.conformance.harness import ProvisioningError
    from sinkkit.upstream.harness import UpstreamHarness

    monkeypatch.delenv("SINKKIT_UPSTREAM_CHECKOUT", raising=False)
    harness = UpstreamHarness()
    with pytest.raises(ProvisioningError) as caught:
        harness.preflight()
    assert "SINKKIT_UPSTREAM_CHECKOUT" in str(caught.value) and "\n" not in str(caught.value)
    harness.stop()
