"""``sinkkit copy``: ids kept, normalisations and refusals itemised, reruns write nothing, a
SIGKILL midway is finished by a rerun, and the verification pass reads the destination back."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from cli_kit import as_json, invoke, kinds, mongomock_server, pg_url, run_cli, snapshot, write_store
from sinkkit.adapters.fs import FsSink
from sinkkit.cli.seed import seed_fs
from sinkkit.conformance.factories import make_key, make_push, make_repo, make_user
from sinkkit.core.config import open_sink
from sinkkit.fixtures import postgres as pg_fixtures
from test_fs_interop import nedb_tool  # noqa: F401  (the real-NeDB fixture)

postgres_server = pg_fixtures.postgres_server
postgres_database = pg_fixtures.postgres_database


def copy_json(source: str, dest: str, *extra: str) -> tuple[int, dict[str, Any]]:
    done = run_cli("copy", source, dest, "--json", *extra)
    assert done.returncode in (0, 1), done.stderr
    return done.returncode, as_json(done.stdout)


def open_pg(dsn: str) -> Any:
    return open_sink([{"type": "postgres", "enabled": True, "connectionString": pg_url(dsn)}])


def pg_count(dsn: str, table: str) -> int:
    from psycopg import connect, sql

    with connect(dsn) as conn:
        return conn.execute(sql.SQL("SELECT count(*) FROM {}").format(
            sql.Identifier(table))).fetchone()[0]


# --- fs written by real NeDB -> PostgreSQL ---------------------------------------------------

def test_copy_from_a_nedb_directory_to_postgres_keeps_every_id_and_verifies(
        tmp_path: Path, nedb_tool: Any, postgres_database: str) -> None:  # noqa: F811
    nedb_tool("gitproxy", str(tmp_path))
    source = FsSink(tmp_path)
    users = {u["_id"]: u for u in source.get_users({})}
    repos = {r["_id"]: r for r in source.get_repos({})}
    source.close()
    code, report = copy_json(f"fs:{tmp_path}", pg_url(postgres_database))
    assert (code, report["verified"]) == (0, True)
    dest = open_pg(postgres_database)
    try:
        assert {u["_id"]: u for u in dest.get_users({})} == users
        # the NeDB ids are kept; git-proxy stored no repo dates, which PostgreSQL requires
        copied = {r["_id"]: r for r in dest.get_repos({})}
        assert {i: _undated(r) for i, r in copied.items()} == {
            i: _undated(r) for i, r in repos.items()}
    finally:
        dest.close()
    dated = {c["id"] for c in kinds(report)["repos"]["changed"] if "first copy" in c["reason"]}
    assert dated == set(repos)


def _undated(repo: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in repo.items() if k not in ("dateCreated", "lastModified")}


def test_repo_dates_and_ledger_times_stored_in_the_source_are_kept(
        tmp_path: Path, postgres_database: str) -> None:
    seed_fs(tmp_path / "src", pushes=3, users=3, repos=2)
    source = FsSink(tmp_path / "src")
    repos = {r["_id"]: r for r in source.get_repos({})}
    source.close()
    code, _ = copy_json(f"fs:{tmp_path / 'src'}", pg_url(postgres_database))
    from psycopg import connect

    with connect(postgres_database) as conn:
        applied = conn.execute("SELECT id, applied_at FROM sink_migrations ORDER BY seq").fetchall()
    dest = open_pg(postgres_database)
    try:
        assert code == 0
        assert {r["_id"]: r for r in dest.get_repos({})} == repos
        assert applied == [("0000-step", "2024-01-01T00:00:00.000Z"),
                           ("0001-step", "2024-01-02T00:00:00.000Z"),
                           ("0002-step", "2024-01-03T00:00:00.000Z")]
    finally:
        dest.close()


def test_what_the_contract_normalised_is_itemised_by_id(tmp_path: Path, nedb_tool: Any,  # noqa: F811
                                                         postgres_database: str) -> None:
    nedb_tool("gitproxy", str(tmp_path))
    _, report = copy_json(f"fs:{tmp_path}", pg_url(postgres_database))
    changed = {c["reason"] for k in report["kinds"] for c in k["changed"]}
    assert any("gitAccount: 'Bob-GH' -> 'bob-gh'" in reason for reason in changed)
    assert any("users added as" in reason for reason in changed)  # a repo stored without lists


def test_a_second_copy_writes_nothing(tmp_path: Path, nedb_tool: Any,  # noqa: F811
                                      postgres_database: str) -> None:
    nedb_tool("gitproxy", str(tmp_path))
    copy_json(f"fs:{tmp_path}", pg_url(postgres_database))
    code, again = copy_json(f"fs:{tmp_path}", pg_url(postgres_database))
    assert code == 0
    assert {k["kind"]: k["written"] for k in again["kinds"]} == dict.fromkeys(
        ("users", "repos", "pushes", "migrations", "sessions"), 0)
    assert kinds(again)["pushes"]["unchanged"] == 1


def test_a_dry_run_creates_nothing_in_postgres(tmp_path: Path, nedb_tool: Any,  # noqa: F811
                                               postgres_database: str) -> None:
    from psycopg import connect

    nedb_tool("gitproxy", str(tmp_path))
    code, report = copy_json(f"fs:{tmp_path}", pg_url(postgres_database), "--dry-run")
    assert code == 0 and report["dryRun"]
    assert kinds(report)["users"]["written"] == 2
    with connect(postgres_database) as conn:
        tables = conn.execute("SELECT count(*) FROM information_schema.tables"
                              " WHERE table_schema = 'public'").fetchone()[0]
    assert tables == 0


def test_a_dry_run_leaves_an_fs_source_and_destination_untouched(tmp_path: Path) -> None:
    source = write_store(tmp_path / "src", users=[{**make_user("alice"), "_id": "u1"}])
    dest = tmp_path / "dest"
    before = snapshot(source)
    code, report = copy_json(f"fs:{source}", f"fs:{dest}", "--dry-run")
    assert (code, kinds(report)["users"]["written"]) == (0, 1)
    assert snapshot(source) == before and not dest.exists()


def test_the_copy_password_is_masked_in_every_line(tmp_path: Path, postgres_database: str) -> None:
    source = write_store(tmp_path / "src", users=[{**make_user("alice"), "_id": "u1"}])
    # the embedded server trusts local logins: the password travels in the URL only
    secret = "sup3r-secret-pw"
    done = run_cli("copy", f"fs:{source}", pg_url(postgres_database, password=secret))
    assert done.returncode == 0, done.stderr
    assert secret not in done.stdout + done.stderr and "***" in done.stdout


# --- refusals ---------------------------------------------------------------------------------

def test_documents_the_rules_refuse_are_reported_by_id_and_the_rest_copied(
        tmp_path: Path) -> None:
    source = write_store(
        tmp_path / "src",
        users=[{**make_user("alice"), "_id": "u1"}, {**make_user("bob"), "_id": "u2"}],
        # NeDB's line for a push git-proxy could never have sent: the contract refuses it
        pushes=[{**make_push("good"), "_id": "good"},
                {**make_push("bad", timestamp="soon"), "_id": "bad"}])
    code, report = copy_json(f"fs:{source}", f"fs:{tmp_path / 'dest'}")
    pushes = kinds(report)["pushes"]
    assert code == 1  # something was refused: not silently
    assert [r["id"] for r in pushes["refused"]] == ["bad"]
    assert "timestamp" in pushes["refused"][0]["reason"]
    assert (pushes["written"], pushes["verified"], report["verified"]) == (1, 1, True)


def test_a_user_colliding_once_folded_is_refused_not_merged(tmp_path: Path) -> None:
    source = write_store(tmp_path / "src", users=[
        {**make_user("alice", email="a@example.com"), "_id": "u1"},
        {**make_user("Alice", email="b@example.com"), "_id": "u2"}])
    code, report = copy_json(f"fs:{source}", f"fs:{tmp_path / 'dest'}")
    users = kinds(report)["users"]
    assert code == 1
    assert users["written"] == 1 and len(users["refused"]) == 1
    assert users["refused"][0]["id"] in ("u1", "u2")


def test_a_username_the_destination_gives_another_id_is_refused_there(
        tmp_path: Path, postgres_database: str) -> None:
    source = write_store(tmp_path / "src", users=[{**make_user("alice"), "_id": "u1"},
                                                  {**make_user("bob"), "_id": "u2"}])
    dest = open_pg(postgres_database)
    dest.create_user({**make_user("alice"), "_id": "someone-else"})
    dest.close()
    code, report = copy_json(f"fs:{source}", pg_url(postgres_database))
    users = kinds(report)["users"]
    assert code == 1
    assert users["refused"] == [{"id": "u1", "reason": "username already held by another user "
                                                      "in the destination"}]
    assert (users["written"], users["verified"]) == (1, 1)


# --- mongo (mongomock) <-> fs -----------------------------------------------------------------

def test_copy_from_mongo_keeps_object_ids_as_their_hex_strings_and_copies_keys(
        tmp_path: Path) -> None:
    with mongomock_server() as (_server, url):
        mongo = open_sink([{"type": "mongo", "enabled": True, "connectionString": f"{url}/src"}])
        alice = mongo.create_user(make_user("alice", email="a@example.com"))
        mongo.add_public_key("alice", make_key(1))
        repo = mongo.create_repo(make_repo("git-proxy"))
        mongo.add_user_can_push(repo["_id"], "alice")
        mongo.write_audit(make_push("p1"))
        mongo.record_migration("0001-init")
        mongo.close()
        result = invoke("copy", f"{url}/src", f"fs:{tmp_path / 'dest'}", "--json")
    assert result.exit_code == 0, result.output
    dest = FsSink(tmp_path / "dest")
    try:
        assert dest.find_user("alice")["_id"] == alice["_id"]
        assert dest.get_public_keys("alice") == [make_key(1)]
        assert dest.get_repo_by_id(repo["_id"])["users"]["canPush"] == ["alice"]
        assert dest.get_push("p1") == make_push("p1")
        assert dest.get_applied_migrations() == ["0001-init"]
    finally:
        dest.close()


def test_copy_into_mongo_then_back_to_fs_round_trips_the_documents(tmp_path: Path) -> None:
    source = write_store(tmp_path / "src",
                         users=[{**make_user("alice", email="a@example.com"), "_id": "u1",
                                 "publicKeys": []}],
                         pushes=[{**make_push("p1"), "_id": "p1"}])
    with mongomock_server() as (_server, url):
        there = invoke("copy", f"fs:{source}", f"{url}/mid", "--json")
        back = invoke("copy", f"{url}/mid", f"fs:{tmp_path / 'back'}", "--json")
    assert (there.exit_code, back.exit_code) == (0, 0), there.output + back.output
    sink = FsSink(tmp_path / "back")
    try:
        assert sink.find_user("alice")["_id"] == "u1"
        assert sink.get_push("p1") == make_push("p1")
    finally:
        sink.close()


# --- sessions ---------------------------------------------------------------------------------

def test_live_sessions_are_copied_only_when_asked_and_expired_ones_are_reported(
        tmp_path: Path) -> None:
    src = FsSink(tmp_path / "src")
    src.session_store.set("live", {"cookie": {"maxAge": 3_600_000}, "user": "alice"})
    src.session_store.set("dead", {"cookie": {"expires": "2001-01-01T00:00:00.000Z"}})
    src.close()
    _, without = copy_json(f"fs:{tmp_path / 'src'}", f"fs:{tmp_path / 'a'}")
    code, with_flag = copy_json(f"fs:{tmp_path / 'src'}", f"fs:{tmp_path / 'b'}", "--sessions")
    assert kinds(without)["sessions"]["written"] == 0 and without["notes"]
    sessions = kinds(with_flag)["sessions"]
    assert (sessions["written"], sessions["verified"]) == (1, 1)
    assert [r["id"] for r in sessions["refused"]] == ["dead"] and code == 1
    dest = FsSink(tmp_path / "b")
    try:
        assert dest.session_store.get("live")["user"] == "alice"
    finally:
        dest.close()


# --- killed midway ----------------------------------------------------------------------------

def test_a_copy_killed_midway_is_finished_by_a_rerun_without_duplicates(
        tmp_path: Path, postgres_database: str) -> None:
    total = 20_000
    seed_fs(tmp_path / "src", total)
    dest = pg_url(postgres_database)
    args = [sys.executable, "-m", "sinkkit.cli.main", "copy", f"fs:{tmp_path / 'src'}", dest,
            "--batch-size", "250", "--json"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    landed = 0
    try:
        deadline = time.monotonic() + 240  # a bound on the wait, not a timing assertion
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                landed = pg_count(postgres_database, "pushes")
            except Exception:
                landed = 0
            if landed > 0:
                break
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, "the copy finished before it could be killed"
    stopped_at = pg_count(postgres_database, "pushes")
    assert 0 < stopped_at < total

    code, report = copy_json(f"fs:{tmp_path / 'src'}", dest, "--batch-size", "250")
    pushes = kinds(report)["pushes"]
    assert (code, report["verified"]) == (0, True)
    assert pushes["unchanged"] >= stopped_at and pushes["written"] + pushes["unchanged"] == total
    assert pushes["verified"] == total
    assert pg_count(postgres_database, "pushes") == total
    assert json.dumps(report).count('"mismatched": []') == 5


# --- the verification pass has teeth --------------------------------------------------------

def _snapshot_of(directory: Path) -> tuple[Any, Any]:
    from sinkkit.cli.copy import CopyReport, read_source
    from sinkkit.cli.raw import read_fs
    from sinkkit.cli.sources import fs_view
    from sinkkit.cli.targets import parse_target

    raw = read_fs(parse_target(f"fs:{directory}"))
    report = CopyReport("src", "dest", dry_run=False)
    snap = read_source(fs_view(raw), raw, report, False, lambda *a: None)
    return snap, report


def test_verification_reports_a_push_that_differs_in_postgres(tmp_path: Path,
                                                              postgres_database: str) -> None:
    from psycopg import connect
    from sinkkit.adapters.postgres import bulk
    from sinkkit.cli.copy import verify

    seed_fs(tmp_path / "src", pushes=5)
    copy_json(f"fs:{tmp_path / 'src'}", pg_url(postgres_database))
    snap, report = _snapshot_of(tmp_path / "src")
    victim = snap.pushes[2]["id"]
    with connect(postgres_database, autocommit=True) as conn:
        conn.execute("UPDATE pushes SET doc = doc || '{\"branch\": \"refs/heads/evil\"}'"
                     " WHERE id = %s", (victim,))
    dest = open_pg(postgres_database)
    try:
        verify(dest, None, snap, report, keeps_dates=True, bulk=bulk)
    finally:
        dest.close()
    mismatched = report.kinds["pushes"].mismatched
    assert [i for i, _ in mismatched] == [victim, victim]  # the whole-document pass and get_push
    assert "refs/heads/evil" in mismatched[0][1]
    assert report.kinds["pushes"].verified == 4 and not report.ok


def test_verification_reports_a_push_missing_from_an_fs_destination(tmp_path: Path) -> None:
    from sinkkit.cli.copy import verify

    seed_fs(tmp_path / "src", pushes=3)
    copy_json(f"fs:{tmp_path / 'src'}", f"fs:{tmp_path / 'dest'}")
    snap, report = _snapshot_of(tmp_path / "src")
    dest = FsSink(tmp_path / "dest")
    try:
        dest.delete_push(snap.pushes[0]["id"])
        verify(dest, None, snap, report, keeps_dates=False)
    finally:
        dest.close()
    assert (snap.pushes[0]["id"], "missing from the destination") in report.kinds[
        "pushes"].mismatched


def test_the_fs_view_loads_a_push_as_the_fs_adapter_codec_does(tmp_path: Path) -> None:
    from sinkkit.adapters.fs import CODECS
    from sinkkit.cli.raw import read_fs
    from sinkkit.cli.sources import push_from_disk
    from sinkkit.cli.targets import parse_target

    write_store(tmp_path / "db", pushes=[{**make_push("p1", attestation={"at": "x"}),
                                          "_id": "nedb-id", "when": {"$$date": 1_700_000_000_000}}])
    disk = read_fs(parse_target(f"fs:{tmp_path / 'db'}")).disk["pushes"]
    assert [push_from_disk(d) for d in disk] == [CODECS["pushes"].from_disk(d) for d in disk]
    assert disk[0]["when"] == "2023-11-14T22:13:20.000Z"
