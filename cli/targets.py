"""SOURCE and DEST arguments: a git-proxy ``proxy.config.json`` or a URL, as a ``sink`` entry.

``fs:./.data/db``, ``postgresql://...`` (or ``postgres://``), ``mongodb://...`` (or
``mongodb+srv://``), or the path of a JSON file holding git-proxy's configuration, whose first
enabled ``sink`` entry is used. ``display`` is what every message shows: the password masked.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sinkkit.conformance.errors import ConfigError
from sinkkit.core.config import mask_dsn, select_entry

_URL_TYPES = {
    "postgresql://": "postgres", "postgres://": "postgres",
    "mongodb://": "mongo", "mongodb+srv://": "mongo",
}


@dataclass(frozen=True)
class Target:
    """One side of a command: the sink entry to open, and how to name it safely."""

    entry: dict[str, Any]
    display: str

    @property
    def type(self) -> str:
        return str(self.entry["type"])

    @property
    def connection_string(self) -> str | None:
        value = self.entry.get("connectionString")
        return value if isinstance(value, str) else None

    @property
    def fs_directory(self) -> Path:
        params = self.entry.get("params") or {}
        options = self.entry.get("options") or {}
        return Path(params.get("filepath") or options.get("path") or "./.data/db")


def parse_target(text: str) -> Target:
    """The sink entry ``text`` names; a ConfigError (password masked) when it names none."""
    if text.startswith("fs:"):
        path = text[3:]
        if not path:
            raise ConfigError("fs: needs a directory, e.g. fs:./.data/db")
        return Target({"type": "fs", "enabled": True, "params": {"filepath": path}}, f"fs:{path}")
    for prefix, kind in _URL_TYPES.items():
        if text.startswith(prefix):
            return Target({"type": kind, "enabled": True, "connectionString": text},
                          mask_dsn(text))
    path = Path(text)
    if path.is_file():
        return _from_config_file(path)
    raise ConfigError(
        f"{mask_dsn(text)!r} is neither a git-proxy config file nor a sink URL "
        "(fs:DIR, postgresql://..., mongodb://...)")


def _from_config_file(path: Path) -> Target:
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    entry = select_entry(config)
    if entry["type"] == "fs":
        # git-proxy resolves the fs sink's directory against its working directory; a config
        # file is read here from elsewhere, so a relative path is taken relative to the file
        params = dict(entry.get("params") or {})
        directory = Path(params.get("filepath") or (entry.get("options") or {}).get("path")
                         or "./.data/db")
        params["filepath"] = str(directory if directory.is_absolute()
                                 else path.parent / directory)
        entry["params"] = params
        return Target(entry, f"{path} (fs:{params['filepath']})")
    where = entry.get("connectionString")
    shown = mask_dsn(where) if isinstance(where, str) else "connection string from the environment"
    return Target(entry, f"{path} ({entry['type']} {shown})")


def postgres_url(dsn: str, user: str | None = None, password: str | None = None) -> str:
    """A ``postgresql://`` URL for a libpq DSN (key=value or URL), optionally as ``user``: the
    form SOURCE and DEST take. A socket directory stays a ``host=`` query parameter."""
    from psycopg.conninfo import conninfo_to_dict

    parts = conninfo_to_dict(dsn)
    who = user or parts.get("user", "postgres")
    secret = password if password is not None else (parts.get("password") or "")
    auth = f"{who}:{secret}@" if secret else f"{who}@"
    host = str(parts.get("host") or "127.0.0.1")
    if host.startswith("/"):
        port = f"&port={parts['port']}" if parts.get("port") else ""
        return f"postgresql://{auth}/{parts['dbname']}?host={host}{port}"
    return f"postgresql://{auth}{host}:{parts.get('port', 5432)}/{parts['dbname']}"
