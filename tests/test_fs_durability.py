"""What the fs adapter keeps through crashes, compaction, threads and a second opener."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import warnings
from pathlib import Path

import pytest
import sinkkit.adapters.fs as fs_adapter
from sinkkit.adapters.fs import DatafileWarning, FsSink, StoreLocked, open_fs_sink
from sinkkit.conformance.errors import Unavailable

# A writer that acknowledges each call only after it returned; the test kills it with SIGKILL.
WRITER = r"""
import sys
from sinkkit.adapters.fs import FsSink

sink = FsSink(sys.argv[1])
repo = sink.create_repo({"name": "r", "url": "https://example.com/r.git"})
print("repo", repo["_id"], flush=True)
i = 0
while True:
    sink.write_audit({"id": f"p{i}", "type": "push", "timestamp": i, "url": repo["url"],
                      "payload": "x" * (i % 7) * 300})
    sink.add_user_can_push(repo["_id"], f"user{i}")
    sink.session_store.set(f"s{i % 5}", {"n": i})
    if i and i % 3 == 0:
        sink.delete_push(f"p{i - 1}")
    if i % 10 == 9:
        sink.compact()
    print("ack", i, flush=True)
    i += 1
"""

HOLDER = r"""
import sys
from sinkkit.adapters.fs import FsSink

sink = FsSink(sys.argv[1])
print("ready", flush=True)
sys.stdin.readline()
sink.close()
print("closed", flush=True)
"""


def spawn(code: str, directory: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", code, str(directory)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_a_torn_last_line_costs_nothing_acknowledged(tmp_path: Path) -> None:
    sink = FsSink(tmp_path)
    for name in ("ann", "ben", "cat"):
        sink.create_user({"username": name, "email": f"{name}@example.com"})
    sink.close()
    with open(tmp_path / "users.db", "ab") as fh:
        fh.write(b'{"username":"dan","email":"dan@exa')  # a write the crash cut short

    with pytest.warns(DatafileWarning, match="torn last line"):
        sink = FsSink(tmp_path)
    assert [u["username"] for u in sink.get_users()] == ["ann", "ben", "cat"]
    sink.create_user({"username": "eve", "email": "eve@example.com"})
    sink.close()

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # repaired once: no warning the second time
        sink = FsSink(tmp_path)
    assert [u["username"] for u in sink.get_users()] == ["ann", "ben", "cat", "eve"]
    sink.close()


def test_every_acknowledged_write_survives_sigkill(tmp_path: Path) -> None:
    writer = spawn(WRITER, tmp_path)
    assert writer.stdout is not None
    try:
        first = writer.stdout.readline().split()
        assert first[:1] == ["repo"], writer.stderr.read() if writer.stderr else first
        repo_id = first[1]
        acked = -1
        while acked < 60:  # past several compactions, then kill it wherever it is
            line = writer.stdout.readline()
            assert line.startswith("ack"), (line, writer.stderr.read() if writer.stderr else "")
            acked = int(line.split()[1])
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=30)
        for line in writer.stdout:  # acks printed before the kill landed count too
            if line.startswith("ack"):
                acked = int(line.split()[1])
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.wait(timeout=30)
        for stream in (writer.stdin, writer.stdout, writer.stderr):
            if stream:
                stream.close()
    assert writer.returncode == -signal.SIGKILL

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DatafileWarning)  # a torn line is allowed, loss is not
        sink = FsSink(tmp_path)
    try:
        repo = sink.get_repo_by_id(repo_id)
        assert {f"user{i}" for i in range(acked + 1)} <= set(repo["users"]["canPush"])
        for i in range(acked):  # p{acked}'s delete (in call acked + 1) may or may not have run
            deleted = i % 3 == 2
            assert (sink.get_push(f"p{i}") is None) == deleted, i
        assert sink.get_push(f"p{acked}") is not None or acked % 3 == 2
        assert sink.session_store.length() == 5
    finally:
        sink.close()


def test_compaction_keeps_every_document_and_drops_superseded_lines(tmp_path: Path) -> None:
    sink = FsSink(tmp_path)
    repo = sink.create_repo({"name": "r", "url": "https://example.com/r.git"})
    for i in range(20):
        sink.add_user_can_push(repo["_id"], f"u{i}")
        sink.write_audit({"id": f"p{i % 4}", "type": "push", "timestamp": i})
    sink.delete_push("p3")
    sink.record_migration("m1")
    sink.session_store.set("s", {"cookie": {"maxAge": 60_000}})
    snapshot = (sink.get_repos(), sink.get_pushes({}), sink.get_applied_migrations(),
                sink.session_store.all())
    assert len((tmp_path / "repos.db").read_text().splitlines()) == 21
    sink.compact()
    assert len((tmp_path / "repos.db").read_text().splitlines()) == 1
    assert len((tmp_path / "pushes.db").read_text().splitlines()) == 3
    assert not list(tmp_path.glob("*.db~"))
    assert (sink.get_repos(), sink.get_pushes({}), sink.get_applied_migrations(),
            sink.session_store.all()) == snapshot
    sink.write_audit({"id": "after", "type": "push"})  # appends land in the compacted file
    sink.close()

    sink = FsSink(tmp_path)
    assert (sink.get_repos(), sink.get_applied_migrations(), sink.session_store.all()) == \
        snapshot[:1] + snapshot[2:]
    assert sink.get_push("after") == {"id": "after", "type": "push"}
    sink.close()


def test_compaction_copies_an_unchanged_documents_line_byte_for_byte(tmp_path: Path) -> None:
    # lines as another writer left them: spacing, key order and escapes the kit's own
    # serialiser would not produce; a Date; a line superseded later; a deleted document
    kept = ['{ "id" : "a", "type":"push", "note":"caf\\u00e9", "_id":"a" }',
            '{"_id":"d","id":"d","type":"push","at":{"$$date":1700000000000}}']
    lines = [kept[0], '{"id":"b","type":"push","timestamp":1,"_id":"b"}', kept[1],
             '{"id":"b","type":"push","timestamp":2,"_id":"b"}',
             '{"id":"c","type":"push","_id":"c"}', '{"$$deleted":true,"_id":"c"}']
    (tmp_path / "pushes.db").write_text("\n".join(lines) + "\n")
    sink = FsSink(tmp_path)
    sink.write_audit({"id": "b", "type": "push", "timestamp": 3})  # changed after the open
    sink.compact()
    written = (tmp_path / "pushes.db").read_text().splitlines()
    assert written == [kept[0], '{"id":"b","type":"push","timestamp":3,"_id":"b"}', kept[1]]
    assert sink.get_push("a")["note"] == "café"
    # the new file's lines are elsewhere: a second compaction serialises, and changes nothing
    sink.compact()
    assert len((tmp_path / "pushes.db").read_text().splitlines()) == 3
    sink.close()
    sink = FsSink(tmp_path)
    assert {p["id"] for p in sink.get_pushes({})} == {"a", "b", "d"}
    assert sink.get_push("b")["timestamp"] == 3
    sink.close()


def test_opening_compacts_a_log_of_mostly_superseded_lines(tmp_path: Path) -> None:
    sink = FsSink(tmp_path)
    for i in range(10):
        sink.write_audit({"id": "only", "type": "push", "timestamp": i})
    sink.close()
    assert len((tmp_path / "pushes.db").read_text().splitlines()) == 10
    sink = FsSink(tmp_path)
    assert (tmp_path / "pushes.db").read_text().splitlines() == [
        '{"id":"only","type":"push","timestamp":9,"_id":"only"}']
    assert sink.get_push("only")["timestamp"] == 9
    sink.close()


def test_compaction_while_running_keeps_every_write(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fs_adapter, "RUNTIME_COMPACTION_SLACK", 0)  # compact at every chance
    sink = FsSink(tmp_path)
    repo = sink.create_repo({"name": "r", "url": "https://example.com/r.git"})
    for i in range(30):
        sink.add_user_can_push(repo["_id"], f"u{i}")
        sink.write_audit({"id": f"p{i}", "type": "push", "timestamp": i})
        if i % 4 == 0:
            sink.delete_push(f"p{i}")
    assert len((tmp_path / "repos.db").read_text().splitlines()) <= 4
    sink.close()
    sink = FsSink(tmp_path)
    assert sink.get_repo_by_id(repo["_id"])["users"]["canPush"] == [f"u{i}" for i in range(30)]
    assert sorted(int(p["id"][1:]) for p in sink.get_pushes({})) == [
        i for i in range(30) if i % 4]
    sink.close()


def test_concurrent_permission_adds_lose_nothing(tmp_path: Path) -> None:
    sink = FsSink(tmp_path)
    repo = sink.create_repo({"name": "r", "url": "https://example.com/r.git"})
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def add(n: int) -> None:
        try:
            barrier.wait()
            for i in range(10):
                role = sink.add_user_can_push if i % 2 else sink.add_user_can_authorise
                role(repo["_id"], f"t{n}-u{i}")
        except BaseException as exc:  # reported below, with the thread's error
            errors.append(exc)

    threads = [threading.Thread(target=add, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    want_push = {f"t{n}-u{i}" for n in range(8) for i in range(1, 10, 2)}
    want_auth = {f"t{n}-u{i}" for n in range(8) for i in range(0, 10, 2)}
    users = sink.get_repo_by_id(repo["_id"])["users"]
    assert (set(users["canPush"]), set(users["canAuthorise"])) == (want_push, want_auth)
    sink.close()
    users = (reopened := FsSink(tmp_path)).get_repo_by_id(repo["_id"])["users"]
    reopened.close()
    assert (set(users["canPush"]), set(users["canAuthorise"])) == (want_push, want_auth)


def test_a_second_process_gets_a_clear_typed_error(tmp_path: Path) -> None:
    holder = spawn(HOLDER, tmp_path)
    assert holder.stdout is not None and holder.stdin is not None
    try:
        assert holder.stdout.readline().strip() == "ready"
        held = rf"already open by another FsSink \(pid {holder.pid}\)"
        with pytest.raises(StoreLocked, match=held):
            FsSink(tmp_path)
        holder.stdin.write("\n")
        holder.stdin.flush()
        assert holder.stdout.readline().strip() == "closed"
    finally:
        holder.communicate(timeout=30)
    FsSink(tmp_path).close()  # free again once the holder closed


def test_a_second_sink_in_one_process_is_refused_until_the_first_closes(tmp_path: Path) -> None:
    first = open_fs_sink({"type": "fs", "params": {"filepath": str(tmp_path / "db")}})
    with pytest.raises(StoreLocked) as err:
        open_fs_sink({"type": "fs", "options": {"path": str(tmp_path / "db")}})
    assert isinstance(err.value, Unavailable)
    first.close()
    first.close()  # closing twice is harmless
    open_fs_sink({"type": "fs", "params": {"filepath": str(tmp_path / "db")}}).close()


def test_sessions_persist_across_reopen(tmp_path: Path) -> None:
    sink = FsSink(tmp_path)
    sink.session_store.set("live", {"cookie": {"maxAge": 3_600_000}, "user": "ann"})
    sink.session_store.set("stale", {"cookie": {"expires": "2001-01-01T00:00:00.000Z"}})
    sink.close()
    sink = FsSink(tmp_path)
    assert sink.session_store.get("live") == {"cookie": {"maxAge": 3_600_000}, "user": "ann"}
    assert sink.session_store.get("stale") is None
    assert sink.session_store.prune() == 1
    sink.close()


def test_an_unwritable_directory_fails_at_open_with_a_typed_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(Unavailable, match="cannot open"):
        FsSink(blocker / "db")
    assert os.listdir(tmp_path) == ["file"]
