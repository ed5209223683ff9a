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
from typing import Any

from sinkkit.conformance.clauses import CLAUSES, KIT_CLAUSES, RESOURCES
from sinkkit.conformance.docgen import clause_tests
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
#: the reference column still taken from the clause notes: upstream mongo needs a server, so it is
#: measured only by the GitHub job; fs and PostgreSQL columns are measured (``measured_upstream``)
UPSTREAM_COLUMNS = ("upstream mongo (notes)",)


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


def columns_from_matrix(data: dict) -> list[Column]:
    """The backend columns of an earlier ``parity.json``: re-rendering after an upstream record
    changed needs no lane to run again."""
    columns = []
    for spec in data["columns"]:
        column = Column(spec["label"], list(spec["reports"]), spec["harness"],
                        list(spec["backends"]), list(spec["suite_versions"]))
        for row in data["clauses"]:
            if row["clause"] in CLAUSES:
                column.outcomes[row["clause"]] = row["backends"].get(spec["label"], "not run")
        columns.append(column)
    return columns


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


@dataclass
class UpstreamColumn:
    """A git-proxy sink as measured by an upstream lane: its recorded divergences."""

    label: str
    record: str
    failing: dict[str, str]
    not_applicable: set[str]
    not_implemented: set[str] = field(default_factory=set)

    def cell(self, clause_id: str) -> str:
        if clause_id in self.not_implemented:
            return "not implemented"
        if clause_id in self.failing:
            return "fail"
        return "n/a" if clause_id in self.not_applicable else "pass"


def measured_upstream(records: Iterable[Any] | None = None) -> list[UpstreamColumn]:
    """One column per recorded upstream lane (``upstream/divergences/*.json``)."""
    if records is None:
        from sinkkit.upstream.records import every_record

        records = every_record()
    return [UpstreamColumn(f"upstream {r.name}", r.name,
                           {c: e["reason"] for c, e in r.clauses.items()}, set(r.not_applicable),
                           {c for c, e in r.clauses.items()
                            if e.get("outcome") == "not implemented"})
            for r in records]


def _upstream_md(column: UpstreamColumn, clause_id: str) -> str:
    cell = MARKS[column.cell(clause_id)]
    if column.cell(clause_id) in ("fail", "not implemented"):
        return f"[{cell}](upstream.md#{column.record.replace('@', '')})"
    return cell


def matrix(columns: list[Column], upstream: list[UpstreamColumn] | None = None) -> dict:
    """The parity matrix as JSON: clause rows, backend columns, upstream reference columns."""
    rows = []
    for clause_id, clause in CLAUSES.items():
        rows.append({
            "clause": clause_id,
            "resource": clause.resource,
            "provisional": clause.provisional,
            "backends": {c.label: c.cell(clause_id) for c in columns},
            "upstream": {"fs": clause.upstream_fs, "mongo": clause.upstream_mongo},
            "measured_upstream": {u.label: {"outcome": u.cell(clause_id),
                                            **({"reason": u.failing[clause_id]}
                                               if clause_id in u.failing else {})}
                                  for u in upstream or ()},
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


def render_markdown(columns: list[Column], upstream: list[UpstreamColumn] | None = None) -> str:
    return "\n".join(_markdown_lines(columns, upstream or [])).rstrip("\n") + "\n"


def _markdown_lines(columns: list[Column], upstream: list[UpstreamColumn]) -> Iterator[str]:
    yield "# Parity across backends"
    yield ""
    yield ("<!-- Generated by `python -m sinkkit.tooling.parity` from the lanes' clause "
           "reports. Do not edit. -->")
    yield ""
    yield (
        f"Suite version {SUITE_VERSION}, {len(CLAUSES)} clauses. One column per backend this "
        "kit tested; then git-proxy's own sinks as measured by the upstream lanes (one column "
        "per recorded lane; each failure links to its reason and reproduction in "
        "[upstream.md](upstream.md)); the last column is a reference, not a test result: it "
        "quotes the [contract](contract.md)'s notes on how git-proxy's mongo backend behaves "
        "where it diverges from the clause (blank: it agrees, or upstream does not test it), "
        "until the GitHub job `upstream` records it."
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
    if upstream:
        yield "| Upstream lane | Record | Totals |"
        yield "| --- | --- | --- |"
        for u in upstream:
            counts: dict[str, int] = {}
            for clause_id in CLAUSES:
                counts[u.cell(clause_id)] = counts.get(u.cell(clause_id), 0) + 1
            shown = ", ".join(f"{counts[k]} {k}" for k in ("fail", "not implemented", "n/a", "pass")
                              if k in counts)
            yield (f"| {u.label} | [`upstream/divergences/{u.record}.json`]"
                   f"(upstream.md#{u.record.replace('@', '')}) | {shown} |")
        yield ""
    header = ["Clause", "Tests", *(c.label for c in columns), *(u.label for u in upstream),
              *UPSTREAM_COLUMNS]
    tests = clause_tests()
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
            measured = [_upstream_md(u, clause_id) for u in upstream]
            # module::test, read from the @clause marks: one hop from a verdict to its test
            where = "<br>".join(f"`{Path(f).name}::{t}`" for f, t, _ in tests.get(clause_id, []))
            yield "| " + " | ".join([name, where, *cells, *measured,
                                     _md_cell(clause.upstream_mongo)]) + " |"
        yield ""
    yield from _kit_clause_lines()


def _kit_clause_lines() -> Iterator[str]:
    if not KIT_CLAUSES:
        return
    yield "## Checked by the kit itself"
    yield ""
    yield ("These clauses are about the kit's own `open_sink` (no adapter takes part), so they "
           "have no backend columns: the kit's own tests check them once.")
    yield ""
    tests = clause_tests()
    for clause_id in KIT_CLAUSES:
        where = ", ".join(f"`{Path(f).name}::{t}`" for f, t, _ in tests.get(clause_id, []))
        yield f"- [`{clause_id}`](contract.md#{clause_id}): {where}"
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
    parser.add_argument("--matrix", type=Path,
                        help="take the backend columns from an earlier parity.json instead of "
                             "reports (re-renders the upstream columns from their records)")
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
        if args.matrix:
            columns = columns_from_matrix(json.loads(args.matrix.read_text(encoding="utf-8")))
        else:
            columns = build_columns(report_files(sources), expected=expected)
    except ReportError as exc:
        print(f"parity: {exc}", file=sys.stderr)
        return 2
    if not any(c.sources for c in columns):
        print(f"parity: no clause reports under {', '.join(map(str, sources))}; run the lanes "
              "first (nox -s <lane>) or pass --run", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    upstream = measured_upstream()
    (args.out / "parity.md").write_text(render_markdown(columns, upstream), encoding="utf-8")
    (args.out / "parity.json").write_text(
        json.dumps(matrix(columns, upstream), indent=2, ensure_ascii=False) + "\n",
        encoding="utf-8")
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
