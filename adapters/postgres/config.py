"""The postgres sink entry: parsing git-proxy's ``{type: "postgres", ...}`` and masking passwords.

Everything a user can get wrong in the entry is reported here as a ConfigError before any
connection is attempted, and no message, log line or repr built from a DSN ever carries the
password: every such string goes through ``mask_dsn`` / ``mask_text`` first.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from sinkkit.conformance.errors import ConfigError

ENV_CONNECTION_STRING = "GIT_PROXY_POSTGRES_CONNECTION_STRING"
MASK = "***"

_URL_PASSWORD = re.compile(r"^(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:/?#@]*:)(?P<pw>.*)@(?=[^@]*$)")
_QUERY_PASSWORD = re.compile(r"(?P<head>[?&]password=)(?P<pw>[^&#]*)", re.IGNORECASE)
_KEYWORD_PASSWORD = re.compile(
    r"(?P<head>\bpassword\s*=\s*)(?P<pw>'(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE
)

#: libpq TLS keywords accepted under ``options`` and passed through unchanged
SSL_OPTIONS = ("sslmode", "sslrootcert", "sslcert", "sslkey", "sslcrl", "sslpassword")
_SSL_MODES = {"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}
KNOWN_OPTIONS = frozenset(
    {"poolSize", "connectTimeout", "schema", "sessionTable", "sessionSchema", "sessionTtl",
     "ssl", "applicationName", *SSL_OPTIONS}
)
_MAX_IDENTIFIER_BYTES = 63


def mask_dsn(dsn: Any) -> str:
    """``dsn`` with any password (URL userinfo, ``?password=``, ``password=``) replaced by ***."""
    text = dsn if isinstance(dsn, str) else repr(dsn)
    if _URL_PASSWORD.match(text) or _QUERY_PASSWORD.search(text):
        text = _URL_PASSWORD.sub(lambda m: m["head"] + MASK + "@", text, count=1)
        return _QUERY_PASSWORD.sub(lambda m: m["head"] + MASK, text)
    return _KEYWORD_PASSWORD.sub(lambda m: m["head"] + MASK, text)


def secrets_of(dsn: Any) -> list[str]:
    """The literal password strings a DSN carries (raw and URL-decoded), longest first."""
    if not isinstance(dsn, str):
        return []
    found: list[str] = []
    for pattern in (_URL_PASSWORD, _QUERY_PASSWORD, _KEYWORD_PASSWORD):
        for m in pattern.finditer(dsn):
            pw = m["pw"].strip("'")
            found += [pw, unquote(pw)]
    from psycopg.conninfo import conninfo_to_dict

    with contextlib.suppress(Exception):  # a malformed DSN: the regexes above are all we have
        found.append(str(conninfo_to_dict(dsn).get("password") or ""))
    return sorted({p for p in found if p and p != MASK}, key=len, reverse=True)


def mask_text(text: Any, dsn: Any = None, extra: tuple[str, ...] = ()) -> str:
    """A message safe to show: the DSN's password and any ``extra`` secrets blanked out."""
    out = mask_dsn(str(text))
    for secret in (*secrets_of(dsn), *extra):
        if secret:
            out = out.replace(secret, MASK)
    return out


@dataclass(frozen=True)
class PostgresConfig:
    """A validated postgres sink entry; ``repr`` never shows the password."""

    dsn: str = field(repr=False)
    pool_size: int = 5
    connect_timeout: float = 10.0
    schema: str = "public"
    session_table: str = "session"
    session_schema: str = "public"
    session_ttl: int = 86400
    connect_kwargs: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @property
    def masked_dsn(self) -> str:
        return mask_dsn(self.dsn)

    def __repr__(self) -> str:
        return (
            f"PostgresConfig(dsn={self.masked_dsn!r}, schema={self.schema!r}, "
            f"session={self.session_schema}.{self.session_table}, pool_size={self.pool_size}, "
            f"connect_timeout={self.connect_timeout})"
        )

    def safe(self, text: Any) -> str:
        """``text`` with this config's password removed, for messages and logs."""
        return mask_text(text, self.dsn, tuple(str(v) for k, v in self.connect_kwargs.items()
                                               if k == "sslpassword"))


def parse_entry(entry: Any, environ: Mapping[str, str] | None = None) -> PostgresConfig:
    """Turn a git-proxy sink entry into a PostgresConfig, or raise ConfigError saying why."""
    environ = os.environ if environ is None else environ
    if not isinstance(entry, Mapping):
        raise ConfigError(f"postgres sink entry must be an object, got {type(entry).__name__}")
    if entry.get("type", "postgres") != "postgres":
        raise ConfigError(f"not a postgres sink entry: type {entry.get('type')!r}")
    dsn = entry.get("connectionString")
    if dsn is None or dsn == "":
        dsn = environ.get(ENV_CONNECTION_STRING)
        if not dsn:
            raise ConfigError(
                "postgres sink needs a connectionString (or the environment variable "
                f"{ENV_CONNECTION_STRING})"
            )
    check_dsn(dsn)
    options = entry.get("options") or {}
    if not isinstance(options, Mapping):
        raise ConfigError("postgres sink options must be an object")
    unknown = sorted(set(options) - KNOWN_OPTIONS)
    if unknown:
        raise ConfigError(
            f"unknown postgres sink option(s) {unknown}; known: {sorted(KNOWN_OPTIONS)}")
    schema = _identifier("schema", options.get("schema", "public"))
    return PostgresConfig(
        dsn=dsn,
        pool_size=_number("poolSize", options.get("poolSize", 5), int, minimum=1),
        connect_timeout=_number("connectTimeout", options.get("connectTimeout", 10), float,
                                minimum=1),
        schema=schema,
        session_table=_identifier("sessionTable", options.get("sessionTable", "session")),
        session_schema=_identifier("sessionSchema", options.get("sessionSchema", schema)),
        session_ttl=_number("sessionTtl", options.get("sessionTtl", 86400), int, minimum=1),
        connect_kwargs=_connect_kwargs(options),
    )


def check_dsn(dsn: Any) -> dict[str, str]:
    """libpq's reading of ``dsn`` (URL or key=value form); ConfigError, masked, when malformed."""
    from psycopg import ProgrammingError
    from psycopg.conninfo import conninfo_to_dict

    if not isinstance(dsn, str):
        raise ConfigError(f"postgres connectionString must be a string, got {type(dsn).__name__}")
    if "\x00" in dsn:
        raise ConfigError("malformed postgres connectionString: contains a NUL character")
    looks_like_url = re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", dsn) is not None
    if looks_like_url and not re.match(r"^postgres(ql)?://", dsn):
        raise ConfigError(
            f"malformed postgres connectionString {mask_dsn(dsn)!r}: the scheme must be "
            "postgresql:// or postgres://"
        )
    if not looks_like_url and "=" not in dsn:
        # not shown: a string we cannot parse may be nothing but a password
        raise ConfigError(
            "malformed postgres connectionString (value not shown): expected "
            "postgresql://user:password@host:port/db or key=value pairs"
        )
    try:
        params = {k: str(v) for k, v in conninfo_to_dict(dsn).items()}
    except ProgrammingError as exc:
        raise ConfigError(
            f"malformed postgres connectionString {mask_dsn(dsn)!r}: {mask_text(exc, dsn)}"
        ) from None
    for port in (params.get("port") or "").split(","):
        if port and not (port.isdigit() and 0 < int(port) < 65536):
            raise ConfigError(
                f"malformed postgres connectionString {mask_dsn(dsn)!r}: port {port!r} is not "
                "a number between 1 and 65535"
            )
    return params


def _identifier(name: str, value: Any) -> str:
    if not isinstance(value, str) or not value or "\x00" in value:
        raise ConfigError(f"postgres option {name} must be a non-empty name, got {value!r}")
    if len(value.encode("utf-8", "surrogatepass")) > _MAX_IDENTIFIER_BYTES:
        raise ConfigError(f"postgres option {name} is longer than {_MAX_IDENTIFIER_BYTES} bytes")
    return value


def _number(name: str, value: Any, kind: type, minimum: float) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < minimum:
        raise ConfigError(f"postgres option {name} must be a number >= {minimum}, got {value!r}")
    if kind is int and value != int(value):
        raise ConfigError(f"postgres option {name} must be a whole number, got {value!r}")
    return kind(value)


def _connect_kwargs(options: Mapping[str, Any]) -> dict[str, Any]:
    """libpq keywords that complement the DSN: TLS and the application name."""
    kwargs: dict[str, Any] = {}
    ssl = options.get("ssl")
    if ssl is not None:
        if isinstance(ssl, bool):
            kwargs["sslmode"] = "require" if ssl else "disable"
        elif isinstance(ssl, Mapping):
            # node-postgres style {rejectUnauthorized, ca}: verify when asked to
            kwargs["sslmode"] = "verify-full" if ssl.get("rejectUnauthorized", True) else "require"
            if ssl.get("ca"):
                kwargs["sslrootcert"] = str(ssl["ca"])
        else:
            raise ConfigError("postgres option ssl must be a boolean or an object")
    for key in SSL_OPTIONS:
        if key in options:
            if not isinstance(options[key], str) or not options[key]:
                raise ConfigError(f"postgres option {key} must be a non-empty string")
            kwargs[key] = options[key]
    if "sslmode" in kwargs and kwargs["sslmode"] not in _SSL_MODES:
        raise ConfigError(f"postgres option sslmode must be one of {sorted(_SSL_MODES)}")
    app = options.get("applicationName", "git-proxy-sinkkit")
    if not isinstance(app, str):
        raise ConfigError("postgres option applicationName must be a string")
    kwargs["application_name"] = app
    return kwargs
