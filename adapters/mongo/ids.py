"""How ``_id`` crosses the API boundary: always a string outside, an ObjectId inside when it can be.

Decision: a user or repo ``_id`` that is an ObjectId's canonical hex (24 lower-case hex digits)
is stored as a BSON ObjectId — the form upstream git-proxy's Node code writes and looks up with
``new ObjectId(_id)`` — so a Node git-proxy and this adapter can share a database. Any other
caller-chosen id is stored as the string it is. Ids this adapter makes are fresh ObjectIds.
Outward, every ``_id`` is ``str(ObjectId)`` or the stored string, so it round-trips unchanged.
"""

from __future__ import annotations

import re
from typing import Any

from bson import ObjectId
from sinkkit.core import rules

_OBJECT_ID_HEX = re.compile(r"[0-9a-f]{24}")


def new_id() -> ObjectId:
    return ObjectId()


def to_db_id(api_id: str) -> ObjectId | str:
    """The stored form of an API id (see the module docstring)."""
    return ObjectId(api_id) if _OBJECT_ID_HEX.fullmatch(api_id) else api_id


def to_api_id(db_id: Any) -> str:
    return str(db_id)


def queryable(value: Any) -> bool:
    """True when ``value`` can be sent to the server as a lookup key at all.

    Anything else (not a string, empty, NUL, a lone surrogate BSON cannot encode) is an id or
    name no document can carry, so lookups answer None without asking the server.
    """
    return rules.is_plain_id(value)


def from_db(doc: dict[str, Any] | None) -> dict[str, Any] | None:
    """A stored user or repo as the API shows it: ``_id`` as a string."""
    if doc is None:
        return None
    if "_id" in doc:
        doc["_id"] = to_api_id(doc["_id"])
    return doc
