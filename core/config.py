"""git-proxy's ``sink`` configuration: pick the entry to open, open it, keep passwords out of text.

Adapter types are found through the ``sinkkit.adapters`` entry-point group, so a third-party
package adds a type by declaring ``mytype = "my_pkg:open_my_sink"`` there. This is runtime code
(git-proxy does the same when it starts), so it lives here and not in an adapter: the suite opens
sinks through ``Harness.open``, whose default is ``open_sink``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from sinkkit.conformance.errors import ConfigError

#: the entry-point group naming each adapter type's opener
ADAPTER_GROUP = "sinkkit.adapters"

_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:/@\s]*:)(?P<pw>[^\s]*)(?=@)")
# password, sslpassword, oauth_client_secret ...; a value is quoted, or runs to the next
# unescaped space (libpq's ``password=Correct\ Horse`` is one value)
_KV_PASSWORD = re.compile(
    r"(?P<head>\b\w*(?:pass(?!file)|secret|token)\w*\s*=\s*)(?P<pw>'(?:[^'\\]|\\.)*'|(?:\\.|\S)+)",
    re.I)
#: entry keys whose value is, or carries, a secret
SECRET_ENTRY_KEYS = re.compile(r"connection|dsn|url|uri|pass|secret|token", re.I)


def mask_dsn(text: str) -> str:
    """``text`` with every connection-string password replaced by ``***``."""
    text = _URL_PASSWORD.sub(lambda m: m.group("head") + "***", text)
    return _KV_PASSWORD.sub(lambda m: m.group("head") + "***", text)


class Redacted(dict):  # type: ignore[type-arg]
    """A sink entry (or its ``options``) whose repr masks every secret-bearing value.

    Tracebacks print a frame's arguments (pytest's long format does, and so do error
    reporters): an entry passed around as a plain dict would put its connectionString there.
    It is still a dict, so everything that reads the entry works unchanged.
    """

    def __repr__(self) -> str:
        shown = {k: (_masked_value(v) if isinstance(k, str) and SECRET_ENTRY_KEYS.search(k)
                     else v) for k, v in self.items()}
        return f"Redacted({shown!r})"

    __str__ = __repr__


def _masked_value(value: object) -> object:
    if isinstance(value, Mapping):
        return Redacted(value)
    if isinstance(value, str):
        masked = mask_dsn(value)
        return masked if masked != value or "://" in value or "=" in value else "***"
    return "***"


class SecretStr(str):
    """A connection string that works as one but never shows itself in a repr.

    A traceback printed with its frames' locals (``pytest --showlocals``, error reporters)
    would otherwise show the DSN held in each frame it passes through.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return "'<connection string, not shown>'"


def redact(entry: object) -> object:
    """``entry`` as a Redacted dict (its options too), or unchanged when it is not a mapping."""
    if not isinstance(entry, Mapping):
        return entry
    return Redacted({k: redact(v) if isinstance(v, Mapping) else v for k, v in entry.items()})


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


def adapter_types() -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=ADAPTER_GROUP)}


def open_sink(config: Any, *, opener: Callable[[dict[str, Any]], Any] | None = None) -> Any:
    """Open the first enabled sink of ``config`` (a ``sink`` list or ``{"sink": [...]}``)."""
    entry = select_entry(config)
    if opener is None:
        types = adapter_types()
        if entry["type"] not in types:
            raise ConfigError(
                f"unknown sink type {mask_dsn(entry['type'])!r}; "
                f"installed types: {', '.join(sorted(types))}"
            )
        opener = types[entry["type"]].load()
    return opener(entry)
