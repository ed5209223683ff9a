"""Time ``sinkkit copy`` from an fs store of N pushes into PostgreSQL, through the real CLI.

    python benchmarks/cli_copy.py [--pushes 100000] [--markdown docs/benchmarks.md]

Seeds an fs directory (``sinkkit.cli.seed``), provisions PostgreSQL as the suite does
(``SINKKIT_POSTGRES_DSN``, else a container, else embedded PostgreSQL 16, durable settings
left as the server has them), runs ``sinkkit copy --json`` in a subprocess, and reports the wall
time, pushes per second and the verification result; then runs the same copy again (the
idempotency figure: everything unchanged). With ``--markdown`` the figures replace the section
between the ``sinkkit-copy`` markers in that file (``benchmarks/run.py`` keeps the section).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sinkkit.cli.seed import seed_fs
from sinkkit.fixtures.postgres import provision_postgres

START, END = "<!-- sinkkit-copy:start -->", "<!-- sinkkit-copy:end -->"


def copy(source: str, dest: str) -> tuple[float, dict]:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "sinkkit.cli.main", "copy", source, dest,
                           "--json"], capture_output=True, text=True, timeout=600)
    wall = time.perf_counter() - started
    if done.returncode:
        raise SystemExit(f"sinkkit copy failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return wall, json.loads(done.stdout)


def section(n: int, server: str, first: tuple[float, dict], again: tuple[float, dict]) -> str:
    wall, report = first
    pushes = next(k for k in report["kinds"] if k["kind"] == "pushes")
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    rerun = next(k for k in again[1]["kinds"] if k["kind"] == "pushes")
    return "\n".join([
        START,
        "## sinkkit copy: fs to PostgreSQL",
        "",
        f"`python benchmarks/cli_copy.py --pushes {n}` on {stamp}, {server}. Wall time of "
        "the whole `sinkkit copy --json` process (start-up, reading "
        "the fs store raw and through the adapter, batched writes, verification pass):",
        "",
        "| run | pushes | written | unchanged | verified | wall time | pushes/s |",
        "|---|---|---|---|---|---|---|",
        f"| first copy | {n:,} | {pushes['written']:,} | {pushes['unchanged']:,} | "
        f"{pushes['verified']:,} ({'all match' if report['verified'] else 'DIFFERENCES'}) | "
        f"{wall:.1f} s | {n / wall:,.0f} |",
        f"| same copy again | {n:,} | {rerun['written']:,} | {rerun['unchanged']:,} | "
        f"{rerun['verified']:,} ({'all match' if again[1]['verified'] else 'DIFFERENCES'}) | "
        f"{again[0]:.1f} s | {n / again[0]:,.0f} |",
        "",
        END,
    ])


def write_section(path: Path, text: str) -> None:
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    if START in old and END in old:
        head, _, rest = old.partition(START)
        new = head + text + rest.partition(END)[2]
    else:
        new = old.rstrip("\n") + "\n\n" + text + "\n"
    path.write_text(new, encoding="utf-8")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pushes", type=int, default=100_000)
    ap.add_argument("--markdown", type=Path)
    args = ap.parse_args()
    prov = provision_postgres(int(os.environ.get("SINKKIT_POSTGRES_VERSION", "16")),
                              label="cli_copy_bench")
    try:
        name = prov.create_database("sinkkit_copy_bench")
        dest = prov.dsn_for(name)
        with tempfile.TemporaryDirectory() as tmp:
            store = Path(tmp) / "db"
            seed_fs(store, args.pushes)
            first = copy(f"fs:{store}", dest)
            again = copy(f"fs:{store}", dest)
        prov.drop_database(name)
        text = section(args.pushes, f"PostgreSQL {prov.server_version} ({prov.source})",
                       first, again)
        print(text)
        if args.markdown:
            write_section(args.markdown, text)
    finally:
        prov.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
