"""What an adapter declares about itself, so the suite can say "not applicable" instead of skipping.

A test names the capability it needs with ``@requires("persistent")``; a harness whose
capabilities lack it shows that clause as *not applicable* in the report, with the reason. Known
divergences are listed per adapter and run as strict xfails, so fixing one is noticed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from types import MappingProxyType


@dataclass(frozen=True)
class Capabilities:
    #: data and sessions survive ``close()`` and a new sink opened over the same storage
    persistent: bool = True
    #: several processes may open the same storage at once (bootstrap races, shared sessions)
    multi_process: bool = True
    #: the backend can be stopped and restarted under the sink (fault clauses)
    fault_injection: bool = False
    #: a writer process can be killed with SIGKILL and the storage reopened (fault clauses)
    kill_safe: bool = False
    #: clause id -> why this adapter knowingly breaks it (run as strict xfail)
    divergences: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "divergences", MappingProxyType(dict(self.divergences)))

    def has(self, name: str) -> bool:
        if name not in CAPABILITY_DOCS:
            raise KeyError(f"unknown capability {name!r}; known: {sorted(CAPABILITY_DOCS)}")
        return bool(getattr(self, name))

    def as_dict(self) -> dict:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["divergences"] = dict(self.divergences)
        return out


CAPABILITY_DOCS: dict[str, str] = {
    "persistent": "Data and sessions survive close() and reopening the same storage.",
    "multi_process": "Several processes may open the same storage at once.",
    "fault_injection": "The harness can stop and restart the backend under a live sink.",
    "kill_safe": "A writer process opened from open_config can be killed with SIGKILL and the "
                 "storage reopened afterwards.",
}
