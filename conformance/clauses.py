"""The clause registry: every rule of the Sink contract, with a stable id.

A clause is one normative sentence about one or more Sink methods, with notes on how git-proxy's
own fs and mongo backends behave where they differ. Every conformance test names its clause
with ``@clause("id")``; ``docs/contract.md`` and the reports are generated from this registry.
Ids are stable: a clause is never renumbered, only added (marked provisional for a release).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import pytest
from sinkkit.conformance.capabilities import check_names
from sinkkit.conformance.contract import GIT_PROXY_NAMES

F = TypeVar("F", bound=Callable)

RESOURCES: dict[str, str] = {
    "identity": "Identity of users, repos and pushes",
    "pushes": "Pushes: audit records, listing and review",
    "repos": "Repos and their permissions",
    "users": "Users",
    "keys": "SSH public keys",
    "sessions": "The UI session store",
    "config": "Configuration: choosing and opening a sink",
    "bootstrap": "Schema bootstrap and reopening",
    "migrations": "The migrations ledger",
    "input": "Bad and hostile input",
    "documents": "Document shapes",
    "reliability": "Reliability: model-based sequences, races, faults and hostile input",
}


@dataclass(frozen=True)
class Clause:
    id: str
    statement: str
    methods: tuple[str, ...]
    upstream_fs: str = ""
    upstream_mongo: str = ""
    provisional: bool = False
    #: capabilities (``CAPABILITY_TABLE`` names) every test of the clause needs; a harness
    #: without one of them shows the clause as not applicable
    requires: tuple[str, ...] = ()

    @property
    def resource(self) -> str:
        return self.id.split(".", 1)[0]

    @property
    def git_proxy_methods(self) -> tuple[str, ...]:
        return tuple(GIT_PROXY_NAMES[m] for m in self.methods)


#: the clauses an adapter is judged on: every report and parity column counts these
CLAUSES: dict[str, Clause] = {}
#: clauses about the kit itself (choosing an entry from git-proxy's ``sink`` list is
#: ``open_sink``'s work, which no adapter takes part in): checked by the kit's own tests under
#: ``tests/``, listed in the contract, and never in an adapter's totals, where they would pass
#: whatever the adapter (or a bridged peer) does
KIT_CLAUSES: dict[str, Clause] = {}


def declare(id: str, statement: str, methods: tuple[str, ...] = (), fs: str = "",
            mongo: str = "", provisional: bool = False, requires: tuple[str, ...] = (),
            kit: bool = False) -> None:
    """Add a clause to the registry; ``methods`` are the Sink methods its tests exercise,
    ``requires`` the capabilities without which it is not applicable; ``kit`` clauses are the
    kit's own (checked under ``tests/``, never in an adapter's totals)."""
    if id in CLAUSES or id in KIT_CLAUSES:
        raise ValueError(f"clause {id} declared twice")
    names = tuple(methods)
    unknown = [m for m in names if m not in GIT_PROXY_NAMES]
    if unknown or id.split(".", 1)[0] not in RESOURCES:
        raise ValueError(f"clause {id}: unknown method(s) {unknown} or resource")
    (KIT_CLAUSES if kit else CLAUSES)[id] = Clause(id, statement, names, fs, mongo, provisional,
                                                   check_names(requires))


# --- identity ------------------------------------------------------------------------------------
declare("identity.users.opaque-string-id",
    "A created user carries `_id`: a non-empty string (never an ObjectId or number), stable across "
    "reads and updates.", ("create_user", "find_user", "update_user"),
    mongo="Returns a driver ObjectId in `_id`.")
declare("identity.repos.opaque-string-id",
    "A created repo carries `_id`: a non-empty string, stable across reads, updates and permission "
    "changes.", ("create_repo", "get_repo_by_id", "add_user_can_push"),
    mongo="Returns a driver ObjectId in `_id`.")
declare("identity.pushes.keyed-by-id",
    "Pushes are keyed by the caller's `id`; a returned push carries no `_id` other than one equal "
    "to `id`.", ("write_audit", "get_push"),
    fs="NeDB adds its own random `_id` to each push.")
declare("identity.malformed-id-returns-none",
    "A lookup by a malformed id (empty, wrong format, injection text) returns None and never "
    "raises a driver error.", ("get_repo_by_id", "get_push"),
    mongo="getRepoById raises on an id that is not 24 hex characters.")
declare("identity.caller-supplied-id-kept",
    "A caller-supplied `_id` on create is kept as given; creating a second object with the same "
    "`_id` raises the duplicate error.", ("create_user", "create_repo"))

# --- pushes --------------------------------------------------------------------------------------
declare("pushes.write.upsert-replaces",
    "`write_audit` upserts by `id`, replacing the whole stored document (fields absent from the "
    "new document are gone).", ("write_audit",), mongo="Merges fields into the stored document.")
declare("pushes.get.full-document",
    "`get_push` returns the full stored document, every field included.", ("get_push",))
declare("pushes.get.missing-returns-none", "`get_push` of an unknown id returns None.",
        ("get_push",))
declare("pushes.write.id-required",
    "A push without a non-blank string `id` is refused with InvalidDocument and nothing is "
    "written.", ("write_audit",),
    fs="writeAudit stores a push without a usable `id`.")
declare("pushes.roundtrip.exact",
    "Push payloads round-trip exactly: nested objects and lists, unicode, quotes, long strings, "
    "numbers, booleans and nulls.", ("write_audit", "get_push"),
    fs="JavaScript numbers: integral floats and integers past 2**53 do not round-trip.")
declare("pushes.list.default-pending",
    "`get_pushes()` with no query returns pending pushes: error=false, blocked=true, "
    "allowPush=false, authorised=false, type=\"push\".", ("get_pushes",))
declare("pushes.list.timestamp-descending",
    "Listings are ordered by `timestamp`, newest first.", ("get_pushes",),
    fs="Ordering untested upstream.")
declare("pushes.list.ties-by-id-descending",
    "Pushes with equal timestamps are ordered by `id` descending, identically on every backend; "
    "pushes without a timestamp come last.", ("get_pushes",))
declare("pushes.list.view-fields",
    "Listings return the documented list view (upstream mongo's projection) and nothing else: no "
    "`_id`, and fields absent from the stored push stay absent.", ("get_pushes",),
    fs="Returns whole documents.")
declare("pushes.list.filters-by-field",
    "`get_pushes(query)` returns exactly the pushes whose fields equal every given value; a "
    "boolean never matches a number.", ("get_pushes",))
declare("pushes.list.unknown-key-refused",
    "A query key outside the documented set raises InvalidQuery naming the key; it is never "
    "ignored and never reaches the driver.", ("get_pushes",),
    fs="Passed to NeDB as is.", mongo="Passed to MongoDB as is (operators included).")
declare("pushes.list.operator-value-refused",
    "A query value that is not a plain scalar (such as `{\"$ne\": null}`) raises InvalidQuery.",
    ("get_pushes", "get_repos", "get_users"), mongo="Interpreted as a query operator.")
declare("pushes.delete.removes",
    "`delete_push` removes the push; deleting an unknown id is a no-op.", ("delete_push",))
declare("pushes.authorise.sets-flags",
    "`authorise` sets authorised=true, canceled=false, rejected=false and stores the attestation "
    "exactly as given.", ("authorise",))
declare("pushes.reject.sets-flags-and-rejection",
    "`reject` sets rejected=true, authorised=false, canceled=false and stores the payload exactly "
    "as given in the field `rejection`.", ("reject",))
declare("pushes.cancel.sets-flags",
    "`cancel` sets canceled=true, authorised=false, rejected=false.", ("cancel",))
declare("pushes.review.message-names-id",
    "authorise, reject and cancel return `{\"message\": ...}` naming the push id.",
    ("authorise", "reject", "cancel"), mongo="cancel says `canceled <id>`.")
declare("pushes.review.unknown-id-raises",
    "authorise, reject and cancel of an unknown id raise PushNotFound and write nothing.",
    ("authorise", "reject", "cancel"))
declare("pushes.review.flags-exclusive",
    "After any sequence of reviews, at most one of authorised, rejected and canceled is true, "
    "even when reviewers race.", ("authorise", "reject", "cancel"),
    mongo="Read-modify-write in Node: concurrent reviewers can interleave.")
declare("pushes.review.keeps-other-fields",
    "A review changes only its flags and payload; every other field of the push is kept.",
    ("authorise", "reject", "cancel"))
declare("pushes.profile.by-email-variant",
    "`get_pushes_for_user_profile` returns pushes of type \"push\" whose `userEmail` is one of "
    "the given variants.", ("get_pushes_for_user_profile",))
declare("pushes.profile.by-reviewer-username",
    "... or whose `attestation.reviewer.username` equals the username ignoring case; regex "
    "characters in the name are literal.", ("get_pushes_for_user_profile",))
declare("pushes.profile.no-variants-reviewer-only",
    "With no email variants only the reviewer match applies; with neither, nothing is returned. "
    "An empty variant is no variant: it never matches a push whose `userEmail` is empty.",
    ("get_pushes_for_user_profile",))
declare("pushes.profile.order-and-view",
    "Profile listings use the same ordering and list view as `get_pushes`, and only type "
    "\"push\".", ("get_pushes_for_user_profile",))
declare("pushes.rollups.canonical-url",
    "Rollups are keyed by the canonical remote URL: lower-cased host[:port]/path with slashes "
    "and a trailing `.git` trimmed, for http(s) and `git@host:path` alike.",
    ("get_repo_push_rollups_by_canonical_url",))
declare("pushes.rollups.status-priority",
    "Each push counts once, under the first of: error, rejected, canceled, approved if "
    "authorised, pending if blocked, approved if allowPush, else pending.",
    ("get_repo_push_rollups_by_canonical_url",))
declare("pushes.rollups.latest-timestamps",
    "Rollups carry the latest push timestamp and the latest pending timestamp per URL.",
    ("get_repo_push_rollups_by_canonical_url",))
declare("pushes.rollups.skips-empty-url-and-other-types",
    "Pushes with an empty url and records whose type is not \"push\" are left out of rollups.",
    ("get_repo_push_rollups_by_canonical_url",))

# --- repos ---------------------------------------------------------------------------------------
declare("repos.create.returns-stored-repo",
    "`create_repo` returns the stored repo with its `_id`; it is then found by id, name and url.",
    ("create_repo", "get_repo", "get_repo_by_url", "get_repo_by_id"))
declare("repos.create.name-folded-url-verbatim",
    "Repo names are stored and looked up lower-cased; URLs are stored and matched exactly.",
    ("create_repo", "get_repo", "get_repo_by_url"))
declare("repos.create.url-unique",
    "Creating a second repo with an existing url raises DuplicateRepo and writes nothing.",
    ("create_repo",), mongo="No unique index: duplicates are stopped only above the sink.")
declare("repos.create.blank-refused",
    "A blank repo name or url raises InvalidDocument and writes nothing.", ("create_repo",))
declare("repos.lookup.missing-returns-none",
    "Lookups of an unknown name, url or id return None.",
    ("get_repo", "get_repo_by_url", "get_repo_by_id"))
declare("repos.list.query-folds-name",
    "`get_repos({\"name\": ...})` folds the name like the stored one; other keys match exactly.",
    ("get_repos",), mongo="Does not fold the name in getRepos queries.")
declare("repos.list.unknown-key-refused",
    "A `get_repos` query key outside name, url, project raises InvalidQuery naming the key.",
    ("get_repos",),
    fs="getRepos hands the query to NeDB: an unknown key is not refused.")
declare("repos.list.ordered-by-name",
    "`get_repos` returns repos ordered by name, then `_id`.", ("get_repos",))
declare("repos.update.merges-fields",
    "`update_repo` merges the given fields, keeps the rest, and refuses changes to `_id`, "
    "`users` or the dates with InvalidDocument.", ("update_repo",))
declare("repos.update.missing-raises", "`update_repo` of an unknown id raises RepoNotFound.",
    ("update_repo",),
    fs="updateRepo of an unknown repo is a silent no-op.")
declare("repos.update.url-unique",
    "`update_repo` to another repo's url raises DuplicateRepo and changes nothing.",
    ("update_repo",))
declare("repos.delete.removes",
    "`delete_repo` removes the repo; deleting an unknown id is a no-op.", ("delete_repo",))
declare("repos.dates.created-once",
    "`dateCreated` is set at creation and never changes.", ("create_repo", "add_user_can_push"))
declare("repos.dates.modified-moves",
    "`lastModified` strictly increases with every change to the repo.",
    ("update_repo", "add_user_can_push", "remove_user_can_authorise"))
declare("repos.permissions.new-repo-empty-lists",
    "A new repo starts with `users.canPush == []` and `users.canAuthorise == []`, even when "
    "created without `users`.", ("create_repo",),
    fs="A repo without a `users` field breaks later permission changes.")
declare("repos.permissions.add-idempotent",
    "Adding a user who is already listed changes nothing (no duplicates).",
    ("add_user_can_push", "add_user_can_authorise"), mongo="addUserCanPush can duplicate entries.")
declare("repos.permissions.case-folded",
    "Permission user names are stored lower-cased; adding and removing fold case.",
    ("add_user_can_push", "remove_user_can_push", "add_user_can_authorise"))
declare("repos.permissions.empty-list",
    "Removing the last user leaves `[]`, never null or a missing field.",
    ("remove_user_can_push", "remove_user_can_authorise"),
    fs="Untested upstream.")
declare("repos.permissions.remove-absent-noop",
    "Removing a user who is not listed is a no-op.",
    ("remove_user_can_push", "remove_user_can_authorise"))
declare("repos.permissions.missing-repo-raises",
    "A permission change on a repo that does not exist raises RepoNotFound.",
    ("add_user_can_push", "add_user_can_authorise", "remove_user_can_push",
     "remove_user_can_authorise"),
    mongo="Silently ignored.")
declare("repos.permissions.roles-independent",
    "canPush and canAuthorise are independent lists: changing one never touches the other.",
    ("add_user_can_push", "add_user_can_authorise"))
declare("repos.permissions.concurrent-adds-all-land",
    "N concurrent adds of distinct users on one repo all land, with no duplicates.",
    ("add_user_can_push",), fs="Read-modify-write: concurrent changes can be lost.")

# --- users ---------------------------------------------------------------------------------------
declare("users.create.returns-stored-user",
    "`create_user` returns the stored user with its `_id`; it is then found by username.",
    ("create_user", "find_user"))
declare("users.case.username-folded",
    "Usernames are stored lower-cased and looked up ignoring case.", ("create_user", "find_user"))
declare("users.case.email-folded",
    "Emails are stored lower-cased and looked up ignoring case.",
    ("create_user", "find_user_by_email"))
declare("users.case.git-account-folded",
    "gitAccount is folded on write and on lookup, so a mixed-case gitAccount is found.",
    ("create_user", "find_user_by_git_account"),
    fs="Folds only on lookup: a mixed-case gitAccount can never be found.",
    mongo="Folds only on lookup: a mixed-case gitAccount can never be found.")
declare("users.unique.username",
    "Creating a user with an existing username (any case) raises DuplicateUser; nothing is "
    "written.", ("create_user",), mongo="No unique index.")
declare("users.unique.email",
    "Creating a user with an existing non-empty email (any case) raises DuplicateUser.",
    ("create_user",), mongo="No unique index.")
declare("users.create.blank-email-refused",
    "A user created, or upserted by `update_user`, without an email or with a blank one raises "
    "InvalidDocument naming `email` and writes nothing; `update_user` cannot blank a stored email "
    "(git-proxy's createUser refuses a blank email, and its fs sink's unique index on `email` "
    "refuses a second missing or blank one, so such a store cannot open in git-proxy).",
    ("create_user", "update_user"),
    fs="The sink's createUser stores a blank email (the unique index refuses only the second) and "
    "throws a TypeError without one.",
    mongo="The sink's createUser stores a blank email and throws a TypeError without one.")
declare("users.create.blank-refused",
    "A blank username or gitAccount, on create or update, raises InvalidDocument and writes "
    "nothing; so does a public key with a blank `key` or `fingerprint`, given to create_user, "
    "update_user or add_public_key.", ("create_user", "update_user", "add_public_key"),
    fs="createUser stores a blank username or gitAccount.")
declare("users.find.missing-returns-none",
    "Every user lookup of an unknown value returns None.",
    ("find_user", "find_user_by_email", "find_user_by_git_account", "find_user_by_oidc",
     "find_user_by_ssh_key"))
declare("users.find.by-oidc", "`find_user_by_oidc` finds the user by its exact `oidcId`.",
    ("find_user_by_oidc",))
declare("users.list.no-password",
    "`get_users` never returns `password`.", ("get_users",), fs="Returns passwords.")
declare("users.list.query-folds",
    "`get_users` folds username, email and gitAccount in queries and matches other keys "
    "exactly; results are ordered by username.", ("get_users",),
    fs="Listed in NeDB's random `_id` order, not by username.")
declare("users.list.unknown-key-refused",
    "A `get_users` query key outside the documented set raises InvalidQuery naming the key.",
    ("get_users",),
    fs="getUsers hands the query to NeDB: an unknown key is not refused.")
declare("users.update.merges-fields",
    "`update_user` merges the given fields into the stored user and keeps the rest.",
    ("update_user",), )
declare("users.update.matches-id-then-username",
    "`update_user` finds the user by `_id` when given, else by username (folded).",
    ("update_user",), fs="Matches by username only.")
declare("users.update.upserts",
    "`update_user` of an absent user creates it.", ("update_user",))
declare("users.update.every-field-round-trips",
    "Every field round-trips through `update_user`, including `mustChangePassword` and fields "
    "this kit does not know.", ("update_user",),
    mongo="Round-trips; git-proxy's PostgreSQL branch drops `mustChangePassword`.")
declare("users.update.keeps-uniqueness",
    "`update_user` that would give a user another user's username or email raises DuplicateUser "
    "and changes nothing.", ("update_user",),
    fs="updateUser onto a taken username throws NeDB's untyped `You cannot change a document's "
       "_id`.")
declare("users.delete.removes",
    "`delete_user` removes the user (username folded); deleting an unknown user is a no-op.",
    ("delete_user",))

# --- public keys ---------------------------------------------------------------------------------
declare("keys.list.insertion-order",
    "`get_public_keys` returns the user's keys in insertion order, `[]` when there are none.",
    ("add_public_key", "get_public_keys"))
declare("keys.find.user-by-key",
    "`find_user_by_ssh_key` finds the user holding exactly that key.",
    ("add_public_key", "find_user_by_ssh_key"))
declare("keys.add.held-by-other-user-refused",
    "Adding a key already held by another user raises DuplicateSSHKey naming nobody's secret.",
    ("add_public_key",))
declare("keys.add.same-key-or-fingerprint-refused",
    "Adding the same key, or another key with the same fingerprint, to one user raises "
    "PublicKeyExists.", ("add_public_key",))
declare("keys.remove.by-fingerprint",
    "`remove_public_key` removes the key with that fingerprint; an unknown fingerprint is a "
    "no-op.", ("remove_public_key",))
declare("keys.missing-user-raises",
    "add, remove and get on a missing user raise UserNotFound.",
    ("add_public_key", "remove_public_key", "get_public_keys"),
    mongo="removePublicKey of a missing user does nothing.",
    fs="The missing-user error says `User not found`, without the username.")

#: what every session clause needs
_SESSIONS = ("session_store",)

# --- sessions ------------------------------------------------------------------------------------
declare("sessions.store.ready-at-open",
    "A sink exposes a working session store as soon as it is opened.", ("session_store",),
    requires=_SESSIONS, fs="No session store: express-session falls back to MemoryStore.")
declare("sessions.set-get.round-trips",
    "`set` then `get` returns the session exactly; `get` of an unknown sid returns None.",
    ("session_store",), requires=_SESSIONS)
declare("sessions.set.long-sid-refused",
    "`set` with a session id longer than 1 024 UTF-8 bytes raises InvalidDocument naming the "
    "session id and the limit, and stores nothing.", ("session_store",), requires=_SESSIONS)
declare("sessions.set.overwrites", "`set` on an existing sid replaces the session.",
    ("session_store",), requires=_SESSIONS)
declare("sessions.destroy.removes",
    "`destroy` removes the session; destroying an unknown sid is a no-op.", ("session_store",),
    requires=_SESSIONS)
declare("sessions.all-and-length",
    "`all` maps every live sid to its session and `length` counts them.", ("session_store",),
    requires=_SESSIONS)
declare("sessions.clear.removes-all", "`clear` removes every session.", ("session_store",),
    requires=_SESSIONS)
declare("sessions.expiry.cookie-expires",
    "A session whose `cookie.expires` is past is invisible to get, all and length.",
    ("session_store",), requires=_SESSIONS)
declare("sessions.expiry.max-age",
    "`cookie.maxAge` is not read: without `cookie.expires` the store's default TTL decides expiry, "
    "as in connect-mongo, connect-pg-simple and express-session's MemoryStore (express-session "
    "always writes `expires` along with `maxAge`), so a git-proxy sharing the store expires the "
    "same sessions at the same moment.", ("session_store",), requires=_SESSIONS)
declare("sessions.expiry.default-ttl",
    "Without either, the store's documented `default_ttl` (seconds) applies.", ("session_store",),
    requires=_SESSIONS)
declare("sessions.expiry.pruned",
    "`prune` deletes expired sessions and reports how many; live ones stay.", ("session_store",),
    requires=_SESSIONS)
declare("sessions.touch.extends",
    "`touch` moves a live session's expiry from the given cookie and does not resurrect an "
    "expired or destroyed one.", ("session_store",), requires=_SESSIONS)
declare("sessions.persistent.survive-reopen",
    "Sessions survive closing the sink and opening a new one over the same storage.",
    ("session_store",), requires=(*_SESSIONS, "persistent"),
    fs="MemoryStore: sessions are lost on restart.")

# --- config --------------------------------------------------------------------------------------
declare("config.first-enabled-wins",
    "From a `sink` list, the first entry with `enabled: true` is opened.", (), kit=True)
declare("config.disabled-entries-ignored",
    "Entries with `enabled: false` are never opened, even when listed first.", (),
    mongo="Untested upstream.", kit=True)
declare("config.none-enabled-raises",
    "A `sink` list with no enabled entry raises ConfigError.", (), kit=True)
declare("config.unknown-type-raises",
    "An enabled entry of an unknown `type` raises ConfigError naming the type.", (), kit=True)
declare("config.password-masked",
    "A password in a connection string never appears in an error message or repr.", (), kit=True)

# --- bootstrap -----------------------------------------------------------------------------------
declare("bootstrap.empty-store-ready",
    "Opening on empty storage gives a sink with no users, repos, pushes or migrations, ready to "
    "use.", ("get_users", "get_repos", "get_pushes", "get_applied_migrations"))
declare("bootstrap.reopen-keeps-data",
    "Closing and opening again over the same storage changes nothing and loses nothing.",
    ("close",), requires=("persistent",))
declare("bootstrap.concurrent-open",
    "Several sinks opened over the same storage at once all succeed and see the same data.",
    ("close",), requires=("multi_process",))
declare("bootstrap.closed-sink-unavailable",
    "Calls on a closed sink raise Unavailable, never a driver error.", ("close",))

# --- migrations ----------------------------------------------------------------------------------
declare("migrations.ledger.empty-at-start", "The ledger starts empty.", ("get_applied_migrations",))
declare("migrations.ledger.records-in-order",
    "Recorded ids are listed in the order they were first recorded.",
    ("record_migration", "get_applied_migrations"),
    fs="Listed in NeDB's random `_id` order, not record order.")
declare("migrations.ledger.record-idempotent",
    "Recording an id twice lists it once, at its first position.", ("record_migration",),
    fs="Listed in NeDB's random `_id` order, not record order.")
declare("migrations.ledger.unrecord",
    "`unrecord_migration` removes an id; an unknown id is a no-op.", ("unrecord_migration",),
    fs="Listed in NeDB's random `_id` order, not record order.")

# --- input ---------------------------------------------------------------------------------------
declare("input.wrong-type-refused",
    "A value of the wrong type (an object or number where a string belongs, None for a required "
    "string) raises InvalidDocument naming the field, before anything is written.",
    ("create_user", "create_repo", "write_audit", "update_repo", "add_user_can_push",
     "add_user_can_authorise", "remove_user_can_push", "remove_user_can_authorise"),
    fs="Wrong types reach NeDB and throw untyped errors (TypeError).")
declare("input.nul-and-surrogates-refused",
    "Strings containing NUL or a lone surrogate are refused with InvalidDocument on every "
    "backend, since not every backend can store them.", ("create_user", "write_audit"),
    fs="NUL bytes and lone surrogates are stored.")
declare("input.dollar-keys-refused",
    "Document keys starting with `$` or containing `.` are refused with InvalidDocument, since "
    "neither NeDB nor MongoDB stores them as plain field names.", ("write_audit", "create_user"),
    fs="NeDB throws on such keys.", mongo="Passed to the driver.")
declare("input.sql-text-verbatim",
    "SQL fragments and quote runs in values are stored and returned verbatim.",
    ("create_user", "find_user", "write_audit", "get_push"))
declare("input.operator-text-is-plain-value",
    "Operator-looking strings (`$where`, `{\"$ne\": null}`) are plain values in lookups.",
    ("find_user", "get_repo"))

declare("input.long-keys-refused",
    "A value longer than 1 024 UTF-8 bytes in a field a backend indexes (push `id`, user `_id`, "
    "username, email, gitAccount, oidcId, repo `_id`, name and url, migration id) raises "
    "InvalidDocument naming the field and the limit and writes nothing, on every backend, up to "
    "1 MB values; a value of exactly 1 024 bytes is stored and found.",
    ("write_audit", "create_user", "create_repo", "record_migration"),
    fs="NeDB stores any length.", mongo="Stores any length (MongoDB 4.2+ with FCV 4.2).")
declare("input.long-user-email-stored",
    "A push whose `userEmail` is up to 1 MB long (a pusher sets it through the commit) is stored "
    "and found by `get_push`, `get_pushes` and `get_pushes_for_user_profile`.",
    ("write_audit", "get_push", "get_pushes", "get_pushes_for_user_profile"))

# --- documents -----------------------------------------------------------------------------------
declare("documents.returned-shapes-valid",
    "Every document an adapter returns matches the published JSON Schema of its kind.",
    ("find_user", "get_repo", "get_push", "get_pushes", "get_public_keys"))
declare("documents.returned-are-copies",
    "Every document a call returns is the caller's own copy: editing it, or any object or list "
    "nested in it, changes nothing stored and nothing a later call returns.",
    ("get_push", "get_pushes", "get_pushes_for_user_profile",
     "get_repo_push_rollups_by_canonical_url", "get_repos", "get_repo", "get_repo_by_url",
     "get_repo_by_id", "create_repo", "update_repo", "find_user", "find_user_by_email",
     "find_user_by_git_account", "find_user_by_oidc", "find_user_by_ssh_key", "get_users",
     "create_user", "update_user", "get_public_keys", "session_store"),
    provisional=True)
declare("documents.inputs-are-copied",
    "A document given to a write is copied by the time the call returns: editing it afterwards, "
    "or any object or list nested in it, changes nothing stored.",
    ("write_audit", "authorise", "reject", "create_repo", "update_repo", "create_user",
     "update_user", "add_public_key", "session_store"),
    provisional=True)


# --- reliability (issue 7) -----------------------------------------------------------------------
_ALL_METHODS = tuple(m for m in GIT_PROXY_NAMES if m != "close")
_WRITES = ("write_audit", "delete_push", "authorise", "reject", "cancel", "create_repo",
           "update_repo", "add_user_can_push", "add_user_can_authorise", "remove_user_can_push",
           "remove_user_can_authorise", "delete_repo", "create_user", "update_user",
           "delete_user", "add_public_key", "remove_public_key", "record_migration",
           "unrecord_migration", "session_store")
_LOOKUPS = ("get_push", "get_pushes", "get_pushes_for_user_profile", "get_repos", "get_repo",
            "get_repo_by_url", "get_repo_by_id", "find_user", "find_user_by_email",
            "find_user_by_git_account", "find_user_by_oidc", "find_user_by_ssh_key", "get_users",
            "get_public_keys", "session_store")
declare("reliability.model.matches-memory",
    "Any sequence of Sink operations gives the same results, the same error classes and the same "
    "final state as the memory reference model run alongside (generated ids are mapped, dates are "
    "held to their ordering rules, since clocks differ).", _ALL_METHODS)
declare("reliability.concurrent.permissions-threads",
    "Permission adds and removes on one repo from many threads at once lose nothing and leave no "
    "duplicates.", ("add_user_can_push", "add_user_can_authorise", "remove_user_can_push"),
    fs="Read-modify-write: concurrent changes can be lost.")
declare("reliability.concurrent.permissions-processes",
    "Permission adds on one repo from several processes at once all land, with no duplicates.",
    ("add_user_can_push", "add_user_can_authorise"),
    mongo="$push without $addToSet can duplicate entries.", requires=("multi_process",))
declare("reliability.concurrent.review-race",
    "authorise, reject and cancel racing on one push leave the flags and payload of exactly one "
    "of them: never two flags true, never a torn mix.", ("authorise", "reject", "cancel"),
    mongo="Read-modify-write in Node: concurrent reviewers can interleave.")
declare("reliability.concurrent.session-writes",
    "Concurrent `set` calls on one sid leave one of the written sessions whole (the last write "
    "wins) and the store readable, counting that sid once.", ("session_store",), requires=_SESSIONS)
declare("reliability.concurrent.write-audit",
    "Parallel `write_audit` of distinct pushes stores every one, lists each once, in the "
    "documented order.", ("write_audit", "get_pushes"))
declare("reliability.concurrent.ssh-key-race",
    "One SSH key added to several users at once ends up held by exactly one of them; every "
    "other call raises DuplicateSSHKey.", ("add_public_key", "find_user_by_ssh_key"),
    mongo="Checks for another holder, then pushes: two users can both get the key.",
    fs="addPublicKey looks the key up, then writes: one key can land on several users at once.")
declare("reliability.faults.outage-unavailable",
    "While the backend is down, every call raises Unavailable: never a driver error, never a "
    "wrong or empty answer.", _ALL_METHODS, requires=("fault_injection",))
declare("reliability.faults.recovers-without-reopen",
    "When the backend is back, the same sink serves calls again without being reopened, and every "
    "write acknowledged before or during the outage is there.", ("write_audit", "get_push"),
    requires=("fault_injection",))
declare("reliability.faults.killed-writer-keeps-acks",
    "A writer process killed with SIGKILL mid-write loses nothing it acknowledged: the storage "
    "reopens cleanly and holds every acknowledged write.",
    ("write_audit", "add_user_can_push", "close"),
    fs="NeDB appends with no fsync; a torn line can break loading.", requires=("kill_safe",))
declare("reliability.faults.server-crash-keeps-acks",
    "PostgreSQL: SIGKILL of the postmaster and every backend, on a server with durable settings "
    "(`fsync`, `synchronous_commit`, `full_page_writes` on), under running writers, loses no "
    "acknowledged write: after the restart every acknowledged push reads back exactly, and the "
    "same sink writes again without a reopen.", (), kit=True)
declare("reliability.faults.unreachable-open-typed",
    "Opening against a server that accepts connections but never answers raises Unavailable "
    "within about the configured timeout, with the password masked.", (),
    fs="Not applicable (no server).")
declare("reliability.failover.resumes-writes",
    "Under a running writer, when the primary is killed (SIGKILL) and the standby promoted, the "
    "same sink writes again through the same connection string without being reopened, within "
    "a bounded number of failed calls, each failure an Unavailable.", ("write_audit",),
    fs="Not applicable (no server).", requires=("failover",))
declare("reliability.failover.sync-keeps-acks",
    "With synchronous replication, every write acknowledged before the primary was killed is "
    "there after the standby is promoted.", ("write_audit", "get_push"),
    fs="Not applicable (no server).", requires=("failover",))
declare("reliability.failover.async-loss-reported",
    "With asynchronous replication, the sink resumes after a failover and keeps every write "
    "acknowledged after it; the acknowledged writes lost in the window are counted and reported, "
    "not hidden.", ("write_audit", "get_push"), fs="Not applicable (no server).",
    requires=("failover",))
declare("reliability.failover.read-only-server-left",
    "When the primary stays reachable but turns read-only and the standby is promoted, the sink "
    "leaves its connections to the read-only server (SQLSTATE 25006) for the writable one: no "
    "call fails with a write error, writes resume, and none lands on the read-only server.",
    ("write_audit", "get_push"), fs="Not applicable (no server).", requires=("failover",))
declare("reliability.failover.reads-on-read-only-server",
    "A read served by a read-only server (a demoted primary, a standby) answers as the primary "
    "did, never with a write error; a write there raises Unavailable and stores nothing.",
    ("get_push", "get_pushes", "find_user", "get_applied_migrations", "write_audit"),
    fs="Not applicable (no server).", requires=("failover",))
declare("reliability.hostile.writes-verbatim-or-refused",
    "Every write method given hostile input (SQL text, operator objects, `$` keys, NUL, lone "
    "surrogates, megabyte strings, wrong types, None) stores it verbatim or raises a SinkError "
    "with the stored state unchanged; never a crash, never a partial write.", _WRITES)
declare("reliability.hostile.lookups-never-inject",
    "Every lookup method given hostile input returns None, an empty list or a SinkError, and never "
    "matches an object that does not hold that exact value.", _LOOKUPS,
    mongo="Operator objects are interpreted as query operators.")
declare("reliability.credentials.never-leaked",
    "A connection-string password never appears in any exception, log record or repr, across "
    "hostile input, faults and closing.", (),
    mongo="The connection string is logged by some drivers at debug level.")
declare("reliability.static.no-sql-from-values",
    "Adapters never assemble SQL text from values: every statement is a constant or composed with "
    "the driver's identifier and literal quoting, and ruff's security rules are on.", ())


def clause(clause_id: str) -> Callable[[F], F]:
    """Mark a test as checking ``clause_id`` (which must be registered); the clause's
    ``requires`` gate the test."""
    if clause_id not in CLAUSES:
        raise KeyError(f"unknown clause {clause_id!r}: register it in sinkkit.conformance.clauses")
    needs = CLAUSES[clause_id].requires

    def mark(test: F) -> F:
        test = pytest.mark.sinkkit_clause(clause_id)(test)
        return pytest.mark.sinkkit_requires(*needs)(test) if needs else test

    return mark


def kit_clause(clause_id: str) -> pytest.MarkDecorator:
    """Mark one of the kit's own tests (under ``tests/``) as checking a kit clause."""
    if clause_id not in KIT_CLAUSES:
        raise KeyError(f"unknown kit clause {clause_id!r}: declare it with kit=True")
    return pytest.mark.sinkkit_kit_clause(clause_id)


def requires(*capabilities: str) -> pytest.MarkDecorator:
    """Capabilities one test needs beyond its clause's; without them it is not applicable."""
    return pytest.mark.sinkkit_requires(*check_names(capabilities))


def by_resource() -> dict[str, list[Clause]]:
    """Every clause, the kit's own included, by resource in registry order."""
    out: dict[str, list[Clause]] = {r: [] for r in RESOURCES}
    for c in [*CLAUSES.values(), *KIT_CLAUSES.values()]:
        out[c.resource].append(c)
    return out
