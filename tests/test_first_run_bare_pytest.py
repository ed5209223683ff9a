"""The kit's own tests finish under a bare ``pytest`` at the repository root, not only under
``python -m pytest`` (which also puts the working directory on ``sys.path``)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
#: the spawn-pool test needs about 15 s; a hang (the failure this guards against) never ends
RUN_BOUND_S = 240


def _bare_pytest() -> str:
    script = Path(sys.executable).with_name("pytest")
    found = str(script) if script.exists() else shutil.which("pytest")
    if found is None:
        pytest.fail("no pytest console script next to this interpreter or on PATH")
    return found


def test_bare_pytest_runs_the_spawned_bootstrap_test_to_a_pass():
    node = ("tests/test_postgres_bootstrap.py::"
            "test_eight_processes_bootstrap_one_empty_database_at_once")
    try:
        proc = subprocess.run([_bare_pytest(), node, "-p", "no:xdist", "-q"], cwd=ROOT,
                              capture_output=True, text=True, timeout=RUN_BOUND_S)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"bare pytest did not finish within {RUN_BOUND_S} s: {exc.stdout!r:.2000}")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "1 passed" in proc.stdout
