"""What the per-transaction settings cost: ``python benchmarks/pg_settings.py [--calls N]``.

Point calls of the postgres sink on one embedded PostgreSQL 16, same run, rounds interleaved:
settings set once per pooled connection without prepared statements (the adapter before
preparedStatements existed: the baseline), ``preparedStatements: true`` (the same settings,
psycopg preparing repeated statements), ``false`` (set_config(..., true) in the same
simple-query message as every statement, the mode for transaction pooling), and ``false``
through a PgBouncer in transaction pooling when one is installed. Prints microseconds per call
(median and fastest of the rounds) and the median's ratio to the baseline; nothing is asserted.

"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sinkkit.adapters.postgres import open_postgres_sink  # noqa: E402
from sinkkit.adapters.postgres import sink as pg_sink  # noqa: E402
from sinkkit.fixtures import pgbouncer  # noqa: E402
from sinkkit.fixtures.postgres import PGSERVER_USER, _runs_as_root, provision_postgres  # noqa: E402

ROUNDS = 7
BASELINE = "session settings, nothing prepared (before 0007)"


def _open(dsn: str, schema: str, prepared: bool | None) -> Any:
    """``prepared`` None: the baseline, session settings with prepare_threshold=None, which no
    option gives any more (true prepares, false moves the settings into each statement)."""
    real = pg_sink._connect_kwargs
    if prepared is None:
        pg_sink._connect_kwargs = lambda config: {**real(config), "prepare_threshold": None}
    try:
        return open_postgres_sink({"type": "postgres", "connectionString": dsn, "options": {
            "schema": schema, "poolSize": 2, "preparedStatements": prepared is not False}})
    finally:
        pg_sink._connect_kwargs = real


def _operations(sink: Any) -> dict[str, Any]:
    sink.write_audit({"id": "p0", "type": "push", "timestamp": 0})
    sink.create_user({"username": "alice", "email": "a@example.com", "password": "x",
                      "gitAccount": "alice"})
    counter = iter(range(10**9))
    return {
        "get_push": lambda: sink.get_push("p0"),
        "find_user": lambda: sink.find_user("alice"),
        "write_audit": lambda: sink.write_audit({"id": f"w{next(counter)}", "type": "push",
                                                 "timestamp": 1}),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1000, help="calls per round (default 1000)")
    args = parser.parse_args()
    prov = provision_postgres(16, source="embedded", label="bench_settings")
    bouncer = None
    try:
        db = prov.create_database("bench_settings")
        targets = {BASELINE: (prov.dsn_for(db), None),
                   "preparedStatements true (session settings)": (prov.dsn_for(db), True),
                   "preparedStatements false (settings per statement)": (prov.dsn_for(db),
                                                                         False)}
        try:
            bouncer = pgbouncer.start_pgbouncer(
                prov.dsn, "transaction", Path(tempfile.mkdtemp(prefix="sinkkit-pgb-bench-")),
                run_as=PGSERVER_USER if _runs_as_root() else None)
            targets[f"false, through PgBouncer {bouncer.version_text} (transaction)"] = (
                bouncer.dsn_for(db), False)
        except pgbouncer.PgBouncerUnavailable as exc:
            print(f"(no PgBouncer row: {exc})")
        sinks, ops = {}, {}
        for i, (label, (dsn, prepared)) in enumerate(targets.items()):
            sinks[label] = _open(dsn, f"b{i}", prepared)
            ops[label] = _operations(sinks[label])
        timings: dict[tuple[str, str], list[float]] = {}
        for _ in range(ROUNDS):
            for label in targets:
                for name, call in ops[label].items():
                    start = time.perf_counter()
                    for _ in range(args.calls):
                        call()
                    timings.setdefault((label, name), []).append(
                        (time.perf_counter() - start) / args.calls * 1e6)
        print(f"{'mode':58} {'call':12} {'median':>7} {'fastest':>7} {'ratio':>6}  (us/call)")
        for (label, name), runs in timings.items():
            median = statistics.median(runs)
            ratio = median / statistics.median(timings[(BASELINE, name)])
            print(f"{label:58} {name:12} {median:7.0f} {min(runs):7.0f} {ratio:6.2f}")
        for sink in sinks.values():
            sink.close()
    finally:
        if bouncer is not None:
            bouncer.stop()
        prov.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
