"""The typed errors every adapter raises, so callers never see a driver exception.

Each error names the object it concerns. ``code`` is a stable, language-neutral name used by the
out-of-process bridge and the JSON report.
"""

from __future__ import annotations


class SinkError(Exception):
    """Base of every error a sink raises on purpose."""

    code = "sink_error"


class NotFound(SinkError, LookupError):
    code = "not_found"
    kind = "object"

    def __init__(self, key: object, message: str | None = None):
        self.key = key
        super().__init__(message or f"{self.kind} {key!r} not found")


class PushNotFound(NotFound):
    code = "push_not_found"
    kind = "push"


class RepoNotFound(NotFound):
    code = "repo_not_found"
    kind = "repo"


class UserNotFound(NotFound):
    code = "user_not_found"
    kind = "user"


class Duplicate(SinkError):
    code = "duplicate"
    kind = "object"

    def __init__(self, field: str, value: object, message: str | None = None):
        self.field = field
        self.value = value
        super().__init__(message or f"a {self.kind} with {field} {value!r} already exists")


class DuplicateUser(Duplicate):
    code = "duplicate_user"
    kind = "user"


class DuplicateRepo(Duplicate):
    code = "duplicate_repo"
    kind = "repo"


class DuplicatePush(Duplicate):
    code = "duplicate_push"
    kind = "push"


class DuplicateSSHKey(Duplicate):
    """The key is already held by another user."""

    code = "duplicate_ssh_key"
    kind = "SSH key"

    def __init__(self, owner: str, message: str | None = None):
        self.owner = owner
        super().__init__("owner", owner, message or f"SSH key already belongs to user {owner!r}")


class PublicKeyExists(Duplicate):
    """The same key (or fingerprint) is already on this user."""

    code = "public_key_exists"
    kind = "public key"

    def __init__(self, username: str, fingerprint: object):
        self.username = username
        super().__init__(
            "fingerprint",
            fingerprint,
            f"SSH key already exists for user {username!r} (fingerprint {fingerprint!r})",
        )


class InvalidDocument(SinkError, ValueError):
    """A document or argument is malformed; nothing was written."""

    code = "invalid_document"

    def __init__(self, what: str, problem: str):
        self.what = what
        self.problem = problem
        super().__init__(f"invalid {what}: {problem}")


class InvalidQuery(SinkError, ValueError):
    """A query names a key or value the contract does not allow."""

    code = "invalid_query"

    def __init__(self, key: str, problem: str = "unsupported query key"):
        self.key = key
        super().__init__(f"{problem}: {key!r}")


class ConfigError(SinkError, ValueError):
    code = "config_error"


class Unavailable(SinkError, ConnectionError):
    """The backing store cannot be reached; the message never carries credentials."""

    code = "unavailable"


class Busy(SinkError, TimeoutError):
    """The store is up but could not serve the call in time: a lock another session holds, a
    statement over its time limit, or every pooled connection in use. Retrying later may work;
    unlike Unavailable it says nothing about an outage."""

    code = "busy"


ERRORS_BY_CODE: dict[str, type[SinkError]] = {
    cls.code: cls
    for cls in (
        SinkError, NotFound, PushNotFound, RepoNotFound, UserNotFound, Duplicate, DuplicateUser,
        DuplicateRepo, DuplicatePush, DuplicateSSHKey, PublicKeyExists, InvalidDocument,
        InvalidQuery, ConfigError, Unavailable, Busy,
    )
}
