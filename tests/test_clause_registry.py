"""The clause registry and the suite agree: every clause has a test, every test one clause."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import pytest
import sinkkit.conformance.suite as suite
from sinkkit.conformance.clauses import (
    CLAUSES,
    KIT_CLAUSES,
    RESOURCES,
    Clause,
    by_resource,
    clause,
    requires,
)
from sinkkit.conformance.contract import GIT_PROXY_NAMES, Sink


def suite_tests():
    for info in pkgutil.iter_modules(suite.__path__):
        module = importlib.import_module(f"{suite.__name__}.{info.name}")
        for name, obj in vars(module).items():
            if name.startswith("test_") and inspect.isfunction(obj):
                yield f"{info.name}::{name}", obj
            elif name.startswith("Test") and inspect.isclass(obj):
                for attr, member in vars(obj).items():
                    if attr.startswith("test_") and callable(member):
                        marks = getattr(obj, "pytestmark", []) + getattr(member, "pytestmark", [])
                        member.pytestmark = marks
                        yield f"{info.name}::{name}::{attr}", member


def clauses_of(func) -> list[str]:
    return [m.args[0] for m in getattr(func, "pytestmark", []) if m.name == "sinkkit_clause"]


def test_every_suite_test_names_exactly_one_clause():
    offenders = [name for name, func in suite_tests() if len(clauses_of(func)) != 1]
    assert not offenders, f"tests without exactly one @clause: {offenders}"


def test_every_clause_has_at_least_one_test():
    tested = {c for _, func in suite_tests() for c in clauses_of(func)}
    missing = sorted(set(CLAUSES) - tested)
    assert not missing, f"clauses with no test: {missing}"


def test_every_kit_clause_is_checked_by_the_kits_own_tests_and_by_no_suite_test():
    marked = set()
    for path in Path(__file__).parent.glob("test_*.py"):
        marked |= set(re.findall(r'@kit_clause\("([^"]+)"\)', path.read_text()))
    assert marked == set(KIT_CLAUSES)
    in_suite = {c for _, func in suite_tests() for c in clauses_of(func)}
    assert not in_suite & set(KIT_CLAUSES)


def test_the_contract_has_well_over_sixty_clauses_across_every_resource():
    assert len(CLAUSES) > 60
    assert all(by_resource()[r] for r in RESOURCES)


@pytest.mark.parametrize("clause_id", sorted(CLAUSES))
def test_clause_ids_are_stable_dotted_slugs_with_one_sentence(clause_id):
    c: Clause = CLAUSES[clause_id]
    assert re.fullmatch(r"[a-z]+(\.[a-z0-9-]+)+", clause_id)
    assert c.statement.endswith(".") and len(c.statement) < 400
    assert all(m in GIT_PROXY_NAMES for m in c.methods)


def test_every_sink_method_is_named_by_some_clause():
    named = {m for c in CLAUSES.values() for m in c.methods}
    methods = {n for n, _ in inspect.getmembers(Sink) if not n.startswith("_")}
    assert methods - named <= {"close"} | (methods - set(GIT_PROXY_NAMES))
    assert set(GIT_PROXY_NAMES) - named <= {"close"}


def test_an_unknown_clause_or_capability_is_an_error_at_import():
    with pytest.raises(KeyError, match="unknown clause"):
        clause("repos.no-such-rule")
    with pytest.raises(KeyError, match="unknown capability"):
        requires("teleportation")
