"""The plugin as a backend author meets it: harness errors, outcomes, reports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).parent


def pytest_run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(TESTS)}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:xdist", "-q", *args],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )


def test_running_the_suite_without_a_harness_says_how_to_name_one(tmp_path):
    proc = pytest_run(tmp_path, "--pyargs", "sinkkit.conformance.suite")
    assert proc.returncode == 4
    assert "--sinkkit-harness" in proc.stderr and "memory" in proc.stderr


def test_an_unknown_harness_lists_the_installed_ones(tmp_path):
    proc = pytest_run(tmp_path, "--pyargs", "sinkkit.conformance.suite",
                      "--sinkkit-harness", "oracle")
    assert proc.returncode == 4
    assert "unknown harness 'oracle'" in proc.stderr and "fs" in proc.stderr


def test_a_harness_path_that_does_not_import_is_a_clear_usage_error(tmp_path):
    proc = pytest_run(tmp_path, "--pyargs", "sinkkit.conformance.suite",
                      "--sinkkit-harness", "no_such_module:Harness")
    assert proc.returncode == 4 and "cannot load harness" in proc.stderr


def test_the_harness_can_come_from_the_pytest_configuration(tmp_path):
    (tmp_path / "pytest.ini").write_text("[pytest]\nsinkkit_harness = memory\n")
    proc = pytest_run(tmp_path, "--pyargs", "sinkkit.conformance.suite",
                      "--sinkkit-clause", "migrations")
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert "sinkkit clause report: harness memory" in proc.stdout


def test_absent_capabilities_show_as_not_applicable_never_as_silent_skips(tmp_path):
    report = tmp_path / "r.json"
    proc = pytest_run(tmp_path, "--pyargs", "sinkkit.conformance.suite",
                      "--sinkkit-harness", "memory", "--sinkkit-clause", "bootstrap",
                      f"--sinkkit-report={report}", "-rA")
    assert proc.returncode == 0
    assert "not applicable" in proc.stdout
    assert "skipped" not in proc.stdout.splitlines()[-1]
    clauses = json.loads(report.read_text())["clauses"]
    entry = clauses["bootstrap.reopen-keeps-data"]
    assert entry["outcome"] == "not applicable"
    assert "persistent" in next(iter(entry["details"].values()))


def test_a_declared_divergence_is_reported_and_fixing_it_is_noticed(tmp_path):
    report = tmp_path / "r.json"
    proc = pytest_run(tmp_path, "--pyargs", "sinkkit.conformance.suite",
                      "--sinkkit-harness", "plugin_harnesses:DivergentNullHarness",
                      "--sinkkit-clause", "repos.permissions.empty-list",
                      f"--sinkkit-report={report}")
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert json.loads(report.read_text())["clauses"]["repos.permissions.empty-list"][
        "outcome"] == "known divergence"
    proc = pytest_run(tmp_path, "--pyargs", "sinkkit.conformance.suite",
                      "--sinkkit-harness", "plugin_harnesses:StaleDivergenceHarness",
                      "--sinkkit-clause", "repos.permissions.empty-list",
                      f"--sinkkit-report={report}")
    assert proc.returncode == 1
    assert "XPASS(strict)" in proc.stdout or "xpass" in proc.stdout.lower()
