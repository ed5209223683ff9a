"""The bench's comparison with git-proxy's own sinks (benchmarks/compare.py, upstream.py): it is
skipped in one line without a checkout, and with one it times every op on both sides over the
same stored workload. Shapes and counts only; no duration is asserted.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RUNNER = ROOT / "benchmarks" / "run.py"
sys.path.insert(0, str(ROOT))

from benchmarks.upstream import SNAPSHOTS_ENV, env_name, find_checkout  # noqa: E402
from benchmarks.workload import POINT_OPS  # noqa: E402

KINDS = ("postgres", "fs")


def _env_without_checkouts() -> dict[str, str]:
    drop = {SNAPSHOTS_ENV, *(env_name(k) for k in KINDS)}
    return {k: v for k, v in os.environ.items() if k not in drop}


def _run(tmp_path: Path, args: list[str], env: dict[str, str]) -> tuple[dict, str]:
    out_json = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, str(RUNNER), "--profile", "tiny", "--json", str(out_json),
         "--markdown", str(tmp_path / "bench.md"), "--plot", "", *args],
        cwd=tmp_path, capture_output=True, text=True, timeout=900, check=False, env=env)
    assert proc.returncode == 0, f"runner failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return json.loads(out_json.read_text()), proc.stdout


def test_without_a_checkout_the_upstream_side_is_skipped_in_one_line(tmp_path: Path) -> None:
    results, stdout = _run(tmp_path, ["--sections", "upstream", "--backends", "fs"],
                           _env_without_checkouts())

    skipped = [line for line in stdout.splitlines() if "skipped" in line]
    assert len(skipped) == 1 and "fs" in skipped[0], stdout
    assert "upstream" not in results["backends"]["fs"]


def test_a_bad_upstream_checkout_option_is_refused_by_name(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, str(RUNNER), "--upstream-checkout", "mongo=/x"],
                          capture_output=True, text=True, timeout=60, check=False)

    assert proc.returncode == 2 and "KIND=DIR" in proc.stderr


def _checkouts() -> dict[str, Path]:
    found = {}
    for kind in KINDS:
        path, _ = find_checkout(kind, {})
        if path is not None:
            found[kind] = path
    return found


def test_with_checkouts_every_op_is_timed_on_both_sides_over_the_same_store(
        tmp_path: Path) -> None:
    checkouts = _checkouts()
    if not checkouts:
        pytest.skip(f"no prepared git-proxy checkout: set {SNAPSHOTS_ENV} or "
                    f"{env_name('postgres')} / {env_name('fs')}")
    args = ["--sections", "upstream", "--backends", ",".join(checkouts)]
    for kind, path in checkouts.items():
        args += ["--upstream-checkout", f"{kind}={path}"]
    results, _ = _run(tmp_path, args, dict(os.environ))

    for kind in checkouts:
        up = results["backends"][kind]["upstream"]
        small, large = up["sizes"]
        expected = {f"get_pushes@{small}" if op == "get_pushes" else op for op in POINT_OPS}
        expected -= set(up["missing"])
        expected |= {f"get_pushes@{large}", "get_push x8", "write_audit x8"}
        assert set(up["rows"]) == expected, kind
        assert up["listed"] == {"kit": 50, "upstream": 50}, kind
        assert up["listed_large"] == {"kit": 50, "upstream": 50}, kind
        for row in up["rows"].values():
            assert row["kit"]["rounds"] == row["upstream"]["rounds"]
            assert row["kit"]["batch"] == row["upstream"]["batch"]
