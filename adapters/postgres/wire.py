"""One autocommit statement on a pooled connection, sent and read through libpq's own calls.

A point read is one round trip of a few dozen microseconds, and two costs around it were larger
than the server's share (measured on the bench machine, local server, client and server on
separate CPUs, in microseconds per ``SELECT doc FROM pushes WHERE id = $1``):

- psycopg's cursor (a cursor object, its query and result bookkeeping, the generator protocol)
  adds about 10 of CPU over libpq's own calls on the same connection;
- the client blocking in ``poll`` for the reply adds about 30 of wall time: the thread sleeps,
  its CPU idles, and the wake-up when the reply lands is slower than the reply itself. Reading
  the socket in a loop for a short, bounded time first gets the reply as it arrives, for about
  the CPU the sleep and wake-up cost anyway (see ``Wire.spin``).

So ``Wire.run`` dumps the parameters and loads the rows with psycopg's own adapters (the same
types, OIDs and formats a cursor would send, the same JSONB loader), keeps psycopg's rule for
server-side prepared statements (prepared after ``threshold`` runs on a connection, at most
``max_prepared`` per connection, the rest sent unnamed) and raises the exceptions a cursor
raises, so the sink's error mapping is the same on either path. The psycopg connection stays
consistent: every statement runs to completion in autocommit, leaving it idle, and the names
used here never collide with psycopg's own (``_pg3_*``).
"""

from __future__ import annotations

import re
import select
import threading
from collections.abc import Mapping, Sequence
from time import perf_counter
from typing import Any

import psycopg
from psycopg import errors as pgerrors
from psycopg import pq
from psycopg.adapt import PyFormat, Transformer

Row = tuple[Any, ...]

_PLACEHOLDER = re.compile(r"%(?:\((?P<name>[^)]+)\))?s|%%")
_STATE = "_sinkkit_wire"
#: calls of a statement that sleep at once after its reply outlasted a spin
SKIP_AFTER_MISS = 32
#: statement texts kept converted (the sink's texts are fixed but for listings by shape)
_TEXTS_MAX = 1024
_OK = (pq.ExecStatus.TUPLES_OK, pq.ExecStatus.COMMAND_OK)


def to_libpq(query: str) -> tuple[bytes, tuple[str, ...] | None, int]:
    """psycopg's ``%s`` / ``%(name)s`` placeholders as libpq's ``$n``.

    Returns (statement, names, count): ``names`` lists each named parameter in ``$n`` order
    (None for positional ones), ``count`` is the number of ``$n``. Mixing both styles, or a
    ``%`` that is neither, raises ValueError, as psycopg itself refuses them.
    """
    names: list[str] = []
    positional = 0

    def number(match: re.Match[str]) -> str:
        nonlocal positional
        if match.group(0) == "%%":
            return "%"
        name = match.group("name")
        if name is None:
            positional += 1
            return f"${positional}"
        if name not in names:
            names.append(name)
        return f"${names.index(name) + 1}"

    text = _PLACEHOLDER.sub(number, query)
    if names and positional:
        raise ValueError(f"query mixes %s and %(name)s placeholders: {query!r}")
    if "%" in _PLACEHOLDER.sub("", query):
        raise ValueError(f"query has a % that is not a placeholder (write %% for one): {query!r}")
    return text.encode(), (tuple(names) if names else None), len(names) or positional


class _Connection:
    """What one pooled connection knows: its statements, their run counts, its adapters."""

    __slots__ = ("prepared", "runs", "tx")

    def __init__(self, conn: psycopg.Connection):
        self.prepared: dict[tuple[bytes, tuple[int, ...]], bytes] = {}
        self.runs: dict[tuple[bytes, tuple[int, ...]], int] = {}
        self.tx = Transformer(conn)


class Wire:
    """Runs a statement on a connection the caller holds; one per sink, shared by its threads.

    ``spin`` is how long, in seconds, a caller reads the socket in a loop before it blocks in
    ``poll`` for the reply; only a caller alone in the sink spins: with others waiting on the
    same CPU the loop would take the CPU (and the GIL) they need to send their own statements.
    """

    def __init__(self, spin: float, threshold: int | None, max_prepared: int = 100):
        self.spin = spin
        self.threshold = threshold
        self.max_prepared = max_prepared
        self._texts: dict[str, tuple[bytes, tuple[str, ...] | None, int]] = {}
        self._names = 0
        self._names_lock = threading.Lock()
        self._callers: set[int] = set()
        #: calls each statement still goes without a spin, after a reply that came too late
        self._skip: dict[bytes, int] = {}

    def run(self, conn: psycopg.Connection, query: str, params: Sequence[Any] | Mapping[str, Any],
            fetch: bool) -> list[Row]:
        me = threading.get_ident()
        self._callers.add(me)
        try:
            return self._run(conn, query, params, fetch)
        finally:
            self._callers.discard(me)

    def _run(self, conn: psycopg.Connection, query: str, params: Any, fetch: bool) -> list[Row]:
        text = self._texts.get(query)
        if text is None:
            text = to_libpq(query)
            if len(self._texts) < _TEXTS_MAX:
                self._texts[query] = text
        sql, names, count = text
        values = [params[n] for n in names] if names is not None else list(params)
        if len(values) != count:
            raise psycopg.ProgrammingError(
                f"the query has {count} placeholders but {len(values)} parameters were passed")
        state = conn.__dict__.get(_STATE)
        if state is None:
            state = conn.__dict__[_STATE] = _Connection(conn)
        tx = state.tx
        dumped = tx.dump_sequence(values, [PyFormat.AUTO] * count)
        key = (sql, tx.types)
        try:
            result = self._execute(conn, state, key, dumped, tx.formats)
        except pgerrors.InvalidSqlStatementName:
            # the server forgot this connection's statements (DISCARD ALL by a pooler, or a
            # DEALLOCATE): they are prepared again as they are next used
            state.prepared.clear()
            state.runs.clear()
            result = self._execute(conn, state, key, dumped, tx.formats)
        if not fetch or result.status != pq.ExecStatus.TUPLES_OK:
            return []
        tx.set_pgresult(result)
        rows = tx.load_rows(0, result.ntuples, tuple)
        tx.set_pgresult(None)
        return rows

    def _execute(self, conn: psycopg.Connection, state: _Connection, key: Any,
                 values: Sequence[Any], formats: Sequence[Any]) -> pq.abc.PGresult:
        pgconn = conn.pgconn
        name = state.prepared.get(key)
        if name is None and self.threshold is not None and len(state.prepared) < self.max_prepared:
            runs = state.runs[key] = state.runs.get(key, 0) + 1
            if runs > self.threshold:
                name = self._name()
                pgconn.send_prepare(name, key[0], param_types=key[1])
                self._check(conn, self._results(conn, key[0]))
                state.prepared[key] = name
                del state.runs[key]
        if name is None:
            pgconn.send_query_params(key[0], values, param_types=key[1], param_formats=formats)
        else:
            pgconn.send_query_prepared(name, values, param_formats=formats)
        return self._check(conn, self._results(conn, key[0]))

    def _name(self) -> bytes:
        with self._names_lock:
            self._names += 1
            return f"_sinkkit_{self._names}".encode()

    @staticmethod
    def _check(conn: psycopg.Connection, results: list[pq.abc.PGresult]) -> pq.abc.PGresult:
        for result in results:
            if result.status not in _OK:
                raise pgerrors.error_from_result(result, encoding=conn.info.encoding)
        return results[-1]

    def _results(self, conn: psycopg.Connection, sql: bytes) -> list[pq.abc.PGresult]:
        pgconn = conn.pgconn
        fd = pgconn.socket
        poller: select.poll | None = None
        # the statement may not have left whole: a non-blocking connection sends what fits
        while pgconn.flush():
            poller = poller or _poller(fd)
            poller.modify(fd, select.POLLIN | select.POLLOUT)
            poller.poll()
            pgconn.consume_input()
        if poller is not None:
            poller.modify(fd, select.POLLIN)
        # spin only alone (with others waiting, the loop would hold the CPU and the GIL they
        # need), and not for a statement whose last spun-for reply came after the budget: a
        # slow one (a long listing, a distant server) would spend the whole budget and then
        # sleep anyway. It is tried again after SKIP_AFTER_MISS calls. Only a spin tells
        # whether a reply was in time: a sleeping caller learns of it only after its wake-up,
        # which on a virtual machine may itself take longer than the budget.
        spin = 0.0
        if self.spin and len(self._callers) <= 1:
            skip = self._skip.get(sql, 0)
            if skip:
                self._skip[sql] = skip - 1
            else:
                spin = self.spin
        deadline = perf_counter() + spin if spin else 0.0
        results: list[pq.abc.PGresult] = []
        if not spin:
            # a reply cannot be there yet: reading first would be a wasted call to the kernel
            poller = poller or _poller(fd)
            poller.poll()
        while True:
            # consume_input never blocks: looped, it is the spin's probe of the socket
            pgconn.consume_input()
            if pgconn.is_busy():
                if spin:
                    if perf_counter() < deadline:
                        continue
                    spin = 0.0
                    self._skip[sql] = SKIP_AFTER_MISS
                poller = poller or _poller(fd)
                # wakes on the reply, a hang-up or an error; consume_input reports the last two
                poller.poll()
                continue
            result = pgconn.get_result()
            if result is None:
                return results
            results.append(result)


def _poller(fd: int) -> select.poll:
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return poller
