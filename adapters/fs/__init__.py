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
import gc
import os
import threading
import warnings
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from sinkkit.adapters.fs import nedb
from sinkkit.adapters.fs.commit import (
    DURABILITY_MODES,
    CommitLock,
    FsyncFailed,
    GroupCommit,
    check_durability,
)
from sinkkit.adapters.fs.index import Extractor, FieldValue, IndexedCollection, nested_values
from sinkkit.adapters.fs.nedb import (
    CorruptDatafile,
    Datafile,
    DatafileWarning,
    ForeignWriter,
    ForkedProcess,
)
from sinkkit.conformance.contract import DEFAULT_PUSH_QUERY
from sinkkit.conformance.errors import ConfigError, InvalidDocument, SinkError, Unavailable
from sinkkit.conformance.model import Collection, DocumentSink
from sinkkit.core import clock, queries, rules
from sinkkit.core.copying import SCALARS

__all__ = [
    "DEFAULT_DIRECTORY",
    "DURABILITY_MODES",
    "CorruptDatafile",
    "DatafileWarning",
    "ForeignWriter",
    "ForkedProcess",
    "FsSink",
    "FsyncFailed",
    "StoreLocked",
    "open_fs_sink",
]

Document = dict[str, Any]
#: where a value sits in a document: its keys and list indexes from the top
Path_ = tuple[str | int, ...]

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
    #: ``to_disk`` may turn ISO strings into Dates (so a written line must be searched for them)
    writes_dates = False

    def key(self, disk_doc: Document) -> Any:
        return disk_doc.get(self.key_field)

    def from_disk(self, disk_doc: Document) -> Document:
        return _plain(disk_doc)

    def adopt(self, disk_doc: Document) -> tuple[Document, bool]:
        """The API document for a loaded one that holds no Date, taking it over where possible.

        Returns ``(doc, verbatim)``: ``verbatim`` when ``to_disk`` of ``doc`` gives back
        ``disk_doc`` exactly, so the loaded copy need not be kept for compaction (one copy of
        each document in memory). Here, and for every codec that normalises nothing, the loaded
        document itself is the API document.
        """
        return disk_doc, True

    def to_disk(self, key: str, doc: Document, disk_id: str,
                was_date: frozenset[Path_] | None = None) -> Document:
        """``was_date``: where the version on disk held a Date (None for a new document)."""
        return doc

    def disk_line(self, key: str, doc: Document, disk_id: str) -> str:
        """The datafile line of a stored document holding no Date (what compaction writes)."""
        return nedb.serialize(self.to_disk(key, doc, disk_id, frozenset()))


class _Normalising(Codec):
    """A codec whose ``from_disk`` may add or fold fields: when it did, the loaded copy is kept
    as read (compaction writes it back verbatim); when nothing needed it, the loaded document
    is the API one."""

    def adopt(self, disk_doc: Document) -> tuple[Document, bool]:
        doc = self.from_disk(disk_doc)
        # from_disk only adds and folds (the document holds no Date here): equal means untouched
        if doc == disk_doc and list(doc) == list(disk_doc):
            return disk_doc, True
        return doc, False


class UserCodec(_Normalising):
    def from_disk(self, disk_doc: Document) -> Document:
        user = _plain(disk_doc)
        # git-proxy's fs sink creates users without publicKeys before keys existed, and folds
        # gitAccount only on lookup; the contract wants a list and folded values.
        if user.get("publicKeys") is None:
            user["publicKeys"] = []
        if isinstance(user.get("gitAccount"), str):
            user["gitAccount"] = user["gitAccount"].lower()
        return user


class RepoCodec(_Normalising):
    #: kept as ISO strings at the API, written as real Dates for Node
    date_fields = ("dateCreated", "lastModified")
    writes_dates = True

    def from_disk(self, disk_doc: Document) -> Document:
        repo = _plain(disk_doc)
        users = repo.get("users") if isinstance(repo.get("users"), dict) else {}
        repo["users"] = {**users, **{role: _name_list(users.get(role))
                                     for role in ("canPush", "canAuthorise")}}
        if isinstance(repo.get("name"), str):
            repo["name"] = repo["name"].lower()
        return repo

    def to_disk(self, key: str, doc: Document, disk_id: str,
                was_date: frozenset[Path_] | None = None) -> Document:
        out = dict(doc)
        for name in self.date_fields:
            value = out.get(name)
            # a new repo gets real Dates; a stored one keeps the type it has (git-proxy writes
            # some as ISO strings, and must read back what it wrote)
            if isinstance(value, str) and (was_date is None or (name,) in was_date):
                with contextlib.suppress(ValueError):
                    out[name] = nedb.datetime_from_ms(clock.ms_from_iso(value))
        return out


def date_paths(value: Any, at: Path_ = ()) -> frozenset[Path_]:
    """Where ``value`` (a document as on disk) holds a Date."""
    if isinstance(value, datetime):
        return frozenset([at])
    found: list[Path_] = []
    _collect_dates(value, at, found)
    return frozenset(found)


def _collect_dates(value: Any, at: Path_, found: list[Path_]) -> None:
    if isinstance(value, dict):
        items: Iterable[tuple[str | int, Any]] = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return
    for key, item in items:
        # what a document holds most, passed over without a call: no Date hides in a scalar
        # (a repo's permission lists are hundreds of names, walked on every grant)
        if item.__class__ in SCALARS:
            continue
        if isinstance(item, datetime):
            found.append((*at, key))
        else:
            _collect_dates(item, (*at, key), found)


def keep_dates(doc: Any, paths: frozenset[Path_], at: Path_ = ()) -> Any:
    """``doc`` with the ISO strings found where the stored version held a Date made Dates again.

    The API carries every Date as an ISO string; without this, a Node Date (a push's
    ``rejection.timestamp``) would turn into a string the first time its document changes.
    """
    if at in paths and isinstance(doc, str):
        with contextlib.suppress(ValueError, OverflowError):
            return nedb.datetime_from_ms(clock.ms_from_iso(doc))
        return doc
    if not any(p[:len(at)] == at and len(p) > len(at) for p in paths):
        return doc
    if isinstance(doc, dict):
        return {k: keep_dates(v, paths, (*at, k)) for k, v in doc.items()}
    if isinstance(doc, list):
        return [keep_dates(v, paths, (*at, i)) for i, v in enumerate(doc)]
    return doc


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

    def adopt(self, disk_doc: Document) -> tuple[Document, bool]:
        # to_disk puts ``_id`` last: a line written that way is rebuilt exactly from the push
        if next(reversed(disk_doc), None) == "_id":
            del disk_doc["_id"]
            return disk_doc, True
        return self.from_disk(disk_doc), False

    def to_disk(self, key: str, doc: Document, disk_id: str,
                was_date: frozenset[Path_] | None = None) -> Document:
        return {**doc, "_id": disk_id}

    def disk_line(self, key: str, doc: Document, disk_id: str) -> str:
        if "_id" in doc or not doc:
            return super().disk_line(key, doc, disk_id)
        # the same text as serializing {**doc, "_id": disk_id}, without copying the push
        return nedb.serialize(doc)[:-1] + ',"_id":' + nedb.serialize_string(disk_id) + "}"


class MigrationCodec(_Normalising):
    """The ledger: ``{_id: migration id}`` at the API; git-proxy reads the ``id`` field."""

    key_field = "id"
    writes_dates = True

    def key(self, disk_doc: Document) -> Any:
        return disk_doc.get("id", disk_doc.get("_id"))

    def adopt(self, disk_doc: Document) -> tuple[Document, bool]:
        return self.from_disk(disk_doc), False  # to_disk reshapes: keep the line as read

    def from_disk(self, disk_doc: Document) -> Document:
        entry = _plain({k: v for k, v in disk_doc.items() if k not in ("_id", "id")})
        return {"_id": self.key(disk_doc), **entry}

    def to_disk(self, key: str, doc: Document, disk_id: str,
                was_date: frozenset[Path_] | None = None) -> Document:
        out = {**doc, "_id": disk_id, "id": key}
        if isinstance(out.get("appliedAt"), str) and (was_date is None
                                                      or ("appliedAt",) in was_date):
            with contextlib.suppress(ValueError):
                out["appliedAt"] = nedb.datetime_from_ms(clock.ms_from_iso(out["appliedAt"]))
        return out


def _pending(push: Document) -> bool:
    return queries.matches(push, DEFAULT_PUSH_QUERY)


#: what each collection is indexed by: the fields its lookups and listings compare
INDEXES: dict[str, dict[str, Extractor]] = {
    "users": {"username": FieldValue("username"), "email": FieldValue("email"),
              "gitAccount": FieldValue("gitAccount"), "oidcId": FieldValue("oidcId"),
              "publicKeys.key": nested_values("publicKeys", "key")},
    "repos": {"name": FieldValue("name"), "url": FieldValue("url")},
    # pushes: the pending list (a predicate, below) and the filters of a repo's page and of a
    # person's pushes; booleans and ``type`` would each list nearly every push, and every index
    # costs each open a pass over all pushes
    "pushes": {name: FieldValue(name) for name in ("repo", "url", "userEmail")},
    "migrations": {},
    "sessions": {},
}
PREDICATES = {"pushes": {"pending": (DEFAULT_PUSH_QUERY, _pending)}}
#: collections whose lookups take the first match in collection order
ORDERED = frozenset({"users", "repos"})

CODECS: dict[str, Codec] = {
    "users": UserCodec(),
    "repos": RepoCodec(),
    "pushes": PushCodec(),
    "migrations": MigrationCodec(),
    "sessions": Codec(),
}


# --- a Collection journaled to a datafile -------------------------------------------------------

class JournaledCollection(IndexedCollection):
    """A memory Collection whose every change is appended to a NeDB datafile first.

    The change reaches memory only after its line is written, so a failed write leaves both as
    they were. With a ``commit`` (durability ``fsync``), the line is registered with the group
    commit, and the sink's lock waits, on its release, for an fsync covering it; without one
    (durability ``os``) the OS decides when the line reaches the disk. Callers serialise access
    (DocumentSink holds its lock around every call).
    """

    def __init__(self, name: str, datafile: Datafile, codec: Codec,
                 commit: GroupCommit | None = None):
        super().__init__(INDEXES.get(name), PREDICATES.get(name), ordered=name in ORDERED)
        self._commit = commit
        self.name = name
        self._datafile = datafile
        self._codec = codec
        #: keys whose ``_id`` on disk is not the key itself (git-proxy's random ``_id``s, or one
        #: drawn because the key was taken as another document's ``_id``)
        self._disk_ids: dict[str, str] = {}
        #: every ``_id`` on disk that is not its own document's key, to keep new ones clear of it
        self._foreign_ids: set[str] = set()
        #: documents as read, for keys not changed since: compaction writes them back verbatim,
        #: so opening never turns a Node Date into a string or adds normalised fields
        self._as_read: dict[str, Document] = {}
        #: where each stored document holds a Date, so a rewrite keeps each value's type
        self._dates: dict[str, frozenset[Path_]] = {}
        self._indexes: dict[str, Document] = {}
        #: corrupt lines could not be copied aside: no compaction may drop them
        self._keep_lines = False
        #: where the line of each document not changed since the open lies in the datafile
        #: (``nedb.pack_span``): compaction copies those bytes instead of serialising it again
        self._spans: dict[str, int] = {}

    def load(self) -> None:
        """Read the datafile; compact it when it carries many superseded or unreadable lines.

        Two documents claiming one key (two pushes with one ``id``) keep the later one, as
        NeDB's reader does; the earlier is copied to the sidecar and reported, never dropped
        unseen. Compaction here is housekeeping: when it fails (a full disk) the open goes on
        with the log as it is.
        """
        loaded = self._datafile.load()
        self._indexes = loaded.indexes
        self._keep_lines = not loaded.set_aside
        shadowed: list[tuple[str, Document, Document]] = []
        for disk_id, disk_doc in loaded.docs.items():
            key = self._check_key(disk_id, disk_doc)
            if key in self.docs:
                earlier = self._as_read.get(key)
                if earlier is None:  # taken over verbatim: its line is rebuilt exactly
                    earlier = self._codec.to_disk(key, self.docs[key],
                                                  self._disk_ids.get(key, key), frozenset())
                shadowed.append((key, earlier, disk_doc))
                self._as_read.pop(key, None)
                self._dates.pop(key, None)
            self.docs.pop(key, None)
            if disk_id in loaded.dated:
                # a Date must come back a Date: the API copy is converted, the loaded one kept
                self.docs[key] = self._codec.from_disk(disk_doc)
                self._as_read[key] = disk_doc
                self._dates[key] = date_paths(disk_doc)
            else:
                doc, verbatim = self._codec.adopt(disk_doc)
                self.docs[key] = doc
                if not verbatim:
                    self._as_read[key] = disk_doc
            if disk_id != key:
                self._disk_ids[key] = disk_id
            else:
                self._disk_ids.pop(key, None)
            span = loaded.spans.get(disk_id)
            if span is not None:
                self._spans[key] = span
            else:
                self._spans.pop(key, None)
        loaded.docs.clear()
        loaded.spans.clear()
        self._foreign_ids = set(self._disk_ids.values())
        self.rebuild()
        if shadowed and not self._set_aside_shadowed(shadowed):
            return  # the earlier documents are only in the file: no compaction may drop them
        if shadowed or loaded.corrupt_lines or loaded.superseded > 2 * len(self.docs):
            self._compact_if_possible()

    def _set_aside_shadowed(self, shadowed: list[tuple[str, Document, Document]]) -> bool:
        sidecar = self._datafile.sidecar
        try:
            nedb.append_lines(sidecar, [nedb.serialize(old).encode() for _, old, _ in shadowed])
        except OSError as exc:
            self._keep_lines = True
            warnings.warn(f"{self._datafile.path}: cannot copy superseded duplicates to "
                          f"{sidecar} ({exc.strerror or exc}); they stay in the file",
                          DatafileWarning, stacklevel=4)
            return False
        pairs = ", ".join(f"{old.get('_id')!r} by {new.get('_id')!r}"
                          for _, old, new in shadowed[:5])
        warnings.warn(
            f"{self._datafile.path}: {len(shadowed)} document(s) share a "
            f"{self._codec.key_field!r} with a later one (_id {pairs}); the later one is kept "
            f"and the earlier copied verbatim to {sidecar}", DatafileWarning, stacklevel=4)
        return True

    def _check_key(self, disk_id: Any, disk_doc: Document) -> str:
        key = self._codec.key(disk_doc)
        if not isinstance(disk_id, str) or not rules.is_plain_id(key):
            raise InvalidDocument(
                f"{self._datafile.path} document {disk_id!r}",
                f"needs a non-empty string {self._codec.key_field!r} to be read by this adapter")
        return key

    def _disk_id(self, key: str) -> str:
        """The ``_id`` a new line for ``key`` carries: never one another document holds."""
        if key in self._disk_ids:
            return self._disk_ids[key]
        if key in self.docs or key not in self._foreign_ids:
            return key
        # the key is a git-proxy push's random _id: a line with it would replace that push
        disk_id = nedb.new_id()
        while disk_id in self._foreign_ids or disk_id in self.docs:
            disk_id = nedb.new_id()
        return disk_id

    def _to_disk(self, key: str, doc: Document) -> Document:
        # None for a new document (the adapter's own format); a stored one keeps its types
        was_date = self._dates.get(key, frozenset()) if key in self.docs else None
        out = self._codec.to_disk(key, doc, self._disk_id(key), was_date)
        return keep_dates(out, was_date) if was_date else out

    def _disk_lines(self, source: int) -> Iterable[str | bytes]:
        """Every live document's line, as compaction writes it: a document unchanged since the
        open as its bytes in the file (open at descriptor ``source``), byte for byte; else
        verbatim when kept as read."""
        as_read, dates, disk_ids, codec = self._as_read, self._dates, self._disk_ids, self._codec
        spans = self._spans
        for key, doc in self.docs.items():
            span = spans.get(key)
            if span is not None:
                start, length = nedb.unpack_span(span)
                line = os.pread(source, length, start)
                if len(line) == length:
                    yield line
                    continue
            if key in as_read:
                yield nedb.serialize(as_read[key])
            elif key in dates:
                yield nedb.serialize(self._to_disk(key, doc))
            else:
                yield codec.disk_line(key, doc, disk_ids.get(key, key))

    def _append(self, lines: list[Document]) -> None:
        try:
            # the fsync, when there is one, is the group commit's (on the sink lock's release)
            self._datafile.append(lines, fsync=False)
        except SinkError:  # ForeignWriter, ForkedProcess: already clear
            raise
        except OSError as exc:
            raise Unavailable(
                f"cannot write {self._datafile.path}: {exc.strerror or exc}") from None
        if self._commit is not None:
            self._commit.wrote(self._datafile)

    def _compact_if_possible(self) -> None:
        """Housekeeping when a change is already durable (or nothing changed): failure warns."""
        try:
            self.compact()
        except Unavailable as exc:
            warnings.warn(f"{exc}; the log stays as it is", DatafileWarning, stacklevel=3)

    def _compact_if_bloated(self) -> None:
        if self._datafile.lines > 3 * len(self.docs) + RUNTIME_COMPACTION_SLACK:
            self._compact_if_possible()

    def put(self, key: str, doc: Document) -> None:
        disk_doc = self._to_disk(key, doc)
        self._append([disk_doc])
        self.reindex(key, self.docs.get(key), doc)
        self.docs[key] = doc
        if disk_doc.get("_id", key) != key:
            self._disk_ids[key] = disk_doc["_id"]
            self._foreign_ids.add(disk_doc["_id"])
        # a line holds a Date only where the codec writes one or the stored version had one
        if (self._codec.writes_dates or key in self._dates) and (
                date_found := date_paths(disk_doc)):
            self._dates[key] = date_found
        else:
            self._dates.pop(key, None)
        self._as_read.pop(key, None)
        self._spans.pop(key, None)
        self._compact_if_bloated()

    def remove(self, key: str) -> None:
        if key not in self.docs:
            return
        self._append([nedb.tombstone(self._disk_ids.get(key, key))])
        self.reindex(key, self.docs[key], None)
        del self.docs[key]
        if key in self._disk_ids:
            self._foreign_ids.discard(self._disk_ids.pop(key))
        self._as_read.pop(key, None)
        self._dates.pop(key, None)
        self._spans.pop(key, None)
        self._compact_if_bloated()

    def compact(self) -> None:
        if self._keep_lines:
            raise Unavailable(f"not compacting {self._datafile.path}: it holds lines that could "
                              f"not be copied to {self._datafile.sidecar}, and compaction would "
                              "drop them (free some space and reopen)")
        try:
            with open(self._datafile.path, "rb") as source:
                self._datafile.compact_lines(self._disk_lines(source.fileno()), self._indexes)
        except SinkError:  # ForeignWriter, ForkedProcess: already clear
            raise
        except OSError as exc:
            raise Unavailable(f"cannot compact {self._datafile.path}: "
                              f"{exc.strerror or exc}") from None
        self._spans.clear()  # the new file has its lines elsewhere

    def close(self) -> None:
        self._datafile.close()


# --- the sink ------------------------------------------------------------------------------------

class _DirectoryLock:
    """An OS lock (``flock``) on the directory itself: one open FsSink per directory.

    Two writers appending to one datafile would interleave lines that each believes it owns, and
    each would compact away the other's; a second opener fails with StoreLocked instead. The lock
    is held on an open descriptor of the directory, so deleting ``sinkkit-fs.lock`` (which only
    names the holder's pid, for the error message) cannot let a second opener in. A child forked
    from the holder inherits the descriptor but not the right to write (ForkedProcess), and its
    ``close`` leaves the parent's lock alone. (Node git-proxy takes no such lock: never run it on
    the same directory at the same time.)
    """

    def __init__(self, directory: Path):
        self.path = directory / LOCK_FILE
        self.pid = os.getpid()
        fd = os.open(directory, os.O_RDONLY | os.O_CLOEXEC | getattr(os, "O_DIRECTORY", 0))
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise StoreLocked(
                f"{directory} is already open by another FsSink (pid {self._holder()}); the fs "
                "adapter is single-process: close the other sink first") from None
        except BaseException:
            os.close(fd)
            raise
        self._fd: int | None = fd
        try:
            with open(self.path, "w") as fh:
                fh.write(f"{self.pid}\n")
        except OSError:
            pass  # the pid is only for the message; the lock is on the directory

    def _holder(self) -> str:
        try:
            return self.path.read_text("ascii", "replace").strip() or "unknown"
        except OSError:
            return "unknown"

    def check(self) -> None:
        if os.getpid() != self.pid:
            raise ForkedProcess(f"the FsSink on {self.path.parent}", self.pid)

    def release(self) -> None:
        if self._fd is not None:
            if os.getpid() == self.pid:  # a forked child shares the lock: unlocking frees it
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


class FsSink(DocumentSink):
    """A Sink over a directory of NeDB datafiles (git-proxy's ``.data/db`` layout).

    Single-process: a second FsSink on the same directory raises StoreLocked. With
    ``durability="fsync"`` (the default) every change is fsync'd before its call returns, one
    fsync serving every thread waiting on it (commit.py); with ``"os"`` the OS flushes the
    lines when it chooses, as NeDB does. ``compact()`` rewrites each datafile down to its live
    lines.
    """

    def __init__(self, directory: str | os.PathLike[str], session_ttl: int = 86400,
                 durability: str = "fsync"):
        self.directory = Path(directory).absolute()
        self.durability = check_durability(durability)
        #: the group commit (durability "fsync"), None when the OS decides
        self._commit = GroupCommit() if self.durability == "fsync" else None
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
        lock = CommitLock(self._commit) if self._commit is not None else threading.RLock()
        super().__init__(collections, new_id=nedb.new_id, session_ttl=session_ttl, lock=lock)

    def _load_collections(self) -> dict[str, Collection]:
        loaded: dict[str, Collection] = {}
        try:
            with _without_cyclic_gc():
                for name in self.collection_names:
                    col = JournaledCollection(name, Datafile(self.directory / f"{name}.db"),
                                              CODECS[name], self._commit)
                    loaded[name] = col
                    col.load()
        except BaseException as exc:
            for col in loaded.values():
                col.close()
            if isinstance(exc, OSError) and not isinstance(exc, SinkError):
                raise Unavailable(f"cannot read {self.directory}: {exc.strerror or exc}") from None
            raise
        return loaded

    def _open(self) -> threading.RLock:
        self._dir_lock.check()  # every call starts here: a forked child is refused at once
        if self._commit is not None:
            self._commit.check()  # after a failed fsync, nothing more is acknowledged
        return super()._open()

    def compact(self) -> None:
        """Rewrite every datafile with only its live documents (crash-safe, like NeDB's)."""
        with self._open():
            for col in self._collections.values():
                col.compact()  # type: ignore[attr-defined]

    def close(self) -> None:
        failed_before = self._commit is not None and self._commit.failure is not None
        try:
            with self._lock:
                try:
                    if self._commit is not None and not self._closed and not failed_before:
                        self._commit.flush()  # what other threads wrote is on disk first
                finally:
                    super().close()
                    self._dir_lock.release()
        except FsyncFailed:
            if not failed_before:
                raise  # this close's own flush failed: the caller must hear it
            # the failure was reported to the call it failed; closing a failed sink succeeds

    def __repr__(self) -> str:
        return f"<FsSink {self.directory} {'closed' if self._closed else 'open'}>"


@contextlib.contextmanager
def _without_cyclic_gc() -> Iterator[None]:
    """The cyclic garbage collector paused while the datafiles are read.

    Reading builds hundreds of thousands of dicts and lists, and every few hundred allocations
    the collector rescans the growing heap for cycles that parsed JSON cannot form: a third of
    an open's time (100 000 pushes: 3.4 s with it, 2.2 s without). Reference counting still
    frees everything as usual; the pause is process-wide, so other threads' cyclic garbage
    waits the few seconds until the open ends, and the collector stays off if it was off.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def open_fs_sink(entry: Mapping[str, Any] | None = None) -> FsSink:
    """Entry point for ``type: fs`` in a git-proxy ``sink`` list.

    The directory is ``params.filepath``, else ``options.path``, else ``./.data/db`` (created if
    absent); ``options.sessionTtl`` is the session store's default lifetime in seconds;
    ``options.durability`` is ``"fsync"`` (the default: each acknowledged write is fsync'd, one
    fsync serving concurrent writers) or ``"os"`` (NeDB's: the OS decides when bytes reach disk).
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
    durability = check_durability(options.get("durability"))
    return FsSink(directory, session_ttl=ttl, durability=durability)


def _section(entry: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = entry.get(name) or {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"fs sink {name} must be an object")
    return copy.deepcopy(dict(value))
