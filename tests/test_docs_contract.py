"""docs/contract.md and docs/schemas are generated from the registry, complete and up to date."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from sinkkit.conformance import docgen
from sinkkit.conformance.capabilities import CAPABILITY_DOCS
from sinkkit.conformance.clauses import CLAUSES, RESOURCES
from sinkkit.conformance.contract import GIT_PROXY_NAMES
from sinkkit.core.schemas import SCHEMAS

DOCS = Path(__file__).resolve().parents[1] / "docs"


@pytest.fixture
def docs_copy(tmp_path: Path) -> Path:
    """A private copy of the generated files, to damage."""
    target = tmp_path / "docs"
    (target / "schemas").mkdir(parents=True)
    shutil.copy(DOCS / "contract.md", target / "contract.md")
    for path in (DOCS / "schemas").glob("*.json"):
        shutil.copy(path, target / "schemas" / path.name)
    return target


def test_the_committed_generated_docs_are_up_to_date():
    stale = docgen.stale_files(DOCS)
    assert stale == [], (
        f"stale generated docs {stale}: run `python -m sinkkit.conformance.docgen` and commit"
    )


def test_check_passes_on_the_committed_docs(capsys):
    assert docgen.main(["--check", "--docs", str(DOCS)]) == 0
    assert "up to date" in capsys.readouterr().out


def test_a_stale_contract_is_named_and_not_rewritten(docs_copy, capsys):
    contract = docs_copy / "contract.md"
    edited = contract.read_text().replace("## Methods", "## Methods (hand-edited)")
    contract.write_text(edited)
    assert docgen.main(["--check", "--docs", str(docs_copy)]) == 1
    err = capsys.readouterr().err
    assert f"stale: {contract}" in err and "schemas" not in err
    assert contract.read_text() == edited


def test_missing_changed_and_orphan_schemas_are_stale(docs_copy, capsys):
    kinds = list(SCHEMAS)
    (docs_copy / "schemas" / f"{kinds[0]}.json").unlink()
    (docs_copy / "schemas" / f"{kinds[1]}.json").write_text("{}\n")
    (docs_copy / "schemas" / "retired.json").write_text("{}\n")
    assert docgen.stale_files(docs_copy) == [
        f"schemas/{kinds[0]}.json", f"schemas/{kinds[1]}.json", "schemas/retired.json",
    ]
    assert docgen.main(["--check", "--docs", str(docs_copy)]) == 1
    assert "retired.json" in capsys.readouterr().err


def test_writing_brings_a_stale_copy_up_to_date(docs_copy):
    (docs_copy / "contract.md").write_text("old\n")
    (docs_copy / "schemas" / "retired.json").write_text("{}\n")
    assert docgen.main(["--docs", str(docs_copy)]) == 0
    assert docgen.stale_files(docs_copy) == []
    assert not (docs_copy / "schemas" / "retired.json").exists()
    assert (docs_copy / "contract.md").read_text() == (DOCS / "contract.md").read_text()


def test_write_check_regenerates_and_still_fails_once(docs_copy, capsys):
    (docs_copy / "contract.md").write_text("old\n")
    assert docgen.main(["--check", "--write", "--docs", str(docs_copy)]) == 1
    assert "now rewritten; commit them" in capsys.readouterr().err
    assert docgen.main(["--check", "--write", "--docs", str(docs_copy)]) == 0
    assert docgen.stale_files(docs_copy) == []


def test_writing_into_an_empty_directory_creates_everything(tmp_path):
    assert docgen.main(["--docs", str(tmp_path / "fresh")]) == 0
    assert docgen.stale_files(tmp_path / "fresh") == []


def test_rendering_is_deterministic():
    assert docgen.render_all() == docgen.render_all()


def test_every_clause_has_its_anchor_statement_methods_and_upstream_notes():
    text = docgen.render_contract()
    for clause in CLAUSES.values():
        section = text.split(f'<a id="{clause.id}"></a>', 1)[1].split("<a id=", 1)[0]
        assert f"### `{clause.id}`" in section
        assert " ".join(clause.statement.split()) in section.replace("\\|", "|")
        for name in clause.git_proxy_methods:
            assert f"`{name}`" in section
        if clause.upstream_fs:
            assert "**upstream fs:**" in section
        if clause.upstream_mongo:
            assert "**upstream mongo:**" in section
        assert ("(provisional)" in section) == clause.provisional


def test_every_resource_has_a_section_in_registry_order():
    text = docgen.render_contract()
    positions = [text.index(f"\n## {title}\n") for title in RESOURCES.values()]
    assert positions == sorted(positions)


def test_the_method_table_maps_every_sink_method_to_git_proxy_and_its_clauses():
    text = docgen.render_contract()
    table = text.split("## Methods", 1)[1].split("\n## ", 1)[0]
    by_method = docgen.clauses_by_method()
    for method, name in GIT_PROXY_NAMES.items():
        row = next(r for r in table.splitlines() if r.startswith(f"| `{method}` |"))
        assert f"| `{name}` |" in row
        for clause_id in by_method[method]:
            assert f"[`{clause_id}`](#{clause_id})" in row


def test_the_capabilities_are_listed():
    text = docgen.render_contract()
    for name in CAPABILITY_DOCS:
        assert f"- `{name}` (default " in text


def test_schema_files_hold_the_registry_schemas():
    for kind, schema in SCHEMAS.items():
        assert json.loads((DOCS / "schemas" / f"{kind}.json").read_text()) == schema


def test_a_reader_searching_for_can_push_finds_the_permission_clauses():
    from sinkkit.conformance.docgen import render_contract

    sections = render_contract().split('<a id="')
    hits = {s.split('"', 1)[0] for s in sections if "`canPush`" in s}
    assert {"repos.permissions.add-idempotent", "repos.permissions.empty-list",
            "repos.permissions.concurrent-adds-all-land"} <= hits


def test_every_clause_section_names_a_test_read_from_the_marks():
    from sinkkit.conformance.clauses import KIT_CLAUSES
    from sinkkit.conformance.docgen import clause_tests

    tests = clause_tests()
    assert set(tests) == set(CLAUSES) | set(KIT_CLAUSES)
    first = tests["documents.returned-shapes-valid"][0]
    assert first[:2] == ("conformance/suite/test_documents.py",
                         "test_every_read_returns_schema_valid_documents")
