"""The PgBouncer the postgres-pgbouncer lane starts really pools by transaction, and the sink
with ``preparedStatements: false`` leaves nothing on the server connections it shares."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict
from sinkkit.adapters.postgres import open_postgres_sink
from sinkkit.fixtures import pgbouncer
from sinkkit.fixtures import postgres as pg_fixtures

postgres_database = pg_fixtures.postgres_database
postgres_server = pg_fixtures.postgres_server


@pytest.fixture
def bouncer(postgres_server: pg_fixtures.Provisioned):
    """Transaction pooling over ONE server connection: every client shares it."""
    run_as = pg_fixtures.PGSERVER_USER if os.geteuid() == 0 else None
    started = pgbouncer.start_pgbouncer(
        postgres_server.dsn, "transaction", Path(tempfile.mkdtemp(prefix="sinkkit-pgb-kit-")),
        run_as=run_as, pool_size=1)
    yield started
    started.stop()


def through(bouncer: pgbouncer.PgBouncer, database_dsn: str) -> str:
    return bouncer.dsn_for(conninfo_to_dict(database_dsn)["dbname"])


def shown(dsn: str, setting: str) -> str:
    with psycopg.connect(dsn, autocommit=True, prepare_threshold=None) as conn:
        return conn.execute(f"SHOW {setting}").fetchone()[0]


def exercise(dsn: str, prepared: bool) -> None:
    sink = open_postgres_sink({"type": "postgres", "connectionString": dsn, "options": {
        "schema": "bounced", "poolSize": 2, "preparedStatements": prepared}})
    try:
        sink.write_audit({"id": "p1", "type": "push", "timestamp": 1})
        assert sink.get_push("p1")["id"] == "p1"
        sink.create_user({"username": "alice", "email": "a@example.com", "password": "x",
                          "gitAccount": "alice"})
        sink.session_store.set("s1", {"cookie": {"maxAge": 60000}})
    finally:
        sink.close()


def test_a_session_set_through_transaction_pooling_reaches_the_next_client(
        bouncer: pgbouncer.PgBouncer, postgres_database: str) -> None:
    dsn = through(bouncer, postgres_database)
    with psycopg.connect(dsn, autocommit=True, prepare_threshold=None) as conn:
        conn.execute("SET statement_timeout = 1234")
    assert shown(dsn, "statement_timeout") == "1234ms"


def test_the_sink_without_prepared_statements_leaves_no_setting_behind(
        bouncer: pgbouncer.PgBouncer, postgres_database: str) -> None:
    dsn = through(bouncer, postgres_database)
    exercise(dsn, prepared=False)
    assert shown(dsn, "statement_timeout") == "0"
    assert shown(dsn, "search_path") == '"$user", public'


def test_the_sink_with_prepared_statements_sets_them_per_session(
        bouncer: pgbouncer.PgBouncer, postgres_database: str) -> None:
    # why the lane turns them off: the per-connection settings land on the shared connection
    dsn = through(bouncer, postgres_database)
    exercise(dsn, prepared=True)
    assert shown(dsn, "statement_timeout") == "15s"


def test_a_missing_pgbouncer_that_cannot_be_installed_is_a_one_line_reason(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pgbouncer.shutil, "which", lambda name: None)
    monkeypatch.setattr(pgbouncer, "_sbin", lambda name: None)
    monkeypatch.setattr(pgbouncer.os, "geteuid", lambda: 1000)
    with pytest.raises(pgbouncer.PgBouncerUnavailable) as missing:
        pgbouncer.pgbouncer_binary()
    assert "apt-get install -y pgbouncer" in str(missing.value)
    assert "\n" not in str(missing.value)


def test_an_unknown_pool_mode_is_refused_before_anything_starts(tmp_path: Path) -> None:
    with pytest.raises(pgbouncer.PgBouncerUnavailable, match="must be one of"):
        pgbouncer.start_pgbouncer("postgresql://x@127.0.0.1/db", "statement", tmp_path)


def test_a_bulk_import_through_transaction_pooling_lands_in_the_sinks_schema(
        bouncer: pgbouncer.PgBouncer, postgres_database: str) -> None:
    from sinkkit.adapters.postgres.bulk import import_pushes
    from sinkkit.core.rules import check_push

    dsn = through(bouncer, postgres_database)
    sink = open_postgres_sink({"type": "postgres", "connectionString": dsn, "options": {
        "schema": "bulked", "poolSize": 2, "preparedStatements": False}})
    try:
        pushes = [check_push({"id": f"b{i}", "type": "push", "timestamp": i}) for i in range(3)]
        assert import_pushes(sink, pushes).written == ["b0", "b1", "b2"]
        assert import_pushes(sink, pushes).unchanged == ["b0", "b1", "b2"]
        assert sink.get_push("b2")["timestamp"] == 2
    finally:
        sink.close()
    assert shown(dsn, "search_path") == '"$user", public'
