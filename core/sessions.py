"""Session-store rules shared by every adapter: how a session's expiry is derived.

Follows the stores git-proxy uses (connect-mongo 6, connect-pg-simple 10): ``cookie.expires`` (an
ISO date or ms) decides; without it, the store's ``default_ttl`` seconds from now. ``cookie.maxAge``
is not read (express-session always sets ``expires`` with it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sinkkit.conformance.errors import InvalidDocument
from sinkkit.core.clock import ms_from_iso, now_ms
from sinkkit.core.copying import plain_copy
from sinkkit.core.rules import check_json, check_key


def session_expiry_ms(sess: Mapping[str, Any], default_ttl: int, now: int | None = None) -> int:
    now = now_ms() if now is None else now
    cookie = sess.get("cookie") if isinstance(sess.get("cookie"), Mapping) else {}
    expires = cookie.get("expires")
    if isinstance(expires, str) and expires:
        try:
            return ms_from_iso(expires)
        except ValueError:
            raise InvalidDocument("session.cookie.expires", f"not a date: {expires!r}") from None
    if isinstance(expires, (int, float)) and not isinstance(expires, bool):
        return int(expires)
    # cookie.maxAge is not read: connect-mongo 6, connect-pg-simple 10 and express-session's
    # MemoryStore (the stores git-proxy uses) take only cookie.expires, else their ttl
    return now + default_ttl * 1000


class SessionRules:
    """Validation and expiry helpers a SessionStore implementation inherits."""

    def __init__(self, default_ttl: int = 86400):
        self.default_ttl = default_ttl

    @staticmethod
    def check_sid(sid: Any) -> str:
        return check_key("session id", sid)

    @staticmethod
    def check_session(sess: Any, *, deep_copy: bool = True) -> dict[str, Any]:
        """``sess`` checked; a deep copy, for a store that keeps the object (the caller may edit
        theirs), or with ``deep_copy=False`` a shallow one, for a store that serialises it at
        once."""
        if not isinstance(sess, Mapping):
            raise InvalidDocument("session", f"expected an object, got {type(sess).__name__}")
        check_json("session", sess)
        return plain_copy(dict(sess)) if deep_copy else dict(sess)

    def expiry(self, sess: Mapping[str, Any]) -> int:
        return session_expiry_ms(sess, self.default_ttl)

    @staticmethod
    def expired(expires_ms: int) -> bool:
        return expires_ms <= now_ms()
