"""When the fs adapter's writes reach the disk: its durability modes and its group commit.

``fsync`` (the default): a call that changed something returns only once an fsync has covered
its lines. The fsync runs after the sink's lock is released, so while one thread waits on the
disk others carry on, and one fsync acknowledges every line written before it began: with
several writers, one fsync may acknowledge many writes (group commit). A call that only read
also waits when it saw a change not yet on disk, so nothing it returns can be lost by a crash
after it returned. ``os``: lines are written to the file (the page cache) and left to the OS to
flush, as NeDB does; a crash of the machine (not of the process) may lose the last writes.
"""

from __future__ import annotations

import threading
from typing import Any, Protocol

from sinkkit.conformance.errors import ConfigError, Unavailable

#: the values of the fs sink's ``options.durability``, the default first
DURABILITY_MODES = ("fsync", "os")


def check_durability(value: Any) -> str:
    """``options.durability`` as given, or ConfigError naming the option and what it accepts."""
    if value is None:
        return DURABILITY_MODES[0]
    if not isinstance(value, str) or value not in DURABILITY_MODES:
        raise ConfigError(f"fs sink options.durability must be one of "
                          f"{', '.join(map(repr, DURABILITY_MODES))} (got {value!r})")
    return value


class Syncable(Protocol):
    path: Any

    def sync(self) -> None: ...


class FsyncFailed(Unavailable):
    """An fsync failed: which of the lines written since the last one reached the disk is
    unknown (the kernel may have dropped them), so the sink stops taking calls."""

    code = "fsync_failed"


class GroupCommit:
    """Counts lines written and lines known durable; ``wait`` makes one thread the leader that
    fsyncs every file written since the last fsync, while the others wait for its result."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        #: appends so far, and how many of them an fsync has covered
        self.written = 0
        self.synced = 0
        self._dirty: dict[Syncable, None] = {}
        self._syncing = False
        self.failure: str | None = None
        #: fsyncs run, for the benchmark (writes / fsyncs is the group size)
        self.fsyncs = 0

    def wrote(self, datafile: Syncable) -> None:
        """Record an append to ``datafile`` (call it after the bytes are written)."""
        with self._cond:
            self.written += 1
            self._dirty[datafile] = None

    def check(self) -> None:
        if self.failure is not None:
            raise FsyncFailed(self.failure)

    def wait(self, target: int) -> None:
        """Return once the first ``target`` appends are durable; FsyncFailed if they can't be."""
        if self.synced >= target and self.failure is None:
            return
        with self._cond:
            while True:
                self.check()
                if self.synced >= target:
                    return
                if self._syncing:
                    self._cond.wait()
                    continue
                self._lead()

    def _lead(self) -> None:
        """fsync every dirty file (called holding the condition; released meanwhile)."""
        self._syncing = True
        upto, files = self.written, list(self._dirty)
        self._dirty.clear()
        self._cond.release()
        failure = None
        try:
            for datafile in files:
                datafile.sync()
        except OSError as exc:
            failure = (f"fsync of {datafile.path} failed ({exc.strerror or exc}): the last "
                       "writes may not be on disk; the sink refuses further calls, reopen it "
                       "to read what the files hold")
        finally:
            self._cond.acquire()
            self._syncing = False
            self.fsyncs += 1
            if failure is not None:
                self.failure = failure
            else:
                self.synced = max(self.synced, upto)
            self._cond.notify_all()

    def flush(self) -> None:
        self.wait(self.written)


class CommitLock:
    """The sink's reentrant lock; releasing it for the last time waits for the group commit.

    The wait comes after the release, so other callers run (and write) during the fsync. A
    release that leaves the lock still held by this thread (a nested call) does not wait: the
    outermost one will, for everything the call wrote.
    """

    def __init__(self, commit: GroupCommit):
        self._lock = threading.RLock()
        self._commit = commit
        # RLock's own ownership test (what threading.Condition uses), so that no per-thread
        # depth has to be kept in Python on the path every read takes
        self._still_held = self._lock._is_owned  # type: ignore[attr-defined]
        self.acquire = self._lock.acquire

    def __enter__(self) -> CommitLock:
        self._lock.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        commit = self._commit
        target = commit.written  # every change this call saw or made
        self._lock.release()
        if (target > commit.synced or commit.failure is not None) and not self._still_held():
            commit.wait(target)

    def release(self) -> None:
        self.__exit__()
