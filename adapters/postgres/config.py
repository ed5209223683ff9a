"""The postgres sink entry: parsing git-proxy's ``{type: "postgres", ...}`` and masking passwords.

Everything a user can get wrong in the entry is reported here as a ConfigError before any
connection is attempted, and no message, log line or repr built from a DSN ever carries the
password: every such string goes through ``mask_dsn`` / ``mask_text`` first.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from sinkkit.conformance.errors import ConfigError

ENV_CONNECTION_STRING = "GIT_PROXY_POSTGRES_CONNECTION_STRING"
MASK = "***"

#: libpq keywords whose value is a secret (libpq refuses keywords it does not know, so this is
#: every one: password, sslpassword, and PostgreSQL 18's oauth_client_secret)
_SECRET_KEY = re.compile(r"pass(?!file)|secret|token", re.IGNORECASE)
_SCHEME = re.compile(r"^(?P<scheme>postgres(?:ql)?)://", re.IGNORECASE)
_ANY_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
#: what a connection string that cannot be read unambiguously is shown as
UNREADABLE = "*** (connection string not shown: it could not be read unambiguously)"
# free text (an error from somewhere else) may hold a DSN this module never parsed
_TEXT_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:/?#@\s]*:)(?P<pw>[^\s]*)@")
_TEXT_KEYWORD_SECRET = re.compile(
    r"(?P<head>\b\w*(?:pass(?!file)|secret|token)\w*\s*=\s*)(?P<pw>'(?:[^'\\]|\\.)*'|(?:\\.|\S)+)",
    re.IGNORECASE)


def _is_secret(key: str) -> bool:
    return _SECRET_KEY.search(key) is not None


@dataclass(frozen=True)
class _Reading:
    """libpq's reading of a DSN, and the text to show for it (None: show nothing of it)."""

    params: Mapping[str, str]
    shown: str | None
    #: literal strings that may be a password or part of one, longest first
    secrets: tuple[str, ...]


def _read(dsn: str) -> _Reading:
    """Parse ``dsn`` with libpq (``conninfo_to_dict`` knows every keyword) and mask it in place.

    A URL is masked where libpq found the userinfo and the secret query parameters; key=value
    text is masked value by value, by libpq's own quoting rules. Whenever this module's reading
    and libpq's disagree (a URL password holding a raw ``/`` or ``@``, which libpq reads as a
    host, port or database name), nothing of the string is shown.
    """
    from psycopg.conninfo import conninfo_to_dict

    try:
        params = {k: str(v) for k, v in conninfo_to_dict(dsn).items()}
    except Exception:  # any failure to parse means: show nothing, and blank every word of it
        words = {dsn.strip(), *(w for w in re.split(r"[\s=']+", dsn) if len(w) >= 4)}
        return _Reading({}, None, tuple(sorted({*words, *_guesses(dsn)} - {""}, key=len,
                                               reverse=True)))
    secrets = {v for k, v in params.items() if _is_secret(k) and v}
    shown = _mask_url(dsn, params) if _SCHEME.match(dsn) else _mask_keywords(dsn, params)
    if shown is not None and any(secret in shown for secret in secrets):
        shown = None  # belt and braces: a reading that still shows a secret shows nothing
    guesses = _guesses(dsn)
    if shown is not None:
        # read unambiguously: only the secrets themselves, as written (quoted, %-encoded) too
        guesses = [g for g in guesses if any(s in g or s == unquote(g) for s in secrets)]
    return _Reading(params, shown, tuple(sorted(secrets | set(guesses), key=len, reverse=True)))


def _mask_url(dsn: str, params: Mapping[str, str]) -> str | None:
    rest = dsn[_SCHEME.match(dsn).end():]  # type: ignore[union-attr]
    at = rest.find("@")
    slash = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    if "@" in rest and (at < 0 or at > slash or "@" in rest[at + 1:].split("/")[0].split("?")[0]):
        return None  # an "@" libpq does not take as the end of the userinfo: ambiguous
    head = dsn[:len(dsn) - len(rest)]
    if at >= 0:
        userinfo, rest = rest[:at], rest[at:]
        user, colon, password = userinfo.partition(":")
        # a password in the query string wins over the userinfo's, as in libpq
        in_query = re.search(r"[?&]password=", rest) is not None
        if unquote(user) != params.get("user", "") or (not in_query and unquote(password) != (
                params.get("password", "") if colon else "")):
            return None
        head += user + (":" + MASK if colon else "")
    path, qmark, query = rest.partition("?")
    if not qmark:
        return head + rest
    pairs = []
    for pair in query.split("&"):
        key, eq, _ = pair.partition("=")
        pairs.append(f"{key}={MASK}" if eq and _is_secret(unquote(key)) else pair)
    return head + path + "?" + "&".join(pairs)


_KEYWORD = re.compile(r"\s*(?P<key>[^\s=]+)\s*=\s*")


def _mask_keywords(dsn: str, params: Mapping[str, str]) -> str | None:
    """key=value text with secret values masked, by libpq's grammar (conninfo_parse)."""
    out, pos, read = [], 0, {}
    while pos < len(dsn):
        if dsn[pos:].strip() == "":
            break
        m = _KEYWORD.match(dsn, pos)
        if not m:
            return None
        key, pos = m["key"], m.end()
        value, start = [], pos
        if pos < len(dsn) and dsn[pos] == "'":
            pos += 1
            while pos < len(dsn) and dsn[pos] != "'":
                if dsn[pos] == "\\" and pos + 1 < len(dsn):
                    pos += 1
                value.append(dsn[pos])
                pos += 1
            if pos >= len(dsn):
                return None  # unterminated quote (libpq refuses it too)
            pos += 1
        else:
            while pos < len(dsn) and not dsn[pos].isspace():
                if dsn[pos] == "\\" and pos + 1 < len(dsn):
                    pos += 1
                value.append(dsn[pos])
                pos += 1
        read[key] = "".join(value)
        out.append(m.group(0) + (MASK if _is_secret(key) else dsn[start:pos]))
    expected = {k: v for k, v in read.items() if v != "" or k in params}
    if any(params.get(k, "") != v for k, v in expected.items()):
        return None
    return "".join(out)


def _guesses(dsn: str) -> list[str]:
    """What might be a password in a DSN no parser agrees on, to blank out of free text."""
    found: set[str] = set()
    url = _ANY_URL.match(dsn)
    if url:
        authority = dsn[url.end():]
        if "@" in authority:
            userinfo = authority[:authority.rfind("@")]
            if ":" in userinfo:
                password = userinfo.split(":", 1)[1]
                found |= {password, unquote(password)}
                # libpq may read pieces of it as a port, a host or a database name
                found |= {p for p in re.split(r"[/@?#:,]", password) if len(p) >= 2}
    for m in _TEXT_KEYWORD_SECRET.finditer(dsn):
        pw = m["pw"]
        found |= {pw, pw.strip("'")}
        found |= {p for p in re.split(r"\s+", pw.strip("'")) if len(p) >= 2}
    for m in re.finditer(r"[?&](?P<key>[^=&#]+)=(?P<pw>[^&#]*)", dsn):
        if _is_secret(unquote(m["key"])):
            found |= {m["pw"], unquote(m["pw"])}
    return sorted((p for p in found if p and p != MASK), key=len, reverse=True)


def mask_dsn(dsn: Any) -> str:
    """``dsn`` as it may be shown: every secret libpq would read replaced by ***.

    A URL keeps its shape (``postgresql://git:***@db:5432/gp``) and key=value text its order;
    anything that libpq cannot parse, or that this module reads differently from libpq, is not
    shown at all (UNREADABLE), since a string nobody can parse may be nothing but a password.
    """
    if not isinstance(dsn, str):
        return UNREADABLE
    shown = _read(dsn).shown
    return UNREADABLE if shown is None else shown


def secrets_of(dsn: Any) -> list[str]:
    """Literal strings a DSN carries that are, or may be part of, a secret; longest first."""
    if not isinstance(dsn, str):
        return []
    return list(_read(dsn).secrets)


def mask_text(text: Any, dsn: Any = None, extra: tuple[str, ...] = ()) -> str:
    """A message safe to show: the DSN's secrets, any ``extra`` ones, and any DSN-looking
    password in the text blanked out."""
    out = str(text)
    for secret in sorted({*secrets_of(dsn), *extra}, key=len, reverse=True):
        if secret:
            out = out.replace(secret, MASK)
    out = _TEXT_PRESIGNED.sub(lambda m: m["head"] + MASK, out)
    out = _TEXT_URL_PASSWORD.sub(lambda m: m["head"] + MASK + "@", out)
    return _TEXT_KEYWORD_SECRET.sub(lambda m: m["head"] + MASK, out)


#: libpq TLS keywords accepted under ``options`` and passed through unchanged
SSL_OPTIONS = ("sslmode", "sslrootcert", "sslcert", "sslkey", "sslcrl", "sslpassword")
_SSL_MODES = {"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}
KNOWN_OPTIONS = frozenset(
    {"poolSize", "connectTimeout", "schema", "sessionTable", "sessionSchema", "sessionTtl",
     "ssl", "applicationName", "statementTimeout", "lockTimeout", "tcpUserTimeout",
     "keepalivesIdle", "preparedStatements", "spinWait", "auth", *SSL_OPTIONS}
)
#: pooled connections by default: 8 concurrent callers each hold one, with two to spare (the
#: bench's `x8` rows; node-postgres, which git-proxy's own sink uses, also pools 10)
DEFAULT_POOL_SIZE = 10
#: per-call bounds (milliseconds, 0 turns one off); see docs/postgres-operator.md
DEFAULT_STATEMENT_TIMEOUT_MS = 15000
DEFAULT_LOCK_TIMEOUT_MS = 3000
#: microseconds a caller alone in the sink reads the socket in a loop for a reply before it
#: sleeps in poll (0: sleep at once); see
#: adapters/postgres/wire.py and docs/postgres-operator.md
DEFAULT_SPIN_WAIT_US = 200
DEFAULT_TCP_USER_TIMEOUT_MS = 10000
#: seconds of silence before TCP keepalive probes start (then every 2 s, 3 probes)
DEFAULT_KEEPALIVES_IDLE = 5
_MAX_IDENTIFIER_BYTES = 63


class _SecretLogFilter(logging.Filter):
    """Blanks every secret of every parsed config out of psycopg's and psycopg_pool's records.

    Their messages carry libpq errors and connection descriptions, which can echo a host, port
    or database name that is really a piece of a misplaced password; at DEBUG there are many.
    """

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            message = record.getMessage()
            masked = mask_text(message, extra=tuple(self.secrets))
            if masked != message:
                record.msg, record.args = masked, None
        return True


_LOG_FILTER = _SecretLogFilter()
for _name in ("psycopg", "psycopg.pool", "sinkkit.adapters.postgres"):
    logging.getLogger(_name).addFilter(_LOG_FILTER)


#: shorter strings are not blanked process-wide: a one-letter password would blank that letter
#: from every driver log line (errors built from a config mask it at any length)
MIN_LOGGED_SECRET = 4


def keep_out_of_logs(secrets: list[str] | tuple[str, ...]) -> None:
    """Have the driver loggers blank these strings from now on."""
    _LOG_FILTER.secrets.update(s for s in secrets if len(s) >= MIN_LOGGED_SECRET)


@dataclass(frozen=True)
class PostgresConfig:
    """A validated postgres sink entry; ``repr`` never shows the password."""

    dsn: str = field(repr=False)
    pool_size: int = DEFAULT_POOL_SIZE
    connect_timeout: float = 10.0
    schema: str = "public"
    session_table: str = "session"
    session_schema: str = "public"
    session_ttl: int = 86400
    connect_kwargs: Mapping[str, Any] = field(default_factory=dict, repr=False)
    statement_timeout_ms: int = DEFAULT_STATEMENT_TIMEOUT_MS
    lock_timeout_ms: int = DEFAULT_LOCK_TIMEOUT_MS
    #: psycopg's server-side prepared statements (false: prepare_threshold=None, and the
    #: per-call settings travel with each statement: safe behind a transaction pooler)
    prepared_statements: bool = True
    spin_wait_us: int = DEFAULT_SPIN_WAIT_US
    #: ``options.auth``'s token source: called for every new connection, its result is that
    #: connection's password (None: the password, if any, is in the connection string)
    token_provider: Callable[[], str] | None = field(default=None, repr=False)
    auth_type: str | None = None

    @property
    def masked_dsn(self) -> str:
        return mask_dsn(self.dsn)

    def __repr__(self) -> str:
        auth = f", auth={self.auth_type}" if self.auth_type else ""
        return (
            f"PostgresConfig(dsn={self.masked_dsn!r}, schema={self.schema!r}, "
            f"session={self.session_schema}.{self.session_table}, pool_size={self.pool_size}, "
            f"connect_timeout={self.connect_timeout}{auth})"
        )

    def safe(self, text: Any) -> str:
        """``text`` with this config's password removed, for messages and logs."""
        return mask_text(text, self.dsn, tuple(str(v) for k, v in self.connect_kwargs.items()
                                               if k == "sslpassword"))


def parse_entry(entry: Any, environ: Mapping[str, str] | None = None) -> PostgresConfig:
    """Turn a git-proxy sink entry into a PostgresConfig, or raise ConfigError saying why."""
    from sinkkit.core.config import Redacted, SecretStr, redact

    entry = redact(entry)  # a traceback through here prints the argument masked
    environ = os.environ if environ is None else environ
    if not isinstance(entry, Mapping):
        raise ConfigError(f"postgres sink entry must be an object, got {type(entry).__name__}")
    if entry.get("type", "postgres") != "postgres":
        raise ConfigError(f"not a postgres sink entry: type {entry.get('type')!r}")
    dsn = entry.get("connectionString")
    if dsn is None or dsn == "":
        dsn = environ.get(ENV_CONNECTION_STRING)
    del environ  # its repr would show every variable, the connection string among them
    if not dsn:
        raise ConfigError(
            "postgres sink needs a connectionString (or the environment variable "
            f"{ENV_CONNECTION_STRING})"
        )
    if isinstance(dsn, str):
        dsn = SecretStr(dsn)
    keep_out_of_logs(secrets_of(dsn))
    check_dsn(dsn)
    options = entry.get("options") or {}
    if not isinstance(options, Mapping):
        raise ConfigError("postgres sink options must be an object")
    unknown = sorted(set(options) - KNOWN_OPTIONS)
    if unknown:
        raise ConfigError(
            f"unknown postgres sink option(s) {unknown}; known: {sorted(KNOWN_OPTIONS)}")
    schema = _identifier("schema", options.get("schema", "public"))
    keep_out_of_logs([str(options[k]) for k in options if _is_secret(k)])
    connect_kwargs = _connect_kwargs(options)
    auth = options.get("auth")
    provider = None if auth is None else token_provider(auth, dsn, connect_kwargs)
    return PostgresConfig(
        dsn=dsn,
        pool_size=_number("poolSize", options.get("poolSize", DEFAULT_POOL_SIZE), int,
                          minimum=1),
        connect_timeout=_number("connectTimeout", options.get("connectTimeout", 10), float,
                                minimum=1),
        schema=schema,
        session_table=_identifier("sessionTable", options.get("sessionTable", "session")),
        session_schema=_identifier("sessionSchema", options.get("sessionSchema", schema)),
        session_ttl=_number("sessionTtl", options.get("sessionTtl", 86400), int, minimum=1),
        connect_kwargs=Redacted(connect_kwargs),
        statement_timeout_ms=_number("statementTimeout", options.get(
            "statementTimeout", DEFAULT_STATEMENT_TIMEOUT_MS), int, minimum=0),
        lock_timeout_ms=_number("lockTimeout", options.get(
            "lockTimeout", DEFAULT_LOCK_TIMEOUT_MS), int, minimum=0),
        prepared_statements=_boolean("preparedStatements", options.get(
            "preparedStatements", True)),
        spin_wait_us=_number("spinWait", options.get("spinWait", DEFAULT_SPIN_WAIT_US), int,
                             minimum=0),
        token_provider=provider,
        auth_type=None if auth is None else auth["type"],
    )


# -- options.auth: a token per new connection instead of a password ----------------------------

#: auth types this adapter implements, and the ones decision 0007 names as next
AUTH_TYPES = ("aws-rds-iam",)
PLANNED_AUTH_TYPES = ("azure-ad", "gcp-cloudsql-iam")
#: TLS modes that encrypt: a token is a bearer credential for its lifetime (15 min on RDS)
_TLS_MODES = ("require", "verify-ca", "verify-full")
#: what an IAM entry without any sslmode gets: the server's certificate checked, as upstream
#: git-proxy turns ssl on (node-postgres verifies) when awsIamAuth is enabled
IAM_DEFAULT_SSLMODE = "verify-full"
# a presigned token in free text (an error or log line echoing one): its signature and session
# token parts are what make it usable
_TEXT_PRESIGNED = re.compile(
    r"(?P<head>X-Amz-(?:Signature|Security-Token|Credential)=)(?P<pw>[^&\s'\"]+)")


class _DropSigningDetail(logging.Filter):
    """Drops botocore's DEBUG records of what it signs: the canonical request and the
    signature together are the token, logged before anyone could know to mask it."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(("CanonicalRequest", "StringToSign", "Signature"))


_DROP_SIGNING_DETAIL = _DropSigningDetail()


def token_provider(auth: Any, dsn: str, kwargs: dict[str, Any]) -> Callable[[], str]:
    """The per-connection password source ``options.auth`` asks for; ConfigError if it cannot
    work: unknown type, no TLS, a password beside it, several hosts, no user or region.

    ``kwargs`` (the libpq keywords from the options) gets ``sslmode`` when none was given.
    """
    if not isinstance(auth, Mapping) or not isinstance(auth.get("type"), str):
        raise ConfigError('postgres option auth must be an object with a "type", e.g. '
                          '{"type": "aws-rds-iam", "region": "eu-west-1"}')
    kind = auth["type"]
    if kind in PLANNED_AUTH_TYPES:
        raise ConfigError(f"postgres auth type {kind!r} is not implemented yet (planned, see "
                          "docs/postgres-operator.md); implemented: " + ", ".join(AUTH_TYPES))
    if kind not in AUTH_TYPES:
        raise ConfigError(f"unknown postgres auth type {kind!r}; implemented: "
                          + ", ".join(AUTH_TYPES))
    unknown = sorted(set(auth) - {"type", "region"})
    if unknown:
        raise ConfigError(f"unknown key(s) {unknown} in postgres option auth ({kind}): "
                          "known: type, region")
    params = check_dsn(dsn)
    sslmode = kwargs.get("sslmode") or params.get("sslmode") or os.environ.get("PGSSLMODE")
    if sslmode is None:
        kwargs["sslmode"] = sslmode = IAM_DEFAULT_SSLMODE
    if sslmode not in _TLS_MODES:
        raise ConfigError(f"postgres auth {kind} needs TLS: sslmode {sslmode!r} is weaker than "
                          f"require (use one of {', '.join(_TLS_MODES)}; verify-full with the "
                          "provider's CA bundle is the safe choice)")
    if params.get("password") or os.environ.get("PGPASSWORD"):
        raise ConfigError(f"postgres auth {kind} makes a token per connection: remove the "
                          "password from the connection string (and PGPASSWORD)")
    host = params.get("host") or os.environ.get("PGHOST") or ""
    if host.startswith("/"):
        raise ConfigError(f"postgres auth {kind} needs a TCP host, not the socket directory "
                          f"{host!r}")
    if not host or "," in host:
        raise ConfigError(f"postgres auth {kind} signs its token for one host: the connection "
                          f"string names {'several' if host else 'none'}")
    port = params.get("port") or os.environ.get("PGPORT") or "5432"
    if "," in port:
        raise ConfigError(f"postgres auth {kind} signs its token for one port, not {port!r}")
    user = params.get("user") or os.environ.get("PGUSER")
    if not user:
        raise ConfigError(f"postgres auth {kind} needs the database user in the connection "
                          "string (the token is signed for it)")
    region = auth.get("region") or os.environ.get("AWS_REGION") or \
        os.environ.get("AWS_DEFAULT_REGION")
    if not isinstance(region, str) or not region:
        raise ConfigError(f"postgres auth {kind} needs a region: auth.region, or AWS_REGION")
    return rds_iam_token_provider(host, int(port), user, region)


#: how long an RDS IAM token authenticates after it is signed
RDS_TOKEN_LIFETIME_SECONDS = 15 * 60


def rds_iam_token_provider(host: str, port: int, user: str, region: str) -> Callable[[], str]:
    """A callable returning a fresh RDS IAM token for ``user`` at ``host:port`` on each call.

    botocore signs locally (SigV4 presigned URL, 15 minutes), with the credentials its usual
    chain finds (``AWS_*`` variables, shared config, instance or task role); no network call
    is made unless that chain needs one. Every token is kept out of the driver logs.
    """
    try:
        import botocore.session
    except ImportError:
        raise ConfigError("postgres auth aws-rds-iam needs botocore: pip install "
                          "'gitproxy-sinkkit[aws]'") from None
    logging.getLogger("botocore.auth").addFilter(_DROP_SIGNING_DETAIL)
    client = botocore.session.get_session().create_client("rds", region_name=region)

    issued: deque[tuple[float, str]] = deque()

    def token() -> str:
        value = client.generate_db_auth_token(DBHostname=host, Port=port, DBUsername=user,
                                              Region=region)
        # every live token is blanked verbatim; one past its lifetime no longer signs anything
        # (and its signature still matches _TEXT_PRESIGNED), so it leaves the filter, which
        # would otherwise grow by one string per pooled connection for the life of the process
        now = time.monotonic()
        while issued and now - issued[0][0] > RDS_TOKEN_LIFETIME_SECONDS:
            _LOG_FILTER.secrets.discard(issued.popleft()[1])
        issued.append((now, value))
        keep_out_of_logs([value])
        return value

    token.__qualname__ = f"rds_iam_token[{user}@{host}:{port} {region}]"
    return token


def check_dsn(dsn: Any) -> dict[str, str]:
    """libpq's reading of ``dsn`` (URL or key=value form); ConfigError, masked, when malformed."""
    from psycopg import ProgrammingError
    from psycopg.conninfo import conninfo_to_dict

    if not isinstance(dsn, str):
        raise ConfigError(f"postgres connectionString must be a string, got {type(dsn).__name__}")
    if "\x00" in dsn:
        raise ConfigError("malformed postgres connectionString: contains a NUL character")
    looks_like_url = re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", dsn) is not None
    if looks_like_url and not _SCHEME.match(dsn):
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
    from sinkkit.core.config import Redacted

    try:
        params = Redacted({k: str(v) for k, v in conninfo_to_dict(dsn).items()})
    except ProgrammingError as exc:
        raise ConfigError(
            f"malformed postgres connectionString {mask_dsn(dsn)!r}: {mask_text(exc, dsn)}"
        ) from None
    if looks_like_url and _read(dsn).shown is None and _url_password_guess(dsn):
        # libpq took part of the password for a host, port or database name
        del params  # which a traceback printing this frame's locals would show
        raise ConfigError(
            "malformed postgres connectionString (value not shown): libpq does not read the "
            "password where the URL puts it; percent-encode '/', '@', '?' and '#' in it "
            "(%2F, %40, %3F, %23), or use key=value form")
    for port in (params.get("port") or "").split(","):
        if port and not (port.isdigit() and 0 < int(port) < 65536):
            raise ConfigError(
                f"malformed postgres connectionString {mask_dsn(dsn)!r}: port "
                f"{mask_text(repr(port), dsn)} is not a number between 1 and 65535"
            )
    return params


def _url_password_guess(dsn: str) -> bool:
    authority = dsn[_ANY_URL.match(dsn).end():]  # type: ignore[union-attr]
    return "@" in authority and ":" in authority[:authority.rfind("@")]


def _identifier(name: str, value: Any) -> str:
    if not isinstance(value, str) or not value or "\x00" in value:
        raise ConfigError(f"postgres option {name} must be a non-empty name, got {value!r}")
    if len(value.encode("utf-8", "surrogatepass")) > _MAX_IDENTIFIER_BYTES:
        raise ConfigError(f"postgres option {name} is longer than {_MAX_IDENTIFIER_BYTES} bytes")
    return value


def _boolean(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"postgres option {name} must be true or false, got {value!r}")
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
    # a dead network (no reset) must break a call instead of hanging it: libpq gives up on a
    # connection whose sent data stays unacknowledged for tcp_user_timeout ms, and keepalives
    # find a silent peer while the connection idles
    kwargs["tcp_user_timeout"] = _number("tcpUserTimeout", options.get(
        "tcpUserTimeout", DEFAULT_TCP_USER_TIMEOUT_MS), int, minimum=0)
    kwargs.update(keepalives=1, keepalives_interval=2, keepalives_count=3,
                  keepalives_idle=_number("keepalivesIdle", options.get(
                      "keepalivesIdle", DEFAULT_KEEPALIVES_IDLE), int, minimum=1))
    app = options.get("applicationName", "git-proxy-sinkkit")
    if not isinstance(app, str):
        raise ConfigError("postgres option applicationName must be a string")
    kwargs["application_name"] = app
    return kwargs
