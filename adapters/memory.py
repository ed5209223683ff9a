"""The memory adapter: the simplest executable statement of the contract.

``DocumentSink`` holds every rule over plain collections of documents under one lock, so each
operation is atomic. It is the model the stateful tests compare other adapters against, and the
fs adapter reuses it with collections that journal every change to NeDB datafiles.
"""

from __future__ import annotations

import copy
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from sinkkit.conformance.errors import (
    DuplicateRepo,
    DuplicateSSHKey,
    DuplicateUser,
    InvalidDocument,
    PublicKeyExists,
    PushNotFound,
    RepoNotFound,
    Unavailable,
    UserNotFound,
)
from sinkkit.core import clock, queries, rules, views
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

    def _load(self, sid: str) -> Document | None:
        return self._records.get(sid)

    def get(self, sid: str) -> Document | None:
        sid = self.check_sid(sid)
        with self._lock:
            rec = self._records.get(sid)
            if rec is None or self.expired(rec["expires"]):
                return None
            return copy.deepcopy(rec["session"])

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
                r["_id"]: copy.deepcopy(r["session"])
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


class DocumentSink:
    """Every Sink rule over four Collections and a session store, one lock around each call."""

    collection_names = ("users", "repos", "pushes", "migrations", "sessions")

    def __init__(
        self,
        collections: dict[str, Collection] | None = None,
        new_id: Callable[[], str] = lambda: uuid.uuid4().hex,
        session_ttl: int = 86400,
    ):
        cols = collections or {name: Collection() for name in self.collection_names}
        self._users, self._repos, self._pushes = cols["users"], cols["repos"], cols["pushes"]
        self._migrations = cols["migrations"]
        self._collections = cols
        self._new_id = new_id
        self._lock = threading.RLock()
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

    def write_audit(self, push: Document) -> None:
        doc = rules.check_push(push)
        with self._open():
            self._pushes.put(doc["id"], doc)

    def get_push(self, id: str) -> Document | None:
        if not rules.is_plain_id(id):
            return None
        with self._open():
            doc = self._pushes.get(id)
            return copy.deepcopy(doc) if doc is not None else None

    def _listing(self, keep: Callable[[Document], bool]) -> list[Document]:
        with self._open():
            found = [p for p in self._pushes if keep(p)]
            found.sort(key=views.push_sort_key, reverse=True)
            return [views.list_view(p) for p in found]

    def get_pushes(self, query: Document | None = None) -> list[Document]:
        q = queries.normalise_query("push", query)
        return self._listing(lambda p: queries.matches(p, q))

    def get_pushes_for_user_profile(
        self, email_variants: list[str], username: str
    ) -> list[Document]:
        variants, name = queries.check_profile_args(email_variants, username)
        return self._listing(lambda p: queries.profile_matches(p, variants, name))

    def get_repo_push_rollups_by_canonical_url(self) -> Document:
        rollups = views.empty_rollups()
        with self._open():
            for push in self._pushes:
                views.add_to_rollups(rollups, push)
        return rollups

    def delete_push(self, id: str) -> None:
        if not rules.is_plain_id(id):
            return
        with self._open():
            self._pushes.remove(id)

    def _review(self, id: str, action: str, changes: Document) -> Document:
        rules.check_id("push id", id)
        with self._open():
            push = self._pushes.get(id)
            if push is None:
                raise PushNotFound(id)
            self._pushes.put(id, {**push, **changes})
        return views.review_message(action, id)

    def authorise(self, id: str, attestation: Any) -> Document:
        attestation = rules.check_payload("attestation", attestation)
        changes = {"authorised": True, "canceled": False, "rejected": False,
                   "attestation": attestation}
        return self._review(id, "authorised", changes)

    def reject(self, id: str, rejection: Any) -> Document:
        rejection = rules.check_payload("rejection", rejection)
        changes = {"authorised": False, "canceled": False, "rejected": True, "rejection": rejection}
        return self._review(id, "rejected", changes)

    def cancel(self, id: str) -> Document:
        return self._review(id, "canceled", {"authorised": False, "canceled": True,
                                             "rejected": False})

    # -- repos ---------------------------------------------------------------------------------

    def _sorted(self, docs: Iterable[Document], field: str) -> list[Document]:
        return sorted((copy.deepcopy(x) for x in docs), key=lambda x: (x.get(field, ""), x["_id"]))

    def get_repos(self, query: Document | None = None) -> list[Document]:
        q = queries.normalise_query("repo", query)
        with self._open():
            return self._sorted((r for r in self._repos if queries.matches(r, q)), "name")

    def get_repo(self, name: str) -> Document | None:
        if not isinstance(name, str):
            return None
        with self._open():
            found = self._sorted((r for r in self._repos if r["name"] == name.lower()), "name")
            return found[0] if found else None

    def get_repo_by_url(self, url: str) -> Document | None:
        with self._open():
            for repo in self._repos:
                if repo["url"] == url:
                    return copy.deepcopy(repo)
        return None

    def get_repo_by_id(self, _id: str) -> Document | None:
        if not rules.is_plain_id(_id):
            return None
        with self._open():
            repo = self._repos.get(_id)
            return copy.deepcopy(repo) if repo is not None else None

    def _check_repo_url_free(self, url: str, own_id: str | None) -> None:
        for other in self._repos:
            if other["url"] == url and other["_id"] != own_id:
                raise DuplicateRepo("url", url)

    def create_repo(self, repo: Document) -> Document:
        doc = rules.normalise_new_repo(repo)
        with self._open():
            doc.setdefault("_id", self._new_id())
            if self._repos.get(doc["_id"]) is not None:
                raise DuplicateRepo("_id", doc["_id"])
            self._check_repo_url_free(doc["url"], None)
            stamp = clock.iso_from_ms(clock.now_ms())
            doc["dateCreated"] = doc["lastModified"] = stamp
            self._repos.put(doc["_id"], doc)
            return copy.deepcopy(doc)

    def _change_repo(self, _id: str, change: Callable[[Document], None]) -> Document:
        with self._open():
            repo = self._repos.get(_id) if rules.is_plain_id(_id) else None
            if repo is None:
                raise RepoNotFound(_id)
            repo = copy.deepcopy(repo)
            change(repo)
            # repos written by git-proxy itself may carry no lastModified yet
            prev = repo.get("lastModified")
            floor = clock.ms_from_iso(prev) + 1 if isinstance(prev, str) else 0
            repo["lastModified"] = clock.iso_from_ms(max(clock.now_ms(), floor))
            self._repos.put(_id, repo)
            return copy.deepcopy(repo)

    def update_repo(self, _id: str, changes: Document) -> Document:
        fields = rules.normalise_repo_changes(changes)

        def apply(repo: Document) -> None:
            if "url" in fields:
                self._check_repo_url_free(fields["url"], _id)
            repo.update(fields)

        return self._change_repo(_id, apply)

    def _permission(self, _id: str, role: str, user: str, add: bool) -> None:
        name = rules.normalise_username(user)

        def apply(repo: Document) -> None:
            users = repo.setdefault("users", {})
            names = list(users.get(role) or [])
            if add and name not in names:
                names.append(name)
            users[role] = names if add else [n for n in names if n != name]

        self._change_repo(_id, apply)

    def add_user_can_push(self, _id: str, user: str) -> None:
        self._permission(_id, "canPush", user, add=True)

    def add_user_can_authorise(self, _id: str, user: str) -> None:
        self._permission(_id, "canAuthorise", user, add=True)

    def remove_user_can_push(self, _id: str, user: str) -> None:
        self._permission(_id, "canPush", user, add=False)

    def remove_user_can_authorise(self, _id: str, user: str) -> None:
        self._permission(_id, "canAuthorise", user, add=False)

    def delete_repo(self, _id: str) -> None:
        if not rules.is_plain_id(_id):
            return
        with self._open():
            self._repos.remove(_id)

    # -- users ---------------------------------------------------------------------------------

    def _find(self, field: str, value: Any, fold: bool = True) -> Document | None:
        if not isinstance(value, str) or not value:
            return None
        want = value.lower() if fold else value
        with self._open():
            for user in self._users:
                if user.get(field) == want:
                    return user
        return None

    def find_user(self, username: str) -> Document | None:
        return copy.deepcopy(self._find("username", username))

    def find_user_by_email(self, email: str) -> Document | None:
        return copy.deepcopy(self._find("email", email))

    def find_user_by_git_account(self, git_account: str) -> Document | None:
        return copy.deepcopy(self._find("gitAccount", git_account))

    def find_user_by_oidc(self, oidc_id: str) -> Document | None:
        return copy.deepcopy(self._find("oidcId", oidc_id, fold=False))

    def find_user_by_ssh_key(self, key: str) -> Document | None:
        if not isinstance(key, str) or not key:
            return None
        with self._open():
            for user in self._users:
                if any(k.get("key") == key for k in user.get("publicKeys") or []):
                    return copy.deepcopy(user)
        return None

    def get_users(self, query: Document | None = None) -> list[Document]:
        q = queries.normalise_query("user", query)
        with self._open():
            found = self._sorted((u for u in self._users if queries.matches(u, q)), "username")
        return [views.without_password(u) for u in found]

    def _check_user_unique(self, user: Document) -> None:
        for other in self._users:
            if other["_id"] == user["_id"]:
                continue
            if other["username"] == user["username"]:
                raise DuplicateUser("username", user["username"])
            if user.get("email") and other.get("email") == user["email"]:
                raise DuplicateUser("email", user["email"])

    def create_user(self, user: Document) -> Document:
        doc = rules.normalise_new_user(user)
        with self._open():
            doc.setdefault("_id", self._new_id())
            if self._users.get(doc["_id"]) is not None:
                raise DuplicateUser("_id", doc["_id"])
            self._check_user_unique(doc)
            self._users.put(doc["_id"], doc)
            return copy.deepcopy(doc)

    def update_user(self, user: Document) -> Document:
        fields = rules.normalise_user_update(user)
        with self._open():
            current = self._users.get(fields["_id"]) if "_id" in fields else None
            if current is None and "username" in fields:
                current = self._find("username", fields["username"])
            if current is None:
                if "username" not in fields:
                    raise UserNotFound(fields.get("_id"))
                merged = rules.normalise_new_user(fields)
                merged.setdefault("_id", self._new_id())
            else:
                merged = {**copy.deepcopy(current), **fields, "_id": current["_id"]}
                merged.setdefault("publicKeys", [])
            self._check_user_unique(merged)
            self._users.put(merged["_id"], merged)
            return copy.deepcopy(merged)

    def delete_user(self, username: str) -> None:
        with self._open():
            user = self._find("username", username)
            if user is not None:
                self._users.remove(user["_id"])

    # -- public keys ---------------------------------------------------------------------------

    def _user_or_raise(self, username: str) -> Document:
        user = self._find("username", username)
        if user is None:
            raise UserNotFound(username)
        return user

    def add_public_key(self, username: str, key: Document) -> None:
        record = rules.check_public_key(key)
        with self._open():
            user = self._user_or_raise(username)
            for other in self._users:
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
            return copy.deepcopy(list(self._user_or_raise(username).get("publicKeys") or []))

    # -- migrations ledger ---------------------------------------------------------------------

    def get_applied_migrations(self) -> list[str]:
        with self._open():
            return [m["_id"] for m in self._migrations]

    def record_migration(self, migration_id: str) -> None:
        mid = rules.check_migration_id(migration_id)
        with self._open():
            if self._migrations.get(mid) is None:
                applied_at = clock.iso_from_ms(clock.now_ms())
                self._migrations.put(mid, {"_id": mid, "appliedAt": applied_at})

    def unrecord_migration(self, migration_id: str) -> None:
        if not isinstance(migration_id, str):
            raise InvalidDocument("migration id", "expected a string")
        if not rules.is_plain_id(migration_id):
            return
        with self._open():
            self._migrations.remove(migration_id)


def open_memory_sink(entry: dict[str, Any] | None = None) -> DocumentSink:
    """Entry point for ``type: memory`` in a git-proxy ``sink`` list (``options.sessionTtl``)."""
    options = (entry or {}).get("options") or {}
    return DocumentSink(session_ttl=int(options.get("sessionTtl", 86400)))
