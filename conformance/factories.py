"""Builders for git-proxy-shaped documents, shared by the suite, benchmarks and examples."""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any


def make_push(id: str, /, timestamp: int = 1_700_000_000_000, **fields: Any) -> dict[str, Any]:
    """A pending push as git-proxy's proxy chain records it (blocked, awaiting review)."""
    push: dict[str, Any] = {
        "id": id,
        "type": "push",
        "method": "POST",
        "timestamp": timestamp,
        "project": "finos",
        "repo": "finos/git-proxy.git",
        "repoName": "git-proxy",
        "url": "https://github.com/finos/git-proxy.git",
        "branch": "refs/heads/main",
        "commitFrom": "0" * 40,
        "commitTo": "a" * 40,
        "userEmail": "alice@example.com",
        "error": False,
        "blocked": True,
        "allowPush": False,
        "authorised": False,
        "canceled": False,
        "rejected": False,
        "blockedMessage": "awaiting review",
        "commitData": [{"message": "fix: a bug", "author": "alice", "commitTs": "1700000000"}],
        "steps": [{"stepName": "checkRepoInAuthorisedList", "error": False, "logs": []}],
    }
    push.update(fields)
    return push


def user_email(username: Any) -> str:
    """A user's default email, unique per username: ``alice@example.com`` for a plain name, a
    digest of any other name (quotes, operators, NUL, unicode), so a test about a hostile or odd
    username never trips over an email built from it. Every user needs one: git-proxy refuses a
    user without an email."""
    if isinstance(username, str) and _PLAIN_NAME.fullmatch(username):
        return f"{username}@example.com"
    digest = hashlib.sha256(repr(username).encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return f"user-{digest}@example.com"


_PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def make_user(username: str, /, **fields: Any) -> dict[str, Any]:
    user: dict[str, Any] = {
        "username": username,
        "password": "$2a$10$hashhashhashhashhashhash",
        "gitAccount": f"{username}-git",
        "email": user_email(username),
        "admin": False,
        "oidcId": None,
    }
    user.update(fields)
    return user


def make_repo(name: str, /, **fields: Any) -> dict[str, Any]:
    """A complete repo as git-proxy creates it: ``users`` carries both permission lists.

    A partial ``users`` given here is completed (the role left out starts empty), so a test about
    one list never hands the adapter a repo git-proxy would not write; a test of incomplete input
    removes or nulls the lists itself.
    """
    repo: dict[str, Any] = {
        "project": "finos",
        "name": name,
        "url": f"https://github.com/finos/{name}.git",
        "users": {"canPush": [], "canAuthorise": []},
    }
    if "users" in fields:
        users = fields.pop("users")
        # a non-dict is a deliberately malformed value, kept as given
        repo["users"] = {**repo["users"], **users} if isinstance(users, dict) else users
    repo.update(fields)
    return repo


def fingerprint(n: int) -> str:
    """An OpenSSH-style SHA256 fingerprint: unpadded base64, so upper and lower case letters
    both occur and a backend that folds or trims it is caught."""
    digest = hashlib.sha256(f"key {n}".encode()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def make_key(n: int, /, **fields: Any) -> dict[str, Any]:
    key: dict[str, Any] = {
        "key": f"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI{n:032d} user{n}@host",
        "fingerprint": fingerprint(n),
        "name": f"laptop {n}",
    }
    key.update(fields)
    return key


def make_attestation(reviewer: str = "carol", **fields: Any) -> dict[str, Any]:
    att: dict[str, Any] = {
        "reviewer": {"username": reviewer, "gitAccount": f"{reviewer}-git",
                     "email": f"{reviewer}@example.com"},
        "timestamp": "2026-11-25T10:00:00.000Z",
        "questions": [{"label": "I am happy for this to be pushed", "checked": True}],
    }
    att.update(fields)
    return att


def make_rejection(reviewer: str = "carol", **fields: Any) -> dict[str, Any]:
    rej: dict[str, Any] = {
        "reviewer": {"username": reviewer, "email": f"{reviewer}@example.com",
                     "displayName": reviewer.title()},
        "timestamp": "2026-11-25T10:00:00.000Z",
        "reason": "contains a secret",
        "automated": False,
    }
    rej.update(fields)
    return rej


def make_session(**fields: Any) -> dict[str, Any]:
    sess: dict[str, Any] = {
        "cookie": {"originalMaxAge": None, "expires": None, "httpOnly": True, "path": "/"},
        "passport": {"user": "alice"},
    }
    sess.update(fields)
    return sess
