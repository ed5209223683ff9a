"""The MongoDB reference adapter (``type: mongo`` in git-proxy's ``sink`` list).

``open_mongo_sink(entry)`` validates the entry, connects within a bounded time (failing with
``Unavailable``, password masked), creates every index and the connect-mongo session collection,
and returns a ready ``MongoSink``. ``client_factory`` replaces ``pymongo.MongoClient`` (the
mongomock lane passes ``mongomock.MongoClient``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from sinkkit.adapters.mongo.config import ENV_CONNECTION_STRING, MongoSettings, settings_from_entry
from sinkkit.adapters.mongo.driver import driver_errors
from sinkkit.adapters.mongo.masking import Masker, mask_url
from sinkkit.adapters.mongo.sessions import MongoSessionStore
from sinkkit.adapters.mongo.sink import MongoSink
from sinkkit.conformance.errors import ConfigError

__all__ = [
    "ENV_CONNECTION_STRING", "Masker", "MongoSessionStore", "MongoSettings", "MongoSink",
    "mask_url", "open_mongo_sink", "settings_from_entry",
]

log = logging.getLogger("sinkkit.adapters.mongo")


def open_mongo_sink(entry: Mapping[str, Any] | None = None,
                    client_factory: Callable[..., Any] | None = None) -> MongoSink:
    settings = settings_from_entry(entry)
    if client_factory is None:
        from pymongo import MongoClient as client_factory
    log.debug("opening mongo sink at %s (database %s)", settings.display_url, settings.database)
    with driver_errors(settings.masker, f"connecting to {settings.display_url}"):
        try:
            client = client_factory(settings.url, **settings.client_options)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"mongo sink: bad client options: {settings.masker(exc)}") from None
        try:
            # fail here, within serverSelectionTimeoutMS, rather than on the first request
            client.admin.command("ping")
            sink = MongoSink(client, settings)
            sink.bootstrap()
        except BaseException:
            client.close()
            raise
    return sink
