"""Keeping MongoDB credentials out of every message, log line and repr the adapter produces.

A ``Masker`` knows the secrets of one configuration (the URL's password, in raw and
percent-encoded form, and any ``*password*`` client option) and blanks them wherever they appear;
``mask_url`` rewrites a connection string for display.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, unquote

MASK = "***"

# scheme://[user[:password]@]rest — the userinfo ends at the last "@" before the first "/".
_USERINFO = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<info>[^/?#]*)@(?P<rest>.*)$",
                       re.DOTALL)


def url_password(url: str) -> str | None:
    """The password part of a connection string's userinfo, as written (still percent-encoded)."""
    m = _USERINFO.match(url or "")
    if not m or ":" not in m.group("info"):
        return None
    return m.group("info").split(":", 1)[1] or None


def mask_url(url: str) -> str:
    """``mongodb://user:secret@host/db`` -> ``mongodb://user:***@host/db``."""
    m = _USERINFO.match(url or "")
    if not m or ":" not in m.group("info"):
        return url
    user = m.group("info").split(":", 1)[0]
    return f"{m.group('scheme')}{user}:{MASK}@{m.group('rest')}"


class Masker:
    """Replaces every known secret in a text; the one filter all outgoing text passes through."""

    def __init__(self, secrets: Iterable[str] = ()):
        forms: set[str] = set()
        for secret in secrets:
            if secret:
                forms.update({secret, unquote(secret), quote(unquote(secret), safe="")})
        # longest first, so a secret that contains another is blanked whole
        self._secrets = sorted((s for s in forms if s), key=len, reverse=True)

    @classmethod
    def for_config(cls, url: str | None, options: Mapping[str, Any] | None = None) -> Masker:
        secrets = [url_password(url or "") or ""]
        for key, value in (options or {}).items():
            if "password" in str(key).lower() and isinstance(value, str):
                secrets.append(value)
        return cls(secrets)

    def __call__(self, text: object) -> str:
        out = str(text)
        for secret in self._secrets:
            out = out.replace(secret, MASK)
        return out

    def __repr__(self) -> str:
        return f"<Masker {len(self._secrets)} secret form(s)>"
