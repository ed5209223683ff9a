"""Wall time of the conformance suite per lane, on one xdist worker and on two.

Each lane runs as CI runs it (``pytest -n N --pyargs sinkkit.conformance.suite
--sinkkit-harness LANE``). The provisioning share is timed separately: ``harness.start`` and
``stop`` in a fresh process (``python -m benchmarks.suite_time start LANE``), which is what each
xdist worker pays before its first test; workers provision in parallel, so the share of the wall
time is that figure over the run's wall time.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SEED_ENV = "SINKKIT_HYPOTHESIS_SEED"
#: the state-machine clause draws a random seed per run, and a run that finds a divergence
#: spends minutes shrinking it; one fixed seed makes the -n 1 and -n 2 runs do the same work
DEFAULT_SEED = "20261125"
_SUMMARY = re.compile(r"(\d+) (passed|failed|error|errors|xfailed|not applicable|skipped)")


def _env() -> dict[str, str]:
    return {**os.environ, SEED_ENV: seed(), "PYTHONPATH": os.pathsep.join(
        filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}


def seed() -> str:
    return os.environ.get(SEED_ENV) or DEFAULT_SEED


def run_lane(lane: str, workers: int, clauses: list[str], timeout_s: float | None = None,
             keyword: str | None = None) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:randomly", "-q",
           "-rfE", "-n", str(workers), "--pyargs", "sinkkit.conformance.suite",
           f"--sinkkit-harness={lane}", *[f"--sinkkit-clause={c}" for c in clauses],
           *(["-k", keyword] if keyword else [])]
    # from the project root, as nox runs a lane, so pyproject's pytest settings apply
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=timeout_s)
        timed_out = False
    except subprocess.TimeoutExpired:
        # the whole process group: xdist workers and any server they started
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate()
        timed_out = True
    wall = time.perf_counter() - start
    out = subprocess.CompletedProcess(cmd, proc.returncode, stdout, stderr)
    lines = out.stdout.strip().splitlines()
    tail = (f"stopped after {timeout_s:.0f} s (the profile's limit per run)" if timed_out
            else lines[-1] if lines else out.stderr[-300:])
    counts = {kind: int(n) for n, kind in _SUMMARY.findall(tail)}
    failed = [line.split(" ", 1)[1].split(" - ")[0] for line in lines
              if line.startswith(("FAILED ", "ERROR "))]
    return {"workers": workers, "wall_s": wall, "exit_code": out.returncode, "summary": tail,
            "counts": counts, "failed": failed, "timed_out": timed_out}


def time_start(lane: str) -> dict[str, Any]:
    """Seconds ``harness.start`` + ``stop`` take for ``lane`` in a fresh process."""
    out = subprocess.run([sys.executable, "-m", "benchmarks.suite_time", "start", lane],
                         cwd=ROOT, env=_env(), capture_output=True, text=True, check=False)
    if out.returncode:
        raise RuntimeError(f"timing {lane} harness.start failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_suite_timing(lanes: list[str], clauses: list[str], timeout_s: float | None = None,
                     keyword: str | None = None) -> dict[str, Any]:
    results: dict[str, Any] = {"hypothesis_seed": seed(), "keyword": keyword, "lanes": {}}
    for lane in lanes:
        prov = time_start(lane)
        runs = [run_lane(lane, n, clauses, timeout_s, keyword) for n in (1, 2)]
        for run in runs:
            run["provisioning_share"] = prov["start_s"] / run["wall_s"] if run["wall_s"] else 0
        one, two = runs
        results["lanes"][lane] = {**prov, "runs": runs,
                                  "speedup_2_vs_1": one["wall_s"] / two["wall_s"]}
        print(f"bench: suite {lane:<10} -n 1 {one['wall_s']:6.1f} s, -n 2 {two['wall_s']:6.1f} s,"
              f" provisioning {prov['start_s']:.1f} s  ({two['summary']})", flush=True)
    return results


def _start_child(lane: str) -> dict[str, Any]:
    from sinkkit.conformance.plugin import load_harness

    harness = load_harness(lane)
    with tempfile.TemporaryDirectory(prefix="sinkkit-bench-start-") as tmp:
        start = time.perf_counter()
        harness.start(Path(tmp), "gw0")
        started = time.perf_counter()
        harness.stop()
        stopped = time.perf_counter()
    return {"start_s": started - start, "stop_s": stopped - started}


if __name__ == "__main__":
    if sys.argv[1:2] != ["start"] or len(sys.argv) != 3:
        raise SystemExit("usage: python -m benchmarks.suite_time start LANE")
    print(json.dumps(_start_child(sys.argv[2])))
