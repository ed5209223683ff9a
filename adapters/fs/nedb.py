"""NeDB datafiles, read and written the way @seald-io/nedb (git-proxy's fs sink) does.

A datafile is an append-only log with one JSON document per line. A later line with the same
``_id`` supersedes an earlier one; ``{"$$deleted": true, "_id": ...}`` is a tombstone; dates are
``{"$$date": <ms since the epoch>}``; ``{"$$indexCreated": {...}}`` / ``{"$$indexRemoved": name}``
lines declare indexes and carry no ``_id``. Rules follow NeDB's ``lib/model.js`` (serialize,
deserialize) and ``lib/persistence.js`` (treatRawStream, corruptAlertThreshold) and
``lib/storage.js`` (crash-safe rewrite through ``<file>~``).

Where this module is stricter than NeDB, it is so that nothing acknowledged is ever lost:
every append is fsync'd before it returns, a torn final line (a write cut short by a crash) is
cut off with a warning instead of being glued onto the next write, and compaction fsyncs the new
file and its directory.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import string
import threading
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from sinkkit.conformance.errors import SinkError

Document = dict[str, Any]

#: NeDB refuses to load a datafile when more than this share of its lines is corrupt
CORRUPT_ALERT_THRESHOLD = 0.1

_ID_ALPHABET = string.ascii_letters + string.digits
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MS = timedelta(milliseconds=1)
# JSON.stringify leaves these raw, but NeDB's line reader (lib/byline.js) also splits lines on
# them, so a raw one would cut a document in two for Node; escaped they are plain JSON.
_LINE_BREAKERS = {"\u0085": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"}


class CorruptDatafile(SinkError):
    """Too much of a datafile is unreadable to trust it; NeDB refuses to start in the same case."""

    code = "corrupt_datafile"

    def __init__(self, path: Path | str, corrupt: int, total: int, threshold: float):
        self.path = str(path)
        self.corrupt = corrupt
        self.total = total
        super().__init__(
            f"{self.path}: {corrupt} of {total} lines are corrupt, more than "
            f"{threshold:.0%}; refusing to load it so that no data is lost (repair or restore "
            "the file by hand)"
        )


class DatafileWarning(RuntimeWarning):
    """Something in a datafile was skipped or repaired while loading."""


def new_id() -> str:
    """An ``_id`` as NeDB makes them: 16 random alphanumeric characters."""
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(16))


# --- values --------------------------------------------------------------------------------------

def ms_from_datetime(value: datetime) -> int:
    """Milliseconds since the epoch; a naive datetime is taken as UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return (value - _EPOCH) // _MS


def datetime_from_ms(ms: Any) -> datetime:
    """What ``new Date(ms)`` gives, as a timezone-aware UTC datetime (sub-ms parts truncated)."""
    if isinstance(ms, bool) or not isinstance(ms, (int, float)):
        raise ValueError(f"$$date must be a number of milliseconds, got {ms!r}")
    return _EPOCH + timedelta(milliseconds=int(ms))


def encode(value: Any) -> Any:
    """JSON-ready form of a document: datetimes become ``{"$$date": ms}``."""
    if isinstance(value, datetime):
        return {"$$date": ms_from_datetime(value)}
    if isinstance(value, Mapping):
        return {k: encode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [encode(v) for v in value]
    return value


def decode(value: Any) -> Any:
    """Inverse of ``encode``: like NeDB's reviver, any object holding ``$$date`` is that date."""
    if isinstance(value, dict):
        if "$$date" in value:
            return datetime_from_ms(value["$$date"])
        return {k: decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode(v) for v in value]
    return value


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # JSON.parse refuses NaN and Infinity too


def serialize(doc: Mapping[str, Any]) -> str:
    """One datafile line (without the newline), as NeDB's ``model.serialize`` writes it."""
    text = json.dumps(encode(doc), ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    for raw, escaped in _LINE_BREAKERS.items():
        if raw in text:
            text = text.replace(raw, escaped)
    return text


def deserialize(line: str) -> Any:
    """NeDB's ``model.deserialize``; raises ValueError for a line NeDB would count as corrupt."""
    return decode(json.loads(line, parse_constant=_reject_constant))


def tombstone(_id: str) -> Document:
    return {"$$deleted": True, "_id": _id}


# --- the file ------------------------------------------------------------------------------------

@dataclass
class Loaded:
    """What a datafile holds: live documents by ``_id`` in NeDB's order, and its index lines."""

    docs: dict[Any, Document] = field(default_factory=dict)
    indexes: dict[str, Document] = field(default_factory=dict)
    #: complete, non-empty lines read (what NeDB calls dataLength)
    lines: int = 0
    #: 1-based numbers of the lines that could not be read
    corrupt_lines: list[int] = field(default_factory=list)
    #: bytes of an unterminated, unreadable last line that were cut off
    torn_bytes: int = 0

    @property
    def superseded(self) -> int:
        """Lines compaction would drop: overwritten versions, tombstones, corrupt lines."""
        return max(0, self.lines - len(self.docs) - len(self.indexes))


class Datafile:
    """One NeDB datafile: load it, append documents durably, compact it crash-safely.

    Thread-safe. ``load`` must come first: it also repairs what a crash can leave behind.
    """

    def __init__(self, path: Path | str, corrupt_alert_threshold: float = CORRUPT_ALERT_THRESHOLD):
        self.path = Path(path)
        self.corrupt_alert_threshold = corrupt_alert_threshold
        #: lines in the file now (grows with appends, reset by compaction)
        self.lines = 0
        self._fd: int | None = None
        self._lock = threading.Lock()

    @property
    def _backup(self) -> Path:
        return self.path.with_name(self.path.name + "~")

    # -- load ----------------------------------------------------------------------------------

    def load(self) -> Loaded:
        """Read the file (creating it if absent) and open it for appends.

        Like NeDB's ensureDatafileIntegrity, a missing file is restored from ``<file>~`` (left by
        a compaction interrupted before its rename). An unterminated last line that cannot be
        parsed is a write a crash cut short, which was never acknowledged: it is cut off with a
        DatafileWarning. More than ``corrupt_alert_threshold`` corrupt lines raise
        CorruptDatafile; fewer are skipped with a DatafileWarning.
        """
        with self._lock:
            self._close_fd()
            self._ensure_exists()
            raw = self.path.read_bytes()
            loaded = self._parse(raw)
            if loaded.torn_bytes:
                self._truncate(len(raw) - loaded.torn_bytes)
            self._fd = self._open_append()
            if raw and not loaded.torn_bytes and not raw.endswith(b"\n"):
                self._write_all(b"\n")  # a last line without newline would swallow the next
            self.lines = loaded.lines
            return loaded

    def _ensure_exists(self) -> None:
        if self.path.exists():
            return
        if self._backup.exists():
            os.replace(self._backup, self.path)
        else:
            self.path.touch(mode=0o644)
        _fsync_dir(self.path.parent)

    def _parse(self, raw: bytes) -> Loaded:
        loaded = Loaded()
        chunks = raw.split(b"\n")
        tail = chunks.pop()  # bytes after the last newline: b"" when the file ends cleanly
        for number, chunk in enumerate(chunks, start=1):
            self._read_line(loaded, number, chunk)
        if tail.strip() and not self._read_line(loaded, len(chunks) + 1, tail, torn_ok=True):
            loaded.torn_bytes = len(tail)
            warnings.warn(
                f"{self.path}: ignoring a torn last line ({len(tail)} bytes, a write cut "
                "short by a crash); it is cut off and every earlier line is intact",
                DatafileWarning, stacklevel=3)
        self._check_corruption(loaded)
        return loaded

    def _read_line(self, loaded: Loaded, number: int, chunk: bytes, torn_ok: bool = False) -> bool:
        """Apply one line to ``loaded``; False when it could not be read."""
        if not chunk.strip():
            return True
        try:
            doc = deserialize(chunk.decode("utf-8"))
            if not isinstance(doc, dict):
                raise ValueError("a line must hold a JSON object")
            _apply(loaded, doc)
        except (ValueError, TypeError, OverflowError, RecursionError):
            # TypeError: an unhashable _id (an object, a list), which no document can have
            if torn_ok:
                return False
            loaded.lines += 1
            loaded.corrupt_lines.append(number)
            return False
        loaded.lines += 1
        return True

    def _check_corruption(self, loaded: Loaded) -> None:
        bad = len(loaded.corrupt_lines)
        if not bad:
            return
        if bad / loaded.lines > self.corrupt_alert_threshold:
            raise CorruptDatafile(self.path, bad, loaded.lines, self.corrupt_alert_threshold)
        shown = ", ".join(map(str, loaded.corrupt_lines[:10]))
        warnings.warn(f"{self.path}: skipping {bad} corrupt line(s) of {loaded.lines} "
                      f"(line {shown})", DatafileWarning, stacklevel=4)

    def _truncate(self, size: int) -> None:
        with open(self.path, "r+b") as fh:
            fh.truncate(size)
            fh.flush()
            os.fsync(fh.fileno())

    # -- append --------------------------------------------------------------------------------

    def append(self, docs: Sequence[Mapping[str, Any]]) -> None:
        """Write ``docs`` as lines and fsync; on return they survive a crash.

        If the write fails half-way the file is cut back to where it was, so a partial line can
        never merge with a later one; the OSError is raised.
        """
        if not docs:
            return
        data = "".join(serialize(doc) + "\n" for doc in docs).encode("utf-8")
        with self._lock:
            if self._fd is None:
                raise ValueError(f"{self.path} is not open (call load first)")
            start = os.lseek(self._fd, 0, os.SEEK_END)
            try:
                self._write_all(data)
                os.fsync(self._fd)
            except OSError:
                with contextlib.suppress(OSError):  # the original error is the one to report
                    os.ftruncate(self._fd, start)
                raise
            self.lines += len(docs)

    def _write_all(self, data: bytes) -> None:
        assert self._fd is not None
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view):]

    # -- compact -------------------------------------------------------------------------------

    def compact(self, docs: Iterable[Mapping[str, Any]],
                indexes: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        """Rewrite the file as ``docs`` then the index lines, crash-safely (NeDB's way).

        The new content goes to ``<file>~``, is fsync'd, renamed over the file, and the directory
        is fsync'd: at every instant either the old or the new file is complete on disk.
        """
        lines = [serialize(doc) for doc in docs]
        lines += [serialize({"$$indexCreated": dict(spec)}) for spec in (indexes or {}).values()]
        data = "".join(line + "\n" for line in lines).encode("utf-8")
        with self._lock:
            with open(self._backup, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(self._backup, self.path)
            _fsync_dir(self.path.parent)
            self._close_fd()
            self._fd = self._open_append()
            self.lines = len(lines)

    # -- lifecycle -----------------------------------------------------------------------------

    def _open_append(self) -> int:
        return os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)

    def _close_fd(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def close(self) -> None:
        with self._lock:
            self._close_fd()

    def __repr__(self) -> str:
        return f"<Datafile {self.path}>"


def _apply(loaded: Loaded, doc: Document) -> None:
    """One parsed line, by NeDB's treatRawStream rules (lines matching none are ignored)."""
    _id = doc.get("_id")
    if _id:
        if doc.get("$$deleted") is True:
            loaded.docs.pop(_id, None)
        else:
            loaded.docs[_id] = doc
        return
    created = doc.get("$$indexCreated")
    if isinstance(created, dict) and created.get("fieldName") is not None:
        loaded.indexes[created["fieldName"]] = created
    elif isinstance(doc.get("$$indexRemoved"), str):
        loaded.indexes.pop(doc["$$indexRemoved"], None)


def _fsync_dir(path: Path) -> None:
    """Make a rename or a new file in ``path`` durable (a no-op where directories can't sync)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems refuse fsync on a directory; NeDB ignores that too
    finally:
        os.close(fd)
