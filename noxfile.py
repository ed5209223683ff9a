"""One nox session per lane, plus the kit's own checks.

Sessions only choose a harness and pass options; every rule lives in the suite. ``tests`` runs
the kit's own tests and every lane that can run on a fresh machine, with coverage combined.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import nox

nox.options.default_venv_backend = "venv"
nox.options.reuse_venv = "yes"
nox.options.sessions = ["tests"]

ROOT = Path(__file__).parent
REPORTS = ROOT / "reports"


def _load_lanes():
    """tooling/lanes.py by path: nox runs before the package is installed."""
    path = ROOT / "tooling" / "lanes.py"
    spec = importlib.util.spec_from_file_location("sinkkit_lanes", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


lanes = _load_lanes()
LANES, LOCAL_LANES = lanes.LANES, lanes.LOCAL_LANES


def install(session: nox.Session) -> None:
    session.install("-e", ".[dev]")


def run_lane(session: nox.Session, lane: str, *, coverage: bool = False) -> None:
    harness, _ = LANES[lane]
    env = lanes.lane_env(lane)
    # CI sets SINKKIT_COVERAGE=1 so each lane job uploads coverage data for the report job
    coverage = coverage or os.environ.get("SINKKIT_COVERAGE") == "1"
    REPORTS.mkdir(exist_ok=True)
    pytest_args = [
        "-m", "pytest", "--pyargs", "sinkkit.conformance.suite", f"--sinkkit-harness={harness}",
        "-n", os.environ.get("SINKKIT_WORKERS", "2"), "-p", "no:randomly",
        f"--sinkkit-report={REPORTS / f'{lane}.json'}", *session.posargs,
    ]
    runner = ["coverage", "run"] if coverage else ["python"]
    session.log(f"lane {lane}: harness {harness} {env or ''}")
    session.run(*runner, *pytest_args, env=_env(env, coverage))


def _env(extra: dict[str, str], coverage: bool) -> dict[str, str]:
    env = dict(extra)
    if coverage:
        env["COVERAGE_PROCESS_START"] = str(ROOT / "pyproject.toml")
    return env


def _lane_session(lane: str):
    def session_fn(session: nox.Session) -> None:
        install(session)
        run_lane(session, lane)

    session_fn.__doc__ = f"Run the conformance suite in the {lane} lane."
    return session_fn


for _lane in LANES:
    if not _lane.startswith("bridge-"):
        nox.session(name=_lane)(_lane_session(_lane))


@nox.session
def bridge(session: nox.Session) -> None:
    """The suite through the bridge protocol against both reference peers (Python, Node.js)."""
    install(session)
    for lane in ("bridge-python", "bridge-node"):
        run_lane(session, lane)


@nox.session
def tests(session: nox.Session) -> None:
    """The kit's own tests, then every lane that runs on a fresh machine; coverage >= 90 %."""
    install(session)
    session.run("coverage", "erase")
    session.run(
        "coverage", "run", "-m", "pytest", "tests", "-n", os.environ.get("SINKKIT_WORKERS", "2"),
        env=_env({}, True),
    )
    for lane in LOCAL_LANES:
        run_lane(session, lane, coverage=True)
    session.run("coverage", "combine", "--quiet")
    session.run("coverage", "report", "--fail-under=90")


@nox.session
def lint(session: nox.Session) -> None:
    """ruff (with its security rules) over the whole tree."""
    session.install("ruff")
    session.run("ruff", "check", ".")


@nox.session
def docs(session: nox.Session) -> None:
    """Regenerate the generated docs (failing if they were stale); build the site strictly."""
    install(session)
    session.run("python", "-m", "sinkkit.conformance.docgen", "--check", "--write")
    session.run("mkdocs", "build", "--strict", "--site-dir",
                os.path.join(session.create_tmp(), "site"))


@nox.session
def report(session: nox.Session) -> None:
    """Run every lane that runs here, then write docs/parity.md and docs/parity.json."""
    install(session)
    session.run("python", "-m", "sinkkit.tooling.parity", "--run", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks (quick by default, ``-- --full`` reaches a million pushes); regenerates
    docs/benchmarks.md, docs/benchmarks.json and docs/benchmarks-listing.png."""
    install(session)
    session.install("matplotlib>=3.8")
    session.run("python", "benchmarks/run.py", *session.posargs)
