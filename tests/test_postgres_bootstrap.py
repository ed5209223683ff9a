"""Postgres bootstrap: an empty database gets every table and index, reopening changes nothing,
eight processes opening one empty database at once all succeed, and versions only move forward."""

from __future__ import annotations

import time

import psycopg
import pytest
from postgres_workers import open_and_write, run_together
from psycopg import sql
from sinkkit.adapters.postgres import open_postgres_sink
from sinkkit.adapters.postgres.schema import VERSION_TABLE, latest_version, migrations
from sinkkit.conformance.errors import ConfigError
from sinkkit.fixtures import postgres as pg_fixtures

# the kit's postgres fixtures (provisioned like the suite lanes), used by name below
postgres_database = pg_fixtures.postgres_database
postgres_server = pg_fixtures.postgres_server

#: how long eight processes may take to start and bootstrap together (they need seconds)
BOOTSTRAP_BOUND_S = 120

EXPECTED_TABLES = {"users", "repos", "pushes", "sink_migrations", VERSION_TABLE, "session"}
EXPECTED_INDEXES = {
    "users_pkey", "users_username_key", "users_email_key", "users_git_account_idx",
    "users_oidc_idx", "users_public_keys_idx", "repos_pkey", "repos_url_key", "repos_name_idx",
    "pushes_pkey", "pushes_pending_idx", "pushes_listing_idx", "pushes_user_email_idx",
    "sink_migrations_pkey", f"{VERSION_TABLE}_pkey", "session_pkey", "IDX_session_expire",
}


def _entry(dsn: str, **options) -> dict:
    return {"type": "postgres", "enabled": True, "connectionString": dsn, "options": options}


def _catalog(dsn: str, schema: str = "public") -> dict:
    """Every table, column, index and constraint in ``schema``, as comparable text."""
    with psycopg.connect(dsn) as conn:
        q = lambda text: sorted(conn.execute(text, (schema,)).fetchall())  # noqa: E731
        return {
            "tables": q("SELECT tablename FROM pg_tables WHERE schemaname = %s"),
            "columns": q("SELECT table_name, column_name, data_type, is_nullable, "
                         "column_default, generation_expression FROM information_schema.columns"
                         " WHERE table_schema = %s"),
            "indexes": q("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = %s"),
            "constraints": q("SELECT conname, pg_get_constraintdef(c.oid) FROM pg_constraint c"
                             " JOIN pg_namespace n ON n.oid = connamespace WHERE nspname = %s"),
            "versions": _versions(conn, schema),
        }


def _versions(conn: psycopg.Connection, schema: str) -> list[tuple]:
    if not conn.execute("SELECT to_regclass(%s)", (f'"{schema}".{VERSION_TABLE}',)).fetchone()[0]:
        return []
    return conn.execute(sql.SQL("SELECT version, name, applied_at FROM {} ORDER BY version").format(
        sql.Identifier(schema, VERSION_TABLE))).fetchall()


def test_opening_an_empty_database_creates_every_table_and_index(postgres_database):
    open_postgres_sink(_entry(postgres_database)).close()
    cat = _catalog(postgres_database)
    assert {t for (t,) in cat["tables"]} == EXPECTED_TABLES
    assert {name for name, _ in cat["indexes"]} == EXPECTED_INDEXES
    assert [v for v, _, _ in cat["versions"]] == [m.version for m in migrations()]


def test_reopening_changes_nothing(postgres_database):
    sink = open_postgres_sink(_entry(postgres_database))
    sink.write_audit({"id": "p1", "type": "push", "timestamp": 1})
    sink.close()
    before = _catalog(postgres_database)
    for _ in range(2):
        again = open_postgres_sink(_entry(postgres_database))
        assert again.get_push("p1") == {"id": "p1", "type": "push", "timestamp": 1}
        again.close()
    assert _catalog(postgres_database) == before


def test_a_schema_newer_than_the_adapter_is_refused(postgres_database):
    open_postgres_sink(_entry(postgres_database)).close()
    with psycopg.connect(postgres_database, autocommit=True) as conn:
        conn.execute(sql.SQL("INSERT INTO {} (version, name) VALUES (%s, 'future')").format(
            sql.Identifier(VERSION_TABLE)), (latest_version() + 1,))
    with pytest.raises(ConfigError, match="newer than this adapter"):
        open_postgres_sink(_entry(postgres_database))


def test_schema_and_session_table_names_are_configurable(postgres_database):
    entry = _entry(postgres_database, schema="Git Proxy", sessionSchema="ui",
                   sessionTable="user_session")
    sink = open_postgres_sink(entry)
    sink.session_store.set("sid-1", {"cookie": {"maxAge": 60000}, "user": "alice"})
    sink.create_user({"username": "alice", "email": "alice@example.com"})
    sink.close()
    assert {t for (t,) in _catalog(postgres_database, "Git Proxy")["tables"]} == (
        EXPECTED_TABLES - {"session"})
    ui = _catalog(postgres_database, "ui")
    assert [t for (t,) in ui["tables"]] == ["user_session"]
    # connect-pg-simple keeps its constraint and index names whatever the table is called
    assert {name for name, _ in ui["indexes"]} == {"session_pkey", "IDX_session_expire"}
    again = open_postgres_sink(entry)
    assert again.session_store.get("sid-1") == {"cookie": {"maxAge": 60000}, "user": "alice"}
    again.close()


def test_eight_processes_bootstrap_one_empty_database_at_once(postgres_database):
    # the start line lies past every worker's import time, so all eight open together
    start_at = time.time() + 4
    results = run_together(open_and_write, [(postgres_database, n, start_at) for n in range(8)],
                           BOOTSTRAP_BOUND_S)
    assert sorted(results) == sorted(f"push-{n}" for n in range(8))
    cat = _catalog(postgres_database)
    assert {t for (t,) in cat["tables"]} == EXPECTED_TABLES
    assert [v for v, _, _ in cat["versions"]] == [m.version for m in migrations()]
    sink = open_postgres_sink(_entry(postgres_database))
    assert len(sink.get_pushes({})) == 8
    assert sink.session_store.length() == 8
    sink.close()


def test_a_version_1_schema_upgrades_in_place_and_then_holds_a_long_user_email(postgres_database):
    # a database bootstrapped by a release that shipped only 0001 (its btree on userEmail)
    with psycopg.connect(postgres_database) as conn:
        conn.execute(sql.SQL("CREATE TABLE {} (version integer PRIMARY KEY, name text NOT NULL,"
                             " applied_at timestamptz NOT NULL DEFAULT now())").format(
            sql.Identifier(VERSION_TABLE)))
        conn.execute(migrations()[0].text)
        conn.execute(sql.SQL("INSERT INTO {} (version, name) VALUES (1, %s)").format(
            sql.Identifier(VERSION_TABLE)), (migrations()[0].name,))
        conn.execute("""INSERT INTO pushes (id, doc) VALUES ('old', '{"id": "old", "type": "push",
                        "userEmail": "a@example.com", "timestamp": 1}')""")
    sink = open_postgres_sink(_entry(postgres_database))
    long_email = "x" * 70_000 + "@example.com"
    sink.write_audit({"id": "new", "type": "push", "userEmail": long_email, "timestamp": 2})
    assert [p["id"] for p in sink.get_pushes_for_user_profile([long_email], "")] == ["new"]
    assert sink.get_push("old")["userEmail"] == "a@example.com"
    sink.close()
    cat = _catalog(postgres_database)
    assert [v for v, _, _ in cat["versions"]] == [m.version for m in migrations()]
    assert "USING hash" in dict(cat["indexes"])["pushes_user_email_idx"]
