"""Helpers for the mongo kit tests: a sink over a private in-process mongomock server."""

from __future__ import annotations

from typing import Any

from sinkkit.adapters.mongo import open_mongo_sink
from sinkkit.fixtures.mongo import MOCK_HOST, MockServer


def open_private_sink(server: MockServer | None = None, database: str = "kit",
                      **entry: Any) -> Any:
    """A MongoSink on ``server`` (a fresh one by default), so each test has its own storage."""
    server = server or MockServer()
    config = {"type": "mongo", "enabled": True,
              "connectionString": f"mongodb://{MOCK_HOST}:27017/{database}", **entry}
    return open_mongo_sink(config, client_factory=server.connect)
