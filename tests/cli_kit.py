"""Helpers for the ``sinkkit check`` / ``sinkkit copy`` tests: raw stores, runs, snapshots."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

from click.testing import CliRunner
from sinkkit.adapters.fs import nedb
from sinkkit.cli.main import cli

Document = dict[str, Any]


def write_store(directory: Path, **collections: list[Document]) -> Path:
    """Datafiles holding exactly ``collections`` (no adapter in between to normalise them)."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, docs in collections.items():
        datafile = nedb.Datafile(directory / f"{name}.db")
        datafile.load()
        datafile.compact(docs)
        datafile.close()
    return directory


def run_cli(*args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """The console script's code in a fresh interpreter, as an operator runs it."""
    return subprocess.run([sys.executable, "-m", "sinkkit.cli.main", *args], capture_output=True,
                          text=True, timeout=300, **kwargs)


def invoke(*args: str) -> Any:
    """In-process, for stores that live in this process (mongomock)."""
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def as_json(output: str) -> Any:
    return json.loads(output)


def kinds(report: Document) -> dict[str, Document]:
    return {k["kind"]: k for k in report["kinds"]}


def snapshot(directory: Path) -> dict[str, tuple[str, int, int]]:
    """Every file under ``directory``: content hash, mtime (ns) and mode."""
    out = {}
    for path in sorted(directory.rglob("*")):
        st = path.stat()
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "dir"
        out[str(path.relative_to(directory))] = (digest, st.st_mtime_ns, st.st_mode)
    return out


@contextmanager
def mongomock_server() -> Iterator[Any]:
    """``pymongo.MongoClient`` answered by one in-process mongomock server for MOCK_HOST URLs."""
    from sinkkit.fixtures.mongo import MOCK_HOST, MockServer

    server = MockServer()
    with mock.patch("pymongo.MongoClient", lambda url=None, *a, **kw: server.connect(url)):
        yield server, f"mongodb://{MOCK_HOST}:27017"


def pg_url(dsn: str, user: str | None = None, password: str | None = None) -> str:
    from sinkkit.cli.targets import postgres_url

    return postgres_url(dsn, user, password)
