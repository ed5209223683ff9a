"""The one thing a backend author implements: a harness that hands the suite fresh, empty sinks.

The plugin builds the harness once per test process, calls ``start`` before the first test that
needs it, ``new_sink`` for every test (each test gets isolated, empty storage), and ``stop`` at
the end. ``reopen`` returns a second sink over the same storage, for persistence clauses.
``open_sink`` opens a git-proxy ``sink`` configuration the way git-proxy would; the suite's
configuration, fault and hostile clauses open sinks only through it, so the contract package
imports no adapter.
"""

from __future__ import annotations

import contextlib
import inspect
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sinkkit.conformance.capabilities import Capabilities, NotApplicable
from sinkkit.core import config as sink_config

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
    #: the sink entry's ``options.sessionTtl`` sets the adapter's session lifetime (seconds);
    #: False for an adapter that configures its session store itself (a bridged peer), whose
    #: default-ttl unit then goes unchecked, with a note, instead of failing
    session_ttl_from_entry: bool = True

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

    def open_sink(self, config: Any) -> Sink:
        """Open the first enabled entry of a git-proxy ``sink`` list (or ``{"sink": [...]}``).

        The default resolves the entry's ``type`` through the adapter entry-point group
        (``sinkkit.core.config.ADAPTER_GROUP``), as git-proxy's configuration does; override
        it for an adapter that is not registered there. (Processes the suite starts open their
        sinks through the entry points: they cannot be handed the harness.)"""
        return sink_config.open_sink(config)

    def adapter_sources(self, sink: Sink) -> list[Path]:
        """The adapter's own source files, which the static SQL check reads.

        Default: the whole package when the sink's class is the package's own (defined in its
        ``__init__`` or exported by it), else only the module that defines the class (a module
        that sits beside other adapters in a shared package)."""
        module = inspect.getmodule(type(sink))
        path = Path(inspect.getfile(module))
        if path.name == "__init__.py":
            return sorted(path.parent.rglob("*.py"))
        package = sys.modules.get(module.__package__ or "")
        if package is not None and getattr(package, type(sink).__name__, None) is type(sink):
            return sorted(path.parent.rglob("*.py"))
        return [path]

    def as_adapter_answers(self, sink: Sink) -> Sink:
        """``sink`` as the adapter itself answers calls, past any client the kit puts in front
        of it (a bridge client refuses calls on a closed sink before they reach the peer, so a
        clause about a closed sink would pass whatever the peer does). Default: ``sink``."""
        return sink

    def discard(self, slot: Slot, sink: Sink) -> None:
        sink.close()

    def stop(self) -> None:
        """Release what ``start`` provisioned."""

    # -- optional hooks for the fault clauses ---------------------------------------------------

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

    # -- optional hooks for the failover clauses (only when capabilities.failover) --------------
    # The harness runs a primary and a streaming standby that ``open_config`` reaches through one
    # multi-host connection string leading to whichever node takes writes.

    def set_synchronous(self, on: bool) -> None:
        """Make the primary acknowledge a commit only once the standby has it, or not; returns
        once the standby streams in that mode."""
        raise NotImplementedError

    def kill_primary(self) -> None:
        """SIGKILL the primary (its whole process group) under live sinks; the standby stays."""
        raise NotImplementedError

    def promote_standby(self) -> None:
        """Promote the standby; returns once it takes writes. The connection string is
        unchanged: it now leads there."""
        raise NotImplementedError

    def fence_primary(self) -> None:
        """Keep the primary up and reachable but make it refuse writes (a demoted primary);
        connections already open to it stay open."""
        raise NotImplementedError

    def pushes_on(self, role: str, slot: Slot) -> set[str]:
        """The ids of the pushes ``slot``'s storage holds on one node only, ``"primary"`` or
        ``"standby"`` (read there directly, past the connection string)."""
        raise NotImplementedError

    def restore_pair(self) -> None:
        """After a failover: a standby of the new primary again (synchronous), so the next
        test finds a pair."""
        raise NotImplementedError

    def unreachable_config(self, slot: Slot, host: str, port: int) -> dict[str, Any]:
        """A ``sink`` entry like ``open_config`` but pointing at ``host:port`` (a server that
        never answers), with a short connect timeout. Server-backed harnesses only."""
        raise NotApplicable(None, f"harness {self.name} has no server to point elsewhere "
                                  "(no unreachable_config)")
