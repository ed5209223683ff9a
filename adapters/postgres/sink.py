"""The PostgreSQL sink: every Sink operation as parameterised SQL over JSONB documents.

Inputs go through the same ``sinkkit.core`` rules as the memory adapter, before
any SQL runs. Each single-object state change is one SQL statement (row locks and READ COMMITTED
re-evaluation make concurrent changes compose instead of overwrite); uniqueness is enforced by
indexes and their violations are mapped back to the typed errors by constraint name. No driver
exception leaves this module: connection trouble becomes ``Unavailable`` with the password masked.
"""

from __future__ import annotations

import collections
import itertools
import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Mapping
from contextlib import contextmanager, suppress
from time import monotonic
from typing import Any

import psycopg
from psycopg import ClientCursor
from psycopg import errors as pgerrors
from psycopg.sql import SQL, Composable, Identifier, Literal
from psycopg.types.json import set_json_loads
from psycopg_pool import ConnectionPool, PoolClosed, PoolTimeout
from sinkkit.adapters.postgres import jsonio
from sinkkit.adapters.postgres.config import PostgresConfig, mask_dsn, parse_entry
from sinkkit.adapters.postgres.jsonio import jsonb
from sinkkit.adapters.postgres.schema import bootstrap
from sinkkit.adapters.postgres.sessions import PostgresSessionStore
from sinkkit.adapters.postgres.wire import Wire
from sinkkit.conformance.contract import DEFAULT_PUSH_QUERY
from sinkkit.conformance.errors import (
    Busy,
    DuplicateRepo,
    DuplicateSSHKey,
    DuplicateUser,
    InvalidDocument,
    PublicKeyExists,
    PushNotFound,
    RepoNotFound,
    SinkError,
    Unavailable,
    UserNotFound,
)
from sinkkit.core import clock, queries, rules, views
from sinkkit.core.base import SinkBase
from sinkkit.core.config import redact

log = logging.getLogger("sinkkit.adapters.postgres")

Document = dict[str, Any]
Row = tuple[Any, ...]
OnUnique = Mapping[str, Callable[[], SinkError]]

_ROLES = {"canPush", "canAuthorise"}


def _has_default_conditions(query: Mapping[str, Any]) -> bool:
    """Whether ``query`` asks at least what the default listing asks, value and JSON type alike
    (``1 == True`` in Python, but JSONB ``=`` is type-strict, so ``{"blocked": 1}`` is not it)."""
    return all(key in query and type(query[key]) is type(value) and query[key] == value
               for key, value in DEFAULT_PUSH_QUERY.items())
#: seconds a call waits for a pooled connection while the server is known to be down
_OUTAGE_WAIT = 1.0
#: a pooled connection idle longer than this is checked with a round trip before it is used
_CHECK_AFTER_IDLE = 1.0
#: seconds a connection may go from one caller to the next without passing through the pool
_LEND_S = 30.0
#: where a connection carries (when the pool lent it out, the sink's drain count then)
_LENT_AT = "_sinkkit_lent_at"
_IDLE = psycopg.pq.TransactionStatus.IDLE
#: first key of the advisory locks that serialise adding one SSH key (bootstrap uses another)
_KEY_LOCK_CLASS = 0x53534B  # "SSK"


def _key(value: Any) -> str | None:
    """``value`` when it can be sent as a text parameter at all; lookups answer None otherwise."""
    return value if rules.is_plain_id(value) else None


def _where(query: Mapping[str, Any]) -> tuple[Composable, list[Any]]:
    """Equality on each key of a normalised query, with ``documents.matches`` semantics: JSONB
    ``=`` is type-strict (true is not 1) and numeric (1 equals 1.0); None matches absent or null."""
    parts, params = [SQL("TRUE")], []
    # keys are written into the text (only values are parameters), so a prepared statement's
    # generic plan sees the same expressions the indexes are built on
    for key, value in query.items():
        if value is None:
            parts.append(SQL("(doc->{k} IS NULL OR doc->{k} = 'null'::jsonb)").format(
                k=Literal(key)))
        else:
            parts.append(SQL("doc->{} = %s").format(Literal(key)))
            params.append(jsonb(value))
    return SQL(" AND ").join(parts), params


def _where_params(query: Mapping[str, Any]) -> list[Any]:
    """The parameters ``_where(query)`` sends, without composing its text again."""
    return [jsonb(value) for value in query.values() if value is not None]


def _render(query: Composable) -> str:
    """A composed statement as text, once at import: psycopg then caches its parsed form, where
    a ``Composed`` passed to ``execute`` would be rendered again on every call."""
    return query.as_string(None)


#: seconds a call may overrun statementTimeout on the client before its connection is cut: the
#: server's own cancel (Busy) comes first whenever the server can be reached at all
_CLIENT_GRACE = 1.0


class _Watchdog:
    """Cuts the socket of a call that overran its deadline: one thread for every call.

    statement_timeout and lock_timeout bound a call only while the server hears it, and TCP
    timeouts only while the network refuses data; a path that swallows traffic but keeps the
    sockets open (a failover, a partition without resets, a stuck proxy) would block a call in
    libpq's read for ever. Shutting the socket down makes that read fail at once, psycopg marks
    the connection broken, and the pool discards it instead of lending it out again.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._armed: dict[int, tuple[float, int]] = {}
        self._tokens = itertools.count()
        self._thread: threading.Thread | None = None
        #: when the thread wakes next on its own: a deadline after that needs no wake-up call
        self._wakes_at = 0.0
        #: the longest bound armed so far (seconds)
        self._longest = 0.0
        self.cut = 0

    def arm(self, conn: psycopg.Connection, seconds: float) -> int:
        token = next(self._tokens)
        deadline = monotonic() + seconds
        with self._cond:
            self._armed[token] = (deadline, conn.pgconn.socket)
            self._longest = max(self._longest, seconds)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="sinkkit-pg-watchdog",
                                                daemon=True)
                self._thread.start()
            # waking the thread on every call cost a thread switch per statement; it only needs
            # to know of a deadline earlier than the one it already sleeps until
            if deadline < self._wakes_at:
                self._cond.notify()
        return token

    def disarm(self, token: int) -> None:
        with self._cond:
            self._armed.pop(token, None)

    def _run(self) -> None:
        with self._cond:
            while True:
                now = monotonic()
                for token, (deadline, fd) in list(self._armed.items()):
                    if deadline <= now:
                        del self._armed[token]
                        with suppress(OSError):
                            # on the descriptor libpq reads: its blocked recv returns at once
                            socket.socket(fileno=os.dup(fd)).shutdown(socket.SHUT_RDWR)
                        self.cut += 1
                # with nothing armed, sleep as long as the longest bound: a call armed meanwhile
                # has a deadline no earlier than that wake-up, so it needs no notify. Sleeping
                # longer made the next call's deadline the earlier one, and a thread switch to
                # the watchdog on every call that found it idle (about 10 µs a point read).
                nearest = min((d for d, _ in self._armed.values()),
                              default=now + (self._longest or 3600))
                self._wakes_at = now + max(0.01, nearest - now)
                self._cond.wait(self._wakes_at - now)


class _StaleCheck:
    """The pool's checkout check, paying a round trip only where a connection may be broken.

    Checking every checkout (``ConnectionPool.check_connection``) doubled the latency of a point
    read. A connection is checked when it sat idle longer than ``idle`` seconds, or when the
    sink has lost a connection since this one was last used: a server restart breaks every idle
    connection at once, so after the first failure each of them is checked before reuse.
    """

    #: the attribute each pooled connection carries its (last use, epoch) in: a connection
    #: belongs to one pool, hence one check, and an attribute costs a fraction of the weak
    #: dictionary it replaced, on every call
    _LAST_USE = "_sinkkit_last_use"

    def __init__(self, idle: float = _CHECK_AFTER_IDLE):
        self.idle = idle
        self.epoch = 0

    def used(self, conn: psycopg.Connection) -> None:
        setattr(conn, self._LAST_USE, (monotonic(), self.epoch))

    def lost(self) -> None:
        self.epoch += 1

    def stale(self, conn: psycopg.Connection) -> bool:
        last = getattr(conn, self._LAST_USE, None)
        return last is None or last[1] != self.epoch or monotonic() - last[0] > self.idle

    def __call__(self, conn: psycopg.Connection) -> None:
        if self.stale(conn):
            self.round_trip(conn)

    def round_trip(self, conn: psycopg.Connection) -> None:
        """Raise unless ``conn`` answers the server's empty query."""
        # the check is a round trip too, and hangs like any call on a silent network
        token = self.watchdog.arm(conn, self.bound) if self.bound else None
        try:
            ConnectionPool.check_connection(conn)
        finally:
            if token is not None:
                self.watchdog.disarm(token)

    #: the watchdog and the seconds it allows a check (set by the sink that owns this check)
    watchdog: _Watchdog
    bound: float = 0.0


#: every change of a repo: its new ``doc``, and ``lastModified`` strictly after the stored one
#: even where the clock has not moved on
_UPDATE_REPO = SQL("UPDATE repos SET doc = {set_doc},"
                   " modified_ms = greatest(%(now)s, modified_ms + 1) WHERE id = %(id)s"
                   " RETURNING {returning}")


def _permission_statements() -> dict[tuple[str, bool], str]:
    """The grant and revoke statements, one per (role, add).

    Each changes the list in one statement, so parallel grants of distinct users all land (an
    add appends only when absent). A grant returns nothing, so each reads back only the id that
    says the repo was there; the role's path is a literal, so no array parameter is dumped."""
    add = ("jsonb_set(doc, {path}, CASE"
           " WHEN coalesce(doc #> {path}, '[]'::jsonb) @> to_jsonb(%(name)s::text)"
           " THEN coalesce(doc #> {path}, '[]'::jsonb)"
           " ELSE coalesce(doc #> {path}, '[]'::jsonb) || to_jsonb(%(name)s::text) END)")
    remove = "jsonb_set(doc, {path}, coalesce(doc #> {path}, '[]'::jsonb) - %(name)s::text)"
    return {
        (role, adding): _render(_UPDATE_REPO.format(
            set_doc=SQL((add if adding else remove).format(path=f"'{{users,{role}}}'::text[]")),
            returning=SQL("id")))
        for role in sorted(_ROLES) for adding in (True, False)}


class _ReadOnlyServer(Exception):
    """A write refused with SQLSTATE 25006 (read_only_sql_transaction); never leaves the sink."""

    def __init__(self, cause: psycopg.Error):
        super().__init__(str(cause))
        self.cause = cause


class PostgresSink(SinkBase):
    """A Sink over one schema of one PostgreSQL database, through a psycopg connection pool."""

    keeps_documents = False  # a pushed document is serialised at once, never kept

    def __init__(self, config: PostgresConfig, pool: ConnectionPool, check: _StaleCheck):
        """``check`` is the one ``pool`` runs on checkout; the sink tells it of use and loss."""
        self.config = config
        self._pool = pool
        self._idle: collections.deque[psycopg.Connection] = collections.deque()
        self._waiters = 0
        self._waiters_lock = threading.Lock()
        #: how many times the connections were drained; each lent one carries the count
        self._generation = 0
        self._check = check
        self._closed = False
        self._down = False
        self._close_lock = threading.Lock()
        #: seconds a call may take on the client before its connection is cut (0: unbounded)
        self._call_bound = (config.statement_timeout_ms / 1000 + _CLIENT_GRACE
                            if config.statement_timeout_ms else 0.0)
        #: the per-transaction settings statement, or None where the pool sets them per
        #: connection (see local_settings)
        self._local = None if config.prepared_statements else local_settings(config)
        self._local_prefix = (self._local or "").replace("%", "%%") + "; "
        self._wire = Wire(config.spin_wait_us / 1e6, PREPARE_THRESHOLD)
        self._watchdog = _Watchdog()
        check.watchdog, check.bound = self._watchdog, self._call_bound
        self._sessions = PostgresSessionStore(
            self._run, config.session_schema, config.session_table, config.session_ttl)

    # -- plumbing ------------------------------------------------------------------------------

    def _unavailable(self, exc: BaseException) -> Unavailable:
        return Unavailable(self.config.safe(
            f"postgres sink {self.config.masked_dsn} is unavailable: "
            f"{type(exc).__name__}: {exc}".rstrip()))

    @contextmanager
    def _connection(self, on_unique: OnUnique | None = None):
        if self._closed:
            raise Unavailable(f"PostgresSink over {self.config.masked_dsn} is closed")
        # after a lost connection, wait only briefly for the pool until the server answers again,
        # so every call during an outage fails fast instead of after the full connect timeout
        timeout = _OUTAGE_WAIT if self._down else self.config.connect_timeout
        try:
            # getconn/putconn rather than pool.connection(): that one also enters the connection
            # as a context, whose exit commits, a locked no-op in autocommit paid on every call
            # (putconn still rolls back a connection left in a transaction, or replaces it)
            conn = self._borrow(timeout)
            try:
                token = self._watchdog.arm(conn, self._call_bound) if self._call_bound else None
                try:
                    yield conn
                except pgerrors.ReadOnlySqlTransaction:
                    # the server stopped taking writes under an open connection (a failover
                    # demoted it, or it came back as a standby): every pooled connection to it
                    # is useless for writing, so all are replaced; new ones follow the
                    # connection string (target_session_attrs=read-write) to the writable node
                    self._drain()
                    raise
                finally:
                    if token is not None:
                        self._watchdog.disarm(token)
                self._check.used(conn)
            finally:
                self._give_back(conn)
            self._down = False
        except pgerrors.ReadOnlySqlTransaction as exc:
            raise _ReadOnlyServer(exc) from None
        except pgerrors.UniqueViolation as exc:
            self._down = False
            factory = (on_unique or {}).get(exc.diag.constraint_name or "")
            if factory is None:
                raise self._unavailable(exc) from None
            raise factory() from None
        except psycopg.DataError as exc:
            raise InvalidDocument("value", self.config.safe(exc)) from None
        except (pgerrors.LockNotAvailable, pgerrors.QueryCanceled) as exc:
            # the server is up and answered: no outage, the connection stays in the pool
            raise Busy(self.config.safe(
                f"postgres sink {self.config.masked_dsn} is busy: {type(exc).__name__}: "
                f"{exc} (lockTimeout {self.config.lock_timeout_ms} ms, statementTimeout "
                f"{self.config.statement_timeout_ms} ms)".rstrip())) from None
        except PoolTimeout as exc:
            if not self._down and self._pool_exhausted():
                raise Busy(self.config.safe(
                    f"postgres sink {self.config.masked_dsn} is busy: all "
                    f"{self.config.pool_size} pooled connections stayed in use for "
                    f"{timeout:g}s (poolSize)")) from None
            self._down = True
            self._check.lost()
            raise self._unavailable(exc) from None
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            self._down = True
            self._check.lost()
            raise self._unavailable(exc) from None
        except (psycopg.Error, PoolClosed) as exc:
            raise self._unavailable(exc) from None

    # Idle connections wait in a stack in front of the pool. psycopg_pool takes its lock (and
    # under load, waits for it) several times per checkout and return, which cost 8 concurrent
    # callers about a quarter of their throughput; a deque's pop and append need no lock. Every
    # connection is still the pool's (it counts them as lent, so poolSize bounds them all), a
    # stale one is checked as the pool would check it, and each goes back through the pool
    # (its reset, its max_lifetime) at least every _LEND_S seconds. Last in, first out: the
    # connection used last, and its server backend, are the ones most likely still warm.

    def _borrow(self, timeout: float) -> psycopg.Connection:
        while True:
            conn = self._take_idle()
            if conn is None:
                # counted as waiting before the second look at the stack: a connection given
                # back meanwhile is either found there or, seeing a waiter, sent to the pool
                with self._waiters_lock:
                    self._waiters += 1
                try:
                    conn = self._take_idle()
                    if conn is None:
                        conn = self._pool.getconn(timeout=timeout)
                        conn.__dict__[_LENT_AT] = (monotonic(), self._generation)
                        return conn
                finally:
                    with self._waiters_lock:
                        self._waiters -= 1
            if not self._check.stale(conn):
                return conn
            try:
                self._check.round_trip(conn)
                return conn
            except psycopg.Error:
                conn.close()
                self._pool.putconn(conn)  # the pool counts it gone and opens another

    def _take_idle(self) -> psycopg.Connection | None:
        try:
            return self._idle.pop()
        except IndexError:
            return None

    def _give_back(self, conn: psycopg.Connection) -> None:
        lent_at, generation = conn.__dict__.get(_LENT_AT, (0.0, -1))
        # a connection lent before a drain goes back to the pool, which replaces it: one still
        # open to a server that turned read-only must not be lent again from the stack
        if (conn.pgconn.transaction_status == _IDLE and generation == self._generation
                and monotonic() - lent_at < _LEND_S):
            self._idle.append(conn)
            # a caller waiting in the pool would not see the stack; nor would a closed sink
            if self._waiters or self._closed:
                self._return_idle()
        else:
            self._pool.putconn(conn)

    def _return_idle(self) -> None:
        while (conn := self._take_idle()) is not None:
            self._pool.putconn(conn)

    def _drain(self) -> None:
        """Replace every connection, idle, pooled or lent (after the server turned read-only)."""
        self._generation += 1
        self._return_idle()
        self._pool.drain()

    def _pool_exhausted(self) -> bool:
        stats = self._pool.get_stats()
        return stats.get("pool_size", 0) >= self.config.pool_size and \
            stats.get("pool_available", 0) == 0

    def _writing(self, call: Callable[[], Any]) -> Any:
        """``call()``, once more on a fresh connection if the server refused it as read-only.

        The retry is safe: SQLSTATE 25006 is raised before the statement changes anything, and
        the transaction it belonged to is rolled back, so the refused call wrote nothing. One
        retry only: a second refusal means no writable server is reachable (the connection
        string leads only to read-only ones), which is an outage, not something to spin on.
        """
        try:
            return call()
        except _ReadOnlyServer:
            pass
        try:
            return call()
        except _ReadOnlyServer as again:
            raise self._unavailable(again.cause) from None

    def _run(self, query: Any, params: Any = (), fetch: str | None = None,
             on_unique: OnUnique | None = None) -> list[Row]:
        def call() -> list[Row]:
            with self._connection(on_unique) as conn:
                if self._local is None:
                    text = query if isinstance(query, str) else _render(query)
                    return self._wire.run(conn, text, params, fetch == "all")
                else:
                    # the settings and the statement in one simple-query message: one implicit
                    # transaction, one round trip (the parameters are bound client-side)
                    cur = ClientCursor(conn)
                    cur.execute(self._with_settings(query), params)
                    cur.nextset()
                return cur.fetchall() if fetch == "all" else []
        return self._writing(call)

    def _with_settings(self, query: str | Composable) -> str | Composable:
        if isinstance(query, Composable):
            return SQL(self._local_prefix) + query
        return self._local_prefix + query

    @contextmanager
    def _transaction(self, on_unique: OnUnique | None = None):
        """A pooled connection inside a transaction that carries this sink's settings."""
        with self._connection(on_unique) as conn, conn.transaction():
            if self._local is not None:
                conn.execute(self._local)
            yield conn

    @property
    def session_store(self) -> PostgresSessionStore:
        if self._closed:
            raise Unavailable(f"PostgresSink over {self.config.masked_dsn} is closed")
        return self._sessions

    def close(self) -> None:
        with self._close_lock:
            if not self._closed:
                self._closed = True
                self._return_idle()
                self._pool.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<PostgresSink {self.config.masked_dsn} schema={self.config.schema!r} {state}>"

    # -- pushes --------------------------------------------------------------------------------

    def _write_audit(self, doc: Document) -> None:
        self._run("INSERT INTO pushes (id, doc) VALUES (%s, %s)"
                  " ON CONFLICT (id) DO UPDATE SET doc = EXCLUDED.doc", (doc["id"], jsonb(doc)))

    def _get_push(self, id: str) -> Document | None:
        rows = self._run("SELECT doc FROM pushes WHERE id = %s", (id,), "all")
        return rows[0][0] if rows else None

    # one row holding the listing as one JSON array: a row per document cost a result row, a
    # loader call and a JSON parse each, about a fifth of a 50-push listing. The fields of
    # git-proxy's Action that the list view leaves out are dropped by the server (its steps
    # and their logs are most of a real push), so they are neither sent nor parsed; any other
    # field outside the view is removed in Python (views.list_view_of_owned); none of the
    # dropped names is in the view (tests/test_postgres_explain.py)
    _LISTING = SQL("SELECT json_agg(doc - '{{_id,actionType,author,autoApproved,autoRejected,"
                   "capabilities,errorMessage,lastStep,message,newIdxFiles,protocol,proxyGitPath,"
                   "pullAuthStrategy,steps,tagData,tags,user}}'::text[]"
                   " ORDER BY ts DESC NULLS LAST, id DESC) FROM pushes WHERE {where}")

    @staticmethod
    def listing_query(query: Document | None = None) -> tuple[Composable, list[Any]]:
        """The SQL and parameters ``get_pushes(query)`` runs (for EXPLAIN in the kit tests)."""
        return PostgresSink._listing_sql(queries.normalise_query("push", query))

    @staticmethod
    def _is_default(q: Document) -> bool:
        return q.keys() == DEFAULT_PUSH_QUERY.keys() and _has_default_conditions(q)

    @staticmethod
    def _listing_sql(q: Document) -> tuple[Composable, list[Any]]:
        if PostgresSink._is_default(q):
            return SQL(PostgresSink._DEFAULT_LISTING), []
        where, params = _where(q)
        if _has_default_conditions(q):
            # the partial index's own predicate, so the planner can prove the index applies
            where = SQL("pending AND {}").format(where)
        return PostgresSink._LISTING.format(where=where), params

    # The default listing (git-proxy's review page) as one constant statement: its values are
    # written into the text too, so a call sends no parameters and there is nothing to encode.
    _DEFAULT_LISTING = _render(_LISTING.format(where=SQL("pending AND {}").format(SQL(
        " AND ").join(SQL("doc->{} = {}::jsonb").format(Literal(key), Literal(jsonio.dumps(value)))
                      for key, value in DEFAULT_PUSH_QUERY.items()))))

    #: listing statements rendered to text, by the query's shape (its keys, which values are
    #: None, whether it is the default listing): the text depends on nothing else
    _listing_texts: dict[tuple[Any, ...], str] = {}
    _LISTING_TEXTS_MAX = 256

    def _get_pushes(self, query: Document) -> list[Document]:
        # each document was decoded from this answer alone: the view may be made of it
        return [views.list_view_of_owned(doc) for doc in self._listed(*self._listing_text(query))]

    def _listed(self, query: str | Composable, params: Any) -> list[Document]:
        """The documents a ``_LISTING`` statement aggregates (json_agg of no rows is NULL)."""
        return self._run(query, params, "all")[0][0] or []

    def _listing_text(self, query: Document) -> tuple[str, list[Any]]:
        if self._is_default(query):
            return self._DEFAULT_LISTING, []
        shape = (tuple((k, v is None) for k, v in query.items()), _has_default_conditions(query))
        text = self._listing_texts.get(shape)
        if text is None:
            composed, params = self._listing_sql(query)
            text = _render(composed)
            if len(self._listing_texts) < self._LISTING_TEXTS_MAX:
                self._listing_texts[shape] = text
            return text, params
        return text, _where_params(query)

    def _profile_pushes(self, variants: list[str], name: str) -> list[Document]:
        # SQL narrows to candidates; profile_matches decides exactly (Python's case folding)
        where = SQL("doc->'type' = '\"push\"'::jsonb AND (doc->>'userEmail' = ANY(%s)"
                    " OR (%s AND doc->'attestation'->'reviewer' ? 'username'))")
        listed = self._listed(self._LISTING.format(where=where),
                              ([v for v in variants if _key(v)], bool(name)))
        return [views.list_view_of_owned(doc) for doc in listed
                if queries.profile_matches(doc, variants, name)]

    def get_repo_push_rollups_by_canonical_url(self) -> Document:
        rows = self._run(
            "SELECT doc->'url', doc->'error', doc->'rejected', doc->'canceled', doc->'authorised',"
            " doc->'blocked', doc->'allowPush', doc->'timestamp' FROM pushes"
            " WHERE doc->'type' = '\"push\"'::jsonb", (), "all")
        rollups = views.empty_rollups()
        fields = ("url", "error", "rejected", "canceled", "authorised", "blocked", "allowPush",
                  "timestamp")
        for row in rows:
            push = {k: v for k, v in zip(fields, row) if v is not None}
            views.add_to_rollups(rollups, {"type": "push", **push})
        return rollups

    def _delete_push(self, id: str) -> None:
        self._run("DELETE FROM pushes WHERE id = %s", (id,))

    def _review(self, id: str, action: str, changes: Document) -> None:
        rows = self._run("UPDATE pushes SET doc = doc || %s WHERE id = %s RETURNING id",
                         (jsonb(changes), id), "all")
        if not rows:
            raise PushNotFound(id)

    # -- repos ---------------------------------------------------------------------------------

    @staticmethod
    def _repo(row: Row) -> Document:
        _id, doc, created, modified = row
        return {"_id": _id, **doc, "dateCreated": clock.iso_from_ms(created),
                "lastModified": clock.iso_from_ms(modified)}

    _SELECT_REPOS = SQL("SELECT id, doc, created_ms, modified_ms FROM repos WHERE {where}"
                        " ORDER BY (doc->>'name') COLLATE \"C\", id {limit}")
    # the name compared under the collation repos_name_idx is built with (equality is the same
    # under every deterministic collation), so that index serves the condition and the order;
    # the parentheses matter: ``doc->>'name' COLLATE "C"`` collates the key, not the value, and
    # matches no index
    _REPO_BY_NAME = _render(_SELECT_REPOS.format(where=SQL("(doc->>'name') COLLATE \"C\" = %s"),
                                                 limit=SQL("LIMIT 1")))
    # url is unique (repos_url_key): at most one row, nothing to order
    _REPO_BY_URL = _render(SQL("SELECT id, doc, created_ms, modified_ms FROM repos"
                               " WHERE doc->>'url' = %s LIMIT 1"))
    _REPO_BY_ID = _render(_SELECT_REPOS.format(where=SQL("id = %s"), limit=SQL("")))

    def _repos(self, query: Composable | str, params: list[Any]) -> list[Document]:
        return [self._repo(r) for r in self._run(query, params, "all")]

    def _get_repos(self, query: Document) -> list[Document]:
        where, params = _where(query)
        return self._repos(self._SELECT_REPOS.format(where=where, limit=SQL("")), params)

    def _get_repo(self, name: str) -> Document | None:
        found = self._repos(self._REPO_BY_NAME, [name])
        return found[0] if found else None

    def _get_repo_by_url(self, url: str) -> Document | None:
        found = self._repos(self._REPO_BY_URL, [url])
        return found[0] if found else None

    def _get_repo_by_id(self, _id: str) -> Document | None:
        found = self._repos(self._REPO_BY_ID, [_id])
        return found[0] if found else None

    @staticmethod
    def _repo_conflicts(doc: Document) -> OnUnique:
        return {"repos_pkey": lambda: DuplicateRepo("_id", doc.get("_id")),
                "repos_url_key": lambda: DuplicateRepo("url", doc.get("url"))}

    def _create_repo(self, doc: Document) -> Document:
        _id = doc.pop("_id", None) or uuid.uuid4().hex
        stamp = clock.now_ms()
        rows = self._run(
            "INSERT INTO repos (id, doc, created_ms, modified_ms) VALUES (%s, %s, %s, %s)"
            " RETURNING id, doc, created_ms, modified_ms", (_id, jsonb(doc), stamp, stamp), "all",
            self._repo_conflicts({**doc, "_id": _id}))
        return self._repo(rows[0])

    def _change_repo(self, _id: str, update: str, params: dict[str, Any],
                     on_unique: OnUnique | None = None) -> Document:
        rows = self._run(update, {**params, "now": clock.now_ms(), "id": _id}, "all", on_unique)
        if not rows:
            raise RepoNotFound(_id)
        return self._repo(rows[0])

    def _update_repo(self, _id: str, fields: Document) -> Document:
        return self._change_repo(_id, self._UPDATE_FIELDS, {"fields": jsonb(fields)},
                                 self._repo_conflicts(fields))

    _UPDATE_FIELDS = _render(_UPDATE_REPO.format(set_doc=SQL("doc || %(fields)s"),
                                                 returning=SQL("id, doc, created_ms, modified_ms")))
    _PERMISSION = _permission_statements()

    def _permission(self, _id: str, role: str, name: str, add: bool) -> None:
        rows = self._run(self._PERMISSION[role, add],
                         {"name": name, "now": clock.now_ms(), "id": _id}, "all")
        if not rows:
            raise RepoNotFound(_id)

    def _delete_repo(self, _id: str) -> None:
        self._run("DELETE FROM repos WHERE id = %s", (_id,))

    # -- users ---------------------------------------------------------------------------------

    @staticmethod
    def _user(row: Row) -> Document:
        _id, doc = row
        return {"_id": _id, **doc}

    _SELECT_USERS = SQL("SELECT id, doc FROM users WHERE {where} ORDER BY {order} {limit}")
    _BY_SEQ = SQL("seq")
    _BY_NAME = SQL("doc->>'username' COLLATE \"C\", id")

    # One statement per field, the field written into the text: the planner matches the
    # expression index ``(doc->>'username')`` only against that literal expression, which a
    # field sent as a parameter hides from a generic (prepared) plan. On a unique key at most
    # one row matches, so there is no ORDER BY to sort for LIMIT 1.
    _FIND_ONE = SQL("SELECT id, doc FROM users WHERE {where} LIMIT 1")
    _FIND_BY = {
        "username": _render(_FIND_ONE.format(where=SQL("doc->>'username' = %s"))),
        # the email condition repeats the partial unique index's predicate so it can serve this
        "email": _render(_FIND_ONE.format(
            where=SQL("doc->>'email' = %s AND coalesce(doc->>'email', '') <> ''"))),
        # not unique: the oldest match, as the memory model answers
        "gitAccount": _render(_SELECT_USERS.format(where=SQL("doc->>'gitAccount' = %s"),
                                                   order=_BY_SEQ, limit=SQL("LIMIT 1"))),
        "oidcId": _render(_SELECT_USERS.format(where=SQL("doc->>'oidcId' = %s"),
                                               order=_BY_SEQ, limit=SQL("LIMIT 1"))),
    }
    _FIND_BY_SSH_KEY = _render(_SELECT_USERS.format(
        where=SQL("coalesce(doc->'publicKeys', '[]'::jsonb)"
                  " @> jsonb_build_array(jsonb_build_object('key', %s::text))"),
        order=_BY_SEQ, limit=SQL("LIMIT 1")))

    def _users(self, query: Composable | str, params: list[Any]) -> list[Document]:
        return [self._user(r) for r in self._run(query, params, "all")]

    def _find(self, field: str, value: str) -> Document | None:
        if field == "publicKeys.key":
            found = self._users(self._FIND_BY_SSH_KEY, [value])
        else:
            found = self._users(self._FIND_BY[field], [value])
        return found[0] if found else None

    def _get_users(self, query: Document) -> list[Document]:
        where, params = _where(query)
        return self._users(self._SELECT_USERS.format(where=where, order=self._BY_NAME,
                                                     limit=SQL("")), params)

    @staticmethod
    def _user_conflicts(doc: Document) -> OnUnique:
        return {"users_pkey": lambda: DuplicateUser("_id", doc.get("_id")),
                "users_username_key": lambda: DuplicateUser("username", doc.get("username")),
                "users_email_key": lambda: DuplicateUser("email", doc.get("email"))}

    def _create_user(self, doc: Document) -> Document:
        _id = doc.pop("_id", None) or uuid.uuid4().hex
        rows = self._run("INSERT INTO users (id, doc) VALUES (%s, %s) RETURNING id, doc",
                         (_id, jsonb(doc)), "all", self._user_conflicts({**doc, "_id": _id}))
        return self._user(rows[0])

    _UPSERT_USER = """
        WITH target AS (
            SELECT id FROM (
                SELECT id, 0 AS pri, 0::bigint AS seq FROM users WHERE id = %(id)s
                UNION ALL
                SELECT id, 1, seq FROM users WHERE doc->>'username' = %(username)s
            ) found ORDER BY pri, seq LIMIT 1),
        upd AS (
            UPDATE users SET doc = '{"publicKeys": []}'::jsonb || users.doc || %(patch)s
            WHERE id = (SELECT id FROM target) RETURNING id, doc),
        ins AS (
            INSERT INTO users (id, doc) SELECT %(new_id)s, %(new_doc)s
            WHERE %(create)s AND NOT EXISTS (SELECT 1 FROM target)
            ON CONFLICT ((doc->>'username')) DO UPDATE
                SET doc = '{"publicKeys": []}'::jsonb || users.doc || %(patch)s
            RETURNING id, doc)
        SELECT id, doc FROM upd UNION ALL SELECT id, doc FROM ins"""

    def _update_user(self, fields: Document) -> Document:
        patch = {k: v for k, v in fields.items() if k != "_id"}
        # the document a creation would store; checked only if the user turns out to be absent
        # (the memory adapter validates a new user only when it creates one)
        new_doc, refused = {}, None
        if "username" in fields:
            try:
                new_doc = rules.normalise_new_user(fields)
            except InvalidDocument as exc:
                refused = exc
        new_id = new_doc.pop("_id", None) or uuid.uuid4().hex
        params = {"id": _key(fields.get("_id")), "username": fields.get("username"),
                  "patch": jsonb(patch), "new_id": new_id, "new_doc": jsonb(new_doc),
                  "create": "username" in fields and refused is None}
        rows = self._run(self._UPSERT_USER, params, "all", self._user_conflicts(fields))
        if not rows:
            if refused is not None:
                raise refused
            raise UserNotFound(fields.get("_id", fields.get("username")))
        return self._user(rows[0])

    def _delete_user(self, username: str) -> None:
        self._run("DELETE FROM users WHERE doc->>'username' = %s", (username,))

    # -- public keys ---------------------------------------------------------------------------

    def _username_or_raise(self, username: Any) -> str:
        key = _key(username.lower()) if isinstance(username, str) else None
        if key is None:
            raise UserNotFound(username)
        return key

    _ADD_KEY = """
        WITH owner AS (
            SELECT doc->>'username' AS name FROM users
            WHERE doc->>'username' <> %(u)s
              AND coalesce(doc->'publicKeys', '[]'::jsonb)
                  @> jsonb_build_array(jsonb_build_object('key', %(key)s::text))
            ORDER BY seq LIMIT 1),
        upd AS (
            UPDATE users SET doc = jsonb_set(doc, '{publicKeys}',
                coalesce(doc->'publicKeys', '[]'::jsonb) || jsonb_build_array(%(rec)s))
            WHERE doc->>'username' = %(u)s
              AND NOT EXISTS (SELECT 1 FROM owner)
              AND NOT coalesce(doc->'publicKeys', '[]'::jsonb)
                  @> jsonb_build_array(jsonb_build_object('key', %(key)s::text))
              AND NOT coalesce(doc->'publicKeys', '[]'::jsonb)
                  @> jsonb_build_array(jsonb_build_object('fingerprint', %(fp)s::text))
            RETURNING id)
        SELECT (SELECT count(*) FROM upd),
               EXISTS (SELECT 1 FROM users WHERE doc->>'username' = %(u)s),
               (SELECT name FROM owner)"""

    def _add_public_key(self, username: str, record: Document) -> None:
        name = self._username_or_raise(username)
        params = {"u": name, "key": record["key"], "fp": record["fingerprint"],
                  "rec": jsonb(record)}

        def call() -> Row:
            with self._transaction() as conn:
                # a key belongs to one user at most: adds of one key queue on a lock, so the
                # second statement's snapshot sees the first one's commit (one alone cannot)
                conn.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))",
                             (_KEY_LOCK_CLASS, record["key"]))
                return conn.execute(self._ADD_KEY, params).fetchone()
        added, exists, owner = self._writing(call)
        if added:
            return
        if not exists:
            raise UserNotFound(username)
        if owner is not None:
            raise DuplicateSSHKey(owner)
        raise PublicKeyExists(name, record["fingerprint"])

    _REMOVE_KEY = """
        WITH upd AS (
            UPDATE users SET doc = jsonb_set(doc, '{publicKeys}', coalesce(
                (SELECT jsonb_agg(k ORDER BY n)
                 FROM jsonb_array_elements(coalesce(doc->'publicKeys', '[]'::jsonb))
                      WITH ORDINALITY AS t(k, n)
                 WHERE k->>'fingerprint' IS DISTINCT FROM %(fp)s), '[]'::jsonb))
            WHERE doc->>'username' = %(u)s AND %(fp)s::text IS NOT NULL
              AND coalesce(doc->'publicKeys', '[]'::jsonb)
                  @> jsonb_build_array(jsonb_build_object('fingerprint', %(fp)s::text))
            RETURNING id)
        SELECT EXISTS (SELECT 1 FROM users WHERE doc->>'username' = %(u)s)"""

    def remove_public_key(self, username: str, fingerprint: str) -> None:
        name = self._username_or_raise(username)
        fp = _key(fingerprint)
        rows = self._run(
            self._REMOVE_KEY,
            {"u": name, "fp": fp}, "all")
        if not rows[0][0]:
            raise UserNotFound(username)

    def get_public_keys(self, username: str) -> list[Document]:
        name = self._username_or_raise(username)
        rows = self._run("SELECT coalesce(doc->'publicKeys', '[]'::jsonb) FROM users"
                         " WHERE doc->>'username' = %s", (name,), "all")
        if not rows:
            raise UserNotFound(username)
        return rows[0][0]

    # -- migrations ledger ---------------------------------------------------------------------

    def get_applied_migrations(self) -> list[str]:
        return [r[0] for r in self._run("SELECT id FROM sink_migrations ORDER BY seq", (), "all")]

    def _record_migration(self, migration_id: str) -> None:
        self._run("INSERT INTO sink_migrations (id, applied_at) VALUES (%s, %s)"
                  " ON CONFLICT (id) DO NOTHING",
                  (migration_id, clock.iso_from_ms(clock.now_ms())))

    def _unrecord_migration(self, migration_id: str) -> None:
        self._run("DELETE FROM sink_migrations WHERE id = %s", (migration_id,))


def local_settings(config: PostgresConfig) -> str:
    """The search path and the per-call bounds as one statement, for one transaction only.

    With ``preparedStatements: false`` (the setting for PgBouncer's transaction pooling) each
    call runs it in the same message as its statement: the next transaction may run on another
    server connection, so a session-level SET would be missing there and would leak to the other
    clients of the one it ran on. ``set_config(..., true)`` lasts until the transaction ends.
    """
    values = {"search_path": Identifier(config.schema).as_string(None),
              "statement_timeout": str(config.statement_timeout_ms),
              "lock_timeout": str(config.lock_timeout_ms)}
    calls = SQL(", ").join(SQL("set_config({}, {}, true)").format(Literal(k), Literal(v))
                           for k, v in values.items())
    return SQL("SELECT {}").format(calls).as_string(None)


def _configure(schema: str, statement_timeout_ms: int = 0, lock_timeout_ms: int = 0,
               session_settings: bool = True) -> Callable[[psycopg.Connection], None]:
    """Each new pooled connection: the JSON reader, and (``session_settings``, where a
    connection is a session) the search path and bounds."""
    def configure(conn: psycopg.Connection) -> None:
        set_json_loads(jsonio.loads, conn)
        if not session_settings:
            return
        conn.execute(SQL("SET search_path TO {}").format(Identifier(schema)))
        # every call is bounded on the server too: a lock held by another session or a runaway
        # statement ends in Busy (SQLSTATE 55P03 / 57014) instead of holding a pooled connection
        conn.execute(SQL("SET statement_timeout = {}").format(statement_timeout_ms))
        conn.execute(SQL("SET lock_timeout = {}").format(lock_timeout_ms))
        conn.commit()
    return configure


#: executions of one statement text after which psycopg prepares it on the server (psycopg's
#: default): a statement run once (a listing with unusual keys) is never prepared
PREPARE_THRESHOLD = 5


def _connect_kwargs(config: PostgresConfig) -> dict[str, Any]:
    # Server-side prepared statements skip parsing and (once PostgreSQL settles on a generic
    # plan) planning on every later call. That is safe for plans because every statement names
    # its indexed expressions and the pending predicate literally, leaving only values as
    # parameters: a generic plan still proves the partial index applies and matches the
    # expression indexes (tests/test_postgres_explain.py checks them under a forced generic
    # plan). preparedStatements=false (None here) is for poolers that cannot carry a prepared
    # statement from one client to the next (PgBouncer before 1.21 in transaction pooling).
    threshold = PREPARE_THRESHOLD if config.prepared_statements else None
    return {"connect_timeout": max(2, round(config.connect_timeout)), "autocommit": True,
            "prepare_threshold": threshold, **config.connect_kwargs}


def _with_token(config: PostgresConfig, kwargs: Mapping[str, Any]) -> Mapping[str, Any]:
    """``kwargs`` plus a fresh token as the password when ``options.auth`` asks for one."""
    if config.token_provider is None:
        return kwargs
    return redact({**kwargs, "password": config.token_provider()})


def open_postgres_sink(entry: dict[str, Any]) -> PostgresSink:
    """Entry point for ``type: postgres``: validate, bootstrap the schema, open the pool.

    Returns only once the schema and the session table exist; an unreachable server or a bad
    password raises ``Unavailable`` (password masked) within about ``connectTimeout`` seconds.
    """
    entry = redact(entry)  # a traceback through here prints the argument masked
    config = parse_entry(entry)
    safe = config.safe
    kwargs = redact(_connect_kwargs(config))
    try:
        with psycopg.connect(config.dsn, **_with_token(config, kwargs)) as conn:
            applied = bootstrap(conn, config.schema, config.session_schema, config.session_table)
    except SinkError:
        raise
    except Exception as exc:  # the driver's, or the token provider's (no credentials, ...)
        raise Unavailable(safe(f"cannot open postgres sink {config.masked_dsn}: "
                               f"{type(exc).__name__}: {exc}".rstrip())) from None
    log.info("postgres sink %s schema %r ready (%d migration(s) applied)",
             config.masked_dsn, config.schema, applied)
    check = _StaleCheck()
    pool = ConnectionPool(
        config.dsn, min_size=1, max_size=config.pool_size, open=False,
        # with options.auth, a callable: psycopg_pool (3.3+) calls it for every new connection
        kwargs=(lambda: _with_token(config, kwargs)) if config.token_provider else kwargs,
        # session-level settings only where a connection is a session: per transaction otherwise
        configure=_configure(config.schema, config.statement_timeout_ms,
                             config.lock_timeout_ms, config.prepared_statements),
        timeout=config.connect_timeout,
        # a connection broken by a server restart is found and replaced before it is used
        check=check,
        # give up background reconnects soon: the next call then starts a fresh attempt at once
        # instead of waiting out an exponential backoff grown during a long outage
        reconnect_timeout=config.connect_timeout,
        name=f"sinkkit-postgres-{config.schema}",
    )
    try:
        pool.open(wait=True, timeout=config.connect_timeout)
    except (PoolTimeout, psycopg.Error) as exc:
        pool.close()
        raise Unavailable(safe(f"cannot open postgres sink pool {mask_dsn(config.dsn)}: "
                               f"{type(exc).__name__}: {exc}".rstrip())) from None
    return PostgresSink(config, pool, check)
