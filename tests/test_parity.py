"""The parity report over synthetic clause reports: columns, merged outcomes, reference columns,
the files it writes, the job summary, and how it runs lanes."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from sinkkit.conformance.clauses import CLAUSES
from sinkkit.tooling import parity
from sinkkit.tooling.lanes import LANES, LOCAL_LANES, lane_env

IDS = list(CLAUSES)
A, B, C, D = IDS[:4]
FS_NOTED = next(i for i, c in CLAUSES.items() if c.upstream_fs and not c.upstream_mongo)
MONGO_NOTED = next(i for i, c in CLAUSES.items() if c.upstream_mongo and not c.upstream_fs)


def report(outcomes: dict[str, str], harness: str = "h", backend: str = "b") -> dict:
    """A clause report shaped like ``ClauseOutcomes.as_json``; clauses not named are absent."""
    return {
        "kit_version": "0.1.0", "suite_version": "1.0", "harness": harness,
        "backends": [backend], "capabilities": {}, "summary": {},
        "clauses": {i: {"outcome": o, "statement": CLAUSES[i].statement, "tests": {},
                        "details": {}} for i, o in outcomes.items()},
    }


def write(folder: Path, name: str, data: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(json.dumps(data))
    return path


@pytest.fixture
def reports(tmp_path: Path) -> Path:
    folder = tmp_path / "reports"
    write(folder, "memory.json", report(
        {A: "pass", B: "pass", C: "not applicable", D: "pass"}, "memory", "memory model"))
    write(folder, "mongomock.json", report(
        {A: "pass", B: "known divergence", C: "fail", D: "skipped"}, "mongomock", "mongomock 4"))
    # one CI column from two Python versions: the worst outcome wins, "not run" yields
    write(folder / "lane-pg16-py3.10", "postgres16--py3.10.json", report(
        {A: "pass", B: "fail", C: "pass"}, "postgres", "PostgreSQL 16.4"))
    write(folder / "lane-pg16-py3.13", "postgres16--py3.13.json", report(
        {A: "pass", B: "pass", C: "pass", D: "pass"}, "postgres", "PostgreSQL 16.4"))
    return folder


def test_the_matrix_has_one_column_per_backend_in_lane_order(reports):
    columns = parity.build_columns(parity.report_files([reports]))
    assert [c.label for c in columns] == ["memory", "postgres16", "mongomock"]
    memory, pg16, _ = columns
    assert memory.harness == "memory" and memory.backends == ["memory model"]
    assert pg16.sources == ["postgres16--py3.10.json", "postgres16--py3.13.json"]
    assert pg16.backends == ["PostgreSQL 16.4"]


def test_cells_show_each_outcome_and_merge_the_worst(reports):
    columns = {c.label: c for c in parity.build_columns(parity.report_files([reports]))}
    assert [columns["memory"].cell(i) for i in (A, B, C, D)] == ["pass", "pass", "n/a", "pass"]
    assert [columns["mongomock"].cell(i) for i in (A, B, C, D)] == [
        "pass", "known divergence", "fail", "skipped"]
    assert [columns["postgres16"].cell(i) for i in (A, B, C, D)] == [
        "pass", "fail", "pass", "pass"]
    assert columns["memory"].cell(IDS[4]) == "not run"


def test_the_json_matrix_has_every_clause_and_the_upstream_reference_columns(reports):
    data = parity.matrix(parity.build_columns(parity.report_files([reports])))
    rows = {r["clause"]: r for r in data["clauses"]}
    assert list(rows) == IDS
    assert rows[B]["backends"] == {
        "memory": "pass", "postgres16": "fail", "mongomock": "known divergence"}
    assert rows[FS_NOTED]["upstream"] == {"fs": CLAUSES[FS_NOTED].upstream_fs, "mongo": ""}
    assert rows[MONGO_NOTED]["upstream"]["mongo"] == CLAUSES[MONGO_NOTED].upstream_mongo
    totals = {c["label"]: c["totals"] for c in data["columns"]}
    assert totals["memory"] == {"n/a": 1, "pass": 3, "not run": len(IDS) - 4}


def test_the_markdown_has_a_row_per_clause_and_the_reference_notes(reports):
    text = parity.render_markdown(parity.build_columns(parity.report_files([reports])))
    assert "| Clause | Tests | memory | postgres16 | mongomock | upstream mongo (notes) |" in text
    row = next(line for line in text.splitlines() if f"[`{C}`]" in line)
    assert row.split(" | ")[2:5] == ["⚪ n/a", "✅ pass", "❌ fail"]
    mongo_row = next(line for line in text.splitlines() if f"[`{MONGO_NOTED}`]" in line)
    note = " ".join(CLAUSES[MONGO_NOTED].upstream_mongo.split()).replace("|", "\\|")
    assert mongo_row.endswith(f"| {note} |")
    assert sum(line.startswith("| [`") for line in text.splitlines()) == len(IDS)
    assert parity.render_markdown(parity.build_columns(parity.report_files([reports]))) == text


def _record(**clauses):
    from sinkkit.upstream.records import Record

    return Record(name="fs@0123abcd", lane="fs", commit="0123abcd" * 5,
                  not_applicable=[C], clauses={k: {"reason": v} for k, v in clauses.items()})


def test_a_measured_upstream_column_shows_each_recorded_failure_with_a_link(reports):
    upstream = parity.measured_upstream([_record(**{B: "listing returns whole documents"})])
    text = parity.render_markdown(parity.build_columns(parity.report_files([reports])), upstream)
    assert "| upstream fs@0123abcd |" in text.splitlines()[
        next(i for i, line in enumerate(text.splitlines()) if line.startswith("| Clause |"))]
    cells = {cid: next(line for line in text.splitlines() if f"[`{cid}`]" in line)
             for cid in (A, B, C)}
    assert "[❌ fail](upstream.md#fs0123abcd)" in cells[B]
    assert "⚪ n/a" in cells[C].split(" | ")[5]
    assert cells[A].split(" | ")[5] == "✅ pass"


def test_the_json_matrix_carries_the_measured_upstream_outcome_and_reason(reports):
    upstream = parity.measured_upstream([_record(**{B: "listing returns whole documents"})])
    data = parity.matrix(parity.build_columns(parity.report_files([reports])), upstream)
    rows = {r["clause"]: r for r in data["clauses"]}
    assert rows[B]["measured_upstream"] == {"upstream fs@0123abcd": {
        "outcome": "fail", "reason": "listing returns whole documents"}}
    assert rows[A]["measured_upstream"] == {"upstream fs@0123abcd": {"outcome": "pass"}}


def test_a_lane_asked_for_but_without_a_report_is_a_not_run_column(reports):
    columns = parity.build_columns(parity.report_files([reports]), expected=["fs"])
    fs = next(c for c in columns if c.label == "fs")
    assert fs.sources == [] and {fs.cell(i) for i in IDS} == {"not run"}
    assert [c.label for c in columns].index("fs") == 1  # right after memory, by lane order


def test_main_writes_markdown_json_and_a_job_summary(reports, tmp_path, capsys):
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    out = tmp_path / "out"
    code = parity.main(["--reports", str(reports), "--out", str(out), "--summary", str(summary)])
    assert code == 0
    assert json.loads((out / "parity.json").read_text())["clauses"][0]["clause"] == A
    assert (out / "parity.md").read_text().startswith("# Parity across backends")
    text = summary.read_text()
    assert text.startswith("earlier step\n## sinkkit parity")
    assert f"| `{C}` | mongomock | ❌ fail |" in text
    assert f"| `{B}` | postgres16 | ❌ fail |" in text
    assert f"`{B}` | mongomock" not in text  # known divergences are not trouble
    assert "3 backends" in capsys.readouterr().out


def test_the_summary_names_lanes_without_a_report_once(reports, tmp_path):
    columns = parity.build_columns(parity.report_files([reports]), expected=["fs", "bridge"])
    text = parity.render_summary(columns)
    assert "No report from: fs, bridge." in text
    assert "| fs |" in text and "| fs | " not in text.split("| Clause |", 1)[1]
    assert f"| `{IDS[4]}` | memory | · not run |" in text


def test_strict_fails_on_a_failing_clause(reports, tmp_path):
    args = ["--reports", str(reports), "--out", str(tmp_path / "out")]
    assert parity.main(args) == 0
    assert parity.main([*args, "--strict"]) == 1


def test_no_reports_and_bad_reports_are_clear_errors(tmp_path, capsys):
    assert parity.main(["--reports", str(tmp_path / "none"), "--out", str(tmp_path)]) == 2
    assert "no clause reports" in capsys.readouterr().err
    write(tmp_path / "bad", "x.json", {"something": "else"})
    assert parity.main(["--reports", str(tmp_path / "bad"), "--out", str(tmp_path)]) == 2
    assert "not a sinkkit clause report" in capsys.readouterr().err
    (tmp_path / "bad" / "x.json").write_text("{not json")
    with pytest.raises(parity.ReportError, match="not readable as JSON"):
        parity.load_report(tmp_path / "bad" / "x.json")


def test_run_runs_each_lane_with_its_harness_and_environment(tmp_path, monkeypatch):
    calls = []

    def fake_run(cmd, env, timeout):
        calls.append((cmd, env))
        target = Path(next(a for a in cmd if a.startswith("--sinkkit-report=")).split("=", 1)[1])
        if "--sinkkit-harness=mongomock" not in cmd:  # mongomock "crashes": no report
            target.write_text(json.dumps(report({A: "pass"})))
        return 0 if target.exists() else 4

    monkeypatch.setattr(parity, "run_lane_process", fake_run)
    monkeypatch.setenv("SINKKIT_POSTGRES15_DSN", "postgresql://example/pg15")
    folder = tmp_path / "reports"
    write(folder, "mongomock.json", report({A: "pass"}))  # last run's report must not survive
    code = parity.main(["--run", "--lanes", "memory", "postgres15", "mongomock",
                        "--reports", str(folder), "--out", str(tmp_path / "out")])
    assert code == 1  # a lane that wrote no report fails the run
    assert [c[0][c[0].index("--pyargs") + 2] for c in calls] == [
        "--sinkkit-harness=memory", "--sinkkit-harness=postgres", "--sinkkit-harness=mongomock"]
    assert calls[1][1]["SINKKIT_POSTGRES_DSN"] == "postgresql://example/pg15"
    assert sorted(p.name for p in folder.iterdir()) == ["memory.json", "postgres15.json"]
    data = json.loads((tmp_path / "out" / "parity.json").read_text())
    assert [c["label"] for c in data["columns"]] == ["memory", "postgres15", "mongomock"]
    assert data["columns"][2]["reports"] == []


def test_a_lane_that_hangs_is_stopped_with_its_children_and_its_report_dropped(
        tmp_path, monkeypatch, capsys):
    pidfile = tmp_path / "child.pid"
    hang = (
        "import subprocess, sys, time, pathlib;"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)']);"
        f"pathlib.Path({str(pidfile)!r}).write_text(str(child.pid));"
        "time.sleep(600)"
    )
    real = parity.run_lane_process

    def hanging_lane(cmd, env, timeout):
        target = next(a for a in cmd if a.startswith("--sinkkit-report=")).split("=", 1)[1]
        Path(target).write_text(json.dumps(report({A: "pass"})))  # partial, or fs's whole one
        if "--sinkkit-harness=fs" in cmd:
            return 0
        return real([sys.executable, "-c", hang], env, timeout)

    monkeypatch.setattr(parity, "run_lane_process", hanging_lane)
    folder = tmp_path / "reports"
    code = parity.main(["--run", "--lanes", "memory", "fs", "--timeout", "3",
                        "--reports", str(folder), "--out", str(tmp_path / "out")])
    assert code == 1 and not (folder / "memory.json").exists()
    assert (folder / "fs.json").exists()
    assert "memory wrote no report (timed out)" in capsys.readouterr().err
    child = int(pidfile.read_text())
    with pytest.raises(ChildProcessError):  # not ours to reap: it must already be gone
        _wait_gone(child)


def _wait_gone(pid: int) -> None:
    """Raise ChildProcessError once ``pid`` no longer exists (polls; the group got SIGTERM)."""
    import os
    import time

    for _ in range(200):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            raise ChildProcessError(pid) from None
        time.sleep(0.05)


def test_the_lane_table_is_complete():
    assert set(LOCAL_LANES) <= set(LANES)
    assert lane_env("postgres15", {})["SINKKIT_POSTGRES_DSN"].startswith("postgresql://")
    assert lane_env("memory", {}) == {}


def test_each_clause_row_names_its_tests_from_the_suite_marks(reports):
    text = parity.render_markdown(parity.build_columns(parity.report_files([reports])))
    row = next(line for line in text.splitlines()
               if line.startswith("| [`repos.permissions.add-idempotent`]"))
    assert "`test_repos.py::test_adding_a_listed_user_again_changes_nothing`" in row


def test_kit_clauses_are_listed_with_their_kit_tests_and_no_backend_columns(reports):
    text = parity.render_markdown(parity.build_columns(parity.report_files([reports])))
    kit = text.split("## Checked by the kit itself", 1)[1]
    assert "`test_config_clauses.py::test_the_first_enabled_entry_is_opened`" in kit
    assert "| [`config." not in text


def test_columns_read_back_from_the_json_matrix_render_the_same_markdown(reports):
    columns = parity.build_columns(parity.report_files([reports]))
    again = parity.columns_from_matrix(json.loads(json.dumps(parity.matrix(columns))))
    assert parity.render_markdown(again) == parity.render_markdown(columns)
