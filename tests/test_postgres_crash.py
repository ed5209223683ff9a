"""A crash, not a clean stop: SIGKILL of the postmaster and all its backends on a durable server.

The suite's restart clause stops its server cleanly, on a server made fast with `fsync`,
`synchronous_commit` and `full_page_writes` off, so it says nothing about what a crash keeps. This
test gets an embedded server of its own (a temp directory, removed at the end), checks those three
settings are on, runs writer threads through the sink, and SIGKILLs every server process at once,
several times; after each restart the writers carry on through the same sink. Every push a writer
saw acknowledged must then read back exactly. Loops are bounded; joins only turn a hang into a
failure.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from typing import Any

import psutil
import pytest
from sinkkit.adapters.postgres import open_postgres_sink
from sinkkit.conformance.clauses import kit_clause
from sinkkit.conformance.errors import Unavailable
from sinkkit.conformance.factories import make_push
from sinkkit.fixtures import postgres as pg_fixtures

DURABLE = ("fsync", "synchronous_commit", "full_page_writes")
CRASHES = 3
WRITERS = 3
#: acknowledged writes each round needs before the next crash (the writers are mid-stream then)
ACKS_PER_ROUND = 40
HANG_GUARD = 120.0


@pytest.fixture
def durable_server() -> Any:
    prov = pg_fixtures._embedded(16, f"crash_{os.getpid()}_{time.time_ns() % 10**6}")
    try:
        from psycopg import sql

        with prov.connect() as conn:
            for setting in DURABLE:
                conn.execute(sql.SQL("ALTER SYSTEM SET {} = on").format(sql.Identifier(setting)))
            conn.execute("SELECT pg_reload_conf()")
        yield prov
    finally:
        prov.stop()


def _settings(prov: Any) -> dict[str, str]:
    with prov.connect() as conn:
        return {s: conn.execute(f"SHOW {s}").fetchone()[0] for s in DURABLE}


def _crash(prov: Any) -> int:
    """SIGKILL the postmaster and every process it started, all at once; returns how many."""
    postmaster = psutil.Process(prov.server.get_postmaster_info().pid)
    victims = [postmaster, *postmaster.children(recursive=True)]
    for proc in victims:
        proc.send_signal(signal.SIGKILL)
    psutil.wait_procs(victims, timeout=30)
    return len(victims)


def _restart(prov: Any) -> None:
    with prov.server._lock:
        prov.server.ensure_postgres_running()


@kit_clause("reliability.faults.server-crash-keeps-acks")
def test_a_crash_of_every_server_process_loses_no_acknowledged_write(durable_server):
    assert _settings(durable_server) == dict.fromkeys(DURABLE, "on")
    database = durable_server.create_database("sinkkit_crash")
    sink = open_postgres_sink({"type": "postgres", "enabled": True,
                               "connectionString": durable_server.dsn_for(database),
                               "options": {"poolSize": WRITERS, "connectTimeout": 5}})
    acked: dict[str, dict[str, Any]] = {}
    wrong: list[str] = []
    refused = [0]
    stop = threading.Event()

    def writer(w: int) -> None:
        n = 0
        while not stop.is_set():
            push = make_push(f"w{w}-{n:06d}", timestamp=1_700_000_000_000 + n,
                             payload="ü'x" * (50 * (n % 7)))
            n += 1
            try:
                sink.write_audit(push)
                acked[push["id"]] = push
            except Unavailable:
                refused[0] += 1
                stop.wait(0.05)
            except Exception as exc:
                wrong.append(f"{type(exc).__name__}: {exc}")

    def acks_reach(count: int) -> None:
        deadline = time.monotonic() + HANG_GUARD
        while len(acked) < count and time.monotonic() < deadline and not wrong:
            time.sleep(0.02)

    threads = [threading.Thread(target=writer, args=(w,), daemon=True) for w in range(WRITERS)]
    for t in threads:
        t.start()
    killed = 0
    try:
        for _ in range(CRASHES):
            acks_reach(len(acked) + ACKS_PER_ROUND)
            killed += _crash(durable_server)
            time.sleep(0.5)  # writers meet the dead server
            _restart(durable_server)
        acks_reach(len(acked) + ACKS_PER_ROUND)  # and the same sink writes again afterwards
    finally:
        stop.set()
        for t in threads:
            t.join(HANG_GUARD)
    assert not any(t.is_alive() for t in threads), "a writer hung"
    assert not wrong, f"writes failed with something other than Unavailable: {wrong[:3]}"
    assert _settings(durable_server) == dict.fromkeys(DURABLE, "on")
    lost = [pid for pid, push in acked.items()
            if {k: v for k, v in (sink.get_push(pid) or {}).items() if k != "_id"} != push]
    sink.close()
    assert len(acked) >= (CRASHES + 1) * ACKS_PER_ROUND
    assert not lost, f"{len(lost)} acknowledged writes lost or changed: {lost[:10]}"
    print(f"sinkkit crash: {CRASHES} crashes ({killed} processes SIGKILLed), {len(acked)} "
          f"acknowledged writes, {len(lost)} lost, {refused[0]} refused with Unavailable")
