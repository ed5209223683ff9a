"""The one thing a backend author implements: a harness that hands the suite fresh, empty sinks.

The plugin builds the harness once per test process, calls ``start`` before the first test that
needs it, ``new_sink`` for every test (each test gets isolated, empty storage), and ``stop`` at
the end. ``reopen`` returns a second sink over the same storage, for persistence clauses.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sinkkit.conformance.capabilities import Capabilities

if TYPE_CHECKING:
    from sinkkit.conformance.contract import Sink


@dataclass
class Slot:
    """Where one test's storage lives: a private temp dir and a name unique across xdist."""

    tmp_path: Path
    name: str
    worker: str


class ProvisioningError(RuntimeError):
    """The backend cannot be provisioned here. The message is one line: what was tried, and the
    variable to set or the extra to install."""


class Harness:
    #: short lane name shown in reports ("fs", "postgres", ...)
    name: str = "unnamed"
    capabilities: Capabilities = Capabilities()

    def preflight(self) -> None:
        """Check, once per run and before any test process starts, that ``start`` can succeed.

        Raise ``ProvisioningError`` when it cannot (no server at the configured address, an
        extra not installed); the plugin then stops the run with that one line instead of
        failing every test. Keep it cheap: no server is started here.
        """

    def start(self, workdir: Path, worker: str) -> None:
        """Provision the backend once per test process (server, database, ...)."""

    def describe(self) -> str:
        """One line for the report header: which backend, where, which version."""
        return self.name

    def new_sink(self, slot: Slot) -> Sink:
        raise NotImplementedError

    def reopen(self, slot: Slot, sink: Sink) -> Sink:
        """A new sink over the storage ``sink`` uses (only when capabilities.persistent)."""
        raise NotImplementedError

    def open_config(self, slot: Slot) -> dict[str, Any]:
        """A git-proxy ``sink`` entry that ``open_sink`` turns into a sink over this slot.

        Required: the ``config.*`` clauses open the backend the way git-proxy does, from this
        entry, so a harness without it fails them with the message below.
        """
        raise NotImplementedError(
            f"{type(self).__name__} does not implement open_config(slot), which the config.* "
            "clauses need: return the git-proxy sink entry (type, params) that open_sink() "
            "turns into a sink over this slot (docs/guide.md, \"Implement a harness\")")

    def discard(self, slot: Slot, sink: Sink) -> None:
        sink.close()

    def stop(self) -> None:
        """Release what ``start`` provisioned."""

    # -- optional hooks for the fault clauses (NotImplementedError means "not applicable") ------

    def stop_backend(self) -> None:
        """Stop the backend under live sinks (only when capabilities.fault_injection)."""
        raise NotImplementedError

    def start_backend(self) -> None:
        """Bring the backend stopped by ``stop_backend`` back, with its data."""
        raise NotImplementedError

    @contextlib.contextmanager
    def interrupt(self, slot: Slot) -> Iterator[None]:
        """The backend is down for the duration of the ``with`` block, then back."""
        self.stop_backend()
        try:
            yield
        finally:
            self.start_backend()

    def unreachable_config(self, slot: Slot, host: str, port: int) -> dict[str, Any]:
        """A ``sink`` entry like ``open_config`` but pointing at ``host:port`` (a server that
        never answers), with a short connect timeout. Server-backed harnesses only."""
        raise NotImplementedError
