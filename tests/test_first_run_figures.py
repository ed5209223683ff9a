"""Figures written by hand in the docs stay true: every clause total is the registry's count,
every sample totals line adds up to it, and the README's sample run is the postgres column of
the generated parity report.

(docs/contract.md, docs/parity.md and docs/benchmarks.md are generated, and checked by their
own tests.)
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from sinkkit.conformance.clauses import CLAUSES
from sinkkit.tooling.parity import CELLS

ROOT = Path(__file__).parents[1]
GENERATED = {"contract.md", "parity.md", "benchmarks.md"}
HAND_WRITTEN = [ROOT / "README.md",
                *(p for p in sorted((ROOT / "docs").glob("*.md")) if p.name not in GENERATED),
                *sorted((ROOT / "examples").glob("*/README.md"))]
#: a report's totals line, as ClauseOutcomes.table writes it
TOTALS = re.compile(r"^\s*(?P<counts>(?:\d+ [a-z ]+, )*\d+ [a-z ]+) \(of (?P<total>\d+) clauses\)",
                    re.M)
#: the parity report's cell word -> the report's outcome ("n/a" -> "not applicable")
PARITY_NAMES = {cell: outcome for outcome, cell in CELLS.items()}


def _totals_lines(path: Path) -> list[re.Match]:
    return list(TOTALS.finditer(path.read_text()))


def _counts(match: re.Match) -> dict[str, int]:
    pairs = (part.split(" ", 1) for part in match["counts"].split(", "))
    return {name: int(n) for n, name in pairs}


@pytest.mark.parametrize("path", HAND_WRITTEN, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_clause_total_in_a_hand_written_doc_is_the_registrys(path):
    for match in _totals_lines(path):
        assert int(match["total"]) == len(CLAUSES), f"{path.name}: {match[0].strip()}"
        assert sum(_counts(match).values()) == len(CLAUSES), f"{path.name}: {match[0].strip()}"


def test_the_readmes_sample_run_is_the_parity_reports_postgres_column():
    (match,) = _totals_lines(ROOT / "README.md")
    parity = json.loads((ROOT / "docs" / "parity.json").read_text())
    (column,) = [c for c in parity["columns"] if c["label"] == "postgres"]
    expected = {PARITY_NAMES.get(k, k): v for k, v in column["totals"].items()}
    assert _counts(match) == expected


def test_the_totals_pattern_reads_the_reports_own_line():
    from sinkkit.conformance.report import ClauseOutcomes

    line = list(ClauseOutcomes().table("any"))[-1]
    (match,) = TOTALS.finditer(line)
    assert int(match["total"]) == len(CLAUSES)
