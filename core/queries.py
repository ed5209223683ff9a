"""Queries as every backend must read them: which keys ``get_pushes`` / ``get_repos`` /
``get_users`` accept, how values compare, and the filter of ``get_pushes_for_user_profile``."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from sinkkit.conformance.contract import (
    DEFAULT_PUSH_QUERY,
    PUSH_QUERY_KEYS,
    REPO_QUERY_KEYS,
    USER_QUERY_KEYS,
)
from sinkkit.conformance.errors import InvalidQuery
from sinkkit.core.rules import check_text

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
        if type(have) is not type(want) and not (is_number(have) and is_number(want)):
            return False
        if have != want:
            return False
    return True


def is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


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
