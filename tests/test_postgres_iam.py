"""``options.auth: {type: aws-rds-iam}``: a fresh token per pooled connection, over TLS only,
never shown; checked by a front door that verifies each token's SigV4 signature (iam_proxy)."""

from __future__ import annotations

import logging
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg
import pytest
from iam_proxy import FRESH_WITHIN, Expected, IamProxy, check_token, make_certificate
from psycopg.conninfo import conninfo_to_dict
from sinkkit.adapters.postgres import config as pg_config
from sinkkit.adapters.postgres import open_postgres_sink
from sinkkit.adapters.postgres.config import parse_entry
from sinkkit.conformance.errors import ConfigError, Unavailable
from sinkkit.fixtures import postgres as pg_fixtures

postgres_server = pg_fixtures.postgres_server

ACCESS_KEY = "AKIDSINKKITFAKE0000"
SECRET = "sinkkit/fake+secret/for-tests-only"
REGION = "eu-west-1"
USER = "postgres"


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Fake static credentials only: no shared files, no instance metadata lookups."""
    for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION",
                 "PGPASSWORD", "PGSSLMODE", "PGHOST"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))


@pytest.fixture(scope="module")
def trusting_server(postgres_server: pg_fixtures.Provisioned):
    """A server that trusts its Unix socket: the kit's embedded one, or one started for this
    module when SINKKIT_POSTGRES_DSN names another (the front door relays over the socket)."""
    if postgres_server.source == "embedded":
        yield postgres_server
        return
    prov = pg_fixtures.provision_postgres(16, source="embedded", label="kit_iam")
    yield prov
    prov.stop()


@pytest.fixture
def proxy(aws_env: None, trusting_server: pg_fixtures.Provisioned, tmp_path: Path):
    params = conninfo_to_dict(trusting_server.dsn)
    cert, key = make_certificate(tmp_path)
    front = IamProxy(f"{params['host']}/.s.PGSQL.{params.get('port') or 5432}",
                     Expected("127.0.0.1", 0, REGION, ACCESS_KEY, SECRET), cert, key)
    front.database = trusting_server.create_database("sinkkit_iam")
    yield front
    front.stop()
    trusting_server.drop_database(front.database)


def iam_entry(front: IamProxy, **options) -> dict:
    return {"type": "postgres",
            "connectionString": f"postgresql://{USER}@127.0.0.1:{front.port}/{front.database}",
            "options": {"schema": "iam", "poolSize": 3, "sslmode": "verify-full",
                        "sslrootcert": str(front.cert),
                        "auth": {"type": "aws-rds-iam", "region": REGION}, **options}}


def test_every_new_pooled_connection_presents_a_token_made_for_it(
        proxy: IamProxy, monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[str] = []
    real = pg_config.rds_iam_token_provider

    def counting(*args):
        inner = real(*args)
        return lambda: made.append(inner()) or made[-1]

    monkeypatch.setattr(pg_config, "rds_iam_token_provider", counting)
    sink = open_postgres_sink(iam_entry(proxy))
    try:
        pool = sink._pool
        # three connections at once: the pool must open two more, each with a new token
        with pool.connection() as a, pool.connection() as b, pool.connection() as c:
            assert len({id(a), id(b), id(c)}) == 3
        sink.create_user({"username": "alice", "email": "a@example.com", "password": "x",
                          "gitAccount": "alice"})
        assert sink.find_user("alice")["email"] == "a@example.com"
    finally:
        sink.close()
    # bootstrap's connection and three pooled ones, each with a token made when it opened
    # (the checking server refuses one signed more than FRESH_WITHIN seconds earlier)
    assert proxy.refused == []
    assert len(proxy.accepted) >= 4
    assert made == proxy.accepted


def test_the_checking_server_refuses_a_token_kept_for_a_later_connection(
        proxy: IamProxy) -> None:
    token = parse_entry(iam_entry(proxy)).token_provider()
    dsn = iam_entry(proxy)["connectionString"]
    kwargs = {"sslmode": "verify-full", "sslrootcert": str(proxy.cert), "password": token}
    psycopg.connect(dsn, **kwargs).close()
    made = datetime.now(timezone.utc)
    proxy.clock = lambda: made + timedelta(seconds=FRESH_WITHIN + 3)
    with pytest.raises(psycopg.OperationalError, match="a kept token, reused"):
        psycopg.connect(dsn, **kwargs)


def test_the_checking_server_refuses_a_connection_without_tls(proxy: IamProxy) -> None:
    token = parse_entry(iam_entry(proxy)).token_provider()
    with pytest.raises(psycopg.OperationalError, match="TLS required"):
        psycopg.connect(iam_entry(proxy)["connectionString"], sslmode="disable", password=token)


def test_the_checking_server_refuses_a_token_signed_with_another_secret(
        proxy: IamProxy, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    with pytest.raises(Unavailable) as refused:
        open_postgres_sink(iam_entry(proxy, connectTimeout=2))
    assert proxy.refused and proxy.refused[0].endswith("bad signature")
    assert proxy.presented[0] not in str(refused.value)


def test_no_aws_credentials_makes_opening_unavailable_saying_so(
        proxy: IamProxy, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(Unavailable, match="NoCredentialsError"):
        open_postgres_sink(iam_entry(proxy, connectTimeout=2))
    assert proxy.presented == []


def test_a_valid_token_checks_out_and_a_tampered_one_does_not(aws_env: None) -> None:
    expected = Expected("db.example.com", 5432, REGION, ACCESS_KEY, SECRET)
    entry = {"connectionString": f"postgresql://{USER}@db.example.com:5432/gp",
             "options": {"auth": {"type": "aws-rds-iam", "region": REGION}}}
    token = parse_entry(entry).token_provider()
    now = datetime.now(timezone.utc)
    assert check_token(token, USER, expected, now) is None
    assert check_token(token.replace("DBUser=postgres", "DBUser=admin"), "admin", expected,
                       now) == "bad signature"
    assert check_token(token, USER, Expected("db.example.com", 5433, REGION, ACCESS_KEY,
                                             SECRET), now).startswith("signed for")


def test_the_token_never_shows_in_reprs_errors_or_driver_logs(
        proxy: IamProxy, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    caplog.set_level(logging.DEBUG)
    sink = open_postgres_sink(iam_entry(proxy))
    shown = [repr(sink), repr(sink.config), repr(sink.config.connect_kwargs)]
    sink.close()
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    with pytest.raises(Unavailable) as refused:
        open_postgres_sink(iam_entry(proxy, connectTimeout=2))
    shown += [str(refused.value), caplog.text]
    assert len(proxy.presented) >= 3
    for token in proxy.presented:
        signature = token.rsplit("X-Amz-Signature=", 1)[1]
        assert not [text for text in shown if signature in text]


# -- the entry: what options.auth refuses before any connection ---------------------------------

def iam_config(dsn: str = f"postgresql://{USER}@db.example.com:5432/gp", auth=None, **options):
    return parse_entry({"connectionString": dsn, "options": {
        "auth": auth or {"type": "aws-rds-iam", "region": REGION}, **options}})


@pytest.mark.parametrize("sslmode", ["disable", "allow", "prefer"])
def test_iam_auth_refuses_an_sslmode_weaker_than_require(aws_env: None, sslmode: str) -> None:
    with pytest.raises(ConfigError, match=f"needs TLS: sslmode '{sslmode}'"):
        iam_config(sslmode=sslmode)


def test_iam_auth_refuses_tls_turned_off_in_the_connection_string(aws_env: None) -> None:
    with pytest.raises(ConfigError, match="needs TLS"):
        iam_config(f"postgresql://{USER}@db.example.com/gp?sslmode=disable")


def test_iam_auth_refuses_ssl_false(aws_env: None) -> None:
    with pytest.raises(ConfigError, match="needs TLS"):
        iam_config(ssl=False)


def test_iam_auth_without_an_sslmode_verifies_the_server_certificate(aws_env: None) -> None:
    assert iam_config().connect_kwargs["sslmode"] == "verify-full"


def test_iam_auth_refuses_a_password_in_the_connection_string(aws_env: None) -> None:
    with pytest.raises(ConfigError, match="remove the password"):
        iam_config(f"postgresql://{USER}:hunter22@db.example.com/gp")


def test_iam_auth_refuses_several_hosts(aws_env: None) -> None:
    with pytest.raises(ConfigError, match="one host"):
        iam_config(f"postgresql://{USER}@a.example.com,b.example.com/gp")


def test_iam_auth_needs_a_region(aws_env: None) -> None:
    with pytest.raises(ConfigError, match="needs a region"):
        iam_config(auth={"type": "aws-rds-iam"})


def test_iam_auth_takes_the_region_from_aws_region(aws_env: None,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_REGION", "us-east-2")
    token = iam_config(auth={"type": "aws-rds-iam"}).token_provider()
    assert "%2Fus-east-2%2Frds-db%2F" in token


def test_an_unknown_auth_type_is_a_config_error(aws_env: None) -> None:
    with pytest.raises(ConfigError, match="unknown postgres auth type 'kerberos'"):
        iam_config(auth={"type": "kerberos"})


def test_the_next_providers_are_named_as_not_implemented_yet(aws_env: None) -> None:
    with pytest.raises(ConfigError, match="'azure-ad' is not implemented yet"):
        iam_config(auth={"type": "azure-ad"})


def test_iam_auth_without_botocore_names_the_extra_to_install(
        aws_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "botocore", None)
    monkeypatch.setitem(sys.modules, "botocore.session", None)
    with pytest.raises(ConfigError, match=r"gitproxy-sinkkit\[aws\]"):
        iam_config()


def test_the_config_repr_names_the_auth_type_and_no_token(aws_env: None) -> None:
    config = iam_config()
    assert "auth=aws-rds-iam" in repr(config)
    assert "X-Amz" not in repr(config)


def test_a_token_echoed_in_free_text_is_masked(aws_env: None) -> None:
    from sinkkit.adapters.postgres.config import mask_text

    token = iam_config().token_provider()
    signature = token.rsplit("X-Amz-Signature=", 1)[1]
    masked = mask_text(f"server said: bad password {token!r}")
    assert signature not in masked
    assert "X-Amz-Signature=***" in masked
