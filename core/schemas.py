"""The published document shapes, as JSON Schema: one source for ``docs/schemas/*.json``, for
the suite's check of every returned document, and for the adapters' input pre-check."""

from __future__ import annotations

from typing import Any

from sinkkit.conformance.contract import PUSH_LIST_FIELDS, ROLLUP_TABS

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
    "required": list(ROLLUP_TABS),
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

SCHEMAS: dict[str, dict[str, Any]] = {
    "user": USER_SCHEMA,
    "repo": REPO_SCHEMA,
    "push": PUSH_SCHEMA,
    "push-list-item": PUSH_LIST_ITEM_SCHEMA,
    "public-key": PUBLIC_KEY_SCHEMA,
    "rejection": REJECTION_SCHEMA,
    "rollups": ROLLUPS_SCHEMA,
}
