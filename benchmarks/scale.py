"""The default listing with many pushes stored, bulk-loaded beside the adapter.

Each backend's store grows through the profile's sizes (1 000, 10 000, 100 000, ...). Only
the first ``PENDING`` spread over the first size are pending review, so ``get_pushes()`` always
returns the same 50-push screen while the settled history grows: the figure shows whether the
listing cost follows what it returns or what is stored. A second, small series stores only
pending pushes, where the whole store is the answer (the Sink API has no limit).

Bulk loading writes what the adapter would write, without going through it: postgres by COPY
into the adapter's schema, fs by appending the adapter's own datafile lines (codec and serializer
from the adapter), memory through ``write_audit`` (it has no storage of its own), mongomock by
``insert_many`` on the adapter's collection.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from psycopg.types.json import Jsonb

from benchmarks import pg_raw
from benchmarks.backends import Backend
from benchmarks.timing import interleaved, measure, paired_ratio, time_once
from benchmarks.workload import PENDING, pending_every, push_doc

Document = dict[str, Any]


def scale_pushes(start: int, stop: int, first: int, pending: int) -> Iterable[Document]:
    """Pushes ``start``..``stop``: ``pending`` of them pending, spread over the first ``first``."""
    stride = pending_every(first, pending)
    for i in range(start, stop):
        yield push_doc(i, pending=i < first and i % stride == 0)


# --- loaders: (backend, label) -> a store that grows by load(docs) ----------------------------

class Store:
    """A sink plus a way to add pushes to its storage in bulk."""

    def __init__(self, backend: Backend, label: str):
        self.backend = backend
        self.sink, self.slot = backend.open(label)

    def load(self, docs: Iterable[Document]) -> None:
        for doc in docs:
            self.sink.write_audit(doc)

    def ready(self) -> None:
        """Called after each load, before timing (reopen, ANALYZE, ...)."""

    def plan(self) -> str | None:
        return None

    def close(self) -> None:
        self.backend.discard(self.slot, self.sink)


class PostgresStore(Store):
    def __init__(self, backend: Backend, label: str):
        super().__init__(backend, label)
        dsn, schema = backend.pg_target(self.slot)
        self.conn = pg_raw.connect(dsn, schema, prepared=False)

    def load(self, docs: Iterable[Document]) -> None:
        with self.conn.cursor() as cur, cur.copy("COPY pushes (id, doc) FROM STDIN") as copy:
            for doc in docs:
                copy.write_row((doc["id"], Jsonb(doc)))

    def ready(self) -> None:
        # what autovacuum's analyze does on its own soon after a bulk load
        self.conn.execute("ANALYZE pushes")

    def _listing_sql(self) -> tuple[str, object]:
        captured = pg_raw.capture_sql(self.sink, {"get_pushes": self.sink.get_pushes}, self.conn)
        return captured["get_pushes"]

    def plan(self) -> str | None:
        query, params = self._listing_sql()
        rows = self.conn.execute(f"EXPLAIN (FORMAT JSON) {query}", params).fetchone()
        return _plan_line(rows[0][0]["Plan"])

    def raw_listing(self) -> Callable[[], object]:
        """The same listing SQL on a plain connection, rows fetched, no list view built."""
        query, params = self._listing_sql()
        return lambda: self.conn.execute(query, params).fetchall()

    def close(self) -> None:
        self.conn.close()
        super().close()


def _plan_line(node: Document) -> str:
    """The plan's top nodes, e.g. ``Index Scan using pushes_pending_idx``."""
    parts = []
    while node:
        label = node["Node Type"]
        if node.get("Index Name"):
            label += f" using {node['Index Name']}"
        parts.append(label)
        children = node.get("Plans") or []
        node = children[0] if children else None
    return " > ".join(parts)


class FsStore(Store):
    """Appends datafile lines and reopens the sink (the fs adapter reads everything at open)."""

    def __init__(self, backend: Backend, label: str):
        super().__init__(backend, label)
        self.directory = Path(backend.harness.open_config(self.slot)["params"]["filepath"])
        self.open_s: float | None = None

    def load(self, docs: Iterable[Document]) -> None:
        from sinkkit.adapters.fs import CODECS, nedb

        self.close_sink()
        codec = CODECS["pushes"]
        with open(self.directory / "pushes.db", "a", encoding="utf-8") as fh:
            fh.writelines(nedb.serialize(codec.to_disk(doc["id"], doc, doc["id"])) + "\n"
                          for doc in docs)

    def close_sink(self) -> None:
        if self.sink is not None:
            self.backend.discard(self.slot, self.sink)
            self.sink = None

    def ready(self) -> None:
        holder: dict[str, Any] = {}

        def reopen() -> None:
            holder["sink"] = self.backend.harness.new_sink(self.slot)

        self.open_s = time_once(reopen)
        self.sink = holder["sink"]
        self.backend._slots.append((self.slot, self.sink))

    def close(self) -> None:
        self.close_sink()


class MongomockStore(Store):
    def load(self, docs: Iterable[Document]) -> None:
        batch: list[Document] = []
        for doc in docs:
            batch.append(dict(doc))
            if len(batch) >= 5000:
                self.sink._pushes.insert_many(batch)
                batch = []
        if batch:
            self.sink._pushes.insert_many(batch)


STORES: dict[str, Callable[[Backend, str], Store]] = {
    "memory": Store, "fs": FsStore, "postgres": PostgresStore, "mongomock": MongomockStore,
}


def run_scale(backend: Backend, sizes: list[int], profile: dict[str, Any],
              pending: int | None = 50, label: str = "scale") -> list[dict[str, Any]]:
    """Default-listing latency at each stored size; the store grows from one size to the next.

    ``pending=None`` stores only pending pushes (the listing returns the whole store).
    """
    store = STORES[backend.name](backend, label)
    points: list[dict[str, Any]] = []
    stored = 0
    try:
        for size in sizes:
            batch = scale_pushes(stored, size, sizes[0] if pending else size, pending or size)
            load_s = time_once(lambda batch=batch: store.load(batch))
            stored = size
            store.ready()
            listed = len(store.sink.get_pushes())
            stats = measure(store.sink.get_pushes, profile["scale_rounds"],
                            profile["scale_round_s"])
            point = {"stored": size, "listed": listed, "load_s": load_s, **stats.as_dict()}
            if isinstance(store, FsStore):
                point["open_s"] = store.open_s
                point["datafile_bytes"] = os.path.getsize(store.directory / "pushes.db")
            plan = store.plan()
            if plan:
                point["plan"] = plan
            if isinstance(store, PostgresStore):
                raw = measure(store.raw_listing(), profile["scale_rounds"],
                              profile["scale_round_s"])
                point["raw_median_ns"] = raw.median_ns
            points.append(point)
            print(f"bench: {backend.name} {label} {size:>9,} stored, {listed:>6,} listed: "
                  f"{stats.median_ns / 1e6:9.2f} ms per listing", flush=True)
    finally:
        store.close()
    return points


def run_listing_pair(backend: Backend, small: int, large: int,
                     profile: dict[str, Any]) -> dict[str, Any]:
    """The default listing on two stores at once, ``small`` and ``large`` pushes (50 pending in
    each), timed in interleaved rounds: the cost ratio large / small with its IQR.

    ``run_scale`` times each size after the previous one, minutes apart on a shared machine;
    this pair cancels the load that comes and goes between them.
    """
    stores = {size: STORES[backend.name](backend, f"pair{size}") for size in (small, large)}
    try:
        for size, store in stores.items():
            store.load(scale_pushes(0, size, small, PENDING))
            store.ready()
        samples: dict[str, list[float]] = {}
        stats = interleaved({str(size): store.sink.get_pushes for size, store in stores.items()},
                            profile["scale_rounds"] * 4, profile["scale_round_s"], samples,
                            same_batch=True)
        # paired_ratio gives throughput small/large round by round: the cost of large / small
        paired = paired_ratio(samples[str(large)], samples[str(small)])
        cost = sorted(1 / r for r in (paired["q3"], paired["median"], paired["q1"]))
    finally:
        for store in stores.values():
            store.close()
    out = {"small": small, "large": large, "small_ms": stats[str(small)].median_ns / 1e6,
           "large_ms": stats[str(large)].median_ns / 1e6, "cost_ratio": cost[1],
           "cost_ratio_iqr": [cost[0], cost[2]]}
    print(f"bench: {backend.name} listing {large:,} / {small:,} stored, interleaved: "
          f"{out['cost_ratio']:.2f}x (IQR {cost[0]:.2f}-{cost[2]:.2f})", flush=True)
    return out
