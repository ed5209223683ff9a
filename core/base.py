"""One base class for Sink adapters: the public methods derived from a few primitives.

An adapter subclasses ``SinkBase`` and writes the primitives declared in
``sinkkit.core.primitives`` (what each may assume and must do is in its docstring). The base owns
what every adapter used to repeat: each input goes through ``sinkkit.core.rules`` / ``queries``
here, once, so a primitive receives checked, normalised values (a username folded, a query's
keys known, a document validated and copied); the three review decisions are flag sets defined
once over ``_review``; the four permission changes are one ``_permission``; the five user
lookups are one ``_find``. Ids no backend can hold (not a string, empty, NUL, a lone surrogate)
are answered here: lookups give None, deletes do nothing, changes to a repo raise
``RepoNotFound``, so a primitive only sees plain ids. (go-cloud's ``docstore.go`` derives
Create/Put/Get from one ``Actions().Do`` the same way; SQLAlchemy's ``DefaultDialect`` derives
``has_index`` from ``get_indexes``.)
"""

from __future__ import annotations

from typing import Any

from sinkkit.conformance.errors import InvalidDocument, RepoNotFound
from sinkkit.core import queries, rules, views
from sinkkit.core.primitives import SinkPrimitives

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


def _repo_id(_id: Any) -> str:
    """``_id`` when a repo could have it; a change to a repo no backend can hold finds none."""
    if not rules.is_plain_id(_id):
        raise RepoNotFound(_id)
    return _id


class SinkBase(SinkPrimitives):
    """The public Sink over the primitives an adapter writes (see the module docstring)."""

    #: False for an adapter that serialises a pushed document, an attestation or a rejection at
    #: once and keeps no reference to it (SQL): the deep copy of the caller's values is skipped
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
        attestation = rules.check_payload("attestation", attestation,
                                          deep_copy=self.keeps_documents)
        return self._decide(id, "authorised", {**REVIEWS["authorised"], "attestation": attestation})

    def reject(self, id: str, rejection: Any) -> Document:
        rejection = rules.check_payload("rejection", rejection, deep_copy=self.keeps_documents)
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
        fields = rules.normalise_repo_changes(changes)
        return self._update_repo(_repo_id(_id), fields)

    def add_user_can_push(self, _id: str, user: str) -> None:
        self._change_permission(_id, "canPush", user, add=True)

    def add_user_can_authorise(self, _id: str, user: str) -> None:
        self._change_permission(_id, "canAuthorise", user, add=True)

    def remove_user_can_push(self, _id: str, user: str) -> None:
        self._change_permission(_id, "canPush", user, add=False)

    def remove_user_can_authorise(self, _id: str, user: str) -> None:
        self._change_permission(_id, "canAuthorise", user, add=False)

    def _change_permission(self, _id: str, role: str, user: str, add: bool) -> None:
        name = rules.normalise_username(user)
        self._permission(_repo_id(_id), role, name, add)

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
