"""One nox session per lane, plus the kit's own checks.

Sessions only choose a harness and pass options; every rule lives in the suite. ``tests`` runs
the kit's own tests and every lane that can run on a fresh machine, with coverage combined.
"""

from __future__ import annotations

import os
from pathlib import Path

import nox

nox.options.default_venv_backend = "venv"
nox.options.reuse_venv = "yes"
nox.options.sessions = ["tests"]

ROOT = Path(__file__).parent
REPORTS = ROOT / "reports"
LOCAL_PG15 = "postgresql://postgres@127.0.0.1:5432/postgres"

#: lane name -> (harness, extra environment)
LANES: dict[str, tuple[str, dict[str, str]]] = {
    "memory": ("memory", {}),
    "fs": ("fs", {}),
    "postgres": ("postgres", {"SINKKIT_POSTGRES_VERSION": "16"}),
    "postgres18": ("postgres", {"SINKKIT_POSTGRES_VERSION": "18", "SINKKIT_POSTGRES_DSN": ""}),
    "postgres15": ("postgres", {"SINKKIT_POSTGRES_DSN": os.environ.get(
        "SINKKIT_POSTGRES15_DSN", LOCAL_PG15)}),
    "mongomock": ("mongomock", {}),
    "mongo": ("mongo", {}),
    "bridge": ("bridge", {}),
}
#: lanes that need nothing but this machine (run by ``tests`` and ``report``)
LOCAL_LANES = ["memory", "fs", "postgres", "postgres15", "postgres18", "mongomock", "bridge"]


def install(session: nox.Session) -> None:
    session.install("-e", ".[dev]")


def run_lane(session: nox.Session, lane: str, *, coverage: bool = False) -> None:
    harness, env = LANES[lane]
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
    nox.session(name=_lane)(_lane_session(_lane))


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
    """Regenerate docs/contract.md and docs/schemas; fail when the committed copies are stale."""
    install(session)
    session.run("python", "-m", "sinkkit.conformance.docgen", "--check")
