"""open_sink and git-proxy's sink list: selection, errors, masking, third-party types."""

from __future__ import annotations

import pytest
from sinkkit.conformance.errors import ConfigError
from sinkkit.conformance.model import DocumentSink
from sinkkit.core.config import adapter_types, mask_dsn, open_sink, select_entry


def test_the_first_enabled_entry_is_selected_from_either_config_shape():
    entries = [{"type": "a", "enabled": False}, {"type": "b", "enabled": True},
               {"type": "c", "enabled": True}]
    assert select_entry(entries)["type"] == "b"
    assert select_entry({"sink": entries})["type"] == "b"


@pytest.mark.parametrize("config,needle", [
    ({"sink": "fs"}, "must be a list"),
    ({}, "must be a list"),
    ([1], "not an object"),
    ([{"type": "fs"}], "'enabled' must be true or false"),
    ([{"type": "fs", "enabled": "yes"}], "'enabled' must be true or false"),
    ([{"enabled": True}], "'type'"),
    ([], "no enabled sink"),
])
def test_malformed_sink_lists_raise_config_errors_that_say_why(config, needle):
    with pytest.raises(ConfigError, match=needle):
        select_entry(config)


def test_open_sink_opens_the_memory_type_through_its_entry_point():
    sink = open_sink({"sink": [{"type": "memory", "enabled": True}]})
    assert isinstance(sink, DocumentSink)
    sink.close()


def test_installed_types_include_every_reference_adapter():
    assert {"memory", "fs", "postgres", "mongo"} <= set(adapter_types())


def test_an_explicit_opener_bypasses_the_entry_points():
    seen = []
    open_sink([{"type": "custom", "enabled": True, "x": 1}], opener=seen.append)
    assert seen == [{"type": "custom", "enabled": True, "x": 1}]


@pytest.mark.parametrize("text,secret", [
    ("postgresql://admin:hunter2@db:5432/gitproxy", "hunter2"),
    ("mongodb+srv://u:p%40ss@cluster0.example.net/db?retryWrites=true", "p%40ss"),
    ("could not connect: postgres://a:b-c@h/x and mongodb://u:zz@m/", "b-c"),
    ("host=db user=git password=s3cr3t dbname=x", "s3cr3t"),
    ("host=db password='with space' user=x", "with space"),
])
def test_mask_dsn_hides_every_password(text, secret):
    masked = mask_dsn(text)
    assert secret not in masked and "***" in masked


def test_mask_dsn_leaves_passwordless_text_alone():
    text = "postgresql://git@db:5432/gitproxy and https://github.com/finos/git-proxy"
    assert mask_dsn(text) == text
