#!/usr/bin/env python3
"""A bridge peer in Python: sinkkit's memory adapter served over the bridge protocol.

Run it as ``python examples/bridge-python/peer.py`` (or ``python examples/bridge-python``, or
``python -m peer`` from this folder). It reads one JSON-RPC 2.0 request per line on stdin and
writes one response per line on stdout, until stdin closes. The protocol is in docs/bridge.md;
this file is meant to be read as its worked example, so it implements the framing itself rather
than importing the kit's client.

Test hooks (the kit's own tests use them to prove a broken peer is reported):
  --break permissions-null   removing the last user from a role leaves null instead of []
  --break close-ignored      `close` answers but leaves the store open
  --hang-on METHOD           never answer METHOD
  --die-on METHOD            exit with code 3 on METHOD, after a line on stderr
  --garbage-on METHOD        answer METHOD with a line that is not JSON
  --no-sessions              serve no session store: declare session_store false, answer
                             session.* with -32601 (method not found)
  --missing METHOD           do not implement METHOD (answer -32601) though declaring nothing
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

from sinkkit.conformance.contract import GIT_PROXY_NAMES
from sinkkit.conformance.errors import SinkError
from sinkkit.conformance.model import DocumentSink

#: attributes of the kit's typed errors that travel in error.data
ERROR_FIELDS = ("key", "field", "value", "owner", "username", "what", "problem")
SESSION_METHODS = ("get", "set", "destroy", "touch", "all", "length", "clear", "prune")


class RpcError(Exception):
    def __init__(self, code: int, message: str):
        self.code = code
        super().__init__(message)


class MemoryPeer:
    """Dispatches wire methods to a DocumentSink; ``reset`` swaps in a fresh one."""

    def __init__(self, breaks: set[str], *, sessions: bool = True,
                 missing: tuple[str, ...] = ()):
        self.breaks = breaks
        self.sessions = sessions
        self.sink = DocumentSink()
        self.methods = {wire: self._sink_call(py) for py, wire in GIT_PROXY_NAMES.items()
                        if py not in ("session_store", "close")}
        self.methods.update({
            "capabilities": self.capabilities,
            "reset": self.reset,
            "close": lambda: self.sink.close(),
            "session.defaultTtl": lambda: self.sink.session_store.default_ttl,
        })
        for name in SESSION_METHODS:
            self.methods[f"session.{name}"] = self._session_call(name)
        if "permissions-null" in breaks:
            self.methods["removeUserCanPush"] = self._remove_leaving_null
        if "close-ignored" in breaks:
            self.methods["close"] = lambda: None
        if not sessions:
            for name in [m for m in self.methods if m.startswith("session.")]:
                del self.methods[name]
        for name in missing:
            self.methods.pop(name, None)

    def _sink_call(self, py_name: str):
        return lambda *args: getattr(self.sink, py_name)(*args)

    def _session_call(self, name: str):
        # the store is reached through the sink, so a closed sink answers Unavailable
        return lambda *args: getattr(self.sink.session_store, name)(*args)

    def capabilities(self) -> dict[str, Any]:
        # every capability of the kit's table may be declared here; absent ones take the
        # table's default (docs/schemas/bridge/capabilities.json lists them)
        return {"interface": "1.0", "persistent": False, "multi_process": False,
                "fault_injection": False, "kill_safe": False, "session_store": self.sessions,
                "divergences": {}, "name": "sinkkit memory adapter (Python peer)"}

    def reset(self, slot: dict[str, Any] | None = None) -> None:
        self.sink.close()
        self.sink = DocumentSink()

    def _remove_leaving_null(self, _id: str, user: str) -> None:
        self.sink.remove_user_can_push(_id, user)
        repo = self.sink._repos.get(_id)  # reaching inside on purpose: this is the bug
        if repo is not None and repo["users"]["canPush"] == []:
            repo["users"]["canPush"] = None

    def handle(self, request: Any) -> dict[str, Any]:
        rid = request.get("id") if isinstance(request, dict) else None
        try:
            method, params = check_request(request)
            if method not in self.methods:
                raise RpcError(-32601, f"method not found: {method}")
            result = self.methods[method](*params)
            return {"jsonrpc": "2.0", "id": rid, "result": result}
        except SinkError as exc:
            return {"jsonrpc": "2.0", "id": rid, "error": sink_error(exc)}
        except RpcError as exc:
            return {"jsonrpc": "2.0", "id": rid, "error": {"code": exc.code, "message": str(exc)}}
        except TypeError as exc:
            return {"jsonrpc": "2.0", "id": rid, "error": {"code": -32602, "message": str(exc)}}
        except Exception as exc:
            return {"jsonrpc": "2.0", "id": rid,
                    "error": {"code": -32603, "message": f"{type(exc).__name__}: {exc}"}}


def check_request(request: Any) -> tuple[str, list[Any]]:
    if not isinstance(request, dict) or request.get("jsonrpc") != "2.0" \
            or not isinstance(request.get("method"), str):
        raise RpcError(-32600, "invalid request")
    params = request.get("params", [])
    if not isinstance(params, list):
        raise RpcError(-32602, "params must be a positional array")
    return request["method"], params


def sink_error(exc: SinkError) -> dict[str, Any]:
    data: dict[str, Any] = {"code": exc.code}
    for name in ERROR_FIELDS:
        if hasattr(exc, name):
            value = getattr(exc, name)
            data[name] = value if _is_json(value) else repr(value)
    return {"code": -32000, "message": str(exc), "data": data}


def _is_json(value: Any) -> bool:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return False
    return True


def serve(peer: MemoryPeer, hooks: argparse.Namespace) -> None:
    out = sys.stdout.buffer
    sys.stdout = sys.stderr  # a stray print() must never corrupt the protocol stream
    for line in sys.stdin.buffer:
        try:
            request = json.loads(line)
        except ValueError:
            respond(out, {"jsonrpc": "2.0", "id": None,
                          "error": {"code": -32700, "message": "parse error"}})
            continue
        method = request.get("method") if isinstance(request, dict) else None
        if method == hooks.hang_on:
            time.sleep(3600)
        if method == hooks.die_on:
            print(f"peer: dying on purpose in {method}", file=sys.stderr, flush=True)
            os._exit(3)
        if method == hooks.garbage_on:
            out.write(b"this is not JSON\n")
            out.flush()
            continue
        respond(out, peer.handle(request))


def respond(out: Any, message: dict[str, Any]) -> None:
    out.write(json.dumps(message, ensure_ascii=True, separators=(",", ":")).encode() + b"\n")
    out.flush()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--break", dest="breaks", action="append", default=[],
                        choices=["permissions-null", "close-ignored"])
    parser.add_argument("--hang-on")
    parser.add_argument("--die-on")
    parser.add_argument("--garbage-on")
    parser.add_argument("--no-sessions", action="store_true")
    parser.add_argument("--missing", action="append", default=[])
    hooks = parser.parse_args(argv)
    serve(MemoryPeer(set(hooks.breaks), sessions=not hooks.no_sessions,
                     missing=tuple(hooks.missing)), hooks)


if __name__ == "__main__":
    main()
