"""The PostgreSQL statement runner (adapters/postgres/wire.py): placeholders, psycopg's prepare
rule, the exceptions a cursor raises, recovery from forgotten statements, and the spinWait
option."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import errors as pgerrors
from psycopg.types.json import Jsonb
from sinkkit.adapters.postgres import parse_entry
from sinkkit.adapters.postgres.wire import SKIP_AFTER_MISS, Wire, to_libpq
from sinkkit.conformance.errors import ConfigError
from sinkkit.conformance.suite.test_concurrency import run_together
from sinkkit.fixtures import postgres as pg_fixtures

postgres_database = pg_fixtures.postgres_database
postgres_server = pg_fixtures.postgres_server


@pytest.fixture
def conn(postgres_database):
    with psycopg.connect(postgres_database, autocommit=True) as conn:
        conn.execute("CREATE TEMP TABLE t (k text PRIMARY KEY, n bigint, doc jsonb)")
        yield conn


def _prepared(conn: psycopg.Connection) -> list[str]:
    return [name for (name,) in conn.execute(
        "SELECT name FROM pg_prepared_statements WHERE name LIKE '_sinkkit_%'").fetchall()]


@pytest.mark.parametrize("query, expected", [
    ("SELECT %s, %s", (b"SELECT $1, $2", None, 2)),
    ("SELECT %(a)s, %(b)s, %(a)s", (b"SELECT $1, $2, $1", ("a", "b"), 2)),
    ("SELECT '100%%' || %s", (b"SELECT '100%' || $1", None, 1)),
    ("SELECT 1", (b"SELECT 1", None, 0)),
])
def test_placeholders_become_libpq_numbered_parameters(query, expected):
    assert to_libpq(query) == expected


@pytest.mark.parametrize("query, problem", [
    ("SELECT %s, %(a)s", "mixes"), ("SELECT '5%' || %s", "not a placeholder"),
])
def test_a_query_with_mixed_or_stray_placeholders_is_refused_naming_the_problem(query, problem):
    with pytest.raises(ValueError, match=problem):
        to_libpq(query)


def test_rows_come_back_typed_by_psycopgs_own_loaders(conn):
    wire = Wire(spin=0.0002, threshold=5)
    wire.run(conn, "INSERT INTO t VALUES (%s, %s, %s)", ("a", 2**62, Jsonb({"x": [1.5]})), False)

    assert wire.run(conn, "SELECT k, n, doc FROM t WHERE k = %(k)s", {"k": "a"}, True) == [
        ("a", 2**62, {"x": [1.5]})]


def test_a_statement_is_prepared_on_the_server_only_after_the_threshold(conn):
    wire = Wire(spin=0.0, threshold=3)
    for _ in range(3):
        wire.run(conn, "SELECT n FROM t WHERE k = %s", ("a",), True)
    assert _prepared(conn) == []

    wire.run(conn, "SELECT n FROM t WHERE k = %s", ("a",), True)
    assert len(_prepared(conn)) == 1


def test_no_threshold_never_prepares(conn):
    wire = Wire(spin=0.0, threshold=None)
    for _ in range(10):
        wire.run(conn, "SELECT n FROM t WHERE k = %s", ("a",), True)

    assert _prepared(conn) == []


def test_statements_past_the_cap_run_unprepared(conn):
    wire = Wire(spin=0.0, threshold=0, max_prepared=2)
    for i in range(4):
        assert wire.run(conn, f"SELECT {i}::int + %s", (1,), True) == [(i + 1,)]

    assert len(_prepared(conn)) == 2


def test_statements_the_server_forgot_are_prepared_again(conn):
    wire = Wire(spin=0.0, threshold=0)
    wire.run(conn, "INSERT INTO t VALUES (%s, 1, null)", ("a",), False)
    conn.execute("DEALLOCATE ALL")

    assert wire.run(conn, "SELECT n FROM t WHERE k = %s", ("a",), True) == [(1,)]
    wire.run(conn, "INSERT INTO t VALUES (%s, 1, null)", ("b",), False)
    assert conn.execute("SELECT count(*) FROM t").fetchone() == (2,)


def test_a_server_error_raises_the_cursors_exception_with_its_diagnostics(conn):
    wire = Wire(spin=0.0002, threshold=0)
    wire.run(conn, "INSERT INTO t VALUES (%s, 1, null)", ("a",), False)

    with pytest.raises(pgerrors.UniqueViolation) as raised:
        wire.run(conn, "INSERT INTO t VALUES (%s, 1, null)", ("a",), False)
    assert raised.value.diag.constraint_name == "t_pkey"
    # and the connection is idle again, usable by psycopg itself
    assert conn.pgconn.transaction_status == psycopg.pq.TransactionStatus.IDLE
    assert conn.execute("SELECT count(*) FROM t").fetchone() == (1,)


def test_a_wrong_number_of_parameters_is_refused_before_anything_is_sent(conn):
    with pytest.raises(psycopg.ProgrammingError, match="2 placeholders but 1"):
        Wire(spin=0.0, threshold=5).run(conn, "SELECT %s, %s", ("a",), True)


def test_a_failed_call_leaves_no_caller_counted(conn):
    wire = Wire(spin=0.0002, threshold=5)
    with pytest.raises(pgerrors.UndefinedTable):
        wire.run(conn, "SELECT * FROM missing WHERE k = %s", ("a",), True)

    assert wire._callers == set()


def test_a_reply_that_outlasts_the_spin_stops_the_spinning_for_a_while(conn):
    wire = Wire(spin=0.0002, threshold=5)
    wire.run(conn, "SELECT pg_sleep(0.005)", (), True)
    assert wire._skip[b"SELECT pg_sleep(0.005)"] == SKIP_AFTER_MISS

    wire.run(conn, "SELECT pg_sleep(0.005)", (), True)
    assert wire._skip[b"SELECT pg_sleep(0.005)"] == SKIP_AFTER_MISS - 1


def test_a_reply_within_the_spin_keeps_the_spinning(conn):
    wire = Wire(spin=0.05, threshold=5)
    for _ in range(3):
        wire.run(conn, "SELECT 1", (), True)

    assert wire._skip == {}


def test_threads_sharing_one_runner_each_get_their_own_rows(postgres_database):
    wire = Wire(spin=0.0002, threshold=2)

    def caller(i: int) -> None:
        with psycopg.connect(postgres_database, autocommit=True) as conn:
            for j in range(50):
                got = wire.run(conn, "SELECT %s::int * 1000 + %s::int", (i, j), True)
                assert got == [(i * 1000 + j,)]

    assert run_together([lambda i=i: caller(i) for i in range(4)]) == []
    assert wire._callers == set()


@pytest.mark.parametrize("value", [-1, "50", 1.5, None])
def test_a_spin_wait_that_is_not_a_whole_number_of_microseconds_is_refused_by_name(value):
    with pytest.raises(ConfigError, match="spinWait"):
        parse_entry({"type": "postgres", "connectionString": "postgresql://git@db/gp",
                     "options": {"spinWait": value}}, environ={})


def test_spin_wait_zero_is_accepted_and_defaults_to_two_hundred_microseconds():
    entry = {"type": "postgres", "connectionString": "postgresql://git@db/gp"}
    assert parse_entry(entry, environ={}).spin_wait_us == 200
    assert parse_entry({**entry, "options": {"spinWait": 0}}, environ={}).spin_wait_us == 0
