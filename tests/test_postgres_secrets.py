"""No connection-string secret leaks, in any form an operator may write one.

Every form below carries a unique token inside its password (or sslpassword); the token must not
appear in what a person or a log collector can see: ``mask_dsn``, the config's repr, the
ConfigError or Unavailable raised at open (str and repr), every log record at DEBUG (the kit's,
psycopg's and psycopg_pool's), the repr of an open sink, and the failure report pytest prints
with ``--tb=long --showlocals`` when such an error escapes a test.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from psycopg.conninfo import make_conninfo
from sinkkit.adapters.postgres import mask_dsn, open_postgres_sink, parse_entry
from sinkkit.conformance.errors import ConfigError, Unavailable
from sinkkit.fixtures import postgres as pg_fixtures

postgres_database = pg_fixtures.postgres_database
postgres_server = pg_fixtures.postgres_server


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


P, P2 = _closed_port(), _closed_port()
H = f"127.0.0.1:{P}"


def token(n: int) -> str:
    return f"Zq{n:02d}x7Tok"


#: (name, connection string or None, extra options, the token it hides); every string points at
#: a port nothing listens on, so an open that gets as far as connecting fails at once
FORMS: list[tuple[str, str | None, dict[str, Any], str]] = []


def form(name: str, build: Callable[[str], str | None], **options: Any) -> None:
    t = token(len(FORMS))
    FORMS.append((name, build(t), {k: v.replace("TOKEN", t) for k, v in options.items()}, t))


form("url userinfo", lambda t: f"postgresql://git:{t}@{H}/gp")
form("url postgres scheme and query", lambda t: f"postgres://git:{t}@{H}/gp?sslmode=disable")
form("url %-encoded @", lambda t: f"postgresql://git:{quote('p@ss' + t, safe='')}@{H}/gp")
form("url %-encoded /", lambda t: f"postgresql://git:{quote('Correct/' + t, safe='')}@{H}/gp")
form("url %-encoded %", lambda t: f"postgresql://git:{quote('100%' + t, safe='')}@{H}/gp")
form("url %-encoded spaces", lambda t: f"postgresql://git:Correct%20Horse%20{t}@{H}/gp")
form("url %-encoded unicode", lambda t: f"postgresql://git:{quote('pässwörd' + t)}@{H}/gp")
form("url raw / before", lambda t: f"postgresql://git:Correct/{t}@{H}/gp")
form("url raw / after", lambda t: f"postgresql://git:{t}/Horse@{H}/gp")
form("url raw @", lambda t: f"postgresql://git:a@{t}@{H}/gp")
form("url raw @ after", lambda t: f"postgresql://git:{t}@b@{H}/gp")
form("url raw ?", lambda t: f"postgresql://git:pw?{t}@{H}/gp")
form("url raw #", lambda t: f"postgresql://git:pw#{t}@{H}/gp")
form("url raw :", lambda t: f"postgresql://git:pw:{t}@{H}/gp")
form("url query password", lambda t: f"postgresql://git@{H}/gp?password={t}")
form("url query sslpassword", lambda t: f"postgresql://git@{H}/gp?sslpassword={t}&sslmode=disable")
form("url userinfo and sslpassword", lambda t: f"postgresql://git:{t}@{H}/gp?sslpassword={t}x")
form("url multi-host", lambda t: f"postgresql://git:{t}@{H},127.0.0.1:{P2}/gp")
form("url ipv6", lambda t: f"postgresql://git:{t}@[::1]:{P}/gp")
form("url no user", lambda t: f"postgresql://:{t}@{H}/gp")
form("url host in query", lambda t: f"postgresql:///gp?host=127.0.0.1&port={P}&password={t}")
form("url upper-case scheme", lambda t: f"POSTGRESQL://git:{t}@{H}/gp")
form("url unknown parameter", lambda t: f"postgresql://git:{t}@{H}/gp?bogus=1")
form("kv plain", lambda t: f"host=127.0.0.1 port={P} user=git password={t} dbname=gp")
form("kv quoted spaces", lambda t: f"host=127.0.0.1 port={P} password='Correct Horse {t}'")
form("kv escaped spaces", lambda t: f"host=127.0.0.1 port={P} password=Correct\\ Horse\\ {t}")
form("kv spaces around =", lambda t: f"host = 127.0.0.1 port = {P} password = '{t}'")
form("kv escaped quote", lambda t: f"host=127.0.0.1 port={P} password='it\\'s{t}'")
form("kv sslpassword", lambda t: f"host=127.0.0.1 port={P} sslpassword={t} sslmode=disable")
form("kv password and sslpassword", lambda t: f"host=127.0.0.1 port={P} password={t} "
                                              f"sslpassword={t}y")
form("kv host list", lambda t: f"host=127.0.0.1,127.0.0.1 port={P},{P2} password={t}")
form("kv password first", lambda t: f"password={t} host=127.0.0.1 port={P}")
form("kv tabs", lambda t: f"host=127.0.0.1\tpassword={t}\tport={P}")
form("kv = in the value", lambda t: f"host=127.0.0.1 port={P} password=a={t}")
form("kv unterminated quote", lambda t: f"host=127.0.0.1 port={P} password='{t}")
form("kv unknown keyword", lambda t: f"host=127.0.0.1 port={P} password={t} bogus=1")
form("kv upper-case keyword", lambda t: f"host=127.0.0.1 port={P} PASSWORD={t}")
form("bare password", lambda t: t)
form("options sslpassword", lambda t: f"postgresql://git@{H}/gp", sslpassword="TOKEN")
form("environment fallback", lambda t: None)


def entry_for(dsn: str | None, options: dict[str, Any]) -> dict[str, Any]:
    entry: dict[str, Any] = {"type": "postgres", "enabled": True,
                             "options": {"connectTimeout": 1, **options}}
    if dsn is not None:
        entry["connectionString"] = dsn
    return entry


def seen_at_open(dsn: str | None, options: dict[str, Any], secret: str,
                 caplog: pytest.LogCaptureFixture) -> Iterator[tuple[str, str]]:
    """(where, text) for everything an operator sees when this form is used."""
    if dsn is not None:
        yield "mask_dsn", mask_dsn(dsn)
    environ = {"GIT_PROXY_POSTGRES_CONNECTION_STRING": f"postgresql://git:{secret}@{H}/gp"}
    try:
        config = parse_entry(entry_for(dsn, options), environ=environ)
        yield "repr(config)", repr(config)
        yield "config.masked_dsn", config.masked_dsn
    except ConfigError as exc:
        yield "ConfigError", f"{exc} {exc!r}"
    try:
        open_postgres_sink(entry_for(dsn, options)).close()
        yield "open", "opened: nothing listens there, so this should not happen"
    except (ConfigError, Unavailable) as exc:
        yield type(exc).__name__, f"{exc} {exc!r}"
    yield "logs", caplog.text + "".join(repr(r.args) for r in caplog.records)


@pytest.mark.parametrize("name, dsn, options, secret", FORMS, ids=[f[0] for f in FORMS])
def test_no_secret_is_seen_at_open(name: str, dsn: str | None, options: dict[str, Any],
                                   secret: str, caplog: pytest.LogCaptureFixture,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("GIT_PROXY_POSTGRES_CONNECTION_STRING", f"postgresql://git:{secret}@{H}/gp")
    leaks = [where for where, text in seen_at_open(dsn, options, secret, caplog) if secret in text]
    assert leaks == []


def test_there_are_at_least_thirty_forms() -> None:
    assert len(FORMS) >= 30 and len({f[0] for f in FORMS}) == len(FORMS)


@pytest.mark.parametrize("shape", ["url", "kv"])
def test_an_open_sink_shows_no_secret_in_its_repr_or_its_logs(
        postgres_database: str, shape: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    secret = f"Zq{shape}x7Open"
    dsn = make_conninfo(postgres_database, password=secret, sslpassword=secret + "s")
    if shape == "url":
        params = dict(p.split("=", 1) for p in dsn.split())
        host = params.get("host", "")
        query = "&".join(f"{k}={quote(v, safe='')}" for k, v in params.items()
                         if k not in ("user", "password"))
        dsn = f"postgresql://{params.get('user', '')}:{secret}@/?{query}"
        assert "host=" in query or host == ""
    sink = open_postgres_sink(entry_for(dsn, {"connectTimeout": 5}))
    try:
        sink.write_audit({"id": "p1", "type": "push", "timestamp": 1})
        shown = repr(sink) + caplog.text + "".join(repr(r.args) for r in caplog.records)
    finally:
        sink.close()
    assert "ready" in caplog.text and secret not in shown


# --- what pytest prints when an error escapes a test --------------------------------------------

ESCAPING = textwrap.dedent('''
    import json, os
    import pytest
    from sinkkit.core.config import redact
    from sinkkit.adapters.postgres import open_postgres_sink
    from sinkkit.fixtures.postgres import Provisioned

    # the entries as the kit's harnesses hand them out (a plain dict argument of a test is
    # the test author's to print; see docs/postgres-operator.md)
    FORMS = [redact(entry) for entry in json.loads(os.environ["SINKKIT_SECRET_FORMS"])]

    @pytest.mark.parametrize("entry", FORMS)
    def test_open(entry):
        open_postgres_sink(entry)

    @pytest.mark.parametrize("entry", FORMS)
    def test_fixture_connect(entry):
        Provisioned(entry.get("connectionString") or "", "dsn").connect()
''')


def test_pytest_failure_output_shows_no_secret(tmp_path: Path) -> None:
    entries = [entry_for(dsn, options) for _, dsn, options, _ in FORMS if dsn is not None]
    (tmp_path / "test_escaping.py").write_text(ESCAPING)
    env = {**os.environ, "SINKKIT_SECRET_FORMS": json.dumps(entries)}
    env.pop("PYTEST_XDIST_WORKER", None)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:randomly",
         "-p", "no:xdist", "--tb=long", "--showlocals", "-q", str(tmp_path)],
        capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    output = done.stdout + done.stderr
    assert f"{2 * len(entries)} failed" in output  # every one failed, and was printed
    leaked = [name for name, _, _, secret in FORMS if secret in output]
    assert leaked == []
