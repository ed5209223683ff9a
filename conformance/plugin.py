"""The pytest plugin (``pytest11`` entry point): harness selection, fixtures, clause outcomes.

A backend author points pytest at the suite and names a harness::

    pytest --pyargs sinkkit.conformance.suite --sinkkit-harness my_pkg.harness:MyHarness

or sets ``sinkkit_harness`` in their pytest configuration. After the run the plugin prints one
row per clause (pass / fail / not implemented / not applicable / known divergence) and, with
``--sinkkit-report PATH``, writes the same as JSON. A run with any *not implemented* clause exits
non-zero, like a failure, but is counted apart from fail.
"""

from __future__ import annotations

import difflib
import importlib
import itertools
import os
import re
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase
from hypothesis import settings as hypothesis_settings
from sinkkit.conformance import outcomes
from sinkkit.conformance.capabilities import NotApplicable
from sinkkit.conformance.checked import CheckedSink, ShapeProblem
from sinkkit.conformance.harness import Harness, ProvisioningError, Slot
from sinkkit.conformance.outcomes import KNOWN_DIVERGENCE, NOT_APPLICABLE, NOT_IMPLEMENTED
from sinkkit.conformance.report import ClauseOutcomes
from sinkkit.conformance.stateful_counts import summary_lines

HARNESS_GROUP = "sinkkit.harnesses"

# The suite's Hypothesis profiles, registered here (once, at plugin import) so that
# `--hypothesis-profile sinkkit-deep` works before Hypothesis reads its options.
_PROFILE_COMMON: dict[str, Any] = {
    "deadline": None,  # backends answer at their own pace; the suite never asserts durations
    "database": None,  # never write an example database into the user's checkout
    "print_blob": True,
    # no explain phase: it re-runs failing examples under a tracer, slow against a server
    "phases": [Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large,
                              HealthCheck.filter_too_much],
}
hypothesis_settings.register_profile(
    "sinkkit-fast", max_examples=80, stateful_step_count=50, **_PROFILE_COMMON)
hypothesis_settings.register_profile(
    "sinkkit-deep", max_examples=300, stateful_step_count=80, **_PROFILE_COMMON)
# for backends that fail in many ways at once (the upstream lanes): stop at the first failure and
# shrink only that one, instead of shrinking every distinct failure over a slow bridge
hypothesis_settings.register_profile(
    "sinkkit-upstream", max_examples=40, stateful_step_count=50, report_multiple_bugs=False,
    **_PROFILE_COMMON)

#: report.user_properties key carrying an outcome pytest has no word for
OUTCOME_PROPERTY = "sinkkit_outcome"
#: item.stash key: why this item does not apply (decided at collection, raised at setup)
_GATED = pytest.StashKey[NotApplicable]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("sinkkit", "git-proxy sink conformance")
    group.addoption(
        "--sinkkit-harness",
        metavar="NAME|module:attr",
        help=f"the harness to test: an entry point of '{HARNESS_GROUP}' or module:attr",
    )
    group.addoption("--sinkkit-report", metavar="PATH", help="write the clause report as JSON")
    group.addoption(
        "--sinkkit-clause",
        action="append",
        default=[],
        metavar="ID",
        help="run only the clauses with this id or id prefix (repeatable), e.g. repos.permissions",
    )
    group.addoption(
        "--sinkkit-bridge",
        metavar="COMMAND",
        help="test an out-of-process sink speaking the bridge protocol (implies harness bridge)",
    )
    parser.addini("sinkkit_harness", "default for --sinkkit-harness")


def load_harness(spec: str) -> Harness:
    """Build the harness named by ``spec`` (an entry-point name or ``module:attr``)."""
    if ":" in spec:
        module_name, _, attr = spec.partition(":")
        try:
            target = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as exc:
            raise pytest.UsageError(f"sinkkit: cannot load harness {spec!r}: {exc}") from exc
    else:
        found = {ep.name: ep for ep in entry_points(group=HARNESS_GROUP)}
        if spec not in found:
            raise pytest.UsageError(
                f"sinkkit: unknown harness {spec!r}; installed: {', '.join(sorted(found))} "
                "(or give module:attr)"
            )
        try:
            target = found[spec].load()
        except ImportError as exc:
            raise pytest.UsageError(
                f"sinkkit: cannot load harness {spec!r}: {exc} (is the extra it needs "
                "installed? the kit's harnesses need gitproxy-sinkkit[postgres] or [mongo])"
            ) from exc
    harness = target() if callable(target) else target
    if not isinstance(harness, Harness) and not hasattr(harness, "new_sink"):
        raise pytest.UsageError(f"sinkkit: {spec!r} did not give a harness (no new_sink)")
    return harness


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "sinkkit_clause(id): the contract clause a test checks")
    config.addinivalue_line(
        "markers", "sinkkit_kit_clause(id): the kit clause one of the kit's own tests checks")
    config.addinivalue_line(
        "markers", "sinkkit_requires(*caps): capabilities a test needs (else not applicable)"
    )
    bridge = config.getoption("--sinkkit-bridge")
    if bridge:
        # the bridge harness reads its command from the environment, so xdist workers see it
        os.environ["SINKKIT_BRIDGE_COMMAND"] = bridge
    spec = config.getoption("--sinkkit-harness") or config.getini("sinkkit_harness")
    if bridge and not spec:
        spec = "bridge"
    harness = load_harness(spec) if spec else None
    check_clause_selection(config.getoption("--sinkkit-clause"))
    if harness is not None and _is_controller(config):
        stop_if_unprovisionable(harness)
    config.pluginmanager.register(SinkkitSession(config, harness), "sinkkit-session")


def _is_controller(config: pytest.Config) -> bool:
    """True in a plain run and in the xdist controller; False in an xdist worker."""
    if hasattr(config, "workerinput"):
        return False
    return not (config.option.help or config.option.version or config.option.collectonly)


#: the exit status of a run stopped because the backend cannot be provisioned
EXIT_NO_BACKEND = pytest.ExitCode.USAGE_ERROR


def stop_if_unprovisionable(harness: Harness) -> None:
    """Run the harness's ``preflight`` once, before any test process starts: a backend that
    cannot be provisioned stops the run with one line, not one failure per test."""
    preflight = getattr(harness, "preflight", None)
    if preflight is None:  # a duck-typed harness that does not derive from Harness
        return
    try:
        preflight()
    except ProvisioningError as exc:
        name = getattr(harness, "name", "?")
        pytest.exit(f"sinkkit: harness {name} cannot run here: {exc}", returncode=EXIT_NO_BACKEND)


def check_clause_selection(wanted: list[str]) -> None:
    """Every ``--sinkkit-clause`` value names a clause or a group of them; a typo is a usage
    error that suggests the nearest ids, instead of a run that deselects everything."""
    from sinkkit.conformance.clauses import CLAUSES

    groups = {".".join(cid.split(".")[:n]) for cid in CLAUSES
              for n in range(1, cid.count(".") + 1)}
    for value in wanted:
        prefix = value.rstrip(".")
        if prefix in CLAUSES or prefix in groups:
            continue
        near = difflib.get_close_matches(prefix, sorted(set(CLAUSES) | groups), n=3, cutoff=0.6)
        hint = f"; did you mean {', '.join(near)}?" if near else (
            "; clause ids are listed in docs/contract.md")
        raise pytest.UsageError(f"sinkkit: --sinkkit-clause {value!r} names no clause{hint}")


class SinkkitSession:
    """Per-run state: the harness, capability gating and the clause outcomes."""

    def __init__(self, config: pytest.Config, harness: Harness | None):
        self.config = config
        self.harness = harness
        self.outcomes = ClauseOutcomes()

    # -- collection: gate on capabilities, mark divergences -------------------------------------

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        self._select_clauses(items)
        suite_items = [i for i in items if i.get_closest_marker("sinkkit_clause")]
        if suite_items and self.harness is None:
            installed = ", ".join(sorted(ep.name for ep in entry_points(group=HARNESS_GROUP)))
            raise pytest.UsageError(
                "sinkkit: the conformance suite needs a harness: pass --sinkkit-harness NAME "
                f"(installed: {installed}) or set sinkkit_harness in your pytest configuration"
            )
        for item in suite_items:
            clause_id = item.get_closest_marker("sinkkit_clause").args[0]
            item.user_properties.append(("sinkkit_clause", clause_id))
            self.outcomes.expect(clause_id, item.nodeid)
            caps = self.harness.capabilities
            needed = [c for m in item.iter_markers("sinkkit_requires") for c in m.args]
            missing = caps.missing(dict.fromkeys(needed))
            if missing:
                item.stash[_GATED] = NotApplicable.missing(self.harness.name, missing)
            if clause_id in caps.divergences and self._diverges(item, clause_id):
                # strict unless the harness says the divergence shows only by chance (e.g. an
                # order that depends on random ids), where a pass proves nothing
                strict = clause_id not in getattr(self.harness, "unstable_divergences", ())
                item.add_marker(pytest.mark.xfail(
                    strict=strict, reason=f"known divergence: {caps.divergences[clause_id]}"))

    def _diverges(self, item: pytest.Item, clause_id: str) -> bool:
        """Whether ``item`` is one of the clause's tests the harness lists as diverging: a
        harness may name them (``divergent_tests``: clause id -> test names as
        ``test_file.py::test_name[param]``), so the clause's other tests still have to pass."""
        named = getattr(self.harness, "divergent_tests", {}).get(clause_id)
        return named is None or item.nodeid.rsplit("/", 1)[-1] in named

    def _select_clauses(self, items: list[pytest.Item]) -> None:
        wanted = self.config.getoption("--sinkkit-clause")
        if not wanted:
            return
        keep, drop = [], []
        for item in items:
            marker = item.get_closest_marker("sinkkit_clause")
            clause_id = marker.args[0] if marker else ""
            hit = any(clause_id == w or clause_id.startswith(w.rstrip(".") + ".") for w in wanted)
            (keep if hit else drop).append(item)
        if drop:
            self.config.hook.pytest_deselected(items=drop)
            items[:] = keep

    # -- outcomes ------------------------------------------------------------------------------

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        outcomes.start_test()
        gated = item.stash.get(_GATED, None)
        if gated is not None:
            raise gated  # before any fixture: a gated test opens no sink

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo) -> Any:
        """Turn ``NotApplicable`` and a failure after ``MethodNotImplemented`` into their own
        outcomes (reported as skips, so pytest neither fails nor passes them)."""
        report = yield
        excinfo = call.excinfo
        if excinfo is not None and excinfo.errisinstance(NotApplicable):
            _mark(report, item, NOT_APPLICABLE, excinfo.value.reason)
        elif report.failed and call.when != "teardown" and outcomes.raised_during_test():
            missing = ", ".join(outcomes.raised_during_test())
            _mark(report, item, NOT_IMPLEMENTED, f"the adapter does not implement {missing}")
        return report

    def pytest_report_teststatus(self, report: pytest.TestReport) -> Any:
        kind = dict(getattr(report, "user_properties", ())).get(OUTCOME_PROPERTY)
        if kind == NOT_APPLICABLE:
            return NOT_APPLICABLE, "n", "NOT APPLICABLE"
        if kind == NOT_IMPLEMENTED:
            return NOT_IMPLEMENTED, "N", "NOT IMPLEMENTED"
        return None

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        props = dict(report.user_properties)
        clause_id = props.get("sinkkit_clause")
        if clause_id is None:
            return
        if "sinkkit_backend" in props:
            self.outcomes.backends.add(props["sinkkit_backend"])
        for key, value in report.user_properties:
            if key == NOTES:
                self.outcomes.note(clause_id, report.nodeid, value)
            elif key == STATEFUL_COUNTS and report.when == "call":
                self.outcomes.extras.setdefault("stateful", []).append(value)
        if OUTCOME_PROPERTY in props:
            self.outcomes.record(clause_id, report.nodeid, props[OUTCOME_PROPERTY],
                                 _skip_reason(report))
        elif report.skipped and hasattr(report, "wasxfail"):
            self.outcomes.record(clause_id, report.nodeid, KNOWN_DIVERGENCE, report.wasxfail)
        elif report.skipped:
            self.outcomes.record(clause_id, report.nodeid, outcomes.SKIPPED, _skip_reason(report))
        elif report.failed:
            self.outcomes.record(clause_id, report.nodeid, "fail", _failure_line(report))
        elif report.when == "call":
            self.outcomes.record(clause_id, report.nodeid, "pass")

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        # incomplete is not conformant: exit as a failure would, though counted apart
        if session.exitstatus == pytest.ExitCode.OK and \
                self.outcomes.summary().get(NOT_IMPLEMENTED):
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_report_header(self, config: pytest.Config) -> list[str] | None:
        if self.harness is None:
            return None
        caps = ", ".join(f"{k}={v}" for k, v in self.harness.capabilities.as_dict().items()
                         if k != "divergences")
        return [f"sinkkit: harness {self.harness.name} ({caps})"]

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not self.outcomes.has_results():
            return
        name = self.harness.name if self.harness else "?"
        for line in self.outcomes.table(name):
            terminalreporter.write_line(line)
        for counts in self.outcomes.extras.get("stateful", []):
            for line in summary_lines(counts["harness"], counts):
                terminalreporter.write_line(line)
        path = self.config.getoption("--sinkkit-report")
        if path:
            caps = self.harness.capabilities.as_dict() if self.harness else {}
            self.outcomes.write_json(Path(path), name, caps)
            terminalreporter.write_line(f"sinkkit: clause report written to {path}")



def _mark(report: pytest.TestReport, item: pytest.Item, kind: str, reason: str) -> None:
    path, line, _ = item.location
    report.outcome = "skipped"
    report.longrepr = (str(path), (line or 0) + 1, reason)
    report.user_properties.append((OUTCOME_PROPERTY, kind))


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    return reason.removeprefix("Skipped: ")


def _failure_line(report: pytest.TestReport) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    text = crash.message if crash is not None else str(report.longrepr)
    # the row wraps: keep enough of the line for a stateful failure's call sequence
    return text.splitlines()[0][:2000] if text else "failed"


NOTES = "sinkkit_notes"
#: user_properties key of the model-based test's counts (suite/test_stateful.py records them)
STATEFUL_COUNTS = "sinkkit_stateful_counts"


def add_notes(node: pytest.Item, notes: list[str]) -> None:
    """Attach ``notes`` to the test's report: shown on its clause's row, never its outcome."""
    if notes:
        node.user_properties.append((NOTES, list(notes)))


_slot_counter = itertools.count()


# a module-level fixture, not a method of SinkkitSession: pytest deprecates session-scoped
# fixtures defined as instance methods (PytestRemovedIn10Warning)
@pytest.fixture(scope="session")
def sinkkit_harness(request: pytest.FixtureRequest,
                    tmp_path_factory: pytest.TempPathFactory) -> Any:
    session = request.config.pluginmanager.get_plugin("sinkkit-session")
    harness = session.harness if session is not None else None
    if harness is None:
        raise pytest.UsageError("sinkkit: no harness configured (--sinkkit-harness)")
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    harness.start(tmp_path_factory.mktemp("sinkkit"), worker)
    yield harness
    harness.stop()


@pytest.fixture
def sinkkit_slot(sinkkit_harness: Harness, tmp_path: Path) -> Slot:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    name = re.sub(r"[^a-z0-9_]", "_", f"t_{worker}_{os.getpid()}_{next(_slot_counter)}".lower())
    return Slot(tmp_path=tmp_path, name=name, worker=worker)


class _Opened:
    """Every sink a test opened, so teardown discards them all, in reverse order."""

    def __init__(self, harness: Harness, slot: Slot):
        self.harness, self.slot, self.raws = harness, slot, []
        self.problems: list[ShapeProblem] = []  # shared by every sink of the test

    def add(self, raw: Any) -> CheckedSink:
        self.raws.append(raw)
        return CheckedSink(raw, self.problems)

    def discard_all(self) -> None:
        errors = []
        for raw in reversed(self.raws):
            try:
                self.harness.discard(self.slot, raw)
            except Exception as exc:  # keep discarding the rest, report after
                errors.append(exc)
        if errors:
            raise errors[0]


@pytest.fixture
def sinkkit_opened(sinkkit_harness: Harness, sinkkit_slot: Slot, request: pytest.FixtureRequest):
    opened = _Opened(sinkkit_harness, sinkkit_slot)
    request.node.user_properties.append(("sinkkit_backend", sinkkit_harness.describe()))
    yield opened
    # shape problems are this test's notes, not its verdict: documents.returned-shapes-valid
    # (and the clause whose rule was broken) fail on them; here they only explain
    add_notes(request.node, [f"shape: {p}" for p in opened.problems])
    opened.discard_all()


@pytest.fixture
def sink(sinkkit_opened: _Opened) -> CheckedSink:
    """A fresh, empty sink over storage private to this test."""
    return sinkkit_opened.add(sinkkit_opened.harness.new_sink(sinkkit_opened.slot))


@pytest.fixture
def reopen(sinkkit_opened: _Opened):
    """``reopen(sink)`` gives another sink over the storage of ``sink`` (persistent harnesses)."""

    def _reopen(sink: CheckedSink) -> CheckedSink:
        raw = sink.raw if isinstance(sink, CheckedSink) else sink
        return sinkkit_opened.add(sinkkit_opened.harness.reopen(sinkkit_opened.slot, raw))

    return _reopen


@pytest.fixture
def sink_entry(sinkkit_harness: Harness, sinkkit_slot: Slot) -> dict[str, Any]:
    """The git-proxy ``sink`` entry that opens this test's storage through ``open_sink``."""
    return sinkkit_harness.open_config(sinkkit_slot)


@pytest.fixture
def open_sink(sinkkit_harness: Harness):
    """``open_sink(config)`` opens a git-proxy ``sink`` configuration through the harness."""
    return sinkkit_harness.open_sink


@pytest.fixture
def capabilities(sinkkit_harness: Harness):
    return sinkkit_harness.capabilities
