"""One base class for Sink adapters: the public methods derived from a few primitives.

An adapter subclasses ``SinkBase`` and writes the abstract methods at its end (instantiating a
subclass that lacks one names what is missing). The base owns what
every adapter used to repeat: each input goes through ``sinkkit.core.rules`` / ``queries`` here,
once, so a primitive receives checked, normalised values (a username folded, a query's keys
known, a document validated and copied); the three review decisions are flag sets defined once
over ``_review``; the four permission methods are one ``_permission``; the five user lookups are
one ``_find``. Ids that no backend can hold (not a string, empty, NUL, a lone surrogate) are
answered here: lookups give None, deletes do nothing, so a primitive only sees plain ids.
(go-cloud's ``docstore.go`` derives Create/Put/Get from one ``Actions().Do`` the same way, and
SQLAlchemy's ``DefaultDialect`` derives ``has_index`` from ``get_indexes``.)

What a primitive may assume and must do is in its docstring; the not-found errors are its own
to raise, because only it knows, atomically, that the object was missing.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from sinkkit.conformance.errors import InvalidDocument
from sinkkit.core import queries, rules, views

Document = dict[str, Any]

#: what each review decision sets on a push: its own flag, the other two cleared
REVIEWS: dict[str, Document] = {
    "authorised": {"authorised": True, "canceled": False, "rejected": False},
    "rejected": {"authorised": False, "canceled": False, "rejected": True},
    "canceled": {"authorised": False, "canceled": True, "rejected": False},
}
#: the user fields a lookup folds to lower case (stored folded by the rules); oidcId and SSH keys
#: are compared as given
FOLDED_FIELDS = frozenset({"username", "email", "gitAccount"})


class SinkBase(ABC):
    """The public Sink over the primitives an adapter writes (see the module docstring)."""

    #: False for an adapter that serialises a pushed document at once and keeps no reference to
    #: it (SQL): ``write_audit`` then skips the deep copy of the caller's nested values
    keeps_documents = True

    # -- pushes --------------------------------------------------------------------------------

    def write_audit(self, push: Document) -> None:
        self._write_audit(rules.check_push(push, deep_copy=self.keeps_documents))

    def get_push(self, id: str) -> Document | None:
        return self._get_push(id) if rules.is_plain_id(id) else None

    def get_pushes(self, query: Document | None = None) -> list[Document]:
        return self._get_pushes(queries.normalise_query("push", query))

    def get_pushes_for_user_profile(self, email_variants: list[str],
                                    username: str) -> list[Document]:
        return self._profile_pushes(*queries.check_profile_args(email_variants, username))

    def delete_push(self, id: str) -> None:
        if rules.is_plain_id(id):
            self._delete_push(id)

    def authorise(self, id: str, attestation: Any) -> Document:
        attestation = rules.check_payload("attestation", attestation)
        return self._decide(id, "authorised", {**REVIEWS["authorised"], "attestation": attestation})

    def reject(self, id: str, rejection: Any) -> Document:
        rejection = rules.check_payload("rejection", rejection)
        return self._decide(id, "rejected", {**REVIEWS["rejected"], "rejection": rejection})

    def cancel(self, id: str) -> Document:
        return self._decide(id, "canceled", dict(REVIEWS["canceled"]))

    def _decide(self, id: str, action: str, changes: Document) -> Document:
        rules.check_id("push id", id)
        self._review(id, action, changes)
        return views.review_message(action, id)

    # -- repos ---------------------------------------------------------------------------------

    def get_repos(self, query: Document | None = None) -> list[Document]:
        return self._get_repos(queries.normalise_query("repo", query))

    def get_repo(self, name: str) -> Document | None:
        return self._get_repo(name.lower()) if rules.is_plain_id(name) else None

    def get_repo_by_url(self, url: str) -> Document | None:
        return self._get_repo_by_url(url) if rules.is_plain_id(url) else None

    def get_repo_by_id(self, _id: str) -> Document | None:
        return self._get_repo_by_id(_id) if rules.is_plain_id(_id) else None

    def create_repo(self, repo: Document) -> Document:
        return self._create_repo(rules.normalise_new_repo(repo))

    def update_repo(self, _id: str, changes: Document) -> Document:
        return self._update_repo(_id, rules.normalise_repo_changes(changes))

    def add_user_can_push(self, _id: str, user: str) -> None:
        self._permission(_id, "canPush", rules.normalise_username(user), add=True)

    def add_user_can_authorise(self, _id: str, user: str) -> None:
        self._permission(_id, "canAuthorise", rules.normalise_username(user), add=True)

    def remove_user_can_push(self, _id: str, user: str) -> None:
        self._permission(_id, "canPush", rules.normalise_username(user), add=False)

    def remove_user_can_authorise(self, _id: str, user: str) -> None:
        self._permission(_id, "canAuthorise", rules.normalise_username(user), add=False)

    def delete_repo(self, _id: str) -> None:
        if rules.is_plain_id(_id):
            self._delete_repo(_id)

    # -- users ---------------------------------------------------------------------------------

    def find_user(self, username: str) -> Document | None:
        return self._lookup("username", username)

    def find_user_by_email(self, email: str) -> Document | None:
        return self._lookup("email", email)

    def find_user_by_git_account(self, git_account: str) -> Document | None:
        return self._lookup("gitAccount", git_account)

    def find_user_by_oidc(self, oidc_id: str) -> Document | None:
        return self._lookup("oidcId", oidc_id)

    def find_user_by_ssh_key(self, key: str) -> Document | None:
        return self._lookup("publicKeys.key", key)

    def _lookup(self, field: str, value: Any) -> Document | None:
        if not rules.is_plain_id(value):
            return None
        return self._find(field, value.lower() if field in FOLDED_FIELDS else value)

    def get_users(self, query: Document | None = None) -> list[Document]:
        found = self._get_users(queries.normalise_query("user", query))
        return [views.without_password(u) for u in found]

    def create_user(self, user: Document) -> Document:
        return self._create_user(rules.normalise_new_user(user))

    def update_user(self, user: Document) -> Document:
        return self._update_user(rules.normalise_user_update(user))

    def delete_user(self, username: str) -> None:
        if rules.is_plain_id(username):
            self._delete_user(username.lower())

    def add_public_key(self, username: str, key: Document) -> None:
        self._add_public_key(username, rules.check_public_key(key))

    # -- migrations ledger ---------------------------------------------------------------------

    def record_migration(self, migration_id: str) -> None:
        self._record_migration(rules.check_migration_id(migration_id))

    def unrecord_migration(self, migration_id: str) -> None:
        if not isinstance(migration_id, str):
            raise InvalidDocument("migration id", "expected a string")
        if rules.is_plain_id(migration_id):
            self._unrecord_migration(migration_id)

    # -- the primitives ------------------------------------------------------------------------
    # Documents returned are the caller's to keep (copies, or built fresh from storage).

    @abstractmethod
    def _write_audit(self, doc: Document) -> None:
        """Store checked push ``doc`` under ``doc["id"]``, replacing any push stored there."""

    @abstractmethod
    def _get_push(self, id: str) -> Document | None:
        """The whole stored push ``id``, or None."""

    @abstractmethod
    def _get_pushes(self, query: Document) -> list[Document]:
        """``views.list_view`` of each push ``queries.matches(push, query)``, newest first
        (``views.push_sort_key``)."""

    @abstractmethod
    def _profile_pushes(self, variants: list[str], username: str) -> list[Document]:
        """Like ``_get_pushes`` over ``queries.profile_matches(push, variants, username)``."""

    @abstractmethod
    def get_repo_push_rollups_by_canonical_url(self) -> Document:
        """``views.add_to_rollups`` of every push, into ``views.empty_rollups()``."""

    @abstractmethod
    def _delete_push(self, id: str) -> None:
        """Delete push ``id`` if there is one."""

    @abstractmethod
    def _review(self, id: str, action: str, changes: Document) -> None:
        """Merge ``changes`` (``REVIEWS[action]`` plus its payload) into push ``id`` in one
        atomic step; raise ``PushNotFound(id)`` when there is none."""

    @abstractmethod
    def _get_repos(self, query: Document) -> list[Document]:
        """Each repo ``queries.matches(repo, query)``, sorted by (name, _id)."""

    @abstractmethod
    def _get_repo(self, name: str) -> Document | None:
        """The first by _id of the repos named ``name`` (folded already), or None."""

    @abstractmethod
    def _get_repo_by_url(self, url: str) -> Document | None:
        """The repo whose url is ``url``, or None."""

    @abstractmethod
    def _get_repo_by_id(self, _id: str) -> Document | None:
        """The repo ``_id``, or None."""

    @abstractmethod
    def _create_repo(self, doc: Document) -> Document:
        """Store the normalised new repo (its ``_id`` made when absent, ``dateCreated`` =
        ``lastModified`` = now); raise ``DuplicateRepo`` on a taken ``_id`` or url."""

    @abstractmethod
    def _update_repo(self, _id: str, fields: Document) -> Document:
        """Merge normalised ``fields`` into repo ``_id`` and return it; ``lastModified`` moves to
        max(now, previous + 1 ms); ``RepoNotFound(_id)`` / ``DuplicateRepo("url", ...)``."""

    @abstractmethod
    def _permission(self, _id: str, role: str, name: str, add: bool) -> None:
        """Add folded ``name`` to (once) or remove it from repo ``_id``'s ``users[role]`` list,
        atomically, moving ``lastModified`` as ``_update_repo`` does; ``RepoNotFound(_id)``."""

    @abstractmethod
    def _delete_repo(self, _id: str) -> None:
        """Delete repo ``_id`` if there is one."""

    @abstractmethod
    def _find(self, field: str, value: str) -> Document | None:
        """The first-stored user whose ``field`` equals ``value`` (folded for FOLDED_FIELDS);
        ``publicKeys.key`` means a user holding a key whose ``key`` is ``value``."""

    @abstractmethod
    def _get_users(self, query: Document) -> list[Document]:
        """Each user ``queries.matches(user, query)``, sorted by (username, _id)."""

    @abstractmethod
    def _create_user(self, doc: Document) -> Document:
        """Store the normalised new user; ``DuplicateUser`` on a taken _id, username or email."""

    @abstractmethod
    def _update_user(self, fields: Document) -> Document:
        """Merge ``fields`` into the user with their ``_id``, else their username; create one
        when only the username is given and absent; else ``UserNotFound``."""

    @abstractmethod
    def _delete_user(self, username: str) -> None:
        """Delete the user named ``username`` (folded already) if there is one."""

    @abstractmethod
    def _add_public_key(self, username: str, record: Document) -> None:
        """Append checked key ``record``; ``UserNotFound``, ``DuplicateSSHKey`` (another user
        holds the key) or ``PublicKeyExists`` (this user holds its key or fingerprint)."""

    @abstractmethod
    def remove_public_key(self, username: str, fingerprint: str) -> None:
        """Drop the user's keys with ``fingerprint``; ``UserNotFound`` when no such user."""

    @abstractmethod
    def get_public_keys(self, username: str) -> list[Document]:
        """The user's key records in the order added; ``UserNotFound`` when no such user."""

    @abstractmethod
    def get_applied_migrations(self) -> list[str]:
        """Recorded migration ids in the order recorded."""

    @abstractmethod
    def _record_migration(self, migration_id: str) -> None:
        """Record checked ``migration_id`` with ``appliedAt`` = now, once (idempotent)."""

    @abstractmethod
    def _unrecord_migration(self, migration_id: str) -> None:
        """Forget ``migration_id`` if it is recorded."""

    @property
    @abstractmethod
    def session_store(self) -> Any:
        """The express-session store (``core.sessions.SessionRules`` has its checks)."""

    @abstractmethod
    def close(self) -> None:
        """Release the backend; every later call raises ``Unavailable``."""
