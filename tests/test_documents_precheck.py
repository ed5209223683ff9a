"""The push type pre-check agrees with the published JSON Schema it is derived from."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sinkkit.conformance.errors import InvalidDocument
from sinkkit.core import precheck, rules, schemas

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=3),
    lambda inner: st.lists(inner, max_size=2) | st.dictionaries(st.text(max_size=2), inner,
                                                                max_size=2),
    max_leaves=4,
)
pushes = st.dictionaries(st.sampled_from([*sorted(schemas.PUSH_SCHEMA["properties"]), "extra"]),
                         json_values, max_size=8)


@settings(max_examples=500, deadline=None)
@given(pushes)
def test_the_pre_check_passes_only_what_the_schema_passes(push):
    schema_ok = not list(rules._PUSH_VALIDATOR.iter_errors(push))
    if precheck.push_fields_valid(push):
        assert schema_ok
    # the fast path may only defer to jsonschema, never disagree on the plain JSON types
    elif not any(isinstance(v, float) and v.is_integer() for v in push.values()):
        assert not schema_ok


def test_check_push_still_names_the_field_the_schema_refuses():
    with pytest.raises(InvalidDocument, match=r"push\.timestamp"):
        rules.check_push({"id": "p1", "timestamp": "yesterday"})
    with pytest.raises(InvalidDocument, match=r"push\.authorised"):
        rules.check_push({"id": "p1", "authorised": 1})


def test_a_schema_keyword_the_pre_check_cannot_honour_is_refused_at_import():
    with pytest.raises(TypeError, match="pattern"):
        precheck.type_table({"properties": {"id": {"type": "string", "pattern": "^p"}}})
