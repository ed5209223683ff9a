"""Over 100 000 pushes, the default pending listing and the user-profile lookup by userEmail are
served by an index, never a Seq Scan."""

from __future__ import annotations

import psycopg
from psycopg.sql import SQL
from sinkkit.adapters.postgres import PostgresSink, open_postgres_sink
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
