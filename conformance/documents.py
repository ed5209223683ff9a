"""Document shapes (as JSON Schema) and the input rules every adapter applies the same way.

One source: the schemas here are exported to ``docs/schemas/*.json`` and checked by the suite on
every document an adapter returns; the ``normalise_*`` / ``check_*`` helpers are what adapters call
on the way in, so validation, case folding and error wording cannot drift between backends.
"""

from __future__ import annotations

import copy
import math
import re
import threading
import time
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from jsonschema import Draft202012Validator
from sinkkit.conformance.contract import (
    DEFAULT_PUSH_QUERY,
    PUSH_LIST_FIELDS,
    PUSH_QUERY_KEYS,
    REPO_QUERY_KEYS,
    USER_QUERY_KEYS,
)
from sinkkit.conformance.errors import InvalidDocument, InvalidQuery

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
#: the largest document any adapter must accept (MongoDB's BSON limit, less headroom)
MAX_DOCUMENT_BYTES = 15 * 1024 * 1024

_STR = {"type": "string"}
_ID = {"type": "string", "minLength": 1}
_STR_LIST = {"type": "array", "items": {"type": "string"}}
_NULLABLE_STR = {"type": ["string", "null"]}
_DATE = {"type": "string", "format": "date-time"}

PUBLIC_KEY_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "PublicKey",
    "type": "object",
    "required": ["key", "fingerprint"],
    "properties": {"key": _ID, "fingerprint": _ID, "name": _STR, "addedAt": _STR},
}

USER_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "User",
    "type": "object",
    "required": ["_id", "username"],
    "properties": {
        "_id": _ID,
        "username": _ID,
        "email": _STR,
        "gitAccount": _STR,
        "password": _NULLABLE_STR,
        "admin": {"type": "boolean"},
        "oidcId": _NULLABLE_STR,
        "displayName": _NULLABLE_STR,
        "title": _NULLABLE_STR,
        "mustChangePassword": {"type": "boolean"},
        "publicKeys": {"type": "array", "items": PUBLIC_KEY_SCHEMA},
    },
}

REPO_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "Repo",
    "type": "object",
    "required": ["_id", "name", "url", "users"],
    "properties": {
        "_id": _ID,
        "project": _STR,
        "name": _ID,
        "url": _ID,
        "users": {
            "type": "object",
            "required": ["canPush", "canAuthorise"],
            "properties": {"canPush": _STR_LIST, "canAuthorise": _STR_LIST},
        },
        "dateCreated": _DATE,
        "lastModified": _DATE,
    },
}

REJECTION_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "Rejection",
    "type": "object",
    "required": ["reviewer", "timestamp", "reason"],
    "properties": {
        "reviewer": {
            "type": "object",
            "required": ["username"],
            "properties": {"username": _STR, "email": _STR, "displayName": _NULLABLE_STR},
        },
        "timestamp": {"type": ["string", "number"]},
        "reason": _STR,
        "automated": {"type": "boolean"},
    },
}

_PUSH_PROPERTIES: dict[str, Any] = {
    "id": _ID,
    "_id": _ID,
    "type": _STR,
    "method": _STR,
    "timestamp": {"type": "number"},
    "project": _STR,
    "repo": _STR,
    "repoName": _STR,
    "url": _STR,
    "branch": _STR,
    "commitFrom": _STR,
    "commitTo": _STR,
    "userEmail": {"type": ["string", "null"]},
    "error": {"type": "boolean"},
    "blocked": {"type": "boolean"},
    "allowPush": {"type": "boolean"},
    "authorised": {"type": "boolean"},
    "canceled": {"type": "boolean"},
    "rejected": {"type": "boolean"},
    "blockedMessage": {"type": ["string", "null"]},
    "commitData": {"type": "array"},
    "attestation": {},
    "rejection": {},
}

PUSH_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "Push",
    "type": "object",
    "required": ["id"],
    "properties": _PUSH_PROPERTIES,
}

PUSH_LIST_ITEM_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "PushListItem",
    "type": "object",
    "required": ["id"],
    "properties": {k: _PUSH_PROPERTIES[k] for k in PUSH_LIST_FIELDS},
    "additionalProperties": False,
}

_COUNTS = {
    "type": "object",
    "required": ["pending", "approved", "canceled", "rejected", "error"],
    "additionalProperties": {"type": "integer", "minimum": 0},
}
ROLLUPS_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "RepoPushRollups",
    "type": "object",
    "required": ["tabCounts", "latestPushAtMs", "latestPendingReviewAtMs"],
    "additionalProperties": False,
    "properties": {
        "tabCounts": {"type": "object", "additionalProperties": _COUNTS},
        "latestPushAtMs": {"type": "object", "additionalProperties": {"type": "number"}},
        "latestPendingReviewAtMs": {"type": "object", "additionalProperties": {"type": "number"}},
    },
}

_PUSH_FIELDS = Draft202012Validator(PUSH_SCHEMA)

_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,), "number": (int, float), "integer": (int,), "boolean": (bool,),
    "null": (type(None),), "array": (list,), "object": (dict,),
}


def _type_table(schema: Mapping[str, Any]) -> dict[str, tuple[tuple[type, ...], int]]:
    """Each property of ``schema`` as (accepted Python types, minLength), for a pre-check that
    passes only documents the schema passes (``iter_errors`` cost about 80 µs a push, most of
    the adapter's own share of a ``write_audit``); what it does not pass, jsonschema decides.
    Refuses schemas that use any other keyword, so a richer schema cannot outgrow it."""
    table = {}
    for key, sub in schema["properties"].items():
        unknown = set(sub) - {"type", "minLength"}
        if unknown:
            raise TypeError(f"property {key!r} uses {sorted(unknown)}: extend _type_table")
        names = sub.get("type", list(_JSON_TYPES))
        names = [names] if isinstance(names, str) else names
        table[key] = (tuple(t for n in names for t in _JSON_TYPES[n]), sub.get("minLength", 0))
    return table


_PUSH_TYPES = _type_table(PUSH_SCHEMA)


_PUSH_REQUIRED = tuple(PUSH_SCHEMA["required"])


def _push_fields_valid(doc: Mapping[str, Any]) -> bool:
    if not all(key in doc for key in _PUSH_REQUIRED):
        return False
    for key, value in doc.items():
        rule = _PUSH_TYPES.get(key)
        if rule is None:
            continue
        types, min_length = rule
        # JSON has no booleans among its numbers, Python does
        if isinstance(value, bool) and bool not in types:
            return False
        if not isinstance(value, types) or (min_length and len(value) < min_length):
            return False
    return True

SCHEMAS: dict[str, dict[str, Any]] = {
    "user": USER_SCHEMA,
    "repo": REPO_SCHEMA,
    "push": PUSH_SCHEMA,
    "push-list-item": PUSH_LIST_ITEM_SCHEMA,
    "public-key": PUBLIC_KEY_SCHEMA,
    "rejection": REJECTION_SCHEMA,
    "rollups": ROLLUPS_SCHEMA,
}


# --- input rules ---------------------------------------------------------------------------------

def _text_problem(value: str) -> str | None:
    if "\x00" in value:
        return "contains a NUL character"
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "contains a lone surrogate (not valid UTF-8)"
    return None


def check_text(what: str, value: Any, *, required: bool = True) -> str:
    """A string a backend can store verbatim: no NUL, no lone surrogate, non-blank if required."""
    if not isinstance(value, str):
        raise InvalidDocument(what, f"expected a string, got {type(value).__name__}")
    problem = _text_problem(value)
    if problem:
        raise InvalidDocument(what, problem)
    if required and not value.strip():
        raise InvalidDocument(what, "must not be blank")
    return value


class _Refused(Exception):
    """Raised inside ``_walk``; the path is collected on the way out, so a valid document (nearly
    every call) never pays for formatting one string per key."""

    def __init__(self, problem: str, about_key: bool = False):
        super().__init__(problem)
        self.problem, self.about_key, self.keys = problem, about_key, []


def _walk(value: Any, depth: int) -> None:
    if depth > 100:
        raise _Refused("nested more than 100 levels deep")
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, str):
        problem = _text_problem(value)
        if problem:
            raise _Refused(problem)
    elif isinstance(value, int):
        if not INT64_MIN <= value <= INT64_MAX:
            raise _Refused(f"integer {value} is outside the 64-bit range")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise _Refused(f"{value} is not a finite number")
    elif isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise _Refused(f"key {key!r} is not a string")
            problem = _text_problem(key)
            if problem:
                raise _Refused(problem, about_key=True)
            # neither NeDB nor MongoDB can store or query these as plain field names
            if key.startswith("$") or "." in key:
                raise _Refused(f"key {key!r} starts with '$' or contains '.'")
            try:
                _walk(item, depth + 1)
            except _Refused as refused:
                refused.keys.append(key)
                raise
    elif isinstance(value, (list, tuple)):
        for item in value:
            _walk(item, depth + 1)
    else:
        raise _Refused(f"{type(value).__name__} is not JSON data")


def check_json(what: str, value: Any) -> None:
    """JSON-shaped data every backend stores alike: no ``$`` keys, no NaN, ints within int64;
    the error names the path of the first offending value (``push.commitData.message``)."""
    try:
        _walk(value, 0)
    except _Refused as refused:
        path = ".".join([what, *reversed(refused.keys)])
        raise InvalidDocument(f"{path} key" if refused.about_key else path,
                              refused.problem) from None


def _check_document(what: str, doc: Any, *, deep_copy: bool = True) -> dict[str, Any]:
    if not isinstance(doc, Mapping):
        raise InvalidDocument(what, f"expected an object, got {type(doc).__name__}")
    check_json(what, doc)
    return copy.deepcopy(dict(doc)) if deep_copy else dict(doc)


def check_id(what: str, value: Any) -> str:
    return check_text(what, value)


def is_plain_id(value: Any) -> bool:
    """True when ``value`` can be an id at all; lookups answer None for anything else."""
    # a NUL or a lone surrogate: no backend can hold it, so nothing matches
    return isinstance(value, str) and bool(value) and _text_problem(value) is None


def _fold(what: str, value: Any, *, required: bool) -> str:
    return check_text(what, value, required=required).lower()


def check_public_key(record: Any) -> dict[str, Any]:
    rec = _check_document("public key", record)
    check_text("public key.key", rec.get("key"))
    check_text("public key.fingerprint", rec.get("fingerprint"))
    return rec


def normalise_new_user(user: Any) -> dict[str, Any]:
    """Validate a user for ``create_user``; folds username, email and gitAccount."""
    doc = _check_document("user", user)
    doc["username"] = _fold("user.username", doc.get("username"), required=True)
    doc["email"] = _fold("user.email", doc.get("email", ""), required=False).strip()
    if "gitAccount" in doc:
        doc["gitAccount"] = _fold("user.gitAccount", doc["gitAccount"], required=True)
    if "_id" in doc:
        doc["_id"] = check_id("user._id", doc["_id"])
    doc["publicKeys"] = [check_public_key(k) for k in doc.get("publicKeys") or []]
    _check_user_types(doc)
    return doc


def normalise_user_update(user: Any) -> dict[str, Any]:
    """Validate the fields given to ``update_user`` (a partial user naming ``_id`` or username)."""
    doc = _check_document("user", user)
    if "username" in doc:
        doc["username"] = _fold("user.username", doc["username"], required=True)
    if "email" in doc:
        # a null email means "no email", stored as "" like every user created without one
        doc["email"] = _fold("user.email", doc["email"] or "", required=False).strip()
    if "gitAccount" in doc:
        doc["gitAccount"] = _fold("user.gitAccount", doc["gitAccount"], required=True)
    if "_id" in doc:
        doc["_id"] = check_id("user._id", doc["_id"])
    if "_id" not in doc and "username" not in doc:
        raise InvalidDocument("user", "update_user needs _id or username")
    if "publicKeys" in doc:
        doc["publicKeys"] = [check_public_key(k) for k in doc["publicKeys"] or []]
    _check_user_types(doc)
    return doc


def _check_user_types(doc: dict[str, Any]) -> None:
    for key in ("admin", "mustChangePassword"):
        if key in doc and not isinstance(doc[key], bool):
            raise InvalidDocument(f"user.{key}", "expected a boolean")
    for key in ("password", "oidcId", "displayName", "title"):
        if key in doc and doc[key] is not None and not isinstance(doc[key], str):
            raise InvalidDocument(f"user.{key}", "expected a string or null")


def normalise_new_repo(repo: Any) -> dict[str, Any]:
    """Validate a repo for ``create_repo``; folds the name and the permission lists."""
    doc = _check_document("repo", repo)
    doc["name"] = _fold("repo.name", doc.get("name"), required=True)
    doc["url"] = check_text("repo.url", doc.get("url"))
    doc["project"] = check_text("repo.project", doc.get("project", ""), required=False)
    if "_id" in doc:
        doc["_id"] = check_id("repo._id", doc["_id"])
    users = doc.get("users") or {}
    if not isinstance(users, Mapping):
        raise InvalidDocument("repo.users", "expected an object")
    doc["users"] = {role: _user_list(role, users.get(role)) for role in ("canPush", "canAuthorise")}
    doc.pop("dateCreated", None)
    doc.pop("lastModified", None)
    return doc


def normalise_repo_changes(changes: Any) -> dict[str, Any]:
    """The fields ``update_repo`` may change: anything but ``_id``, ``users`` and the dates."""
    doc = _check_document("repo changes", changes)
    for key in ("_id", "users", "dateCreated", "lastModified"):
        if key in doc:
            raise InvalidDocument("repo changes", f"{key!r} cannot be changed by update_repo")
    if "name" in doc:
        doc["name"] = _fold("repo.name", doc["name"], required=True)
    if "url" in doc:
        doc["url"] = check_text("repo.url", doc["url"])
    if "project" in doc:
        doc["project"] = check_text("repo.project", doc["project"], required=False)
    return doc


def _user_list(role: str, value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidDocument(f"repo.users.{role}", "expected a list of usernames")
    out: list[str] = []
    for name in value:
        folded = normalise_username(name)
        if folded not in out:
            out.append(folded)
    return out


def normalise_username(name: Any) -> str:
    return _fold("username", name, required=True)


def check_push(push: Any, *, deep_copy: bool = True) -> dict[str, Any]:
    """Validate a push for ``write_audit``; ``_id``, when given, must equal ``id``.

    The result is a copy; ``deep_copy=False`` makes it shallow, for an adapter that serialises
    the document at once and so never keeps a reference into the caller's nested values."""
    doc = _check_document("push", push, deep_copy=deep_copy)
    check_id("push.id", doc.get("id"))
    if "_id" in doc and doc["_id"] != doc["id"]:
        raise InvalidDocument("push._id", "must equal push.id when present")
    doc.pop("_id", None)
    # known fields keep their published types, so every stored push reads back schema-valid
    if _push_fields_valid(doc):
        return doc
    errors = sorted(_PUSH_FIELDS.iter_errors(doc), key=lambda e: list(e.path))
    if errors:
        where = ".".join(str(p) for p in errors[0].path) or "push"
        raise InvalidDocument(f"push.{where}", errors[0].message)
    return doc


def check_payload(what: str, payload: Any) -> Any:
    """An attestation or rejection, stored exactly as given."""
    check_json(what, payload)
    return copy.deepcopy(payload)


def check_migration_id(migration_id: Any) -> str:
    return check_text("migration id", migration_id)


# --- queries -------------------------------------------------------------------------------------

_SCALAR = (str, bool, int, float, type(None))


def normalise_query(kind: str, query: Any) -> dict[str, Any]:
    """Check a ``get_pushes`` / ``get_repos`` / ``get_users`` query; folds the case-folded keys.

    Unknown keys and non-scalar values (``{"$ne": null}``) raise InvalidQuery naming the key.
    """
    allowed = {"push": PUSH_QUERY_KEYS, "repo": REPO_QUERY_KEYS, "user": USER_QUERY_KEYS}[kind]
    if query is None:
        return dict(DEFAULT_PUSH_QUERY) if kind == "push" else {}
    if not isinstance(query, Mapping):
        raise InvalidQuery(repr(query), f"{kind} query must be an object")
    out: dict[str, Any] = {}
    for key, value in query.items():
        if key not in allowed:
            raise InvalidQuery(str(key), f"unsupported {kind} query key")
        if not isinstance(value, _SCALAR) or (
            isinstance(value, float) and not math.isfinite(value)
        ):
            raise InvalidQuery(str(key), f"{kind} query value must be a plain scalar")
        if isinstance(value, str):
            check_text(f"{kind} query {key}", value, required=False)
        if isinstance(value, str) and (kind, key) in _FOLDED_QUERY_KEYS:
            value = value.lower()
        out[key] = value
    return out


_FOLDED_QUERY_KEYS = {
    ("repo", "name"),
    ("user", "username"),
    ("user", "email"),
    ("user", "gitAccount"),
}


def matches(doc: Mapping[str, Any], query: Mapping[str, Any]) -> bool:
    """Equality match of a normalised query, as every backend must apply it.

    A key absent from the document matches only a ``None`` value; ``True`` never equals ``1``.
    """
    for key, want in query.items():
        have = doc.get(key)
        if type(have) is not type(want) and not (_is_num(have) and _is_num(want)):
            return False
        if have != want:
            return False
    return True


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


# --- views and derived values ---------------------------------------------------------------------

def list_view(push: Mapping[str, Any]) -> dict[str, Any]:
    """The push list view: upstream mongo's projection, no ``_id``, absent fields stay absent."""
    return {k: copy.deepcopy(push[k]) for k in PUSH_LIST_FIELDS if k in push}


def push_sort_key(push: Mapping[str, Any]) -> tuple:
    """Sort key for listings, used with ``reverse=True``: timestamp desc, then id desc.

    A push with no numeric timestamp sorts after every timestamped one.
    """
    ts = push.get("timestamp")
    has_ts = _is_num(ts)
    return (has_ts, ts if has_ts else 0, push["id"])


def without_password(user: Mapping[str, Any]) -> dict[str, Any]:
    return {k: copy.deepcopy(v) for k, v in user.items() if k != "password"}


def profile_matches(push: Mapping[str, Any], email_variants: list[str], username: str) -> bool:
    """``get_pushes_for_user_profile``'s filter: a "push" by one of the emails or reviewed by
    ``username`` (case-insensitive, exact)."""
    if push.get("type") != "push":
        return False
    if email_variants and push.get("userEmail") in email_variants:
        return True
    attestation = push.get("attestation")
    reviewer = attestation.get("reviewer") if isinstance(attestation, Mapping) else None
    got = reviewer.get("username") if isinstance(reviewer, Mapping) else None
    return bool(username) and isinstance(got, str) and got.lower() == username.lower()


def check_profile_args(email_variants: Any, username: Any) -> tuple[list[str], str]:
    if email_variants is None:
        email_variants = []
    if not isinstance(email_variants, (list, tuple)):
        raise InvalidQuery("email_variants", "expected a list of strings")
    variants = [check_text("email variant", v, required=False) for v in email_variants]
    # an empty email identifies no one: it must not list every push whose author had none
    return [v for v in variants if v], check_text("username", username, required=False)


_SCP_LIKE = re.compile(r"^[\w.-]+@([^:/]+):(.*)$")


def canonical_remote_url(url: str) -> str:
    """The key of the push rollups: lower-cased host[:port]/path, slashes and ``.git`` trimmed."""
    raw = (url or "").strip()
    if not raw:
        return ""
    m = re.match(r"^(https?)://(?:[^@/]*@)?([^/]+)(/.*)?$", raw, re.IGNORECASE)
    if m:
        host, path = m.group(2), m.group(3) or ""
    else:
        m = _SCP_LIKE.match(raw)
        if not m:
            return raw.lower()
        host, path = m.group(1), m.group(2)
    path = path.strip("/")
    if path.lower().endswith(".git"):
        path = path[:-4]
    path = path.strip("/")
    key = f"{host}/{path}" if path else host
    return key.lower()


def rollup_status(push: Mapping[str, Any]) -> str:
    if push.get("error") is True:
        return "error"
    if push.get("rejected") is True:
        return "rejected"
    if push.get("canceled") is True:
        return "canceled"
    if push.get("authorised") is True:
        return "approved"
    if push.get("blocked") is True:
        return "pending"
    if push.get("allowPush") is True:
        return "approved"
    return "pending"


def empty_rollups() -> dict[str, Any]:
    return {"tabCounts": {}, "latestPushAtMs": {}, "latestPendingReviewAtMs": {}}


def add_to_rollups(rollups: dict[str, Any], push: Mapping[str, Any]) -> None:
    """Fold one push into rollups (pushes of another type or with an empty url are skipped)."""
    if push.get("type") != "push":
        return
    url = push.get("url")
    key = canonical_remote_url(url) if isinstance(url, str) else ""
    if not key:
        return
    status = rollup_status(push)
    counts = rollups["tabCounts"].setdefault(key, dict.fromkeys(
        ("pending", "approved", "canceled", "rejected", "error"), 0))
    counts[status] += 1
    ts = push.get("timestamp")
    if _is_num(ts) and math.isfinite(ts):
        for field, wanted in (("latestPushAtMs", True), ("latestPendingReviewAtMs",
                                                          status == "pending")):
            if wanted and ts > rollups[field].get(key, -math.inf):
                rollups[field][key] = ts


# --- time ----------------------------------------------------------------------------------------

_clock_lock = threading.Lock()
_last_ms = 0


def now_ms() -> int:
    """Wall-clock milliseconds, strictly increasing within this process."""
    global _last_ms
    with _clock_lock:
        _last_ms = max(int(time.time() * 1000), _last_ms + 1)
        return _last_ms


def iso_from_ms(ms: int) -> str:
    dt = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def ms_from_iso(value: str) -> int:
    dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return round(dt.timestamp() * 1000)


def review_message(action: str, push_id: str) -> dict[str, str]:
    return {"message": f"{action} {push_id}"}
