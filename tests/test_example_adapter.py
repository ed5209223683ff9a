"""A backend author outside the kit plugs in with a harness entry point and one pytest command.

The example under ``examples/sinkkit-example-sqlite`` is built and installed as its own
distribution (into a private target directory), then the suite runs against it from an
unrelated working directory, exactly as its README says.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).parents[1] / "examples" / "sinkkit-example-sqlite"


def test_an_outside_adapter_installs_and_passes_the_whole_suite(tmp_path):
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target),
         str(EXAMPLE)],
        check=True, capture_output=True, text=True, timeout=300,
    )
    assert list(target.glob("sinkkit_example_sqlite-*.dist-info"))
    report = tmp_path / "report.json"
    env = {**os.environ, "PYTHONPATH": str(target)}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--pyargs",
         "sinkkit.conformance.suite", "--sinkkit-harness", "example-sqlite",
         f"--sinkkit-report={report}"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "sinkkit clause report: harness example-sqlite" in proc.stdout
    data = json.loads(report.read_text())
    assert data["harness"] == "example-sqlite"
    outcomes = {c["outcome"] for c in data["clauses"].values()}
    assert outcomes <= {"pass", "not applicable"}
    assert data["clauses"]["bootstrap.reopen-keeps-data"]["outcome"] == "pass"
    assert data["clauses"]["bootstrap.concurrent-open"]["outcome"] == "not applicable"
