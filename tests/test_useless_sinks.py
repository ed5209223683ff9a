"""A useless sink passes no clause beyond a short list, each entry saying why it cannot tell.

The three sinks of ``useless_sinks`` raise every error the reference raises and are useless
otherwise, so a clause one of them passes is checked by refusals alone. The lists below are
the only such clauses; a clause that joins one fails this test until its tests gain a positive
case (a valid call that must find, store or return something).
"""

from __future__ import annotations

import json

import pytest
from test_suite_has_teeth import run_suite
from useless_sinks import USELESS

#: clauses about the source tree, not about the sink a harness hands out
NOT_ABOUT_THE_SINK = {
    "reliability.static.no-sql-from-values": "reads the adapter's source, not its answers",
}

MAY_PASS: dict[str, dict[str, str]] = {
    "ReadsNothing": {
        **NOT_ABOUT_THE_SINK,
        "pushes.review.message-names-id": "the message is what a write returns; no read in it",
    },
    "RefusesWrites": dict(NOT_ABOUT_THE_SINK),
    "KeepsNothing": dict(NOT_ABOUT_THE_SINK),
}


@pytest.fixture(scope="module", params=USELESS)
def outcomes(request, tmp_path_factory):
    report = tmp_path_factory.mktemp(request.param) / "report.json"
    run_suite(f"useless_sinks:{request.param}Harness", report)
    clauses = json.loads(report.read_text())["clauses"]
    return request.param, {cid: c["outcome"] for cid, c in clauses.items()}


def test_a_useless_sink_passes_only_the_clauses_listed_for_it(outcomes):
    sink, by_clause = outcomes
    passed = {cid for cid, outcome in by_clause.items() if outcome == "pass"}
    print(f"{sink}: passes {len(passed)} of {len(by_clause)} clauses")
    assert passed - set(MAY_PASS[sink]) == set(), f"{sink} passes clauses that should catch it"


def test_every_listed_clause_exists():
    for sink, listed in MAY_PASS.items():
        assert sink in USELESS
        with_reasons = {cid for cid, why in listed.items() if why}
        assert with_reasons == set(listed), sink
    from sinkkit.conformance.clauses import CLAUSES

    assert set().union(*MAY_PASS.values()) <= set(CLAUSES)
