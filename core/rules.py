"""The input rules every adapter applies on the way in, so validation, case folding and error
wording cannot drift between backends: text and JSON checks, and the ``normalise_*`` /
``check_*`` functions a Sink method calls before touching its store."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from jsonschema import Draft202012Validator
from sinkkit.conformance.errors import InvalidDocument
from sinkkit.core.copying import plain_copy
from sinkkit.core.precheck import push_fields_valid
from sinkkit.core.schemas import PUSH_SCHEMA

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
#: the largest document any adapter must accept (MongoDB's BSON limit, less headroom)
MAX_DOCUMENT_BYTES = 15 * 1024 * 1024
#: the longest value (UTF-8 bytes) of a field a backend keeps in a unique or lookup index: ids,
#: username, email, gitAccount, oidcId, repo name and url, session and migration ids. PostgreSQL's
#: btree holds at most ~2 700 bytes per entry (two such keys fit in one composite entry), and
#: MongoDB before FCV 4.2 refused index keys of 1 024 bytes; every backend refuses longer values
#: the same way. A push's ``userEmail`` is not bounded by it: a pusher sets it through the commit.
MAX_KEY_BYTES = 1024

_PUSH_VALIDATOR = Draft202012Validator(PUSH_SCHEMA)


def text_problem(value: str) -> str | None:
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
    problem = text_problem(value)
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
    cls = value.__class__
    # the exact class decides: isinstance against the Mapping ABC cost most of a write's own
    # time; a subclass (an OrderedDict, a tuple, an IntEnum) is walked as the JSON kind it is
    if cls not in _JSON_CLASSES:
        cls = _json_class(value)
    if cls is str:
        if "\x00" in value or not value.isascii():
            problem = text_problem(value)
            if problem:
                raise _Refused(problem)
    elif cls is dict:
        _walk_mapping(value, depth)
    elif cls is list:
        for item in value:
            # a plain ASCII string needs no call, unless it sits past the depth limit
            if item.__class__ is not str or "\x00" in item or not item.isascii() or depth >= 100:
                _walk(item, depth + 1)
    elif cls is int:
        if not INT64_MIN <= value <= INT64_MAX:
            raise _Refused(f"integer {value} is outside the 64-bit range")
    elif cls is float:
        if not math.isfinite(value):
            raise _Refused(f"{value} is not a finite number")
    elif cls is not bool and value is not None:
        raise _Refused(f"{type(value).__name__} is not JSON data")


#: the classes JSON decodes to, each walked as itself
_JSON_CLASSES = frozenset({str, dict, list, int, float, bool, type(None)})
#: the JSON class each kind of subclass is walked as, bool before int (a bool is an int)
_SUBCLASSES: tuple[tuple[type, Any], ...] = (
    (bool, bool), (str, str), (int, int), (float, float), (dict, Mapping), (list, (list, tuple)))


def _json_class(value: Any) -> type | None:
    """The JSON class ``value`` is an instance of a subclass of; None for what is no JSON."""
    for cls, kinds in _SUBCLASSES:
        if isinstance(value, kinds):
            return cls
    return None


def _walk_mapping(value: Mapping[Any, Any], depth: int) -> None:
    for key, item in value.items():
        if not isinstance(key, str):
            raise _Refused(f"key {key!r} is not a string")
        if "\x00" in key or not key.isascii():
            problem = text_problem(key)
            if problem:
                raise _Refused(problem, about_key=True)
        # neither NeDB nor MongoDB can store or query these as plain field names
        if key.startswith("$") or "." in key:
            raise _Refused(f"key {key!r} starts with '$' or contains '.'")
        if item.__class__ is str and "\x00" not in item and item.isascii() and depth < 100:
            continue
        try:
            _walk(item, depth + 1)
        except _Refused as refused:
            refused.keys.append(key)
            raise


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
    return plain_copy(dict(doc)) if deep_copy else dict(doc)


def check_key(what: str, value: Any, *, required: bool = True) -> str:
    """A string kept in an index: ``check_text`` and at most ``MAX_KEY_BYTES`` UTF-8 bytes."""
    check_text(what, value, required=required)
    # fewer than a quarter of the limit in characters cannot exceed it in bytes: skip the encode
    if len(value) > MAX_KEY_BYTES // 4 and len(value.encode("utf-8")) > MAX_KEY_BYTES:
        raise InvalidDocument(what, f"is longer than {MAX_KEY_BYTES} bytes (UTF-8), the limit "
                              "for an indexed field")
    return value


def check_id(what: str, value: Any) -> str:
    return check_key(what, value)


def is_plain_id(value: Any) -> bool:
    """True when ``value`` can be an id at all; lookups answer None for anything else."""
    # a NUL or a lone surrogate: no backend can hold it, so nothing matches
    return isinstance(value, str) and bool(value) and text_problem(value) is None


def _fold(what: str, value: Any, *, required: bool) -> str:
    # every folded field (username, email, gitAccount, repo name) is an indexed key
    return check_key(what, value, required=required).lower()


def check_public_key(record: Any) -> dict[str, Any]:
    rec = _check_document("public key", record)
    check_text("public key.key", rec.get("key"))
    check_text("public key.fingerprint", rec.get("fingerprint"))
    return rec


def normalise_new_user(user: Any) -> dict[str, Any]:
    """Validate a user for ``create_user``; folds username, email and gitAccount."""
    doc = _check_document("user", user)
    doc["username"] = _fold("user.username", doc.get("username"), required=True)
    # git-proxy's createUser refuses a blank email and its fs sink keeps a unique NeDB index on
    # `email` that refuses a second "" (or a second missing email): a store holding two users
    # without one cannot open in git-proxy, so no adapter writes even the first
    doc["email"] = _email(doc.get("email"))
    if "gitAccount" in doc:
        doc["gitAccount"] = _fold("user.gitAccount", doc["gitAccount"], required=True)
    if "_id" in doc:
        doc["_id"] = check_id("user._id", doc["_id"])
    doc["publicKeys"] = [check_public_key(k) for k in doc.get("publicKeys") or []]
    _check_user_types(doc)
    return doc


def _email(value: Any) -> str:
    if value is None:
        raise InvalidDocument("user.email", "is required (git-proxy refuses a user without one)")
    return _fold("user.email", value, required=True).strip()


def normalise_user_update(user: Any) -> dict[str, Any]:
    """Validate the fields given to ``update_user`` (a partial user naming ``_id`` or username)."""
    doc = _check_document("user", user)
    if "username" in doc:
        doc["username"] = _fold("user.username", doc["username"], required=True)
    if "email" in doc:
        # as on create: an update cannot take a user's email away (see normalise_new_user)
        doc["email"] = _email(doc["email"])
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
    if isinstance(doc.get("oidcId"), str):
        check_key("user.oidcId", doc["oidcId"], required=False)


def normalise_new_repo(repo: Any) -> dict[str, Any]:
    """Validate a repo for ``create_repo``; folds the name and the permission lists."""
    doc = _check_document("repo", repo)
    doc["name"] = _fold("repo.name", doc.get("name"), required=True)
    doc["url"] = check_key("repo.url", doc.get("url"))
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
        doc["url"] = check_key("repo.url", doc["url"])
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
    if push_fields_valid(doc):
        return doc
    errors = sorted(_PUSH_VALIDATOR.iter_errors(doc), key=lambda e: list(e.path))
    if errors:
        where = ".".join(str(p) for p in errors[0].path) or "push"
        raise InvalidDocument(f"push.{where}", errors[0].message)
    return doc


def check_payload(what: str, payload: Any, *, deep_copy: bool = True) -> Any:
    """An attestation or rejection, stored exactly as given: a copy, unless ``deep_copy=False``
    says the adapter serialises it at once."""
    check_json(what, payload)
    return plain_copy(payload) if deep_copy else payload


def check_migration_id(migration_id: Any) -> str:
    return check_key("migration id", migration_id)
