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
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sinkkit.cli.seed import seed_fs
from sinkkit.cli.targets import postgres_url
from sinkkit.fixtures.postgres import provision_postgres

START, END = "<!-- sinkkit-copy:start -->", "<!-- sinkkit-copy:end -->"


def copy(source: str, dest: str) -> tuple[float, dict]:
    """Wall seconds and the JSON report; ``report["cpu_s"]`` is the process's user+sys CPU."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "sinkkit.cli.main", "copy", source, dest,
                           "--json"], capture_output=True, text=True, timeout=600)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode:
        raise SystemExit(f"sinkkit copy failed ({done.returncode}):\n{done.stderr[-2000:]}")
    report = json.loads(done.stdout)
    report["cpu_s"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, report


def section(n: int, server: str, first: tuple[float, dict], again: tuple[float, dict],
            load: tuple[tuple[float, ...], tuple[float, ...]]) -> str:
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
        "| run | pushes | written | unchanged | verified | wall time | pushes/s | copy CPU |",
        "|---|---|---|---|---|---|---|---|",
        f"| first copy | {n:,} | {pushes['written']:,} | {pushes['unchanged']:,} | "
        f"{pushes['verified']:,} ({'all match' if report['verified'] else 'DIFFERENCES'}) | "
        f"{wall:.1f} s | {n / wall:,.0f} | {report['cpu_s']:.1f} s |",
        f"| same copy again | {n:,} | {rerun['written']:,} | {rerun['unchanged']:,} | "
        f"{rerun['verified']:,} ({'all match' if again[1]['verified'] else 'DIFFERENCES'}) | "
        f"{again[0]:.1f} s | {n / again[0]:,.0f} | {again[1]['cpu_s']:.1f} s |",
        "",
        f"Load average (1/5/15 min) at start {_load(load[0])}, at end {_load(load[1])}, on "
        f"{os.cpu_count()} cores. Copy CPU is the `sinkkit` process's user+sys time (the "
        "server's work is not in it); when the load average is above the core count the wall "
        "time mostly measures the wait for a CPU, and CPU time is the figure to compare.",
        "",
        END,
    ])


def _load(values: tuple[float, ...]) -> str:
    return " / ".join(f"{v:.2f}" for v in values)


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
        dest = postgres_url(prov.dsn_for(name))
        with tempfile.TemporaryDirectory() as tmp:
            store = Path(tmp) / "db"
            seed_fs(store, args.pushes)
            load_start = os.getloadavg()
            first = copy(f"fs:{store}", dest)
            again = copy(f"fs:{store}", dest)
        prov.drop_database(name)
        text = section(args.pushes, f"PostgreSQL {prov.server_version} ({prov.source})",
                       first, again, (load_start, os.getloadavg()))
        print(text)
        if args.markdown:
            write_section(args.markdown, text)
    finally:
        prov.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
