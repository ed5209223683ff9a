"""Postgres configuration and connection failures: env fallback, malformed connection strings,
unreachable servers and wrong passwords fail at open with typed errors, password masked in the
message, every log line and every repr."""

from __future__ import annotations

import logging
import socket

import pytest
from sinkkit.adapters.postgres import (
    ENV_CONNECTION_STRING,
    mask_dsn,
    open_postgres_sink,
    parse_entry,
)
from sinkkit.conformance.errors import ConfigError, Unavailable
from sinkkit.fixtures import postgres as pg_fixtures
from sinkkit.fixtures.postgres import provision_postgres, require_password

# the kit's postgres fixtures (provisioned like the suite lanes), used by name below
postgres_database = pg_fixtures.postgres_database
postgres_server = pg_fixtures.postgres_server

SECRET = "S3cr3t-pw-x9"


def _entry(dsn: str | None, **options) -> dict:
    entry = {"type": "postgres", "enabled": True, "options": options}
    if dsn is not None:
        entry["connectionString"] = dsn
    return entry


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _assert_masked(exc: BaseException, caplog: pytest.LogCaptureFixture, *extra: object) -> None:
    for text in (str(exc), repr(exc), caplog.text, *map(repr, extra), *map(str, extra)):
        assert SECRET not in text


# -- masking ----------------------------------------------------------------------------------

@pytest.mark.parametrize("dsn, masked", [
    (f"postgresql://git:{SECRET}@db:5432/gp", "postgresql://git:***@db:5432/gp"),
    (f"postgres://git:{SECRET}@db/gp?sslmode=require", "postgres://git:***@db/gp?sslmode=require"),
    (f"postgresql://git:p%40{SECRET}@db/gp", "postgresql://git:***@db/gp"),
    (f"postgresql://git@db/gp?password={SECRET}&sslmode=verify-full",
     "postgresql://git@db/gp?password=***&sslmode=verify-full"),
    (f"host=db user=git password={SECRET} dbname=gp", "host=db user=git password=*** dbname=gp"),
    (f"host=db password='{SECRET} x' dbname=gp", "host=db password=*** dbname=gp"),
    ("postgresql://git@db/gp", "postgresql://git@db/gp"),
])
def test_mask_dsn_hides_every_password_form(dsn, masked):
    assert mask_dsn(dsn) == masked


def test_config_repr_hides_the_password():
    config = parse_entry(_entry(f"postgresql://git:{SECRET}@db/gp"), environ={})
    assert SECRET not in repr(config) and "***" in repr(config)


# -- configuration ----------------------------------------------------------------------------

@pytest.mark.parametrize("dsn", [
    f"not a connection string {SECRET}",
    f"mysql://git:{SECRET}@db/gp",
    f"postgresql://git:{SECRET}@db:notaport/gp",
    f"postgresql://git:{SECRET}@[::1/gp",
    f"postgresql://git:{SECRET}@db/gp?nosuchoption=1",
    f"host=db password={SECRET} dbname",
    "",
    42,
])
def test_a_malformed_connection_string_is_a_config_error(dsn, monkeypatch, caplog):
    monkeypatch.delenv(ENV_CONNECTION_STRING, raising=False)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ConfigError) as info:
        open_postgres_sink(_entry(dsn))
    _assert_masked(info.value, caplog)


@pytest.mark.parametrize("options, problem", [
    ({"poolSize": 0}, "poolSize"),
    ({"connectTimeout": "soon"}, "connectTimeout"),
    ({"schema": ""}, "schema"),
    ({"sessionTable": "x" * 64}, "sessionTable"),
    ({"sslmode": "sometimes"}, "sslmode"),
    ({"poolsize": 3}, "unknown postgres sink option"),
])
def test_bad_options_are_config_errors_naming_the_option(options, problem):
    with pytest.raises(ConfigError, match=problem):
        parse_entry(_entry("postgresql://git@db/gp", **options), environ={})


def test_without_a_connection_string_the_env_variable_is_used(postgres_database, monkeypatch):
    monkeypatch.setenv(ENV_CONNECTION_STRING, postgres_database)
    sink = open_postgres_sink(_entry(None))
    sink.create_user({"username": "env-user", "email": "env@example.com"})
    assert sink.find_user("env-user")["username"] == "env-user"
    sink.close()


def test_the_connection_string_wins_over_the_env_variable(postgres_database, monkeypatch):
    monkeypatch.setenv(ENV_CONNECTION_STRING, f"postgresql://x:{SECRET}@127.0.0.1:{_free_port()}/x")
    sink = open_postgres_sink(_entry(postgres_database))
    assert sink.get_users() == []
    sink.close()


def test_neither_connection_string_nor_env_is_a_config_error(monkeypatch):
    monkeypatch.delenv(ENV_CONNECTION_STRING, raising=False)
    with pytest.raises(ConfigError, match=ENV_CONNECTION_STRING):
        open_postgres_sink(_entry(None))


def test_tls_options_reach_libpq():
    config = parse_entry(_entry("postgresql://git@db/gp", ssl={"rejectUnauthorized": True,
                                                              "ca": "/etc/ca.pem"}), environ={})
    assert config.connect_kwargs["sslmode"] == "verify-full"
    assert config.connect_kwargs["sslrootcert"] == "/etc/ca.pem"


# -- unreachable and refused ------------------------------------------------------------------

def test_nothing_listening_fails_at_open_with_the_password_masked(caplog):
    caplog.set_level(logging.DEBUG)
    dsn = f"postgresql://git:{SECRET}@127.0.0.1:{_free_port()}/gp"
    with pytest.raises(Unavailable) as info:
        open_postgres_sink(_entry(dsn, connectTimeout=2))
    assert "127.0.0.1" in str(info.value) and "***" in str(info.value)
    _assert_masked(info.value, caplog)


def test_an_unroutable_host_fails_at_open_within_connect_timeout(caplog):
    # TEST-NET-1 (RFC 5737) never answers: libpq gives up after connectTimeout seconds
    caplog.set_level(logging.DEBUG)
    dsn = f"postgresql://git:{SECRET}@192.0.2.1:5432/gp"
    with pytest.raises(Unavailable) as info:
        open_postgres_sink(_entry(dsn, connectTimeout=2))
    _assert_masked(info.value, caplog)


@pytest.fixture(scope="module")
def password_server(postgres_server):
    """A server that checks passwords: the kit's embedded one (an env-DSN server may trust all)."""
    if postgres_server.source == "embedded":
        yield postgres_server
        return
    prov = provision_postgres(int(postgres_server.server_version.split(".")[0])
                              if postgres_server.server_version.split(".")[0] in ("16", "18")
                              else 16, source="embedded", label="kit_pw")
    yield prov
    prov.stop()


def test_a_wrong_password_fails_at_open_with_the_password_masked(password_server, caplog):
    good = require_password(password_server, "sinkkit_pw_probe", "right-password-1")
    wrong = good.replace("right-password-1", SECRET)
    sink = open_postgres_sink(_entry(good, schema="pw_probe"))  # the right one works
    sink.close()
    caplog.set_level(logging.DEBUG)
    with pytest.raises(Unavailable) as info:
        open_postgres_sink(_entry(wrong, connectTimeout=2, schema="pw_probe"))
    assert "password authentication failed" in str(info.value)
    _assert_masked(info.value, caplog)


def test_sink_and_store_reprs_hide_the_password(password_server, caplog):
    dsn = require_password(password_server, "sinkkit_pw_repr", SECRET)
    caplog.set_level(logging.DEBUG)
    sink = open_postgres_sink(_entry(dsn, schema="pw_repr"))
    try:
        _assert_masked(Exception(), caplog, sink, sink.config, sink.session_store)
    finally:
        sink.close()
    with pytest.raises(Unavailable) as info:
        sink.get_users()
    _assert_masked(info.value, caplog)
