"""Functions the kit's postgres tests run in spawned worker processes.

They live in a top-level module of this folder, not in the test module: a spawned process
unpickles a function by importing its module by name, and a test module collected in importlib
mode is named ``tests.test_...``, which only imports when the working directory is on
``sys.path`` (``python -m pytest``), not under a bare ``pytest``. ``conftest.py`` puts this
folder on ``sys.path`` and spawned children inherit the parent's ``sys.path``, so this module
imports under every way of starting pytest.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable
from typing import TypeVar

from sinkkit.adapters.postgres import open_postgres_sink

T = TypeVar("T")


def open_and_write(dsn: str, n: int, start_at: float) -> str:
    """Wait for the common start line, open (and so bootstrap) the sink, write one push."""
    time.sleep(max(0.0, start_at - time.time()))
    entry = {"type": "postgres", "enabled": True, "connectionString": dsn, "options": {}}
    sink = open_postgres_sink(entry)
    try:
        sink.write_audit({"id": f"push-{n}", "type": "push", "timestamp": n})
        sink.session_store.set(f"sid-{n}", {"cookie": {"maxAge": 60000}, "n": n})
        return sink.get_push(f"push-{n}")["id"]
    finally:
        sink.close()


def create_system_user_at(name: str, lock_path: str, start_at: float) -> int:
    """From the common start line, ensure system user ``name`` the way the fixtures do."""
    from pathlib import Path

    from sinkkit.fixtures.postgres import ensure_system_user

    time.sleep(max(0.0, start_at - time.time()))
    return ensure_system_user(name, Path(lock_path))


def run_together(fn: Callable[..., T], calls: list[tuple], bound_s: float) -> list[T]:
    """``fn(*args)`` for every ``args`` in ``calls``, each in its own spawned process at once.

    The pool is closed and joined, never terminated (leaving ``with Pool()`` terminates it):
    terminate sends SIGTERM, and a worker measured by coverage that is killed while writing its
    data file leaves an empty ``.coverage.*`` file that ``coverage combine`` reports as "isn't
    a coverage data file". ``bound_s`` bounds the wait: a worker that cannot unpickle its task
    dies and the pool would wait for it forever.
    """
    pool = multiprocessing.get_context("spawn").Pool(len(calls))
    try:
        results = pool.starmap_async(fn, calls).get(timeout=bound_s)
    except BaseException:
        pool.terminate()
        raise
    pool.close()
    pool.join()
    return results
