"""The reference model: the simplest executable statement of the contract.

``DocumentSink`` writes ``SinkBase``'s primitives over plain collections of documents under one
lock, so each operation is atomic. It is the model the stateful tests compare every adapter
against; the ``memory`` adapter (``sinkkit.adapters.memory``) is this model as a Sink, and the fs
adapter reuses it with collections that journal every change to NeDB datafiles.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from sinkkit.conformance.errors import (
    DuplicateRepo,
    DuplicateSSHKey,
    DuplicateUser,
    PublicKeyExists,
    PushNotFound,
    RepoNotFound,
    Unavailable,
    UserNotFound,
)
from sinkkit.core import clock, queries, rules, views
from sinkkit.core.base import SinkBase
from sinkkit.core.copying import plain_copy
from sinkkit.core.sessions import SessionRules

Document = dict[str, Any]


class Collection:
    """Documents by key, in insertion order. Subclasses make ``put``/``remove`` durable."""

    def __init__(self, docs: dict[str, Document] | None = None):
        self.docs: dict[str, Document] = docs if docs is not None else {}

    def __iter__(self) -> Iterator[Document]:
        return iter(list(self.docs.values()))

    def get(self, key: str) -> Document | None:
        return self.docs.get(key)

    def put(self, key: str, doc: Document) -> None:
        self.docs[key] = doc

    def remove(self, key: str) -> None:
        self.docs.pop(key, None)

    def where(self, query: Mapping[str, Any]) -> Iterable[Document]:
        """The documents that may match the equality ``query``: a superset, which callers still
        filter, in collection order. Here every document; an indexed collection narrows it."""
        return self.where_any([query])

    def where_any(self, queries: Sequence[Mapping[str, Any]]) -> Iterable[Document]:
        """The documents that may match any of ``queries`` (a superset, in collection order)."""
        return iter(self)

    def clear(self) -> None:
        for key in list(self.docs):
            self.remove(key)

    def close(self) -> None:
        """Release resources; nothing to do in memory."""


class MemorySessionStore(SessionRules):
    """express-session store over a Collection of ``{_id: sid, session, expires}`` records."""

    def __init__(self, records: Collection, lock: threading.RLock, default_ttl: int = 86400):
        super().__init__(default_ttl)
        self._records = records
        self._lock = lock

    def get(self, sid: str) -> Document | None:
        sid = self.check_sid(sid)
        with self._lock:
            rec = self._records.get(sid)
            if rec is None or self.expired(rec["expires"]):
                return None
            return plain_copy(rec["session"])

    def set(self, sid: str, sess: Document) -> None:
        sid = self.check_sid(sid)
        sess = self.check_session(sess)
        with self._lock:
            self._records.put(sid, {"_id": sid, "session": sess, "expires": self.expiry(sess)})

    def destroy(self, sid: str) -> None:
        sid = self.check_sid(sid)
        with self._lock:
            self._records.remove(sid)

    def touch(self, sid: str, sess: Document) -> None:
        sid = self.check_sid(sid)
        sess = self.check_session(sess)
        with self._lock:
            rec = self._records.get(sid)
            if rec is None or self.expired(rec["expires"]):
                return
            self._records.put(sid, {**rec, "expires": self.expiry(sess)})

    def all(self) -> dict[str, Document]:
        with self._lock:
            return {
                r["_id"]: plain_copy(r["session"])
                for r in self._records
                if not self.expired(r["expires"])
            }

    def length(self) -> int:
        with self._lock:
            return sum(1 for r in self._records if not self.expired(r["expires"]))

    def clear(self) -> None:
        with self._lock:
            self._records.clear()

    def prune(self) -> int:
        with self._lock:
            stale = [r["_id"] for r in self._records if self.expired(r["expires"])]
            for sid in stale:
                self._records.remove(sid)
            return len(stale)


class DocumentSink(SinkBase):
    """Every Sink rule over four Collections and a session store, one lock around each call."""

    collection_names = ("users", "repos", "pushes", "migrations", "sessions")

    def __init__(
        self,
        collections: dict[str, Collection] | None = None,
        new_id: Callable[[], str] = lambda: uuid.uuid4().hex,
        session_ttl: int = 86400,
        lock: threading.RLock | None = None,
    ):
        cols = collections or {name: Collection() for name in self.collection_names}
        self._users, self._repos, self._pushes = cols["users"], cols["repos"], cols["pushes"]
        self._migrations = cols["migrations"]
        self._collections = cols
        self._new_id = new_id
        # an adapter may pass a lock that does more on release (the fs adapter's group commit)
        self._lock = lock if lock is not None else threading.RLock()
        self._closed = False
        self._sessions = MemorySessionStore(cols["sessions"], self._lock, session_ttl)

    # -- lifecycle -----------------------------------------------------------------------------

    def _open(self) -> threading.RLock:
        if self._closed:
            raise Unavailable(f"{type(self).__name__} is closed")
        return self._lock

    @property
    def session_store(self) -> MemorySessionStore:
        self._open()
        return self._sessions

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                for col in self._collections.values():
                    col.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {'closed' if self._closed else 'open'}>"

    # -- pushes --------------------------------------------------------------------------------

    def _write_audit(self, doc: Document) -> None:
        with self._open():
            self._pushes.put(doc["id"], doc)

    def _get_push(self, id: str) -> Document | None:
        with self._open():
            return plain_copy(self._pushes.get(id))  # None stays None

    def _listing(self, keep: Callable[[Document], bool],
                 candidates: Iterable[Document] | None = None) -> list[Document]:
        with self._open():
            found = [p for p in (self._pushes if candidates is None else candidates) if keep(p)]
            found.sort(key=views.push_sort_key, reverse=True)
            return [views.list_view(p) for p in found]

    def _get_pushes(self, query: Document) -> list[Document]:
        with self._open():
            return self._listing(lambda p: queries.matches(p, query), self._pushes.where(query))

    def _profile_pushes(self, variants: list[str], username: str) -> list[Document]:
        return self._listing(lambda p: queries.profile_matches(p, variants, username))

    def get_repo_push_rollups_by_canonical_url(self) -> Document:
        rollups = views.empty_rollups()
        with self._open():
            for push in self._pushes:
                views.add_to_rollups(rollups, push)
        return rollups

    def _delete_push(self, id: str) -> None:
        with self._open():
            self._pushes.remove(id)

    def _review(self, id: str, action: str, changes: Document) -> None:
        with self._open():
            push = self._pushes.get(id)
            if push is None:
                raise PushNotFound(id)
            self._pushes.put(id, {**push, **changes})

    # -- repos ---------------------------------------------------------------------------------

    def _sorted(self, docs: Iterable[Document], field: str) -> list[Document]:
        return sorted((plain_copy(x) for x in docs), key=lambda x: (x.get(field, ""), x["_id"]))

    def _get_repos(self, query: Document) -> list[Document]:
        with self._open():
            return self._sorted((r for r in self._repos.where(query)
                                 if queries.matches(r, query)), "name")

    def _get_repo(self, name: str) -> Document | None:
        with self._open():
            found = self._sorted((r for r in self._repos.where({"name": name})
                                  if r["name"] == name), "name")
            return found[0] if found else None

    def _get_repo_by_url(self, url: str) -> Document | None:
        with self._open():
            for repo in self._repos.where({"url": url}):
                if repo["url"] == url:
                    return plain_copy(repo)
        return None

    def _get_repo_by_id(self, _id: str) -> Document | None:
        with self._open():
            return plain_copy(self._repos.get(_id))  # None stays None

    def _check_repo_url_free(self, url: str, own_id: str | None) -> None:
        for other in self._repos.where({"url": url}):
            if other["url"] == url and other["_id"] != own_id:
                raise DuplicateRepo("url", url)

    def _create_repo(self, doc: Document) -> Document:
        with self._open():
            doc.setdefault("_id", self._new_id())
            if self._repos.get(doc["_id"]) is not None:
                raise DuplicateRepo("_id", doc["_id"])
            self._check_repo_url_free(doc["url"], None)
            stamp = clock.iso_from_ms(clock.now_ms())
            doc["dateCreated"] = doc["lastModified"] = stamp
            self._repos.put(doc["_id"], doc)
            return plain_copy(doc)

    def _change_repo(self, _id: str, change: Callable[[Document], None]) -> Document:
        with self._open():
            repo = self._repos.get(_id)
            if repo is None:
                raise RepoNotFound(_id)
            repo = plain_copy(repo)
            change(repo)
            # repos written by git-proxy itself may carry no lastModified yet
            prev = repo.get("lastModified")
            floor = clock.ms_from_iso(prev) + 1 if isinstance(prev, str) else 0
            repo["lastModified"] = clock.iso_from_ms(max(clock.now_ms(), floor))
            self._repos.put(_id, repo)
            return plain_copy(repo)

    def _update_repo(self, _id: str, fields: Document) -> Document:
        def apply(repo: Document) -> None:
            if "url" in fields:
                self._check_repo_url_free(fields["url"], _id)
            repo.update(fields)

        return self._change_repo(_id, apply)

    def _permission(self, _id: str, role: str, name: str, add: bool) -> None:
        def apply(repo: Document) -> None:
            users = repo.setdefault("users", {})
            names = list(users.get(role) or [])
            if add and name not in names:
                names.append(name)
            users[role] = names if add else [n for n in names if n != name]

        self._change_repo(_id, apply)

    def _delete_repo(self, _id: str) -> None:
        with self._open():
            self._repos.remove(_id)

    # -- users ---------------------------------------------------------------------------------

    def _stored_user(self, field: str, value: str) -> Document | None:
        """The stored user itself (not a copy): the first whose ``field`` is ``value``."""
        with self._open():
            for user in self._users.where({field: value}):
                if field == "publicKeys.key":
                    if any(k.get("key") == value for k in user.get("publicKeys") or []):
                        return user
                elif user.get(field) == value:
                    return user
        return None

    def _find(self, field: str, value: str) -> Document | None:
        return plain_copy(self._stored_user(field, value))

    def _user_named(self, username: Any) -> Document | None:
        """The stored user ``username`` names, folded as the public lookups fold it."""
        if not rules.is_plain_id(username):
            return None
        return self._stored_user("username", username.lower())

    def _get_users(self, query: Document) -> list[Document]:
        with self._open():
            return self._sorted((u for u in self._users.where(query)
                                 if queries.matches(u, query)), "username")

    def _check_user_unique(self, user: Document) -> None:
        probes = [{"username": user["username"]}]
        if user.get("email"):
            probes.append({"email": user["email"]})
        for other in self._users.where_any(probes):
            if other["_id"] == user["_id"]:
                continue
            if other["username"] == user["username"]:
                raise DuplicateUser("username", user["username"])
            if user.get("email") and other.get("email") == user["email"]:
                raise DuplicateUser("email", user["email"])

    def _create_user(self, doc: Document) -> Document:
        with self._open():
            doc.setdefault("_id", self._new_id())
            if self._users.get(doc["_id"]) is not None:
                raise DuplicateUser("_id", doc["_id"])
            self._check_user_unique(doc)
            self._users.put(doc["_id"], doc)
            return plain_copy(doc)

    def _update_user(self, fields: Document) -> Document:
        with self._open():
            current = self._users.get(fields["_id"]) if "_id" in fields else None
            if current is None and "username" in fields:
                current = self._user_named(fields["username"])
            if current is None:
                if "username" not in fields:
                    raise UserNotFound(fields.get("_id"))
                merged = rules.normalise_new_user(fields)
                merged.setdefault("_id", self._new_id())
            else:
                # stored documents are replaced, never edited in place, so sharing the nested
                # values of the one this replaces is safe; ``fields`` is already the rules' copy
                merged = {**current, **fields, "_id": current["_id"]}
                merged.setdefault("publicKeys", [])
            self._check_user_unique(merged)
            self._users.put(merged["_id"], merged)
            return plain_copy(merged)

    def _delete_user(self, username: str) -> None:
        with self._open():
            user = self._stored_user("username", username)
            if user is not None:
                self._users.remove(user["_id"])

    # -- public keys ---------------------------------------------------------------------------

    def _user_or_raise(self, username: str) -> Document:
        user = self._user_named(username)
        if user is None:
            raise UserNotFound(username)
        return user

    def _add_public_key(self, username: str, record: Document) -> None:
        with self._open():
            user = self._user_or_raise(username)
            for other in self._users.where({"publicKeys.key": record["key"]}):
                if other["_id"] != user["_id"] and any(
                    k.get("key") == record["key"] for k in other.get("publicKeys") or []
                ):
                    raise DuplicateSSHKey(other["username"])
            keys = list(user.get("publicKeys") or [])
            for held in keys:
                if held.get("key") == record["key"] or held.get("fingerprint") == record[
                    "fingerprint"
                ]:
                    raise PublicKeyExists(user["username"], record["fingerprint"])
            self._users.put(user["_id"], {**user, "publicKeys": [*keys, record]})

    def remove_public_key(self, username: str, fingerprint: str) -> None:
        with self._open():
            user = self._user_or_raise(username)
            keys = [k for k in user.get("publicKeys") or [] if k.get("fingerprint") != fingerprint]
            if len(keys) != len(user.get("publicKeys") or []):
                self._users.put(user["_id"], {**user, "publicKeys": keys})

    def get_public_keys(self, username: str) -> list[Document]:
        with self._open():
            return plain_copy(list(self._user_or_raise(username).get("publicKeys") or []))

    # -- migrations ledger ---------------------------------------------------------------------

    def get_applied_migrations(self) -> list[str]:
        with self._open():
            return [m["_id"] for m in self._migrations]

    def _record_migration(self, migration_id: str) -> None:
        with self._open():
            if self._migrations.get(migration_id) is None:
                applied_at = clock.iso_from_ms(clock.now_ms())
                self._migrations.put(migration_id, {"_id": migration_id, "appliedAt": applied_at})

    def _unrecord_migration(self, migration_id: str) -> None:
        with self._open():
            self._migrations.remove(migration_id)

