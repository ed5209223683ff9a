"""The kit's config clauses: choosing and opening an entry of git-proxy's ``sink`` list.

``open_sink`` (``sinkkit.core.config``) is the kit's own code (git-proxy's config loader
upstream): no adapter takes part in choosing an entry, so these clauses are checked here, once,
and never counted in an adapter's totals (through the bridge they passed whatever the peer did).
"""

from __future__ import annotations

import pytest
from sinkkit.adapters.memory import DocumentSink
from sinkkit.conformance.clauses import kit_clause
from sinkkit.conformance.errors import ConfigError
from sinkkit.core.config import open_sink

MEMORY = {"type": "memory", "enabled": True}


@pytest.fixture
def opened():
    sinks = []
    yield lambda config: sinks.append(open_sink(config)) or sinks[-1]
    for sink in sinks:
        sink.close()


@kit_clause("config.first-enabled-wins")
def test_the_first_enabled_entry_is_opened(opened):
    chosen = opened({"sink": [MEMORY, {"type": "no-such-type", "enabled": True}]})
    assert isinstance(chosen, DocumentSink)


@kit_clause("config.disabled-entries-ignored")
def test_disabled_entries_are_skipped_even_when_first(opened):
    chosen = opened({"sink": [{"type": "no-such-type", "enabled": False}, MEMORY]})
    assert isinstance(chosen, DocumentSink)


@kit_clause("config.none-enabled-raises")
@pytest.mark.parametrize("entries", [[], [{"type": "fs", "enabled": False}]])
def test_no_enabled_entry_raises_config_error(entries):
    with pytest.raises(ConfigError) as err:
        open_sink({"sink": [*entries, dict(MEMORY, enabled=False)]})
    assert "enabled" in str(err.value)


@kit_clause("config.unknown-type-raises")
def test_an_unknown_type_raises_config_error_naming_it():
    with pytest.raises(ConfigError) as err:
        open_sink({"sink": [{"type": "cassandra", "enabled": True}, MEMORY]})
    assert "cassandra" in str(err.value)


@kit_clause("config.password-masked")
def test_a_password_never_appears_in_config_errors():
    secret = "hunter2-s3cr3t"
    config = {"sink": [{"type": f"postgres://admin:{secret}@db:5432/x", "enabled": True,
                        "connectionString": f"postgresql://admin:{secret}@db:5432/gitproxy"}]}
    with pytest.raises(ConfigError) as err:
        open_sink(config)
    assert secret not in str(err.value) and secret not in repr(err.value)
