"""The memory adapter: the reference model (``sinkkit.conformance.model``) as a Sink.

Nothing survives ``close()``; every operation is atomic under the model's one lock.
"""

from __future__ import annotations

from typing import Any

from sinkkit.conformance.model import DocumentSink


def open_memory_sink(entry: dict[str, Any] | None = None) -> DocumentSink:
    """Entry point for ``type: memory`` in a git-proxy ``sink`` list (``options.sessionTtl``)."""
    options = (entry or {}).get("options") or {}
    return DocumentSink(session_ttl=int(options.get("sessionTtl", 86400)))
