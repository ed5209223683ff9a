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

    # nox -l shows a docstring's first line only: one line, ending with what the lane needs
    session_fn.__doc__ = f"Conformance suite, {lane} lane; needs {lanes.LANE_NEEDS[lane]}."
    return session_fn


for _lane in LANES:
    if not _lane.startswith("bridge-"):
        nox.session(name=_lane)(_lane_session(_lane))


@nox.session
def bridge(session: nox.Session) -> None:
    """Conformance suite through the bridge, Python and Node.js peers; needs Node.js on PATH."""
    install(session)
    for lane in ("bridge-python", "bridge-node"):
        run_lane(session, lane)


@nox.session
def upstream(session: nox.Session) -> None:
    """git-proxy's own sink against its record; needs a checkout (-- --checkout PATH --kind K).

    ``--kind`` is fs, fs-files, postgres or mongo; the checkout may also come from
    SINKKIT_UPSTREAM_CHECKOUT. The lane is held to upstream/divergences/<kind>@<commit>.json."""
    args = list(session.posargs)

    def option(name: str, default: str | None) -> str | None:
        if name in args:
            i = args.index(name)
            value = args[i + 1] if i + 1 < len(args) else None
            del args[i:i + 2]
            return value
        return default

    checkout = option("--checkout", os.environ.get("SINKKIT_UPSTREAM_CHECKOUT"))
    kind = option("--kind", os.environ.get("SINKKIT_UPSTREAM_KIND", "fs"))
    if not checkout:
        session.error("upstream: no git-proxy checkout: pass -- --checkout PATH (or set "
                      "SINKKIT_UPSTREAM_CHECKOUT)")
    if kind not in lanes.UPSTREAM_LANES.values():
        session.error(f"upstream: --kind must be one of "
                      f"{', '.join(lanes.UPSTREAM_LANES.values())}, not {kind!r}")
    checkout = str(Path(checkout).resolve())
    install(session)
    session.run("python", "-m", "sinkkit.upstream.prepare", checkout)
    lane = f"upstream-{kind}"
    REPORTS.mkdir(exist_ok=True)
    env = lanes.upstream_lane_env(kind, checkout)
    # beside reports/, not in it: the parity report reads every JSON file under reports/
    env["SINKKIT_UPSTREAM_TRANSCRIPTS"] = str(ROOT / "transcripts" / lane)
    session.log(f"lane {lane}: {checkout}")
    session.run(
        "python", "-m", "pytest", "--pyargs", "sinkkit.conformance.suite",
        "--sinkkit-harness=upstream", "-n", os.environ.get("SINKKIT_WORKERS", "2"),
        "-p", "no:randomly", f"--sinkkit-report={REPORTS / f'{lane}.json'}", *args, env=env)


@nox.session
def tests(session: nox.Session) -> None:
    """Kit tests, then every local lane, coverage >= 90 %; needs PostgreSQL 15 at :5432, Node.js."""
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
    """ruff (with its security rules) over the whole tree; needs nothing."""
    session.install("ruff")
    session.run("ruff", "check", ".")


@nox.session
def docs(session: nox.Session) -> None:
    """Regenerate the generated docs (fail if stale), build the site strictly; needs nothing."""
    install(session)
    session.run("python", "-m", "sinkkit.conformance.docgen", "--check", "--write")
    session.run("mkdocs", "build", "--strict", "--site-dir",
                os.path.join(session.create_tmp(), "site"))


@nox.session
def report(session: nox.Session) -> None:
    """Every local lane, then docs/parity.md and .json; needs what the tests session needs."""
    install(session)
    session.run("python", "-m", "sinkkit.tooling.parity", "--run", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks into docs/benchmarks.* (``-- --full``: a million pushes); needs what tests do.

    Regenerates docs/benchmarks.md, docs/benchmarks.json and docs/benchmarks-listing.png;
    installs matplotlib into the session. git-proxy's own sinks are compared when a prepared
    checkout is given (``-- --upstream-checkout postgres=DIR --upstream-checkout fs=DIR``,
    ``SINKKIT_BENCH_UPSTREAM_POSTGRES``/``_FS``, or extracted snapshots under
    ``SINKKIT_UPSTREAM_CHECKOUTS``); otherwise that section says it is skipped.
    """
    install(session)
    session.install("matplotlib>=3.8")
    session.run("python", "benchmarks/run.py", *session.posargs)


@nox.session
def mutation(session: nox.Session) -> None:
    """Mutation score of the memory model and shared rules; needs mutmut (installed) and time.

    mutmut mutates the files ``[tool.mutmut] source_paths`` names, killed by the conformance
    suite in the memory lane (each mutant runs only the tests that reach its function), then
    prints the score and lists the survivors not shown equivalent. Not part of ``tests``: a
    full run takes minutes on 2 cores."""
    install(session)
    session.install("mutmut>=3.8,<4")
    link_mutation_sources()
    workers = os.environ.get("SINKKIT_WORKERS", "2")
    session.run("mutmut", "run", "--max-children", workers, *session.posargs)
    # the score and every survivor not shown equivalent (tooling/mutation_equivalent.toml);
    # `python -m sinkkit.tooling.mutation_report --write` puts the tables in docs/mutation.md
    session.run("python", "-m", "sinkkit.tooling.mutation_report")


def link_mutation_sources() -> None:
    """``src/sinkkit/<sub>`` -> ``<sub>/``: the import-name view of the tree mutmut reads."""
    src = ROOT / "src" / "sinkkit"
    src.mkdir(parents=True, exist_ok=True)
    for sub in ("core", "adapters", "conformance"):
        link = src / sub
        if not link.is_symlink():
            link.symlink_to(Path("..", "..", sub), target_is_directory=True)
