"""Turning a git-proxy ``sink`` entry of ``type: mongo`` into client settings.

git-proxy passes ``options`` straight to the Node driver's ``MongoClient``; here they go to
pymongo's, which accepts the same camelCase URI option names. Three keys are this adapter's own
and are taken out first: ``dbName`` (or ``database``) when the URL names no database,
``sessionTtl`` (seconds, the session store's default lifetime) — and the Node-only no-ops
``useNewUrlParser`` / ``useUnifiedTopology`` that old git-proxy configs still carry.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pymongo import uri_parser
from pymongo.errors import ConfigurationError
from sinkkit.adapters.mongo.masking import Masker, mask_url
from sinkkit.conformance.errors import ConfigError

ENV_CONNECTION_STRING = "GIT_PROXY_MONGO_CONNECTION_STRING"
#: the Node driver's database when neither the URL nor the options name one (``client.db()``)
DEFAULT_DATABASE = "test"
#: connect-mongo's own ``ttl`` default (14 days), so sessions git-proxy and this adapter write
#: without a ``cookie.expires`` end at the same moment
DEFAULT_SESSION_TTL = 1209600
#: how long open() waits for a server before failing, unless the options say otherwise
DEFAULT_SERVER_SELECTION_MS = 5000
_NODE_ONLY_NOOPS = frozenset({"usenewurlparser", "useunifiedtopology"})
_OWN_KEYS = frozenset({"dbname", "database", "sessionttl"})


@dataclass(frozen=True)
class MongoSettings:
    url: str = field(repr=False)
    database: str
    client_options: dict[str, Any] = field(repr=False)
    session_ttl: int
    masker: Masker = field(repr=False)

    @property
    def display_url(self) -> str:
        return mask_url(self.url)

    def __repr__(self) -> str:
        return f"MongoSettings({self.display_url!r}, database={self.database!r})"


def settings_from_entry(entry: Mapping[str, Any] | None,
                        environ: Mapping[str, str] | None = None) -> MongoSettings:
    """Validate a sink entry; every problem is a ConfigError with the password masked."""
    environ = os.environ if environ is None else environ
    entry = entry or {}
    if not isinstance(entry, Mapping):
        raise ConfigError(f"mongo sink entry must be an object, got {type(entry).__name__}")
    if entry.get("type", "mongo") != "mongo":
        raise ConfigError(f"not a mongo sink entry: type {entry.get('type')!r}")
    options = entry.get("options") or {}
    if not isinstance(options, Mapping):
        raise ConfigError("mongo sink options must be an object")
    url = entry.get("connectionString") or environ.get(ENV_CONNECTION_STRING)
    masker = Masker.for_config(url if isinstance(url, str) else None, options)
    if not url:
        raise ConfigError(
            f"mongo sink: no connectionString in the sink entry and {ENV_CONNECTION_STRING} "
            "is not set")
    if not isinstance(url, str):
        raise ConfigError("mongo sink: connectionString must be a string")
    parsed_db = _database_in_url(url, masker)
    client_options, own = _split_options(options)
    database = parsed_db or own.get("dbname") or own.get("database") or DEFAULT_DATABASE
    if not isinstance(database, str) or not database or any(c in database for c in '/\\. "$\x00'):
        raise ConfigError(f"mongo sink: invalid database name {database!r}")
    if not any(k.lower() == "serverselectiontimeoutms" for k in client_options):
        client_options["serverSelectionTimeoutMS"] = DEFAULT_SERVER_SELECTION_MS
    return MongoSettings(url=url, database=database, client_options=client_options,
                         session_ttl=_session_ttl(own.get("sessionttl")), masker=masker)


def _database_in_url(url: str, masker: Masker) -> str | None:
    if url.startswith("mongodb+srv://"):
        # parsing an SRV URL resolves DNS; the client reports problems at open instead
        return _srv_database(url)
    try:
        parsed = uri_parser.parse_uri(url, validate=True, warn=False)
    except (ConfigurationError, ValueError) as exc:
        raise ConfigError(f"mongo sink: malformed connectionString {mask_url(url)!r}: "
                          f"{masker(exc)}") from None
    return parsed.get("database")


def _srv_database(url: str) -> str | None:
    path = url.split("://", 1)[1].split("?", 1)[0]
    _, _, db = path.rpartition("@")[2].partition("/")
    return db or None


def _split_options(options: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    client: dict[str, Any] = {}
    own: dict[str, Any] = {}
    for key, value in options.items():
        folded = str(key).lower()
        if folded in _OWN_KEYS:
            own[folded] = value
        elif folded not in _NODE_ONLY_NOOPS:
            client[str(key)] = value
    return client, own


def _session_ttl(value: Any) -> int:
    if value is None:
        return DEFAULT_SESSION_TTL
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ConfigError(f"mongo sink: options.sessionTtl must be a positive number of seconds, "
                          f"got {value!r}")
    return int(value)
