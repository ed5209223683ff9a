"""The postgres point operations written directly against psycopg, with the adapter's own SQL.

The statement texts are not copied: ``capture_sql`` runs each operation once through the adapter
and records the exact SQL it sent, and the raw side replays that text with parameters it builds
itself. So the ratio measures only what the adapter adds around the SQL (input rules, pool
checkout, JSON encoding, error mapping, the list view), and it cannot drift from the adapter.

Two raw connections are timed, both autocommit like the adapter's: ``raw_prepared`` with
psycopg's default (statements prepared on the server after five runs), the adapter's own setting
and the targets' baseline, and ``raw`` without server-side prepared statements, what the adapter
runs with ``preparedStatements: false`` (behind a pooler that cannot carry them).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Json, Jsonb
from sinkkit.conformance.factories import make_attestation

from benchmarks.workload import Workload

Captured = tuple[str, Any]
_ABSENT = object()
#: what authorise merges into the push (the adapter's rule, see PostgresSink.authorise)
_AUTHORISED = {"authorised": True, "canceled": False, "rejected": False}


class _Spy:
    """Stands in for a ``_run`` callable and records every (query, params) it forwards."""

    def __init__(self, run: Callable[..., Any]):
        self.run = run
        self.seen: list[tuple[Any, Any]] = []

    def __call__(self, query: Any, params: Any = (), *args: Any, **kwargs: Any) -> Any:
        self.seen.append((query, params))
        return self.run(query, params, *args, **kwargs)


@contextmanager
def _spying(holders: list[Any]) -> Iterator[list[_Spy]]:
    saved = [holder.__dict__.get("_run", _ABSENT) for holder in holders]
    spies = [_Spy(holder._run) for holder in holders]
    for holder, spy in zip(holders, spies):
        holder._run = spy
    try:
        yield spies
    finally:
        for holder, original in zip(holders, saved):
            if original is _ABSENT:
                del holder._run
            else:
                holder._run = original


def capture_sql(sink: Any, ops: dict[str, Callable[[], object]],
                conn: psycopg.Connection) -> dict[str, Captured]:
    """The SQL text (and parameters) each adapter op sends, from one traced call of each."""
    holders = [sink, sink.session_store]
    for holder in holders:
        if not callable(getattr(holder, "_run", None)):
            raise RuntimeError(f"{type(holder).__name__} has no _run to trace; the raw-driver "
                               "comparison needs the adapter to send its SQL through _run")
    captured: dict[str, Captured] = {}
    for name, op in ops.items():
        with _spying(holders) as spies:
            op()
        seen = [entry for spy in spies for entry in spy.seen]
        if len(seen) != 1:
            raise RuntimeError(f"adapter op {name} sent {len(seen)} statements; expected one")
        query, params = seen[0]
        text = query.as_string(conn) if isinstance(query, sql.Composable) else str(query)
        captured[name] = (text, params)
    return captured


def connect(dsn: str, schema: str, prepared: bool) -> psycopg.Connection:
    options = {} if prepared else {"prepare_threshold": None}
    conn = psycopg.connect(dsn, autocommit=True, **options)
    conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
    return conn


def _plain(params: Any) -> Any:
    """The adapter's constant listing parameters, re-wrapped with psycopg's own Jsonb."""
    return [Jsonb(p.obj) if isinstance(p, Jsonb) else p for p in params]


def wire_runner(conn: psycopg.Connection) -> Callable[[str, Any], list[Any]]:
    """The adapter's own statement runner (``adapters/postgres/wire.py``, its default spin and
    prepare rule) on one held connection: the adapter's path without the sink around it."""
    from sinkkit.adapters.postgres.config import DEFAULT_SPIN_WAIT_US
    from sinkkit.adapters.postgres.sink import PREPARE_THRESHOLD
    from sinkkit.adapters.postgres.wire import Wire

    wire = Wire(DEFAULT_SPIN_WAIT_US / 1e6, PREPARE_THRESHOLD)
    return lambda query, params: wire.run(conn, query, params, True)


def raw_ops(conn: psycopg.Connection, captured: dict[str, Captured], w: Workload,
            runner: Callable[[str, Any], list[Any]] | None = None
            ) -> dict[str, Callable[[], object]]:
    """Each point op as one ``execute`` of the adapter's SQL on a plain connection (or as one
    call of ``runner``, given one)."""
    docs, ids, reviews = w.settled_docs(), w.lookup_ids(), w.review_ids()
    grants, names = w.grants(), w.names()
    reads, writes = w.sessions_to_read(), w.sessions_to_write()
    q = {name: text for name, (text, _) in captured.items()}
    listing_params = _plain(captured["get_pushes"][1])
    changes = Jsonb({**_AUTHORISED, "attestation": make_attestation()})
    ttl_s = 86400

    def execute(query: str, params: Any) -> list[Any]:
        cur = conn.execute(query, params)
        return cur.fetchall() if cur.description else []
    run = runner or execute

    def write_audit() -> object:
        doc = next(docs)
        return run(q["write_audit"], (doc["id"], Jsonb(doc)))

    def add_user_can_push() -> object:
        repo, user = next(grants)
        return run(q["add_user_can_push"], {"path": ["users", "canPush"], "name": user,
                                            "now": int(time.time() * 1000), "id": repo})

    def session_set() -> object:
        sid, sess = next(writes)
        return run(q["session_set"], (sid, Json(sess), time.time() + ttl_s))

    return {
        "write_audit": write_audit,
        "get_push": lambda: run(q["get_push"], (next(ids),)),
        "get_pushes": lambda: run(q["get_pushes"], listing_params),
        "authorise": lambda: run(q["authorise"], (changes, next(reviews))),
        "add_user_can_push": add_user_can_push,
        "find_user": lambda: run(q["find_user"], [next(names)]),
        "session_get": lambda: run(q["session_get"], (next(reads), time.time())),
        "session_set": session_set,
    }
