"""The lane table: which harness and environment each conformance lane runs with.

One definition for ``noxfile.py`` (one session per lane), the parity report (``--run`` runs the
local lanes) and the CI workflow (one job per lane calls ``nox -s <lane>``). This module imports
nothing but the standard library, so ``noxfile.py`` can load it by path before the package is
installed.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

#: the PostgreSQL 15 server this machine (and a developer's laptop) runs on the default port
LOCAL_PG15 = "postgresql://postgres@127.0.0.1:5432/postgres"

#: lane name -> (harness entry point, extra environment). Values are fixed text except
#: ``postgres15``'s DSN, which ``lane_env`` reads from ``SINKKIT_POSTGRES15_DSN`` when set.
LANES: dict[str, tuple[str, dict[str, str]]] = {
    "memory": ("memory", {}),
    "fs": ("fs", {}),
    "postgres": ("postgres", {"SINKKIT_POSTGRES_VERSION": "16"}),
    "postgres15": ("postgres", {"SINKKIT_POSTGRES_DSN": LOCAL_PG15}),
    "postgres18": ("postgres", {"SINKKIT_POSTGRES_VERSION": "18", "SINKKIT_POSTGRES_DSN": ""}),
    "postgres-failover": ("postgres-failover", {"SINKKIT_POSTGRES_VERSION": "16",
                                                "SINKKIT_POSTGRES_DSN": ""}),
    "postgres-pgbouncer": ("postgres", {"SINKKIT_POSTGRES_VERSION": "16",
                                        "SINKKIT_POSTGRES_DSN": "",
                                        "SINKKIT_POSTGRES_PGBOUNCER": "transaction"}),
    "mongomock": ("mongomock", {}),
    "mongo": ("mongo", {}),
    "bridge-python": ("bridge", {"SINKKIT_BRIDGE_COMMAND":
                                 "python examples/bridge-python/peer.py"}),
    "bridge-node": ("bridge", {"SINKKIT_BRIDGE_COMMAND": "node examples/bridge-node/peer.js"}),
}

#: lane name -> what it needs to run, shown by ``nox -l``
LANE_NEEDS: dict[str, str] = {
    "memory": "nothing",
    "fs": "nothing",
    "postgres": "nothing (embedded PostgreSQL 16; or SINKKIT_POSTGRES_DSN, or Docker)",
    "postgres15": "PostgreSQL 15 at 127.0.0.1:5432 (or SINKKIT_POSTGRES15_DSN)",
    "postgres18": "nothing (embedded PostgreSQL 18, or Docker)",
    "postgres-failover": "nothing (an embedded PostgreSQL 16 primary and streaming standby)",
    "postgres-pgbouncer": "pgbouncer (installed with apt-get when missing and root), "
                          "embedded PostgreSQL 16",
    "mongomock": "nothing (in-process mongomock)",
    "mongo": "a MongoDB server: SINKKIT_MONGO_URL, or Docker for a mongo:7 container",
    "bridge-python": "nothing (the Python reference peer)",
    "bridge-node": "Node.js on PATH (the Node.js reference peer)",
}

#: upstream lanes: the suite against a git-proxy checkout's own sink (``nox -s upstream``), lane
#: name -> the host's sink kind. They need a checkout (``SINKKIT_UPSTREAM_CHECKOUT``), so they are
#: not in LANES (one nox session each) or LOCAL_LANES; ``.ci/run`` runs them on the snapshots.
UPSTREAM_LANES: dict[str, str] = {
    "upstream-fs": "fs",              # src/db/file, NeDB in memory (NODE_ENV=test)
    "upstream-fs-files": "fs-files",  # src/db/file on NeDB datafiles, a directory per test
    "upstream-postgres": "postgres",  # src/db/postgres (the PR branches), embedded PostgreSQL
    "upstream-mongo": "mongo",        # src/db/mongo, a real server (SINKKIT_UPSTREAM_MONGO_URL)
}
#: seconds a bridged upstream call may take: a host starts in about 3 s (tsx compiling the
#: checkout's import graph), and several start at once in the multi-process clauses
UPSTREAM_TIMEOUT = "30"


def upstream_lane_env(kind: str, checkout: str) -> dict[str, str]:
    """The environment an upstream lane of sink ``kind`` over ``checkout`` runs with."""
    return {"SINKKIT_UPSTREAM_CHECKOUT": checkout, "SINKKIT_UPSTREAM_KIND": kind,
            "SINKKIT_BRIDGE_TIMEOUT": UPSTREAM_TIMEOUT,
            "SINKKIT_HYPOTHESIS_PROFILE": "sinkkit-upstream"}


#: lanes that need nothing but this machine (no Docker, no external server)
LOCAL_LANES: list[str] = [
    "memory", "fs", "postgres", "postgres15", "postgres18", "mongomock", "bridge-python",
    "bridge-node",
]


def lane_env(lane: str, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The extra environment of ``lane``, with overrides taken from ``environ``."""
    environ = os.environ if environ is None else environ
    _, env = LANES[lane]
    env = dict(env)
    if lane == "postgres15":
        env["SINKKIT_POSTGRES_DSN"] = environ.get("SINKKIT_POSTGRES15_DSN", LOCAL_PG15)
    return env


def lane_pytest_args(lane: str, report: str, workers: str = "2") -> list[str]:
    """The pytest arguments that run ``lane`` and write its clause report to ``report``."""
    harness, _ = LANES[lane]
    return [
        "--pyargs", "sinkkit.conformance.suite", f"--sinkkit-harness={harness}",
        "-n", workers, "-p", "no:randomly", "-p", "no:cacheprovider",
        f"--sinkkit-report={report}",
    ]
