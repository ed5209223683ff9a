"""The upstream harness: the suite against a git-proxy checkout's own sink, through the bridge host.

Environment (the ``upstream`` nox session sets it from ``--checkout`` and ``--kind``):

``SINKKIT_UPSTREAM_CHECKOUT``  the git-proxy checkout (its node dependencies installed:
                               ``python -m sinkkit.upstream.prepare PATH``)
``SINKKIT_UPSTREAM_KIND``      ``fs`` | ``fs-files`` | ``postgres`` | ``mongo``
``SINKKIT_UPSTREAM_RECORD``    the divergence record to hold the checkout to (default: derived
                               from the kind and the checkout's commit, see ``records``); ``none``
                               runs without one, so every divergence shows as a failure
``SINKKIT_UPSTREAM_MONGO_URL`` for ``mongo``: a server URL with a database name

The peer is ``upstream/host/host.mjs`` run by the checkout's own ``tsx``. One peer per test
process, emptied by ``reset`` before every test (see docs/bridge.md, "Isolation"); postgres gets
a database per test process on the server ``provision_postgres`` finds (``SINKKIT_POSTGRES_DSN``,
else an embedded PostgreSQL 16). The recorded divergences become the harness's
``Capabilities.divergences``, which the plugin runs as strict xfails: a clause that stops failing
fails the lane, like a new failure does.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shlex
import threading
from pathlib import Path
from typing import Any

from sinkkit.adapters.bridge import BridgeSink, PeerProcess
from sinkkit.conformance.capabilities import Capabilities
from sinkkit.conformance.errors import ConfigError, SinkError
from sinkkit.conformance.harness import Slot
from sinkkit.fixtures.bridge import BridgeHarness
from sinkkit.upstream import records
from sinkkit.upstream.prepare import is_prepared, tsx_path

CHECKOUT_ENV = "SINKKIT_UPSTREAM_CHECKOUT"
KIND_ENV = "SINKKIT_UPSTREAM_KIND"
MONGO_ENV = "SINKKIT_UPSTREAM_MONGO_URL"
PG_DSN_ENV = "SINKKIT_UPSTREAM_POSTGRES_DSN"
TRANSCRIPTS_ENV = "SINKKIT_UPSTREAM_TRANSCRIPTS"
KINDS = ("fs", "fs-files", "postgres", "mongo")
HOST = Path(__file__).parent / "host" / "host.mjs"


def checkout_and_kind() -> tuple[Path, str]:
    raw = os.environ.get(CHECKOUT_ENV, "").strip()
    if not raw:
        raise ConfigError(f"the upstream harness needs a git-proxy checkout: set {CHECKOUT_ENV} "
                          "(or run `nox -s upstream -- --checkout PATH --kind fs`)")
    kind = os.environ.get(KIND_ENV, "fs").strip()
    if kind not in KINDS:
        raise ConfigError(f"{KIND_ENV} must be one of {', '.join(KINDS)}, not {kind!r}")
    checkout = Path(raw).resolve()
    if not is_prepared(checkout):
        raise ConfigError(f"{checkout} has no node dependencies installed: run "
                          f"`python -m sinkkit.upstream.prepare {checkout}` first")
    return checkout, kind


def node_pg_url(conninfo: str) -> str:
    """A libpq DSN (``key=value`` or URL) as the URL node-postgres parses; a unix-socket host
    travels as the ``host`` query parameter."""
    from urllib.parse import quote, urlencode

    from psycopg.conninfo import conninfo_to_dict

    params = conninfo_to_dict(conninfo)
    host, port = str(params.pop("host", "127.0.0.1")), params.pop("port", None)
    user, password = params.pop("user", ""), params.pop("password", None)
    dbname = params.pop("dbname", "")
    auth = quote(str(user)) + (f":{quote(str(password))}" if password else "")
    query = dict(params)
    if host.startswith("/"):
        query["host"], host = host, ""
    netloc = f"{auth}@{host}" if auth else host
    if port and host:
        netloc += f":{port}"
    elif port:
        query["port"] = port
    tail = f"?{urlencode(query)}" if query else ""
    return f"postgresql://{netloc}/{quote(str(dbname))}{tail}"


class Transcript:
    """The wire calls of one test, kept so a divergence can be recorded with its reproduction."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def add(self, method: str, params: list[Any], outcome: str, value: Any) -> None:
        with self._lock:
            self.calls.append({"call": method, "params": params, outcome: value})

    def save(self, folder: Path, nodeid: str) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{records.transcript_name(nodeid)}.json").write_text(
            json.dumps({"test": nodeid, "calls": self.calls}, default=repr) + "\n")


class RecordingPeer:
    """A peer process that notes each call and what came back in the test's transcript.

    It wraps the peer, not the sink, so the suite still sees a plain BridgeSink (the config
    clauses compare the type of a harness sink with one ``open_sink`` built)."""

    def __init__(self, peer: PeerProcess, transcript: Transcript):
        self._peer = peer
        self._transcript = transcript

    def __getattr__(self, name: str) -> Any:
        return getattr(self._peer, name)

    def call(self, method: str, params: list[Any]) -> Any:
        try:
            result = self._peer.call(method, params)
        except (SinkError, RuntimeError) as exc:
            self._transcript.add(method, params, "raised", f"{type(exc).__name__}: {exc}"[:400])
            raise
        if method != "close":
            self._transcript.add(method, params, "returned", result)
        return result


class UpstreamHarness(BridgeHarness):
    name = "upstream"

    def __init__(self) -> None:
        # a missing or unprepared checkout is reported by preflight, in one line, before any
        # test process starts (raising here would end the run in a traceback)
        self._unusable: str | None = None
        try:
            self.checkout, self.kind = checkout_and_kind()
        except ConfigError as exc:
            self._unusable = str(exc)
            self.checkout, self.kind = Path(), os.environ.get(KIND_ENV, "fs")
        self.name = f"upstream-{self.kind}"
        self.record = records.load_for(self.kind, self.checkout) if self._unusable is None \
            else records.Record()
        #: read by the plugin: only these tests of a diverging clause are expected to fail
        # (a clause that fails only by chance is expected to fail as a whole, non-strictly)
        self.divergent_tests = {cid: frozenset(e["tests"]) for cid, e in
                                self.record.clauses.items()
                                if e.get("tests") and not e.get("nondeterministic")}
        self.unstable_divergences = frozenset(
            cid for cid, e in self.record.clauses.items() if e.get("nondeterministic"))
        self._pg = None
        self._database: str | None = None
        self._transcript = Transcript()
        super().__init__()

    @property
    def command(self) -> str:
        # the plugin asks the peer for its capabilities at collection, before start(): the
        # backend it talks to must exist by then
        self._ensure_backend()
        return shlex.join([str(tsx_path(self.checkout)), str(HOST), "--checkout",
                           str(self.checkout), "--kind", self.kind])

    @property
    def capabilities(self) -> Capabilities:  # type: ignore[override]
        declared = super().capabilities
        divergences = {cid: entry["reason"] for cid, entry in self.record.clauses.items()}
        return dataclasses.replace(declared, divergences={**declared.divergences, **divergences})

    def describe(self) -> str:
        record = f"record {self.record.name}" if self.record.name else "no divergence record"
        return f"{super().describe()}; {record}"

    def preflight(self) -> None:
        """The checkout is usable, Node.js is on PATH, and mongo has a server to talk to; the
        peer itself (and an embedded PostgreSQL) start per test process."""
        import shutil

        from sinkkit.conformance.harness import ProvisioningError

        if self._unusable is not None:
            raise ProvisioningError(self._unusable)
        if shutil.which("node") is None:
            raise ProvisioningError("the upstream lanes need Node.js (>= 18) on PATH")
        if self.kind == "mongo" and not os.environ.get(MONGO_ENV):
            raise ProvisioningError(f"the upstream mongo lane needs a server: set {MONGO_ENV} "
                                    "(e.g. mongodb://127.0.0.1:27017/gitproxy_sinkkit)")

    def _ensure_backend(self) -> None:
        if self.kind == "postgres" and self._pg is None:
            self._start_postgres(os.environ.get("PYTEST_XDIST_WORKER", "main"))
        elif self.kind == "mongo" and not os.environ.get(MONGO_ENV):
            raise ConfigError(f"the upstream mongo lane needs a server: set {MONGO_ENV} "
                              "(e.g. mongodb://127.0.0.1:27017/gitproxy_sinkkit)")

    def _start_postgres(self, worker: str) -> None:
        from sinkkit.fixtures.postgres import provision_postgres

        self._pg = provision_postgres(16, label=f"upstream_{worker}")
        self._database = self._pg.create_database(f"gitproxy_{worker}")
        # the peer inherits this process's environment; each xdist worker is its own process
        os.environ[PG_DSN_ENV] = node_pg_url(self._pg.dsn_for(self._database))

    def stop(self) -> None:
        super().stop()
        if self._pg is not None:
            try:
                # an embedded server is private to this process: its data goes with it
                if self._database and self._pg.source != "embedded":
                    self._pg.drop_database(self._database)
            finally:
                self._pg.stop()
                self._pg = self._database = None

    # -- sinks, with transcripts ------------------------------------------------------------

    def new_sink(self, slot: Slot) -> BridgeSink:
        self._transcript = Transcript()
        peer = self._shared_peer()
        peer.call("reset", [{"name": slot.name, "dir": str(slot.tmp_path)}])
        return BridgeSink(RecordingPeer(peer, self._transcript), owns_peer=False)

    def reopen(self, slot: Slot, sink: Any) -> BridgeSink:
        from sinkkit.adapters.bridge import start_peer

        peer, _ = start_peer(self.command)
        try:
            peer.call("reopen", [{"name": slot.name, "dir": str(slot.tmp_path)}])
        except BaseException:
            peer.shutdown()
            raise
        return BridgeSink(RecordingPeer(peer, self._transcript), owns_peer=True)

    def discard(self, slot: Slot, sink: Any) -> None:
        try:
            super().discard(slot, sink)
        finally:
            folder = os.environ.get(TRANSCRIPTS_ENV)
            current = os.environ.get("PYTEST_CURRENT_TEST", "")
            if folder and current:
                self._transcript.save(Path(folder), current.rsplit(" (", 1)[0])
