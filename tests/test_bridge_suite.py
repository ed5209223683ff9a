"""The whole suite through the bridge: a good peer passes, a broken, hung or dying one is named.

Each test runs pytest in a subprocess with ``--sinkkit-report`` and reads the JSON clause report.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PY_PEER = shlex.join([sys.executable, str(ROOT / "examples/bridge-python/peer.py")])
NODE_PEER = shlex.join(["node", str(ROOT / "examples/bridge-node/peer.js")])
#: generous bound on a whole subprocess run: a hung peer must be reported long before this
RUN_TIMEOUT = 600


def run_bridge_suite(command: str, tmp_path: Path, *extra: str,
                     env: dict[str, str] | None = None) -> tuple[subprocess.CompletedProcess, dict]:
    report = tmp_path / "report.json"
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:xdist", "-q",
           "--pyargs", "sinkkit.conformance.suite", f"--sinkkit-bridge={command}",
           f"--sinkkit-report={report}", *extra]
    proc = subprocess.run(cmd, env={**os.environ, **(env or {})}, capture_output=True, text=True,
                          timeout=RUN_TIMEOUT, cwd=tmp_path)
    assert report.exists(), f"no report written:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc, json.loads(report.read_text())


def outcomes(report: dict) -> dict[str, str]:
    return {cid: c["outcome"] for cid, c in report["clauses"].items()}


def details(report: dict, clause_id: str) -> str:
    return json.dumps(report["clauses"][clause_id])


def test_the_node_peer_passes_every_applicable_clause(tmp_path):
    if shutil.which("node") is None:
        pytest.fail("node is not on PATH: the Node.js bridge peer cannot be tested here")
    proc, report = run_bridge_suite(NODE_PEER, tmp_path)
    assert proc.returncode == 0, proc.stdout[-5000:]
    found = outcomes(report)
    assert "fail" not in found.values(), {c: o for c, o in found.items() if o == "fail"}
    assert found["bootstrap.reopen-keeps-data"] == "not applicable"
    assert found["repos.permissions.empty-list"] == "pass"
    assert "sinkkit clause report: harness bridge" in proc.stdout


def test_a_peer_that_breaks_a_clause_is_reported_by_that_clause(tmp_path):
    proc, report = run_bridge_suite(f"{PY_PEER} --break permissions-null", tmp_path,
                                    "--sinkkit-clause=repos.permissions")
    assert proc.returncode == 1, proc.stdout[-3000:]
    found = outcomes(report)
    assert found["repos.permissions.empty-list"] == "fail", proc.stdout[-3000:]
    assert found["repos.permissions.add-idempotent"] == "pass"


def test_a_peer_that_keeps_answering_after_close_fails_the_closed_sink_clause(tmp_path):
    # the kit's client refuses calls on a closed sink by itself; the clause must still ask the peer
    proc, report = run_bridge_suite(f"{PY_PEER} --break close-ignored", tmp_path,
                                    "--sinkkit-clause=bootstrap")
    assert proc.returncode == 1, proc.stdout[-3000:]
    assert outcomes(report)["bootstrap.closed-sink-unavailable"] == "fail"
    assert outcomes(report)["bootstrap.empty-store-ready"] == "pass"


def test_a_hung_peer_is_reported_within_the_timeout_naming_the_method(tmp_path):
    proc, report = run_bridge_suite(
        f"{PY_PEER} --hang-on getRepoPushRollupsByCanonicalUrl", tmp_path,
        "--sinkkit-clause=pushes.rollups", env={"SINKKIT_BRIDGE_TIMEOUT": "2"})
    assert proc.returncode == 1, proc.stdout[-3000:]
    found = outcomes(report)
    rollups = {c: o for c, o in found.items() if c.startswith("pushes.rollups")}
    assert set(rollups.values()) == {"fail"}, rollups
    assert "did not answer getRepoPushRollupsByCanonicalUrl within 2s" in details(
        report, "pushes.rollups.canonical-url")


def test_a_dying_peer_is_reported_with_its_exit_code_and_the_next_test_gets_a_new_one(tmp_path):
    proc, report = run_bridge_suite(f"{PY_PEER} --die-on deleteRepo", tmp_path,
                                    "--sinkkit-clause=repos")
    assert proc.returncode == 1, proc.stdout[-3000:]
    found = outcomes(report)
    assert found["repos.delete.removes"] == "fail"
    text = details(report, "repos.delete.removes")
    assert "deleteRepo" in text and "exit code 3" in text
    # the harness replaced the dead peer: clauses that never call deleteRepo still pass
    assert found["repos.permissions.empty-list"] == "pass"
    assert found["repos.update.merges-fields"] == "pass"
