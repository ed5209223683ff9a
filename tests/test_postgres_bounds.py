"""Per-call bounds of the postgres sink: a lock another session holds, or a pool whose every
connection is in use, end a call with Busy (the server is up) instead of a long wait or a false
Unavailable, and the sink serves the next call at once."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from sinkkit.adapters.postgres import open_postgres_sink, parse_entry
from sinkkit.conformance.errors import Busy, ConfigError, SinkError, Unavailable
from sinkkit.fixtures import postgres as pg_fixtures

postgres_database = pg_fixtures.postgres_database
postgres_server = pg_fixtures.postgres_server

PUSH = {"id": "p1", "type": "push", "timestamp": 1, "error": False, "blocked": True,
        "allowPush": False, "authorised": False}


def open_sink(dsn: str, **options: Any) -> Any:
    return open_postgres_sink({"type": "postgres", "enabled": True, "connectionString": dsn,
                               "options": {"schema": "bounds", **options}})


@pytest.fixture
def row_locked(postgres_database: str) -> Iterator[tuple[str, psycopg.Connection]]:
    """The push ``p1`` exists and another session holds its row lock until the test ends."""
    sink = open_sink(postgres_database)
    sink.write_audit(PUSH)
    sink.close()
    holder = psycopg.connect(postgres_database)
    holder.execute("SELECT 1 FROM bounds.pushes WHERE id = 'p1' FOR UPDATE")
    yield postgres_database, holder
    holder.rollback()
    holder.close()


def test_a_row_locked_by_another_session_answers_busy(row_locked) -> None:
    dsn, _ = row_locked
    sink = open_sink(dsn, lockTimeout=200)
    try:
        with pytest.raises(Busy) as err:
            sink.authorise("p1", {"reviewer": {"username": "ann"}})
        assert not isinstance(err.value, Unavailable) and "lockTimeout 200 ms" in str(err.value)
        assert sink.get_push("p1")["authorised"] is False  # the sink is not flagged down
    finally:
        sink.close()


def _waiting_on_locks(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        return conn.execute("SELECT count(*) FROM pg_stat_activity "
                            "WHERE wait_event_type = 'Lock'").fetchone()[0]


def test_every_pooled_connection_in_use_answers_busy_not_unavailable(row_locked) -> None:
    dsn, holder = row_locked
    sink = open_sink(dsn, poolSize=1, connectTimeout=1, lockTimeout=30000)
    outcome: list[BaseException | str] = []

    def blocked_review() -> None:
        try:
            sink.cancel("p1")
            outcome.append("done")
        except BaseException as exc:  # the test inspects whatever ended it
            outcome.append(exc)

    waiter = threading.Thread(target=blocked_review, daemon=True)
    waiter.start()
    try:
        while _waiting_on_locks(dsn) == 0 and waiter.is_alive():
            threading.Event().wait(0.05)
        with pytest.raises(Busy, match="all 1 pooled connections"):
            sink.get_push("p1")  # the only connection waits on the lock
    finally:
        holder.rollback()  # release the lock: the waiting review completes
        waiter.join(60)
        sink.close()
    assert outcome == ["done"]


def test_busy_is_a_typed_sink_error_distinct_from_unavailable() -> None:
    assert issubclass(Busy, SinkError) and not issubclass(Busy, Unavailable)
    assert Busy.code == "busy"


@pytest.mark.parametrize("option", ["statementTimeout", "lockTimeout", "tcpUserTimeout"])
def test_a_negative_bound_is_a_config_error(option: str) -> None:
    with pytest.raises(ConfigError, match=option):
        parse_entry({"type": "postgres", "connectionString": "postgresql://h/db",
                     "options": {option: -1}}, environ={})


def test_the_bounds_reach_libpq_with_documented_defaults() -> None:
    config = parse_entry({"type": "postgres", "connectionString": "postgresql://h/db"},
                         environ={})
    assert (config.statement_timeout_ms, config.lock_timeout_ms) == (15000, 3000)
    assert config.connect_kwargs["tcp_user_timeout"] == 10000
    kwargs = config.connect_kwargs
    assert kwargs["keepalives"] == 1 and kwargs["keepalives_idle"] == 5
