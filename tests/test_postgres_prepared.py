"""Server-side prepared statements: on by default, off with ``preparedStatements: false`` (for
poolers that cannot carry them), and a non-boolean value is refused by name."""

from __future__ import annotations

import pytest
from sinkkit.adapters.postgres import open_postgres_sink, parse_entry
from sinkkit.conformance.errors import ConfigError
from sinkkit.conformance.factories import make_user
from sinkkit.fixtures import postgres as pg_fixtures

# the kit's postgres fixtures (provisioned like the suite lanes), used by name below
postgres_database = pg_fixtures.postgres_database
postgres_server = pg_fixtures.postgres_server

#: more runs of one statement than psycopg's threshold for preparing it
RUNS = 12


def _entry(dsn: str, **options) -> dict:
    return {"type": "postgres", "connectionString": dsn, "options": {"poolSize": 1, **options}}


def _prepared_after_lookups(dsn: str, **options) -> list[str]:
    """The statements the sink's one pooled connection holds prepared after RUNS lookups."""
    sink = open_postgres_sink(_entry(dsn, **options))
    try:
        sink.create_user(make_user("alice"))
        for _ in range(RUNS):
            assert sink.find_user("alice")["username"] == "alice"
        rows = sink._run("SELECT statement FROM pg_prepared_statements", (), "all")
        return [statement for (statement,) in rows]
    finally:
        sink.close()


def test_by_default_a_repeated_lookup_runs_as_a_server_side_prepared_statement(
        postgres_database):
    prepared = _prepared_after_lookups(postgres_database)

    assert any("doc->>'username'" in statement for statement in prepared), prepared


def test_prepared_statements_false_sends_every_statement_unprepared(postgres_database):
    prepared = _prepared_after_lookups(postgres_database, preparedStatements=False)

    assert prepared == []


@pytest.mark.parametrize("value", ["false", 0, None])
def test_a_prepared_statements_value_that_is_not_a_boolean_is_refused_by_name(value):
    with pytest.raises(ConfigError, match="preparedStatements"):
        parse_entry(_entry("postgresql://git@db/gp", preparedStatements=value), environ={})


def test_the_default_pool_lets_eight_callers_hold_a_connection_each():
    assert parse_entry({"type": "postgres", "connectionString": "postgresql://git@db/gp"},
                       environ={}).pool_size >= 8
