"""The ``sinkkit`` command: ``check`` audits a store, ``copy`` moves one between backends.

Exit codes: 0 clean (check) or copied and verified (copy); 1 findings (check) or documents
refused or mismatched (copy); 2 a usage or configuration error, or a store that cannot be read.
Every message that names a store goes through the masked display form of its connection string.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sinkkit.cli.audit import RULES, audit, summarise
from sinkkit.cli.copy import DEFAULT_BATCH, CopyReport, run_copy
from sinkkit.cli.raw import read_raw
from sinkkit.cli.targets import Target, parse_target
from sinkkit.conformance.errors import SinkError
from sinkkit.core.config import mask_dsn

import sinkkit

EXIT_FOUND = 1
#: columns for tables written to a pipe or a CI log (a terminal uses its own width)
LOG_WIDTH = 160
EXIT_ERROR = 2


class _TargetParam(click.ParamType):
    name = "SOURCE"

    def convert(self, value: Any, param: Any, ctx: Any) -> Target:
        if isinstance(value, Target):
            return value
        try:
            return parse_target(str(value))
        except SinkError as exc:
            self.fail(str(exc), param, ctx)


TARGET = _TargetParam()


def _console(stderr: bool = False) -> Console:
    probe = Console(stderr=stderr)
    return probe if probe.is_terminal else Console(stderr=stderr, width=LOG_WIDTH)


def _fail(exc: BaseException) -> None:
    """Errors go to stderr whatever the output mode, so stdout stays a report or nothing."""
    _console(stderr=True).print(f"[red]error:[/red] {escape(mask_dsn(str(exc)))}", markup=True,
                                highlight=False)
    sys.exit(EXIT_ERROR)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(sinkkit.__version__, prog_name="sinkkit")
def cli() -> None:
    """Audit and migrate git-proxy stores (fs, MongoDB, PostgreSQL) against the Sink contract.

    SOURCE and DEST are a git-proxy proxy.config.json (its first enabled `sink` entry) or a URL:
    fs:./.data/db, postgresql://user:pw@host/db, mongodb://host/db.
    """


@cli.command()
@click.argument("source", type=TARGET)
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON.")
@click.option("--ignore", multiple=True, metavar="RULE",
              help="Do not report RULE (repeatable), e.g. pushes.id-mismatch.")
def check(source: Target, as_json: bool, ignore: tuple[str, ...]) -> None:
    """Audit SOURCE against the contract's invariants, reading it raw; writes nothing.

    Exits 1 when anything is found, so it can gate a CI job or a migration.
    """
    console = _console(stderr=as_json)
    unknown = sorted(set(ignore) - set(RULES))
    if unknown:
        raise click.BadParameter(f"unknown rule(s) {', '.join(unknown)}; rules: "
                                 f"{', '.join(RULES)}", param_hint="--ignore")
    try:
        store = read_raw(source)
    except SinkError as exc:
        _fail(exc)
    findings = [f for f in audit(store) if f.rule not in ignore]
    counts = {kind: len(docs) for kind, docs in store.docs.items()}
    if as_json:
        click.echo(json.dumps({"source": source.display, "backend": store.backend,
                               "documents": counts, "ok": not findings,
                               "counts": summarise(findings),
                               "findings": [f.as_json() for f in findings]}, indent=2))
    else:
        shown = ", ".join(f"{n} {kind}" for kind, n in counts.items())
        console.print(f"sinkkit check {source.display}: {shown}", highlight=False)
        if findings:
            table = Table("rule", "kind", "id", "detail", title=f"{len(findings)} finding(s)")
            for f in findings:
                table.add_row(f.rule, f.kind, escape(f.id), escape(f.detail))
            console.print(table)
        else:
            console.print("[green]no findings[/green]: the store meets every checked rule")
    sys.exit(EXIT_FOUND if findings else 0)


@cli.command()
@click.argument("source", type=TARGET)
@click.argument("dest", type=TARGET, metavar="DEST")
@click.option("--sessions", is_flag=True, help="Also copy live UI sessions.")
@click.option("--dry-run", is_flag=True, help="Read both sides and report; write nothing.")
@click.option("--batch-size", type=click.IntRange(1, 100_000), default=DEFAULT_BATCH,
              show_default=True, help="Pushes per batch (one transaction each on PostgreSQL).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def copy(source: Target, dest: Target, sessions: bool, dry_run: bool, batch_size: int,
         as_json: bool) -> None:
    """Copy users, repos, pushes, public keys and the migrations ledger from SOURCE to DEST.

    `_id`s are kept; what the contract normalises is normalised and itemised; refused documents
    are listed with the reason. Safe to run again: a rerun writes only what differs, so a copy
    that was killed is finished by running it again. Ends by reading DEST back and comparing.
    """
    console = Console(stderr=True)
    columns = (TextColumn("{task.description:>14}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())
    try:
        with Progress(*columns, console=console, transient=True,
                      disable=not console.is_terminal) as bar:
            tasks: dict[str, Any] = {}

            def progress(kind: str, done: int, total: int) -> None:
                if kind not in tasks:
                    tasks[kind] = bar.add_task(kind, total=total)
                bar.update(tasks[kind], completed=done, total=total)

            report = run_copy(source, dest, sessions=sessions, dry_run=dry_run,
                              batch=batch_size, progress=progress)
    except SinkError as exc:
        _fail(exc)
    if as_json:
        click.echo(json.dumps(report.as_json(), indent=2))
    else:
        _print_report(_console(), report)
    troubled = any(k.refused or k.mismatched for k in report.kinds.values())
    sys.exit(EXIT_FOUND if troubled else 0)


def _print_report(console: Console, report: CopyReport) -> None:
    verb = "would copy" if report.dry_run else "copied"
    console.print(f"sinkkit copy {report.source} -> {report.dest}", highlight=False)
    table = Table("kind", "source", "written", "unchanged", "changed", "refused", "verified",
                  title=f"{verb} in {report.elapsed_s:.1f} s")
    for k in report.kinds.values():
        verified = "-" if report.dry_run else (
            f"{k.verified}" if not k.mismatched else f"[red]{len(k.mismatched)} differ[/red]")
        table.add_row(k.kind, str(k.source), str(k.written), str(k.unchanged),
                      str(len(k.changed)), str(len(k.refused)), verified)
    console.print(table)
    for title, pick in (("changed by the contract's normalisation", "changed"),
                        ("refused", "refused"), ("differ after the copy", "mismatched")):
        rows = [(k.kind, i, r) for k in report.kinds.values() for i, r in getattr(k, pick)]
        if rows:
            detail = Table("kind", "id", "reason", title=f"{len(rows)} {title}")
            for row in rows:
                detail.add_row(*(escape(cell) for cell in row))
            console.print(detail)
    for note in report.notes:
        console.print(f"note: {note}", highlight=False)
    if not report.dry_run:
        console.print("[green]verified[/green]: the destination reads back as copied"
                      if report.ok else "[red]verification found differences[/red]")


def main() -> None:
    cli(prog_name="sinkkit")


if __name__ == "__main__":
    main()
