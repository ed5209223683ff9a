"""Translating pymongo and bson exceptions into the kit's typed errors, passwords masked.

Callers wrap each database call in ``driver_errors(masker)``. A ``DuplicateKeyError`` is best
handled inside that block by the caller (only it knows which document it was writing); one that
reaches ``driver_errors`` still becomes a SinkError, never a driver exception.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import bson.errors
from pymongo import errors as pe
from sinkkit.adapters.mongo.masking import Masker
from sinkkit.conformance.errors import ConfigError, InvalidDocument, SinkError, Unavailable


def retry_upsert(write: Callable[[], object], attempts: int = 3) -> None:
    """Run an upsert, retrying when a concurrent upsert of the same key won the insert (the
    loser hits the unique index; on retry it finds the document and updates it)."""
    for attempt in range(attempts):
        try:
            write()
            return
        except pe.DuplicateKeyError:
            if attempt == attempts - 1:
                raise


@contextmanager
def driver_errors(masker: Masker, doing: str) -> Iterator[None]:
    try:
        yield
    except SinkError:
        raise
    except pe.DuplicateKeyError as exc:
        raise Unavailable(f"mongo sink: {doing}: a write kept colliding with concurrent "
                          f"writes: {_first_line(masker(exc))}") from None
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
