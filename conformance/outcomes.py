"""The outcomes a clause can have, and the two exceptions that produce the non-obvious ones.

- ``NotApplicable`` (from ``capabilities``): the test does not apply to this harness; the
  plugin reports it *not applicable* with its reason (capability gating raises it too).
- ``MethodNotImplemented``: the adapter says it does not implement a Sink method (a bridged
  peer answering JSON-RPC -32601). A test that fails after one was raised is reported *not
  implemented*, counted apart from fail: the adapter is incomplete, not wrong.

Every report (terminal table, JSON, parity) uses these names.
"""

from __future__ import annotations

import threading

from sinkkit.conformance.capabilities import NotApplicable

PASS = "pass"  # noqa: S105 - an outcome name, not a password
FAIL = "fail"
SKIPPED = "skipped"  # a plain pytest skip: the kit never asks for one, so it is shown
NOT_IMPLEMENTED = "not implemented"
KNOWN_DIVERGENCE = "known divergence"
NOT_APPLICABLE = "not applicable"
NOT_RUN = "not run"

#: worst first: a clause takes the worst outcome among its tests
SEVERITY = (FAIL, SKIPPED, NOT_IMPLEMENTED, KNOWN_DIVERGENCE, NOT_APPLICABLE, PASS, NOT_RUN)


class MethodNotImplemented(Exception):  # an outcome, not a contract error
    """The adapter under test does not implement ``method`` (its own name for it).

    Deliberately not a SinkError: no clause accepts it as an answer. Each one raised is also
    remembered for the running test (``raised_during_test``), because a test may catch it among
    other exceptions and fail with its own message; the plugin still reports the clause as not
    implemented.
    """

    def __init__(self, method: str, detail: str = ""):
        self.method = method
        super().__init__(f"{method} is not implemented" + (f": {detail}" if detail else ""))
        with _lock:
            _raised.append(method)


_lock = threading.Lock()
_raised: list[str] = []


def start_test() -> None:
    """Forget the methods found missing by the previous test (called before each test)."""
    with _lock:
        _raised.clear()


def raised_during_test() -> list[str]:
    """Methods found not implemented since ``start_test``, first seen first, each once."""
    with _lock:
        return list(dict.fromkeys(_raised))


__all__ = [
    "FAIL", "KNOWN_DIVERGENCE", "NOT_APPLICABLE", "NOT_IMPLEMENTED", "NOT_RUN", "PASS",
    "SEVERITY", "SKIPPED", "MethodNotImplemented", "NotApplicable", "raised_during_test",
    "start_test",
]
