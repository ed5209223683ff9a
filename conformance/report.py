"""Clause outcomes: collected from test reports, printed as a table, written as JSON."""

from __future__ import annotations

import json
import re
import textwrap
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sinkkit.conformance.clauses import CLAUSES, RESOURCES
from sinkkit.conformance.outcomes import FAIL, NOT_IMPLEMENTED, NOT_RUN, PASS, SEVERITY

from sinkkit import SUITE_VERSION, __version__


@dataclass
class ClauseResult:
    tests: dict[str, str] = field(default_factory=dict)
    details: dict[str, str] = field(default_factory=dict)
    #: nodeid -> notes: what a test saw that is another clause's rule (never its outcome)
    notes: dict[str, list[str]] = field(default_factory=dict)

    @property
    def outcome(self) -> str:
        found = set(self.tests.values())
        for name in SEVERITY:
            if name in found:
                return name
        return "not run"


class ClauseOutcomes:
    def __init__(self) -> None:
        self.results: dict[str, ClauseResult] = {}
        self.backends: set[str] = set()
        #: figures a test recorded beside its outcome (the model-based test's counts), kept in
        #: the JSON under their key
        self.extras: dict[str, list[Any]] = {}

    def expect(self, clause_id: str, nodeid: str) -> None:
        self.results.setdefault(clause_id, ClauseResult()).tests.setdefault(nodeid, "not run")

    def record(self, clause_id: str, nodeid: str, outcome: str, detail: str = "") -> None:
        result = self.results.setdefault(clause_id, ClauseResult())
        previous = result.tests.get(nodeid, "not run")
        # setup/call/teardown each report; keep the worst for the test
        if SEVERITY.index(outcome) < SEVERITY.index(previous) or previous == "not run":
            result.tests[nodeid] = outcome
            if detail:
                result.details[nodeid] = detail

    def note(self, clause_id: str, nodeid: str, notes: list[str]) -> None:
        kept = self.results.setdefault(clause_id, ClauseResult()).notes.setdefault(nodeid, [])
        kept.extend(n for n in notes if n not in kept)

    def has_results(self) -> bool:
        return any(o != "not run" for r in self.results.values() for o in r.tests.values())

    def summary(self) -> dict[str, int]:
        counts = dict.fromkeys(SEVERITY, 0)
        for clause_id in CLAUSES:
            result = self.results.get(clause_id)
            counts[result.outcome if result else "not run"] += 1
        return counts

    def table(self, harness: str) -> Iterator[str]:
        yield ""
        yield f"sinkkit clause report: harness {harness}, suite {SUITE_VERSION}"
        for backend in sorted(self.backends):
            yield f"  backend: {backend}"
        width = max(len(c) for c in CLAUSES)
        uncollected = [c for c in CLAUSES if not self.results.get(c, ClauseResult()).tests]
        notes = self._numbered_notes()
        for resource, title in RESOURCES.items():
            ids = [c for c in CLAUSES if CLAUSES[c].resource == resource and c not in uncollected]
            if not ids:
                continue
            yield f"  {title}"
            for clause_id in ids:
                result = self.results[clause_id]
                n = len(result.tests)
                tests = f"{n:>2} test{'s' if n != 1 else ' '}"
                head = f"    {clause_id:<{width}}  {result.outcome:<16} {tests}"
                lines = _detail_lines(result)
                seen = sorted({notes[t] for ts in result.notes.values() for t in ts})
                if seen:
                    lines.append("note " + ", ".join(f"[{i}]" for i in seen) + " (below)")
                yield from _row(head, lines)
        if notes:
            yield "  Notes (seen by the clauses marked; each is decided by its own clause)"
            readers = Counter(i for r in self.results.values()
                              for i in {notes[t] for ts in r.notes.values() for t in ts})
            for text, i in notes.items():
                many = readers[i]
                yield from _row(f"    [{i}]", [f"{text} ({many} clause{'s' if many != 1 else ''})"])
        if uncollected:
            shown = ", ".join(uncollected[:12]) + (" ..." if len(uncollected) > 12 else "")
            yield f"  not run (no test selected): {len(uncollected)} clauses: {shown}"
        counts = self.summary()
        yield "  " + ", ".join(f"{v} {k}" for k, v in counts.items() if v) + \
            f" (of {len(CLAUSES)} clauses)"

    def _numbered_notes(self) -> dict[str, int]:
        """Every distinct note, numbered in the order of the table, so each is printed once."""
        numbered: dict[str, int] = {}
        for clause_id in CLAUSES:
            for texts in self.results.get(clause_id, ClauseResult()).notes.values():
                for text in texts:
                    numbered.setdefault(text, len(numbered) + 1)
        return numbered

    def as_json(self, harness: str, capabilities: dict) -> dict:
        clauses = {}
        for clause_id, clause in CLAUSES.items():
            result = self.results.get(clause_id, ClauseResult())
            clauses[clause_id] = {
                "outcome": result.outcome,
                "statement": clause.statement,
                "tests": dict(sorted(result.tests.items())),
                "details": dict(sorted(result.details.items())),
                "notes": dict(sorted(result.notes.items())),
            }
        return {
            "kit_version": __version__,
            "suite_version": SUITE_VERSION,
            "harness": harness,
            "backends": sorted(self.backends),
            "capabilities": capabilities,
            "summary": self.summary(),
            "clauses": clauses,
            **self.extras,
        }

    def write_json(self, path: Path, harness: str, capabilities: dict) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.as_json(harness, capabilities), indent=2) + "\n")


#: the column a row's detail starts at and the width it wraps to: a row is wrapped, never cut
DETAIL_WIDTH = 100
#: distinct failure lines shown per clause; the rest are counted
MAX_GROUPS = 4
#: a dotted exception path before the class name (``sinkkit.conformance.checked.ShapeError``)
_QUALIFIED = re.compile(r"^(?:[A-Za-z_]\w*\.)+(?=[A-Za-z_]\w*: )")


def _detail_lines(result: ClauseResult) -> list[str]:
    """The clause's detail: its failure lines grouped (one line, a count) when it failed."""
    outcome = result.outcome
    if outcome in (PASS, NOT_RUN):
        return []
    lines = Counter(_QUALIFIED.sub("", result.details.get(nodeid, "") or outcome)
                    for nodeid, o in result.tests.items() if o == outcome)
    if outcome not in (FAIL, NOT_IMPLEMENTED):  # one reason is enough for a declared outcome
        return [next(iter(lines))]
    groups = lines.most_common()
    shown = [f"{n}x {line}" if n > 1 else line for line, n in groups[:MAX_GROUPS]]
    if len(groups) > MAX_GROUPS:
        rest = sum(n for _, n in groups[MAX_GROUPS:])
        shown.append(f"... and {len(groups) - MAX_GROUPS} more distinct failures ({rest} tests)")
    return shown


def _row(head: str, lines: list[str]) -> Iterator[str]:
    """``head`` followed by ``lines``, each wrapped under the detail column."""
    if not lines:
        yield head.rstrip()
        return
    indent = " " * (len(head) + 2)
    first = True
    for line in lines:
        for chunk in textwrap.wrap(line, DETAIL_WIDTH, break_long_words=True,
                                   break_on_hyphens=False) or [""]:
            yield f"{head}  {chunk}" if first else f"{indent}{chunk}"
            first = False
