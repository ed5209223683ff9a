"""The UI session store, in the collection and document shape connect-mongo uses for git-proxy.

git-proxy builds ``new MongoStore({mongoUrl, collectionName: 'user_session', mongoOptions})``,
i.e. connect-mongo's defaults otherwise: ``stringify: true`` (the session is stored as its
``JSON.stringify`` text), ``autoRemove: 'native'`` (a TTL index ``{expires: 1}`` with
``expireAfterSeconds: 0``, named ``expires_1``). A document is therefore
``{_id: sid, session: "<json>", expires: Date}`` — what this store reads and writes, so a Node
git-proxy and this adapter share sessions. Expiry follows express-session as in
``sinkkit.core.sessions``; an expired document is invisible before the TTL monitor
(which runs once a minute on a server) gets to it.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from pymongo.collection import Collection
from sinkkit.adapters.mongo.driver import driver_errors, retry_upsert
from sinkkit.adapters.mongo.masking import Masker
from sinkkit.conformance.errors import InvalidDocument, Unavailable
from sinkkit.core.sessions import SessionRules, now_ms

COLLECTION = "user_session"
TTL_INDEX_NAME = "expires_1"  # connect-mongo's createIndex({expires: 1}) gets this default name

# BSON dates hold any int64 of ms, Python datetimes only years 1..9999; clamping keeps every
# expiry on the same side of "now", which is all a session store asks of it.
_MIN_MS, _MAX_MS = -62135596800000, 253402300799999


def ms_to_date(ms: int) -> datetime:
    ms = min(max(int(ms), _MIN_MS), _MAX_MS)
    return datetime.fromtimestamp(ms // 1000, tz=timezone.utc).replace(
        microsecond=(ms % 1000) * 1000)


def serialise(sess: dict[str, Any]) -> str:
    """``JSON.stringify`` as Node writes it: compact separators, non-ASCII kept as is."""
    return json.dumps(sess, separators=(",", ":"), ensure_ascii=False)


def deserialise(stored: Any) -> dict[str, Any]:
    """The session of a stored document: JSON text (stringify: true) or an object (false)."""
    if isinstance(stored, str):
        return json.loads(stored)
    return _revive(stored) if isinstance(stored, dict) else {}


def _revive(value: Any) -> Any:
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        return aware.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if isinstance(value, dict):
        return {k: _revive(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_revive(v) for v in value]
    return value


def ensure_session_indexes(collection: Collection) -> None:
    collection.create_index([("expires", 1)], name=TTL_INDEX_NAME, expireAfterSeconds=0)


class MongoSessionStore(SessionRules):
    """express-session's store API over connect-mongo's ``user_session`` documents."""

    def __init__(self, collection: Collection, masker: Masker, default_ttl: int,
                 is_open: Any = lambda: True):
        super().__init__(default_ttl)
        self._col = collection
        self._mask = masker
        self._is_open = is_open

    def _call(self, doing: str) -> Any:
        if not self._is_open():
            raise Unavailable("mongo session store is closed")
        return driver_errors(self._mask, f"session {doing}")

    @staticmethod
    def _alive() -> dict[str, Any]:
        # connect-mongo's own filter: a document without ``expires`` never expires
        return {"$or": [{"expires": {"$exists": False}},
                        {"expires": {"$gt": ms_to_date(now_ms())}}]}

    def get(self, sid: str) -> dict[str, Any] | None:
        sid = self.check_sid(sid)
        with self._call("get"):
            doc = self._col.find_one({"_id": {"$eq": sid}, **self._alive()})
        return deserialise(doc["session"]) if doc is not None else None

    def set(self, sid: str, sess: dict[str, Any]) -> None:
        sid = self.check_sid(sid)
        sess = self.check_session(sess)
        fields = {"session": serialise(sess), "expires": ms_to_date(self.expiry(sess))}
        with self._call("set"):
            retry_upsert(lambda: self._col.update_one({"_id": {"$eq": sid}}, {"$set": fields},
                                                      upsert=True))

    def destroy(self, sid: str) -> None:
        sid = self.check_sid(sid)
        with self._call("destroy"):
            self._col.delete_one({"_id": {"$eq": sid}})

    def touch(self, sid: str, sess: dict[str, Any]) -> None:
        sid = self.check_sid(sid)
        sess = self.check_session(sess)
        try:
            expires = ms_to_date(self.expiry(sess))
        except InvalidDocument:
            # the reference reads the cookie only for a live session: a touch of a missing or
            # expired one is a silent no-op even when the new expiry is unreadable
            if self.get(sid) is None:
                return
            raise
        with self._call("touch"):
            self._col.update_one({"_id": {"$eq": sid}, **self._alive()},
                                 {"$set": {"expires": expires}})

    def all(self) -> dict[str, dict[str, Any]]:
        with self._call("all"):
            docs = list(self._col.find(self._alive()))
        return {doc["_id"]: deserialise(doc.get("session")) for doc in docs}

    def length(self) -> int:
        with self._call("length"):
            return self._col.count_documents(self._alive())

    def clear(self) -> None:
        # delete, not drop (as connect-mongo does): dropping would also drop the TTL index
        with self._call("clear"):
            self._col.delete_many({})

    def prune(self) -> int:
        with self._call("prune"):
            res = self._col.delete_many({"expires": {"$lte": ms_to_date(now_ms())}})
        return res.deleted_count
