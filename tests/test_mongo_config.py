"""Configuration of the mongo sink: env fallback, validation, and passwords kept out of text."""

from __future__ import annotations

import logging

import pytest
from mongo_kit import open_private_sink
from sinkkit.adapters.mongo import (
    ENV_CONNECTION_STRING,
    Masker,
    mask_url,
    open_mongo_sink,
    settings_from_entry,
)
from sinkkit.adapters.mongo.config import DEFAULT_DATABASE
from sinkkit.conformance.errors import ConfigError, Unavailable

SECRET = "pa55-w0rd!x"


def test_connection_string_falls_back_to_the_environment(monkeypatch):
    monkeypatch.setenv(ENV_CONNECTION_STRING, "mongodb://envhost:27017/fromenv")
    settings = settings_from_entry({"type": "mongo", "enabled": True})
    assert settings.url == "mongodb://envhost:27017/fromenv" and settings.database == "fromenv"
    given = settings_from_entry({"type": "mongo", "connectionString": "mongodb://h/own"})
    assert given.database == "own"


def test_no_connection_string_anywhere_is_a_config_error_naming_the_variable(monkeypatch):
    monkeypatch.delenv(ENV_CONNECTION_STRING, raising=False)
    with pytest.raises(ConfigError) as err:
        settings_from_entry({"type": "mongo", "enabled": True})
    assert ENV_CONNECTION_STRING in str(err.value)


@pytest.mark.parametrize("url", [
    f"http://admin:{SECRET}@db/x",
    f"mongodb://admin:{SECRET}@db:99999/x",
    f"mongodb://admin:{SECRET}@",
    f"mongodb://admin:{SECRET}@db/bad name",
])
def test_malformed_urls_are_config_errors_with_the_password_masked(url):
    with pytest.raises(ConfigError) as err:
        settings_from_entry({"type": "mongo", "connectionString": url})
    assert SECRET not in str(err.value) and SECRET not in repr(err.value)


def test_database_comes_from_url_then_options_then_the_node_default():
    assert settings_from_entry({"connectionString": "mongodb://h/a",
                                "options": {"dbName": "b"}}).database == "a"
    assert settings_from_entry({"connectionString": "mongodb://h/",
                                "options": {"dbName": "b"}}).database == "b"
    assert settings_from_entry({"connectionString": "mongodb://h"}).database == DEFAULT_DATABASE


def test_options_go_to_the_client_except_the_adapters_own_and_node_only_noops():
    settings = settings_from_entry({"connectionString": "mongodb://h/a", "options": {
        "maxPoolSize": 7, "useNewUrlParser": True, "useUnifiedTopology": True,
        "sessionTtl": 60, "dbName": "ignored-url-wins"}})
    assert settings.client_options == {"maxPoolSize": 7, "serverSelectionTimeoutMS": 5000}
    assert settings.session_ttl == 60


def test_an_unknown_client_option_is_a_config_error():
    with pytest.raises(ConfigError) as err:
        open_mongo_sink({"connectionString": "mongodb://127.0.0.1:1/x",
                         "options": {"noSuchOption": 1}})
    assert "noSuchOption" in str(err.value)


@pytest.mark.parametrize("ttl", [0, -5, "1h", True])
def test_a_bad_session_ttl_is_a_config_error(ttl):
    with pytest.raises(ConfigError):
        settings_from_entry({"connectionString": "mongodb://h/a", "options": {"sessionTtl": ttl}})


def test_an_unreachable_server_fails_at_open_with_the_password_masked(caplog):
    caplog.set_level(logging.DEBUG, logger="sinkkit.adapters.mongo")
    url = f"mongodb://admin:{SECRET}@127.0.0.1:1/gitproxy"
    with pytest.raises(Unavailable) as err:
        open_mongo_sink({"type": "mongo", "connectionString": url,
                         "options": {"serverSelectionTimeoutMS": 300}})
    assert SECRET not in str(err.value) and SECRET not in repr(err.value)
    assert "127.0.0.1:1" in str(err.value)
    assert SECRET not in caplog.text


def test_masking_helpers_cover_raw_and_percent_encoded_passwords():
    url = "mongodb://admin:p%40ss%2Fw@h1:27017,h2/db?authSource=admin"
    assert mask_url(url) == "mongodb://admin:***@h1:27017,h2/db?authSource=admin"
    mask = Masker.for_config(url, {"tlsCertificateKeyFilePassword": "keypass"})
    text = "auth failed for p@ss/w, p%40ss%2Fw and keypass"
    assert mask(text) == "auth failed for ***, *** and ***"
    assert mask_url("mongodb://h/db") == "mongodb://h/db"


def test_reprs_never_show_the_password():
    settings = settings_from_entry({"connectionString": f"mongodb://u:{SECRET}@h/db"})
    assert SECRET not in repr(settings)
    sink = open_private_sink()
    try:
        assert "mongodb://" in repr(sink)
    finally:
        sink.close()
