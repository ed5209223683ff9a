"""A wrapper that checks every document an adapter returns against the published schemas.

The suite talks to adapters only through ``CheckedSink``, so a malformed document (an ObjectId in
``_id``, a null permission list, an extra field in the list view) fails the test that received
it, whatever that test was checking. ``raw`` is the adapter's own object, for native checks.
"""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from sinkkit.core.schemas import SCHEMAS

_VALIDATORS = {
    kind: Draft202012Validator(schema, format_checker=FormatChecker())
    for kind, schema in SCHEMAS.items()
}

_MESSAGE = {
    "type": "object", "required": ["message"], "properties": {"message": {"type": "string"}},
}
_VALIDATORS["message"] = Draft202012Validator(_MESSAGE)

#: method -> (schema kind, shape) where shape is "one", "optional" or "list"
RETURNS: dict[str, tuple[str, str]] = {
    "get_push": ("push", "optional"),
    "get_pushes": ("push-list-item", "list"),
    "get_pushes_for_user_profile": ("push-list-item", "list"),
    "get_repo_push_rollups_by_canonical_url": ("rollups", "one"),
    "authorise": ("message", "one"),
    "reject": ("message", "one"),
    "cancel": ("message", "one"),
    "get_repos": ("repo", "list"),
    "get_repo": ("repo", "optional"),
    "get_repo_by_url": ("repo", "optional"),
    "get_repo_by_id": ("repo", "optional"),
    "create_repo": ("repo", "one"),
    "update_repo": ("repo", "one"),
    "find_user": ("user", "optional"),
    "find_user_by_email": ("user", "optional"),
    "find_user_by_git_account": ("user", "optional"),
    "find_user_by_oidc": ("user", "optional"),
    "find_user_by_ssh_key": ("user", "optional"),
    "get_users": ("user", "list"),
    "create_user": ("user", "one"),
    "update_user": ("user", "one"),
    "get_public_keys": ("public-key", "list"),
}


class ShapeError(AssertionError):
    """An adapter returned a document that does not match its published schema."""


def check_shape(method: str, value: Any) -> None:
    if method not in RETURNS:
        return
    kind, shape = RETURNS[method]
    if shape == "optional" and value is None:
        return
    if shape == "list":
        if not isinstance(value, list):
            raise ShapeError(f"{method} returned {type(value).__name__}, expected a list")
        items = value
    else:
        items = [value]
    for item in items:
        errors = sorted(_VALIDATORS[kind].iter_errors(item), key=lambda e: list(e.path))
        if errors:
            where = "/".join(str(p) for p in errors[0].path) or "(document)"
            raise ShapeError(
                f"{method} returned a {kind} that breaks its schema at {where}: "
                f"{errors[0].message}"
            )


class CheckedSink:
    def __init__(self, raw: Any):
        self.raw = raw

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.raw, name)
        if not callable(attr) or name not in RETURNS:
            return attr

        def checked(*args: Any, **kwargs: Any) -> Any:
            result = attr(*args, **kwargs)
            check_shape(name, result)
            return result

        checked.__name__ = name
        return checked

    def __repr__(self) -> str:
        return f"CheckedSink({self.raw!r})"
