"""The one clock: wall-clock milliseconds that never repeat within a process (so "latest"
and "last written" agree even within one millisecond), and the ISO form documents carry."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone

_clock_lock = threading.Lock()
_last_ms = 0


def now_ms() -> int:
    """Wall-clock milliseconds, strictly increasing within this process."""
    global _last_ms
    with _clock_lock:
        _last_ms = max(int(time.time() * 1000), _last_ms + 1)
        return _last_ms


def iso_from_ms(ms: int) -> str:
    dt = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def ms_from_iso(value: str) -> int:
    dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return round(dt.timestamp() * 1000)


def ms_from_iso_or_none(value: object) -> int | None:
    """``ms_from_iso`` for a value read from a store that may hold anything: None unless it is
    an ISO date string."""
    if isinstance(value, str):
        try:
            return ms_from_iso(value)
        except ValueError:
            return None
    return None
