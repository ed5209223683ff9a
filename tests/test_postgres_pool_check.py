"""The pool's checkout check: a round trip only for a connection that may be broken.

Server restarts are faked by terminating the sink's backends from another session, which
breaks every pooled connection the way a restart does, without restarting the shared server.
"""

from __future__ import annotations

import time

import psycopg
import pytest
from sinkkit.adapters.postgres import open_postgres_sink
from sinkkit.adapters.postgres import sink as pg_sink
from sinkkit.adapters.postgres.sink import _StaleCheck
from sinkkit.conformance.errors import Unavailable
from sinkkit.conformance.suite.test_concurrency import run_together
from sinkkit.fixtures import postgres as pg_fixtures

postgres_database = pg_fixtures.postgres_database
postgres_server = pg_fixtures.postgres_server


@pytest.fixture
def sink(postgres_database):
    opened = open_postgres_sink({"type": "postgres", "connectionString": postgres_database,
                                 "options": {"poolSize": 1}})
    yield opened
    opened.close()


def _terminate_backends(dsn: str) -> int:
    with psycopg.connect(dsn, autocommit=True) as admin:
        return admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()").fetchone()[0]


class CountingCheck(_StaleCheck):
    def __init__(self, idle: float):
        super().__init__(idle)
        self.round_trips = 0

    def stale(self, conn):
        found = super().stale(conn)
        self.round_trips += found
        return found


def _counting(sink, idle: float) -> CountingCheck:
    check = CountingCheck(idle)
    sink._check = check
    sink._pool._check = check
    return check


def test_back_to_back_calls_skip_the_round_trip(sink):
    check = _counting(sink, idle=60)
    for _ in range(5):
        sink.get_push("nothing")
    assert check.round_trips == 1  # only the first use of the connection by this check


def test_a_connection_idle_past_the_limit_is_checked_and_a_broken_one_replaced(
        sink, postgres_database):
    check = _counting(sink, idle=0.05)
    sink.record_migration("0001")
    assert _terminate_backends(postgres_database) >= 1
    time.sleep(0.1)
    assert sink.get_applied_migrations() == ["0001"]  # no failure: the check found it broken
    assert check.round_trips == 3  # first use, the broken connection, its fresh replacement


def test_a_recently_used_broken_connection_fails_one_call_then_every_idle_one_is_checked(
        sink, postgres_database):
    check = _counting(sink, idle=60)
    sink.record_migration("0001")
    _terminate_backends(postgres_database)
    # used a moment ago, so not checked: this call meets the broken connection and says so
    with pytest.raises(Unavailable):
        sink.get_applied_migrations()
    assert check.epoch == 1  # every connection used before the loss is now checked on checkout
    assert sink.get_applied_migrations() == ["0001"]


# --- the stack of idle connections in front of the pool -----------------------------------------

def test_more_callers_than_connections_all_get_one_in_turn(postgres_database):
    # one connection, three callers: a connection given back while others wait in the pool
    # must reach them, not sit idle in the stack until they time out as Busy
    sink = open_postgres_sink({"type": "postgres", "connectionString": postgres_database,
                               "options": {"poolSize": 1, "connectTimeout": 2}})

    def caller() -> None:
        for _ in range(150):
            sink.get_push("nothing")

    try:
        errors = run_together([caller] * 3)
    finally:
        sink.close()
    assert errors == []


def test_an_idle_connection_is_reused_without_passing_through_the_pool(sink):
    sink.get_push("nothing")
    before = sink._pool.get_stats().get("requests_num", 0)
    for _ in range(5):
        sink.get_push("nothing")

    assert sink._pool.get_stats().get("requests_num", 0) == before
    assert len(sink._idle) == 1


def test_a_connection_lent_too_long_goes_back_through_the_pool(sink, monkeypatch):
    monkeypatch.setattr(pg_sink, "_LEND_S", 0.0)
    sink.get_push("nothing")

    assert len(sink._idle) == 0 and sink._pool.get_stats()["pool_available"] == 1


def test_closing_the_sink_returns_its_idle_connections_to_the_pool(postgres_database):
    sink = open_postgres_sink({"type": "postgres", "connectionString": postgres_database})
    sink.get_push("nothing")
    sink.close()

    assert len(sink._idle) == 0


def test_a_connection_lent_before_a_drain_is_not_lent_again(sink):
    # the server turned read-only under this call: the sink drains every connection, and the
    # one still in hand must go back to the pool (which replaces it), not onto the stack
    with sink._connection() as conn:
        sink._drain()
    assert conn not in sink._idle
    sink.get_push("nothing")
    assert sink._idle[-1] is not conn
