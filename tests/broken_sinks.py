"""Deliberately broken adapters, one per known upstream divergence, each with its harness.

Each breaks one rule the way git-proxy's fs or mongo backend (or its PostgreSQL branch) does;
``BROKEN`` maps the harness to the clause that must catch it. The kit's tests run the suite
against each and check that exact clause fails, so the suite is known to have teeth.
"""

from __future__ import annotations

import copy
import threading
import time

from sinkkit.conformance.capabilities import Capabilities
from sinkkit.conformance.contract import PUSH_QUERY_KEYS
from sinkkit.conformance.harness import Harness
from sinkkit.conformance.model import DocumentSink
from sinkkit.core import queries, views


class NullAfterLastRemoval(DocumentSink):
    """Upstream PG draft: removing the last user stores null."""

    def _permission(self, _id, role, user, add):
        super()._permission(_id, role, user, add)
        with self._lock:
            repo = self._repos.get(_id)
            if not repo["users"][role]:
                repo["users"][role] = None


class PushesAscending(DocumentSink):
    def _listing(self, keep):
        return list(reversed(super()._listing(keep)))


class TiesUnordered(DocumentSink):
    """Orders by timestamp only; ties come out by id ascending."""

    def _listing(self, keep):
        with self._lock:
            found = sorted((p for p in self._pushes if keep(p)), key=lambda p: p["id"])
            found.sort(key=lambda p: p.get("timestamp", 0), reverse=True)
            return [views.list_view(p) for p in found]


class RejectionUnderOtherKey(DocumentSink):
    def reject(self, id, rejection):
        result = super().reject(id, rejection)
        with self._lock:
            push = self._pushes.get(id)
            push["rejectionInfo"] = push.pop("rejection")
        return result


class DuplicateCanPush(DocumentSink):
    """Upstream mongo: $push instead of $addToSet."""

    def add_user_can_push(self, _id, user):
        with self._lock:
            repo = self._repos.get(_id)
            if repo is None:
                return super().add_user_can_push(_id, user)
            repo["users"]["canPush"].append(user.lower())


class PasswordInGetUsers(DocumentSink):
    """Upstream fs: getUsers returns whole documents."""

    def get_users(self, query=None):
        q = queries.normalise_query("user", query)
        with self._lock:
            return self._sorted((u for u in self._users if queries.matches(u, q)), "username")


class MissingRepoIgnored(DocumentSink):
    """Upstream mongo: a permission change on a missing repo is silently ignored."""

    def _change_repo(self, _id, change):
        if self.get_repo_by_id(_id) is None:
            return None
        return super()._change_repo(_id, change)


class _ObjectId:
    def __init__(self, hexid):
        self.hexid = hexid

    def __eq__(self, other):
        return isinstance(other, _ObjectId) and other.hexid == self.hexid


class ObjectIdLeak(DocumentSink):
    """Upstream mongo: `_id` comes back as a driver ObjectId."""

    def get_repo_by_id(self, _id):
        repo = super().get_repo_by_id(_id)
        if repo is not None:
            repo["_id"] = _ObjectId(repo["_id"])
        return repo


class WholeDocumentListing(DocumentSink):
    """Upstream fs: getPushes returns whole documents, _id included."""

    def _listing(self, keep):
        with self._open():  # closed like the reference: only the view is broken
            found = sorted((p for p in self._pushes if keep(p)), key=views.push_sort_key,
                           reverse=True)
            return [copy.deepcopy({**p, "_id": p["id"]}) for p in found]


class UnknownQueryKeysIgnored(DocumentSink):
    """Upstream PG branch: unknown keys are dropped from the WHERE clause."""

    def get_pushes(self, query=None):
        if query:
            query = {k: v for k, v in query.items() if k in PUSH_QUERY_KEYS}
        return super().get_pushes(query)


class WriteAuditMerges(DocumentSink):
    """Upstream mongo: writeAudit merges into the stored push instead of replacing it."""

    def write_audit(self, push):
        old = self.get_push(push.get("id")) if isinstance(push, dict) else None
        super().write_audit({**(old or {}), **push})


class GitAccountFoldedOnLookupOnly(DocumentSink):
    """Upstream fs and mongo: a mixed-case gitAccount is stored as given, so never found."""

    def create_user(self, user):
        created = super().create_user(user)
        with self._lock:
            self._users.get(created["_id"])["gitAccount"] = user.get("gitAccount")
        return created


class UpdateUserByUsernameOnly(DocumentSink):
    """Upstream fs: updateUser ignores `_id` and upserts by username."""

    def update_user(self, user):
        return super().update_user({k: v for k, v in user.items() if k != "_id"})


class MalformedIdRaises(DocumentSink):
    """Upstream mongo: new ObjectId(id) throws on an id that is not 24 hex characters."""

    def get_repo_by_id(self, _id):
        if not (isinstance(_id, str) and len(_id) == 24):
            raise ValueError(f"input must be a 24 character hex string: {_id!r}")
        return super().get_repo_by_id(_id)


class RemoveKeyOfMissingUserIgnored(DocumentSink):
    """Upstream mongo: removePublicKey on a missing user does nothing."""

    def remove_public_key(self, username, fingerprint):
        if self.find_user(username) is None:
            return
        super().remove_public_key(username, fingerprint)


class DropsMustChangePassword(DocumentSink):
    """Upstream PG branch: updateUser never saves mustChangePassword."""

    def update_user(self, user):
        return super().update_user({k: v for k, v in user.items() if k != "mustChangePassword"})


class ReadModifyWritePermissions(DocumentSink):
    """Upstream fs: read the repo, change it, write it back, with no lock between."""

    def add_user_can_push(self, _id, user):
        repo = self.get_repo_by_id(_id)
        if repo is None:
            return super().add_user_can_push(_id, user)
        names = repo["users"]["canPush"]
        if user.lower() not in names:
            names.append(user.lower())
        time.sleep(0.002)  # the window a second writer slips into
        with self._lock:
            self._repos.get(_id)["users"]["canPush"] = names


class AuthoriseKeepsRejected(DocumentSink):
    def authorise(self, id, attestation):
        rejected = (self.get_push(id) or {}).get("rejected", False)
        result = super().authorise(id, attestation)
        with self._lock:
            self._pushes.get(id)["rejected"] = rejected
        return result


class SessionsNeverExpire(DocumentSink):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._sessions.expired = lambda expires_ms: False


class UsersQueryNotFolded(DocumentSink):
    """Upstream mongo: getRepos/getUsers queries are passed on without folding."""

    def get_users(self, query=None):
        q = dict(query or {})
        with self._lock:
            users = [u for u in self._users if all(u.get(k) == v for k, v in q.items())]
        return [views.without_password(u) for u in self._sorted(users, "username")]


class RollupsByRawUrl(DocumentSink):
    def get_repo_push_rollups_by_canonical_url(self):
        rollups = views.empty_rollups()
        with self._lock:
            for push in self._pushes:
                if push.get("type") == "push" and push.get("url"):
                    raw = {**push, "url": push["url"]}
                    key = raw["url"]
                    counts = rollups["tabCounts"].setdefault(
                        key, dict.fromkeys(("pending", "approved", "canceled", "rejected",
                                            "error"), 0))
                    counts[views.rollup_status(push)] += 1
        return rollups


class ReviewUnknownIdSilently(DocumentSink):
    def cancel(self, id):
        if self.get_push(id) is None:
            return views.review_message("canceled", id)
        return super().cancel(id)


class ListsDuplicateMigrations(DocumentSink):
    def record_migration(self, migration_id):
        with self._lock:
            key = f"{migration_id}#{len(list(self._migrations))}"
            self._migrations.put(key, {"_id": migration_id})


_lock = threading.Lock()


def _harness(sink_class: type[DocumentSink]) -> type[Harness]:
    class BrokenHarness(Harness):
        name = f"broken:{sink_class.__name__}"
        capabilities = Capabilities(persistent=False, multi_process=False)

        def new_sink(self, slot):
            return sink_class()

        def open_config(self, slot):
            return {"type": "memory", "enabled": True}

    BrokenHarness.__name__ = f"{sink_class.__name__}Harness"
    return BrokenHarness


#: broken adapter -> the clause that must catch it
BROKEN: dict[str, str] = {
    "NullAfterLastRemoval": "repos.permissions.empty-list",
    "PushesAscending": "pushes.list.timestamp-descending",
    "TiesUnordered": "pushes.list.ties-by-id-descending",
    "RejectionUnderOtherKey": "pushes.reject.sets-flags-and-rejection",
    "DuplicateCanPush": "repos.permissions.add-idempotent",
    "PasswordInGetUsers": "users.list.no-password",
    "MissingRepoIgnored": "repos.permissions.missing-repo-raises",
    "ObjectIdLeak": "identity.repos.opaque-string-id",
    "WholeDocumentListing": "pushes.list.view-fields",
    "UnknownQueryKeysIgnored": "pushes.list.unknown-key-refused",
    "WriteAuditMerges": "pushes.write.upsert-replaces",
    "GitAccountFoldedOnLookupOnly": "users.case.git-account-folded",
    "UpdateUserByUsernameOnly": "users.update.matches-id-then-username",
    "MalformedIdRaises": "identity.malformed-id-returns-none",
    "RemoveKeyOfMissingUserIgnored": "keys.missing-user-raises",
    "DropsMustChangePassword": "users.update.every-field-round-trips",
    "ReadModifyWritePermissions": "repos.permissions.concurrent-adds-all-land",
    "AuthoriseKeepsRejected": "pushes.authorise.sets-flags",
    "SessionsNeverExpire": "sessions.expiry.cookie-expires",
    "UsersQueryNotFolded": "users.list.query-folds",
    "RollupsByRawUrl": "pushes.rollups.canonical-url",
    "ReviewUnknownIdSilently": "pushes.review.unknown-id-raises",
    "ListsDuplicateMigrations": "migrations.ledger.record-idempotent",
}

for _name in BROKEN:
    globals()[f"{_name}Harness"] = _harness(globals()[_name])
