"""Clause outcomes: collected from test reports, printed as a table, written as JSON."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sinkkit.conformance.clauses import CLAUSES, RESOURCES
from sinkkit.conformance.outcomes import PASS, SEVERITY

from sinkkit import SUITE_VERSION, __version__


@dataclass
class ClauseResult:
    tests: dict[str, str] = field(default_factory=dict)
    details: dict[str, str] = field(default_factory=dict)

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
        for resource, title in RESOURCES.items():
            ids = [c for c in CLAUSES if CLAUSES[c].resource == resource and c not in uncollected]
            if not ids:
                continue
            yield f"  {title}"
            for clause_id in ids:
                result = self.results[clause_id]
                outcome = result.outcome
                n = len(result.tests)
                detail = ""
                if outcome != PASS:
                    detail = next((v for k, v in result.details.items()
                                   if result.tests[k] == outcome), "")
                tests = f"{n:>2} test{'s' if n != 1 else ' '}"
                line = f"    {clause_id:<{width}}  {outcome:<16} {tests}"
                yield f"{line}  {detail[:120]}".rstrip()
        if uncollected:
            shown = ", ".join(uncollected[:12]) + (" ..." if len(uncollected) > 12 else "")
            yield f"  not run (no test selected): {len(uncollected)} clauses: {shown}"
        counts = self.summary()
        yield "  " + ", ".join(f"{v} {k}" for k, v in counts.items() if v) + \
            f" (of {len(CLAUSES)} clauses)"

    def as_json(self, harness: str, capabilities: dict) -> dict:
        clauses = {}
        for clause_id, clause in CLAUSES.items():
            result = self.results.get(clause_id, ClauseResult())
            clauses[clause_id] = {
                "outcome": result.outcome,
                "statement": clause.statement,
                "tests": dict(sorted(result.tests.items())),
                "details": dict(sorted(result.details.items())),
            }
        return {
            "kit_version": __version__,
            "suite_version": SUITE_VERSION,
            "harness": harness,
            "backends": sorted(self.backends),
            "capabilities": capabilities,
            "summary": self.summary(),
            "clauses": clauses,
        }

    def write_json(self, path: Path, harness: str, capabilities: dict) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.as_json(harness, capabilities), indent=2) + "\n")
