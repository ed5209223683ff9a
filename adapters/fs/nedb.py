"""NeDB datafiles, read and written the way @seald-io/nedb (git-proxy's fs sink) does.

A datafile is an append-only log with one JSON document per line. A later line with the same
``_id`` supersedes an earlier one; ``{"$$deleted": true, "_id": ...}`` is a tombstone; dates are
``{"$$date": <ms since the epoch>}``; ``{"$$indexCreated": {...}}`` / ``{"$$indexRemoved": name}``
lines declare indexes and carry no ``_id``. Rules follow NeDB's ``lib/model.js`` (serialize,
deserialize) and ``lib/persistence.js`` (treatRawStream, corruptAlertThreshold) and
``lib/storage.js`` (crash-safe rewrite through ``<file>~``).

Lines are split where NeDB's line reader (``lib/byline.js``) splits them: LF, CRLF, bare CR, VT
and FF (none of which valid JSON holds raw), so a file with Windows or old-Mac line endings reads
the same here as in Node. byline.js also splits on U+0085, U+2028 and U+2029, which valid JSON
may hold raw inside a string (Node's own ``JSON.stringify`` writes them raw, and NeDB then cannot
read its own file back); here a line is split on those only when it does not parse whole, so
this module reads every document NeDB reads, and the ones NeDB loses to that split as well.

Where this module is stricter than NeDB, it is so that nothing acknowledged is ever lost, and no
byte of a file is destroyed: every append is fsync'd before it returns; a torn final line (a
write cut short by a crash, never more than one line) and any corrupt line are copied verbatim
into the sidecar ``<file>.set-aside`` and reported before compaction may drop them; compaction
fsyncs the new file and its directory, removes its temporary file when it fails, and refuses to
run when another writer has changed the file since this process last wrote it.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import secrets
import string
import sys
import threading
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from sinkkit.conformance.errors import SinkError, Unavailable

Document = dict[str, Any]

#: NeDB refuses to load a datafile when more than this share of its lines is corrupt
CORRUPT_ALERT_THRESHOLD = 0.1

_ID_ALPHABET = string.ascii_letters + string.digits
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MS = timedelta(milliseconds=1)
# JSON.stringify leaves these raw, but NeDB's line reader (lib/byline.js) also splits lines on
# them, so a raw one would cut a document in two for Node; escaped they are plain JSON.
_LINE_BREAKERS = {"\u0085": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"}
#: where byline.js ends a line (``/\r\n|[\n\v\f\r\x85\u2028\u2029]/``) that valid JSON never holds
_LINE_END = re.compile(rb"\r\n|[\n\x0b\x0c\r]")
_BREAKS = (b"\n", b"\r", b"\x0b", b"\x0c")
#: the rest of byline.js's line ends, as UTF-8 (in valid UTF-8 these bytes are only those
#: characters, so splitting bytes on them is safe)
_UNICODE_LINE_END = re.compile(rb"\xc2\x85|\xe2\x80[\xa8\xa9]")
#: line ends other than LF: a block without any is split with ``bytes.split`` (the fast path)
_RARE_BREAKS = (b"\r", b"\x0b", b"\x0c")
#: how much of a datafile is read at a time while loading: the file is never held whole
READ_BLOCK = 1 << 22
#: lines compaction writes at a time
_COMPACT_BATCH = 2048


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


class ForeignWriter(Unavailable):
    """The datafile changed under this process: another writer appended to it or replaced it.

    Appending or compacting then would interleave lines or rename the file under that writer,
    losing its writes; the call is refused instead and the file left as it is.
    """

    code = "foreign_writer"


class ForkedProcess(Unavailable):
    """A datafile (or a sink) opened in one process was used in a child forked from it.

    Parent and child would share one file offset and one lock, each believing it is the only
    writer; the child must open its own sink instead (after the parent closed its own).
    """

    code = "forked_process"

    def __init__(self, what: str, opened_in: int):
        super().__init__(
            f"{what} was opened in process {opened_in} and cannot be used in its forked child "
            f"{os.getpid()}: open a new sink in the child (the fs adapter is single-process, so "
            "the parent must close its sink first), or open it only after forking")


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


def _encode_default(value: Any) -> Any:
    """What ``json.dumps`` calls for a value it cannot write itself: the ``encode`` rules."""
    if isinstance(value, datetime):
        return {"$$date": ms_from_datetime(value)}
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


#: one encoder for every line: json.dumps with these options builds a new one per call
_ENCODER = json.JSONEncoder(default=_encode_default, ensure_ascii=False, separators=(",", ":"),
                            allow_nan=False)


def serialize(doc: Mapping[str, Any]) -> str:
    """One datafile line (without the newline), as NeDB's ``model.serialize`` writes it.

    Dates go through the encoder's ``default`` hook, the same output as ``encode`` without
    first copying the whole document.
    """
    return _escape_line_breakers(_ENCODER.encode(doc if isinstance(doc, dict) else dict(doc)))


def serialize_string(text: str) -> str:
    """A string as ``serialize`` writes it inside a line (quoted, escaped)."""
    return _escape_line_breakers(_ENCODER.encode(text))


def _escape_line_breakers(text: str) -> str:
    for raw, escaped in _LINE_BREAKERS.items():
        if raw in text:
            text = text.replace(raw, escaped)
    return text


def deserialize(line: str) -> Any:
    """NeDB's ``model.deserialize``; raises ValueError for a line NeDB would count as corrupt."""
    return decode(json.loads(line, parse_constant=_reject_constant))


class _LineReader:
    """Parses lines in one pass: dates revived by an object hook (NeDB's reviver rule), every
    key interned so that a hundred thousand documents share one copy of each field name.

    ``dated`` tells whether the last line parsed held a date (so only those documents need the
    walks that keep a date's type through a rewrite).
    """

    def __init__(self) -> None:
        self.dated = False
        self._decoder = json.JSONDecoder(object_pairs_hook=self._object,
                                         parse_constant=_reject_constant)

    def _object(self, pairs: list[tuple[str, Any]]) -> Any:
        obj = {_intern(k): v for k, v in pairs}
        if "$$date" in obj:
            self.dated = True
            return datetime_from_ms(obj["$$date"])
        return obj

    def parse(self, chunk: bytes) -> Document:
        self.dated = False
        doc = self._decoder.decode(chunk.decode("utf-8"))
        if not isinstance(doc, dict):
            raise ValueError("a line must hold a JSON object")
        hash(doc.get("_id"))  # an unhashable _id (an object, a list) makes the line corrupt
        return doc


_intern: Callable[[str], str] = sys.intern


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
    #: bytes of an unterminated, unreadable last line, moved from the file into the sidecar
    torn_bytes: int = 0
    #: the sidecar now holds a copy of every corrupt line, so compaction may drop them
    set_aside: bool = True
    #: ``_id``s of live documents whose line held a date (the others hold only JSON values)
    dated: set[Any] = field(default_factory=set)
    #: the corrupt lines themselves, byte for byte, for the sidecar
    corrupt_chunks: list[bytes] = field(default_factory=list)
    #: where each live document's line lies in the file (``pack_span``), where the reader knew
    #: it: compaction copies an unchanged document's line instead of serialising it again.
    #: Not part of what was read (how a block split decides whether a start is known)
    spans: dict[Any, int] = field(default_factory=dict, compare=False)

    @property
    def superseded(self) -> int:
        """Lines compaction would drop: overwritten versions, tombstones, corrupt lines."""
        return max(0, self.lines - len(self.docs) - len(self.indexes))


class Datafile:
    """One NeDB datafile: load it, append documents durably, compact it crash-safely.

    Thread-safe. ``load`` must come first: it also repairs what a crash can leave behind. The
    instance belongs to the process that loaded it: a forked child gets ForkedProcess.
    """

    def __init__(self, path: Path | str, corrupt_alert_threshold: float = CORRUPT_ALERT_THRESHOLD):
        self.path = Path(path)
        self.corrupt_alert_threshold = corrupt_alert_threshold
        #: lines in the file now (grows with appends, reset by compaction)
        self.lines = 0
        self._fd: int | None = None
        self._lock = threading.Lock()
        self._pid = os.getpid()
        #: the file's size as this process last left it; anything else means another writer
        self._size = 0
        #: the loaded file ended without a line break: the next append starts with one, so
        #: that opening needs no free space and the last line is never glued to the next
        self._needs_break = False

    @property
    def _backup(self) -> Path:
        return self.path.with_name(self.path.name + "~")

    @property
    def sidecar(self) -> Path:
        """Where lines this module could not read are kept, byte for byte, one per line."""
        return self.path.with_name(self.path.name + ".set-aside")

    # -- load ----------------------------------------------------------------------------------

    def load(self) -> Loaded:
        """Read the file (creating it if absent) and open it for appends.

        Like NeDB's ensureDatafileIntegrity, a missing file is restored from ``<file>~`` (left by
        a compaction interrupted before its rename); a ``<file>~`` next to a complete file is
        that compaction's leftover and is removed, freeing its space. An unterminated last line
        that cannot be parsed is a write a crash cut short, which was never acknowledged: it is
        moved into the sidecar with a DatafileWarning. Corrupt lines are copied there too. More
        than ``corrupt_alert_threshold`` corrupt lines raise CorruptDatafile, touching nothing;
        fewer are skipped with a DatafileWarning. Loading writes nothing to the datafile itself,
        so it needs no free space (the sidecar needs room for what it keeps, when there is any).
        """
        with self._lock:
            self._close_fd()
            self._pid = os.getpid()
            self._ensure_exists()
            with open(self.path, "rb") as fh:
                loaded, tail_start, tail = self._parse(fh)
            if loaded.corrupt_lines or loaded.torn_bytes:
                loaded.set_aside = self._set_aside(loaded, tail)
            if loaded.torn_bytes:
                self._truncate(tail_start)
                tail = b""
            self._fd = self._open_append()
            self._size = os.fstat(self._fd).st_size
            # the file ends without a line break when it ends in a kept unterminated line
            self._needs_break = bool(tail)
            self.lines = loaded.lines
            return loaded

    def _ensure_exists(self) -> None:
        if self.path.exists():
            if self._backup.exists():  # a compaction that never reached its rename
                self._backup.unlink()
            return
        if self._backup.exists():
            os.replace(self._backup, self.path)
        else:
            self.path.touch(mode=0o644)
        _fsync_dir(self.path.parent)

    def _parse(self, fh: Any) -> tuple[Loaded, int, bytes]:
        """Read every line, a block at a time; returns what was read, where the last
        (unterminated) line starts, and that line's bytes (empty when the file ends in a break)."""
        loaded = Loaded()
        reader = _LineReader()
        number = 0
        tail_start, tail = 0, b""
        for start, chunk, terminated in _read_lines(fh):
            if not terminated:
                tail_start, tail = start, chunk
                break
            number += 1
            self._read_line(loaded, reader, number, chunk, start)
        if tail and not self._read_line(loaded, reader, number + 1, tail, tail_start,
                                        torn_ok=True):
            loaded.torn_bytes = len(tail)
        self._check_corruption(loaded)
        return loaded, tail_start, tail

    def _read_line(self, loaded: Loaded, reader: _LineReader, number: int, chunk: bytes,
                   start: int = -1, torn_ok: bool = False) -> bool:
        """Apply one line, found at byte ``start`` (-1: not known), to ``loaded``; False when
        it could not be read."""
        if not chunk:
            return True  # byline.js drops empty lines; any other line counts, as in NeDB
        try:
            span = pack_span(start, len(chunk)) if start >= 0 else None
            try:
                docs = [(reader.parse(chunk), reader.dated)]
            except (ValueError, TypeError, OverflowError, RecursionError):
                if not _UNICODE_LINE_END.search(chunk):
                    raise
                # lines NeDB wrote apart, joined by a raw U+2028 where byline.js splits
                docs = [(reader.parse(part), reader.dated)
                        for part in _UNICODE_LINE_END.split(chunk) if part]
                span = None  # one line holding several documents: none of them is the line
            for doc, dated in docs:
                _apply(loaded, doc, dated, span)
        except (ValueError, TypeError, OverflowError, RecursionError):
            # TypeError: an unhashable _id (an object, a list), which no document can have
            if torn_ok:
                return False
            loaded.lines += 1
            loaded.corrupt_lines.append(number)
            loaded.corrupt_chunks.append(chunk)
            return False
        loaded.lines += 1
        return True

    def _check_corruption(self, loaded: Loaded) -> None:
        bad = len(loaded.corrupt_lines)
        if bad and bad / loaded.lines > self.corrupt_alert_threshold:
            raise CorruptDatafile(self.path, bad, loaded.lines, self.corrupt_alert_threshold)

    def _set_aside(self, loaded: Loaded, tail: bytes) -> bool:
        """Copy the corrupt lines and the torn tail, verbatim, to the sidecar and warn.

        False when the sidecar cannot be written: the corrupt lines then stay in the file (both
        readers skip them) and compaction must keep them; a torn tail cannot stay (the next
        append would be glued onto it), so that case raises the OSError and the open fails.
        """
        wanted = loaded.corrupt_lines
        kept = list(loaded.corrupt_chunks)
        if loaded.torn_bytes:
            kept.append(tail)
        try:
            append_lines(self.sidecar, kept)
        except OSError as exc:
            if loaded.torn_bytes:
                raise
            warnings.warn(f"{self.path}: cannot copy {len(kept)} corrupt line(s) to "
                          f"{self.sidecar} ({exc.strerror or exc}); they stay in the file",
                          DatafileWarning, stacklevel=4)
            return False
        if wanted:
            shown = ", ".join(map(str, loaded.corrupt_lines[:10]))
            warnings.warn(f"{self.path}: skipping {len(wanted)} corrupt line(s) of "
                          f"{loaded.lines} (line {shown}); copied verbatim to {self.sidecar}",
                          DatafileWarning, stacklevel=4)
        if loaded.torn_bytes:
            warnings.warn(
                f"{self.path}: a torn last line ({loaded.torn_bytes} bytes, a write cut short by "
                f"a crash) was moved to {self.sidecar}; every earlier line is intact",
                DatafileWarning, stacklevel=4)
        return True

    def _truncate(self, size: int) -> None:
        with open(self.path, "r+b") as fh:
            fh.truncate(size)
            fh.flush()
            os.fsync(fh.fileno())

    # -- append --------------------------------------------------------------------------------

    def append(self, docs: Sequence[Mapping[str, Any]], fsync: bool = True) -> None:
        """Write ``docs`` as lines and fsync; on return they survive a crash.

        If the write fails half-way the file is cut back to where it was, so a partial line can
        never merge with a later one; the OSError is raised. ForeignWriter when the file is not
        as this process left it. ``fsync=False`` leaves the bytes to the OS (or to a later
        ``sync``, which a group commit calls once for many appends).
        """
        if not docs:
            return
        data = "".join(serialize(doc) + "\n" for doc in docs).encode("utf-8")
        with self._lock:
            self._check_owner()
            assert self._fd is not None
            if self._needs_break:
                data = b"\n" + data
            start = os.lseek(self._fd, 0, os.SEEK_END)
            try:
                self._write_all(data)
                if fsync:
                    os.fsync(self._fd)
            except OSError:
                with contextlib.suppress(OSError):  # the original error is the one to report
                    os.ftruncate(self._fd, start)
                raise
            self._needs_break = False
            self._size = start + len(data)
            self.lines += len(docs)

    def sync(self) -> None:
        """fsync every line appended so far, without holding the lock while the disk works.

        The fsync goes through a duplicate of the descriptor, so appends (and a compaction that
        swaps the descriptor) carry on meanwhile; a file already closed has been synced, or
        compacted, which fsyncs the new file itself.
        """
        with self._lock:
            if self._fd is None:
                return
            fd = os.dup(self._fd)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def _check_owner(self) -> None:
        """Refuse to touch a file that is not the one, or not as, this process left it."""
        if self._fd is None:
            raise ValueError(f"{self.path} is not open (call load first)")
        if os.getpid() != self._pid:
            raise ForkedProcess(str(self.path), self._pid)
        mine = os.fstat(self._fd)
        try:
            there = os.stat(self.path)
        except FileNotFoundError:
            there = None
        if there is None or (there.st_dev, there.st_ino) != (mine.st_dev, mine.st_ino):
            raise ForeignWriter(f"{self.path} was replaced or removed by another writer since "
                                "this sink opened it; reopen the sink to read it again")
        if mine.st_size != self._size:
            raise ForeignWriter(
                f"{self.path} is {mine.st_size} bytes where this sink left {self._size}: another "
                "writer changed it (is git-proxy running on this directory?); nothing was "
                "written, reopen the sink to read it again")

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
        is fsync'd: at every instant either the old or the new file is complete on disk. If
        writing ``<file>~`` fails (a full disk), it is removed and the OSError raised; the old
        file stays in use. ForeignWriter, before anything is written, when another writer has
        changed the file: renaming over it would lose that writer's lines.
        """
        self.compact_lines((serialize(doc) for doc in docs), indexes)

    def compact_lines(self, lines: Iterable[str | bytes],
                      indexes: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        """``compact`` with the documents already serialized (each line without its newline):
        text, or bytes copied from this file as read.

        The lines are written as they come, a batch at a time, so the new file is never held
        whole in memory.
        """
        index_lines = [serialize({"$$indexCreated": dict(spec)})
                       for spec in (indexes or {}).values()]
        with self._lock:
            self._check_owner()
            count = size = 0
            try:
                with open(self._backup, "wb") as fh:
                    batch: list[bytes] = []
                    for line in itertools.chain(lines, index_lines):
                        batch.append(line if line.__class__ is bytes else line.encode("utf-8"))
                        if len(batch) == _COMPACT_BATCH:
                            size += fh.write(b"\n".join(batch) + b"\n")
                            count += len(batch)
                            batch.clear()
                    if batch:
                        size += fh.write(b"\n".join(batch) + b"\n")
                        count += len(batch)
                    fh.flush()
                    os.fsync(fh.fileno())
                self._check_owner()  # still ours, now that the new file is ready to take over
            except BaseException:
                with contextlib.suppress(OSError):
                    self._backup.unlink()
                raise
            os.replace(self._backup, self.path)
            _fsync_dir(self.path.parent)
            self._close_fd()
            self._fd = self._open_append()
            self._size = size
            self._needs_break = False
            self.lines = count

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


def _read_lines(fh: Any, block: int | None = None) -> Iterator[tuple[int, bytes, bool]]:
    """(offset, line, terminated) for every line of the open file ``fh``, split where
    byline.js splits. Only the last line can be unterminated (``terminated`` False). A line's
    offset is -1 where its block held a CRLF (a two-byte line end, so the split does not say
    where each line began); the unterminated last line's is always known.

    Reads a block at a time; a CR ending a block waits for the next, in case it is a CRLF.
    """
    block = block or READ_BLOCK
    consumed, rest = 0, b""
    while True:
        more = fh.read(block)
        data = rest + more if rest else more
        lines, rest, one_byte_ends = _split_lines(data, final=not more)
        if one_byte_ends:
            # every line ended in one byte: each starts where the one before ended
            at = consumed
            for line in lines:
                yield at, line, True
                at += len(line) + 1
        else:
            for line in lines:
                yield -1, line, True
        consumed += len(data) - len(rest)
        if not more:
            if rest:
                yield consumed, rest, False
            return


def _split_lines(data: bytes, final: bool) -> tuple[list[bytes], bytes, bool]:
    """The terminated lines of ``data``, what follows the last line end, and whether every
    line end was one byte (no CRLF). Unless ``final``, a trailing CR is left in the remainder:
    the LF that would make it one CRLF may follow."""
    end = len(data) if final or not data.endswith(b"\r") else len(data) - 1
    cut = max(data.rfind(b, 0, end) for b in _BREAKS) + 1
    if cut == 0:
        return [], data, True
    region = data[:cut]
    if any(b in region for b in _RARE_BREAKS):
        lines = _LINE_END.split(region)
        one_byte_ends = b"\r\n" not in region
    else:
        lines, one_byte_ends = region.split(b"\n"), True
    lines.pop()  # region ends with a line end: the last piece is empty
    return lines, data[cut:], one_byte_ends


def append_lines(path: Path, lines: Sequence[bytes]) -> None:
    """Append ``lines`` (each with a ``\\n``) to ``path`` and fsync it; cut back if that fails."""
    if not lines:
        return
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        start = os.lseek(fd, 0, os.SEEK_END)
        try:
            view = memoryview(b"".join(line + b"\n" for line in lines))
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        except OSError:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, start)
            raise
    finally:
        os.close(fd)
    _fsync_dir(path.parent)


def pack_span(start: int, length: int) -> int:
    """A line's place in the file as one int: a tuple per document would be a container the
    cyclic garbage collector tracks for the life of the sink (a hundred thousand of them made
    opening a quarter slower, before the collector was paused there)."""
    return start << 32 | length


def unpack_span(span: int) -> tuple[int, int]:
    """(start, length) of a ``pack_span``."""
    return span >> 32, span & 0xFFFFFFFF


def _apply(loaded: Loaded, doc: Document, dated: bool = False,
           span: int | None = None) -> None:
    """One parsed line, by NeDB's treatRawStream rules (lines matching none are ignored)."""
    _id = doc.get("_id")
    if _id:
        if doc.get("$$deleted") is True:
            loaded.docs.pop(_id, None)
            loaded.dated.discard(_id)
            loaded.spans.pop(_id, None)
        else:
            loaded.docs[_id] = doc
            if span is not None:
                loaded.spans[_id] = span
            else:
                loaded.spans.pop(_id, None)
            if dated:
                loaded.dated.add(_id)
            else:
                loaded.dated.discard(_id)
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
