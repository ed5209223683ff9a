"""A wrapper that checks every document an adapter returns against the published schemas.

The suite talks to adapters only through ``CheckedSink``. A malformed document (an ObjectId in
``_id``, a null permission list, an extra field in the list view) is recorded as a
``ShapeProblem``, not raised: a clause's verdict depends on its own rule, so one root cause fails
``documents.returned-shapes-valid`` (which reads every method itself) and the clause whose rule
it is, and shows as a note on the other clauses that merely read the document. ``raw`` is the
adapter's own object, for native checks.
"""

from __future__ import annotations

from dataclasses import dataclass
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


@dataclass(frozen=True)
class ShapeProblem:
    """One way one returned document breaks its schema (the first error, by path)."""

    method: str
    kind: str
    where: str
    message: str

    def __str__(self) -> str:
        return (f"{self.method} returned a {self.kind} that breaks its schema at {self.where}: "
                f"{self.message}")


def shape_problems(method: str, value: Any) -> list[ShapeProblem]:
    """The schema problems of ``value`` returned by ``method``, one per offending document."""
    if method not in RETURNS:
        return []
    kind, shape = RETURNS[method]
    if shape == "optional" and value is None:
        return []
    if shape == "list":
        if not isinstance(value, list):
            return [ShapeProblem(method, kind, "(result)",
                                 f"{type(value).__name__} where a list belongs")]
        items = value
    else:
        items = [value]
    found = []
    for item in items:
        errors = sorted(_VALIDATORS[kind].iter_errors(item), key=lambda e: list(e.path))
        if errors:
            where = "/".join(str(p) for p in errors[0].path) or "(document)"
            found.append(ShapeProblem(method, kind, where, _message(errors[0])))
    return found


def _message(error: Any) -> str:
    """jsonschema's message with the offending value named by its type, not its repr, so one
    problem reads the same in every test (a repr can carry an address or a generated id)."""
    shown = repr(error.instance)
    if error.message.startswith(shown) and not isinstance(error.instance, dict):
        return f"a {type(error.instance).__name__}" + error.message[len(shown):]
    return error.message


def check_shape(method: str, value: Any) -> None:
    """Raise ShapeError for the first schema problem of ``value`` (for callers that must stop)."""
    problems = shape_problems(method, value)
    if problems:
        raise ShapeError(str(problems[0]))


def apart_from_id(doc: Any) -> Any:
    """``doc`` without ``_id``, for comparing documents under clauses that are not about ids.

    Whether ``_id`` is an opaque string, stable across reads, is the identity clauses' rule; a
    repo clause compares the rest, so an adapter that leaks a driver id fails identity, not it.
    """
    return {k: v for k, v in doc.items() if k != "_id"} if isinstance(doc, dict) else doc


class CheckedSink:
    """``raw`` with every return value checked; problems go to ``problems`` (shared per test)."""

    def __init__(self, raw: Any, problems: list[ShapeProblem] | None = None):
        self.raw = raw
        self.problems: list[ShapeProblem] = [] if problems is None else problems

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.raw, name)
        if not callable(attr) or name not in RETURNS:
            return attr

        def checked(*args: Any, **kwargs: Any) -> Any:
            result = attr(*args, **kwargs)
            for problem in shape_problems(name, result):
                if problem not in self.problems:
                    self.problems.append(problem)
            return result

        checked.__name__ = name
        return checked

    def __repr__(self) -> str:
        return f"CheckedSink({self.raw!r})"
