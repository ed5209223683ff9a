"""Translating pymongo and bson exceptions into the kit's typed errors, passwords masked.

Callers wrap each database call in ``driver_errors(masker)``; a ``DuplicateKeyError`` is left to
the caller (only it knows which document it was writing), everything else becomes a SinkError.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import bson.errors
from pymongo import errors as pe
from sinkkit.adapters.mongo.masking import Masker
from sinkkit.conformance.errors import ConfigError, InvalidDocument, SinkError, Unavailable


@contextmanager
def driver_errors(masker: Masker, doing: str) -> Iterator[None]:
    try:
        yield
    except (SinkError, pe.DuplicateKeyError):
        raise
    except pe.DocumentTooLarge as exc:
        raise InvalidDocument("document", f"too large for MongoDB: {masker(exc)}") from None
    except (bson.errors.InvalidDocument, bson.errors.InvalidStringData) as exc:
        raise InvalidDocument("document", f"cannot be stored as BSON: {masker(exc)}") from None
    except pe.ConfigurationError as exc:
        raise ConfigError(f"mongo sink: {doing}: {masker(exc)}") from None
    except pe.PyMongoError as exc:
        raise Unavailable(f"mongo sink: {doing} failed: {type(exc).__name__}: "
                          f"{_first_line(masker(exc))}") from None


def _first_line(text: str, limit: int = 400) -> str:
    line = text.splitlines()[0] if text else ""
    return line[:limit]
