"""Opening the source of a copy so that reading it cannot change it.

PostgreSQL and MongoDB sources are opened with their adapters (whose open creates only what
is missing: a schema, indexes). An fs source is not: ``FsSink`` takes a lock file in the
directory and may compact its datafiles on open, both writes to a store a copy promised only to
read. Its view is built instead from the raw datafiles with the fs adapter's own rules: each
document through the codec ``FsSink`` loads it with, into the ``DocumentSink`` it runs on,
over plain in-memory collections. What git-proxy's data looks like through the fs adapter is
therefore exactly what is copied, and the directory is never opened for writing.
"""

from __future__ import annotations

from typing import Any

from sinkkit.adapters.fs import CODECS, nedb
from sinkkit.cli.raw import RawStore
from sinkkit.cli.targets import Target
from sinkkit.conformance.model import Collection, DocumentSink
from sinkkit.core.rules import is_plain_id


class _FsView(DocumentSink):
    """The fs adapter's rules over documents held only in memory.

    ``get_push`` hands out the held document itself instead of a deep copy: a copy run only
    reads it (``check_push`` copies what it changes), and on a 100 000-push store the deep copy
    cost as much CPU as the rest of reading.
    """

    def get_push(self, id: str) -> dict[str, Any] | None:
        with self._open():
            return self._pushes.get(id) if is_plain_id(id) else None


def push_from_disk(disk_doc: dict[str, Any]) -> dict[str, Any]:
    """``PushCodec.from_disk`` for a document the raw reader parsed: its walk turns Dates into
    ISO strings, which the raw reader's parse has done already, so only the NeDB key remains to
    drop (the walk was a fifth of a 100 000-push copy's CPU; a test holds the two equal)."""
    return {k: v for k, v in disk_doc.items() if k != "_id"}


def fs_view(raw: RawStore, session_ttl: int = 86400) -> DocumentSink:
    """A Sink over an fs store's raw documents; any write it took would stay in memory."""
    collections: dict[str, Collection] = {}
    for name in DocumentSink.collection_names:
        codec = CODECS[name]
        docs: dict[str, Any] = {}
        load = push_from_disk if name == "pushes" else codec.from_disk
        for disk_doc in raw.disk.get(name, []):
            key = codec.key(disk_doc)
            if is_plain_id(key):  # FsSink refuses the whole store here; the copy reports it
                docs.pop(key, None)
                docs[key] = load(disk_doc)
        collections[name] = Collection(docs)
    return _FsView(collections, new_id=nedb.new_id, session_ttl=session_ttl)


def open_source(target: Target, raw: RawStore | None) -> Any:
    if target.type == "fs" and raw is not None:
        ttl = (target.entry.get("options") or {}).get("sessionTtl", 86400)
        return fs_view(raw, ttl)
    from sinkkit.core.config import open_sink

    return open_sink([target.entry])
