"""The model-based test's counts: per rule and per Sink method, how often it ran and succeeded.

The machine in ``suite/test_stateful.py`` records them, the plugin prints them in the lane's
terminal summary and keeps them in the clause report, and a kit test holds the memory lane to the
coverage target (every method called successfully at least ``MIN_SUCCESSES`` times, writes at
least ``MIN_WRITE_SHARE`` of the compared calls). A *success* is a call the model answered
without a typed error that, for a read, found something (not ``None``, not empty): a lookup of a
missing object is compared, but it does not count towards the method being exercised.
"""

from __future__ import annotations

import inspect
from typing import Any

from sinkkit.conformance.contract import SessionStore, Sink

#: Sink and session-store methods that change what is stored
WRITES: frozenset[str] = frozenset({
    "write_audit", "delete_push", "authorise", "reject", "cancel", "create_repo", "update_repo",
    "add_user_can_push", "add_user_can_authorise", "remove_user_can_push",
    "remove_user_can_authorise", "delete_repo", "create_user", "update_user", "delete_user",
    "add_public_key", "remove_public_key", "record_migration", "unrecord_migration", "set",
    "touch", "destroy", "clear", "prune",
})

#: members of the protocols the machine does not call, and why
NOT_DRIVEN: dict[str, str] = {
    "session_store": "a property: the machine calls the store's methods through it",
    "close": "ends the sink; closing is its own clause group (bootstrap), not a step",
}

MIN_SUCCESSES = 20
MIN_WRITE_SHARE = 0.25


def protocol_methods() -> list[str]:
    """Every method of the Sink and SessionStore protocols the machine must drive."""
    names = []
    for proto in (Sink, SessionStore):
        for name, member in vars(proto).items():
            if name.startswith("_") or name in NOT_DRIVEN:
                continue
            if inspect.isfunction(member):
                names.append(name)
    return names


def succeeded(method: str, outcome: tuple[str, Any]) -> bool:
    kind, value = outcome
    if kind != "ok":
        return False
    return method in WRITES or not (value is None or value == [] or value == {})


class Counters:
    """What one run of the machine did: examples, steps, and per rule and per method the
    number of calls and of successes (``[calls, successes]``)."""

    def __init__(self) -> None:
        self.examples = self.steps = self.calls = 0
        self.methods: dict[str, list[int]] = {}
        self.rules: dict[str, list[int]] = {}

    def call(self, method: str, outcome: tuple[str, Any]) -> bool:
        self.calls += 1
        row = self.methods.setdefault(method, [0, 0])
        row[0] += 1
        ok = succeeded(method, outcome)
        row[1] += ok
        return ok

    def rule(self, name: str, ok: bool) -> None:
        row = self.rules.setdefault(name, [0, 0])
        row[0] += 1
        row[1] += ok

    @property
    def writes(self) -> int:
        return sum(calls for method, (calls, _) in self.methods.items() if method in WRITES)

    def as_dict(self) -> dict[str, Any]:
        return {"examples": self.examples, "steps": self.steps, "calls": self.calls,
                "writes": self.writes, "methods": dict(sorted(self.methods.items())),
                "rules": dict(sorted(self.rules.items()))}


def shortfalls(counts: dict[str, Any], minimum: int = MIN_SUCCESSES,
               write_share: float = MIN_WRITE_SHARE) -> list[str]:
    """Where a run's counts (``Counters.as_dict()``) miss the coverage target, one line each."""
    found = []
    methods = counts["methods"]
    for method in protocol_methods():
        ok = methods.get(method, [0, 0])[1]
        if ok < minimum:
            found.append(f"{method}: {ok} successful calls, fewer than {minimum}")
    if counts["calls"] and counts["writes"] / counts["calls"] < write_share:
        found.append(f"writes are {counts['writes']} of {counts['calls']} compared calls, "
                     f"less than {write_share:.0%}")
    return found


def summary_lines(harness: str, counts: dict[str, Any], columns: int = 3) -> list[str]:
    """The terminal summary: totals, then per rule and per method ``calls/successes``."""
    share = counts["writes"] / counts["calls"] if counts["calls"] else 0.0
    lines = [f"sinkkit stateful counts [{harness}]: {counts['examples']} examples, "
             f"{counts['steps']} steps, {counts['calls']} compared calls, "
             f"{counts['writes']} writes ({share:.0%}); calls/successes"]
    for title in ("rules", "methods"):
        cells = [f"{name} {calls}/{ok}" for name, (calls, ok) in counts[title].items()]
        width = max((len(c) for c in cells), default=0) + 2
        lines.append(f"  per {title[:-1]}:")
        for i in range(0, len(cells), columns):
            lines.append("    " + "".join(c.ljust(width) for c in cells[i:i + columns]).rstrip())
    missing = shortfalls(counts)
    if missing:
        lines.append("  below the target: " + "; ".join(missing))
    return lines
