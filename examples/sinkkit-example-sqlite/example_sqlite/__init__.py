"""git-proxy's Sink over a single SQLite file: an adapter written outside the kit.

It reuses the kit's ``DocumentSink`` (every contract rule) and only says how a collection of
documents is kept: one row per document, as JSON, in one table.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

from sinkkit.conformance.model import Collection, DocumentSink


class SqliteCollection(Collection):
    def __init__(self, db: sqlite3.Connection, lock: threading.Lock, name: str):
        self._db, self._lock, self._name = db, lock, name
        with lock:
            rows = db.execute(
                "SELECT key, doc FROM documents WHERE collection = ? ORDER BY seq", (name,)
            ).fetchall()
        super().__init__({key: json.loads(doc) for key, doc in rows})

    def put(self, key: str, doc: dict[str, Any]) -> None:
        with self._lock, self._db:
            # an upsert keeps the row's seq, so insertion order survives updates and reopening
            self._db.execute(
                "INSERT INTO documents (collection, key, doc) VALUES (?, ?, ?) "
                "ON CONFLICT (collection, key) DO UPDATE SET doc = excluded.doc",
                (self._name, key, json.dumps(doc)),
            )
        super().put(key, doc)

    def remove(self, key: str) -> None:
        with self._lock, self._db:
            self._db.execute(
                "DELETE FROM documents WHERE collection = ? AND key = ?", (self._name, key)
            )
        super().remove(key)


class SqliteSink(DocumentSink):
    def __init__(self, path: Path, session_ttl: int = 86400):
        self._db = sqlite3.connect(path, check_same_thread=False)
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS documents (seq INTEGER PRIMARY KEY AUTOINCREMENT, "
            "collection TEXT NOT NULL, key TEXT NOT NULL, doc TEXT NOT NULL, "
            "UNIQUE (collection, key))"
        )
        lock = threading.Lock()
        super().__init__(
            {name: SqliteCollection(self._db, lock, name) for name in self.collection_names},
            session_ttl=session_ttl,
        )

    def close(self) -> None:
        super().close()
        self._db.close()


def open_sqlite_sink(entry: dict[str, Any]) -> SqliteSink:
    path = Path((entry.get("params") or {}).get("filepath", "./.data/sink.sqlite3"))
    path.parent.mkdir(parents=True, exist_ok=True)
    # the session store's default lifetime, in seconds, as every kit adapter reads it
    options = entry.get("options") or {}
    return SqliteSink(path, session_ttl=int(options.get("sessionTtl", 86400)))
