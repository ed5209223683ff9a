"""The Sink protocol: every operation of git-proxy's Sink interface, in Python.

Documents in and out are plain JSON-shaped dicts carrying git-proxy's field names. Methods are
snake_case; ``GIT_PROXY_NAMES`` maps each to the name git-proxy uses, for the docs and the bridge.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

Document = dict[str, Any]


@runtime_checkable
class SessionStore(Protocol):
    """express-session's store API, synchronous. ``sess`` is the session object as JSON."""

    #: seconds a session lives when its cookie has no ``expires`` (``maxAge`` is not read)
    default_ttl: int

    def get(self, sid: str) -> Document | None: ...
    def set(self, sid: str, sess: Document) -> None: ...
    def destroy(self, sid: str) -> None: ...
    def touch(self, sid: str, sess: Document) -> None: ...
    def all(self) -> dict[str, Document]: ...
    def length(self) -> int: ...
    def clear(self) -> None: ...
    def prune(self) -> int:
        """Delete expired sessions now; returns how many were removed."""
        ...


@runtime_checkable
class Sink(Protocol):
    # pushes
    def write_audit(self, push: Document) -> None: ...
    def get_push(self, id: str) -> Document | None: ...
    def get_pushes(self, query: Document | None = None) -> list[Document]: ...
    def get_pushes_for_user_profile(
        self, email_variants: list[str], username: str
    ) -> list[Document]: ...
    def get_repo_push_rollups_by_canonical_url(self) -> Document: ...
    def delete_push(self, id: str) -> None: ...
    def authorise(self, id: str, attestation: Any) -> Document: ...
    def reject(self, id: str, rejection: Any) -> Document: ...
    def cancel(self, id: str) -> Document: ...

    # repos
    def get_repos(self, query: Document | None = None) -> list[Document]: ...
    def get_repo(self, name: str) -> Document | None: ...
    def get_repo_by_url(self, url: str) -> Document | None: ...
    def get_repo_by_id(self, _id: str) -> Document | None: ...
    def create_repo(self, repo: Document) -> Document: ...
    def update_repo(self, _id: str, changes: Document) -> Document: ...
    def add_user_can_push(self, _id: str, user: str) -> None: ...
    def add_user_can_authorise(self, _id: str, user: str) -> None: ...
    def remove_user_can_push(self, _id: str, user: str) -> None: ...
    def remove_user_can_authorise(self, _id: str, user: str) -> None: ...
    def delete_repo(self, _id: str) -> None: ...

    # users
    def find_user(self, username: str) -> Document | None: ...
    def find_user_by_email(self, email: str) -> Document | None: ...
    def find_user_by_git_account(self, git_account: str) -> Document | None: ...
    def find_user_by_oidc(self, oidc_id: str) -> Document | None: ...
    def find_user_by_ssh_key(self, key: str) -> Document | None: ...
    def get_users(self, query: Document | None = None) -> list[Document]: ...
    def create_user(self, user: Document) -> Document: ...
    def update_user(self, user: Document) -> Document: ...
    def delete_user(self, username: str) -> None: ...

    # public keys
    def add_public_key(self, username: str, key: Document) -> None: ...
    def remove_public_key(self, username: str, fingerprint: str) -> None: ...
    def get_public_keys(self, username: str) -> list[Document]: ...

    # migrations ledger
    def get_applied_migrations(self) -> list[str]: ...
    def record_migration(self, migration_id: str) -> None: ...
    def unrecord_migration(self, migration_id: str) -> None: ...

    # lifecycle
    @property
    def session_store(self) -> SessionStore: ...
    def close(self) -> None: ...


GIT_PROXY_NAMES: dict[str, str] = {
    "write_audit": "writeAudit",
    "get_push": "getPush",
    "get_pushes": "getPushes",
    "get_pushes_for_user_profile": "getPushesForUserProfile",
    "get_repo_push_rollups_by_canonical_url": "getRepoPushRollupsByCanonicalUrl",
    "delete_push": "deletePush",
    "authorise": "authorise",
    "reject": "reject",
    "cancel": "cancel",
    "get_repos": "getRepos",
    "get_repo": "getRepo",
    "get_repo_by_url": "getRepoByUrl",
    "get_repo_by_id": "getRepoById",
    "create_repo": "createRepo",
    "update_repo": "updateRepo",
    "add_user_can_push": "addUserCanPush",
    "add_user_can_authorise": "addUserCanAuthorise",
    "remove_user_can_push": "removeUserCanPush",
    "remove_user_can_authorise": "removeUserCanAuthorise",
    "delete_repo": "deleteRepo",
    "find_user": "findUser",
    "find_user_by_email": "findUserByEmail",
    "find_user_by_git_account": "findUserByGitAccount",
    "find_user_by_oidc": "findUserByOIDC",
    "find_user_by_ssh_key": "findUserBySSHKey",
    "get_users": "getUsers",
    "create_user": "createUser",
    "update_user": "updateUser",
    "delete_user": "deleteUser",
    "add_public_key": "addPublicKey",
    "remove_public_key": "removePublicKey",
    "get_public_keys": "getPublicKeys",
    "get_applied_migrations": "getAppliedMigrations",
    "record_migration": "recordMigration",
    "unrecord_migration": "unrecordMigration",
    "session_store": "getSessionStore",
    "close": "close",
}

#: The fields of the push list view (upstream mongo's projection); ``_id`` is never among them.
PUSH_LIST_FIELDS: tuple[str, ...] = (
    "id", "allowPush", "attestation", "authorised", "blocked", "blockedMessage", "branch",
    "canceled", "commitData", "commitFrom", "commitTo", "error", "method", "project", "rejected",
    "rejection", "repo", "repoName", "timestamp", "type", "url", "userEmail",
)

#: The pending-review query ``get_pushes(None)`` stands for.
DEFAULT_PUSH_QUERY: dict[str, Any] = {
    "error": False, "blocked": True, "allowPush": False, "authorised": False, "type": "push",
}

#: Push fields ``get_pushes`` may filter on (equality on the stored value).
PUSH_QUERY_KEYS: frozenset[str] = frozenset(
    {"id", "error", "blocked", "allowPush", "authorised", "canceled", "rejected", "type",
     "project", "repo", "repoName", "branch", "url", "userEmail", "method"}
)
#: Repo fields ``get_repos`` may filter on; ``name`` is compared case-folded.
REPO_QUERY_KEYS: frozenset[str] = frozenset({"name", "url", "project"})
#: User fields ``get_users`` may filter on; username, email and gitAccount compared case-folded.
USER_QUERY_KEYS: frozenset[str] = frozenset(
    {"username", "email", "gitAccount", "admin", "oidcId", "displayName", "title"}
)

#: Status tabs of ``get_repo_push_rollups_by_canonical_url``.
ROLLUP_TABS: tuple[str, ...] = ("pending", "approved", "canceled", "rejected", "error")
