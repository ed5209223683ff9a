"""JSON to and from JSONB so documents round-trip exactly, floats and long integers included.

JSONB stores numbers as ``numeric`` and prints them without an exponent: a float written as
``1e+300`` comes back as a 301-digit integer, so Python would read an ``int`` that is not even
equal to the float it stored. Floats whose ``repr`` uses an exponent at magnitude >= 1 are
therefore written as their exact decimal with a trailing ``.0``; ``numeric`` keeps that scale and
``json.loads`` reads a float again, the same double (the digits are its shortest repr).

Reading back, ``loads`` parses with orjson, two to three times faster than ``json`` on a
listing, except where the text holds a number of 19 digits or more: orjson reads an integer past
64 bits as a float, losing digits, so such a text goes to ``json``, which keeps it exact.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

import orjson
from psycopg.types.json import Jsonb

# NUL never survives input validation (check_text refuses it), so it cannot collide with data.
_MARK = "\x00n:"
_MARKED = re.compile(r'"\\u0000n:(-?[0-9]+\.0)"')


def _mark_floats(value: Any) -> Any:
    if isinstance(value, float):
        text = repr(value)
        if "e" in text and abs(value) >= 1:
            return _MARK + format(Decimal(text), "f") + ".0"
        return value
    if isinstance(value, dict):
        return {k: _mark_floats(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_mark_floats(v) for v in value]
    return value


def dumps(value: Any) -> str:
    # orjson first (about five times json on a push): it prints floats as repr does, so the
    # same "e+" test applies. It refuses what json still writes (an integer past 64 bits, a
    # float subclass, a lone surrogate), and those take the json path. It would print NaN as
    # null, but no document gets here unchecked: the input rules refuse non-finite numbers.
    try:
        text = orjson.dumps(value).decode()
    except TypeError:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    # a float printed with a positive exponent always shows "e+"; without one (nearly every
    # document) the plain encoding is already exact and the marking walk is skipped
    if "e+" not in text:
        return text
    text = json.dumps(_mark_floats(value), ensure_ascii=False, separators=(",", ":"))
    return _MARKED.sub(r"\1", text)


def jsonb(value: Any) -> Jsonb:
    """A query parameter carrying ``value`` as JSONB, floats kept exact."""
    return Jsonb(value, dumps=dumps)


# Where a number token (after "[", "," or ":", whitespace aside) of 19 digits or more may be:
# the shortest that can fall outside the 64-bit integers orjson keeps exact. Digits are mapped
# to "0" and the three separators to ":", whitespace dropped, then two substring searches find
# one; a regular expression did the same at a third of orjson's speed. A string that merely
# looks like one only sends its document the slower way.
_FOLD = bytes(ord("0") if chr(c).isdigit() and c < 128 else ord(":") if chr(c) in "[,:" else c
              for c in range(256))
_RUN = b"0" * 19
_LONG_NUMBERS = (b":" + _RUN, b":-" + _RUN)


def _may_hold_a_long_number(raw: bytes) -> bool:
    folded = raw.translate(_FOLD, b" \t\n\r")
    return any(pattern in folded for pattern in _LONG_NUMBERS)


def loads(data: bytes | bytearray | memoryview | str) -> Any:
    """A JSON text as Python, exactly: orjson where that is exact, ``json`` otherwise."""
    raw = data.encode() if isinstance(data, str) else bytes(data)
    if not _may_hold_a_long_number(raw):
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass  # what json still reads: a lone surrogate escape in a json (not jsonb) column
    return json.loads(raw)
