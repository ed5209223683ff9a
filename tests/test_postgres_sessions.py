"""The postgres session table is connect-pg-simple's, column for column, and a Node process using
connect-pg-simple and the Python store read and write each other's sessions in it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict
from sinkkit.adapters.postgres import open_postgres_sink
from sinkkit.fixtures import postgres as pg_fixtures

# the kit's postgres fixtures (provisioned like the suite lanes), used by name below
postgres_database = pg_fixtures.postgres_database
postgres_server = pg_fixtures.postgres_server

INTEROP = Path(__file__).parent / "interop" / "connect-pg-simple"

#: connect-pg-simple 10.0.0 table.sql, verbatim (the interop test checks it against node_modules)
CONNECT_PG_SIMPLE_TABLE_SQL = """CREATE TABLE "session" (
  "sid" varchar NOT NULL COLLATE "default",
  "sess" json NOT NULL,
  "expire" timestamp(6) NOT NULL
)
WITH (OIDS=FALSE);

ALTER TABLE "session" ADD CONSTRAINT "session_pkey" PRIMARY KEY ("sid") NOT DEFERRABLE INITIALLY IMMEDIATE;

CREATE INDEX "IDX_session_expire" ON "session" ("expire");
"""  # noqa: E501


def _shape(conn: psycopg.Connection, schema: str, table: str) -> dict:
    cols = conn.execute(
        "SELECT column_name, data_type, is_nullable, character_maximum_length,"
        " datetime_precision, collation_name, column_default, ordinal_position"
        " FROM information_schema.columns WHERE table_schema = %s AND table_name = %s"
        " ORDER BY ordinal_position", (schema, table)).fetchall()
    indexes = conn.execute(
        "SELECT indexname, replace(indexdef, %s, 'S') FROM pg_indexes"
        " WHERE schemaname = %s AND tablename = %s ORDER BY indexname",
        (f"{schema}.", schema, table)).fetchall()
    constraints = conn.execute(
        "SELECT conname, contype, condeferrable, condeferred, pg_get_constraintdef(c.oid)"
        " FROM pg_constraint c JOIN pg_class t ON t.oid = conrelid"
        " JOIN pg_namespace n ON n.oid = t.relnamespace WHERE nspname = %s AND relname = %s"
        " ORDER BY conname", (schema, table)).fetchall()
    return {"columns": cols, "indexes": indexes, "constraints": constraints}


def _reference_table(conn: psycopg.Connection, schema: str, text: str) -> None:
    conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    # PostgreSQL 12+ rejects WITH (OIDS=FALSE) only when true; keep the file as connect-pg-simple
    # ships it, qualified into the reference schema the way its createTableIfMissing does
    qualified = text.replace('"session"', sql.Identifier(schema, "session").as_string(conn))
    conn.execute(qualified)


def test_the_session_table_matches_connect_pg_simple_column_for_column(postgres_database):
    open_postgres_sink({"type": "postgres", "connectionString": postgres_database}).close()
    with psycopg.connect(postgres_database, autocommit=True) as conn:
        _reference_table(conn, "cps_reference", CONNECT_PG_SIMPLE_TABLE_SQL)
        ours = _shape(conn, "public", "session")
        theirs = _shape(conn, "cps_reference", "session")
    assert ours == theirs
    assert [c[:5] for c in ours["columns"]] == [
        ("sid", "character varying", "NO", None, None),
        ("sess", "json", "NO", None, None),
        ("expire", "timestamp without time zone", "NO", None, 6),
    ]
    assert [name for name, _ in ours["indexes"]] == ["IDX_session_expire", "session_pkey"]


# -- the real connect-pg-simple ---------------------------------------------------------------

@pytest.fixture(scope="module")
def node_project() -> Path:
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        pytest.fail("connect-pg-simple interop needs node and npm on PATH (Node 18+)")
    if not (INTEROP / "node_modules" / "connect-pg-simple").is_dir():
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=INTEROP, check=True,
                       capture_output=True, timeout=300)
    return INTEROP


def _node(project: Path, dsn: str, *args: str) -> object:
    params = conninfo_to_dict(dsn)
    env = {**os.environ, "PGHOST": str(params.get("host", "")), "PGDATABASE": params["dbname"],
           "PGUSER": str(params.get("user", "postgres")), "PGPORT": str(params.get("port", 5432))}
    if params.get("password"):
        env["PGPASSWORD"] = str(params["password"])
    done = subprocess.run(["node", "interop.js", *args], cwd=project, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_the_shipped_table_sql_is_the_one_in_node_modules(node_project):
    shipped = (node_project / "node_modules" / "connect-pg-simple" / "table.sql").read_text()
    assert shipped.strip() == CONNECT_PG_SIMPLE_TABLE_SQL.strip()


def _iso_in(seconds: float) -> str:
    return datetime.fromtimestamp(time.time() + seconds, tz=timezone.utc).isoformat(
        timespec="milliseconds").replace("+00:00", "Z")


def test_node_reads_what_python_wrote_and_python_reads_what_node_wrote(
        node_project, postgres_database):
    sink = open_postgres_sink({"type": "postgres", "connectionString": postgres_database,
                               "options": {"schema": "gp", "sessionTable": "ui_session"}})
    store = sink.session_store
    try:
        from_python = {"cookie": {"originalMaxAge": 3600000, "expires": _iso_in(3600),
                                  "httpOnly": True, "path": "/"},
                       "passport": {"user": "alice"}, "note": "é ✓ \"quoted\""}
        store.set("py-sid", from_python)
        assert _node(node_project, postgres_database, "gp", "ui_session", "get", "py-sid") == (
            from_python)

        from_node = {"cookie": {"originalMaxAge": 3600000, "expires": _iso_in(3600),
                                "httpOnly": True, "path": "/"},
                     "passport": {"user": "bob"}, "flash": ["ünïcode"]}
        _node(node_project, postgres_database, "gp", "ui_session", "set", "node-sid",
              json.dumps(from_node))
        assert store.get("node-sid") == from_node
        assert store.all() == {"py-sid": from_python, "node-sid": from_node}
        store.set("doomed-sid", {"cookie": {"maxAge": 60000}})
        _node(node_project, postgres_database, "gp", "ui_session", "destroy", "doomed-sid")
        assert store.get("doomed-sid") is None and store.length() == 2

        # a session node wrote already expired is invisible to Python, and pruned by it
        gone = {"cookie": {"expires": _iso_in(-60)}, "passport": {"user": "carol"}}
        _node(node_project, postgres_database, "gp", "ui_session", "set", "old-sid",
              json.dumps(gone))
        assert store.get("old-sid") is None
        assert store.prune() == 1

        # node's touch moves the expiry Python sees; Python's destroy is seen by node
        later = {**from_python, "cookie": {**from_python["cookie"], "expires": _iso_in(7200)}}
        _node(node_project, postgres_database, "gp", "ui_session", "touch", "py-sid",
              json.dumps(later))
        assert store.get("py-sid") == from_python
        store.destroy("node-sid")
        assert _node(node_project, postgres_database, "gp", "ui_session", "get", "node-sid") is None
    finally:
        sink.close()


def test_a_max_age_without_expires_expires_when_connect_pg_simple_says(node_project,
                                                                        postgres_database):
    # connect-pg-simple reads only cookie.expires, else its ttl (a day, the sink's default too):
    # both sides must put the same expiry on such a session, so a shared table agrees on it
    sink = open_postgres_sink({"type": "postgres", "connectionString": postgres_database,
                               "options": {"schema": "gp", "sessionTable": "ui_session"}})
    try:
        sess = {"cookie": {"maxAge": -1000, "originalMaxAge": -1000, "path": "/"}}
        _node(node_project, postgres_database, "gp", "ui_session", "set", "node-sid",
              json.dumps(sess))
        sink.session_store.set("py-sid", sess)
        with psycopg.connect(postgres_database) as conn:
            expire = dict(conn.execute("SELECT sid, extract(epoch FROM expire)::float"
                                       " FROM gp.ui_session").fetchall())
        assert abs(expire["py-sid"] - expire["node-sid"]) < 30, expire
        assert expire["py-sid"] > time.time() + 86400 - 60
        assert sink.session_store.get("node-sid") == sess
        assert _node(node_project, postgres_database, "gp", "ui_session", "get", "py-sid") == sess
    finally:
        sink.close()
