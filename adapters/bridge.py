"""The bridge adapter: a Sink served by another process over JSON-RPC 2.0 on stdin/stdout.

A backend written in any language is tested by the suite through this adapter: the kit starts the
author's command, writes one JSON-RPC request per line to its stdin and reads one response per
line from its stdout (stderr is passed through, and its last lines kept for error messages).
Every Sink method maps to git-proxy's name for it (``GIT_PROXY_NAMES``) with the arguments as a
positional array; errors come back with ``error.data.code`` set to a ``code`` from
``sinkkit.conformance.errors`` and are raised here as that typed error. The protocol is
specified in ``docs/bridge.md`` with a JSON Schema per message under ``docs/schemas/bridge/``.

A peer that stops answering (per-call timeout), stops reading its stdin, exits, writes a line
longer than the cap, or writes anything but JSON-RPC on stdout makes the pending call, and every
later one, raise ``Unavailable`` naming the method, the command, the exit code and the peer's
last stderr lines: never a hang. The peer runs in a process group of its own, and a fault or a
shutdown ends the whole group, so a peer started through a wrapper (``sh -c``, ``npx``) is ended
with it.
"""

from __future__ import annotations

import collections
import contextlib
import inspect
import itertools
import json
import math
import os
import queue
import shlex
import signal
import subprocess
import sys
import threading
import weakref
from collections.abc import Callable, Mapping
from typing import Any

from sinkkit.conformance.capabilities import (
    CAPABILITY_TABLE,
    BadDeclaration,
    Capabilities,
    from_declaration,
)
from sinkkit.conformance.contract import GIT_PROXY_NAMES, Sink
from sinkkit.conformance.errors import (
    ERRORS_BY_CODE,
    ConfigError,
    InvalidDocument,
    SinkError,
    Unavailable,
)
from sinkkit.conformance.outcomes import MethodNotImplemented

from sinkkit import SUITE_VERSION

Document = dict[str, Any]

#: seconds a call may take before the peer is declared hung (env ``SINKKIT_BRIDGE_TIMEOUT``)
DEFAULT_TIMEOUT = 10.0
#: seconds the peer gets to exit after its stdin closes, before it is killed
EXIT_GRACE = 3.0
#: attributes of the typed errors that travel in ``error.data`` (besides ``code``)
ERROR_FIELDS = ("key", "field", "value", "owner", "username", "what", "problem")
#: JSON-RPC error code a peer uses for a typed Sink error (``data.code`` says which)
SINK_ERROR_RPC_CODE = -32000
#: JSON-RPC "method not found": the peer does not implement the method (its own outcome)
METHOD_NOT_FOUND_RPC_CODE = -32601
STDERR_TAIL = 20
#: bytes one response line may hold before the peer is declared broken (env
#: ``SINKKIT_BRIDGE_MAX_LINE``): reading is bounded in memory as well as in time
DEFAULT_MAX_LINE = 32 * 1024 * 1024


class BridgePeerError(RuntimeError):
    """The peer answered with an error that is not one of the kit's typed errors.

    Deliberately not a SinkError: an untyped failure is a bug in the peer (the bridge's
    equivalent of a leaked driver exception), so it fails whatever clause received it.
    """


def default_timeout() -> float:
    raw = os.environ.get("SINKKIT_BRIDGE_TIMEOUT", "")
    try:
        value = float(raw) if raw else DEFAULT_TIMEOUT
    except ValueError:
        raise ConfigError(f"SINKKIT_BRIDGE_TIMEOUT must be a number of seconds, not {raw!r}") \
            from None
    if not value > 0:
        raise ConfigError("SINKKIT_BRIDGE_TIMEOUT must be positive")
    return value


def default_max_line() -> int:
    raw = os.environ.get("SINKKIT_BRIDGE_MAX_LINE", "")
    try:
        value = int(raw) if raw else DEFAULT_MAX_LINE
    except ValueError:
        raise ConfigError(f"SINKKIT_BRIDGE_MAX_LINE must be a number of bytes, not {raw!r}") \
            from None
    if value < 1024:
        raise ConfigError("SINKKIT_BRIDGE_MAX_LINE must be at least 1024 bytes")
    return value


def split_command(command: str | list[str]) -> list[str]:
    argv = shlex.split(command) if isinstance(command, str) else [str(a) for a in command]
    if not argv:
        raise ConfigError("bridge: the peer command is empty")
    return argv


# --- the wire ----------------------------------------------------------------------------------

def to_wire(value: Any, where: str) -> Any:
    """``value`` as JSON data, or InvalidDocument: what cannot travel is refused, not coerced.

    (``json.dumps`` would silently turn ``{1: x}`` into ``{"1": x}`` and tuples into lists; the
    memory adapter refuses non-string keys, so the bridge must not launder them.)
    """
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidDocument(where, f"{value} is not a finite number")
        return value
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidDocument(where, f"key {key!r} is not a string")
            out[key] = to_wire(item, where)
        return out
    if isinstance(value, (list, tuple)):
        return [to_wire(item, where) for item in value]
    raise InvalidDocument(where, f"{type(value).__name__} is not JSON data")


def encode(message: Document) -> bytes:
    # ASCII-only output keeps lone surrogates as \\udxxx escapes the peer can see and refuse
    return json.dumps(message, ensure_ascii=True, allow_nan=False, separators=(",", ":")).encode(
        "ascii") + b"\n"


def decode_error(method: str, error: Any) -> Exception:
    """The exception a JSON-RPC error object stands for (typed when ``data.code`` is known)."""
    if not isinstance(error, Mapping):
        return BridgePeerError(f"{method}: peer sent a malformed error object: {error!r}"[:500])
    data = error.get("data") if isinstance(error.get("data"), Mapping) else {}
    message = str(error.get("message", ""))
    if error.get("code") == METHOD_NOT_FOUND_RPC_CODE:
        return MethodNotImplemented(method, f"the peer answered JSON-RPC -32601 ({message})"[:500])
    cls = ERRORS_BY_CODE.get(data.get("code")) if isinstance(data.get("code"), str) else None
    if cls is None:
        return BridgePeerError(
            f"{method}: peer answered with an untyped error "
            f"(JSON-RPC {error.get('code')!r}, data.code {data.get('code')!r}): {message}"[:2000])
    exc = cls.__new__(cls)
    Exception.__init__(exc, message)
    for name in ERROR_FIELDS:
        if name in data:
            setattr(exc, name, data[name])
    return exc


class _Pending:
    __slots__ = ("done", "error", "method", "result")

    def __init__(self, method: str):
        self.method = method
        self.done = threading.Event()
        self.result: Any = None
        self.error: BaseException | None = None


def _kill(proc: subprocess.Popen) -> None:
    """End the peer's whole process group (a wrapper's children too), then the peer itself.

    No stream is closed here: each belongs to the thread using it, which closes it when done
    (closing a stream another thread is blocked on waits for that call to return, which, with a
    grandchild still holding the pipe, may be never; and a closed descriptor's number may be
    reused under a write still in flight).
    """
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)  # the group's id is the peer's pid (new session)
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()


class PeerProcess:
    """One child process speaking the bridge protocol; thread-safe, calls may overlap.

    A reader thread matches responses to requests by id; a second thread passes stderr through
    to ours and keeps its tail. Any fault (timeout, exit, bad output) kills the child and fails
    every pending and later call with ``Unavailable``.
    """

    def __init__(self, command: str | list[str], *, timeout: float | None = None,
                 stderr_to: Any = None, env: Mapping[str, str] | None = None,
                 max_line: int | None = None):
        self.argv = split_command(command)
        self.label = shlex.join(self.argv)
        self.timeout = default_timeout() if timeout is None else float(timeout)
        self.max_line = default_max_line() if max_line is None else int(max_line)
        self._stderr_to = stderr_to
        self._ids = itertools.count(1)
        self._pending: dict[int, _Pending] = {}
        self._lock = threading.Lock()
        #: request lines for the writer thread: a peer that stops reading blocks that thread,
        #: never a caller, which waits for its answer only until its deadline
        self._outbox: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._dead: str | None = None
        self._tail: collections.deque[str] = collections.deque(maxlen=STDERR_TAIL)
        try:
            self.proc = subprocess.Popen(
                self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                env=dict(env) if env is not None else None,
                start_new_session=True)  # a process group to end as one
        except OSError as exc:
            raise Unavailable(f"bridge: cannot start peer `{self.label}`: {exc}") from None
        self._finalizer = weakref.finalize(self, _kill, self.proc)
        self._stderr_thread = self._thread(self._pump_stderr, "stderr")
        self._reader_thread = self._thread(self._read_responses, "reader")
        self._writer_thread = self._thread(self._write_requests, "writer")

    def _thread(self, target: Callable[[], None], what: str) -> threading.Thread:
        thread = threading.Thread(target=target, name=f"bridge-{what}-{self.proc.pid}",
                                  daemon=True)
        thread.start()
        return thread

    @property
    def alive(self) -> bool:
        return self._dead is None

    def __repr__(self) -> str:
        return f"<PeerProcess pid={self.proc.pid} `{self.label}` {self._dead or 'running'}>"

    # -- calls ---------------------------------------------------------------------------------

    def call(self, method: str, params: list[Any]) -> Any:
        pending = _Pending(method)
        with self._lock:
            if self._dead is not None:
                raise Unavailable(f"bridge: cannot call {method}: {self._dead}")
            request_id = next(self._ids)
            self._pending[request_id] = pending
        try:
            line = encode({"jsonrpc": "2.0", "id": request_id, "method": method,
                           "params": params})
        except BaseException:
            with self._lock:
                self._pending.pop(request_id, None)
            raise
        self._outbox.put(line)
        if not pending.done.wait(self.timeout):
            self._fault(f"did not answer {method} within {self.timeout:g}s (killed)")
        if pending.error is not None:
            raise pending.error
        return pending.result

    # -- background threads --------------------------------------------------------------------

    def _write_requests(self) -> None:
        """Send queued lines until told to stop, then close stdin (the peer's cue to exit)."""
        fd = self.proc.stdin.fileno()
        try:
            while (line := self._outbox.get()) is not None:
                view = memoryview(line)
                try:
                    while view:
                        view = view[os.write(fd, view):]
                except OSError:
                    if self._dead is None:
                        self._fault("closed its stdin", wait_exit=True)
                    return
        finally:
            with contextlib.suppress(OSError, ValueError):
                self.proc.stdin.close()

    def _read_responses(self) -> None:
        stdout = self.proc.stdout
        try:
            while True:
                try:
                    raw = stdout.readline(self.max_line + 1)
                except (OSError, ValueError):
                    raw = b""
                if not raw:
                    self._fault("exited", wait_exit=True)
                    return
                if len(raw) > self.max_line:
                    self._fault(f"broke the protocol: wrote a response line longer than "
                                f"{self.max_line} bytes (the cap, SINKKIT_BRIDGE_MAX_LINE)")
                    return
                problem = self._deliver(raw)
                if problem:
                    self._fault(f"broke the protocol: {problem}")
                    return
        finally:
            with contextlib.suppress(OSError, ValueError):
                stdout.close()

    def _deliver(self, raw: bytes) -> str | None:
        """Hand one response line to its caller; returns what was wrong with it, if anything."""
        shown = raw[:200].decode("utf-8", "replace").rstrip()
        try:
            message = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return (f"wrote non-JSON to stdout: {shown!r} (stdout carries only JSON-RPC "
                    "responses, one per line; write logs to stderr)")
        if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
            return f"wrote a line that is not a JSON-RPC 2.0 response: {shown!r}"
        with self._lock:
            pending = self._pending.pop(message.get("id"), None) \
                if isinstance(message.get("id"), int) else None
        if pending is None:
            return f"answered an id no call is waiting for: {shown!r}"
        if "error" in message:
            pending.error = decode_error(pending.method, message["error"])
        elif "result" in message:
            pending.result = message["result"]
        else:
            pending.error = Unavailable(
                f"bridge: peer `{self.label}` answered {pending.method} with neither result "
                "nor error")
        pending.done.set()
        return None

    def _pump_stderr(self) -> None:
        try:
            self._pass_stderr()
        finally:
            with contextlib.suppress(OSError, ValueError):
                self.proc.stderr.close()

    def _pass_stderr(self) -> None:
        while True:
            try:
                raw = self.proc.stderr.readline(64 * 1024)  # a long line arrives in pieces
            except (OSError, ValueError):
                return
            if not raw:
                return
            text = raw.decode("utf-8", "replace").rstrip("\n")
            self._tail.append(text)
            target = self._stderr_to if self._stderr_to is not None else sys.stderr
            try:
                target.write(f"[bridge peer {self.proc.pid}] {text}\n")
                target.flush()
            except (OSError, ValueError):
                pass

    # -- faults and shutdown -------------------------------------------------------------------

    def _fault(self, what: str, *, wait_exit: bool = False) -> None:
        """Declare the peer dead (once), kill it, and fail every pending call."""
        with self._lock:
            if self._dead is None:
                self._dead = "pending"
                first = True
            else:
                first = False
        if first:
            if wait_exit:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.proc.wait(EXIT_GRACE)
            _kill(self.proc)
            self.proc.wait()
            self._outbox.put(None)
            self._stderr_thread.join(1.0)
            with self._lock:
                self._dead = self._describe_death(what)
                pending, self._pending = list(self._pending.values()), {}
            for call in pending:
                call.error = Unavailable(f"bridge: {call.method} failed: {self._dead}")
                call.done.set()
        else:
            # a second fault (e.g. the timed-out caller) waits for the first to finish
            while self._dead == "pending":
                threading.Event().wait(0.01)

    def _describe_death(self, what: str) -> str:
        code = self.proc.returncode
        tail = " | ".join(line for line in self._tail if line.strip())[-1500:]
        return (f"peer {what}, exit code {code}; last stderr: {tail or '(none)'}; "
                f"command `{self.label}`")

    def shutdown(self) -> None:
        """Close the peer's stdin (its cue to exit), then kill it if it lingers."""
        with self._lock:
            if self._dead is not None:
                return
            self._dead = f"peer `{self.label}` was shut down by the kit"
            pending, self._pending = list(self._pending.values()), {}
        for call in pending:
            call.error = Unavailable(f"bridge: {call.method} failed: {self._dead}")
            call.done.set()
        self._outbox.put(None)  # the writer sends what is queued, then closes stdin
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(EXIT_GRACE)
        _kill(self.proc)
        self.proc.wait()


# --- the Sink -----------------------------------------------------------------------------------

def slot_params(slot: Any) -> Document | None:
    """What ``reset``/``reopen`` tell a peer about a test's storage: ``{name, dir}``."""
    if slot is None:
        return None
    if isinstance(slot, Mapping):
        return {"name": str(slot["name"]), "dir": str(slot["dir"])}
    return {"name": slot.name, "dir": str(slot.tmp_path)}


def capabilities_from(answer: Any) -> Capabilities:
    """The peer's handshake as ``Capabilities``: every row of the kit's capability table may be
    declared (``CAPABILITY_TABLE``), plus ``divergences``; see ``check_interface``."""
    try:
        check_interface(answer)
        return from_declaration(answer)
    except BadDeclaration as exc:
        raise Unavailable(f"bridge: {exc}") from None


def check_interface(answer: Any) -> None:
    """A peer may name the interface (suite) version it implements, ``interface: "1.0"``; one
    of another major version is refused at the handshake rather than failing clause by clause."""
    if not isinstance(answer, Mapping) or "interface" not in answer:
        return
    declared = answer["interface"]
    if not isinstance(declared, str) or not declared.split(".")[0].isdigit():
        raise BadDeclaration(f"capabilities.interface must be a version like "
                             f"{SUITE_VERSION!r}, not {declared!r}")
    if declared.split(".")[0] != SUITE_VERSION.split(".")[0]:
        raise BadDeclaration(f"the peer implements interface {declared}; this kit tests "
                             f"interface {SUITE_VERSION}")


class BridgeSessionStore:
    """The session store of a bridged sink: each call is a ``session.*`` request."""

    def __init__(self, sink: BridgeSink):
        self._sink = sink
        self._default_ttl: int | None = None

    @property
    def default_ttl(self) -> int:
        if self._default_ttl is None:
            self._default_ttl = self._sink._call("session.defaultTtl", [])
        return self._default_ttl

    def get(self, sid: str) -> Document | None:
        return self._sink._call("session.get", [sid])

    def set(self, sid: str, sess: Document) -> None:
        self._sink._call("session.set", [sid, sess])

    def destroy(self, sid: str) -> None:
        self._sink._call("session.destroy", [sid])

    def touch(self, sid: str, sess: Document) -> None:
        self._sink._call("session.touch", [sid, sess])

    def all(self) -> dict[str, Document]:
        return self._sink._call("session.all", [])

    def length(self) -> int:
        return self._sink._call("session.length", [])

    def clear(self) -> None:
        self._sink._call("session.clear", [])

    def prune(self) -> int:
        return self._sink._call("session.prune", [])


class BridgeSink:
    """A Sink whose every call is answered by a peer process.

    ``owns_peer``: closing the sink also shuts the process down (a sink from ``open_sink``);
    otherwise the process is shared (the harness keeps one per test worker and ``reset`` s it).
    """

    def __init__(self, peer: PeerProcess, *, owns_peer: bool = True):
        self._peer = peer
        self._owns_peer = owns_peer
        self._closed = False
        self._sessions = BridgeSessionStore(self)

    def _call(self, method: str, params: list[Any]) -> Any:
        if self._closed:
            raise Unavailable(f"bridge sink is closed (calling {method})")
        return self._peer.call(method, to_wire(params, f"{method} arguments"))

    @property
    def peer(self) -> PeerProcess:
        return self._peer

    @property
    def session_store(self) -> BridgeSessionStore:
        if self._closed:
            raise Unavailable("bridge sink is closed")
        return self._sessions

    def close(self) -> None:
        if self._closed:
            return
        try:
            if self._peer.alive:
                self._peer.call("close", [])
        finally:
            self._closed = True
            if self._owns_peer:
                self._peer.shutdown()

    def __repr__(self) -> str:
        return f"<BridgeSink {'closed' if self._closed else 'open'} {self._peer!r}>"


def _remote_method(py_name: str) -> Callable[..., Any]:
    """A BridgeSink method sending every parameter (defaults filled in) as a positional array."""
    wire = GIT_PROXY_NAMES[py_name]
    signature = inspect.signature(getattr(Sink, py_name))

    def method(self: BridgeSink, *args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        return self._call(wire, list(bound.args[1:]))

    method.__name__ = py_name
    method.__qualname__ = f"BridgeSink.{py_name}"
    method.__doc__ = f"``{wire}`` on the peer."
    return method


#: Sink methods that are not plain remote calls
_LOCAL = {"session_store", "close"}
for _name in GIT_PROXY_NAMES:
    if _name not in _LOCAL:
        setattr(BridgeSink, _name, _remote_method(_name))


# --- opening ------------------------------------------------------------------------------------

def start_peer(command: str | list[str], timeout: float | None = None) -> tuple[PeerProcess,
                                                                                  Capabilities]:
    """Start a peer and shake hands (``capabilities``); a peer that fails it is shut down."""
    peer = PeerProcess(command, timeout=timeout)
    try:
        caps = capabilities_from(peer.call("capabilities", []))
    except BaseException:
        peer.shutdown()
        raise
    return peer, caps


def open_bridge_sink(entry: Mapping[str, Any]) -> BridgeSink:
    """Entry point for ``type: bridge``: ``options: {command, timeout?, slot?: {name, dir}}``.

    With a ``slot``, the peer is told which storage to use: ``reopen`` for a persistent peer
    (keeps what is there), ``reset`` otherwise. The sink owns its process.
    """
    options = entry.get("options") or {}
    command = options.get("command") or os.environ.get("SINKKIT_BRIDGE_COMMAND")
    if not command:
        raise ConfigError("bridge sink entry needs options.command (the peer to start), "
                          "or env SINKKIT_BRIDGE_COMMAND")
    timeout = options.get("timeout")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float))
                                or timeout <= 0):
        raise ConfigError("bridge sink entry: options.timeout must be a positive number")
    peer, caps = start_peer(command, timeout)
    try:
        slot = slot_params(options.get("slot"))
        if slot is not None:
            peer.call("reopen" if caps.persistent else "reset", [slot])
    except BaseException:
        peer.shutdown()
        raise
    return BridgeSink(peer, owns_peer=True)


__all__ = [
    "BridgePeerError", "BridgeSessionStore", "BridgeSink", "PeerProcess", "SinkError",
    "open_bridge_sink", "start_peer",
]


# --- the published protocol schemas (docs/schemas/bridge/*.json) --------------------------------

#: methods beyond the Sink's: name -> parameter names
EXTRA_METHODS: dict[str, tuple[str, ...]] = {
    "capabilities": (), "reset": ("slot",), "reopen": ("slot",), "close": (),
    "session.get": ("sid",), "session.set": ("sid", "sess"), "session.destroy": ("sid",),
    "session.touch": ("sid", "sess"), "session.all": (), "session.length": (),
    "session.clear": (), "session.prune": (), "session.defaultTtl": (),
}


def wire_methods() -> dict[str, tuple[str, ...]]:
    """Every method a peer answers, with the names of its positional parameters."""
    methods = {}
    for py_name, wire in GIT_PROXY_NAMES.items():
        if py_name in _LOCAL:
            continue
        params = list(inspect.signature(getattr(Sink, py_name)).parameters)[1:]
        methods[wire] = tuple(params)
    methods.update(EXTRA_METHODS)
    return methods


def protocol_schemas() -> dict[str, Document]:
    """JSON Schema per message kind, by file name."""
    draft = "https://json-schema.org/draft/2020-12/schema"
    methods = wire_methods()
    per_method = [
        {"if": {"properties": {"method": {"const": name}}},
         "then": {"properties": {"params": {
             "minItems": len(params), "maxItems": len(params),
             **({"prefixItems": [{"title": p} for p in params]} if params else {})}}}}
        for name, params in methods.items()
    ]
    slot = {"$schema": draft, "title": "BridgeSlot",
            "description": "The storage of one test: reset/reopen's only parameter (or null).",
            "type": "object", "required": ["name", "dir"], "additionalProperties": False,
            "properties": {"name": {"type": "string", "minLength": 1},
                           "dir": {"type": "string", "minLength": 1}}}
    error = {
        "$schema": draft, "title": "BridgeError", "type": "object",
        "required": ["code", "message"],
        "properties": {
            "code": {"type": "integer"},
            "message": {"type": "string"},
            "data": {"type": "object", "required": ["code"], "properties": {
                "code": {"enum": sorted(ERRORS_BY_CODE)},
                **{f: {} for f in ERROR_FIELDS}}},
        },
        "if": {"properties": {"code": {"const": SINK_ERROR_RPC_CODE}}},
        "then": {"required": ["code", "message", "data"]},
    }
    envelope = {"jsonrpc": {"const": "2.0"}, "id": {"type": "integer", "minimum": 1}}
    return {
        "request.json": {
            "$schema": draft, "title": "BridgeRequest", "type": "object",
            "required": ["jsonrpc", "id", "method", "params"], "additionalProperties": False,
            "properties": {**envelope, "method": {"enum": list(methods)},
                           "params": {"type": "array"}},
            "allOf": per_method,
        },
        "response.json": {
            "$schema": draft, "title": "BridgeResponse", "type": "object",
            "oneOf": [
                {"required": ["jsonrpc", "id", "result"], "additionalProperties": False,
                 "properties": {**envelope, "result": {}}},
                {"required": ["jsonrpc", "id", "error"], "additionalProperties": False,
                 "properties": {**envelope, "error": {"$ref": "error.json"}}},
            ],
        },
        "error.json": error,
        "capabilities.json": {
            "$schema": draft, "title": "BridgeCapabilities",
            "description": "The result of `capabilities` (extra keys are ignored).",
            "type": "object", "required": ["persistent", "multi_process"],
            "properties": {
                **{c.name: {"type": "boolean", "default": c.default, "description": c.doc}
                   for c in CAPABILITY_TABLE},
                "divergences": {"type": "object", "additionalProperties": {"type": "string"}},
                "interface": {"type": "string", "pattern": r"^[0-9]+(\.[0-9]+)*$",
                              "description": "The interface (suite) version the peer "
                                             f"implements, e.g. {SUITE_VERSION!r}."},
                "name": {"type": "string"}},
        },
        "slot.json": slot,
    }


def write_schemas(folder: str) -> list[str]:
    os.makedirs(folder, exist_ok=True)
    written = []
    for name, schema in protocol_schemas().items():
        path = os.path.join(folder, name)
        with open(path, "w", encoding="utf-8") as out:
            out.write(json.dumps(schema, indent=2) + "\n")
        written.append(path)
    return written


if __name__ == "__main__":
    # python -m sinkkit.adapters.bridge docs/schemas/bridge
    for written_path in write_schemas(sys.argv[1] if len(sys.argv) > 1 else "docs/schemas/bridge"):
        print(f"wrote {written_path}")
