"""Sinks for the benchmarks, over fresh isolated storage, given back at the end.

memory, fs and mongomock are opened through the harnesses their conformance lanes use. postgres
is provisioned directly with ``provision_postgres`` (the same server choice as the lane:
``SINKKIT_POSTGRES_DSN``, a container, or embedded PostgreSQL ``SINKKIT_POSTGRES_VERSION``,
default 16) because the lane's harness turns ``fsync``, ``synchronous_commit`` and
``full_page_writes`` off on embedded servers to speed tests up, and keeps one schema per worker;
a benchmark needs a durably committing server and a schema per store. Its sinks are opened with
``open_postgres_sink`` exactly as git-proxy would, each in its own schema.
"""

from __future__ import annotations

import itertools
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sinkkit.conformance.harness import Slot
from sinkkit.conformance.plugin import load_harness

#: benchmarked backends: name -> harness entry point
BACKENDS = {"memory": "memory", "fs": "fs", "postgres": "postgres", "mongomock": "mongomock"}
ENV_VERSION = "SINKKIT_POSTGRES_VERSION"
#: server settings that decide what a commit costs, recorded with the results
DURABILITY_SETTINGS = ("fsync", "synchronous_commit", "full_page_writes", "wal_sync_method")


class Backend:
    def __init__(self, name: str, workdir: Path):
        self.name = name
        self.harness: Any = load_harness(BACKENDS[name])
        self.workdir = workdir
        self._slots: list[tuple[Slot, Any]] = []
        self._counter = itertools.count()

    def start(self) -> None:
        self.harness.start(self.workdir, "bench")

    def describe(self) -> str:
        return self.harness.describe()

    def slot(self, label: str) -> Slot:
        name = f"bench_{label}_{next(self._counter)}"
        path = self.workdir / name
        path.mkdir(parents=True, exist_ok=True)
        return Slot(tmp_path=path, name=name, worker="bench")

    def open(self, label: str) -> tuple[Any, Slot]:
        """A sink over new, empty storage; discarded when the backend stops."""
        slot = self.slot(label)
        sink = self.harness.new_sink(slot)
        self._slots.append((slot, sink))
        return sink, slot

    def discard(self, slot: Slot, sink: Any) -> None:
        self._slots.remove((slot, sink))
        self.harness.discard(slot, sink)

    def stop(self) -> None:
        for slot, sink in reversed(self._slots):
            try:
                self.harness.discard(slot, sink)
            except Exception as exc:  # keep tearing down; the figures are already taken
                print(f"bench: discarding {self.name} slot {slot.name}: {exc}")
        self._slots.clear()
        self.harness.stop()

    def server_info(self) -> dict[str, Any]:
        return {}


class _PostgresHarness:
    """What ``Backend`` needs of a harness, over a server of our own: a schema per slot."""

    name = "postgres"

    def __init__(self) -> None:
        self.version = int(os.environ.get(ENV_VERSION, "16"))
        self.prov: Any = None
        self.database: str | None = None

    def start(self, workdir: Path, worker: str) -> None:
        from sinkkit.fixtures.postgres import provision_postgres

        self.prov = provision_postgres(self.version, label=worker)
        self.database = self.prov.create_database("sinkkit_bench")

    def describe(self) -> str:
        return f"{self.prov.describe()}, database {self.database}, a schema per store"

    def open_config(self, slot: Slot) -> dict[str, Any]:
        return {"type": "postgres", "enabled": True,
                "connectionString": self.prov.dsn_for(self.database),
                "options": {"schema": slot.name, "connectTimeout": 10}}

    def new_sink(self, slot: Slot) -> Any:
        from sinkkit.adapters.postgres import open_postgres_sink

        return open_postgres_sink(self.open_config(slot))

    def discard(self, slot: Slot, sink: Any) -> None:
        from psycopg import sql

        sink.close()
        with self.prov.connect(self.database) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                sql.Identifier(slot.name)))

    def stop(self) -> None:
        if self.prov is None:
            return
        try:
            if self.database:
                self.prov.drop_database(self.database)
        finally:
            self.prov.stop()
            self.prov = self.database = None


class PostgresBackend(Backend):
    def __init__(self, name: str, workdir: Path):
        self.name = name
        self.harness = _PostgresHarness()
        self.workdir = workdir
        self._slots = []
        self._counter = itertools.count()

    def pg_target(self, slot: Slot) -> tuple[str, str]:
        """(DSN of the benchmark database, schema of ``slot``)."""
        config = self.harness.open_config(slot)
        return config["connectionString"], config["options"]["schema"]

    def server_info(self) -> dict[str, Any]:
        with self.harness.prov.connect() as conn:
            settings = {name: conn.execute(f"SHOW {name}").fetchone()[0]
                        for name in DURABILITY_SETTINGS}
        return {"server_version": self.harness.prov.server_version,
                "source": self.harness.prov.source, "settings": settings}


@contextmanager
def started(name: str, root: Path | None = None) -> Iterator[Backend]:
    with tempfile.TemporaryDirectory(prefix=f"sinkkit-bench-{name}-", dir=root) as tmp:
        backend = (PostgresBackend if name == "postgres" else Backend)(name, Path(tmp))
        backend.start()
        try:
            yield backend
        finally:
            backend.stop()
