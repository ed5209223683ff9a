"""git-proxy's ``sink`` configuration: pick the entry to open, and keep passwords out of text."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from sinkkit.conformance.errors import ConfigError

ENV_FALLBACKS = {
    "postgres": "GIT_PROXY_POSTGRES_CONNECTION_STRING",
    "mongo": "GIT_PROXY_MONGO_CONNECTION_STRING",
}

_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:/@\s]*:)(?P<pw>[^@\s]*)(?=@)")
_KV_PASSWORD = re.compile(r"(?P<head>\bpassword\s*=\s*)(?P<pw>'(?:[^'\\]|\\.)*'|\S+)", re.I)


def mask_dsn(text: str) -> str:
    """``text`` with every connection-string password replaced by ``***``."""
    text = _URL_PASSWORD.sub(lambda m: m.group("head") + "***", text)
    return _KV_PASSWORD.sub(lambda m: m.group("head") + "***", text)


def select_entry(config: Any) -> dict[str, Any]:
    """The first enabled entry of a git-proxy ``sink`` list (or of ``{"sink": [...]}``)."""
    entries = config.get("sink") if isinstance(config, Mapping) else config
    if not isinstance(entries, list):
        raise ConfigError("sink configuration must be a list of {type, enabled, ...} entries")
    for index, entry in enumerate(entries):
        if not isinstance(entry, Mapping):
            raise ConfigError(f"sink entry {index} is not an object")
        enabled = entry.get("enabled")
        if not isinstance(enabled, bool):
            raise ConfigError(f"sink entry {index}: 'enabled' must be true or false")
        if enabled:
            if not isinstance(entry.get("type"), str) or not entry["type"]:
                raise ConfigError(f"sink entry {index}: 'type' must be a non-empty string")
            return dict(entry)
    raise ConfigError(f"no enabled sink among {len(entries)} entries: set enabled: true on one")
