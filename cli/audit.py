"""``sinkkit check``: the contract's invariants, checked on a store's raw documents.

Each rule has a stable id (the ``rule`` of a finding, and what ``--ignore`` takes). Rules look at
what is stored, not at what an adapter would show, so they find what git-proxy's own code trips
over: a ``null`` permission list, a mixed-case gitAccount it can never look up, two users its
unique index refuses to load.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

from jsonschema import Draft202012Validator
from sinkkit.cli.raw import RawStore, dumps_id
from sinkkit.core.clock import ms_from_iso_or_none, now_ms
from sinkkit.core.schemas import PUSH_SCHEMA, REPO_SCHEMA, USER_SCHEMA

Document = dict[str, Any]

#: rule id -> what it means (the docs table and ``--help`` come from here)
RULES: dict[str, str] = {
    "repos.permissions-list": "users.canPush / users.canAuthorise null, missing or not a list",
    "repos.permissions-duplicate": "a permission list names one user twice (once folded)",
    "repos.permissions-unknown-user": "a permission list names a user that does not exist",
    "fold.username": "a username is stored with upper-case letters",
    "fold.email": "an email is stored with upper-case letters",
    "fold.git-account": "a gitAccount is stored with upper-case letters (lookups never find it)",
    "fold.repo-name": "a repo name is stored with upper-case letters",
    "users.collision": "two users share a username or email once folded (git-proxy's unique "
                       "index refuses to load them, blank emails included)",
    "ids.not-string": "an _id that is not a non-empty string (a number, a driver object "
                      "other than the ObjectId mongo stores by design)",
    "pushes.id-mismatch": "a push whose _id is a string other than its id (a driver's "
                          "ObjectId key is not one)",
    "sessions.expired": "a session past its expiry that was never pruned",
    "migrations.order": "ledger entries whose appliedAt goes backwards, or an id twice",
    "schema.user": "a user that breaks docs/schemas/user.json",
    "schema.repo": "a repo that breaks docs/schemas/repo.json",
    "schema.push": "a push that breaks docs/schemas/push.json",
}

_VALIDATORS = {
    "users": ("schema.user", Draft202012Validator(USER_SCHEMA)),
    "repos": ("schema.repo", Draft202012Validator(REPO_SCHEMA)),
    "pushes": ("schema.push", Draft202012Validator(PUSH_SCHEMA)),
}
_ROLES = ("canPush", "canAuthorise")


@dataclass(frozen=True)
class Finding:
    rule: str
    kind: str
    id: str
    detail: str

    def as_json(self) -> dict[str, str]:
        return asdict(self)


def audit(store: RawStore, now: int | None = None) -> list[Finding]:
    """Every finding in ``store``, grouped by rule in ``RULES`` order, then in store order."""
    now = now_ms() if now is None else now
    found = [*_ids(store), *_folding(store), *_collisions(store), *_permissions(store),
             *_pushes(store), *_sessions(store, now), *_ledger(store), *_schemas(store)]
    order = {rule: i for i, rule in enumerate(RULES)}
    return sorted(found, key=lambda f: order[f.rule])  # stable: store order within a rule


def _name(doc: Document, kind: str) -> str:
    key = doc.get("id") if kind in ("pushes", "migrations") else doc.get("_id")
    return dumps_id(key)


def _ids(store: RawStore) -> Iterator[Finding]:
    for kind in ("users", "repos", "pushes"):
        for doc in store.docs[kind]:
            _id = doc.get("_id")
            if isinstance(_id, store.native_id_types):
                continue
            if not isinstance(_id, str) or not _id:
                yield Finding("ids.not-string", kind, _name(doc, kind),
                              f"_id is {type(_id).__name__} {dumps_id(_id)}")


def _upper(value: Any) -> bool:
    return isinstance(value, str) and value != value.lower()


def _folding(store: RawStore) -> Iterator[Finding]:
    for user in store.docs["users"]:
        for field, rule in (("username", "fold.username"), ("email", "fold.email"),
                            ("gitAccount", "fold.git-account")):
            if _upper(user.get(field)):
                yield Finding(rule, "users", _name(user, "users"), f"{field} {user[field]!r}")
    for repo in store.docs["repos"]:
        if _upper(repo.get("name")):
            yield Finding("fold.repo-name", "repos", _name(repo, "repos"),
                          f"name {repo['name']!r}")


def _collisions(store: RawStore) -> Iterator[Finding]:
    for field in ("username", "email"):
        holders: dict[str, list[str]] = defaultdict(list)
        for user in store.docs["users"]:
            value = user.get(field)
            if field == "email" and value is None:
                value = ""  # NeDB indexes a missing field as undefined: one such user at most
            if isinstance(value, str):
                holders[value.strip().lower()].append(_name(user, "users"))
        for value, ids in holders.items():
            if len(ids) > 1:
                shown = repr(value) if value else "blank"
                for _id in ids:
                    others = ", ".join(i for i in ids if i != _id)
                    yield Finding("users.collision", "users", _id,
                                  f"{field} {shown} is also held by {others}")


def _permissions(store: RawStore) -> Iterator[Finding]:
    known = {u["username"].lower() for u in store.docs["users"]
             if isinstance(u.get("username"), str)}
    for repo in store.docs["repos"]:
        rid = _name(repo, "repos")
        users = repo.get("users")
        if not isinstance(users, dict):
            yield Finding("repos.permissions-list", "repos", rid,
                          f"users is {_describe(users) if 'users' in repo else 'missing'}, "
                          "not an object with two lists")
            continue
        for role in _ROLES:
            names = users.get(role)
            if not isinstance(names, list):
                yield Finding("repos.permissions-list", "repos", rid,
                              f"users.{role} is {_describe(names) if role in users else 'missing'}")
                continue
            folded = [n.lower() for n in names if isinstance(n, str)]
            for name in sorted({n for n in folded if folded.count(n) > 1}):
                yield Finding("repos.permissions-duplicate", "repos", rid,
                              f"users.{role} names {name!r} {folded.count(name)} times")
            for name in dict.fromkeys(folded):
                if name not in known:
                    yield Finding("repos.permissions-unknown-user", "repos", rid,
                                  f"users.{role} names {name!r}, who is not a user")


def _describe(value: Any) -> str:
    return "null" if value is None else f"a {type(value).__name__}"


def _pushes(store: RawStore) -> Iterator[Finding]:
    for push in store.docs["pushes"]:
        # a driver's own key (mongo's ObjectId, which the mongo adapter leaves to the driver
        # and never shows) is not a push id; a string is what git-proxy hands out as one
        if isinstance(push.get("_id"), store.native_id_types):
            continue
        if "_id" in push and push["_id"] != push.get("id"):
            yield Finding("pushes.id-mismatch", "pushes", dumps_id(push.get("id")),
                          f"_id is {dumps_id(push['_id'])}")


def _sessions(store: RawStore, now: int) -> Iterator[Finding]:
    for sess in store.docs["sessions"]:
        expires = sess.get("expiresMs")
        if isinstance(expires, (int, float)) and expires <= now:
            age_s = (now - expires) // 1000
            yield Finding("sessions.expired", "sessions", dumps_id(sess["_id"]),
                          f"expired {age_s} s ago")


def _ledger(store: RawStore) -> Iterator[Finding]:
    seen: set[Any] = set()
    latest: tuple[int, str] | None = None
    for entry in store.docs["migrations"]:
        mid = dumps_id(entry.get("id"))
        if entry.get("id") in seen:
            yield Finding("migrations.order", "migrations", mid, "recorded twice")
        seen.add(entry.get("id"))
        applied = ms_from_iso_or_none(entry.get("appliedAt"))
        if applied is None:
            continue  # git-proxy's own fs ledger records no time: nothing to order by
        if latest is not None and applied < latest[0]:
            yield Finding("migrations.order", "migrations", mid,
                          f"applied at {entry['appliedAt']}, before {latest[1]} listed ahead")
        if latest is None or applied >= latest[0]:
            latest = (applied, mid)


def _schemas(store: RawStore) -> Iterator[Finding]:
    for kind, (rule, validator) in _VALIDATORS.items():
        for doc in store.docs[kind]:
            shown = _schema_view(kind, doc, store)
            errors = sorted(validator.iter_errors(shown), key=lambda e: list(e.path))
            if errors:
                where = ".".join(str(p) for p in errors[0].path) or kind[:-1]
                yield Finding(rule, kind, _name(doc, kind), f"{where}: {errors[0].message}")


def _schema_view(kind: str, doc: Document, store: RawStore) -> Document:
    """The document as the schema judges it: a native id stands as its string, and the two
    rules reported on their own (permission lists, push ``_id``) are not reported twice."""
    out = dict(doc)
    if isinstance(out.get("_id"), store.native_id_types):
        out["_id"] = str(out["_id"])
    elif "_id" in out and (not isinstance(out["_id"], str) or not out["_id"]):
        out["_id"] = dumps_id(out["_id"]) or "-"  # reported by ids.not-string alone
    if kind == "pushes":
        out.pop("_id", None)
    if kind == "repos" and isinstance(out.get("users"), dict):
        out["users"] = {**out["users"], **{r: out["users"].get(r) or [] for r in _ROLES}}
    elif kind == "repos":
        out["users"] = {r: [] for r in _ROLES}
    return out


def summarise(findings: Iterable[Finding]) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for f in findings:
        counts[f.rule] += 1
    return dict(counts)
