"""Reading documents back from PostgreSQL (adapters/postgres/jsonio.py, ``loads``): orjson where
it is exact, ``json`` where it is not, the same values either way."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sinkkit.adapters.postgres import jsonio

BIG = [2**63, -(2**63) - 1, 2**64, 10**30, -(10**40)]


@pytest.mark.parametrize("number", BIG)
def test_an_integer_past_64_bits_is_read_exactly(number):
    text = json.dumps({"a": [1, {"n": number}]})
    value = jsonio.loads(text.encode())

    assert value == {"a": [1, {"n": number}]} and type(value["a"][1]["n"]) is int


def test_an_integer_after_the_space_jsonb_prints_is_read_exactly():
    assert jsonio.loads(b'{"n": 123456789012345678901}') == {"n": 123456789012345678901}


def test_a_string_of_digits_is_a_string_whichever_way_it_is_read():
    doc = {"commitFrom": "0" * 40, "n": 7}
    assert jsonio.loads(json.dumps(doc).encode()) == doc


def test_a_lone_surrogate_escape_a_json_column_may_hold_is_still_read():
    assert jsonio.loads(b'{"s": "\\ud800"}') == {"s": "\ud800"}


def test_invalid_json_is_refused_as_json_refuses_it():
    with pytest.raises(json.JSONDecodeError):
        jsonio.loads(b'{"a": ')


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False,
                                                                         allow_infinity=False)
                    | st.text(), lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(st.text(max_size=5), inner, max_size=4), max_leaves=20))
def test_what_jsonio_writes_reads_back_as_json_reads_it(value):
    text = jsonio.dumps(value).encode()
    assert repr(jsonio.loads(text)) == repr(json.loads(text))


class _Ratio(float):
    pass


@pytest.mark.parametrize("value", [{"n": 2**70}, {"f": _Ratio(0.5)}, {"big": 1e300, "s": "e+"}])
def test_what_orjson_refuses_or_prints_with_an_exponent_is_written_as_json_would(value):
    assert json.loads(jsonio.dumps(value)) == json.loads(json.dumps(value))
    assert "e+" not in jsonio.dumps({"big": 1e300})  # the exact decimal, which JSONB keeps
