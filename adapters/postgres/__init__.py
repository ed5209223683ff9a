"""The PostgreSQL reference adapter: ``open_postgres_sink(entry)`` for ``type: postgres``.

``mask_dsn`` is exported for configuration code that needs to show a connection string safely.
"""

from sinkkit.adapters.postgres.config import (
    ENV_CONNECTION_STRING,
    PostgresConfig,
    mask_dsn,
    parse_entry,
)
from sinkkit.adapters.postgres.sessions import PostgresSessionStore
from sinkkit.adapters.postgres.sink import PostgresSink, open_postgres_sink

__all__ = [
    "ENV_CONNECTION_STRING",
    "PostgresConfig",
    "PostgresSessionStore",
    "PostgresSink",
    "mask_dsn",
    "open_postgres_sink",
    "parse_entry",
]
