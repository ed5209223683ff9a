"""A Sink written from scratch on ``sinkkit.core.base.SinkBase``, over plain dicts.

What an adapter must write is exactly the abstract methods ``SinkBase`` inherits from
``sinkkit.core.primitives``; the base derives the other public methods (authorise / reject /
cancel, the four permission changes, the five user lookups) and checks every input before a
primitive sees it. Here that is:

* pushes: ``_write_audit``, ``_get_push``, ``_get_pushes``, ``_profile_pushes``,
  ``get_repo_push_rollups_by_canonical_url``, ``_delete_push``, ``_review``
* repos: ``_get_repos``, ``_get_repo``, ``_get_repo_by_url``, ``_get_repo_by_id``,
  ``_create_repo``, ``_update_repo``, ``_permission``, ``_delete_repo``
* users: ``_find``, ``_get_users``, ``_create_user``, ``_update_user``, ``_delete_user``
* keys and ledger: ``_add_public_key``, ``remove_public_key``, ``get_public_keys``,
  ``get_applied_migrations``, ``_record_migration``, ``_unrecord_migration``
* lifecycle: ``session_store``, ``close`` (and a session store, ``SkeletonSessions``)

Storage is one dict per kind, keyed by id, in insertion order; one lock makes every primitive
atomic. Every document handed out is a deep copy, so callers never hold stored state.
"""

from __future__ import annotations

import copy
import threading
import uuid
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
from sinkkit.core.sessions import SessionRules

Doc = dict[str, Any]


def _now() -> str:
    return clock.iso_from_ms(clock.now_ms())


def _sorted(docs: Any, field: str) -> list[Doc]:
    return sorted((copy.deepcopy(d) for d in docs), key=lambda d: (d.get(field, ""), d["_id"]))


class SkeletonSessions(SessionRules):
    """express-session store over a dict of sid -> (session, expires ms)."""

    def __init__(self, lock: threading.RLock, default_ttl: int = 86400):
        super().__init__(default_ttl)
        self._lock, self._rows = lock, {}

    def _live(self) -> dict[str, tuple[Doc, int]]:
        return {sid: row for sid, row in self._rows.items() if not self.expired(row[1])}

    def get(self, sid: str) -> Doc | None:
        sid = self.check_sid(sid)
        with self._lock:
            row = self._live().get(sid)
            return copy.deepcopy(row[0]) if row else None

    def set(self, sid: str, sess: Doc) -> None:
        sid, sess = self.check_sid(sid), self.check_session(sess)
        with self._lock:
            self._rows[sid] = (sess, self.expiry(sess))

    def touch(self, sid: str, sess: Doc) -> None:
        sid, sess = self.check_sid(sid), self.check_session(sess)
        with self._lock:
            if sid in self._live():
                self._rows[sid] = (self._rows[sid][0], self.expiry(sess))

    def destroy(self, sid: str) -> None:
        sid = self.check_sid(sid)
        with self._lock:
            self._rows.pop(sid, None)

    def all(self) -> dict[str, Doc]:
        with self._lock:
            return {sid: copy.deepcopy(row[0]) for sid, row in self._live().items()}

    def length(self) -> int:
        with self._lock:
            return len(self._live())

    def clear(self) -> None:
        with self._lock:
            self._rows.clear()

    def prune(self) -> int:
        with self._lock:
            live = self._live()
            gone = len(self._rows) - len(live)
            self._rows = live
            return gone


class SkeletonSink(SinkBase):
    def __init__(self, session_ttl: int = 86400):
        self._pushes: dict[str, Doc] = {}
        self._repos: dict[str, Doc] = {}
        self._users: dict[str, Doc] = {}
        self._migrations: dict[str, str] = {}  # id -> appliedAt
        self._closed = False
        self._lock_ = threading.RLock()
        self._sessions = SkeletonSessions(self._lock_, session_ttl)

    @property
    def _lock(self) -> threading.RLock:
        if self._closed:
            raise Unavailable("skeleton sink is closed")
        return self._lock_

    @property
    def session_store(self) -> SkeletonSessions:
        with self._lock:
            return self._sessions

    def close(self) -> None:
        self._closed = True

    # -- pushes --------------------------------------------------------------------------------

    def _write_audit(self, doc: Doc) -> None:
        with self._lock:
            self._pushes[doc["id"]] = doc

    def _get_push(self, id: str) -> Doc | None:
        with self._lock:
            return copy.deepcopy(self._pushes.get(id))

    def _listing(self, keep: Any) -> list[Doc]:
        with self._lock:
            found = sorted(filter(keep, self._pushes.values()), key=views.push_sort_key,
                           reverse=True)
            return [views.list_view(p) for p in found]

    def _get_pushes(self, query: Doc) -> list[Doc]:
        return self._listing(lambda p: queries.matches(p, query))

    def _profile_pushes(self, variants: list[str], username: str) -> list[Doc]:
        return self._listing(lambda p: queries.profile_matches(p, variants, username))

    def get_repo_push_rollups_by_canonical_url(self) -> Doc:
        rollups = views.empty_rollups()
        with self._lock:
            for push in self._pushes.values():
                views.add_to_rollups(rollups, push)
        return rollups

    def _delete_push(self, id: str) -> None:
        with self._lock:
            self._pushes.pop(id, None)

    def _review(self, id: str, action: str, changes: Doc) -> None:
        with self._lock:
            if id not in self._pushes:
                raise PushNotFound(id)
            self._pushes[id].update(changes)

    # -- repos ---------------------------------------------------------------------------------

    def _get_repos(self, query: Doc) -> list[Doc]:
        with self._lock:
            return _sorted((r for r in self._repos.values() if queries.matches(r, query)), "name")

    def _get_repo(self, name: str) -> Doc | None:
        with self._lock:
            found = _sorted((r for r in self._repos.values() if r["name"] == name), "name")
            return found[0] if found else None

    def _get_repo_by_url(self, url: str) -> Doc | None:
        with self._lock:
            return next((copy.deepcopy(r) for r in self._repos.values() if r["url"] == url), None)

    def _get_repo_by_id(self, _id: str) -> Doc | None:
        with self._lock:
            return copy.deepcopy(self._repos.get(_id))

    def _url_free(self, url: str, own_id: str | None) -> None:
        if any(r["url"] == url and r["_id"] != own_id for r in self._repos.values()):
            raise DuplicateRepo("url", url)

    def _create_repo(self, doc: Doc) -> Doc:
        with self._lock:
            doc.setdefault("_id", uuid.uuid4().hex)
            if doc["_id"] in self._repos:
                raise DuplicateRepo("_id", doc["_id"])
            self._url_free(doc["url"], None)
            doc["dateCreated"] = doc["lastModified"] = _now()
            self._repos[doc["_id"]] = doc
            return copy.deepcopy(doc)

    def _change(self, _id: str, change: Any) -> Doc:
        with self._lock:
            if _id not in self._repos:
                raise RepoNotFound(_id)
            repo = copy.deepcopy(self._repos[_id])
            change(repo)
            prev = repo.get("lastModified")  # absent on a repo git-proxy wrote itself
            floor = clock.ms_from_iso(prev) + 1 if isinstance(prev, str) else 0
            repo["lastModified"] = clock.iso_from_ms(max(clock.now_ms(), floor))
            self._repos[_id] = repo
            return copy.deepcopy(repo)

    def _update_repo(self, _id: str, fields: Doc) -> Doc:
        def apply(repo: Doc) -> None:
            if "url" in fields:
                self._url_free(fields["url"], _id)
            repo.update(fields)
        return self._change(_id, apply)

    def _permission(self, _id: str, role: str, name: str, add: bool) -> None:
        def apply(repo: Doc) -> None:
            names = list(repo.setdefault("users", {}).get(role) or [])
            if add and name not in names:
                names.append(name)
            repo["users"][role] = names if add else [n for n in names if n != name]
        self._change(_id, apply)

    def _delete_repo(self, _id: str) -> None:
        with self._lock:
            self._repos.pop(_id, None)

    # -- users ---------------------------------------------------------------------------------

    def _stored(self, field: str, value: str) -> Doc | None:
        """The stored user itself (not a copy), the first whose ``field`` is ``value``."""
        def holds(user: Doc) -> bool:
            if field == "publicKeys.key":
                return any(k.get("key") == value for k in user.get("publicKeys") or [])
            return user.get(field) == value

        with self._lock:
            return next((u for u in self._users.values() if holds(u)), None)

    def _find(self, field: str, value: str) -> Doc | None:
        return copy.deepcopy(self._stored(field, value))

    def _get_users(self, query: Doc) -> list[Doc]:
        with self._lock:
            return _sorted((u for u in self._users.values() if queries.matches(u, query)),
                           "username")

    def _unique(self, user: Doc) -> None:
        for other in self._users.values():
            if other["_id"] == user["_id"]:
                continue
            if other["username"] == user["username"]:
                raise DuplicateUser("username", user["username"])
            if user.get("email") and other.get("email") == user["email"]:
                raise DuplicateUser("email", user["email"])

    def _create_user(self, doc: Doc) -> Doc:
        with self._lock:
            doc.setdefault("_id", uuid.uuid4().hex)
            if doc["_id"] in self._users:
                raise DuplicateUser("_id", doc["_id"])
            self._unique(doc)
            self._users[doc["_id"]] = doc
            return copy.deepcopy(doc)

    def _update_user(self, fields: Doc) -> Doc:
        with self._lock:
            current = self._users.get(fields.get("_id"))
            if current is None and "username" in fields:
                current = self._stored("username", fields["username"])
            if current is not None:
                merged = {"publicKeys": [], **copy.deepcopy(current), **fields,
                          "_id": current["_id"]}
            elif "username" in fields:
                merged = rules.normalise_new_user(fields)
                merged.setdefault("_id", uuid.uuid4().hex)
            else:
                raise UserNotFound(fields.get("_id"))
            self._unique(merged)
            self._users[merged["_id"]] = merged
            return copy.deepcopy(merged)

    def _delete_user(self, username: str) -> None:
        with self._lock:
            user = self._stored("username", username)
            if user is not None:
                del self._users[user["_id"]]

    def _named(self, username: Any) -> Doc:
        user = self._stored("username", username.lower()) if rules.is_plain_id(username) else None
        if user is None:
            raise UserNotFound(username)
        return user

    def _add_public_key(self, username: str, record: Doc) -> None:
        with self._lock:
            user = self._named(username)
            for other in self._users.values():
                if other is not user and any(k.get("key") == record["key"]
                                             for k in other.get("publicKeys") or []):
                    raise DuplicateSSHKey(other["username"])
            keys = user.setdefault("publicKeys", [])
            if any(k.get("key") == record["key"] or k.get("fingerprint") == record["fingerprint"]
                   for k in keys):
                raise PublicKeyExists(user["username"], record["fingerprint"])
            keys.append(record)

    def remove_public_key(self, username: str, fingerprint: str) -> None:
        with self._lock:
            user = self._named(username)
            keys = user.get("publicKeys") or []
            user["publicKeys"] = [k for k in keys if k.get("fingerprint") != fingerprint]

    def get_public_keys(self, username: str) -> list[Doc]:
        with self._lock:
            return copy.deepcopy(list(self._named(username).get("publicKeys") or []))

    # -- migrations ledger ---------------------------------------------------------------------

    def get_applied_migrations(self) -> list[str]:
        with self._lock:
            return list(self._migrations)

    def _record_migration(self, migration_id: str) -> None:
        with self._lock:
            self._migrations.setdefault(migration_id, _now())

    def _unrecord_migration(self, migration_id: str) -> None:
        with self._lock:
            self._migrations.pop(migration_id, None)


def open_skeleton_sink(entry: dict[str, Any] | None = None) -> SkeletonSink:
    """Entry point for ``type: skeleton`` (``options.sessionTtl`` in seconds)."""
    options = (entry or {}).get("options") or {}
    return SkeletonSink(session_ttl=int(options.get("sessionTtl", 86400)))
