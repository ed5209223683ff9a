"""What an operator's odd files, forks, stray writers and full disks cost the fs adapter: nothing.

Each test builds the situation from outside (bytes on disk, a fork, a deleted lock file, a second
writer, a disk that fills up during compaction) and checks that every byte and every acknowledged
write is still somewhere a person can find it: in the datafile, or verbatim in its sidecar
``<file>.set-aside``, with a DatafileWarning saying so. The same cases against real NeDB are in
tests/test_fs_interop.py.
"""

from __future__ import annotations

import errno
import json
import os
import sys
import warnings
from pathlib import Path

import pytest
import sinkkit.adapters.fs.nedb as nedb
from sinkkit.adapters.fs import (
    DatafileWarning,
    ForeignWriter,
    ForkedProcess,
    FsSink,
    StoreLocked,
)
from sinkkit.adapters.fs.nedb import Datafile


def push_line(n: int, **extra: object) -> str:
    return json.dumps({"id": f"p{n}", "type": "push", "timestamp": n, "_id": f"nedb{n}", **extra})


def open_quietly(directory: Path) -> FsSink:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DatafileWarning)
        return FsSink(directory)


# --- odd bytes -----------------------------------------------------------------------------------

def test_a_long_torn_tail_is_moved_whole_to_the_sidecar(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    tail = b'{"_id":"c","pad":"' + b"y" * 100_000  # cut short by a crash, however long
    path.write_bytes(b'{"_id":"a"}\n{"_id":"b"}\n' + tail)
    datafile = Datafile(path)
    with pytest.warns(DatafileWarning, match=r"torn last line \(100018 bytes.*moved to"):
        loaded = datafile.load()
    datafile.close()
    assert loaded.docs.keys() == {"a", "b"}
    assert path.read_bytes() == b'{"_id":"a"}\n{"_id":"b"}\n'
    assert datafile.sidecar.read_bytes() == tail + b"\n"


def test_corrupt_lines_are_copied_aside_before_compaction_drops_them(tmp_path: Path) -> None:
    (tmp_path / "pushes.db").write_text(
        "\n".join([*(push_line(n) for n in range(12)), "{half a push"]) + "\n")
    with pytest.warns(DatafileWarning, match=r"1 corrupt line\(s\) of 13 \(line 13\); copied"):
        sink = FsSink(tmp_path)
    sink.close()
    assert "{half a push" not in (tmp_path / "pushes.db").read_text()  # compacted away ...
    assert (tmp_path / "pushes.db.set-aside").read_text() == "{half a push\n"  # ... kept here


def test_a_file_without_a_final_newline_opens_without_writing_a_byte(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    path.write_bytes(b'{"_id":"a"}\r{"_id":"b"}')
    datafile = Datafile(path)
    assert datafile.load().docs.keys() == {"a", "b"}
    assert path.read_bytes() == b'{"_id":"a"}\r{"_id":"b"}'  # nothing written by the open
    datafile.append([{"_id": "c"}])  # ... and the next line is not glued to the last
    datafile.close()
    assert Datafile(path).load().docs.keys() == {"a", "b", "c"}


def test_lines_joined_by_a_raw_line_separator_are_all_read(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    # NeDB's JSON.stringify writes U+2028 raw inside strings, and its reader splits there
    path.write_text('{"_id":"a","m":"x\u2028y"}\n{"_id":"b"}\u2028{"_id":"c"}\n', "utf-8")
    loaded = Datafile(path).load()
    assert loaded.docs["a"]["m"] == "x\u2028y" and loaded.docs.keys() == {"a", "b", "c"}


# --- two documents, one key ----------------------------------------------------------------------

def test_two_pushes_with_one_id_keep_the_later_and_set_the_earlier_aside(tmp_path: Path) -> None:
    first = push_line(1, note="first")
    second = json.dumps({"id": "p1", "type": "push", "timestamp": 1, "_id": "other",
                         "note": "second"})
    (tmp_path / "pushes.db").write_text(f"{first}\n{second}\n")
    with pytest.warns(DatafileWarning, match=r"1 document\(s\) share a 'id'.*'nedb1' by 'other'"):
        sink = FsSink(tmp_path)
    assert sink.get_push("p1")["note"] == "second"
    sink.close()
    [aside] = (tmp_path / "pushes.db.set-aside").read_text().splitlines()
    assert json.loads(aside) == json.loads(first)


def test_a_push_whose_id_is_another_pushs_nedb_id_replaces_nothing(tmp_path: Path) -> None:
    (tmp_path / "pushes.db").write_text(push_line(1) + "\n")  # git-proxy's push p1, _id nedb1
    sink = FsSink(tmp_path)
    sink.write_audit({"id": "nedb1", "type": "push", "timestamp": 2})
    sink.close()
    sink = open_quietly(tmp_path)
    try:
        assert sink.get_push("p1") is not None and sink.get_push("nedb1") is not None
    finally:
        sink.close()


# --- the lock ------------------------------------------------------------------------------------

def test_deleting_the_lock_file_does_not_let_a_second_opener_in(tmp_path: Path) -> None:
    sink = FsSink(tmp_path)
    try:
        (tmp_path / "sinkkit-fs.lock").unlink()
        with pytest.raises(StoreLocked):
            FsSink(tmp_path)
    finally:
        sink.close()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_is_refused_and_leaves_the_parents_lock_alone(tmp_path: Path) -> None:
    sink = FsSink(tmp_path)
    sink.write_audit({"id": "before", "type": "push", "timestamp": 1})
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child reports what it got, then leaves without running pytest's atexit
        outcome = "no error"
        try:
            sink.write_audit({"id": "child", "type": "push", "timestamp": 2})
        except ForkedProcess as exc:
            outcome = f"ForkedProcess: {exc}"
        except BaseException as exc:  # anything else is the finding to report
            outcome = f"{type(exc).__name__}: {exc}"
        sink.close()
        os.write(write, outcome.encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        outcome = pipe.read()
    os.waitpid(pid, 0)
    try:
        assert outcome.startswith("ForkedProcess") and "forked child" in outcome
        with pytest.raises(StoreLocked):  # the child's close did not unlock the parent
            FsSink(tmp_path)
        sink.write_audit({"id": "after", "type": "push", "timestamp": 3})
    finally:
        sink.close()
    reopened = FsSink(tmp_path)
    assert [p["id"] for p in reopened.get_pushes({})] == ["after", "before"]
    reopened.close()


# --- another writer ------------------------------------------------------------------------------

def test_a_write_after_another_writer_appended_is_refused_and_keeps_its_line(
        tmp_path: Path) -> None:
    sink = FsSink(tmp_path)
    try:
        with open(tmp_path / "pushes.db", "a") as other:  # git-proxy running on the same dir
            other.write(push_line(9) + "\n")
        with pytest.raises(ForeignWriter, match="another writer changed it"):
            sink.write_audit({"id": "mine", "type": "push", "timestamp": 1})
        with pytest.raises(ForeignWriter):
            sink.compact()
    finally:
        sink.close()
    assert (tmp_path / "pushes.db").read_text() == push_line(9) + "\n"


def test_compaction_does_not_rename_over_a_file_another_writer_replaced(tmp_path: Path) -> None:
    sink = FsSink(tmp_path)
    try:
        replacement = tmp_path / "other"
        replacement.write_text(push_line(7) + "\n")
        os.replace(replacement, tmp_path / "pushes.db")  # another writer's compaction
        with pytest.raises(ForeignWriter, match="replaced or removed"):
            sink.compact()
    finally:
        sink.close()
    assert (tmp_path / "pushes.db").read_text() == push_line(7) + "\n"


# --- a full disk ---------------------------------------------------------------------------------

def fail_fsync_of_temp_files(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Make every fsync of a ``<file>~`` fail with ENOSPC, after its bytes were (partly) written."""
    failed: list[str] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        target = os.readlink(f"/proc/self/fd/{fd}")
        if target.endswith("~"):
            failed.append(target)
            raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(nedb.os, "fsync", fsync)
    return failed


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/fd")
def test_opening_needs_no_space_for_compaction_and_leaves_no_temp_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lines = [push_line(n % 3, v=n) for n in range(30)]  # 27 superseded lines: open compacts
    (tmp_path / "pushes.db").write_text("\n".join(lines) + "\n")
    before = (tmp_path / "pushes.db").read_bytes()
    failed = fail_fsync_of_temp_files(monkeypatch)
    with pytest.warns(DatafileWarning, match="cannot compact .*No space left"):
        sink = FsSink(tmp_path)
    try:
        assert failed and {p["id"] for p in sink.get_pushes({})} == {"p0", "p1", "p2"}
        assert not (tmp_path / "pushes.db~").exists()
        assert (tmp_path / "pushes.db").read_bytes() == before
    finally:
        sink.close()


def test_a_compactions_leftover_temp_file_is_removed_at_open(tmp_path: Path) -> None:
    (tmp_path / "pushes.db").write_text(push_line(1) + "\n")
    (tmp_path / "pushes.db~").write_text(push_line(1)[:20])  # cut short by ENOSPC or a crash
    sink = FsSink(tmp_path)
    sink.close()
    assert not (tmp_path / "pushes.db~").exists()


# --- dates ---------------------------------------------------------------------------------------

def test_a_date_stays_a_date_when_its_push_changes(tmp_path: Path) -> None:
    rejection = {"reviewer": {"username": "bob"}, "timestamp": {"$$date": 1700000000123}}
    (tmp_path / "pushes.db").write_text(push_line(1, rejection=rejection) + "\n")
    sink = FsSink(tmp_path)
    assert sink.get_push("p1")["rejection"]["timestamp"] == "2023-11-14T22:13:20.123Z"
    sink.cancel("p1")
    sink.close()
    last = json.loads((tmp_path / "pushes.db").read_text().splitlines()[-1])
    assert last["canceled"] is True and last["rejection"]["timestamp"] == {"$$date": 1700000000123}


def test_an_iso_string_date_stays_a_string_when_its_repo_changes(tmp_path: Path) -> None:
    repo = {"_id": "r1", "project": "p", "name": "n", "url": "https://example.com/n.git",
            "users": {"canPush": [], "canAuthorise": []},
            "dateCreated": "2023-01-02T03:04:05.006Z", "lastModified": "2023-01-02T03:04:05.006Z"}
    (tmp_path / "repos.db").write_text(json.dumps(repo) + "\n")
    sink = FsSink(tmp_path)
    sink.add_user_can_push("r1", "ann")
    sink.close()
    last = json.loads((tmp_path / "repos.db").read_text().splitlines()[-1])
    assert last["users"]["canPush"] == ["ann"]
    assert last["dateCreated"] == "2023-01-02T03:04:05.006Z"
    assert isinstance(last["lastModified"], str)


def test_a_new_repo_still_gets_real_dates(tmp_path: Path) -> None:
    sink = FsSink(tmp_path)
    sink.create_repo({"project": "p", "name": "n", "url": "https://example.com/n.git"})
    sink.close()
    [line] = (tmp_path / "repos.db").read_text().splitlines()
    assert set(json.loads(line)["dateCreated"]) == {"$$date"}


def test_users_are_held_once_unless_loading_normalised_them_and_compact_verbatim(
        tmp_path: Path) -> None:
    complete = json.dumps({"username": "a", "email": "a@x", "gitAccount": "a", "publicKeys": [],
                           "_id": "ua"}, separators=(",", ":"))
    needs_keys = json.dumps({"username": "b", "email": "b@x", "_id": "ub"}, separators=(",", ":"))
    (tmp_path / "users.db").write_text(f"{complete}\n{needs_keys}\n")
    sink = FsSink(tmp_path)
    assert set(sink._users._as_read) == {"ub"}  # only b was changed by loading (publicKeys)
    sink.compact()
    sink.close()
    assert (tmp_path / "users.db").read_text() == f"{complete}\n{needs_keys}\n"
