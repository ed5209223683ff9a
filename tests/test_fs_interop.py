"""The fs adapter against real NeDB (@seald-io/nedb, what git-proxy's fs sink uses), both ways.

Node reads a directory FsSink wrote and sees the same documents, with real Dates; FsSink opens a
directory Node wrote the way git-proxy does (random ``_id``s, superseded lines, tombstones, index
lines) and a committed fixture of one. Needs node and npm: the first test to run installs the
locked dependencies of tests/interop/nedb (under a file lock, so xdist workers do not race).
"""

from __future__ import annotations

import fcntl
import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sinkkit.fixtures
from sinkkit.adapters.fs import DatafileWarning, FsSink
from sinkkit.conformance.errors import InvalidDocument

NODE_PROJECT = Path(__file__).parent / "interop" / "nedb"
FIXTURE = Path(sinkkit.fixtures.__file__).parent / "data" / "nedb-gitproxy"
GITPROXY_PUSH_ID = "0000000000000000000000000000000000000000__1a2b3c"

NodeTool = Callable[..., Any]


@pytest.fixture(scope="session")
def nedb_tool() -> NodeTool:
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        pytest.fail("the fs interop tests need node and npm on PATH (apt-get install nodejs npm)")
    with open(NODE_PROJECT / ".install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (NODE_PROJECT / "node_modules" / "@seald-io" / "nedb" / "package.json").exists():
            done = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=NODE_PROJECT,
                                  capture_output=True, text=True, timeout=600)
            if done.returncode:
                pytest.fail(f"npm ci in {NODE_PROJECT} failed:\n{done.stderr[-3000:]}")

    def run(*args: str, stdin: str | None = None, check: bool = True) -> Any:
        done = subprocess.run([node, str(NODE_PROJECT / "nedb_tool.js"), *args], input=stdin,
                              capture_output=True, text=True, timeout=120)
        if not check:
            return done
        if done.returncode:
            pytest.fail(f"nedb_tool.js {' '.join(args)} failed:\n{done.stderr[-3000:]}")
        return json.loads(done.stdout) if done.stdout.strip() else None

    return run


def node_date(iso: str) -> dict[str, str]:
    """How nedb_tool.js prints a real Date."""
    return {"$date": iso}


def by_id(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {doc["_id"]: doc for doc in docs}


# --- FsSink writes, Node reads -------------------------------------------------------------------

def write_sample(sink: FsSink) -> dict[str, Any]:
    alice = sink.create_user({"username": "Alice", "email": "Alice@Example.com", "password": "h",
                              "gitAccount": "Alice-GH", "admin": True})
    sink.add_public_key("alice", {"key": "ssh-ed25519 AAAA alice", "fingerprint": "SHA256:a"})
    repo = sink.create_repo({"project": "finos", "name": "Git-Proxy",
                             "url": "https://github.com/finos/git-proxy.git"})
    sink.add_user_can_push(repo["_id"], "alice")
    sink.add_user_can_authorise(repo["_id"], "bob")
    push = {"id": "p-1", "type": "push", "timestamp": 1700000000123, "url": repo["url"],
            "error": False, "blocked": True, "allowPush": False, "authorised": False,
            "commitData": [{"message": "line\u2028sep\u2029para\u0085nel \"q\" ✓ \U0001f600"}],
            "userEmail": "alice@example.com"}
    sink.write_audit(push)
    sink.authorise("p-1", {"reviewer": {"username": "alice"}, "questions": [{"label": "ok"}]})
    sink.write_audit({**push, "id": "p-gone"})
    sink.delete_push("p-gone")
    sink.record_migration("0001-init")
    sink.session_store.set("sid-1", {"cookie": {"maxAge": 3_600_000}, "user": "alice"})
    return {"user": alice, "repo": repo}


def test_node_nedb_reads_what_fssink_wrote(tmp_path: Path, nedb_tool: NodeTool) -> None:
    sink = FsSink(tmp_path)
    ids = write_sample(sink)
    user = sink.find_user("alice")
    repo = sink.get_repo_by_id(ids["repo"]["_id"])
    push = sink.get_push("p-1")
    sink.close()

    node = nedb_tool("dump", str(tmp_path))

    assert node["users"] == [user]
    assert node["repos"] == [{**repo, "dateCreated": node_date(repo["dateCreated"]),
                              "lastModified": node_date(repo["lastModified"])}]
    assert node["pushes"] == [{**push, "_id": "p-1"}]
    assert node["migrations"][0]["_id"] == node["migrations"][0]["id"] == "0001-init"
    assert set(node["migrations"][0]["appliedAt"]) == {"$date"}
    [session] = node["sessions"]
    assert session["_id"] == "sid-1"
    assert session["session"] == {"cookie": {"maxAge": 3_600_000}, "user": "alice"}


def test_fssink_reopens_after_node_compacted_its_files(tmp_path: Path, nedb_tool: NodeTool) -> None:
    sink = FsSink(tmp_path)
    write_sample(sink)
    before = (sink.get_users(), sink.get_repos(), sink.get_pushes({}), sink.get_push("p-1"),
              sink.get_applied_migrations(), sink.session_store.all())
    sink.close()
    nedb_tool("dump", str(tmp_path))  # loading compacts every file, as a git-proxy start does
    sink = FsSink(tmp_path)
    after = (sink.get_users(), sink.get_repos(), sink.get_pushes({}), sink.get_push("p-1"),
             sink.get_applied_migrations(), sink.session_store.all())
    sink.close()
    assert after == before


# --- Node writes (as git-proxy does), FsSink reads -----------------------------------------------

def check_gitproxy_data(sink: FsSink) -> None:
    assert [u["username"] for u in sink.get_users()] == ["alice", "bob"]
    bob = sink.find_user("bob")
    assert bob["publicKeys"] == []  # git-proxy wrote bob without the field
    assert bob["displayName"] == "Bob B"  # the later, superseding line won
    assert bob["password"] == "hash-b"
    assert sink.find_user_by_git_account("BOB-gh")["_id"] == bob["_id"]
    assert sink.find_user("carol") is None  # tombstoned

    repos = {r["name"]: r for r in sink.get_repos()}
    assert repos["git-proxy"]["users"] == {"canPush": ["alice"], "canAuthorise": []}
    assert repos["old-repo"]["users"] == {"canPush": [], "canAuthorise": []}
    assert repos["old-repo"]["project"] == "legacy"

    push = sink.get_push(GITPROXY_PUSH_ID)
    assert "_id" not in push
    assert push["authorised"] is True
    assert push["attestation"]["timestamp"] == "2024-01-02T03:04:05.678Z"  # a Date on disk
    assert push["commitData"] == [{"message": 'héllo "quoted" ✓', "author": "alice"}]
    assert push["steps"] == [{"stepName": "parsePush", "error": False}]
    assert sink.get_push("doomed") is None
    assert [p["id"] for p in sink.get_pushes({"type": "push"})] == [GITPROXY_PUSH_ID]
    assert sink.get_applied_migrations() == ["0001-init"]


def test_fssink_opens_what_node_nedb_wrote(tmp_path: Path, nedb_tool: NodeTool) -> None:
    nedb_tool("gitproxy", str(tmp_path))
    sink = FsSink(tmp_path)
    try:
        check_gitproxy_data(sink)
    finally:
        sink.close()
    # opening compacted pushes.db (3 of its 5 lines were superseded) without retyping anything
    assert len((tmp_path / "pushes.db").read_text().splitlines()) == 2
    [push] = nedb_tool("dump", str(tmp_path))["pushes"]
    assert push["attestation"]["timestamp"] == node_date("2024-01-02T03:04:05.678Z")


def test_fssink_opens_the_committed_gitproxy_fixture(tmp_path: Path) -> None:
    shutil.copytree(FIXTURE, tmp_path / "db")
    sink = FsSink(tmp_path / "db")
    try:
        check_gitproxy_data(sink)
    finally:
        sink.close()


def test_changes_to_gitproxy_documents_keep_their_nedb_ids(tmp_path: Path,
                                                          nedb_tool: NodeTool) -> None:
    nedb_tool("gitproxy", str(tmp_path))
    sink = FsSink(tmp_path)
    sink.reject(GITPROXY_PUSH_ID, {"reviewer": {"username": "bob"}, "timestamp": 1, "reason": "no"})
    sink.record_migration("0002-next")
    sink.unrecord_migration("0001-init")
    sink.delete_user("bob")
    sink.close()

    node = nedb_tool("dump", str(tmp_path))  # NeDB's unique index on id must still build

    [push] = node["pushes"]
    assert push["id"] == GITPROXY_PUSH_ID
    assert push["_id"] != GITPROXY_PUSH_ID  # still git-proxy's random _id: no second document
    assert push["rejected"] is True and push["authorised"] is False
    assert [(m["_id"], m["id"]) for m in node["migrations"]] == [("0002-next", "0002-next")]
    assert [u["username"] for u in node["users"]] == ["alice"]


def test_permission_change_on_a_gitproxy_repo(tmp_path: Path) -> None:
    shutil.copytree(FIXTURE, tmp_path / "db")
    sink = FsSink(tmp_path / "db")
    try:
        repo = sink.get_repo("old-repo")
        sink.add_user_can_push(repo["_id"], "Bob")
        changed = sink.get_repo("old-repo")
        assert changed["users"]["canPush"] == ["bob"]
        assert "lastModified" in changed
        assert "dateCreated" not in changed  # unknown: not invented
    finally:
        sink.close()


def test_dates_node_inserts_read_as_iso_strings(tmp_path: Path, nedb_tool: NodeTool) -> None:
    repo = {"_id": "r1", "project": "p", "name": "dated", "url": "https://example.com/d.git",
            "users": {"canPush": [], "canAuthorise": []},
            "dateCreated": node_date("2023-05-06T07:08:09.010Z"),
            "lastModified": node_date("2024-05-06T07:08:09.999Z")}
    nedb_tool("insert", str(tmp_path), "repos", stdin=json.dumps([repo]))
    sink = FsSink(tmp_path)
    try:
        got = sink.get_repo_by_id("r1")
        assert got["dateCreated"] == "2023-05-06T07:08:09.010Z"
        assert got["lastModified"] == "2024-05-06T07:08:09.999Z"
        sink.update_repo("r1", {"project": "q"})
    finally:
        sink.close()
    [node_repo] = nedb_tool("dump", str(tmp_path))["repos"]
    assert node_repo["dateCreated"] == node_date("2023-05-06T07:08:09.010Z")  # still a Date
    assert node_repo["project"] == "q"


def test_dotted_field_names_are_refused_so_node_can_always_load_the_files(
        tmp_path: Path, nedb_tool: NodeTool) -> None:
    """NeDB's serialize refuses field names with a '.', and Node compacts (re-serializes) on
    load, so the contract refuses them (input.dollar-keys-refused) and nothing reaches disk."""
    sink = FsSink(tmp_path)
    with pytest.raises(InvalidDocument):
        sink.write_audit({"id": "p", "type": "push", "commitData": [{"dotted.key": 1}]})
    sink.write_audit({"id": "q", "type": "push"})
    sink.close()
    dumped = nedb_tool("dump", str(tmp_path))
    assert [p["id"] for p in dumped["pushes"]] == ["q"]


def test_a_permission_list_that_is_not_a_list_stops_the_open(tmp_path: Path) -> None:
    (tmp_path / "repos.db").write_text(
        '{"_id":"r","name":"r","url":"u","users":{"canPush":"alice"}}\n', encoding="utf-8")
    with pytest.raises(InvalidDocument, match="permission list is a str"):
        FsSink(tmp_path)
    FsSink(tmp_path / "elsewhere").close()  # the failed open released the directory lock too
    (tmp_path / "repos.db").write_text("", encoding="utf-8")
    FsSink(tmp_path).close()


def test_a_push_without_an_id_stops_the_open_naming_the_file(tmp_path: Path) -> None:
    (tmp_path / "pushes.db").write_text('{"_id":"abc","type":"push"}\n', encoding="utf-8")
    with pytest.raises(InvalidDocument, match=r"pushes\.db document 'abc'"):
        FsSink(tmp_path)


# --- odd files: what NeDB reads, FsSink reads, and no byte is lost ------------------------------

def odd_pushes(n: int) -> list[bytes]:
    return [json.dumps({"id": f"p{i}", "type": "push", "timestamp": i, "_id": f"n{i}",
                        "pad": "z" * 700}).encode() for i in range(n)]


#: datafiles an operator may find: other line endings, no final newline, a raw line separator
ODD_FILES = {
    "bare CR endings": b"\r".join(odd_pushes(4)) + b"\r",
    "bare CR, unterminated": b"\r".join(odd_pushes(4)),
    "CRLF endings": b"\r\n".join(odd_pushes(4)) + b"\r\n",
    "mixed LF, CR, VT, FF": b"\n".join(odd_pushes(2)) + b"\r" + b"\x0b".join(odd_pushes(4)[2:])
                            + b"\x0c",
    "LF, unterminated": b"\n".join(odd_pushes(4)),
    "blank lines between": b"\n\n\n".join(odd_pushes(4)) + b"\n\n",
}


@pytest.mark.parametrize("case", sorted(ODD_FILES))
def test_an_odd_datafile_reads_as_nedb_reads_it_and_keeps_every_byte(
        tmp_path: Path, nedb_tool: NodeTool, case: str) -> None:
    original = ODD_FILES[case]
    (tmp_path / "node").mkdir()
    (tmp_path / "node" / "pushes.db").write_bytes(original)
    node_ids = sorted(p["id"] for p in nedb_tool("dump", str(tmp_path / "node"))["pushes"])
    (tmp_path / "py" / "pushes.db").parent.mkdir()
    (tmp_path / "py" / "pushes.db").write_bytes(original)
    sink = FsSink(tmp_path / "py")
    try:
        py_ids = sorted(p["id"] for p in sink.get_pushes({}))
    finally:
        sink.close()
    assert py_ids == node_ids == [f"p{i}" for i in range(4)]
    assert (tmp_path / "py" / "pushes.db").read_bytes() == original  # the open wrote nothing
    assert not (tmp_path / "py" / "pushes.db.set-aside").exists()


def test_a_torn_tail_and_a_corrupt_line_lose_no_byte(tmp_path: Path, nedb_tool: NodeTool) -> None:
    lines = odd_pushes(12)
    corrupt, torn = b'{"id":"half', b'{"id":"p99","type":"push","pad":"' + b"t" * 5000
    original = b"\n".join([*lines[:6], corrupt, *lines[6:]]) + b"\n" + torn
    (tmp_path / "pushes.db").write_bytes(original)
    with pytest.warns(DatafileWarning):
        sink = FsSink(tmp_path)
    sink.close()
    after = (tmp_path / "pushes.db").read_bytes()
    aside = (tmp_path / "pushes.db.set-aside").read_bytes()
    assert aside == corrupt + b"\n" + torn + b"\n"
    # every record is in the compacted file, as the same document (compaction re-serialises)
    assert [json.loads(line) for line in after.splitlines()] == [json.loads(x) for x in lines]
    assert len(nedb_tool("dump", str(tmp_path))["pushes"]) == 12  # and NeDB opens the result


def test_dates_keep_their_type_through_changes_as_node_reads_them(
        tmp_path: Path, nedb_tool: NodeTool) -> None:
    push = {"_id": "nedbpush", "id": "p-d", "type": "push", "timestamp": 1,
            "rejection": {"reviewer": {"username": "bob"},
                          "timestamp": node_date("2024-01-02T03:04:05.678Z")}}
    repo = {"_id": "r-s", "project": "p", "name": "strdates", "url": "https://example.com/s.git",
            "users": {"canPush": [], "canAuthorise": []},
            "dateCreated": "2023-05-06T07:08:09.010Z", "lastModified": "2023-05-06T07:08:09.010Z"}
    nedb_tool("insert", str(tmp_path), "pushes", stdin=json.dumps([push]))
    nedb_tool("insert", str(tmp_path), "repos", stdin=json.dumps([repo]))
    sink = FsSink(tmp_path)
    sink.cancel("p-d")
    sink.add_user_can_push("r-s", "ann")
    sink.close()
    node = nedb_tool("dump", str(tmp_path))
    [node_push], [node_repo] = node["pushes"], node["repos"]
    assert node_push["canceled"] is True
    assert node_push["rejection"]["timestamp"] == node_date("2024-01-02T03:04:05.678Z")
    assert node_repo["users"]["canPush"] == ["ann"]
    assert node_repo["dateCreated"] == "2023-05-06T07:08:09.010Z"  # git-proxy's string, kept
    assert isinstance(node_repo["lastModified"], str)


def test_a_push_named_after_a_gitproxy_nedb_id_leaves_that_push_alone(
        tmp_path: Path, nedb_tool: NodeTool) -> None:
    nedb_tool("gitproxy", str(tmp_path))
    [theirs] = nedb_tool("dump", str(tmp_path))["pushes"]
    sink = FsSink(tmp_path)
    sink.write_audit({"id": theirs["_id"], "type": "push", "timestamp": 2})
    sink.close()
    node = nedb_tool("dump", str(tmp_path))  # NeDB's unique index on id must still build
    assert sorted(p["id"] for p in node["pushes"]) == sorted([theirs["id"], theirs["_id"]])


# --- users.create.blank-email-refused against git-proxy's unique email index (issue 16 item 11) --

def test_nedbs_unique_index_refuses_a_second_blank_email(tmp_path: Path,
                                                         nedb_tool: NodeTool) -> None:
    # why no representation can make two email-less users open in git-proxy: "" twice, a
    # missing field twice and null twice are all refused ("" once plus missing once is not)
    for label, emails in {"blank": ["", ""], "missing": [None, None]}.items():
        users = [{"username": f"u{i}", **({} if e is None else {"email": e})}
                 for i, e in enumerate(emails)]
        (tmp_path / label).mkdir()
        nedb_tool("insert", str(tmp_path / label), "users", stdin=json.dumps(users))
        done = nedb_tool("users-index", str(tmp_path / label), check=False)
        assert done.returncode == 1 and "violates the unique constraint" in done.stderr


def test_two_users_created_without_an_email_open_in_gitproxy(tmp_path: Path,
                                                            nedb_tool: NodeTool) -> None:
    sink = FsSink(tmp_path)
    for attempt in (lambda: sink.create_user({"username": "ann"}),
                    lambda: sink.create_user({"username": "ben", "email": ""}),
                    lambda: sink.update_user({"username": "cy", "admin": True})):
        with pytest.raises(InvalidDocument, match="email"):
            attempt()
    sink.create_user({"username": "dee", "email": "dee@example.com"})
    sink.close()
    done = nedb_tool("users-index", str(tmp_path), check=False)
    assert done.returncode == 0, done.stderr[-500:]
    assert [u["username"] for u in nedb_tool("dump", str(tmp_path))["users"]] == ["dee"]
