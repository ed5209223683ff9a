"""Read a store as it is on disk, without an adapter, and without writing a byte.

A conforming adapter normalises on the way out (a ``null`` permission list reads as ``[]``, a
mixed-case gitAccount reads folded), so an audit through the Sink API would see a clean store
where git-proxy's own code sees a broken one. These readers go under the adapters instead:
NeDB datafiles parsed line by line, SQL rows in a read-only transaction, mongo documents through
``find``. Nothing here opens a file for writing, takes a lock, creates a table or an index.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sinkkit.adapters.fs import nedb
from sinkkit.cli.targets import Target
from sinkkit.conformance.errors import ConfigError, Unavailable
from sinkkit.core.clock import iso_from_ms

Document = dict[str, Any]
KINDS = ("users", "repos", "pushes", "migrations", "sessions")


@dataclass
class RawStore:
    """Every live document of a store, per kind, in the store's own order.

    Dates are ISO strings (as the API carries them); ``_id`` keeps whatever type it is stored
    as, so an audit can see a number or a driver object where a string belongs. Each session is
    ``{"_id": sid, "expiresMs": int | None}``; each ledger entry ``{"id", "appliedAt"}``.
    """

    backend: str
    docs: dict[str, list[Document]] = field(default_factory=lambda: {k: [] for k in KINDS})
    #: types of ``_id`` the backend stores by design beyond strings (mongo's ObjectId)
    native_id_types: tuple[type, ...] = ()
    #: fs only: each datafile's live documents exactly as stored (dates as ISO strings), from
    #: which ``sinkkit.cli.sources`` builds the adapter's view without opening the directory
    disk: dict[str, list[Document]] = field(default_factory=dict)


def read_raw(target: Target) -> RawStore:
    readers = {"fs": read_fs, "postgres": read_postgres, "mongo": read_mongo}
    if target.type not in readers:
        raise ConfigError(f"no raw reader for sink type {target.type!r}: check and the copy "
                          f"report support {', '.join(sorted(readers))}")
    return readers[target.type](target)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return iso_from_ms(nedb.ms_from_datetime(value))
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


# --- fs: NeDB datafiles ---------------------------------------------------------------------------

def _date_hook(obj: dict[str, Any]) -> Any:
    """NeDB's reviver, straight to the API's form: ``{"$$date": ms}`` is an ISO string."""
    if "$$date" in obj:
        ms = obj["$$date"]
        if isinstance(ms, bool) or not isinstance(ms, (int, float)):
            raise ValueError("$$date must be a number of milliseconds")
        return iso_from_ms(int(ms))
    return obj


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # JSON.parse refuses NaN and Infinity too


def nedb_live_docs(path: Path) -> list[Document]:
    """The live documents of one datafile, by NeDB's rules (later lines supersede, tombstones
    delete), read-only: a missing file is an empty collection, unreadable lines are skipped
    (``check`` is an audit, not a loader; the fs adapter itself refuses a corrupt file).

    Parsed in one pass with a JSON object hook rather than ``nedb.deserialize`` plus a walk:
    the same documents, a third of the time on a 100 000-push file."""
    if not path.exists():
        return []
    live: dict[Any, Document] = {}
    with open(path, "rb") as fh:
        for line in fh:
            if not line.strip():
                continue
            try:
                doc = json.loads(line, object_hook=_date_hook, parse_constant=_no_constant)
            except (ValueError, UnicodeDecodeError, RecursionError):
                continue
            if not isinstance(doc, dict) or not doc.get("_id"):
                continue  # index declarations carry no _id
            try:
                live.pop(doc["_id"], None)
                if doc.get("$$deleted") is not True:
                    live[doc["_id"]] = doc
            except TypeError:
                continue  # an unhashable _id: NeDB counts such a line as corrupt
    return list(live.values())


def read_fs(target: Target) -> RawStore:
    directory = target.fs_directory
    if not directory.is_dir():
        raise Unavailable(f"{directory} is not a directory")
    store = RawStore("fs")
    store.disk = {kind: nedb_live_docs(directory / f"{kind}.db") for kind in KINDS}
    for kind in ("users", "repos", "pushes"):
        store.docs[kind] = store.disk[kind]
    store.docs["migrations"] = [
        {"id": m.get("id", m.get("_id")), "appliedAt": m.get("appliedAt")}
        for m in store.disk["migrations"]]
    store.docs["sessions"] = [
        {"_id": s["_id"], "expiresMs": s.get("expires")} for s in store.disk["sessions"]]
    return store


# --- postgres: rows in a read-only transaction ------------------------------------------------

def read_postgres(target: Target) -> RawStore:
    import psycopg
    from psycopg import sql
    from sinkkit.adapters.postgres.config import parse_entry

    config = parse_entry(target.entry)
    store = RawStore("postgres")
    try:
        # read_only: the server itself refuses any write in this transaction, whatever the role
        with psycopg.connect(config.dsn, connect_timeout=max(2, round(config.connect_timeout)),
                             **config.connect_kwargs) as conn:
            conn.read_only = True
            with conn.transaction():
                def rows(query: sql.Composable, *params: Any) -> Iterator[tuple[Any, ...]]:
                    with conn.cursor(name="sinkkit_raw") as cur:
                        cur.itersize = 5000
                        cur.execute(query, params)
                        yield from cur

                t = lambda name: sql.Identifier(config.schema, name)  # noqa: E731
                present = {r[0] for r in conn.execute(
                    "SELECT c.relname FROM pg_class c JOIN pg_namespace n"
                    " ON n.oid = c.relnamespace WHERE n.nspname = %s",
                    (config.schema,)).fetchall()}
                if not {"users", "repos", "pushes", "sink_migrations"} <= present:
                    return store  # never opened by the adapter: an empty store
                store.docs["users"] = [{**doc, "_id": _id} for _id, doc in rows(
                    sql.SQL("SELECT id, doc FROM {} ORDER BY seq").format(t("users")))]
                store.docs["repos"] = [
                    {**doc, "_id": _id, "dateCreated": iso_from_ms(c),
                     "lastModified": iso_from_ms(m)}
                    for _id, doc, c, m in rows(sql.SQL(
                        "SELECT id, doc, created_ms, modified_ms FROM {} ORDER BY seq"
                    ).format(t("repos")))]
                # the row key is what the adapter calls the push's _id
                store.docs["pushes"] = [{**doc, "_id": _id} for _id, doc in rows(
                    sql.SQL("SELECT id, doc FROM {} ORDER BY id").format(t("pushes")))]
                store.docs["migrations"] = [
                    {"id": mid, "appliedAt": applied} for mid, applied in rows(sql.SQL(
                        "SELECT id, applied_at FROM {} ORDER BY seq").format(
                            t("sink_migrations")))]
                store.docs["sessions"] = [
                    {"_id": sid, "expiresMs": int(ms)} for sid, ms in rows(sql.SQL(
                        "SELECT sid, round(extract(epoch FROM expire::timestamptz) * 1000)"
                        " FROM {} ORDER BY sid").format(
                            sql.Identifier(config.session_schema, config.session_table)))]
    except psycopg.Error as exc:
        raise Unavailable(config.safe(f"cannot read {config.masked_dsn}: "
                                      f"{type(exc).__name__}: {exc}".rstrip())) from None
    return store


# --- mongo: find() on each collection ---------------------------------------------------------

def read_mongo(target: Target) -> RawStore:
    import pymongo
    from bson import ObjectId
    from sinkkit.adapters.mongo.config import settings_from_entry
    from sinkkit.adapters.mongo.driver import driver_errors
    from sinkkit.adapters.mongo.sessions import COLLECTION as SESSIONS

    settings = settings_from_entry(target.entry)
    # ObjectId is how the mongo adapter (and git-proxy) store user and repo ids by design
    store = RawStore("mongo", native_id_types=(ObjectId,))
    with driver_errors(settings.masker, f"reading {settings.display_url}"):
        client = pymongo.MongoClient(settings.url, **settings.client_options)
        try:
            db = client[settings.database]
            for kind in ("users", "repos", "pushes"):
                store.docs[kind] = [_plain(doc) for doc in db[kind].find({})]
            store.docs["migrations"] = [
                {"id": m.get("id", m.get("_id")), "appliedAt": _plain(m.get("appliedAt"))}
                for m in db["migrations"].find({})]
            store.docs["sessions"] = [
                {"_id": s["_id"], "expiresMs": _ms(s.get("expires"))}
                for s in db[SESSIONS].find({}, {"expires": 1})]
        finally:
            client.close()
    return store


def _ms(value: Any) -> int | None:
    if isinstance(value, datetime):
        return nedb.ms_from_datetime(value)
    return None


def dumps_id(value: Any) -> str:
    """An ``_id`` of any type, as a finding names it: JSON for JSON values, else ``str`` (a
    driver's ObjectId shows as its hex, the form every API hands out)."""
    if isinstance(value, str):
        return value
    if value is None or isinstance(value, (bool, int, float, list, dict)):
        return json.dumps(value, default=str)
    return str(value)
