"""What an adapter writes: the primitives ``SinkBase`` derives the public Sink from.

Each is abstract, so a subclass that lacks one cannot be instantiated and Python names what is
missing. Every input was checked by ``SinkBase`` first (``sinkkit.core.rules`` / ``queries``):
documents are validated copies the primitive may keep, names and queries are normalised, ids are
plain strings. Documents a primitive returns are the caller's to keep (copies, or built fresh from
storage). The not-found errors are the primitive's to raise, because only it knows, atomically,
that the object was missing.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

Document = dict[str, Any]


class SinkPrimitives(ABC):
    """The 28 methods an adapter on ``SinkBase`` writes, grouped as the Sink is."""

    # -- pushes --------------------------------------------------------------------------------

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
        """Merge ``changes`` (``base.REVIEWS[action]`` plus its payload) into push ``id`` in one
        atomic step; raise ``PushNotFound(id)`` when there is none."""

    # -- repos ---------------------------------------------------------------------------------

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

    # -- users, keys, ledger -------------------------------------------------------------------

    @abstractmethod
    def _find(self, field: str, value: str) -> Document | None:
        """The first-stored user whose ``field`` equals ``value`` (folded already for
        ``base.FOLDED_FIELDS``); ``publicKeys.key`` means a user holding a key whose ``key`` is
        ``value``."""

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

    # -- lifecycle -----------------------------------------------------------------------------

    @property
    @abstractmethod
    def session_store(self) -> Any:
        """The express-session store (``core.sessions.SessionRules`` has its checks)."""

    @abstractmethod
    def close(self) -> None:
        """Release the backend; every later call raises ``Unavailable``."""
