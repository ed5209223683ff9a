"""Configuration: choosing the sink entry from git-proxy's ``sink`` list and opening it."""

from __future__ import annotations

import pytest
from sinkkit.conformance.clauses import clause
from sinkkit.conformance.errors import ConfigError


@pytest.fixture
def opened(sinkkit_opened, open_sink):
    """Open through the harness's ``open_sink`` and discard at teardown like any harness sink."""
    return lambda config: sinkkit_opened.add(open_sink(config))


@clause("config.first-enabled-wins")
def test_the_first_enabled_entry_is_opened(sink, sink_entry, opened):
    expected = type(sink.raw)
    sink.close()  # single-writer backends refuse a second open of one storage
    config = {"sink": [dict(sink_entry, enabled=True), {"type": "no-such-type", "enabled": True}]}
    chosen = opened(config)
    assert type(chosen.raw) is expected


@clause("config.disabled-entries-ignored")
def test_disabled_entries_are_skipped_even_when_first(sink, sink_entry, opened):
    expected = type(sink.raw)
    sink.close()
    config = {"sink": [{"type": "no-such-type", "enabled": False},
                       dict(sink_entry, enabled=True)]}
    chosen = opened(config)
    assert type(chosen.raw) is expected


@clause("config.none-enabled-raises")
@pytest.mark.parametrize("entries", [[], [{"type": "fs", "enabled": False}]])
def test_no_enabled_entry_raises_config_error(sink_entry, entries, open_sink):
    with pytest.raises(ConfigError) as err:
        open_sink({"sink": [*entries, dict(sink_entry, enabled=False)]})
    assert "enabled" in str(err.value)


@clause("config.unknown-type-raises")
def test_an_unknown_type_raises_config_error_naming_it(sink_entry, open_sink):
    with pytest.raises(ConfigError) as err:
        open_sink({"sink": [{"type": "cassandra", "enabled": True}, sink_entry]})
    assert "cassandra" in str(err.value)


@clause("config.password-masked")
def test_a_password_never_appears_in_config_errors(sink_entry, open_sink):
    secret = "hunter2-s3cr3t"
    config = {"sink": [{"type": f"postgres://admin:{secret}@db:5432/x", "enabled": True,
                        "connectionString": f"postgresql://admin:{secret}@db:5432/gitproxy"}]}
    with pytest.raises(ConfigError) as err:
        open_sink(config)
    assert secret not in str(err.value) and secret not in repr(err.value)
