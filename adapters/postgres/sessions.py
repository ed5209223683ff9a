"""express-session store over connect-pg-simple's ``session`` table.

The table is column for column the one connect-pg-simple creates (``sid varchar``, ``sess json``,
``expire timestamp(6)``, index ``IDX_session_expire``), and expiry is written and compared the way
connect-pg-simple does it, through ``to_timestamp(<epoch seconds>)`` in the connection's time
zone, so a Node git-proxy using connect-pg-simple and this store read each other's sessions.
Expiry keeps millisecond precision (connect-pg-simple rounds up to the second) so the rules in
``sinkkit.core.sessions`` hold exactly as in the memory store.
"""

from __future__ import annotations

import json
from typing import Any

from psycopg import sql
from psycopg.types.json import Json
from sinkkit.conformance.errors import InvalidDocument
from sinkkit.core.sessions import SessionRules, now_ms

Document = dict[str, Any]


class PostgresSessionStore(SessionRules):
    def __init__(self, run, schema: str, table: str, default_ttl: int = 86400):
        """``run(query, params, fetch)`` executes one statement on the sink's pool."""
        super().__init__(default_ttl)
        self._run = run
        self.table = sql.Identifier(schema, table)
        # rendered once: psycopg caches a statement's parsed text, not a Composed
        self._sql: dict[str, str] = {}

    def _q(self, text: str) -> str:
        query = self._sql.get(text)
        if query is None:
            query = self._sql[text] = sql.SQL(text).format(t=self.table).as_string(None)
        return query

    @staticmethod
    def _now() -> float:
        return now_ms() / 1000

    def get(self, sid: str) -> Document | None:
        sid = self.check_sid(sid)
        query = self._q("SELECT sess FROM {t} WHERE sid = %s AND expire > to_timestamp(%s)")
        rows = self._run(query, (sid, self._now()), "all")
        return _as_document(rows[0][0]) if rows else None

    def set(self, sid: str, sess: Document) -> None:
        sid = self.check_sid(sid)
        sess = self.check_session(sess, deep_copy=False)
        self._run(
            self._q(
                "INSERT INTO {t} (sid, sess, expire) VALUES (%s, %s, to_timestamp(%s))"
                " ON CONFLICT (sid) DO UPDATE SET sess = EXCLUDED.sess, expire = EXCLUDED.expire"
            ),
            (sid, Json(sess), self.expiry(sess) / 1000),
        )

    def destroy(self, sid: str) -> None:
        sid = self.check_sid(sid)
        self._run(self._q("DELETE FROM {t} WHERE sid = %s"), (sid,))

    def touch(self, sid: str, sess: Document) -> None:
        sid = self.check_sid(sid)
        sess = self.check_session(sess, deep_copy=False)
        try:
            expires = self.expiry(sess)
        except InvalidDocument:
            # as in the memory store: a bad cookie matters only for a session that exists
            if self.get(sid) is None:
                return
            raise
        self._run(
            self._q("UPDATE {t} SET expire = to_timestamp(%s) WHERE sid = %s"
                    " AND expire > to_timestamp(%s)"),
            (expires / 1000, sid, self._now()),
        )

    def all(self) -> dict[str, Document]:
        rows = self._run(self._q("SELECT sid, sess FROM {t} WHERE expire > to_timestamp(%s)"),
                         (self._now(),), "all")
        return {sid: _as_document(sess) for sid, sess in rows}

    def length(self) -> int:
        rows = self._run(self._q("SELECT count(*) FROM {t} WHERE expire > to_timestamp(%s)"),
                         (self._now(),), "all")
        return int(rows[0][0])

    def clear(self) -> None:
        self._run(self._q("DELETE FROM {t}"), ())

    def prune(self) -> int:
        rows = self._run(self._q("DELETE FROM {t} WHERE expire <= to_timestamp(%s) RETURNING sid"),
                         (self._now(),), "all")
        return len(rows)

    def __repr__(self) -> str:
        return f"<PostgresSessionStore {self.table.as_string(None)}>"


def _as_document(value: Any) -> Document:
    # a row connect-pg-simple wrote is json; psycopg parses it, but be robust to text too
    return json.loads(value) if isinstance(value, str) else value
