"""Failover figures for docs/postgres-operator.md: ``python benchmarks/failover.py [--kills 5]``.

One PostgreSQL sink (never reopened) over a primary and a streaming standby
(``sinkkit.fixtures.failover.StreamingPair``, multi-host connection string). Per replication mode
(synchronous, then asynchronous) and per kill: a writer thread writes pushes as fast as they are
acknowledged; the primary's process group is SIGKILLed, the standby promoted at once with
``pg_ctl promote``, and the writer keeps going. Measured per kill:

- ``outage_s``: from the moment the primary's processes are all gone to the first acknowledged
  write started after it (what a git-proxy user sees, with the promotion issued at once; an
  orchestrator adds its own detection delay). ``kill_s``, the harness killing and reaping
  every process of the primary, is left out: a crash takes no time;
- ``promote_s``: ``pg_ctl promote -w``, from the dead primary to a standby that takes writes;
- ``reconnect_s``: from the end of the promotion to that write (the sink's own part);
- ``lost``: writes acknowledged before the kill that the promoted standby does not hold.

Then the lost node is rebuilt as a standby of the new primary (not timed) and the next kill
starts. Prints one line per kill and a summary (medians); ``--json PATH`` writes every figure.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def _writer(sink: Any, stop: threading.Event, acked: list[tuple[float, float, str]],
            prefix: str) -> None:
    from sinkkit.conformance.errors import Unavailable

    n = 0
    while not stop.is_set():
        push_id = f"{prefix}{n:06d}"
        n += 1
        started = time.monotonic()
        try:
            sink.write_audit({"id": push_id, "type": "push", "timestamp": n})
        except Unavailable:
            continue
        acked.append((started, time.monotonic(), push_id))


def one_kill(pair: Any, sink: Any, prefix: str, warmup: int) -> dict[str, Any]:
    acked: list[tuple[float, float, str]] = []
    stop = threading.Event()
    thread = threading.Thread(target=_writer, args=(sink, stop, acked, prefix), daemon=True)
    thread.start()
    while len(acked) < warmup:
        time.sleep(0.01)
    killed = time.monotonic()
    pair.kill_primary()
    dead = time.monotonic()  # the process group is gone: no write started after this is old
    pair.promote()
    promoted = time.monotonic()
    while not any(start >= promoted for start, _, _ in acked):
        time.sleep(0.005)
    stop.set()
    thread.join(60)
    first = min(done for start, done, _ in acked if start >= dead)
    # a write started before the kill finished may have been acknowledged by the old primary
    before = [i for start, done, i in acked if start < dead]
    lost = [i for i in before if sink.get_push(i) is None]
    return {"outage_s": round(first - dead, 3), "kill_s": round(dead - killed, 3),
            "promote_s": round(promoted - dead, 3),
            "reconnect_s": round(max(0.0, first - promoted), 3),
            "acked_before_kill": len(before), "lost": len(lost)}


def run(kills: int, version: int, warmup: int) -> dict[str, Any]:
    from sinkkit.adapters.postgres import open_postgres_sink
    from sinkkit.fixtures.failover import StreamingPair

    results: dict[str, Any] = {"kills": kills, "postgres": version, "modes": {}}
    for mode in ("synchronous", "asynchronous"):
        pair = StreamingPair(version, label=f"bench-{mode}",
                             synchronous=mode == "synchronous").start()
        try:
            sink = open_postgres_sink({"type": "postgres", "connectionString": pair.dsn,
                                       "options": {"schema": "bench", "poolSize": 4}})
            rows = []
            for k in range(kills):
                row = one_kill(pair, sink, f"{mode[0]}{k}-", warmup)
                print(f"{mode:12} kill {k + 1}: {row}", flush=True)
                rows.append(row)
                pair.restore()
                pair.set_synchronous(mode == "synchronous")
            sink.close()
        finally:
            pair.close()
        results["modes"][mode] = {
            "rows": rows,
            "median_outage_s": statistics.median(r["outage_s"] for r in rows),
            "median_reconnect_s": statistics.median(r["reconnect_s"] for r in rows),
            "max_outage_s": max(r["outage_s"] for r in rows),
            "lost_total": sum(r["lost"] for r in rows),
            "acked_before_kill_total": sum(r["acked_before_kill"] for r in rows),
        }
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=5, help="kills per mode (default 5)")
    parser.add_argument("--version", type=int, default=16, choices=(16, 18))
    parser.add_argument("--warmup", type=int, default=200,
                        help="writes acknowledged before each kill (default 200)")
    parser.add_argument("--json", type=Path, help="write every figure here")
    args = parser.parse_args(argv)
    # every kill makes the pool log its failed reconnects; the figures are what this prints
    logging.getLogger("psycopg.pool").setLevel(logging.CRITICAL)
    results = run(args.kills, args.version, args.warmup)
    for mode, fig in results["modes"].items():
        print(f"{mode}: median outage {fig['median_outage_s']:.2f}s (max "
              f"{fig['max_outage_s']:.2f}s), median reconnect after promotion "
              f"{fig['median_reconnect_s']:.2f}s, {fig['lost_total']} of "
              f"{fig['acked_before_kill_total']} acknowledged writes lost over {args.kills} kills")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
