"""A backend author outside the kit plugs in with a harness entry point and one pytest command.

Each example under ``examples/`` (the SQLite one over the reference model, the skeleton written
from ``SinkBase``'s primitives alone) is built and installed as its own distribution (into a
private target directory), then the suite runs against it from an unrelated working directory,
exactly as its README says.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).parents[1] / "examples"


def install_and_run_suite(tmp_path: Path, example: str, harness: str) -> dict:
    """Install ``examples/<example>`` into a private target, run the suite on ``harness`` from
    an unrelated directory, and return the JSON clause report."""
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target),
         str(EXAMPLES / example)],
        check=True, capture_output=True, text=True, timeout=300,
    )
    assert list(target.glob(f"{example.replace('-', '_')}-*.dist-info"))
    report = tmp_path / "report.json"
    env = {**os.environ, "PYTHONPATH": str(target)}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--pyargs",
         "sinkkit.conformance.suite", "--sinkkit-harness", harness,
         f"--sinkkit-report={report}"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert f"sinkkit clause report: harness {harness}" in proc.stdout
    data = json.loads(report.read_text())
    assert data["harness"] == harness
    return data


def test_an_outside_adapter_installs_and_passes_the_whole_suite(tmp_path):
    data = install_and_run_suite(tmp_path, "sinkkit-example-sqlite", "example-sqlite")
    outcomes = {c["outcome"] for c in data["clauses"].values()}
    assert outcomes <= {"pass", "not applicable"}
    assert data["clauses"]["bootstrap.reopen-keeps-data"]["outcome"] == "pass"
    assert data["clauses"]["bootstrap.concurrent-open"]["outcome"] == "not applicable"


def test_the_skeleton_adapter_written_from_primitives_passes_the_whole_suite(tmp_path):
    data = install_and_run_suite(tmp_path, "sinkkit-example-skeleton", "example-skeleton")
    outcomes = {c["outcome"] for c in data["clauses"].values()}
    assert outcomes <= {"pass", "not applicable"}
    # not persistent: the reopen clauses do not apply, every other one runs and passes
    assert data["clauses"]["bootstrap.reopen-keeps-data"]["outcome"] == "not applicable"
    for derived in ("pushes.review.flags-exclusive", "repos.permissions.concurrent-adds-all-land",
                    "users.case.email-folded"):
        assert data["clauses"][derived]["outcome"] == "pass", derived
