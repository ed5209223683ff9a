"""The parity report: every clause against every backend, beside upstream git-proxy's own backends.

``python -m sinkkit.tooling.parity`` reads the clause reports lanes wrote (``reports/*.json``,
from ``--sinkkit-report``) and writes ``docs/parity.md`` and ``docs/parity.json``: one row per
clause, one column per backend (pass / fail / n/a / known divergence / not run), and two
reference columns, *upstream fs* and *upstream mongo*, taken from the clause notes (a note means
that upstream backend diverges from the clause; blank means it agrees or the point is untested).

``--run`` first runs every lane that can run on this machine (``LOCAL_LANES``, or ``--lanes``);
``--summary PATH`` appends a compact markdown summary (for ``$GITHUB_STEP_SUMMARY``).

A report file's column is its name without ``.json``; ``<column>--<anything>.json`` files (CI
names one per Python version, ``postgres16--py3.13.json``) share a column, which takes the worst
outcome among them.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sinkkit.conformance.clauses import CLAUSES, RESOURCES
from sinkkit.tooling.lanes import LANES, LOCAL_LANES, lane_env, lane_pytest_args

from sinkkit import SUITE_VERSION

#: report outcome -> what the matrix shows, worst first (a merged column keeps the worst)
CELLS: dict[str, str] = {
    "fail": "fail",
    "skipped": "skipped",
    "not implemented": "not implemented",
    "known divergence": "known divergence",
    "not applicable": "n/a",
    "pass": "pass",
    "not run": "not run",
}
#: markdown cell per outcome: a mark a reader can scan, and the word for screen readers / grep
MARKS: dict[str, str] = {
    "fail": "❌ fail",
    "skipped": "⚠️ skipped",
    "not implemented": "🔲 not implemented",
    "known divergence": "🟡 known divergence",
    "n/a": "⚪ n/a",
    "pass": "✅ pass",
    "not run": "· not run",
}
UPSTREAM_COLUMNS = ("upstream fs", "upstream mongo")


class ReportError(ValueError):
    """A report file that is not a sinkkit clause report."""


@dataclass
class Column:
    """One backend: the outcome of every clause, merged over the report files of its label."""

    label: str
    sources: list[str] = field(default_factory=list)
    harness: str = ""
    backends: list[str] = field(default_factory=list)
    suite_versions: list[str] = field(default_factory=list)
    outcomes: dict[str, str] = field(default_factory=dict)

    def add(self, source: str, report: dict) -> None:
        self.sources.append(source)
        self.harness = self.harness or report.get("harness", "")
        for line in report.get("backends", []):
            if line not in self.backends:
                self.backends.append(line)
        version = str(report.get("suite_version", ""))
        if version and version not in self.suite_versions:
            self.suite_versions.append(version)
        clauses = report.get("clauses", {})
        for clause_id in CLAUSES:
            raw = clauses.get(clause_id, {}).get("outcome", "not run")
            cell = CELLS.get(raw, "not run")
            previous = self.outcomes.get(clause_id)
            self.outcomes[clause_id] = cell if previous is None else _worse(previous, cell)

    def cell(self, clause_id: str) -> str:
        return self.outcomes.get(clause_id, "not run")


def _worse(a: str, b: str) -> str:
    order = list(CELLS.values())
    # a lane that did not run a clause in one file but did in another: keep what ran
    if a == "not run":
        return b
    if b == "not run":
        return a
    return a if order.index(a) <= order.index(b) else b


def column_label(path: Path) -> str:
    return path.stem.split("--", 1)[0]


def load_report(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ReportError(f"{path}: not readable as JSON ({exc})") from exc
    if not isinstance(data, dict) or not isinstance(data.get("clauses"), dict):
        raise ReportError(f"{path}: not a sinkkit clause report (no 'clauses' object)")
    return data


def report_files(sources: Iterable[Path]) -> list[Path]:
    """Report files named directly or found (recursively) under the given directories."""
    found: list[Path] = []
    for source in sources:
        if source.is_dir():
            found.extend(sorted(source.rglob("*.json")))
        elif source.is_file():
            found.append(source)
    return found


def _lane_rank(label: str) -> tuple[int, str]:
    lanes = list(LANES)
    for i, lane in enumerate(lanes):
        if label == lane:
            return (i * 2, label)
    # CI labels such as postgres16 / mongo7 sort right after their lane
    prefix = max((lane for lane in lanes if label.startswith(lane)), key=len, default=None)
    return ((lanes.index(prefix) * 2 + 1) if prefix else len(lanes) * 2, label)


def build_columns(files: Iterable[Path], expected: Iterable[str] = ()) -> list[Column]:
    """Columns from report files, plus an all-"not run" column for each expected label absent."""
    columns: dict[str, Column] = {}
    for path in files:
        label = column_label(path)
        columns.setdefault(label, Column(label)).add(path.name, load_report(path))
    for label in expected:
        columns.setdefault(label, Column(label))
    return [columns[k] for k in sorted(columns, key=_lane_rank)]


def matrix(columns: list[Column]) -> dict:
    """The parity matrix as JSON: clause rows, backend columns, upstream reference columns."""
    rows = []
    for clause_id, clause in CLAUSES.items():
        rows.append({
            "clause": clause_id,
            "resource": clause.resource,
            "provisional": clause.provisional,
            "backends": {c.label: c.cell(clause_id) for c in columns},
            "upstream": {"fs": clause.upstream_fs, "mongo": clause.upstream_mongo},
        })
    return {
        "suite_version": SUITE_VERSION,
        "columns": [
            {"label": c.label, "harness": c.harness, "backends": c.backends,
             "reports": sorted(c.sources), "suite_versions": c.suite_versions,
             "totals": totals(c)}
            for c in columns
        ],
        "clauses": rows,
    }


def totals(column: Column) -> dict[str, int]:
    counts = dict.fromkeys(CELLS.values(), 0)
    for clause_id in CLAUSES:
        counts[column.cell(clause_id)] += 1
    return {k: v for k, v in counts.items() if v}


def _md_cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _totals_line(column: Column) -> str:
    return ", ".join(f"{v} {k}" for k, v in totals(column).items())


def render_markdown(columns: list[Column]) -> str:
    return "\n".join(_markdown_lines(columns)).rstrip("\n") + "\n"


def _markdown_lines(columns: list[Column]) -> Iterator[str]:
    yield "# Parity across backends"
    yield ""
    yield ("<!-- Generated by `python -m sinkkit.tooling.parity` from the lanes' clause "
           "reports. Do not edit. -->")
    yield ""
    yield (
        f"Suite version {SUITE_VERSION}, {len(CLAUSES)} clauses. One column per backend this "
        "kit tested; the last two columns are references, not test results: they quote the "
        "[contract](contract.md)'s notes on how git-proxy's own fs and mongo backends behave "
        "where they diverge from the clause (blank: they agree, or upstream does not test it)."
    )
    yield ""
    yield "## Backends"
    yield ""
    yield "| Column | Harness | Backend | Reports | Totals |"
    yield "| --- | --- | --- | --- | --- |"
    for c in columns:
        # one line per xdist worker is common; the JSON keeps them all
        backend = (c.backends[0] + (f" (+{len(c.backends) - 1} more)"
                                    if len(c.backends) > 1 else "")) if c.backends else "—"
        reports = ", ".join(f"`{s}`" for s in sorted(c.sources)) or "none (not run)"
        yield (f"| {c.label} | {c.harness or '—'} | {_md_cell(backend)} | {reports} | "
               f"{_totals_line(c)} |")
    yield ""
    header = ["Clause", *(c.label for c in columns), *UPSTREAM_COLUMNS]
    for resource, title in RESOURCES.items():
        ids = [i for i, c in CLAUSES.items() if c.resource == resource]
        if not ids:
            continue
        yield f"## {title}"
        yield ""
        yield "| " + " | ".join(header) + " |"
        yield "|" + " --- |" * len(header)
        for clause_id in ids:
            clause = CLAUSES[clause_id]
            cells = [MARKS[c.cell(clause_id)] for c in columns]
            name = f"[`{clause_id}`](contract.md#{clause_id})"
            if clause.provisional:
                name += " (provisional)"
            yield "| " + " | ".join([name, *cells, _md_cell(clause.upstream_fs),
                                     _md_cell(clause.upstream_mongo)]) + " |"
        yield ""


def render_summary(columns: list[Column]) -> str:
    """Markdown for a CI job summary: totals per backend and every clause that is not green."""
    lines = [f"## sinkkit parity (suite {SUITE_VERSION}, {len(CLAUSES)} clauses)", "",
             "| Backend | Totals |", "| --- | --- |"]
    lines += [f"| {c.label} | {_totals_line(c)} |" for c in columns]
    absent = [c.label for c in columns if not c.sources]
    if absent:
        lines += ["", f"No report from: {', '.join(absent)}."]
    trouble = [(i, c.label, c.cell(i)) for i in CLAUSES for c in columns
               if c.sources and c.cell(i) in ("fail", "skipped", "not implemented", "not run")]
    if trouble:
        lines += ["", "| Clause | Backend | Outcome |", "| --- | --- | --- |"]
        lines += [f"| `{i}` | {label} | {MARKS[cell]} |" for i, label, cell in trouble]
    else:
        lines += ["", "Every clause passes, is not applicable or is a known divergence on every "
                  "backend."]
    return "\n".join(lines) + "\n"


def run_lanes(lanes: Iterable[str], reports: Path, workers: str,
              timeout: float | None = None) -> dict[str, int | None]:
    """Run each lane's suite into ``reports/<lane>.json``; returns each lane's pytest exit code
    (None when it ran out of time: its partial report is dropped)."""
    reports.mkdir(parents=True, exist_ok=True)
    codes: dict[str, int | None] = {}
    for lane in lanes:
        target = reports / f"{lane}.json"
        target.unlink(missing_ok=True)  # a lane that crashes must not leave last run's report
        cmd = [sys.executable, "-m", "pytest", *lane_pytest_args(lane, str(target), workers)]
        print(f"parity: lane {lane}: {' '.join(cmd[1:])}", flush=True)
        codes[lane] = run_lane_process(cmd, {**os.environ, **lane_env(lane)}, timeout)
        if codes[lane] is None:
            target.unlink(missing_ok=True)
            print(f"parity: lane {lane}: stopped after {timeout:g} s", flush=True)
            continue
        state = "wrote " + str(target) if target.is_file() else "NO REPORT"
        print(f"parity: lane {lane}: pytest exit {codes[lane]}, {state}", flush=True)
    return codes


def run_lane_process(cmd: list[str], env: dict[str, str], timeout: float | None) -> int | None:
    """Run ``cmd`` in its own process group, so a lane that hangs is stopped with its xdist
    workers and the servers they started; None when ``timeout`` ran out."""
    proc = subprocess.Popen(cmd, env=env, start_new_session=True)
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        _stop_group(proc)
        return None


def _stop_group(proc: subprocess.Popen) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=20)
            return
        except subprocess.TimeoutExpired:
            continue


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sinkkit.tooling.parity",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--reports", type=Path, action="append",
                        help="report file or directory (repeatable; default: reports/)")
    parser.add_argument("--run", action="store_true",
                        help="first run each lane (default: every local lane) into reports/")
    parser.add_argument("--lanes", nargs="+", choices=list(LANES), metavar="LANE",
                        help=f"lanes to run and show (from: {', '.join(LANES)})")
    parser.add_argument("--out", type=Path, default=Path("docs"),
                        help="where parity.md and parity.json go (default: docs/)")
    parser.add_argument("--summary", type=Path, help="append a markdown summary to this file")
    parser.add_argument("--workers", default=os.environ.get("SINKKIT_WORKERS", "2"))
    parser.add_argument("--timeout", type=float,
                        default=float(os.environ.get("SINKKIT_LANE_TIMEOUT", "1800")),
                        help="seconds one lane may take with --run (default 1800)")
    parser.add_argument("--strict", action="store_true",
                        help="exit 1 when any clause fails (or is not implemented) on any "
                             "backend")
    args = parser.parse_args(argv)
    sources = args.reports or [Path("reports")]
    missing: list[str] = []
    expected = list(args.lanes or ())
    if args.run:
        expected = list(args.lanes or LOCAL_LANES)
        codes = run_lanes(expected, sources[0], args.workers, args.timeout)
        missing = [lane for lane in expected if not (sources[0] / f"{lane}.json").is_file()]
        for lane in missing:
            why = "timed out" if codes[lane] is None else f"pytest exit {codes[lane]}"
            print(f"parity: lane {lane} wrote no report ({why}): see its output above",
                  file=sys.stderr)
    try:
        columns = build_columns(report_files(sources), expected=expected)
    except ReportError as exc:
        print(f"parity: {exc}", file=sys.stderr)
        return 2
    if not any(c.sources for c in columns):
        print(f"parity: no clause reports under {', '.join(map(str, sources))}; run the lanes "
              "first (nox -s <lane>) or pass --run", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "parity.md").write_text(render_markdown(columns), encoding="utf-8")
    (args.out / "parity.json").write_text(
        json.dumps(matrix(columns), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"parity: {len(columns)} backends x {len(CLAUSES)} clauses -> "
          f"{args.out / 'parity.md'}, {args.out / 'parity.json'}")
    if args.summary:
        with args.summary.open("a", encoding="utf-8") as out:
            out.write(render_summary(columns))
    failing = any(c.cell(i) in ("fail", "not implemented") for c in columns for i in CLAUSES)
    if missing or (args.strict and failing):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
