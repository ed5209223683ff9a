"""``open_sink``: build a sink from git-proxy configuration.

Adapter types are found through the ``sinkkit.adapters`` entry-point group, so a third-party
package adds a type by declaring ``mytype = "my_pkg:open_my_sink"`` there.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

from sinkkit.adapters.config import mask_dsn, select_entry
from sinkkit.conformance.errors import ConfigError

ADAPTER_GROUP = "sinkkit.adapters"


def adapter_types() -> dict[str, Any]:
    return {ep.name: ep for ep in entry_points(group=ADAPTER_GROUP)}


def open_sink(config: Any, *, opener: Callable[[dict[str, Any]], Any] | None = None) -> Any:
    """Open the first enabled sink of ``config`` (a ``sink`` list or ``{"sink": [...]}``)."""
    entry = select_entry(config)
    if opener is None:
        types = adapter_types()
        if entry["type"] not in types:
            raise ConfigError(
                f"unknown sink type {mask_dsn(entry['type'])!r}; "
                f"installed types: {', '.join(sorted(types))}"
            )
        opener = types[entry["type"]].load()
    return opener(entry)
