"""What an adapter declares about itself, so the suite can say "not applicable" instead of skipping.

``CAPABILITY_TABLE`` is the one list of capabilities. It builds the ``Capabilities`` dataclass a
harness declares, the capability section of ``docs/contract.md``, what a bridged peer may declare
at the handshake, and the text of every not-applicable outcome (``NotApplicable``), the way
SQLAlchemy's ``SuiteRequirements`` with ``exclusions`` is the one place a skip reason is built.

A clause names the capabilities its tests need (``declare(..., requires=(...))``); a harness
whose capabilities lack one shows that clause as *not applicable*, with the reason. A test (or a
harness hook) that finds at run time that it does not apply raises ``NotApplicable``. Known
divergences are listed per adapter and run as strict xfails, so fixing one is noticed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, make_dataclass
from types import MappingProxyType
from typing import Any


@dataclass(frozen=True)
class Capability:
    name: str
    #: what a harness that does not mention the capability is taken to have
    default: bool
    #: one sentence: what having it means (shown in the docs and in not-applicable reasons)
    doc: str


CAPABILITY_TABLE: tuple[Capability, ...] = (
    Capability("persistent", True,
               "Data and sessions survive close() and reopening the same storage."),
    Capability("multi_process", True, "Several processes may open the same storage at once."),
    Capability("fault_injection", False,
               "The harness can stop and restart the backend under a live sink."),
    Capability("kill_safe", False,
               "A writer process opened from open_config can be killed with SIGKILL and the "
               "storage reopened afterwards."),
    Capability("session_store", True,
               "The sink has a UI session store (session_store, express-session semantics)."),
)

CAPABILITIES: dict[str, Capability] = {c.name: c for c in CAPABILITY_TABLE}
#: name -> its sentence (kept for callers that only need the text)
CAPABILITY_DOCS: dict[str, str] = {c.name: c.doc for c in CAPABILITY_TABLE}


class UnknownCapability(KeyError):
    """A capability name that is not in ``CAPABILITY_TABLE`` (a typo in a declaration)."""

    def __init__(self, name: str):
        super().__init__(f"unknown capability {name!r}; known: {', '.join(CAPABILITIES)}")


def check_names(names: Iterable[str]) -> tuple[str, ...]:
    names = tuple(names)
    for name in names:
        if name not in CAPABILITIES:
            raise UnknownCapability(name)
    return names


class NotApplicable(Exception):
    """This test does not apply to the harness under test: reported *not applicable*.

    ``capability`` names the missing capability from ``CAPABILITY_TABLE``, or is None when the
    reason is something else about the lane (its sink entry has no connection string, ...).
    """

    def __init__(self, capability: str | None, reason: str):
        if capability is not None:
            check_names([capability])
        self.capability = capability
        self.reason = reason
        super().__init__(reason)

    @classmethod
    def missing(cls, harness: str, names: Iterable[str]) -> NotApplicable:
        """The one text for "this harness lacks these capabilities"."""
        names = check_names(names)
        why = "; ".join(f"{n}: {CAPABILITIES[n].doc}" for n in names)
        return cls(names[0] if names else None, f"{harness} declares no {why}")


def _post_init(self: Any) -> None:
    object.__setattr__(self, "divergences", MappingProxyType(dict(self.divergences)))


def _has(self: Any, name: str) -> bool:
    check_names([name])
    return bool(getattr(self, name))


def _missing(self: Any, names: Iterable[str]) -> list[str]:
    """Which of ``names`` this declaration lacks."""
    return [n for n in check_names(names) if not getattr(self, n)]


def _as_dict(self: Any) -> dict[str, Any]:
    out = {f.name: getattr(self, f.name) for f in fields(self)}
    out["divergences"] = dict(self.divergences)
    return out


Capabilities = make_dataclass(
    "Capabilities",
    [(c.name, bool, field(default=c.default, metadata={"doc": c.doc}))
     for c in CAPABILITY_TABLE]
    # clause id -> why this adapter knowingly breaks it (run as strict xfail)
    + [("divergences", Mapping[str, str], field(default_factory=dict))],
    frozen=True,
    namespace={"__post_init__": _post_init, "has": _has, "missing": _missing,
               "as_dict": _as_dict},
)
Capabilities.__module__ = __name__  # make_dataclass's own ``module=`` needs Python 3.12
Capabilities.__doc__ = ("What a harness declares: one boolean per row of CAPABILITY_TABLE "
                        "(keyword arguments, defaults from the table) and its known divergences.")


class BadDeclaration(ValueError):
    """A capability declaration (a bridged peer's handshake) that is not well formed."""


def from_declaration(answer: Any) -> Any:
    """``Capabilities`` from a declaration object (a bridged peer's ``capabilities`` answer).

    Every row of the table may be declared, as a boolean; an absent one takes its default.
    Keys outside the table are ignored, so a newer peer still talks to an older kit.
    """
    if not isinstance(answer, Mapping):
        raise BadDeclaration(f"capabilities answered {answer!r}, expected an object")
    declared: dict[str, Any] = {}
    for name in CAPABILITIES:
        if name in answer:
            if not isinstance(answer[name], bool):
                raise BadDeclaration(f"capabilities.{name} must be true or false")
            declared[name] = answer[name]
    divergences = answer.get("divergences", {})
    if not isinstance(divergences, Mapping) or not all(
            isinstance(v, str) for v in divergences.values()):
        raise BadDeclaration("capabilities.divergences must be an object of clause id -> reason")
    return Capabilities(**declared, divergences=divergences)
