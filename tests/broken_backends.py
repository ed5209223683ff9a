"""Broken adapters over real backends: the fs datafiles and PostgreSQL, for the clauses whose
test needs what only a real backend does (reopening storage, a writer killed with SIGKILL, other
processes on one database, a server stopped under a live sink, a server that never answers, a
primary killed or fenced read-only under a live sink).

Each subclasses the shipped adapter and breaks one step the way a backend of its kind gets it
wrong. They open through ``open_sink`` like any adapter: the harness resolves their
``broken-<Name>`` sink types in process, and ``start`` registers the same types as entry points
(a ``.dist-info`` in the harness's work directory, on ``PYTHONPATH``) so the processes a clause
starts open the broken adapter too, not the shipped one.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from psycopg_pool import PoolTimeout
from sinkkit.adapters.fs import FsSink, JournaledCollection
from sinkkit.adapters.postgres import sink as pg
from sinkkit.conformance.errors import Unavailable
from sinkkit.conformance.model import Collection
from sinkkit.core import config as sink_config
from sinkkit.fixtures.failover import PostgresFailoverHarness
from sinkkit.fixtures.harnesses import FsHarness
from sinkkit.fixtures.postgres import PostgresHarness

TESTS = Path(__file__).parent
PREFIX = "broken-"
log = logging.getLogger("broken_backends")


# --- fs ------------------------------------------------------------------------------------------

class FsSessionsOnlyInMemory(FsSink):
    """Keeps the session store in memory (a cache the author took for the store): sessions are
    gone after a reopen while everything else survives."""

    def _load_collections(self):
        loaded = super()._load_collections()
        loaded["sessions"].close()
        loaded["sessions"] = Collection()
        return loaded


class FsBootstrapTruncates(FsSink):
    """Bootstrap creates the pushes datafile with ``open(path, "w")`` on every open, not only
    when it is missing: reopening empties it."""

    def _load_collections(self):
        datafile = self.directory / "pushes.db"
        if datafile.exists():
            datafile.write_bytes(b"")
        return super()._load_collections()


class _WriteBehind(JournaledCollection):
    """Appends lines in batches: a change is acknowledged while its line is still in a buffer."""

    BATCH = 64

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._pending: list[Any] = []

    def _append(self, lines):
        self._pending += lines
        if len(self._pending) >= self.BATCH:
            self.flush()

    def flush(self) -> None:
        pending, self._pending = self._pending, []
        if pending:
            JournaledCollection._append(self, pending)

    def compact(self) -> None:
        self.flush()
        super().compact()

    def close(self) -> None:
        self.flush()
        super().close()


class FsAcksBeforeFsync(FsSink):
    """Write-behind: every change returns once it is in memory, and reaches the datafile in
    batches (the NeDB default of a periodic, not per-write, persistence). A writer killed
    between two batches loses writes it acknowledged."""

    def _load_collections(self):
        loaded = super()._load_collections()
        for col in loaded.values():
            col.__class__ = _WriteBehind
            col._pending = []
        return loaded


# --- PostgreSQL ----------------------------------------------------------------------------------

class PgDriverErrorsEscape(pg.PostgresSink):
    """Lets the driver's own error out when the server is gone (``psycopg.OperationalError``,
    ``PoolTimeout``) instead of the contract's ``Unavailable``."""

    def _unavailable(self, exc):
        return exc


class PgOneConnectionForever(pg.PostgresSink):
    """Opens one connection on first use and keeps it: after a server restart every call fails
    on the dead connection until the sink is reopened."""

    @contextmanager
    def _connection(self, on_unique=None):
        if self._closed:
            raise Unavailable("PgOneConnectionForever is closed")
        with self._close_lock:
            if getattr(self, "_only", None) is None:
                try:
                    self._only = psycopg.connect(self.config.dsn,
                                                 **pg._connect_kwargs(self.config))
                    pg._configure(self.config.schema)(self._only)
                except psycopg.Error as exc:
                    raise Unavailable(f"cannot connect: {type(exc).__name__}") from None
        conn = self._only
        try:
            with self._close_lock, conn.transaction():
                yield conn
        except psycopg.Error as exc:
            raise Unavailable(f"postgres call failed: {type(exc).__name__}") from None

    def close(self) -> None:
        super().close()
        if getattr(self, "_only", None) is not None:
            self._only.close()


class PgPasswordInRepr(pg.PostgresSink):
    """Shows its connection string, password and all, in its repr (and so in every log line and
    traceback that prints the sink)."""

    def __repr__(self) -> str:
        return f"<PgPasswordInRepr {self.config.dsn}>"


class PgSqlFromValues(pg.PostgresSink):
    """Builds the repo lookup by formatting the name into the SQL text."""

    def _get_repo(self, name):
        select = "SELECT id, doc, created_ms, modified_ms FROM repos"
        rows = self._run(f"{select} WHERE doc->>'name' = '{name}'", (), "all")
        return self._repo(rows[0]) if rows else None


class PgPermissionsReadModifyWrite(pg.PostgresSink):
    """Reads the repo, changes the list in Python and writes the whole list back: two processes
    adding at once each write a list without the other's name."""

    def _permission(self, _id, role, name, add):
        repo = self._get_repo_by_id(_id)
        if repo is None:
            return super()._permission(_id, role, name, add)
        names = list(repo["users"].get(role) or [])
        if add and name not in names:
            names.append(name)
        elif not add:
            names = [n for n in names if n != name]
        time.sleep(0.005)  # the round trip between the read and the write
        users = {**repo["users"], role: names}
        self._change_repo(_id, self._UPDATE_FIELDS, {"fields": pg.jsonb({"users": users})})
        return None


class PgSchemaLockedForLife(pg.PostgresSink):
    """Holds an advisory lock on its schema for as long as it is open (a single-writer guard
    copied from a file store): a second sink opened on the same schema is refused."""


# --- PostgreSQL failover (the postgres-failover lane's primary and standby) ------------------

def _connection_lost(exc: BaseException) -> bool:
    """A connection that broke under a call (the server died), not one the pool could not get:
    ``PoolTimeout`` is an ``OperationalError`` too."""
    return isinstance(exc, psycopg.OperationalError) and not isinstance(exc, PoolTimeout)


class PgLostConnectionEscapes(pg.PostgresSink):
    """Maps a server it cannot reach to ``Unavailable`` but lets the driver's error out when a
    connection breaks under a call: written for restarts, where the pool's checkout check finds
    the dead connections first, not for a primary killed under a live writer."""

    def _unavailable(self, exc):
        if _connection_lost(exc):
            return exc
        return super()._unavailable(exc)


class PgDropsWritesAfterLostConnection(pg.PostgresSink):
    """Best-effort audit: once a connection broke under it, a write that cannot reach a server is
    logged and reported as done (so a git push never waits on its audit record), until a write
    goes through again. Every write acknowledged during the failover is lost."""

    _lost_server = False

    def _unavailable(self, exc):
        if _connection_lost(exc):
            self._lost_server = True
        return super()._unavailable(exc)

    def _write_audit(self, doc):
        try:
            super()._write_audit(doc)
        except Unavailable as exc:
            if not self._lost_server:
                raise
            log.warning("audit write %s dropped: %s", doc["id"], exc)
            return
        self._lost_server = False


class PgWriteBehindWhenAsync(pg.PostgresSink):
    """Asks the primary on its first write whether it replicates synchronously
    (``synchronous_standby_names``); when it does not, takes the loss window asynchronous
    replication already has as licence to widen it: writes are acknowledged from an in-memory
    queue that a background thread sends every ``SEND_EVERY`` seconds. Reads ask the server
    only, so a write acknowledged after the failover is still missing when it is read back, and
    gone if the sink is closed or the process dies first."""

    SEND_EVERY = 30.0
    _queue: list[Any] | None = None
    _mode_known = False

    def _write_audit(self, doc):
        if not self._mode_known:
            self._mode_known = True
            rows = self._run("SELECT current_setting('synchronous_standby_names')", (), "all")
            if not rows[0][0]:
                self._queue, self._queued, self._stop = [], threading.Lock(), threading.Event()
                threading.Thread(target=self._send_every, daemon=True).start()
        if self._queue is None:
            super()._write_audit(doc)
            return
        with self._queued:
            self._queue.append(doc)

    def _send_queue(self) -> None:
        with self._queued:
            queued, self._queue = self._queue, []
        for i, doc in enumerate(queued):
            try:
                pg.PostgresSink._write_audit(self, doc)
            except Unavailable:
                with self._queued:  # kept for the next send, in order
                    self._queue[:0] = queued[i:]
                return

    def _send_every(self) -> None:
        while not self._stop.wait(self.SEND_EVERY):
            self._send_queue()

    def close(self) -> None:
        if self._queue is not None:
            self._stop.set()
        super().close()


def _latched(read: Callable[..., Any]) -> Callable[..., Any]:
    """``read``, refused with the remembered read-only refusal while the latch is set."""

    def latched(self: PgReadOnlyLatchFailsReads, *args: Any, **kwargs: Any) -> Any:
        if self._refusal is not None:
            raise self._refusal
        return read(self, *args, **kwargs)

    return latched


class PgReadOnlyLatchFailsReads(pg.PostgresSink):
    """A read-only latch: once a write was refused as read-only (SQLSTATE 25006) it drains the
    pool and retries once like the shipped sink, and until an audit write goes through again it
    spares every read the round trip by raising the refusal it remembered (the driver's
    ``ReadOnlySqlTransaction``, a write error) instead of answering. The latch lasts from the
    fence until a write reaches the promoted standby."""

    _refusal: BaseException | None = None

    def _writing(self, call):
        try:
            return call()
        except pg._ReadOnlyServer as exc:
            self._refusal = exc.cause
        try:
            return call()
        except pg._ReadOnlyServer as again:
            raise self._unavailable(again.cause) from None

    def _write_audit(self, doc):
        super()._write_audit(doc)
        self._refusal = None

    _get_push = _latched(pg.PostgresSink._get_push)
    _get_pushes = _latched(pg.PostgresSink._get_pushes)
    _get_repos = _latched(pg.PostgresSink._get_repos)
    _get_repo = _latched(pg.PostgresSink._get_repo)
    _get_repo_by_url = _latched(pg.PostgresSink._get_repo_by_url)
    _get_repo_by_id = _latched(pg.PostgresSink._get_repo_by_id)
    _find = _latched(pg.PostgresSink._find)
    _get_users = _latched(pg.PostgresSink._get_users)
    get_public_keys = _latched(pg.PostgresSink.get_public_keys)
    get_applied_migrations = _latched(pg.PostgresSink.get_applied_migrations)


class PgRefusesReadOnlyServer(pg.PostgresSink):
    """Checks ``transaction_read_only`` on every checkout and treats a read-only server as down
    (``Unavailable``, the pool drained for a writable one), reads included: a demoted primary or
    a standby answers no read."""

    @contextmanager
    def _connection(self, on_unique=None):
        with super()._connection(on_unique) as conn:
            if conn.execute("SHOW transaction_read_only").fetchone()[0] == "on":
                self._drain()
                raise Unavailable(f"postgres sink {self.config.masked_dsn}: the server is "
                                  "read-only")
            yield conn


def _open_postgres(cls: type[pg.PostgresSink]) -> Callable[[dict[str, Any]], Any]:
    def opener(entry: dict[str, Any]) -> Any:
        opened = pg.open_postgres_sink({**entry, "type": "postgres"})
        opened.__class__ = cls
        if cls is PgSchemaLockedForLife:
            _hold_schema_lock(opened)
        return opened

    return opener


def _hold_schema_lock(opened: pg.PostgresSink) -> None:
    conn = psycopg.connect(opened.config.dsn, **pg._connect_kwargs(opened.config))
    got = conn.execute("SELECT pg_try_advisory_lock(hashtext(%s))",
                       (f"sinkkit-life:{opened.config.schema}",)).fetchone()[0]
    if not got:
        conn.close()
        opened.close()
        raise Unavailable(f"schema {opened.config.schema!r} is held by another open sink")
    close = opened.close

    def close_and_unlock() -> None:
        close()
        conn.close()

    opened.close = close_and_unlock


def _open_bare_connect_first(entry: dict[str, Any]) -> Any:
    """Checks the server with a bare ``psycopg.connect`` before opening, and lets its error out:
    a silent server gives ``psycopg.OperationalError``, not ``Unavailable``."""
    config = pg.parse_entry({**entry, "type": "postgres"})
    psycopg.connect(config.dsn, **pg._connect_kwargs(config)).close()
    return pg.open_postgres_sink({**entry, "type": "postgres"})


class PgBareConnectOnOpen(pg.PostgresSink):
    """See ``_open_bare_connect_first``: only its opener is broken."""


FS_CLASSES = (FsSessionsOnlyInMemory, FsBootstrapTruncates, FsAcksBeforeFsync)
FAILOVER_CLASSES = (PgLostConnectionEscapes, PgDropsWritesAfterLostConnection,
                    PgWriteBehindWhenAsync, PgReadOnlyLatchFailsReads,
                    PgRefusesReadOnlyServer)
PG_CLASSES = (PgDriverErrorsEscape, PgOneConnectionForever, PgPasswordInRepr, PgSqlFromValues,
              PgPermissionsReadModifyWrite, PgSchemaLockedForLife, *FAILOVER_CLASSES)

#: broken sink type name -> how an entry of that type opens
OPENERS: dict[str, Callable[[dict[str, Any]], Any]] = {
    **{cls.__name__: (lambda entry, cls=cls: cls(
        entry["params"]["filepath"],
        session_ttl=(entry.get("options") or {}).get("sessionTtl", 86400)))
       for cls in FS_CLASSES},
    **{cls.__name__: _open_postgres(cls) for cls in PG_CLASSES},
    "PgBareConnectOnOpen": _open_bare_connect_first,
}


def open_broken(entry: dict[str, Any]) -> Any:
    """The entry point of every ``broken-<Name>`` sink type."""
    return OPENERS[str(entry["type"]).removeprefix(PREFIX)](entry)


def expose_entry_points(workdir: Path) -> None:
    """Register every broken sink type as a ``sinkkit.adapters`` entry point for the processes
    this one starts (they inherit ``PYTHONPATH``)."""
    dist = workdir / "sinkkit_broken_backends-0.dist-info"
    dist.mkdir(parents=True, exist_ok=True)
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: sinkkit-broken-backends\nVersion: 0\n")
    (dist / "entry_points.txt").write_text("[sinkkit.adapters]\n" + "".join(
        f"{PREFIX}{name} = broken_backends:open_broken\n" for name in OPENERS))
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(workdir), str(TESTS), os.environ.get("PYTHONPATH", "")) if p)


class _OpensBroken:
    """Harness mix-in: entries name the broken type, and every sink opens through it."""

    broken: str

    def start(self, workdir: Path, worker: str) -> None:
        super().start(workdir, worker)  # type: ignore[misc]
        expose_entry_points(workdir)

    def open_config(self, slot):
        return {**super().open_config(slot), "type": PREFIX + self.broken}  # type: ignore[misc]

    def new_sink(self, slot):
        return open_broken(self.open_config(slot))

    def reopen(self, slot, sink):
        return self.new_sink(slot)

    def open_sink(self, config):
        entry = sink_config.select_entry(config)
        if str(entry.get("type", "")).startswith(PREFIX):
            return open_broken(entry)
        return sink_config.open_sink(config)


FAILOVER_NAMES = {cls.__name__ for cls in FAILOVER_CLASSES}


def _harness(name: str) -> type:
    base = (FsHarness if name.startswith("Fs") else
            PostgresFailoverHarness if name in FAILOVER_NAMES else PostgresHarness)
    namespace: dict[str, Any] = {"broken": name}
    if base is PostgresHarness:
        def unreachable_config(self, slot, host, port):
            return {**PostgresHarness.unreachable_config(self, slot, host, port),
                    "type": PREFIX + name}

        namespace["unreachable_config"] = unreachable_config
    harness = type(f"{name}Harness", (_OpensBroken, base), namespace)
    harness.name = f"broken:{name}"
    return harness


#: broken adapter -> the clause that must catch it
BROKEN_ON_BACKENDS: dict[str, str] = {
    "FsSessionsOnlyInMemory": "sessions.persistent.survive-reopen",
    "FsBootstrapTruncates": "bootstrap.reopen-keeps-data",
    "FsAcksBeforeFsync": "reliability.faults.killed-writer-keeps-acks",
    "PgDriverErrorsEscape": "reliability.faults.outage-unavailable",
    "PgOneConnectionForever": "reliability.faults.recovers-without-reopen",
    "PgBareConnectOnOpen": "reliability.faults.unreachable-open-typed",
    "PgPasswordInRepr": "reliability.credentials.never-leaked",
    "PgSqlFromValues": "reliability.static.no-sql-from-values",
    "PgPermissionsReadModifyWrite": "reliability.concurrent.permissions-processes",
    "PgSchemaLockedForLife": "bootstrap.concurrent-open",
    "PgLostConnectionEscapes": "reliability.failover.resumes-writes",
    "PgDropsWritesAfterLostConnection": "reliability.failover.sync-keeps-acks",
    "PgWriteBehindWhenAsync": "reliability.failover.async-loss-reported",
    "PgReadOnlyLatchFailsReads": "reliability.failover.read-only-server-left",
    "PgRefusesReadOnlyServer": "reliability.failover.reads-on-read-only-server",
}

#: broken adapter -> the lane of the shipped adapter it is built over
REFERENCE_HARNESS: dict[str, str] = {
    name: "fs" if name.startswith("Fs") else
    "postgres-failover" if name in FAILOVER_NAMES else "postgres" for name in BROKEN_ON_BACKENDS}

for _name in BROKEN_ON_BACKENDS:
    globals()[f"{_name}Harness"] = _harness(_name)


# --- one pair for every failover adapter ---------------------------------------------------------

#: the clause of the test now running (set by ``pytest_runtest_setup`` when this module is loaded
#: as a plugin, ``-p broken_backends``)
_running_clause: list[str | None] = [None]


def pytest_runtest_setup(item: Any) -> None:
    marker = item.get_closest_marker("sinkkit_clause")
    _running_clause[0] = marker.args[0] if marker else None


class PgFailoverCatalogueHarness(_OpensBroken, PostgresFailoverHarness):
    """Every failover adapter on one primary and standby: each test opens the broken adapter of
    the clause it checks (``-p broken_backends`` tells the harness which), so the pair (initdb,
    basebackup, two servers) is provisioned once for all five, not once per adapter (33 s for
    the five here, against about 19 s for each on a pair of its own).

    Each adapter fails only its own clause of the five: measured with one run per adapter over
    them all (``--sinkkit-harness=broken_sinks:<Name>Harness
    --sinkkit-clause=reliability.failover``, 40 to 60 s each), too long to repeat in CI."""

    name = "broken:failover-catalogue"
    #: failover clause -> the broken adapter that must fail it
    by_clause = {c: n for n, c in BROKEN_ON_BACKENDS.items() if n in FAILOVER_NAMES}

    @property
    def broken(self) -> str:  # type: ignore[override]
        clause_id = _running_clause[0]
        if clause_id not in self.by_clause:
            raise RuntimeError(f"no failover adapter for clause {clause_id!r} (run with "
                               "-p broken_backends and --sinkkit-clause=reliability.failover)")
        return self.by_clause[clause_id]

    def unreachable_config(self, slot, host, port):
        return {**PostgresFailoverHarness.unreachable_config(self, slot, host, port),
                "type": PREFIX + self.broken}
