"""Bulk import into a PostgresSink: documents already checked by the contract's rules, many per
round trip, for ``sinkkit copy``.

The Sink API writes one document per statement and stamps repo dates and ledger times with
"now"; an import must keep both, and must not pay a round trip per push. Pushes go through
``COPY`` into a temporary table and one ``INSERT ... ON CONFLICT`` per batch; users, repos and
ledger entries one statement each inside a single transaction, with a savepoint per document so
one refused document (a username another user holds) does not undo the rest. Every upsert
compares before it writes (``IS DISTINCT FROM``), so importing the same documents again changes
nothing and reports them as unchanged. Each batch is one transaction: a killed import leaves
whole batches behind, and running it again finishes the job.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from psycopg import errors as pgerrors
from sinkkit.adapters.postgres.jsonio import dumps, jsonb
from sinkkit.adapters.postgres.sink import PostgresSink
from sinkkit.core.clock import now_ms

Document = dict[str, Any]

_REFUSED_BY = {
    "users_username_key": "username already held by another user in the destination",
    "users_email_key": "email already held by another user in the destination",
    "repos_url_key": "url already held by another repo in the destination",
}


@dataclass
class Outcome:
    """What one batch did: ids written, ids already equal, and ids refused with the reason."""

    written: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)


def import_pushes(sink: PostgresSink, pushes: Sequence[Document]) -> Outcome:
    """Upsert ``pushes`` (each passed through ``check_push``, so without ``_id``) by ``id``."""
    out = Outcome()
    if not pushes:
        return out
    with sink._transaction() as conn:
        conn.execute("CREATE TEMP TABLE IF NOT EXISTS sinkkit_import_pushes"
                     " (id text COLLATE \"C\", doc jsonb) ON COMMIT DELETE ROWS")
        with conn.cursor() as cur:
            with cur.copy("COPY sinkkit_import_pushes (id, doc) FROM STDIN") as copy:
                for push in pushes:
                    copy.write_row((push["id"], dumps(push)))
            cur.execute("INSERT INTO pushes (id, doc) SELECT id, doc FROM sinkkit_import_pushes"
                        " ON CONFLICT (id) DO UPDATE SET doc = EXCLUDED.doc"
                        " WHERE pushes.doc IS DISTINCT FROM EXCLUDED.doc RETURNING id")
            written = {row[0] for row in cur.fetchall()}
    for push in pushes:
        (out.written if push["id"] in written else out.unchanged).append(push["id"])
    return out


def _one_by_one(sink: PostgresSink, rows: Sequence[tuple[str, str, Any]]) -> Outcome:
    """Run ``(id, statement, params)`` each under its own savepoint, in one transaction."""
    out = Outcome()
    with sink._transaction() as conn:
        for key, statement, params in rows:
            try:
                with conn.transaction():
                    hit = conn.execute(statement, params).fetchall()
            except pgerrors.UniqueViolation as exc:
                reason = _REFUSED_BY.get(exc.diag.constraint_name or "", "a unique rule refused it")
                out.refused.append((key, reason))
                continue
            (out.written if hit else out.unchanged).append(key)
    return out


def import_users(sink: PostgresSink, users: Sequence[Document]) -> Outcome:
    """Upsert users by ``_id`` (normalised by ``normalise_new_user``), password included."""
    statement = ("INSERT INTO users (id, doc) VALUES (%s, %s) ON CONFLICT (id) DO UPDATE"
                 " SET doc = EXCLUDED.doc WHERE users.doc IS DISTINCT FROM EXCLUDED.doc"
                 " RETURNING id")
    return _one_by_one(sink, [
        (u["_id"], statement, (u["_id"], jsonb({k: v for k, v in u.items() if k != "_id"})))
        for u in users])


def import_repos(sink: PostgresSink,
                 repos: Sequence[tuple[Document, int | None, int | None]]) -> Outcome:
    """Upsert ``(repo, created_ms, modified_ms)`` by ``_id``, keeping the source's dates.

    A date given as None (git-proxy's fs sink stores none) is the destination's own when the
    repo is there already, else the time of this import: a rerun then changes nothing."""
    statement = (
        "INSERT INTO repos (id, doc, created_ms, modified_ms) VALUES (%(id)s, %(doc)s,"
        " coalesce(%(c)s::bigint, %(now)s), coalesce(%(m)s::bigint, %(now)s))"
        " ON CONFLICT (id) DO UPDATE SET doc = EXCLUDED.doc,"
        " created_ms = coalesce(%(c)s::bigint, repos.created_ms),"
        " modified_ms = coalesce(%(m)s::bigint, repos.modified_ms)"
        " WHERE (repos.doc, repos.created_ms, repos.modified_ms) IS DISTINCT FROM"
        " (EXCLUDED.doc, coalesce(%(c)s::bigint, repos.created_ms),"
        " coalesce(%(m)s::bigint, repos.modified_ms)) RETURNING id")
    now = now_ms()
    rows = []
    for repo, created, modified in repos:
        doc = {k: v for k, v in repo.items() if k not in ("_id", "dateCreated", "lastModified")}
        rows.append((repo["_id"], statement, {"id": repo["_id"], "doc": jsonb(doc),
                                              "c": created, "m": modified, "now": now}))
    return _one_by_one(sink, rows)


def import_migrations(sink: PostgresSink, entries: Sequence[tuple[str, str]]) -> Outcome:
    """Record ``(id, appliedAt ISO)`` in the given order; an id already recorded is kept as is."""
    statement = ("INSERT INTO sink_migrations (id, applied_at) VALUES (%s, %s)"
                 " ON CONFLICT (id) DO NOTHING RETURNING id")
    return _one_by_one(sink, [(mid, statement, (mid, at)) for mid, at in entries])


def differing_pushes(sink: PostgresSink, pushes: Sequence[Document]) -> list[str]:
    """Ids of ``pushes`` whose stored document is missing or differs, compared by the server.

    The expected documents travel by ``COPY`` and are compared as JSONB with what is stored, so
    verifying 100 000 pushes costs one upload instead of parsing every stored document back."""
    with sink._transaction() as conn:
        conn.execute("CREATE TEMP TABLE IF NOT EXISTS sinkkit_verify_pushes"
                     " (id text COLLATE \"C\", doc jsonb) ON COMMIT DELETE ROWS")
        with conn.cursor() as cur:
            with cur.copy("COPY sinkkit_verify_pushes (id, doc) FROM STDIN") as copy:
                for push in pushes:
                    copy.write_row((push["id"], dumps(push)))
            cur.execute("SELECT v.id FROM sinkkit_verify_pushes v LEFT JOIN pushes p"
                        " ON p.id = v.id WHERE p.doc IS DISTINCT FROM v.doc ORDER BY v.id")
            return [row[0] for row in cur.fetchall()]
