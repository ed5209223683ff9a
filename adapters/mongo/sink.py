"""The MongoDB sink: every Sink operation over pymongo, with the memory adapter's results.

Rules come from ``sinkkit.core`` and are applied before any database call; the
database adds what only it can: unique indexes, and single-document atomic updates.

* Queries name every user value through ``{"$eq": value}`` and only after the shared helpers
  refused ``$`` keys and non-scalar values, so no value is ever read as an operator.
* Listings fetch a superset with a server-side filter and apply the shared predicate
  (``matches``, ``profile_matches``) and sort key in Python, so type and ordering rules cannot
  drift from the reference (e.g. a server ``{x: "a"}`` also matches arrays containing "a").
* Repo changes are compare-and-set on ``lastModified`` (which only ever grows): each one reads
  the repo, computes ``max(now, previous + 1 ms)``, and writes only if ``lastModified`` is still
  what it read; a lost race re-reads and retries. Permission changes use ``$addToSet``/``$pull``
  inside that guard.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from pymongo import ReturnDocument
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError, OperationFailure
from sinkkit.adapters.mongo import ids
from sinkkit.adapters.mongo.config import MongoSettings
from sinkkit.adapters.mongo.driver import driver_errors, retry_upsert
from sinkkit.adapters.mongo.sessions import COLLECTION as SESSION_COLLECTION
from sinkkit.adapters.mongo.sessions import MongoSessionStore, ensure_session_indexes
from sinkkit.conformance.contract import PUSH_LIST_FIELDS
from sinkkit.conformance.errors import (
    ConfigError,
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
from sinkkit.core.base import SinkBase

Document = dict[str, Any]
log = logging.getLogger("sinkkit.adapters.mongo")

#: compare-and-set attempts before a change gives up (each failure means another writer won)
MAX_ATTEMPTS = 1000
_LIST_PROJECTION = {"_id": 0, **{f: 1 for f in PUSH_LIST_FIELDS}}
_ROLLUP_PROJECTION = {"_id": 0, **{f: 1 for f in (
    "type", "url", "timestamp", "error", "rejected", "canceled", "authorised", "blocked",
    "allowPush")}}
_PUSH_ORDER = [("timestamp", -1), ("id", -1)]
#: server error codes for an index that exists with other options or keys
_INDEX_CONFLICT_CODES = {85, 86}
#: one document per SSH key, ``_id`` = the key, naming the user that holds it
KEY_CLAIMS = "ssh_key_claims"
#: how long an add waits for a claimant that does not hold its key yet (its push in flight)
_CLAIM_WAIT_S = 1.0
_CLAIM_ROUNDS = 200


def _eq(query: Mapping[str, Any]) -> Document:
    return {key: {"$eq": value} for key, value in query.items()}


class MongoSink(SinkBase):
    """A Sink over one MongoDB database (collections users, repos, pushes, migrations,
    user_session)."""

    def __init__(self, client: Any, settings: MongoSettings):
        self._client = client
        self._settings = settings
        self._mask = settings.masker
        db: Database = client[settings.database]
        self._db = db
        self._users, self._repos = db["users"], db["repos"]
        self._pushes, self._migrations = db["pushes"], db["migrations"]
        self._claims = db[KEY_CLAIMS]
        self._closed = False
        self._sessions = MongoSessionStore(db[SESSION_COLLECTION], self._mask,
                                           settings.session_ttl, lambda: not self._closed)

    # -- lifecycle -----------------------------------------------------------------------------

    def bootstrap(self) -> None:
        """Create every index (idempotent; concurrent openers all succeed)."""
        with self._call("creating indexes"):
            try:
                self._create_indexes()
            except DuplicateKeyError as exc:  # (a subclass of OperationFailure: first)
                raise ConfigError(f"mongo sink: existing documents in "
                                  f"{self._settings.database!r} break a unique rule (duplicate "
                                  f"usernames, emails, repo urls or push ids?): "
                                  f"{self._mask(exc)}") from None
            except OperationFailure as exc:
                if exc.code in _INDEX_CONFLICT_CODES:
                    raise ConfigError(f"mongo sink: an index in {self._settings.database!r} "
                                      f"conflicts with this adapter's: {self._mask(exc)}") from None
                raise

    def _create_indexes(self) -> None:
        u, r, p = self._users, self._repos, self._pushes
        u.create_index("username", name="username_unique", unique=True)
        # unique among non-empty emails: users created without one coexist
        u.create_index("email", name="email_unique_nonempty", unique=True,
                       partialFilterExpression={"email": {"$gt": ""}})
        u.create_index("gitAccount", name="gitAccount")
        u.create_index("oidcId", name="oidcId")
        u.create_index("publicKeys.key", name="publicKeys_key")
        r.create_index("url", name="url_unique", unique=True)
        r.create_index("name", name="name")
        p.create_index("id", name="id_unique", unique=True)
        p.create_index([("type", 1), ("error", 1), ("blocked", 1), ("allowPush", 1),
                        ("authorised", 1), ("timestamp", -1), ("id", -1)],
                       name="pending_listing")
        self._migrations.create_index("id", name="id_unique", unique=True)
        ensure_session_indexes(self._db[SESSION_COLLECTION])

    def _call(self, doing: str) -> Any:
        if self._closed:
            raise Unavailable("mongo sink is closed")
        return driver_errors(self._mask, doing)

    @property
    def session_store(self) -> MongoSessionStore:
        if self._closed:
            raise Unavailable("mongo sink is closed")
        return self._sessions

    @property
    def database(self) -> Database:
        """The pymongo database (for native checks in tests and tools)."""
        return self._db

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._client.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return (f"<MongoSink {self._settings.display_url} "
                f"database={self._settings.database!r} {state}>")

    # -- pushes --------------------------------------------------------------------------------

    def _write_audit(self, doc: Document) -> None:
        with self._call("write_audit"):
            retry_upsert(lambda: self._pushes.replace_one(
                {"id": {"$eq": doc["id"]}}, dict(doc), upsert=True))

    def _get_push(self, id: str) -> Document | None:
        with self._call("get_push"):
            return self._pushes.find_one({"id": {"$eq": id}}, {"_id": 0})

    def _listing(self, server_filter: Document, keep: Callable[[Document], bool]) -> list[Document]:
        with self._call("listing pushes"):
            found = [p for p in self._pushes.find(server_filter, _LIST_PROJECTION,
                                                  sort=_PUSH_ORDER) if keep(p)]
        found.sort(key=views.push_sort_key, reverse=True)
        return [views.list_view(p) for p in found]

    def _get_pushes(self, query: Document) -> list[Document]:
        return self._listing(_eq(query), lambda p: queries.matches(p, query))

    def _profile_pushes(self, variants: list[str], name: str) -> list[Document]:
        either: list[Document] = []
        if variants:
            either.append({"userEmail": {"$in": variants}})
        if name:
            # case-insensitive equality is decided in Python (profile_matches), not by a regex
            either.append({"attestation.reviewer.username": {"$type": "string"}})
        if not either:
            return []
        return self._listing({"type": {"$eq": "push"}, "$or": either},
                             lambda p: queries.profile_matches(p, variants, name))

    def get_repo_push_rollups_by_canonical_url(self) -> Document:
        rollups = views.empty_rollups()
        with self._call("rollups"):
            for push in self._pushes.find({"type": {"$eq": "push"}}, _ROLLUP_PROJECTION):
                views.add_to_rollups(rollups, push)
        return rollups

    def _delete_push(self, id: str) -> None:
        with self._call("delete_push"):
            self._pushes.delete_one({"id": {"$eq": id}})

    def _review(self, id: str, action: str, changes: Document) -> None:
        with self._call(action):
            found = self._pushes.find_one_and_update({"id": {"$eq": id}}, {"$set": changes},
                                                     projection={"_id": 1})
        if found is None:
            raise PushNotFound(id)

    # -- repos ---------------------------------------------------------------------------------

    @staticmethod
    def _sorted(docs: Iterable[Document], field: str) -> list[Document]:
        out = [ids.from_db(doc) for doc in docs]
        return sorted(out, key=lambda x: (x.get(field, ""), x["_id"]))

    def _get_repos(self, query: Document) -> list[Document]:
        with self._call("get_repos"):
            docs = [r for r in self._repos.find(_eq(query)) if queries.matches(r, query)]
        return self._sorted(docs, "name")

    def _get_repo(self, name: str) -> Document | None:
        with self._call("get_repo"):
            found = self._sorted(self._repos.find({"name": {"$eq": name}}), "name")
        return found[0] if found else None

    def _get_repo_by_url(self, url: str) -> Document | None:
        with self._call("get_repo_by_url"):
            return ids.from_db(self._repos.find_one({"url": {"$eq": url}}))

    def _get_repo_by_id(self, _id: str) -> Document | None:
        with self._call("get_repo_by_id"):
            return ids.from_db(self._repos.find_one({"_id": {"$eq": ids.to_db_id(_id)}}))

    def _create_repo(self, doc: Document) -> Document:
        api_id = doc.pop("_id", None)
        stamp = clock.iso_from_ms(clock.now_ms())
        stored = {"_id": ids.to_db_id(api_id) if api_id else ids.new_id(), **doc,
                  "dateCreated": stamp, "lastModified": stamp}
        with self._call("create_repo"):
            try:
                self._repos.insert_one(stored)
            except DuplicateKeyError:
                self._raise_repo_conflict(stored, new=True)
        return ids.from_db(copy.deepcopy(stored))

    def _raise_repo_conflict(self, stored: Document, new: bool) -> None:
        if new and self._repos.find_one({"_id": {"$eq": stored["_id"]}}, {"_id": 1}):
            raise DuplicateRepo("_id", ids.to_api_id(stored["_id"]))
        raise DuplicateRepo("url", stored["url"])

    def _change_repo(self, _id: str, change: Callable[[Document, str], Document]) -> None:
        """Compare-and-set on ``lastModified``: ``change(current, stamp)`` returns an update
        spec (``$`` operators) or a whole replacement, written only if the repo is unchanged."""
        key = ids.to_db_id(_id)
        with self._call("changing repo"):
            for _ in range(MAX_ATTEMPTS):
                current = self._repos.find_one({"_id": {"$eq": key}})
                if current is None:
                    raise RepoNotFound(_id)
                prev = current.get("lastModified")
                # a plain ``_id`` value here: mongomock's replace_one copies a filter's ``_id``
                # into the replacement (docs/mongomock-gaps.md); ``key`` is ours, never a dict
                guard = {"_id": key, "lastModified": {"$eq": prev}}
                replacement_or_update = change(current, _next_stamp(prev))
                if _is_update_spec(replacement_or_update):
                    result = self._repos.update_one(guard, replacement_or_update)
                else:
                    try:
                        result = self._repos.replace_one(guard, replacement_or_update)
                    except DuplicateKeyError:  # url is the only other unique key of a repo
                        raise DuplicateRepo("url", replacement_or_update.get("url")) from None
                if result.matched_count:
                    return
        raise Unavailable(f"mongo sink: repo {_id!r} changed by others {MAX_ATTEMPTS} times "
                          "while this change was retried")

    def _update_repo(self, _id: str, fields: Document) -> Document:
        written: Document = {}

        def replace(current: Document, stamp: str) -> Document:
            written.clear()
            written.update({**current, **fields, "lastModified": stamp})
            return dict(written)

        self._change_repo(_id, replace)
        return ids.from_db(copy.deepcopy(written))

    def _permission(self, _id: str, role: str, name: str, add: bool) -> None:
        def update(current: Document, stamp: str) -> Document:
            users = current.get("users")
            names = users.get(role) if isinstance(users, Mapping) else None
            if isinstance(names, list):
                op = "$addToSet" if add else "$pull"
                return {op: {f"users.{role}": name}, "$set": {"lastModified": stamp}}
            # a document written elsewhere without the list: set it, as the reference does
            fresh = [name] if add else []
            if isinstance(users, Mapping):
                return {"$set": {f"users.{role}": fresh, "lastModified": stamp}}
            return {"$set": {"users": {role: fresh}, "lastModified": stamp}}

        self._change_repo(_id, update)

    def _delete_repo(self, _id: str) -> None:
        with self._call("delete_repo"):
            self._repos.delete_one({"_id": {"$eq": ids.to_db_id(_id)}})

    # -- users ---------------------------------------------------------------------------------

    def _find_raw(self, field: str, value: Any, fold: bool = True) -> Document | None:
        if not ids.queryable(value):
            return None
        want = value.lower() if fold else value
        with self._call(f"finding user by {field}"):
            # natural order, like the reference's insertion order, when a field is not unique
            return self._users.find_one({field: {"$eq": want}})

    def _find(self, field: str, value: str) -> Document | None:
        if field == "publicKeys.key":
            return ids.from_db(self._key_holder(value, exclude=None))
        return ids.from_db(self._find_raw(field, value, fold=False))  # folded by the base

    def _key_holder(self, key: Any, exclude: Any) -> Document | None:
        if not ids.queryable(key):
            return None
        query: Document = {"publicKeys.key": {"$eq": key}}
        if exclude is not None:
            query["_id"] = {"$ne": exclude}
        with self._call("finding user by SSH key"):
            for user in self._users.find(query):
                if any(isinstance(k, Mapping) and k.get("key") == key
                       for k in user.get("publicKeys") or []):
                    return user
        return None

    def _get_users(self, query: Document) -> list[Document]:
        with self._call("get_users"):
            docs = [u for u in self._users.find(_eq(query), {"password": 0})
                    if queries.matches(u, query)]
        return self._sorted(docs, "username")

    def _raise_user_conflict(self, stored: Document, new: bool) -> None:
        """After a unique-index violation: name the rule that was broken, as the reference
        would (``_id``, then username, then email)."""
        own = stored["_id"]
        if new and self._users.find_one({"_id": {"$eq": own}}, {"_id": 1}):
            raise DuplicateUser("_id", ids.to_api_id(own))
        others = {"_id": {"$ne": own}}
        if self._users.find_one({"username": {"$eq": stored["username"]}, **others}, {"_id": 1}):
            raise DuplicateUser("username", stored["username"])
        email = stored.get("email")
        if email and self._users.find_one({"email": {"$eq": email}, **others}, {"_id": 1}):
            raise DuplicateUser("email", email)
        raise DuplicateUser("username", stored["username"],
                            f"user {stored['username']!r} conflicts with a concurrent write")

    def _insert_user(self, doc: Document) -> Document:
        api_id = doc.pop("_id", None)
        stored = {"_id": ids.to_db_id(api_id) if api_id else ids.new_id(), **doc}
        try:
            self._users.insert_one(stored)
        except DuplicateKeyError:
            self._raise_user_conflict(stored, new=True)
        return ids.from_db(copy.deepcopy(stored))

    def _create_user(self, doc: Document) -> Document:
        with self._call("create_user"):
            return self._insert_user(doc)

    def _update_user(self, fields: Document) -> Document:
        changes = {k: v for k, v in fields.items() if k != "_id"}
        for key in changes:
            # ``$set`` reads "a.b" as a path; merging such a field atomically is not possible
            if "." in key or not key:
                raise InvalidDocument("user", f"field name {key!r} cannot be merged by "
                                      "update_user (empty or contains '.')")
        with self._call("update_user"):
            for _ in range(3):
                current = None
                if "_id" in fields and ids.queryable(fields["_id"]):
                    current = self._users.find_one({"_id": {"$eq": ids.to_db_id(fields["_id"])}})
                if current is None and "username" in fields:
                    current = self._users.find_one({"username": {"$eq": fields["username"]}})
                if current is None:
                    if "username" not in fields:
                        raise UserNotFound(fields.get("_id"))
                    try:
                        return self._insert_user(rules.normalise_new_user(fields))
                    except DuplicateUser as exc:
                        if exc.field == "username":
                            continue  # created concurrently: merge into it on the next turn
                        raise
                merged = self._merge_user(current, changes)
                if merged is not None:
                    return ids.from_db(merged)
        raise Unavailable("mongo sink: update_user kept racing with concurrent writes")

    def _merge_user(self, current: Document, changes: Document) -> Document | None:
        key = {"_id": {"$eq": current["_id"]}}
        try:
            if changes:
                current = self._users.find_one_and_update(
                    key, {"$set": changes}, return_document=ReturnDocument.AFTER)
        except DuplicateKeyError:
            self._raise_user_conflict({**current, **changes}, new=False)
        if current is not None and "publicKeys" not in current:
            current = self._users.find_one_and_update(
                {**key, "publicKeys": {"$exists": False}}, {"$set": {"publicKeys": []}},
                return_document=ReturnDocument.AFTER) or self._users.find_one(key)
        return current

    def _delete_user(self, username: str) -> None:
        with self._call("delete_user"):
            gone = self._users.find_one_and_delete({"username": {"$eq": username}},
                                                   projection={"_id": 1})
            if gone is not None:
                self._claims.delete_many({"user": {"$eq": gone["_id"]}})

    # -- public keys ---------------------------------------------------------------------------

    def _user_or_raise(self, username: str) -> Document:
        user = self._find_raw("username", username)
        if user is None:
            raise UserNotFound(username)
        return user

    def _add_public_key(self, username: str, record: Document) -> None:
        user = self._user_or_raise(username)
        key, uid = record["key"], user["_id"]
        # keys other writers (create_user, update_user, git-proxy itself) stored without a claim
        other = self._key_holder(key, exclude=uid)
        if other is not None:
            raise DuplicateSSHKey(other["username"])
        self._claim(key, uid)
        with self._call("add_public_key"):
            # one atomic update: pushed only while no held key shares the key or fingerprint
            result = self._users.update_one(
                {"_id": {"$eq": uid},
                 "publicKeys.key": {"$ne": key},
                 "publicKeys.fingerprint": {"$ne": record["fingerprint"]}},
                {"$push": {"publicKeys": record}})
        if result.matched_count == 0:
            self._user_or_raise(username)
            if self._holder(key, uid) is None:
                self._release(key, uid)
            raise PublicKeyExists(user["username"], record["fingerprint"])
        winner = self._claim_owner(key)
        if winner is None:  # released by a concurrent remove of this very key: claim it again
            self._claim(key, uid)
            winner = self._claim_owner(key)
        if winner != uid:
            # another add took the claim over while this push was in flight: it keeps the key
            with self._call("add_public_key"):
                self._users.update_one({"_id": {"$eq": uid}},
                                       {"$pull": {"publicKeys": {"key": {"$eq": key}}}})
            holder = self._holder(key, winner)
            raise DuplicateSSHKey(holder["username"] if holder else "another user")

    # A key's claim document (``_id`` = the key, unique on every server and in mongomock) is
    # what makes one key belong to one user under concurrent adds: a unique multikey index on
    # publicKeys.key would too, but mongomock does not enforce one, so the lanes could not
    # agree on it. A claim whose user does not hold the key is either an add in flight (its
    # push follows within milliseconds) or an orphan (the key left by update_user, or the
    # writer died): waited for briefly, then taken over; the taker-over's rival sees the claim
    # gone after its push and withdraws.

    def _claim(self, key: str, uid: Any) -> None:
        deadline = time.monotonic() + _CLAIM_WAIT_S
        for _ in range(_CLAIM_ROUNDS):
            with self._call("claiming an SSH key"):
                try:
                    self._claims.insert_one({"_id": key, "user": uid})
                    return
                except DuplicateKeyError:
                    pass
            owner = self._claim_owner(key)
            if owner is None:
                continue  # released meanwhile
            if owner == uid:
                return
            holder = self._holder(key, owner)
            if holder is not None:
                raise DuplicateSSHKey(holder["username"])
            if time.monotonic() < deadline:
                time.sleep(0.01)
                continue
            with self._call("claiming an SSH key"):
                taken = self._claims.find_one_and_update(
                    {"_id": {"$eq": key}, "user": {"$eq": owner}}, {"$set": {"user": uid}})
            if taken is not None:
                return
        raise Unavailable(f"mongo sink: add_public_key: the claim on an SSH key kept changing "
                          f"hands ({_CLAIM_ROUNDS} rounds)")

    def _claim_owner(self, key: str) -> Any:
        with self._call("reading an SSH key claim"):
            claim = self._claims.find_one({"_id": {"$eq": key}})
        return claim["user"] if claim else None

    def _holder(self, key: str, uid: Any) -> Document | None:
        with self._call("finding an SSH key's holder"):
            return self._users.find_one({"_id": {"$eq": uid}, "publicKeys.key": {"$eq": key}},
                                        projection={"username": 1})

    def _release(self, key: str, uid: Any) -> None:
        with self._call("releasing an SSH key claim"):
            self._claims.delete_one({"_id": {"$eq": key}, "user": {"$eq": uid}})

    def remove_public_key(self, username: str, fingerprint: str) -> None:
        user = self._user_or_raise(username)
        if not ids.queryable(fingerprint):
            return
        with self._call("remove_public_key"):
            self._users.update_one({"_id": {"$eq": user["_id"]}},
                                   {"$pull": {"publicKeys": {"fingerprint": {"$eq": fingerprint}}}})
        for record in user.get("publicKeys") or []:
            if isinstance(record, Mapping) and record.get("fingerprint") == fingerprint:
                self._release(record.get("key"), user["_id"])

    def get_public_keys(self, username: str) -> list[Document]:
        return list(self._user_or_raise(username).get("publicKeys") or [])

    # -- migrations ledger ---------------------------------------------------------------------

    def get_applied_migrations(self) -> list[str]:
        with self._call("get_applied_migrations"):
            docs = list(self._migrations.find({}, {"id": 1, "appliedAt": 1}))
        docs.sort(key=lambda m: (str(m.get("appliedAt") or ""), str(m["_id"])))
        return [m["id"] for m in docs]

    def _record_migration(self, mid: str) -> None:
        stamp = clock.iso_from_ms(clock.now_ms())
        # a DuplicateKeyError means it was recorded concurrently: recording is idempotent
        with self._call("record_migration"), contextlib.suppress(DuplicateKeyError):
            self._migrations.update_one({"id": {"$eq": mid}},
                                        {"$setOnInsert": {"id": mid, "appliedAt": stamp}},
                                        upsert=True)

    def _unrecord_migration(self, migration_id: str) -> None:
        with self._call("unrecord_migration"):
            self._migrations.delete_one({"id": {"$eq": migration_id}})


def _is_update_spec(doc: Mapping[str, Any]) -> bool:
    return bool(doc) and all(str(k).startswith("$") for k in doc)


def _next_stamp(prev: Any) -> str:
    """The reference's rule: max(now, previous + 1 ms), so lastModified strictly increases."""
    prev_ms = None
    if isinstance(prev, str):
        try:
            prev_ms = clock.ms_from_iso(prev)
        except ValueError:
            prev_ms = None
    now = clock.now_ms()
    return clock.iso_from_ms(now if prev_ms is None else max(now, prev_ms + 1))
