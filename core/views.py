"""What reads return, derived the same way on every backend: the push list view, listing
order, users without passwords, review messages, and the per-repo push rollups keyed by the
canonical remote URL."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from sinkkit.conformance.contract import PUSH_LIST_FIELDS, ROLLUP_TABS
from sinkkit.core.copying import plain_copy
from sinkkit.core.queries import is_number


def list_view(push: Mapping[str, Any]) -> dict[str, Any]:
    """The push list view: upstream mongo's projection, no ``_id``, absent fields stay absent."""
    return {k: plain_copy(push[k]) for k in PUSH_LIST_FIELDS if k in push}


_LIST_FIELDS = frozenset(PUSH_LIST_FIELDS)


def list_view_of_owned(push: dict[str, Any]) -> dict[str, Any]:
    """``list_view`` of a document nobody else holds (one just decoded from storage), made of
    it: the fields outside the view are removed in place, since no caller can reach it. Most of
    a push is in the view, so removing the rest is the shorter walk of the two."""
    if not _LIST_FIELDS.issuperset(push):
        for key in push.keys() - _LIST_FIELDS:
            del push[key]
    return push


def push_sort_key(push: Mapping[str, Any]) -> tuple:
    """Sort key for listings, used with ``reverse=True``: timestamp desc, then id desc.

    A push with no numeric timestamp sorts after every timestamped one.
    """
    ts = push.get("timestamp")
    has_ts = is_number(ts)
    return (has_ts, ts if has_ts else 0, push["id"])


def without_password(user: Mapping[str, Any]) -> dict[str, Any]:
    return {k: plain_copy(v) for k, v in user.items() if k != "password"}



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
    counts = rollups["tabCounts"].setdefault(key, dict.fromkeys(ROLLUP_TABS, 0))
    counts[status] += 1
    ts = push.get("timestamp")
    if is_number(ts) and math.isfinite(ts):
        for field, wanted in (("latestPushAtMs", True), ("latestPendingReviewAtMs",
                                                          status == "pending")):
            if wanted and ts > rollups[field].get(key, -math.inf):
                rollups[field][key] = ts


def review_message(action: str, push_id: str) -> dict[str, str]:
    return {"message": f"{action} {push_id}"}
