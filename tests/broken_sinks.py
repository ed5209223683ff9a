"""Deliberately broken adapters, each with its harness: at least one for every clause.

Each breaks one rule the way a real backend gets it wrong: git-proxy's fs or mongo backend (or
its PostgreSQL branch) for the known divergences, then the weakness classes of issue 15 across
resources (prefix and substring matches, case of ids and keys, folding beyond lower(), write
order taken for newest, units, shared documents, caches that outlive a delete), races with the
window a backend round trip leaves open, and (in ``broken_backends``) the fs and PostgreSQL
adapters for the clauses only a real backend can fail. ``BROKEN`` maps each to the clause that
must catch it; ``tests/test_suite_has_teeth.py`` runs that clause's tests against each and
checks the clause fails, and fails itself for a clause no broken adapter names.
"""

from __future__ import annotations

import copy
import re
import time
import unicodedata

import broken_backends
from sinkkit.conformance.capabilities import Capabilities
from sinkkit.conformance.contract import PUSH_QUERY_KEYS, USER_QUERY_KEYS
from sinkkit.conformance.errors import (
    DuplicateSSHKey,
    DuplicateUser,
    InvalidDocument,
    PublicKeyExists,
    PushNotFound,
    Unavailable,
    UserNotFound,
)
from sinkkit.conformance.harness import Harness
from sinkkit.conformance.model import DocumentSink
from sinkkit.core import clock, queries, rules, views
from sinkkit.core import config as sink_config


class NullAfterLastRemoval(DocumentSink):
    """Upstream PG draft: removing the last user stores null."""

    def _permission(self, _id, role, user, add):
        super()._permission(_id, role, user, add)
        with self._lock:
            repo = self._repos.get(_id)
            if not repo["users"][role]:
                repo["users"][role] = None


class PushesAscending(DocumentSink):
    def _listing(self, keep, candidates=None):
        return list(reversed(super()._listing(keep, candidates)))


class TiesUnordered(DocumentSink):
    """Orders by timestamp only; ties come out by id ascending."""

    def _listing(self, keep, candidates=None):
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

    def _listing(self, keep, candidates=None):
        with self._open():  # closed like the reference: only the view is broken
            pool = self._pushes if candidates is None else candidates
            found = sorted((p for p in pool if keep(p)), key=views.push_sort_key, reverse=True)
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



# --- issue 15: one broken adapter per clause, each the way a plausible backend slips ------------

class UsernamesCasefolded(DocumentSink):
    """Folds with casefold(): ß becomes ss, so "STRASSE" finds "Straße"."""

    def create_user(self, user):
        return super().create_user({**user, "username": str(user.get("username")).casefold()})

    def find_user(self, username):
        return super().find_user(username.casefold() if isinstance(username, str) else username)


class EmailsNotFolded(DocumentSink):
    def _find(self, field, value, fold=True):
        return super()._find(field, value, fold=fold and field != "email")

    def create_user(self, user):
        created = super().create_user(user)
        with self._lock:
            self._users.get(created["_id"])["email"] = user.get("email", "")
        return created


class RepoUrlFolded(DocumentSink):
    """Matches urls ignoring case (a citext column)."""

    def get_repo_by_url(self, url):
        with self._lock:
            for repo in self._repos:
                if isinstance(url, str) and repo["url"].lower() == url.lower():
                    return copy.deepcopy(repo)
        return None


class RenameNotFolded(DocumentSink):
    """update_repo writes the new name as given (only create folds)."""

    def update_repo(self, _id, changes):
        updated = super().update_repo(_id, changes)
        if isinstance(changes, dict) and "name" in changes:
            with self._lock:
                self._repos.get(_id)["name"] = changes["name"]
            updated["name"] = changes["name"]
        return updated


class PushIdFolded(DocumentSink):
    """get_push compares ids ignoring case (a case-insensitive collation)."""

    def get_push(self, id):
        with self._lock:
            for push in self._pushes:
                if isinstance(id, str) and push["id"].lower() == id.lower():
                    return copy.deepcopy(push)
        return None


class PushFilterByPrefix(DocumentSink):
    """String filters become LIKE 'value%'."""

    def get_pushes(self, query=None):
        q = queries.normalise_query("push", query)

        def keep(p):
            return all(isinstance(p.get(k), str) and p[k].startswith(v) if isinstance(v, str)
                       else queries.matches(p, {k: v}) for k, v in q.items())

        return self._listing(keep)


class ReviewerBySubstring(DocumentSink):
    """The reviewer match is a regex search, not an exact comparison."""

    def get_pushes_for_user_profile(self, email_variants, username):
        def keep(p):
            reviewer = ((p.get("attestation") or {}).get("reviewer") or {}).get("username", "")
            return p.get("type") == "push" and (
                p.get("userEmail") in (email_variants or [])
                or (bool(username) and username.lower() in str(reviewer).lower()))

        return self._listing(keep)


class EmailVariantsFolded(DocumentSink):
    def get_pushes_for_user_profile(self, email_variants, username):
        wanted = [v.lower() for v in email_variants or []]
        return self._listing(lambda p: p.get("type") == "push" and (
            str(p.get("userEmail", "")).lower() in wanted
            or queries.profile_matches(p, [], username)))


class RollupsLatestIsLastWritten(DocumentSink):
    def get_repo_push_rollups_by_canonical_url(self):
        rollups = super().get_repo_push_rollups_by_canonical_url()
        with self._lock:
            for push in self._pushes:
                key = views.canonical_remote_url(push.get("url") or "")
                if push.get("type") == "push" and key:
                    rollups["latestPushAtMs"][key] = push.get("timestamp")
        return rollups


class RollupsKeepUserinfo(DocumentSink):
    def get_repo_push_rollups_by_canonical_url(self):
        rollups = views.empty_rollups()
        with self._lock:
            for push in self._pushes:
                # the userinfo stays in the key, as part of the host
                url = re.sub(r"^(https?://)([^@/]*)@", lambda m: m.group(1) + m.group(2).replace(
                    ":", ".") + ".", push.get("url") or "")
                views.add_to_rollups(rollups, {**push, "url": url})
        return rollups


class FingerprintFolded(DocumentSink):
    def remove_public_key(self, username, fingerprint):
        user = self.find_user(username)
        for key in (user or {}).get("publicKeys") or []:
            if isinstance(fingerprint, str) and key["fingerprint"].lower() == fingerprint.lower():
                fingerprint = key["fingerprint"]
        super().remove_public_key(username, fingerprint)


class OidcFolded(DocumentSink):
    def find_user_by_oidc(self, oidc_id):
        with self._lock:
            for user in self._users:
                if isinstance(oidc_id, str) and str(user.get("oidcId")).lower() == oidc_id.lower():
                    return copy.deepcopy(user)
        return None


class KeyIndexOutlivesUser(DocumentSink):
    """find_user_by_ssh_key reads a key index that delete_user never cleans."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._key_index = {}

    def add_public_key(self, username, key):
        super().add_public_key(username, key)
        self._key_index[key["key"]] = self.find_user(username)

    def find_user_by_ssh_key(self, key):
        return copy.deepcopy(self._key_index.get(key)) or super().find_user_by_ssh_key(key)


class UrlCacheOutlivesRepo(DocumentSink):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._by_url = {}

    def create_repo(self, repo):
        created = super().create_repo(repo)
        self._by_url[created["url"]] = created
        return created

    def get_repo_by_url(self, url):
        return copy.deepcopy(self._by_url.get(url)) or super().get_repo_by_url(url)


class RollupsOutlivePushes(DocumentSink):
    """Rollups come from an append-only log that delete_push never touches."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._log = {}

    def write_audit(self, push):
        super().write_audit(push)
        self._log[push["id"]] = copy.deepcopy(push)

    def get_repo_push_rollups_by_canonical_url(self):
        rollups = views.empty_rollups()
        for push in self._log.values():
            views.add_to_rollups(rollups, push)
        return rollups


class ReturnsStoredPush(DocumentSink):
    """get_push hands out the stored object itself."""

    def get_push(self, id):
        with self._lock:
            return self._pushes.get(id) if isinstance(id, str) else None


class KeepsCallersPush(DocumentSink):
    """write_audit keeps the caller's nested lists (a shallow copy)."""

    def write_audit(self, push):
        super().write_audit(push)
        with self._lock:
            self._pushes.put(push["id"], {k: v for k, v in push.items() if k != "_id"})


class MaxAgeInSeconds(DocumentSink):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        store, expiry = self._sessions, self._sessions.expiry

        def seconds(sess):
            cookie = sess.get("cookie") or {}
            if "maxAge" in cookie and not cookie.get("expires"):
                return clock.now_ms() + int(cookie["maxAge"]) * 1000
            return expiry(sess)

        store.expiry = seconds


class UserQueryOperatorsDropped(DocumentSink):
    """get_users leaves out values that are not scalars instead of refusing them."""

    def get_users(self, query=None):
        plain = {k: v for k, v in (query or {}).items() if not isinstance(v, (dict, list))}
        return super().get_users(plain)


class RemovesBySubstring(DocumentSink):
    def _permission(self, _id, role, user, add):
        if add:
            return super()._permission(_id, role, user, add)
        repo = self.get_repo_by_id(_id)
        if repo is None:
            return super()._permission(_id, role, user, add)
        for name in repo["users"][role]:
            if isinstance(user, str) and user.lower() in name:
                super()._permission(_id, role, name, add)
        return None


class AuthoriseListIsPushList(DocumentSink):
    def add_user_can_authorise(self, _id, user):
        super().add_user_can_authorise(_id, user)
        super().add_user_can_push(_id, user)


class EmailUniqueIgnoringFold(DocumentSink):
    """The unique index is on the email as given, while lookups fold."""

    def _check_user_unique(self, user):
        for other in self._users:
            if other["_id"] != user["_id"] and other["username"] == user["username"]:
                raise DuplicateUser("username", user["username"])

    def create_user(self, user):
        for other in self._users:
            if user.get("email") and other.get("email") == user.get("email"):
                raise DuplicateUser("email", user["email"])
        return super().create_user(user)


class ReviewMessageWithoutId(DocumentSink):
    def _decide(self, id, action, changes):
        super()._decide(id, action, changes)
        return {"message": f"{action} ok"}


class CancelKeepsAuthorised(DocumentSink):
    def cancel(self, id):
        was = (self.get_push(id) or {}).get("authorised", False)
        result = super().cancel(id)
        with self._lock:
            self._pushes.get(id)["authorised"] = was
        return result


class ReviewDropsSteps(DocumentSink):
    """A review rewrites the push from the list view, losing fields outside it."""

    def _review(self, id, action, changes):
        result = super()._review(id, action, changes)
        with self._lock:
            push = self._pushes.get(id)
            self._pushes.put(id, {k: v for k, v in push.items() if k != "steps"})
        return result


class DefaultQueryIgnoresAllowPush(DocumentSink):
    def get_pushes(self, query=None):
        if query is None:
            query = {"error": False, "blocked": True, "authorised": False, "type": "push"}
        return super().get_pushes(query)


class BlankGitAccountAccepted(DocumentSink):
    def create_user(self, user):
        if isinstance(user, dict) and isinstance(user.get("gitAccount"), str) and not user[
                "gitAccount"].strip():
            user = {k: v for k, v in user.items() if k != "gitAccount"}
        return super().create_user(user)


class BlankPublicKeyAccepted(DocumentSink):
    """Refuses a public key with no key or fingerprint, but stores one whose key or fingerprint
    is blank: only the type is checked, as a store checking for a missing value does."""

    def add_public_key(self, username, key):
        if isinstance(key, dict) and all(isinstance(key.get(f), str)
                                         for f in ("key", "fingerprint")):
            return self._add_public_key(username, copy.deepcopy(key))
        return super().add_public_key(username, key)


class BlankRepoUrlAccepted(DocumentSink):
    def create_repo(self, repo):
        if isinstance(repo, dict) and repo.get("url") in ("", "   ", None):
            repo = {**repo, "url": f"about:blank#{repo.get('name')}"}
        return super().create_repo(repo)


class DuplicateRepoUrlAccepted(DocumentSink):
    def _check_repo_url_free(self, url, own_id):
        if own_id is not None:
            super()._check_repo_url_free(url, own_id)


class UpdateRepoUrlUnchecked(DocumentSink):
    def _check_repo_url_free(self, url, own_id):
        if own_id is None:
            super()._check_repo_url_free(url, own_id)


class UpdateMissingRepoIgnored(DocumentSink):
    def update_repo(self, _id, changes):
        if self.get_repo_by_id(_id) is None:
            return {}
        return super().update_repo(_id, changes)


class UpdateRepoReplaces(DocumentSink):
    def update_repo(self, _id, changes):
        def apply(repo):
            keep = {k: repo[k] for k in ("_id", "name", "url", "users", "dateCreated",
                                         "lastModified")}
            repo.clear()
            repo.update({**keep, **rules.normalise_repo_changes(changes)})

        return self._change_repo(_id, apply)


class ReposInInsertionOrder(DocumentSink):
    def get_repos(self, query=None):
        q = queries.normalise_query("repo", query)
        with self._lock:
            return [copy.deepcopy(r) for r in self._repos if queries.matches(r, q)]


class RepoQueryNotFolded(DocumentSink):
    def get_repos(self, query=None):
        q = dict(query or {})
        with self._lock:
            found = [r for r in self._repos if all(r.get(k) == v for k, v in q.items())]
        return self._sorted(found, "name")


class RepoQueryUnknownKeysIgnored(DocumentSink):
    def get_repos(self, query=None):
        kept = {k: v for k, v in (query or {}).items() if k in ("name", "url", "project")}
        return super().get_repos(kept)


class UserQueryUnknownKeysIgnored(DocumentSink):
    def get_users(self, query=None):
        kept = {k: v for k, v in (query or {}).items() if k in USER_QUERY_KEYS}
        return super().get_users(kept)


class DateCreatedMoves(DocumentSink):
    def _change_repo(self, _id, change):
        changed = super()._change_repo(_id, change)
        with self._lock:
            self._repos.get(_id)["dateCreated"] = changed["lastModified"]
        changed["dateCreated"] = changed["lastModified"]
        return changed


class LastModifiedOnlyOnUpdate(DocumentSink):
    """Permission changes write the list but leave lastModified where it was."""

    def _permission(self, _id, role, user, add):
        before = self.get_repo_by_id(_id)
        super()._permission(_id, role, user, add)
        with self._lock:
            self._repos.get(_id)["lastModified"] = before["lastModified"]


class NewRepoListsMissing(DocumentSink):
    def create_repo(self, repo):
        created = super().create_repo(repo)
        if isinstance(repo, dict) and not repo.get("users"):
            with self._lock:
                self._repos.get(created["_id"])["users"] = {}
            created["users"] = {}
        return created


class PermissionsNotFolded(DocumentSink):
    # the base folds the name before _permission, so this breaks the step that calls it
    def _change_permission(self, _id, role, user, add):
        def apply(repo):
            names = list(repo["users"].get(role) or [])
            if add and user not in names:
                names.append(user)
            repo["users"][role] = names if add else [n for n in names if n != user]

        rules.normalise_username(user)
        self._change_repo(_id, apply)


class UpdateUserReplaces(DocumentSink):
    def update_user(self, user):
        current = self.find_user(user.get("username", "")) if isinstance(user, dict) else None
        if current is not None and "_id" not in user:
            with self._lock:
                self._users.remove(current["_id"])
            return super().create_user({**user, "_id": current["_id"]})
        return super().update_user(user)


class UpdateUserNeverCreates(DocumentSink):
    def update_user(self, user):
        if isinstance(user, dict) and self.find_user(user.get("username", "")) is None and (
                "_id" not in user):
            raise UserNotFound(user.get("username"))
        return super().update_user(user)


class UpdateUserSkipsUniqueness(DocumentSink):
    def update_user(self, user):
        check = self._check_user_unique
        self._check_user_unique = lambda doc: None
        try:
            return super().update_user(user)
        finally:
            self._check_user_unique = check


class DeleteUserCaseSensitive(DocumentSink):
    def delete_user(self, username):
        with self._lock:
            for user in self._users:
                if user["username"] == username:
                    self._users.remove(user["_id"])


class KeysNewestFirst(DocumentSink):
    def get_public_keys(self, username):
        return list(reversed(super().get_public_keys(username)))


class SshKeyByPrefix(DocumentSink):
    def find_user_by_ssh_key(self, key):
        with self._lock:
            for user in self._users:
                for held in user.get("publicKeys") or []:
                    if isinstance(key, str) and key and held["key"].startswith(key):
                        return copy.deepcopy(user)
        return None


class KeyHeldByTwoUsers(DocumentSink):
    """Checks only the user's own keys (no unique index across users)."""

    def add_public_key(self, username, key):
        user = self.find_user(username)
        if user is None:
            return super().add_public_key(username, key)
        for held in user.get("publicKeys") or []:
            if held["key"] == key.get("key") or held["fingerprint"] == key.get("fingerprint"):
                raise PublicKeyExists(user["username"], key.get("fingerprint"))
        with self._lock:
            self._users.put(user["_id"], {**user, "publicKeys": [
                *(user.get("publicKeys") or []), rules.check_public_key(key)]})
        return None


class SameFingerprintAccepted(DocumentSink):
    def add_public_key(self, username, key):
        user = self.find_user(username) or {}
        if any(k["key"] == key.get("key") for k in user.get("publicKeys") or []):
            raise PublicKeyExists(username, key.get("fingerprint"))
        count = len(user.get("publicKeys") or [])
        renamed = {**key, "fingerprint": f"{key.get('fingerprint')}#{count}"}
        super().add_public_key(username, renamed)
        with self._lock:
            stored = self._users.get(user["_id"])
            stored["publicKeys"][-1]["fingerprint"] = key.get("fingerprint")


class MigrationsSorted(DocumentSink):
    def get_applied_migrations(self):
        return sorted(super().get_applied_migrations())


class UnrecordUnknownRaises(DocumentSink):
    def unrecord_migration(self, migration_id):
        if migration_id not in self.get_applied_migrations():
            raise InvalidDocument("migration id", "not recorded")
        super().unrecord_migration(migration_id)


class SeededMigration(DocumentSink):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.record_migration("0000-bootstrap")


class SeededAdminUser(DocumentSink):
    """Opens with git-proxy's default admin account already there."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.create_user({"username": "admin", "email": "admin@place.com", "admin": True})


class CloseIgnored(DocumentSink):
    def close(self):
        """Never closes: calls keep being answered."""


class SessionSetMerges(DocumentSink):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        store, set_ = self._sessions, self._sessions.set
        store.set = lambda sid, sess: set_(sid, {**(store.get(sid) or {}), **sess})


class DestroyForgetsNothing(DocumentSink):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._sessions.destroy = lambda sid: None


class LengthCountsExpired(DocumentSink):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        store = self._sessions
        store.length = lambda: len(list(store._records))


class ClearOnlyLive(DocumentSink):
    """clear() removes sessions one by one but stops at the first (a cursor bug)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        store = self._sessions

        def clear():
            for rec in list(store._records)[:1]:
                store._records.remove(rec["_id"])

        store.clear = clear


class PruneCountsNothing(DocumentSink):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        store, prune = self._sessions, self._sessions.prune
        store.prune = lambda: prune() and 0


class TouchResurrects(DocumentSink):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        store = self._sessions
        store.touch = lambda sid, sess: store.set(sid, sess)


class UnknownSessionIsEmpty(DocumentSink):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        store, get = self._sessions, self._sessions.get
        store.get = lambda sid: get(sid) or ({} if sid == "unknown" else None)


class SessionStoreAfterFirstWrite(DocumentSink):
    """The session store is set up lazily, by the first write of any kind."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._store_ready = False

    @property
    def session_store(self):
        if not self._store_ready:
            raise Unavailable("session store not ready yet")
        return super().session_store

    def write_audit(self, push):
        self._store_ready = True
        super().write_audit(push)


class CallerIdReplaced(DocumentSink):
    def create_repo(self, repo):
        return super().create_repo({k: v for k, v in repo.items() if k != "_id"})


class PushGetsOwnId(DocumentSink):
    """NeDB-style: every stored push gets a random _id of its own."""

    def get_push(self, id):
        push = super().get_push(id)
        if push is not None:
            push["_id"] = f"nedb-{abs(hash(push['id'])) % 10**8:08d}"
        return push


class BlankPushIdAccepted(DocumentSink):
    def write_audit(self, push):
        if isinstance(push, dict) and push.get("id") in ("", "   "):
            push = {**push, "id": "blank"}
        super().write_audit(push)


class NullsDropped(DocumentSink):
    """Nested nulls are dropped on write (a JSON encoder with skip-nulls on)."""

    def write_audit(self, push):
        def strip(v):
            if isinstance(v, dict):
                return {k: strip(x) for k, x in v.items() if x is not None}
            if isinstance(v, list):
                return [strip(x) for x in v if x is not None]
            return v

        super().write_audit(strip(push) if isinstance(push, dict) else push)


class GetPushReturnsListView(DocumentSink):
    def get_push(self, id):
        push = super().get_push(id)
        return views.list_view(push) if push is not None else None


class DeleteUnknownPushRaises(DocumentSink):
    def delete_push(self, id):
        if self.get_push(id) is None:
            raise PushNotFound(id)
        super().delete_push(id)


class TimestampsSortedAsText(DocumentSink):
    def _listing(self, keep, candidates=None):
        with self._lock:
            found = sorted((p for p in self._pushes if keep(p)),
                           key=lambda p: (str(p.get("timestamp", "")), p["id"]), reverse=True)
            return [views.list_view(p) for p in found]


class EmptyVariantMatches(DocumentSink):
    def get_pushes_for_user_profile(self, email_variants, username):
        if email_variants == [""]:
            return self._listing(lambda p: p.get("type") == "push" and not p.get("userEmail"))
        return super().get_pushes_for_user_profile(email_variants, username)


class ProfileListsPulls(DocumentSink):
    def get_pushes_for_user_profile(self, email_variants, username):
        return self._listing(lambda p: p.get("userEmail") in (email_variants or []) or (
            queries.profile_matches({**p, "type": "push"}, [], username)))


class RejectedOutranksError(DocumentSink):
    def get_repo_push_rollups_by_canonical_url(self):
        rollups = views.empty_rollups()
        with self._lock:
            for push in self._pushes:
                if push.get("rejected") is True and push.get("error") is True:
                    push = {**push, "error": False}
                views.add_to_rollups(rollups, push)
        return rollups


class RollupsCountPulls(DocumentSink):
    def get_repo_push_rollups_by_canonical_url(self):
        rollups = views.empty_rollups()
        with self._lock:
            for push in self._pushes:
                views.add_to_rollups(rollups, {**push, "type": "push"})
        return rollups


class AuthoriseKeepsCanceled(DocumentSink):
    def authorise(self, id, attestation):
        canceled = (self.get_push(id) or {}).get("canceled", False)
        result = super().authorise(id, attestation)
        with self._lock:
            self._pushes.get(id)["canceled"] = canceled
        return result


class NumbersAsUsernames(DocumentSink):
    """Coerces a non-string username with str(), as a loosely typed driver would."""

    def create_user(self, user):
        if isinstance(user, dict) and isinstance(user.get("username"), (int, bool)):
            user = {**user, "username": str(user["username"])}
        return super().create_user(user)


class NulStripped(DocumentSink):
    def create_user(self, user):
        def strip(v):
            if isinstance(v, str):
                return v.replace("\x00", "")
            if isinstance(v, dict):
                return {k: strip(x) for k, x in v.items()}
            return v

        return super().create_user(strip(user) if isinstance(user, dict) else user)


class DollarKeysStored(DocumentSink):
    def write_audit(self, push):
        try:
            super().write_audit(push)
        except InvalidDocument as exc:
            if "$" not in str(exc) and "'.'" not in str(exc):
                raise
            with self._lock:
                self._pushes.put(push["id"], copy.deepcopy(push))


class QuotesDoubled(DocumentSink):
    """Escapes quotes itself before writing, and never unescapes them."""

    def create_user(self, user):
        if isinstance(user, dict) and isinstance(user.get("title"), str):
            user = {**user, "title": user["title"].replace("'", "''")}
        return super().create_user(user)


class NamesMatchedAsRegex(DocumentSink):
    def find_user(self, username):
        import re

        if isinstance(username, str) and any(c in username for c in ".*$"):
            with self._lock:
                for user in self._users:
                    try:
                        if re.search(username, user["username"]):
                            return copy.deepcopy(user)
                    except re.error:
                        return None
            return None
        return super().find_user(username)


class AdminAsText(DocumentSink):
    """Booleans come back as text from a loosely typed column."""

    def find_user(self, username):
        user = super().find_user(username)
        if user is not None and "admin" in user:
            user["admin"] = str(user["admin"]).lower()
        return user


class CreateRepoReturnsInput(DocumentSink):
    def create_repo(self, repo):
        super().create_repo(repo)
        return copy.deepcopy(repo)


class CreateUserReturnsInput(DocumentSink):
    def create_user(self, user):
        super().create_user(user)
        return {k: v for k, v in user.items()}


class RepoNameByPrefix(DocumentSink):
    def get_repo(self, name):
        with self._lock:
            for repo in self._repos:
                if isinstance(name, str) and name and repo["name"].startswith(name.lower()):
                    return copy.deepcopy(repo)
        return None


class EmailByPrefix(DocumentSink):
    def find_user_by_email(self, email):
        with self._lock:
            for user in self._users:
                if isinstance(email, str) and email and user.get("email", "").startswith(
                        email.lower()):
                    return copy.deepcopy(user)
        return None


class BlankEmailStored(DocumentSink):
    """Upstream fs and mongo sinks: a user created with a blank email is stored with ``""``."""

    def create_user(self, user):
        email = user.get("email") if isinstance(user, dict) else None
        if isinstance(email, str) and not email.strip():
            doc = rules.normalise_new_user({**user, "email": "placeholder@example.com"})
            return self._create_user({**doc, "email": ""})
        return super().create_user(user)


class LikeWildcardsInLookups(DocumentSink):
    """find_user_by_git_account is a LIKE whose wildcards are not escaped."""

    def find_user_by_git_account(self, git_account):
        import re

        if isinstance(git_account, str) and ("%" in git_account or "_" in git_account):
            pattern = re.escape(git_account.lower()).replace("%", ".*").replace("_", ".")
            with self._lock:
                for user in self._users:
                    if re.fullmatch(pattern, user.get("gitAccount") or ""):
                        return copy.deepcopy(user)
            return None
        return super().find_user_by_git_account(git_account)


class LongTitlesTruncated(DocumentSink):
    def update_user(self, user):
        if isinstance(user, dict) and isinstance(user.get("title"), str):
            user = {**user, "title": user["title"][:65535]}
        return super().update_user(user)


class UserIdsAsNumbers(DocumentSink):
    """A serial primary key handed out as a number."""

    def __init__(self, *args, **kwargs):
        counter = iter(range(1, 10**9))
        super().__init__(*args, new_id=lambda: next(counter), **kwargs)

    def create_repo(self, repo):
        return super().create_repo({**repo, "_id": f"r{len(list(self._repos))}"}
                                   if isinstance(repo, dict) and "_id" not in repo else repo)


class UsernameUniqueNotEnforced(DocumentSink):
    """No unique index on username: only email is checked."""

    def _check_user_unique(self, user):
        for other in self._users:
            if other["_id"] != user["_id"] and user.get("email") and (
                    other.get("email") == user["email"]):
                raise DuplicateUser("email", user["email"])


# --- races: each step that must be one atomic change done as two, the window left open -------

#: the time between a read and the write built on it (a round trip to a real backend)
WINDOW_SECONDS = 0.002


class RemoveRewritesList(DocumentSink):
    """remove_user_can_* reads the list, filters it and writes the whole list back: an add
    that lands between the read and the write is lost."""

    def _permission(self, _id, role, name, add):
        repo = self._get_repo_by_id(_id)
        if add or repo is None:
            return super()._permission(_id, role, name, add)
        names = [n for n in repo["users"].get(role) or [] if n != name]
        time.sleep(WINDOW_SECONDS)
        self._change_repo(_id, lambda stored: stored["users"].__setitem__(role, names))
        return None


class ReviewFlagsInTwoWrites(DocumentSink):
    """A review sets its own flag in one write and clears the other two in a second one (two
    UPDATEs outside a transaction): a reader between them sees two flags true."""

    def _review(self, id, action, changes):
        super()._review(id, action, {k: v for k, v in changes.items() if v is not False})
        time.sleep(WINDOW_SECONDS)
        super()._review(id, action, changes)


class SessionSetDeletesThenInserts(DocumentSink):
    """set() replaces a session by deleting it and inserting the new one: a get() between the
    two finds no session at all."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        store = self._sessions
        insert, read = store.set, store.get

        def set(sid, sess):
            store.destroy(sid)
            time.sleep(WINDOW_SECONDS)
            insert(sid, sess)

        def get(sid):
            time.sleep(WINDOW_SECONDS / 4)  # a read is a round trip too, as on any backend
            return read(sid)

        store.set, store.get = set, get


class WriteAuditRewritesCollection(DocumentSink):
    """write_audit reads every push, adds its own and writes the whole collection back (a JSON
    file store): two writers at once each keep only their own push."""

    def _write_audit(self, doc):
        before = dict(self._pushes.docs)
        time.sleep(WINDOW_SECONDS)
        with self._open():
            self._pushes.docs = {**before, doc["id"]: doc}


class SshKeyCheckThenInsert(DocumentSink):
    """add_public_key looks for another holder of the key, then adds it in a second step: two
    users adding one key at once both get it."""

    def _add_public_key(self, username, record):
        holder = self.find_user_by_ssh_key(record["key"])
        if holder is not None and holder["username"] != str(username).lower():
            raise DuplicateSSHKey(holder["username"])
        time.sleep(WINDOW_SECONDS)
        with self._open():
            user = self._user_or_raise(username)
            keys = list(user.get("publicKeys") or [])
            if any(k["key"] == record["key"] or k["fingerprint"] == record["fingerprint"]
                   for k in keys):
                raise PublicKeyExists(user["username"], record["fingerprint"])
            self._users.put(user["_id"], {**user, "publicKeys": [*keys, record]})


# --- units and the model ------------------------------------------------------------------------

class DefaultTtlInMilliseconds(DocumentSink):
    """Adds the default TTL to a millisecond clock as it is: a session without expires or
    maxAge lives default_ttl milliseconds, not seconds."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        store, expiry = self._sessions, self._sessions.expiry

        def milliseconds(sess):
            cookie = sess.get("cookie") if isinstance(sess.get("cookie"), dict) else {}
            if cookie.get("expires") in (None, "") and cookie.get(
                    "maxAge", cookie.get("originalMaxAge")) is None:
                return clock.now_ms() + store.default_ttl
            return expiry(sess)

        store.expiry = milliseconds


class UsersListedById(DocumentSink):
    """get_users orders by the primary key instead of by username."""

    def _sorted(self, docs, field):
        return super()._sorted(docs, "_id" if field == "username" else field)

# --- weakness classes across resources: each a plausible wrong match or copy ---------------------

class _LooseUserMatch(DocumentSink):
    """A user lookup on ``field`` that compares with ``matches`` instead of equality."""

    field = ""

    def matches(self, stored: str, wanted: str) -> bool:
        raise NotImplementedError

    def _stored_user(self, field, value):
        if field != self.field:
            return super()._stored_user(field, value)
        with self._open():
            for user in self._users:
                if isinstance(value, str) and self.matches(str(user.get(field) or ""), value):
                    return user
        return None


class UsernameByPrefix(_LooseUserMatch):
    """find_user is LIKE 'name%'."""

    field = "username"

    def matches(self, stored, wanted):
        return stored.startswith(wanted)


class GitAccountBySubstring(_LooseUserMatch):
    """find_user_by_git_account is a regex search."""

    field = "gitAccount"

    def matches(self, stored, wanted):
        return bool(stored) and wanted in stored


class OidcByPrefix(_LooseUserMatch):
    field = "oidcId"

    def matches(self, stored, wanted):
        return bool(stored) and stored.startswith(wanted)


class SshKeyFolded(_LooseUserMatch):
    """find_user_by_ssh_key compares keys ignoring case (a citext column)."""

    field = "publicKeys.key"

    def _stored_user(self, field, value):
        if field != self.field:
            return super()._stored_user(field, value)
        with self._open():
            for user in self._users:
                if isinstance(value, str) and any(
                        k["key"].lower() == value.lower() for k in user.get("publicKeys") or []):
                    return user
        return None


class RepoUrlByPrefix(DocumentSink):
    def _get_repo_by_url(self, url):
        with self._open():
            for repo in self._repos:
                if repo["url"].startswith(url):
                    return copy.deepcopy(repo)
        return None


class RepoIdFolded(DocumentSink):
    """get_repo_by_id compares ids ignoring case."""

    def _get_repo_by_id(self, _id):
        with self._open():
            for repo in self._repos:
                if repo["_id"].lower() == _id.lower():
                    return copy.deepcopy(repo)
        return None


def _query_by_substring(listing: str, field: str) -> type[DocumentSink]:
    """A sink whose ``listing`` matches the ``field`` of a query as a regex search."""

    def found(self, query):
        wanted = query.get(field)
        rest = getattr(DocumentSink, listing)(self, {k: v for k, v in query.items()
                                                     if k != field})
        return [d for d in rest if not isinstance(wanted, str) or wanted in d[field]]

    return type(f"_Substring{field.title()}", (DocumentSink,), {listing: found})


class RepoQueryBySubstring(_query_by_substring("_get_repos", "name")):
    """get_repos({"name": x}) is a regex search on the name."""


class UserQueryBySubstring(_query_by_substring("_get_users", "username")):
    pass


class DeletePushIdFolded(DocumentSink):
    def _delete_push(self, id):
        with self._open():
            for push in self._pushes:
                if push["id"].lower() == id.lower():
                    self._pushes.remove(push["id"])


class UnrecordByPrefix(DocumentSink):
    """unrecord_migration is DELETE ... WHERE id LIKE 'x%'."""

    def _unrecord_migration(self, migration_id):
        with self._open():
            for m in list(self._migrations):
                if m["_id"].startswith(migration_id):
                    self._migrations.remove(m["_id"])


class SessionIdFolded(DocumentSink):
    """Session ids are looked up ignoring case."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        store, read = self._sessions, self._sessions.get

        def get(sid):
            for other in list(store.all()):
                if isinstance(sid, str) and other.lower() == sid.lower():
                    return read(other)
            return read(sid)

        store.get = get


def _folding(create: str, field: str, lookup: str, fold) -> type[DocumentSink]:
    """A sink whose ``create`` and ``lookup`` fold ``field`` with ``fold`` before the
    contract's lower()."""

    def created(self, doc):
        if isinstance(doc, dict) and isinstance(doc.get(field), str):
            doc = {**doc, field: fold(doc[field])}
        return getattr(DocumentSink, create)(self, doc)

    def looked_up(self, value):
        return getattr(DocumentSink, lookup)(self, fold(value) if isinstance(value, str)
                                             else value)

    return type(f"_Folding{field.title()}", (DocumentSink,), {create: created, lookup: looked_up})


class RepoNamesCasefolded(_folding("create_repo", "name", "get_repo", str.casefold)):
    """Repo names folded with casefold() (ß becomes ss) instead of lower()."""


class EmailsCasefolded(_folding("create_user", "email", "find_user_by_email", str.casefold)):
    pass


class UsernamesNfkcFolded(_folding("create_user", "username", "find_user",
                                   lambda text: unicodedata.normalize("NFKC", text))):
    """Usernames NFKC-normalised before folding: the ligature "ﬁ" becomes "fi"."""


class PermissionsCasefolded(DocumentSink):
    def _change_permission(self, _id, role, user, add):
        rules.normalise_username(user)
        self._permission(_id, role, user.casefold(), add)


class UpdatedEmailNotFolded(DocumentSink):
    """Only create folds the email; update_user stores it as given."""

    def update_user(self, user):
        updated = super().update_user(user)
        if isinstance(user, dict) and isinstance(user.get("email"), str):
            with self._lock:
                self._users.get(updated["_id"])["email"] = user["email"]
        return updated


class PushesInWriteOrder(DocumentSink):
    """Listings newest written first: right only while timestamps arrive in order."""

    def _listing(self, keep, candidates=None):
        with self._open():
            found = [p for p in self._pushes if keep(p)]
            return [views.list_view(p) for p in reversed(found)]


class LatestPendingIsLastWritten(DocumentSink):
    def get_repo_push_rollups_by_canonical_url(self):
        rollups = super().get_repo_push_rollups_by_canonical_url()
        with self._lock:
            for push in self._pushes:
                key = views.canonical_remote_url(push.get("url") or "")
                if key and push.get("type") == "push" and views.rollup_status(push) == "pending":
                    rollups["latestPendingReviewAtMs"][key] = push.get("timestamp")
        return rollups


class ReturnsStoredRepo(DocumentSink):
    def _get_repo_by_id(self, _id):
        with self._open():
            return self._repos.get(_id)


class ReturnsStoredUser(DocumentSink):
    def _find(self, field, value):
        return self._stored_user(field, value)


class ReturnsStoredSession(DocumentSink):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        records = self._sessions._records

        def get(sid):
            rec = records.get(sid)
            return rec["session"] if rec is not None else None

        self._sessions.get = get


class ListingSharesNestedValues(DocumentSink):
    """The list view is a new dict whose nested values are the stored ones."""

    def _listing(self, keep, candidates=None):
        with self._open():
            found = sorted((p for p in self._pushes if keep(p)), key=views.push_sort_key,
                           reverse=True)
            return [{k: p[k] for k in views.list_view(p)} for p in found]


class KeepsCallersUser(DocumentSink):
    """create_user keeps the caller's nested values (a shallow copy)."""

    def create_user(self, user):
        created = super().create_user(user)
        if isinstance(user, dict):
            with self._lock:
                stored = self._users.get(created["_id"])
                for k, v in user.items():
                    if isinstance(v, (dict, list)):
                        stored[k] = v
        return created


class GitAccountIndexOutlivesUser(DocumentSink):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._by_account = {}

    def create_user(self, user):
        created = super().create_user(user)
        if created.get("gitAccount"):
            self._by_account[created["gitAccount"]] = created
        return created

    def find_user_by_git_account(self, git_account):
        found = super().find_user_by_git_account(git_account)
        if found is None and isinstance(git_account, str):
            return copy.deepcopy(self._by_account.get(git_account.lower()))
        return found


class RepoNameCacheOutlivesRepo(DocumentSink):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._by_name = {}

    def create_repo(self, repo):
        created = super().create_repo(repo)
        self._by_name[created["name"]] = created
        return created

    def get_repo(self, name):
        found = super().get_repo(name)
        if found is None and isinstance(name, str):
            return copy.deepcopy(self._by_name.get(name.lower()))
        return found


#: broken adapters whose clause opens its sink from a configuration entry (``open_sink``):
#: their entries name the broken type, so what opens is the broken adapter, with its options
OPENED_FROM_ENTRIES = frozenset({"DefaultTtlInMilliseconds"})


def _truncated(value, limit=rules.MAX_KEY_BYTES):
    if not isinstance(value, str):
        return value
    return value.encode("utf-8")[:limit].decode("utf-8", errors="ignore")


class LongKeysTruncated(DocumentSink):
    """A varchar(1024) column in a lenient SQL mode: long push ids are cut, not refused."""

    def write_audit(self, push):
        if isinstance(push, dict):
            push = {**push, "id": _truncated(push.get("id"))}
            if "_id" in push:
                push["_id"] = push["id"]
        return super().write_audit(push)


class LongUserEmailRefused(DocumentSink):
    """A btree on userEmail: a push whose author email outgrows the index row is refused."""

    def write_audit(self, push):
        email = push.get("userEmail") if isinstance(push, dict) else None
        if isinstance(email, str) and len(email.encode("utf-8")) > rules.MAX_KEY_BYTES:
            raise InvalidDocument("push.userEmail", "is too long for its index")
        return super().write_audit(push)


class LongSessionIdTruncated(DocumentSink):
    """A sid column of 1024 bytes that cuts what is longer, so two long sids collide."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        store = self._sessions
        read, write = store.get, store.set
        store.get = lambda sid: read(_truncated(sid))
        store.set = lambda sid, session: write(_truncated(sid), session)


def _harness(sink_class: type[DocumentSink]) -> type[Harness]:
    broken_type = f"broken-{sink_class.__name__}"

    class BrokenHarness(Harness):
        name = f"broken:{sink_class.__name__}"
        capabilities = Capabilities(persistent=False, multi_process=False)

        def new_sink(self, slot):
            return sink_class()

        def open_config(self, slot):
            if sink_class.__name__ in OPENED_FROM_ENTRIES:
                return {"type": broken_type, "enabled": True}
            return {"type": "memory", "enabled": True}

        def open_sink(self, config):
            entry = sink_config.select_entry(config)
            if entry.get("type") != broken_type:
                return sink_config.open_sink(config)
            options = entry.get("options") or {}
            return sink_class(session_ttl=int(options.get("sessionTtl", 86400)))

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
    # issue 15
    "UsernamesCasefolded": "users.case.username-folded",
    "EmailsNotFolded": "users.case.email-folded",
    "RepoUrlFolded": "repos.create.name-folded-url-verbatim",
    "RenameNotFolded": "repos.create.name-folded-url-verbatim",
    "PushIdFolded": "pushes.get.missing-returns-none",
    "PushFilterByPrefix": "pushes.list.filters-by-field",
    "ReviewerBySubstring": "pushes.profile.by-reviewer-username",
    "EmailVariantsFolded": "pushes.profile.by-email-variant",
    "RollupsLatestIsLastWritten": "pushes.rollups.latest-timestamps",
    "RollupsKeepUserinfo": "pushes.rollups.canonical-url",
    "FingerprintFolded": "keys.remove.by-fingerprint",
    "OidcFolded": "users.find.by-oidc",
    "KeyIndexOutlivesUser": "users.delete.removes",
    "UrlCacheOutlivesRepo": "repos.delete.removes",
    "RollupsOutlivePushes": "pushes.delete.removes",
    "ReturnsStoredPush": "documents.returned-are-copies",
    "KeepsCallersPush": "documents.inputs-are-copied",
    "MaxAgeInSeconds": "sessions.expiry.max-age",
    "UserQueryOperatorsDropped": "pushes.list.operator-value-refused",
    "RemovesBySubstring": "repos.permissions.remove-absent-noop",
    "AuthoriseListIsPushList": "repos.permissions.roles-independent",
    "EmailUniqueIgnoringFold": "users.unique.email",
    "ReviewMessageWithoutId": "pushes.review.message-names-id",
    "CancelKeepsAuthorised": "pushes.cancel.sets-flags",
    "ReviewDropsSteps": "pushes.review.keeps-other-fields",
    "DefaultQueryIgnoresAllowPush": "pushes.list.default-pending",
    "BlankGitAccountAccepted": "users.create.blank-refused",
    "BlankRepoUrlAccepted": "repos.create.blank-refused",
    "BlankPublicKeyAccepted": "users.create.blank-refused",
    "DuplicateRepoUrlAccepted": "repos.create.url-unique",
    "UpdateRepoUrlUnchecked": "repos.update.url-unique",
    "UpdateMissingRepoIgnored": "repos.update.missing-raises",
    "UpdateRepoReplaces": "repos.update.merges-fields",
    "ReposInInsertionOrder": "repos.list.ordered-by-name",
    "RepoQueryNotFolded": "repos.list.query-folds-name",
    "RepoQueryUnknownKeysIgnored": "repos.list.unknown-key-refused",
    "UserQueryUnknownKeysIgnored": "users.list.unknown-key-refused",
    "DateCreatedMoves": "repos.dates.created-once",
    "LastModifiedOnlyOnUpdate": "repos.dates.modified-moves",
    "NewRepoListsMissing": "repos.permissions.new-repo-empty-lists",
    "PermissionsNotFolded": "repos.permissions.case-folded",
    "UpdateUserReplaces": "users.update.merges-fields",
    "UpdateUserNeverCreates": "users.update.upserts",
    "UpdateUserSkipsUniqueness": "users.update.keeps-uniqueness",
    "DeleteUserCaseSensitive": "users.delete.removes",
    "KeysNewestFirst": "keys.list.insertion-order",
    "SshKeyByPrefix": "keys.find.user-by-key",
    "KeyHeldByTwoUsers": "keys.add.held-by-other-user-refused",
    "SameFingerprintAccepted": "keys.add.same-key-or-fingerprint-refused",
    "MigrationsSorted": "migrations.ledger.records-in-order",
    "UnrecordUnknownRaises": "migrations.ledger.unrecord",
    "SeededMigration": "migrations.ledger.empty-at-start",
    "SeededAdminUser": "bootstrap.empty-store-ready",
    "CloseIgnored": "bootstrap.closed-sink-unavailable",
    "SessionSetMerges": "sessions.set.overwrites",
    "DestroyForgetsNothing": "sessions.destroy.removes",
    "LengthCountsExpired": "sessions.all-and-length",
    "ClearOnlyLive": "sessions.clear.removes-all",
    "PruneCountsNothing": "sessions.expiry.pruned",
    "TouchResurrects": "sessions.touch.extends",
    "UnknownSessionIsEmpty": "sessions.set-get.round-trips",
    "SessionStoreAfterFirstWrite": "sessions.store.ready-at-open",
    "CallerIdReplaced": "identity.caller-supplied-id-kept",
    "PushGetsOwnId": "identity.pushes.keyed-by-id",
    "BlankPushIdAccepted": "pushes.write.id-required",
    "NullsDropped": "pushes.roundtrip.exact",
    "GetPushReturnsListView": "pushes.get.full-document",
    "DeleteUnknownPushRaises": "pushes.delete.removes",
    "TimestampsSortedAsText": "pushes.list.timestamp-descending",
    "EmptyVariantMatches": "pushes.profile.no-variants-reviewer-only",
    "ProfileListsPulls": "pushes.profile.order-and-view",
    "RejectedOutranksError": "pushes.rollups.status-priority",
    "RollupsCountPulls": "pushes.rollups.skips-empty-url-and-other-types",
    "AuthoriseKeepsCanceled": "pushes.review.flags-exclusive",
    "NumbersAsUsernames": "input.wrong-type-refused",
    "NulStripped": "input.nul-and-surrogates-refused",
    "DollarKeysStored": "input.dollar-keys-refused",
    "QuotesDoubled": "input.sql-text-verbatim",
    "NamesMatchedAsRegex": "input.operator-text-is-plain-value",
    "AdminAsText": "documents.returned-shapes-valid",
    "CreateRepoReturnsInput": "repos.create.returns-stored-repo",
    "CreateUserReturnsInput": "users.create.returns-stored-user",
    "RepoNameByPrefix": "repos.lookup.missing-returns-none",
    "EmailByPrefix": "users.find.missing-returns-none",
    "BlankEmailStored": "users.create.blank-email-refused",
    "LikeWildcardsInLookups": "reliability.hostile.lookups-never-inject",
    "LongTitlesTruncated": "reliability.hostile.writes-verbatim-or-refused",
    "UserIdsAsNumbers": "identity.users.opaque-string-id",
    "UsernameUniqueNotEnforced": "users.unique.username",
    # races, units and the model
    "RemoveRewritesList": "reliability.concurrent.permissions-threads",
    "ReviewFlagsInTwoWrites": "reliability.concurrent.review-race",
    "SessionSetDeletesThenInserts": "reliability.concurrent.session-writes",
    "WriteAuditRewritesCollection": "reliability.concurrent.write-audit",
    "SshKeyCheckThenInsert": "reliability.concurrent.ssh-key-race",
    "DefaultTtlInMilliseconds": "sessions.expiry.default-ttl",
    "UsersListedById": "reliability.model.matches-memory",
    # weakness classes: substrings and prefixes, case of ids, Unicode folding, latest vs last
    # written, units, aliasing, a delete seen through every lookup
    "UsernameByPrefix": "users.find.missing-returns-none",
    "GitAccountBySubstring": "users.find.missing-returns-none",
    "OidcByPrefix": "users.find.by-oidc",
    "SshKeyFolded": "keys.find.user-by-key",
    "RepoUrlByPrefix": "repos.lookup.missing-returns-none",
    "RepoIdFolded": "repos.lookup.missing-returns-none",
    "RepoQueryBySubstring": "repos.list.query-folds-name",
    "UserQueryBySubstring": "users.list.query-folds",
    "DeletePushIdFolded": "pushes.delete.removes",
    "UnrecordByPrefix": "migrations.ledger.unrecord",
    "SessionIdFolded": "sessions.set-get.round-trips",
    "RepoNamesCasefolded": "repos.create.name-folded-url-verbatim",
    "EmailsCasefolded": "users.case.email-folded",
    "UsernamesNfkcFolded": "users.case.username-folded",
    "PermissionsCasefolded": "repos.permissions.case-folded",
    "UpdatedEmailNotFolded": "users.case.email-folded",
    "PushesInWriteOrder": "pushes.list.timestamp-descending",
    "LatestPendingIsLastWritten": "pushes.rollups.latest-timestamps",
    "ReturnsStoredRepo": "documents.returned-are-copies",
    "ReturnsStoredUser": "documents.returned-are-copies",
    "ReturnsStoredSession": "documents.returned-are-copies",
    "ListingSharesNestedValues": "documents.returned-are-copies",
    "KeepsCallersUser": "documents.inputs-are-copied",
    "GitAccountIndexOutlivesUser": "users.delete.removes",
    "RepoNameCacheOutlivesRepo": "repos.delete.removes",
    "LongKeysTruncated": "input.long-keys-refused",
    "LongUserEmailRefused": "input.long-user-email-stored",
    "LongSessionIdTruncated": "sessions.set.long-sid-refused",
}

for _name in BROKEN:
    globals()[f"{_name}Harness"] = _harness(globals()[_name])

# the adapters over real backends (fs datafiles, PostgreSQL), with harnesses of their own
BROKEN.update(broken_backends.BROKEN_ON_BACKENDS)
for _name in broken_backends.BROKEN_ON_BACKENDS:
    globals()[f"{_name}Harness"] = getattr(broken_backends, f"{_name}Harness")
