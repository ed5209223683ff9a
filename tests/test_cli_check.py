"""``sinkkit check``: each contract violation it looks for is found in a raw store, a clean store
has none, and the audit writes nothing (a read-only directory, a role that can only SELECT)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from bson import ObjectId
from cli_kit import as_json, invoke, mongomock_server, pg_url, run_cli, snapshot, write_store
from sinkkit.adapters.fs import FsSink
from sinkkit.cli.audit import RULES
from sinkkit.conformance.factories import make_push, make_repo, make_user
from sinkkit.fixtures import postgres as pg_fixtures
from test_fs_interop import nedb_tool  # noqa: F401  (the real-NeDB fixture)

postgres_server = pg_fixtures.postgres_server
postgres_database = pg_fixtures.postgres_database

Store = dict[str, list[dict[str, Any]]]
WHEN = datetime(2024, 1, 2, tzinfo=timezone.utc)
FUTURE_MS = 4_102_444_800_000  # 2100-01-01


def clean_store() -> Store:
    return {
        "users": [{**make_user("alice", email="alice@example.com", gitAccount="alice-gh"),
                   "_id": "u1"},
                  {**make_user("bob", email="bob@example.com"), "_id": "u2"}],
        "repos": [{**make_repo("git-proxy", users={"canPush": ["alice"], "canAuthorise": ["bob"]}),
                   "_id": "r1", "dateCreated": WHEN, "lastModified": WHEN}],
        "pushes": [{**make_push("p1"), "_id": "p1"}],
        "migrations": [{"_id": "m1", "id": "0001-init", "appliedAt": WHEN},
                       {"_id": "m2", "id": "0002-next", "appliedAt": WHEN.replace(day=3)}],
        "sessions": [{"_id": "s1", "session": {"cookie": {}}, "expires": FUTURE_MS}],
    }


def _set(kind: str, index: int, **fields: Any) -> Callable[[Store], None]:
    def change(store: Store) -> None:
        store[kind][index].update(fields)
    return change


def _remove_role(store: Store) -> None:
    del store["repos"][0]["users"]["canAuthorise"]


def _second_alice(store: Store) -> None:
    store["users"].append({**make_user("ALICE", email="other@example.com"), "_id": "u3"})


def _late_ledger(store: Store) -> None:
    store["migrations"].append({"_id": "m3", "id": "0003-late", "appliedAt": WHEN.replace(day=1,
                                                                                       month=1)})


#: rule -> (a change that breaks it, the id the finding names)
VIOLATIONS: dict[str, tuple[Callable[[Store], None], str]] = {
    "repos.permissions-list": (_remove_role, "r1"),
    "repos.permissions-duplicate": (
        _set("repos", 0, users={"canPush": ["alice", "Alice"], "canAuthorise": []}), "r1"),
    "repos.permissions-unknown-user": (
        _set("repos", 0, users={"canPush": ["mallory"], "canAuthorise": []}), "r1"),
    "fold.username": (_set("users", 1, username="Bob"), "u2"),
    "fold.email": (_set("users", 1, email="Bob@Example.com"), "u2"),
    "fold.git-account": (_set("users", 0, gitAccount="Alice-GH"), "u1"),
    "fold.repo-name": (_set("repos", 0, name="Git-Proxy"), "r1"),
    "users.collision": (_second_alice, "u3"),
    "ids.not-string": (_set("users", 1, _id=42), "42"),
    "pushes.id-mismatch": (_set("pushes", 0, _id="nedb-random-id"), "p1"),
    "sessions.expired": (_set("sessions", 0, expires=1_000), "s1"),
    "migrations.order": (_late_ledger, "0003-late"),
    "schema.user": (_set("users", 1, admin="yes"), "u2"),
    "schema.repo": (_set("repos", 0, url=""), "r1"),
    "schema.push": (_set("pushes", 0, timestamp="yesterday"), "p1"),
}


def seeded(tmp_path: Path, change: Callable[[Store], None] | None = None) -> Path:
    store = copy.deepcopy(clean_store())
    if change is not None:
        change(store)
    return write_store(tmp_path / "db", **store)


def check_json(target: str, *extra: str) -> tuple[int, dict[str, Any]]:
    done = run_cli("check", target, "--json", *extra)
    assert done.returncode in (0, 1), done.stderr
    return done.returncode, as_json(done.stdout)


def test_every_rule_has_a_seeded_violation() -> None:
    assert set(VIOLATIONS) == set(RULES)


def test_a_clean_raw_store_has_no_findings_and_exits_zero(tmp_path: Path) -> None:
    code, report = check_json(f"fs:{seeded(tmp_path)}")
    assert (code, report["findings"], report["ok"]) == (0, [], True)


def test_a_store_the_fs_adapter_wrote_has_no_findings(tmp_path: Path) -> None:
    sink = FsSink(tmp_path / "db")
    alice = sink.create_user(make_user("Alice", email="Alice@Example.com", gitAccount="A-GH"))
    repo = sink.create_repo(make_repo("Git-Proxy"))
    sink.add_user_can_push(repo["_id"], alice["username"])
    sink.write_audit(make_push("p1"))
    sink.record_migration("0001-init")
    sink.close()
    code, report = check_json(f"fs:{tmp_path / 'db'}")
    assert (code, report["findings"]) == (0, [])


@pytest.mark.parametrize("rule", sorted(VIOLATIONS))
def test_check_finds_each_seeded_violation_and_exits_one(tmp_path: Path, rule: str) -> None:
    change, named = VIOLATIONS[rule]
    code, report = check_json(f"fs:{seeded(tmp_path, change)}")
    assert code == 1
    assert (rule, named) in {(f["rule"], f["id"]) for f in report["findings"]}


def test_ignore_leaves_a_rule_out_of_the_findings_and_the_exit_code(tmp_path: Path) -> None:
    change, _ = VIOLATIONS["pushes.id-mismatch"]
    code, report = check_json(f"fs:{seeded(tmp_path, change)}", "--ignore", "pushes.id-mismatch")
    assert (code, report["findings"]) == (0, [])


def test_an_unknown_rule_to_ignore_is_a_usage_error(tmp_path: Path) -> None:
    done = run_cli("check", f"fs:{seeded(tmp_path)}", "--ignore", "no.such-rule")
    assert done.returncode == 2
    assert "no.such-rule" in done.stderr


def test_the_terminal_table_names_rule_and_id(tmp_path: Path) -> None:
    done = run_cli("check", f"fs:{seeded(tmp_path, VIOLATIONS['fold.repo-name'][0])}")
    assert done.returncode == 1
    assert "fold.repo-name" in done.stdout and "r1" in done.stdout


def test_check_reads_a_directory_git_proxy_wrote_with_real_nedb(tmp_path: Path,
                                                                nedb_tool: Any) -> None:  # noqa: F811
    nedb_tool("gitproxy", str(tmp_path))
    code, report = check_json(f"fs:{tmp_path}")
    found = {(f["rule"], f["kind"]) for f in report["findings"]}
    # what git-proxy's own fs sink leaves: a repo created without users, gitAccount unfolded,
    # pushes under NeDB's random _id
    assert code == 1
    assert found == {("repos.permissions-list", "repos"), ("fold.git-account", "users"),
                     ("pushes.id-mismatch", "pushes")}


def test_check_reads_a_proxy_config_json_sink_entry(tmp_path: Path) -> None:
    seeded(tmp_path, VIOLATIONS["fold.username"][0])
    config = tmp_path / "proxy.config.json"
    config.write_text('{"sink": [{"type": "mongo", "enabled": false},'
                      ' {"type": "fs", "enabled": true, "params": {"filepath": "./db"}}]}')
    code, report = check_json(str(config))
    assert code == 1 and report["backend"] == "fs"


def test_check_writes_nothing_to_a_read_only_directory(tmp_path: Path) -> None:
    directory = seeded(tmp_path, VIOLATIONS["fold.email"][0])
    for path in [directory, *directory.iterdir()]:
        path.chmod(0o555 if path.is_dir() else 0o444)
    # root ignores file modes, so the proof is the files themselves: the same names, bytes,
    # modification times and modes after the audit (and no lock file beside them)
    before = snapshot(directory)
    try:
        code, _ = check_json(f"fs:{directory}")
    finally:
        after = snapshot(directory)
        for path in [directory, *directory.iterdir()]:
            path.chmod(0o755 if path.is_dir() else 0o644)
    assert code == 1
    assert after == before


# --- mongo (mongomock) ------------------------------------------------------------------------

def test_check_on_mongo_accepts_object_ids_and_finds_a_numeric_id() -> None:
    with mongomock_server() as (server, url):
        db = server.client["audit"]
        db.users.insert_many([{**make_user("alice", email="a@example.com"), "_id": ObjectId()},
                              {**make_user("bob", email="b@example.com"), "_id": 7}])
        db.repos.insert_one({**make_repo("git-proxy", users={"canPush": [], "canAuthorise": []}),
                             "_id": ObjectId()})
        db.pushes.insert_one({**make_push("p1"), "_id": "p2"})
        before = {c: list(db[c].find({})) for c in db.list_collection_names()}
        result = invoke("check", f"{url}/audit", "--json")
        after = {c: list(db[c].find({})) for c in db.list_collection_names()}
    report = as_json(result.stdout)
    assert result.exit_code == 1
    assert {(f["rule"], f["id"]) for f in report["findings"]} == {
        ("ids.not-string", "7"), ("pushes.id-mismatch", "p1")}
    assert after == before


def test_a_store_the_mongo_adapter_wrote_has_no_findings() -> None:
    from sinkkit.core.config import open_sink

    with mongomock_server() as (_server, url):
        sink = open_sink([{"type": "mongo", "enabled": True,
                           "connectionString": f"{url}/written"}])
        alice = sink.create_user(make_user("Alice", email="Alice@Example.com"))
        repo = sink.create_repo(make_repo("Git-Proxy"))
        sink.add_user_can_push(repo["_id"], alice["username"])
        sink.write_audit(make_push("p1"))
        sink.record_migration("0001-init")
        sink.session_store.set("s1", {"cookie": {"maxAge": 60_000}})
        sink.close()
        result = invoke("check", f"{url}/written", "--json")
    assert (result.exit_code, as_json(result.stdout)["findings"]) == (0, [])


# --- postgres (embedded) ------------------------------------------------------------------------

def _select_only_role(postgres_server: Any, dsn: str, role: str) -> None:
    from psycopg import connect, sql

    with connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
        conn.execute(sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(sql.Identifier(role)))
        conn.execute(sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA public TO {}").format(
            sql.Identifier(role)))


def _assert_cannot_write(url: str) -> None:
    """The control: the role really is refused a write, so an audit that ran under it wrote
    nothing (the embedded server trusts local logins, so the password in the URL is unused)."""
    from psycopg import connect, errors

    with connect(url, autocommit=True) as conn, pytest.raises(errors.InsufficientPrivilege):
        conn.execute("DELETE FROM pushes")


def test_check_on_postgres_runs_as_a_select_only_role_and_masks_its_password(
        postgres_server: Any, postgres_database: str) -> None:
    from psycopg import connect
    from sinkkit.adapters.postgres import open_postgres_sink

    sink = open_postgres_sink({"type": "postgres", "enabled": True,
                               "connectionString": pg_url(postgres_database)})
    sink.create_user(make_user("alice", email="a@example.com"))
    sink.close()
    with connect(postgres_database, autocommit=True) as conn:
        # what only a store written around the adapter holds: an unfolded name, a null list,
        # a push row whose key is not its id
        conn.execute("INSERT INTO repos (id, doc, created_ms, modified_ms) VALUES ('r1',"
                     " '{\"name\": \"Git-Proxy\", \"url\": \"u\", \"project\": \"\","
                     " \"users\": {\"canPush\": null, \"canAuthorise\": []}}', 1, 1)")
        conn.execute("INSERT INTO pushes (id, doc) VALUES ('row-key', '{\"id\": \"p1\"}')")
        tables = conn.execute("SELECT count(*) FROM pg_stat_user_tables").fetchone()
    _select_only_role(postgres_server, postgres_database, "sinkkit_auditor")
    _assert_cannot_write(pg_url(postgres_database, "sinkkit_auditor"))
    secret = "n0t-a-real-pw-7"
    done = run_cli("check", pg_url(postgres_database, "sinkkit_auditor", secret), "--json")
    assert done.returncode == 1, done.stderr
    report = as_json(done.stdout)
    assert {(f["rule"], f["id"]) for f in report["findings"]} >= {
        ("fold.repo-name", "r1"), ("repos.permissions-list", "r1"),
        ("pushes.id-mismatch", "p1")}
    assert secret not in done.stdout + done.stderr and "***" in report["source"]
    with connect(postgres_database, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM pg_stat_user_tables").fetchone() == tables


def test_the_operator_docs_list_every_rule() -> None:
    text = (Path(__file__).parents[1] / "docs" / "operator-cli.md").read_text(encoding="utf-8")
    assert [rule for rule in RULES if f"| `{rule}` |" not in text] == []


def test_an_unreachable_store_exits_two_with_the_password_masked() -> None:
    done = run_cli("check", "postgresql://auditor:hunter2-not-shown@127.0.0.1:1/gitproxy")
    assert done.returncode == 2
    assert "hunter2-not-shown" not in done.stdout + done.stderr
    assert "auditor:***@127.0.0.1:1" in done.stderr


def test_the_console_script_answers_version_and_help() -> None:
    import sinkkit

    assert run_cli("--version").stdout.strip() == f"sinkkit, version {sinkkit.__version__}"
    listed = run_cli("--help").stdout
    assert "check" in listed and "copy" in listed
