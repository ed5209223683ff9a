"""Point operations per adapter, and for postgres the same SQL through raw psycopg."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any

from benchmarks import pg_raw
from benchmarks.backends import Backend
from benchmarks.timing import interleaved, paired_ratio
from benchmarks.workload import POINT_OPS, REPOS, Workload, sink_ops


def breakdown(sink: Any, captured: dict[str, Any], wire: dict[str, Any], w: Workload,
              profile: dict[str, Any]) -> dict[str, float]:
    """Where the adapter's extra time per call goes, in microseconds, measured piece by piece."""
    import json

    from sinkkit.adapters.postgres import jsonio
    from sinkkit.core import rules

    pool = getattr(sink, "_pool", None)
    if pool is None:
        return {}
    query = captured["get_push"][0]
    ids = w.lookup_ids()

    def via_pool() -> object:
        # the adapter's own plumbing: pool checkout, staleness check, error mapping
        with sink._connection() as conn:
            return sink._wire.run(conn, query, (next(ids),), True)

    rounds, round_s = profile["pg_rounds"], profile["pg_round_s"]
    path = interleaved({"pool": via_pool, "held": wire["get_push"]}, rounds, round_s,
                       same_batch=True)
    doc = w.settled[0]
    pieces = interleaved({"check_push": lambda: rules.check_push(doc),
                          "jsonio_dumps": lambda: jsonio.dumps(doc),
                          "json_dumps": lambda: json.dumps(doc)}, rounds // 4 or 1, round_s)
    us = {k: v.median_ns / 1e3 for k, v in {**path, **pieces}.items()}
    return {"pool_checkout_us": us["pool"] - us["held"],
            "held_connection_get_push_us": us["held"],
            "check_push_us": us["check_push"],
            "jsonio_dumps_us": us["jsonio_dumps"], "json_dumps_us": us["json_dumps"]}


@contextmanager
def pinned(conn: Any, extra: Sequence[int] = ()) -> Iterator[str]:
    """Pin this process to the first CPU and every server backend of this database (the
    adapter's pooled connections and the raw ones) to the last, for the duration.

    Unpinned, the scheduler places each backend process on its own; a client and backend that
    happen to share a core answer a point query up to twice as fast as a pair that does not,
    and that placement, fixed per connection for a whole run, moved the adapter/raw ratio of a
    single operation between 52 % and 88 % from one run to the next. ``extra`` client processes
    (the upstream driver) share the first CPU with this one. Yields what was done; a
    server on another host, or a single CPU, leaves everything as it was.
    """
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    pids = [r[0] for r in conn.execute(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database()").fetchall()]
    if len(cpus) < 2:
        yield "not pinned: one CPU"
        return
    before = {}
    for pid in pids:
        try:
            before[pid] = os.sched_getaffinity(pid)
        except OSError:
            yield "not pinned: the server's backends are not processes on this machine"
            return
    mine = os.sched_getaffinity(0)
    clients = {pid: os.sched_getaffinity(pid) for pid in extra}
    try:
        os.sched_setaffinity(0, {cpus[0]})
        for pid in clients:
            os.sched_setaffinity(pid, {cpus[0]})
        for pid in before:
            os.sched_setaffinity(pid, {cpus[-1]})
        yield (f"client on CPU {cpus[0]}, the {len(before)} server backends of the benchmark "
               f"database on CPU {cpus[-1]}")
    finally:
        os.sched_setaffinity(0, mine)
        for pid, affinity in {**clients, **before}.items():
            with suppress(OSError):
                os.sched_setaffinity(pid, affinity)


def run_points(backend: Backend, profile: dict[str, Any]) -> dict[str, Any]:
    """ops/s of every point op on a seeded sink; postgres adds raw-driver figures and ratios."""
    sink, slot = backend.open("points")
    w = Workload(pushes=profile["seed_pushes"], repos=profile.get("repos", REPOS))
    w.seed(sink)
    ops = sink_ops(sink, w)
    listed = len(sink.get_pushes())
    result: dict[str, Any] = {"seeded_pushes": w.pushes, "listed_by_default": listed, "ops": {}}
    if backend.name != "postgres":
        for name in POINT_OPS:
            stats = interleaved({"adapter": ops[name]}, profile["rounds"], profile["round_s"])
            result["ops"][name] = {"adapter": stats["adapter"].as_dict()}
        return result

    dsn, schema = backend.pg_target(slot)
    raw_conn = pg_raw.connect(dsn, schema, prepared=False)
    prep_conn = pg_raw.connect(dsn, schema, prepared=True)
    wire_conn = pg_raw.connect(dsn, schema, prepared=True)
    try:
        captured = pg_raw.capture_sql(sink, ops, raw_conn)
        raw = pg_raw.raw_ops(raw_conn, captured, w)
        prepared = pg_raw.raw_ops(prep_conn, captured, w)
        wire = pg_raw.raw_ops(wire_conn, captured, w, pg_raw.wire_runner(wire_conn))
        result["sql"] = {name: text for name, (text, _) in captured.items()}
        with pinned(raw_conn) as placement:
            result["placement"] = placement
            _compare(result, ops, raw, prepared, wire, profile)
            result["breakdown"] = breakdown(sink, captured, wire, w, profile)
    finally:
        raw_conn.close()
        prep_conn.close()
        wire_conn.close()
    return result


def _compare(result: dict[str, Any], ops: dict[str, Any], raw: dict[str, Any],
             prepared: dict[str, Any], wire: dict[str, Any], profile: dict[str, Any]) -> None:
    for name in POINT_OPS:
        samples: dict[str, list[float]] = {}
        stats = interleaved({"adapter": ops[name], "raw": raw[name],
                             "raw_prepared": prepared[name], "raw_wire": wire[name]},
                            profile["pg_rounds"], profile["pg_round_s"], samples,
                            same_batch=True)
        entry: dict[str, Any] = {k: s.as_dict() for k, s in stats.items()}
        # the target's figure: round-by-round ratios, robust to load on a shared machine
        for base in ("raw", "raw_prepared", "raw_wire"):
            paired = paired_ratio(samples["adapter"], samples[base])
            entry[f"adapter_vs_{base}"] = paired["median"]
            entry[f"adapter_vs_{base}_iqr"] = [paired["q1"], paired["q3"]]
        result["ops"][name] = entry
