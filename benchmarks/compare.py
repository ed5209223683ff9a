"""The kit's adapter against git-proxy's own sink: same storage, same workload, same run.

For postgres both sinks live on the benchmark's server, a schema each; for fs each keeps NeDB
datafiles in a directory of its own. Both are seeded with the same documents
(``workload.Workload``), then every point operation is timed in interleaved rounds, kit batch
then upstream batch with the same number of calls, the kit's in-process in Python and
upstream's inside Node (``benchmarks/upstream.py``); the figure is the median of the paired
rounds' throughput ratios, kit / upstream, with its IQR. Then both stores grow to the profile's
larger size with settled pushes only (the pending screen stays 50 long) and the default listing
is compared again; last, ``CALLERS`` concurrent callers share each of ``CONCURRENT_OPS``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import ExitStack, nullcontext
from pathlib import Path
from typing import Any

from sinkkit.conformance.factories import make_attestation

from benchmarks.backends import Backend
from benchmarks.scale import STORES, Store, scale_pushes
from benchmarks.timing import interleaved, paired_ratio
from benchmarks.upstream import ConcurrentOp, UpstreamDriver, commit_of
from benchmarks.workload import PENDING, POINT_OPS, REPOS, Workload, grant_pairs, sink_ops

#: how many callers share the sink in the concurrency rows (git-proxy serves requests at once)
CALLERS = 8
CONCURRENT_OPS = ("get_push", "write_audit")
#: concurrent writeAudit calls while growing upstream's store (node-postgres pools 10)
LOAD_CONCURRENCY = 10
#: fs writes timed a second time with ``options.durability: os``, NeDB's own durability (the OS
#: decides when bytes reach disk): the equal-terms comparison; the default (fsync) stays the row
FS_WRITES = ("write_audit", "authorise", "add_user_can_push", "write_audit x8")
#: ops a kind's upstream sink does not have, and why (reported, never timed)
MISSING = {"fs": {op: "git-proxy's fs sink has no session store (express-session keeps "
                      "sessions in its MemoryStore)" for op in ("session_get", "session_set")}}


class KitCallers:
    """``CALLERS`` threads sharing one op: a batch of n calls is their wall time / n."""

    def __init__(self, op: Callable[[], object], callers: int = CALLERS):
        self.op, self.callers = op, callers
        self.pool = ThreadPoolExecutor(callers, thread_name_prefix="sinkkit-bench-caller")

    def batch_ns(self, n: int) -> float:
        shares = [n // self.callers + (1 if i < n % self.callers else 0)
                  for i in range(self.callers)]
        op = self.op

        def share(k: int) -> None:
            for _ in range(k):
                op()
        start = time.perf_counter_ns()
        done, _ = wait([self.pool.submit(share, k) for k in shares if k])
        elapsed = time.perf_counter_ns() - start
        for future in done:
            future.result()  # a caller's error ends the run, never a silently short batch
        return elapsed / n

    def close(self) -> None:
        self.pool.shutdown(wait=True)


def _streams(w: Workload, repo_ids: list[str]) -> dict[str, Any]:
    """The argument streams of ``workload.sink_ops``, for the upstream driver to cycle."""
    return {"settled": w.settled, "ids": w.push_ids,
            "reviews": [doc["id"] for doc in w.settled],
            "grants": [list(g) for g in grant_pairs(repo_ids)],
            "names": w.usernames, "reads": w.sids,
            "writes": [[sid, sess] for sid, sess in w.session_docs()],
            "attestation": make_attestation()}


def _row(kit: Any, upstream: Any, rounds: int, round_s: float,
         kit_os: Any = None) -> dict[str, Any]:
    """kit / upstream (and, given ``kit_os``, the fs kit in durability os / upstream), timed in
    the same interleaved rounds."""
    samples: dict[str, list[float]] = {}
    ops = {"kit": kit, "upstream": upstream, **({"kit_os": kit_os} if kit_os else {})}
    stats = interleaved(ops, rounds, round_s, samples, same_batch=True)
    out: dict[str, Any] = {"kit": stats["kit"].as_dict(), "upstream": stats["upstream"].as_dict()}
    for name in ops:
        if name == "upstream":
            continue
        paired = paired_ratio(samples[name], samples["upstream"])
        out[f"{name}_vs_upstream"] = paired["median"]
        out[f"{name}_vs_upstream_iqr"] = [paired["q1"], paired["q3"]]
        out[name] = stats[name].as_dict()
    return out


def _fs_store_os(backend: Backend) -> Store:
    """An fs store whose sink writes with ``durability: os`` (NeDB's terms)."""
    from sinkkit.adapters.fs import open_fs_sink

    store = STORES["fs"](backend, "vs_upstream_os")
    store.close_sink()  # type: ignore[attr-defined]
    store.sink = open_fs_sink({**backend.harness.open_config(store.slot),
                               "options": {"durability": "os"}})
    backend._slots.append((store.slot, store.sink))
    return store


def _group_commit(sink: Any, batch: Callable[[int], float], n: int) -> dict[str, Any] | None:
    """Writes per fsync while ``batch`` runs ``n`` calls (the fs kit's group commit)."""
    commit = getattr(sink, "_commit", None)
    if commit is None:
        return None
    written, fsyncs = commit.written, commit.fsyncs
    batch(n)
    writes, syncs = commit.written - written, commit.fsyncs - fsyncs
    return {"writes": writes, "fsyncs": syncs, "writes_per_fsync": writes / max(1, syncs)}


class _UpstreamPostgres:
    """A schema of its own on the benchmark database, as the URL node-postgres reads."""

    def __init__(self, backend: Backend, label: str):
        from psycopg import sql

        self.backend = backend
        self.schema = f"bench_upstream_{label}"
        self.dsn, _ = backend.pg_target(backend.slot(label))
        with backend.harness.prov.connect(backend.harness.database) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                sql.Identifier(self.schema)))
            conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(self.schema)))

    def env(self) -> dict[str, str]:
        from urllib.parse import quote

        from sinkkit.upstream.harness import PG_DSN_ENV, node_pg_url

        url = node_pg_url(self.dsn)
        url += ("&" if "?" in url else "?") + "options=" + quote(f"-c search_path={self.schema}")
        return {PG_DSN_ENV: url}

    def analyze(self) -> None:
        with self.backend.harness.prov.connect(self.backend.harness.database) as conn:
            conn.execute(f'ANALYZE "{self.schema}".pushes')

    def drop(self) -> None:
        from psycopg import sql

        with self.backend.harness.prov.connect(self.backend.harness.database) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                sql.Identifier(self.schema)))


def run_upstream_comparison(backend: Backend, checkout: Path, source: str,
                            profile: dict[str, Any]) -> dict[str, Any]:
    """kit / upstream per operation on ``backend`` (postgres or fs) against ``checkout``."""
    from benchmarks.points import pinned

    kind = backend.name
    small, large = profile["upstream_sizes"]
    rounds, round_s = profile["upstream_rounds"], profile["upstream_round_s"]
    missing = MISSING.get(kind, {})
    out: dict[str, Any] = {"kind": kind, "checkout": str(checkout), "source": source,
                           "commit": commit_of(checkout), "sizes": [small, large], "rows": {},
                           "missing": missing, "callers": CALLERS}
    with ExitStack() as stack:
        kit: Store = STORES[kind](backend, "vs_upstream")
        stack.callback(kit.close)
        upstream_pg = _UpstreamPostgres(backend, "0") if kind == "postgres" else None
        if upstream_pg is not None:
            stack.callback(upstream_pg.drop)
        driver = UpstreamDriver(checkout, kind, backend.workdir / "upstream",
                                upstream_pg.env() if upstream_pg else None)
        stack.callback(driver.close)
        out["upstream"] = driver.info

        w = Workload(pushes=small, repos=profile.get("repos", REPOS))
        w.seed(kit.sink)
        driver.write(w.push_docs())
        repo_ids = driver.seed(w.user_docs(), w.repo_docs(), w.session_docs())
        driver.streams(**_streams(w, repo_ids))
        out["listed"] = {"kit": len(kit.sink.get_pushes()), "upstream": driver.listed()}

        kit_ops = sink_ops(kit.sink, w)
        _check_reads_find(kind, kit_ops, driver, missing)
        callers = {name: KitCallers(kit_ops[name]) for name in CONCURRENT_OPS}
        for pool in callers.values():
            stack.callback(pool.close)
        os_ops: dict[str, Any] = {}
        if kind == "fs":
            kit_os = _fs_store_os(backend)
            stack.callback(kit_os.close)
            w_os = Workload(pushes=small, repos=profile.get("repos", REPOS))
            w_os.seed(kit_os.sink)
            os_ops = dict(sink_ops(kit_os.sink, w_os))
            os_ops[f"write_audit x{CALLERS}"] = KitCallers(os_ops["write_audit"])
            stack.callback(os_ops[f"write_audit x{CALLERS}"].close)
        upstream_callers = {name: ConcurrentOp(
            lambda n, name=name: driver.concurrent_ns(name, n, CALLERS))
            for name in CONCURRENT_OPS}
        # open every pooled connection before the server's backends are pinned
        for name in CONCURRENT_OPS:
            callers[name].batch_ns(4 * CALLERS)
            upstream_callers[name].batch_ns(4 * CALLERS)

        conn = kit.conn if kind == "postgres" else None
        placement = stack.enter_context(pinned(conn, extra=[driver.proc.pid])
                                        if conn is not None else nullcontext("not pinned"))
        out["placement"] = placement
        print(f"bench: {kind} against git-proxy @{out['commit']} ({placement})", flush=True)
        for name in POINT_OPS:
            if name in missing:
                continue
            label = f"{name}@{small}" if name == "get_pushes" else name
            out["rows"][label] = _row(kit_ops[name], driver.op(name), rounds, round_s,
                                      os_ops.get(name) if name in FS_WRITES else None)
            _say(kind, label, out["rows"][label])
        for name in CONCURRENT_OPS:
            label = f"{name} x{CALLERS}"
            out["rows"][label] = _row(callers[name], upstream_callers[name], rounds, round_s,
                                      os_ops.get(label) if label in FS_WRITES else None)
            _say(kind, label, out["rows"][label])
        grouped = _group_commit(kit.sink, callers["write_audit"].batch_ns, 50 * CALLERS)
        if grouped is not None:
            out["group_commit"] = {"callers": CALLERS, **grouped}
            print(f"bench: fs group commit, {CALLERS} writers: "
                  f"{grouped['writes_per_fsync']:.1f} writes per fsync", flush=True)

        grow = list(scale_pushes(small, large, small, PENDING))
        kit.load(iter(grow))
        kit.ready()
        driver.write(grow, concurrency=LOAD_CONCURRENCY)
        if upstream_pg is not None:
            upstream_pg.analyze()
        out["listed_large"] = {"kit": len(kit.sink.get_pushes()), "upstream": driver.listed()}
        label = f"get_pushes@{large}"
        out["rows"][label] = _row(kit.sink.get_pushes, driver.op("get_pushes"),
                                  max(5, rounds // 4), round_s)
        _say(kind, label, out["rows"][label])
    return out


#: the point reads: each must find its document on both sides, or the rows time not-found answers
READS = ("get_push", "get_pushes", "find_user", "session_get")


def _check_reads_find(kind: str, kit_ops: dict[str, Callable[[], object]],
                      driver: UpstreamDriver, missing: dict[str, str]) -> None:
    """Refuse to compare a read that finds nothing on either side (a mis-seeded store, an id
    the other side spells differently): its row would time a not-found answer."""
    empty = [f"kit {op}" for op in READS if op not in missing and kit_ops[op]() in (None, [], {})]
    empty += [f"upstream {op}" for op in READS if op not in missing and not driver.found(op)]
    if empty:
        raise RuntimeError(f"bench: {kind}: these reads found nothing, so their rows would time "
                           f"a miss: {', '.join(empty)}")


def _say(kind: str, label: str, row: dict[str, Any]) -> None:
    extra = ""
    if "kit_os_vs_upstream" in row:
        lo, hi = row["kit_os_vs_upstream_iqr"]
        extra = f", durability os {row['kit_os_vs_upstream']:.2f} (IQR {lo:.2f}-{hi:.2f})"
    print(f"bench: {kind} {label:<22} kit/upstream {row['kit_vs_upstream']:.2f} "
          f"(IQR {row['kit_vs_upstream_iqr'][0]:.2f}-{row['kit_vs_upstream_iqr'][1]:.2f}){extra}",
          flush=True)

