"""The postgres sink's statements are served by their indexes: over 100 000 pushes the default
pending listing and the user-profile lookup by userEmail never scan the table, and with
server-side prepared statements (a generic plan) the listing, the user lookups and the repo
lookups keep their index, a unique key without a sort.
"""

from __future__ import annotations

import psycopg
import pytest
from psycopg.sql import SQL
from sinkkit.adapters.postgres import PostgresSink, open_postgres_sink
from sinkkit.conformance.contract import PUSH_LIST_FIELDS
from sinkkit.core import views
from sinkkit.fixtures import postgres as pg_fixtures

# the kit's postgres fixtures (provisioned like the suite lanes), used by name below
postgres_database = pg_fixtures.postgres_database
postgres_server = pg_fixtures.postgres_server

PUSHES = 100_000

# one push in ten pending review, the rest approved, rejected, canceled or errored; a few without
# a timestamp (they list last); built in SQL because 100 000 round trips would dominate the test
_FILL = """
INSERT INTO pushes (id, doc)
SELECT 'push-' || lpad(g::text, 6, '0'),
       jsonb_build_object(
         'id', 'push-' || lpad(g::text, 6, '0'), 'type', 'push',
         'url', 'https://github.com/org/repo' || mod(g, 50) || '.git',
         'userEmail', 'user' || mod(g, 300) || '@example.com',
         'error', mod(g, 10) = 7, 'blocked', mod(g, 10) IN (0, 1, 7), 'allowPush', mod(g, 10) = 1,
         'authorised', mod(g, 10) = 1, 'rejected', mod(g, 10) = 2, 'canceled', mod(g, 10) = 3)
       || CASE WHEN mod(g, 1000) = 0 THEN '{}'::jsonb
               ELSE jsonb_build_object('timestamp', 1700000000000 + g * 1000) END
FROM generate_series(1, %s) AS g
"""


def _plan_nodes(plan: dict):
    yield plan
    for child in plan.get("Plans", []):
        yield from _plan_nodes(child)


def _filled_and_planned(dsn: str, query, params) -> list[dict]:
    """Fill ``pushes`` with the 100 000 rows, then the plan nodes of ``query`` over them."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(_FILL, (PUSHES,))
        conn.execute("ANALYZE pushes")
        (plan,) = conn.execute(SQL("EXPLAIN (FORMAT JSON) ") + query, params).fetchone()[0]
    return list(_plan_nodes(plan["Plan"]))


def _served_by(nodes: list[dict], index: str) -> bool:
    return ("Seq Scan" not in [n["Node Type"] for n in nodes]
            and any(n.get("Index Name") == index for n in nodes))


def test_the_default_listing_over_100k_pushes_uses_an_index(postgres_database):
    sink = open_postgres_sink({"type": "postgres", "connectionString": postgres_database})
    try:
        nodes = _filled_and_planned(postgres_database, *PostgresSink.listing_query(None))
        assert _served_by(nodes, "pushes_pending_idx"), nodes
        # and the listing itself: 10% pending, newest first, timestamp-less last
        listed = sink.get_pushes()
        assert len(listed) == PUSHES // 10
        assert listed[0]["id"] == "push-099990" and listed[-1]["id"] == "push-001000"
        assert listed == sorted(listed, key=views.push_sort_key, reverse=True)
        assert "timestamp" not in listed[-100] and "timestamp" in listed[-101]
    finally:
        sink.close()


# --- under server-side prepared statements ------------------------------------------------------
# The sink prepares its statements (preparedStatements, on by default). Once PostgreSQL switches
# a prepared statement to a generic plan, the plan is made without the parameters' values, so an
# index is usable only if the statement's text alone proves it applies. These tests plan each
# statement the way a prepared one ends up: PREPARE with plan_cache_mode = force_generic_plan.

_USERS = """
INSERT INTO users (id, doc)
SELECT 'u' || g, jsonb_build_object('username', 'user' || g, 'email', 'user' || g || '@x.org',
                                    'gitAccount', 'git' || g, 'oidcId', 'oidc' || g)
FROM generate_series(1, 5000) AS g
"""
_REPOS = """
INSERT INTO repos (id, doc, created_ms, modified_ms)
SELECT 'r' || g, jsonb_build_object('name', 'repo' || g, 'project', 'finos',
                                    'url', 'https://github.com/finos/repo' || g || '.git'), 0, 0
FROM generate_series(1, 5000) AS g
"""


def _generic_plan(conn: psycopg.Connection, query, params) -> list[dict]:
    """The nodes of ``query``'s generic plan, as a prepared statement would run it."""
    text = query.as_string(conn) if hasattr(query, "as_string") else query
    numbered = text
    for n in range(1, len(params) + 1):
        numbered = numbered.replace("%s", f"${n}", 1)
    conn.execute("SET plan_cache_mode = force_generic_plan")
    conn.execute(f"PREPARE probe AS {numbered}")
    try:
        args = f"({', '.join(['%s'] * len(params))})" if params else ""
        cur = psycopg.ClientCursor(conn)
        (plan,) = cur.execute(f"EXPLAIN (FORMAT JSON) EXECUTE probe{args}",
                              list(params)).fetchone()[0]
    finally:
        conn.execute("DEALLOCATE probe")
        conn.execute("RESET plan_cache_mode")
    return list(_plan_nodes(plan["Plan"]))


def _kinds(nodes: list[dict]) -> list[str]:
    return [n["Node Type"] for n in nodes]


def _filled(dsn: str, *fills: str) -> psycopg.Connection:
    conn = psycopg.connect(dsn, autocommit=True)
    for fill in fills:
        conn.execute(fill, (PUSHES,)) if "%s" in fill else conn.execute(fill)
    conn.execute("ANALYZE")
    return conn


@pytest.mark.parametrize("query", [None, {"blocked": True, "error": False, "type": "push",
                                           "allowPush": False, "authorised": False,
                                           "canceled": False}])
def test_the_prepared_pending_listing_still_uses_the_pending_partial_index(postgres_database,
                                                                            query):
    open_postgres_sink({"type": "postgres", "connectionString": postgres_database}).close()
    with _filled(postgres_database, _FILL) as conn:
        nodes = _generic_plan(conn, *PostgresSink.listing_query(query))

    assert "Seq Scan" not in _kinds(nodes), nodes
    assert any(n.get("Index Name") == "pushes_pending_idx" for n in nodes), nodes


@pytest.mark.parametrize(("field", "index"), [
    ("username", "users_username_key"), ("email", "users_email_key"),
    ("gitAccount", "users_git_account_idx"), ("oidcId", "users_oidc_idx")])
def test_a_prepared_user_lookup_uses_the_fields_expression_index(postgres_database, field,
                                                                 index):
    open_postgres_sink({"type": "postgres", "connectionString": postgres_database}).close()
    with _filled(postgres_database, _USERS) as conn:
        nodes = _generic_plan(conn, PostgresSink._FIND_BY[field], ["user42"])

    assert "Seq Scan" not in _kinds(nodes), nodes
    assert any(n.get("Index Name") == index for n in nodes), nodes


@pytest.mark.parametrize("field", ["username", "email"])
def test_a_lookup_on_a_unique_key_is_planned_like_a_plain_column_compare(postgres_database,
                                                                          field):
    open_postgres_sink({"type": "postgres", "connectionString": postgres_database}).close()
    with _filled(postgres_database, _USERS) as conn:
        lookup = _generic_plan(conn, PostgresSink._FIND_BY[field], ["user42"])
        plain = _generic_plan(conn, "SELECT id, doc FROM users WHERE id = %s LIMIT 1", ["u42"])

    # Limit over one index scan; no Sort for a LIMIT 1 that can match one row at most
    assert _kinds(lookup) == _kinds(plain) == ["Limit", "Index Scan"], (lookup, plain)


@pytest.mark.parametrize(("statement", "index"), [
    ("_REPO_BY_NAME", "repos_name_idx"), ("_REPO_BY_URL", "repos_url_key")])
def test_a_prepared_repo_lookup_uses_its_index_without_a_sort(postgres_database, statement,
                                                              index):
    open_postgres_sink({"type": "postgres", "connectionString": postgres_database}).close()
    with _filled(postgres_database, _REPOS) as conn:
        nodes = _generic_plan(conn, getattr(PostgresSink, statement), ["repo42"])

    assert "Sort" not in _kinds(nodes) and "Seq Scan" not in _kinds(nodes), nodes
    assert any(n.get("Index Name") == index for n in nodes), nodes
def test_the_profile_lookup_by_user_email_over_100k_pushes_uses_its_index(postgres_database):
    # the hash index that holds a userEmail of any length still serves `= ANY(variants)`
    sink = open_postgres_sink({"type": "postgres", "connectionString": postgres_database})
    try:
        nodes = _filled_and_planned(
            postgres_database, SQL("SELECT doc FROM pushes WHERE doc->'type' = '\"push\"'::jsonb"
                                   " AND doc->>'userEmail' = ANY(%s)"),
            (["user7@example.com", "User7@Example.com"],))
        assert _served_by(nodes, "pushes_user_email_idx"), nodes
        found = sink.get_pushes_for_user_profile(["user7@example.com"], "")
        assert len(found) == len(range(7, PUSHES + 1, 300))  # g with mod(g, 300) = 7
    finally:
        sink.close()


def test_the_fields_the_listing_drops_on_the_server_are_all_outside_the_list_view():
    text = PostgresSink._LISTING.as_string(None)
    dropped = text.split("doc - '{")[1].split("}'::text[]")[0].split(",")
    assert "steps" in dropped and not set(dropped) & set(PUSH_LIST_FIELDS), dropped
