"""Smoke test of the benchmark runner: the tiny profile runs end to end and its JSON has the
documented shape. It checks what the benchmarks measured on (how many pushes were stored and
listed), never how long anything took.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNNER = ROOT / "benchmarks" / "run.py"
OPS = {"write_audit", "get_push", "get_pushes", "authorise", "add_user_can_push", "find_user",
       "session_get", "session_set"}
STATS = {"median_ns", "q1_ns", "q3_ns", "rounds", "batch", "ops_per_s", "iqr_pct"}
BACKENDS = {"memory", "fs", "postgres", "mongomock"}


def _run_tiny(tmp_path: Path) -> tuple[dict, str]:
    out_json, out_md = tmp_path / "bench.json", tmp_path / "bench.md"
    proc = subprocess.run(
        [sys.executable, str(RUNNER), "--profile", "tiny", "--json", str(out_json),
         "--markdown", str(out_md), "--plot", ""],
        cwd=tmp_path, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, f"runner failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return json.loads(out_json.read_text()), out_md.read_text()


def test_tiny_profile_writes_results_of_the_documented_shape(tmp_path: Path) -> None:
    results, markdown = _run_tiny(tmp_path)

    assert results["schema"] == 1 and results["profile"] == "tiny"
    assert {"date", "cpu_model", "cores", "python", "load_average_at_start",
            "load_average_at_end"} <= results["machine"].keys()
    assert set(results["backends"]) == BACKENDS

    for name, backend in results["backends"].items():
        ops = backend["points"]["ops"]
        assert set(ops) == OPS, name
        for entry in ops.values():
            assert entry["adapter"].keys() >= STATS
        # the seeded store keeps exactly one screen of pending pushes
        assert backend["points"]["listed_by_default"] == 50, name
        sizes = results["profile_settings"]["scale"][name]
        assert [p["stored"] for p in backend["scale"]] == sizes, name
        assert all(p["listed"] == 50 for p in backend["scale"]), name
        assert all(p["listed"] == p["stored"] for p in backend["all_pending"]), name

    pg = results["backends"]["postgres"]
    assert pg["server_version"]
    for op, entry in pg["points"]["ops"].items():
        assert {"raw", "raw_prepared", "adapter_vs_raw", "adapter_vs_raw_prepared"} <= entry.keys()
        assert pg["points"]["sql"][op].strip()
    breakdown = pg["points"]["breakdown"]
    assert breakdown.keys() >= {"pool_checkout_us", "check_push_us", "jsonio_dumps_us"}
    assert all(p["plan"] and p["raw_median_ns"] for p in pg["scale"])
    assert all(p["open_s"] is not None and p["datafile_bytes"] > 0
               for p in results["backends"]["fs"]["scale"])

    fs_open = results["fs_open"]
    assert fs_open["stored"] == fs_open["pushes"]
    assert 0 < fs_open["bytes_after_compaction"] < fs_open["bytes_before_compaction"]

    assert results["suite"]["hypothesis_seed"]
    lane = results["suite"]["lanes"]["memory"]
    assert [r["workers"] for r in lane["runs"]] == [1, 2]
    assert all(r["exit_code"] == 0 and r["counts"].get("passed") for r in lane["runs"])

    targets = {t["target"] for t in results["targets"]}
    assert any("write_audit" in t for t in targets)
    # tiny stores no 100 000 push point, so the scale target is not judged
    assert not any("100 000" in t for t in targets)

    assert "## Targets" in markdown and "## Machine" in markdown
