"""Silent network loss: every call is bounded and the sink recovers without a restart.

A proxy on 127.0.0.1 stands between the sink and the server. Told to swallow, it keeps every
socket open and acknowledges every byte but passes nothing on, as a failover or a partition
without resets does; no server-side timeout can fire, and TCP sees a healthy peer. Calls must
still end with Unavailable, and once the proxy passes traffic again (old connections dropped, as
after a real partition) calls must succeed again. Loops are bounded in count; the thread join
guards only turn a hang into a failure.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from sinkkit.adapters.postgres import open_postgres_sink
from sinkkit.conformance.errors import Unavailable
from sinkkit.fixtures import postgres as pg_fixtures

postgres_database = pg_fixtures.postgres_database
postgres_server = pg_fixtures.postgres_server

HANG_GUARD = 60.0


class SwallowingProxy:
    """A TCP proxy on 127.0.0.1 that can stop passing traffic while keeping sockets open."""

    def __init__(self, upstream: tuple[int, Any]):
        self.upstream = upstream  # (family, address)
        self.swallow = False
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._lock = threading.Lock()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.socket(self.upstream[0], socket.SOCK_STREAM)
            server.connect(self.upstream[1])
            with self._lock:
                self._pairs.append((client, server))
            for src, dst in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        while True:
            try:
                data = src.recv(65536)
                if not data:
                    return
                if not self.swallow:
                    dst.sendall(data)
            except OSError:
                return

    def heal(self) -> None:
        """Pass traffic again; connections from before the loss are gone, as after a partition."""
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for pair in pairs:
            for sock in pair:
                sock.close()
        self.swallow = False

    def close(self) -> None:
        self.listener.close()
        self.heal()


@pytest.fixture
def proxied(postgres_database: str) -> Iterator[tuple[SwallowingProxy, str]]:
    params = conninfo_to_dict(postgres_database)
    host, port = str(params.get("host") or "127.0.0.1"), int(params.get("port") or 5432)
    if host.startswith("/"):
        upstream: tuple[int, Any] = (socket.AF_UNIX, f"{host}/.s.PGSQL.{port}")
    else:
        upstream = (socket.AF_INET, (host, port))
    proxy = SwallowingProxy(upstream)
    yield proxy, make_conninfo(postgres_database, host="127.0.0.1", port=str(proxy.port))
    proxy.close()


def in_thread(call: Any) -> BaseException | str:
    box: list[BaseException | str] = []

    def run() -> None:
        try:
            call()
            box.append("returned")
        except BaseException as exc:  # the outcome is what the test inspects
            box.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(HANG_GUARD)
    return box[0] if box else "hung"


def test_calls_end_during_a_silent_network_loss_and_succeed_after_it(proxied) -> None:
    proxy, dsn = proxied
    sink = open_postgres_sink({"type": "postgres", "enabled": True, "connectionString": dsn,
                               "options": {"schema": "netloss", "poolSize": 4,
                                           "connectTimeout": 2, "statementTimeout": 500}})
    try:
        sink.write_audit({"id": "p1", "type": "push", "timestamp": 1})
        proxy.swallow = True
        outcomes: list[BaseException | str] = []
        threads = [threading.Thread(target=lambda: outcomes.append(
            in_thread(lambda: sink.get_push("p1"))), daemon=True) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(HANG_GUARD)
        assert len(outcomes) == 4
        assert all(isinstance(o, Unavailable) for o in outcomes), outcomes
        proxy.heal()
        for _attempt in range(50):  # bounded: each attempt ends within its own bounds
            if in_thread(lambda: sink.get_push("p1")) == "returned":
                break
        else:
            pytest.fail("the sink did not recover within 50 calls after the network returned")
        assert sink.get_push("p1")["id"] == "p1"
    finally:
        sink.close()
