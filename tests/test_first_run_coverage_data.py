"""Processes the kit's tests spawn leave readable coverage data, so ``coverage combine`` at the
end of ``nox -s tests`` combines every file (no "isn't a coverage data file", no "1 file
errored"). The bad file was an empty one from a spawn-pool worker of the eight-process
bootstrap test: leaving ``with Pool()`` terminates the workers (SIGTERM), and one killed while
writing its data left the file created and empty. ``run_together`` closes and joins instead,
so every worker exits normally and writes its data."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).parent
ROOT = TESTS.parent
SCRIPT = f"""
import json, os, sys
sys.path.insert(0, {str(TESTS)!r})
from postgres_workers import run_together

if __name__ == "__main__":  # spawned workers import this file again as __mp_main__
    print(json.dumps(sorted(set(run_together(os.getpid, [()] * 8, 60)))))
"""


def test_every_worker_of_a_measured_pool_writes_coverage_data_that_combines(tmp_path):
    env = {**os.environ, "COVERAGE_PROCESS_START": str(ROOT / "pyproject.toml"),
           "COVERAGE_FILE": str(tmp_path / ".coverage")}
    script = tmp_path / "pool.py"
    script.write_text(SCRIPT)
    run = subprocess.run([sys.executable, "-m", "coverage", "run", str(script)], cwd=tmp_path,
                         env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    workers = set(json.loads(run.stdout.strip().splitlines()[-1]))
    files = sorted(tmp_path.glob(".coverage.*"))
    written = {int(m[1]) for f in files if (m := re.search(r"\.pid(\d+)\.", f.name))}
    assert workers <= written  # a terminated worker writes nothing, or an empty file
    assert all(f.stat().st_size > 0 for f in files), [f.name for f in files]
    combine = subprocess.run([sys.executable, "-m", "coverage", "combine"], cwd=tmp_path,
                             env=env, capture_output=True, text=True, timeout=120)
    assert combine.returncode == 0, combine.stderr
    assert "errored" not in combine.stdout + combine.stderr
