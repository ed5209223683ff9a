"""The fs sink's ``options.durability``: what each mode fsyncs, group commit, a failed fsync.

fsync calls are counted (and slowed, for the group-commit case) by replacing ``os.fsync`` in the
datafile module; no test measures a duration.
"""

from __future__ import annotations

import errno
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import sinkkit.adapters.fs.nedb as nedb
from sinkkit.adapters.fs import FsSink, FsyncFailed, open_fs_sink
from sinkkit.conformance.errors import ConfigError, Unavailable
from sinkkit.conformance.factories import make_push


def entry(directory: Path, **options: Any) -> dict[str, Any]:
    return {"type": "fs", "params": {"filepath": str(directory)}, "options": options}


class FsyncSpy:
    """Counts fsyncs of ``pushes.db`` and records how many bytes each one covered."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, pause_s: float = 0.0):
        self.covered: list[int] = []
        self.pause_s = pause_s
        self._real = os.fsync
        self._lock = threading.Lock()
        monkeypatch.setattr(nedb.os, "fsync", self)

    def __call__(self, fd: int) -> None:
        size = os.fstat(fd).st_size
        is_pushes = os.path.basename(os.readlink(f"/proc/self/fd/{fd}")) == "pushes.db"
        if self.pause_s:
            time.sleep(self.pause_s)  # a slow disk: writers pile up behind the fsync
        self._real(fd)
        if is_pushes:
            with self._lock:
                self.covered.append(size)


@pytest.mark.parametrize("value", ["sometimes", "FSYNC", "", True, 1, ["os"]])
def test_an_unknown_durability_is_a_config_error_naming_the_option(
        tmp_path: Path, value: object) -> None:
    with pytest.raises(ConfigError, match=r"options\.durability"):
        open_fs_sink(entry(tmp_path, durability=value))


def test_durability_defaults_to_fsync(tmp_path: Path) -> None:
    sink = open_fs_sink(entry(tmp_path))
    assert sink.durability == "fsync"
    sink.close()


def test_each_acknowledged_write_was_covered_by_an_fsync(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spy = FsyncSpy(monkeypatch)
    sink = open_fs_sink(entry(tmp_path, durability="fsync"))
    for i in range(5):
        sink.write_audit(make_push(f"p{i}"))
        assert max(spy.covered) == (tmp_path / "pushes.db").stat().st_size
    sink.close()


def test_os_durability_leaves_appends_to_the_os_and_keeps_them(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spy = FsyncSpy(monkeypatch)
    sink = open_fs_sink(entry(tmp_path, durability="os"))
    for i in range(5):
        sink.write_audit(make_push(f"p{i}"))
    sink.close()
    assert spy.covered == []
    again = FsSink(tmp_path, durability="os")
    assert [p["id"] for p in again.get_pushes()] == [f"p{i}" for i in range(4, -1, -1)]
    again.close()


def test_concurrent_writers_share_fsyncs_and_each_returns_after_its_own(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spy = FsyncSpy(monkeypatch, pause_s=0.02)
    sink = FsSink(tmp_path)
    writers, per_writer = 8, 5
    late: list[str] = []
    start = threading.Barrier(writers)

    def write(w: int) -> None:
        start.wait()
        for i in range(per_writer):
            push_id = f"w{w}-{i}"
            sink.write_audit(make_push(push_id))
            data = (tmp_path / "pushes.db").read_bytes()
            end = data.index(f'"{push_id}"'.encode())
            if max(spy.covered) < end:
                late.append(push_id)  # acknowledged before an fsync covered its line

    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert late == []
    assert len(sink.get_pushes()) == writers * per_writer
    assert len(spy.covered) < writers * per_writer  # one fsync acknowledged several writes
    sink.close()


def test_a_failed_fsync_fails_the_write_and_every_later_call(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sink = FsSink(tmp_path)
    sink.write_audit(make_push("kept"))

    def broken(fd: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(nedb.os, "fsync", broken)
    with pytest.raises(FsyncFailed, match=r"pushes\.db"):
        sink.write_audit(make_push("unsure"))
    with pytest.raises(FsyncFailed):
        sink.get_push("kept")
    assert issubclass(FsyncFailed, Unavailable)
    monkeypatch.undo()
    sink.close()
    again = FsSink(tmp_path)  # reopening reads what the files hold
    assert again.get_push("kept") is not None
    again.close()
