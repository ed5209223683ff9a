"""Measures behind docs/decisions/0001: repo permissions as a JSONB array vs a repo_users table.

Run ``python -m benchmarks.permission_models [--repos 3000]`` from the repository root (same
provisioning as the tests: SINKKIT_POSTGRES_DSN, a container, or embedded PostgreSQL 16). Both
models do the same work per call, each as one SQL statement: check the repo exists, bump
``lastModified`` (strictly increasing), add or remove the user, and return the repo as a
git-proxy document.
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
import uuid
from typing import Any

from psycopg import sql
from psycopg.sql import SQL
from sinkkit.adapters.postgres import open_postgres_sink
from sinkkit.conformance.errors import RepoNotFound
from sinkkit.core import clock, rules

RELATIONAL_DDL = """
CREATE TABLE repos (id text COLLATE "C" PRIMARY KEY, name text NOT NULL, url text NOT NULL UNIQUE,
    project text NOT NULL, created_ms bigint NOT NULL, modified_ms bigint NOT NULL);
CREATE INDEX repos_name_idx ON repos (name COLLATE "C", id);
CREATE TABLE repo_users (repo_id text COLLATE "C" NOT NULL REFERENCES repos ON DELETE CASCADE,
    role text NOT NULL, username text NOT NULL, seq bigint GENERATED ALWAYS AS IDENTITY,
    PRIMARY KEY (repo_id, role, username));
"""

_REL_COLUMNS = """
SELECT r.id, r.name, r.url, r.project, r.created_ms, r.modified_ms,
  coalesce((SELECT jsonb_agg(username ORDER BY seq) FROM repo_users u
            WHERE u.repo_id = r.id AND role = 'canPush'), '[]'),
  coalesce((SELECT jsonb_agg(username ORDER BY seq) FROM repo_users u
            WHERE u.repo_id = r.id AND role = 'canAuthorise'), '[]')
FROM repos r"""
_REL_LIST = SQL("{} ORDER BY r.name COLLATE \"C\", r.id").format(SQL(_REL_COLUMNS))
_REL_ONE = SQL("{} WHERE r.id = %s").format(SQL(_REL_COLUMNS))

_REL_ADD = """
WITH r AS (UPDATE repos SET modified_ms = greatest(%(now)s, modified_ms + 1) WHERE id = %(id)s
           RETURNING id)
INSERT INTO repo_users (repo_id, role, username) SELECT id, %(role)s, %(name)s FROM r
ON CONFLICT DO NOTHING RETURNING (SELECT count(*) FROM r)"""

_REL_REMOVE = """
WITH r AS (UPDATE repos SET modified_ms = greatest(%(now)s, modified_ms + 1) WHERE id = %(id)s
           RETURNING id),
del AS (DELETE FROM repo_users WHERE repo_id IN (SELECT id FROM r) AND role = %(role)s
        AND username = %(name)s)
SELECT count(*) FROM r"""


class RelationalRepos:
    """The join-table alternative, just the operations measured."""

    def __init__(self, dsn: str, schema: str):
        import psycopg

        self.conn = psycopg.connect(dsn, autocommit=True, prepare_threshold=None)
        self.conn.execute(sql.SQL("CREATE SCHEMA {s}; SET search_path TO {s}").format(
            s=sql.Identifier(schema)))
        self.conn.execute(RELATIONAL_DDL)

    @staticmethod
    def _doc(row: tuple) -> dict[str, Any]:
        _id, name, url, project, created, modified, can_push, can_auth = row
        return {"_id": _id, "name": name, "url": url, "project": project,
                "users": {"canPush": can_push, "canAuthorise": can_auth},
                "dateCreated": clock.iso_from_ms(created),
                "lastModified": clock.iso_from_ms(modified)}

    def create_repo(self, repo: dict[str, Any]) -> str:
        doc = rules.normalise_new_repo(repo)
        _id, now = uuid.uuid4().hex, clock.now_ms()
        with self.conn.transaction():
            self.conn.execute("INSERT INTO repos VALUES (%s, %s, %s, %s, %s, %s)",
                              (_id, doc["name"], doc["url"], doc["project"], now, now))
        return _id

    def permission(self, _id: str, role: str, user: str, add: bool) -> None:
        params = {"now": clock.now_ms(), "id": _id, "role": role,
                  "name": rules.normalise_username(user)}
        rows = self.conn.execute(_REL_ADD if add else _REL_REMOVE, params).fetchall()
        if add and not rows:  # no row inserted: repo missing or user already there
            if not self.conn.execute("SELECT 1 FROM repos WHERE id = %s", (_id,)).fetchone():
                raise RepoNotFound(_id)
        elif not add and not rows[0][0]:
            raise RepoNotFound(_id)

    def get_repos(self) -> list[dict[str, Any]]:
        rows = self.conn.execute(_REL_LIST).fetchall()
        return [self._doc(r) for r in rows]

    def get_repo_by_id(self, _id: str) -> dict[str, Any] | None:
        row = self.conn.execute(_REL_ONE, (_id,)).fetchone()
        return self._doc(row) if row else None


def _timed(fn, n: int) -> float:
    start = time.perf_counter()
    for i in range(n):
        fn(i)
    return time.perf_counter() - start


def _median_ms(fn, n: int = 15) -> float:
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def _concurrent(fn, threads: int, per_thread: int) -> float:
    start = time.perf_counter()
    workers = [threading.Thread(target=lambda t=t: [fn(t, i) for i in range(per_thread)])
               for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return time.perf_counter() - start


def _measure(model: Any, ids: list[str], ops: int) -> dict[str, float]:
    repos = len(ids)
    if isinstance(model, RelationalRepos):
        def change(i: int, add: bool) -> None:
            model.permission(ids[i % repos], "canPush", f"x{i}", add)
        hot = None
    else:
        def change(i: int, add: bool) -> None:
            (model.add_user_can_push if add else model.remove_user_can_push)(
                ids[i % repos], f"x{i}")

        def hot(t: int, i: int) -> None:
            model.add_user_can_push(ids[0], f"t{t}_{i}")
    r = {"add_per_s": ops / _timed(lambda i: change(i, True), ops),
         "remove_per_s": ops / _timed(lambda i: change(i, False), ops),
         "list_all_ms": _median_ms(model.get_repos),
         "get_one_ms": _median_ms(lambda: model.get_repo_by_id(ids[repos // 2]), 200)}
    if hot is not None:
        elapsed = _concurrent(hot, 8, 50)
        r["hot_row_8x50_adds_per_s"] = 400 / elapsed
        r["hot_row_landed"] = len(model.get_repo_by_id(ids[0])["users"]["canPush"]) - 5
    return r


def run(dsn: str, repos: int, ops: int) -> dict[str, dict[str, float]]:
    tag = uuid.uuid4().hex[:6]
    jsonb = open_postgres_sink({"type": "postgres", "connectionString": dsn,
                                "options": {"schema": f"bench_jsonb_{tag}", "poolSize": 8}})
    rel = RelationalRepos(dsn, f"bench_rel_{tag}")
    results: dict[str, dict[str, float]] = {}
    try:
        for label, model in (("jsonb", jsonb), ("relational", rel)):
            ids = []
            for i in range(repos):
                users = {"canPush": [f"u{i}_{k}" for k in range(5)],
                         "canAuthorise": [f"a{i}_{k}" for k in range(2)]}
                created = model.create_repo({"name": f"r{i}", "url": f"https://h/{label}/{i}",
                                             "users": users if label == "jsonb" else None})
                _id = created["_id"] if isinstance(created, dict) else created
                if label == "relational":
                    for role, names in users.items():
                        for name in names:
                            model.permission(_id, role, name, add=True)
                ids.append(_id)
            results[label] = _measure(model, ids, ops)
    finally:
        jsonb.close()
        rel.conn.close()
    return results


def main() -> None:
    from sinkkit.fixtures.postgres import provision_postgres

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repos", type=int, default=3000)
    parser.add_argument("--ops", type=int, default=3000)
    parser.add_argument("--version", type=int, default=16)
    args = parser.parse_args()
    prov = provision_postgres(args.version, label="bench")
    db = prov.create_database("sinkkit_bench")
    try:
        results = run(prov.dsn_for(db), args.repos, args.ops)
    finally:
        prov.drop_database(db)
        prov.stop()
    print(f"PostgreSQL {prov.server_version} ({prov.source}), {args.repos} repos x 7 users, "
          f"{args.ops} ops each")
    for label, figures in results.items():
        print(label, {k: round(v, 2) for k, v in figures.items()})


if __name__ == "__main__":
    main()
