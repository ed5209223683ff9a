"""The fs adapter: the memory adapter's rules over NeDB datafiles, laid out as git-proxy's fs sink.

Every contract rule lives in ``DocumentSink`` (conformance/model.py); this module only hands it
Collections that journal each ``put``/``remove`` to a datafile under one directory (``users.db``,
``repos.db``, ``pushes.db``, ``migrations.db``, ``sessions.db``) before the call returns. A
``Codec`` per collection maps between the API's documents and what git-proxy's Node code reads:
real Dates for repo timestamps, ``_id`` on every push, ``id`` on every ledger entry. Opening an
existing git-proxy ``.data/db`` directory works; see docs/fs-format.md for the format and its
guarantees.
"""

from __future__ import annotations

import contextlib
import copy
import fcntl
import os
import warnings
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from sinkkit.adapters.fs import nedb
from sinkkit.adapters.fs.nedb import CorruptDatafile, Datafile, DatafileWarning
from sinkkit.conformance.errors import ConfigError, InvalidDocument, SinkError, Unavailable
from sinkkit.conformance.model import Collection, DocumentSink
from sinkkit.core import clock, rules

__all__ = [
    "DEFAULT_DIRECTORY",
    "CorruptDatafile",
    "DatafileWarning",
    "FsSink",
    "StoreLocked",
    "open_fs_sink",
]

Document = dict[str, Any]

#: where git-proxy's fs sink keeps its datafiles, relative to its working directory
DEFAULT_DIRECTORY = "./.data/db"
LOCK_FILE = "sinkkit-fs.lock"
#: superseded lines a live log may carry, beyond twice its live documents, before it is compacted
RUNTIME_COMPACTION_SLACK = 1000


class StoreLocked(Unavailable):
    """Another FsSink (in this or another process) has the directory open."""

    code = "store_locked"


# --- how each collection looks on disk ----------------------------------------------------------

def _plain(value: Any) -> Any:
    """A loaded value as the API carries it: a Date becomes an ISO string, as JSON renders it."""
    if isinstance(value, datetime):
        return clock.iso_from_ms(nedb.ms_from_datetime(value))
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


class Codec:
    """Maps one collection's documents between the API (memory) and the datafile (disk).

    ``key_field`` names the field the memory Collection is keyed by. On disk every document
    carries ``_id``: the key itself for documents this adapter created, or the ``_id`` an earlier
    writer (git-proxy) gave it, which must be kept so later lines and tombstones supersede it.
    """

    key_field = "_id"

    def key(self, disk_doc: Document) -> Any:
        return disk_doc.get(self.key_field)

    def from_disk(self, disk_doc: Document) -> Document:
        return _plain(disk_doc)

    def to_disk(self, key: str, doc: Document, disk_id: str) -> Document:
        return doc


class UserCodec(Codec):
    def from_disk(self, disk_doc: Document) -> Document:
        user = _plain(disk_doc)
        # git-proxy's fs sink creates users without publicKeys before keys existed, and folds
        # gitAccount only on lookup; the contract wants a list and folded values.
        if user.get("publicKeys") is None:
            user["publicKeys"] = []
        if isinstance(user.get("gitAccount"), str):
            user["gitAccount"] = user["gitAccount"].lower()
        return user


class RepoCodec(Codec):
    #: kept as ISO strings at the API, written as real Dates for Node
    date_fields = ("dateCreated", "lastModified")

    def from_disk(self, disk_doc: Document) -> Document:
        repo = _plain(disk_doc)
        users = repo.get("users") if isinstance(repo.get("users"), dict) else {}
        repo["users"] = {**users, **{role: _name_list(users.get(role))
                                     for role in ("canPush", "canAuthorise")}}
        if isinstance(repo.get("name"), str):
            repo["name"] = repo["name"].lower()
        return repo

    def to_disk(self, key: str, doc: Document, disk_id: str) -> Document:
        out = dict(doc)
        for name in self.date_fields:
            value = out.get(name)
            if isinstance(value, str):
                with contextlib.suppress(ValueError):
                    out[name] = nedb.datetime_from_ms(clock.ms_from_iso(value))
        return out


def _name_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidDocument("repo.users", f"a permission list is a {type(value).__name__}")
    return list(value)


class PushCodec(Codec):
    """Pushes are keyed by ``id``; on disk ``_id`` is that id (or git-proxy's random one)."""

    key_field = "id"

    def from_disk(self, disk_doc: Document) -> Document:
        push = _plain(disk_doc)
        push.pop("_id", None)
        return push

    def to_disk(self, key: str, doc: Document, disk_id: str) -> Document:
        return {**doc, "_id": disk_id}


class MigrationCodec(Codec):
    """The ledger: ``{_id: migration id}`` at the API; git-proxy reads the ``id`` field."""

    key_field = "id"

    def key(self, disk_doc: Document) -> Any:
        return disk_doc.get("id", disk_doc.get("_id"))

    def from_disk(self, disk_doc: Document) -> Document:
        entry = _plain({k: v for k, v in disk_doc.items() if k not in ("_id", "id")})
        return {"_id": self.key(disk_doc), **entry}

    def to_disk(self, key: str, doc: Document, disk_id: str) -> Document:
        out = {**doc, "_id": disk_id, "id": key}
        if isinstance(out.get("appliedAt"), str):
            with contextlib.suppress(ValueError):
                out["appliedAt"] = nedb.datetime_from_ms(clock.ms_from_iso(out["appliedAt"]))
        return out


CODECS: dict[str, Codec] = {
    "users": UserCodec(),
    "repos": RepoCodec(),
    "pushes": PushCodec(),
    "migrations": MigrationCodec(),
    "sessions": Codec(),
}


# --- a Collection journaled to a datafile -------------------------------------------------------

class JournaledCollection(Collection):
    """A memory Collection whose every change is appended (and fsync'd) to a NeDB datafile first.

    The change reaches memory only after the line is durable, so a failed write leaves both as
    they were. Callers serialise access (DocumentSink holds its lock around every call).
    """

    def __init__(self, name: str, datafile: Datafile, codec: Codec):
        super().__init__()
        self.name = name
        self._datafile = datafile
        self._codec = codec
        self._disk_ids: dict[str, str] = {}
        #: documents as read, for keys not changed since: compaction writes them back verbatim,
        #: so opening never turns a Node Date into a string or adds normalised fields
        self._as_read: dict[str, Document] = {}
        self._indexes: dict[str, Document] = {}

    def load(self) -> None:
        """Read the datafile; compact it when it carries many superseded or unreadable lines."""
        loaded = self._datafile.load()
        self._indexes = loaded.indexes
        replaced = 0
        for disk_id, disk_doc in loaded.docs.items():
            key = self._check_key(disk_id, disk_doc)
            if key in self.docs:
                replaced += 1  # two documents claim one key: the later one wins
            self.docs.pop(key, None)
            self.docs[key] = self._codec.from_disk(disk_doc)
            self._as_read[key] = disk_doc
            if disk_id != key:
                self._disk_ids[key] = disk_id
            else:
                self._disk_ids.pop(key, None)
        if replaced or loaded.corrupt_lines or loaded.superseded > 2 * len(self.docs):
            self.compact()

    def _check_key(self, disk_id: Any, disk_doc: Document) -> str:
        key = self._codec.key(disk_doc)
        if not isinstance(disk_id, str) or not rules.is_plain_id(key):
            raise InvalidDocument(
                f"{self._datafile.path} document {disk_id!r}",
                f"needs a non-empty string {self._codec.key_field!r} to be read by this adapter")
        return key

    def _disk(self, key: str, doc: Document) -> Document:
        if key in self._as_read:
            return self._as_read[key]
        return self._codec.to_disk(key, doc, self._disk_ids.get(key, key))

    def _append(self, lines: list[Document]) -> None:
        try:
            self._datafile.append(lines)
        except OSError as exc:
            raise Unavailable(
                f"cannot write {self._datafile.path}: {exc.strerror or exc}") from None

    def _compact_if_bloated(self) -> None:
        """Housekeeping after a change that is already durable, so a failure only warns."""
        if self._datafile.lines <= 3 * len(self.docs) + RUNTIME_COMPACTION_SLACK:
            return
        try:
            self.compact()
        except Unavailable as exc:
            warnings.warn(f"{exc}; the log stays as it is", DatafileWarning, stacklevel=2)

    def put(self, key: str, doc: Document) -> None:
        self._append([self._codec.to_disk(key, doc, self._disk_ids.get(key, key))])
        self.docs[key] = doc
        self._as_read.pop(key, None)
        self._compact_if_bloated()

    def remove(self, key: str) -> None:
        if key not in self.docs:
            return
        self._append([nedb.tombstone(self._disk_ids.get(key, key))])
        del self.docs[key]
        self._disk_ids.pop(key, None)
        self._as_read.pop(key, None)
        self._compact_if_bloated()

    def compact(self) -> None:
        try:
            self._datafile.compact((self._disk(k, doc) for k, doc in self.docs.items()),
                                   self._indexes)
        except OSError as exc:
            raise Unavailable(f"cannot compact {self._datafile.path}: "
                              f"{exc.strerror or exc}") from None

    def close(self) -> None:
        self._datafile.close()


# --- the sink ------------------------------------------------------------------------------------

class _DirectoryLock:
    """An advisory ``flock`` on ``<dir>/sinkkit-fs.lock``: one open FsSink per directory.

    Two writers appending to one datafile would interleave lines that each believes it owns, and
    each would compact away the other's; a second opener fails with StoreLocked instead. (Node
    git-proxy takes no such lock: never run it on the same directory at the same time.)
    """

    def __init__(self, directory: Path):
        self.path = directory / LOCK_FILE
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise StoreLocked(
                f"{directory} is already open by another FsSink (pid {holder}); the fs adapter "
                "is single-process: close the other sink first") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd: int | None = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


class FsSink(DocumentSink):
    """A Sink over a directory of NeDB datafiles (git-proxy's ``.data/db`` layout).

    Single-process: a second FsSink on the same directory raises StoreLocked. Every change is
    fsync'd before its call returns; ``compact()`` rewrites each datafile down to its live lines.
    """

    def __init__(self, directory: str | os.PathLike[str], session_ttl: int = 86400):
        self.directory = Path(directory).absolute()
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._dir_lock = _DirectoryLock(self.directory)
        except SinkError:
            raise
        except OSError as exc:
            raise Unavailable(f"cannot open {self.directory}: {exc.strerror or exc}") from None
        try:
            collections = self._load_collections()
        except BaseException:
            self._dir_lock.release()
            raise
        super().__init__(collections, new_id=nedb.new_id, session_ttl=session_ttl)

    def _load_collections(self) -> dict[str, Collection]:
        loaded: dict[str, Collection] = {}
        try:
            for name in self.collection_names:
                col = JournaledCollection(name, Datafile(self.directory / f"{name}.db"),
                                          CODECS[name])
                loaded[name] = col
                col.load()
        except BaseException as exc:
            for col in loaded.values():
                col.close()
            if isinstance(exc, OSError) and not isinstance(exc, SinkError):
                raise Unavailable(f"cannot read {self.directory}: {exc.strerror or exc}") from None
            raise
        return loaded

    def compact(self) -> None:
        """Rewrite every datafile with only its live documents (crash-safe, like NeDB's)."""
        with self._open():
            for col in self._collections.values():
                col.compact()  # type: ignore[attr-defined]

    def close(self) -> None:
        with self._lock:
            super().close()
            self._dir_lock.release()

    def __repr__(self) -> str:
        return f"<FsSink {self.directory} {'closed' if self._closed else 'open'}>"


def open_fs_sink(entry: Mapping[str, Any] | None = None) -> FsSink:
    """Entry point for ``type: fs`` in a git-proxy ``sink`` list.

    The directory is ``params.filepath``, else ``options.path``, else ``./.data/db`` (created if
    absent); ``options.sessionTtl`` is the session store's default lifetime in seconds.
    """
    entry = entry if entry is not None else {}
    if not isinstance(entry, Mapping):
        raise ConfigError(f"an fs sink entry must be an object, got {type(entry).__name__}")
    if entry.get("type", "fs") != "fs":
        raise ConfigError(f"open_fs_sink got a sink entry of type {entry.get('type')!r}")
    params = _section(entry, "params")
    options = _section(entry, "options")
    directory = params.get("filepath") or options.get("path") or DEFAULT_DIRECTORY
    if not isinstance(directory, (str, os.PathLike)):
        raise ConfigError("fs sink params.filepath / options.path must be a path string")
    ttl = options.get("sessionTtl", 86400)
    if isinstance(ttl, bool) or not isinstance(ttl, int) or ttl <= 0:
        raise ConfigError("fs sink options.sessionTtl must be a positive number of seconds")
    return FsSink(directory, session_ttl=ttl)


def _section(entry: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = entry.get(name) or {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"fs sink {name} must be an object")
    return copy.deepcopy(dict(value))
