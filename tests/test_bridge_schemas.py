"""The published bridge schemas: up to date with the code, and real traffic validates."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from sinkkit.adapters.bridge import encode, protocol_schemas, wire_methods
from sinkkit.conformance.factories import make_push, make_repo, make_user

ROOT = Path(__file__).resolve().parents[1]
SCHEMA_DIR = ROOT / "docs/schemas/bridge"
BASE = "https://sinkkit.invalid/bridge/"


def validator(name: str) -> Draft202012Validator:
    schemas = protocol_schemas()
    registry = Registry().with_resources(
        (BASE + n, Resource.from_contents(s)) for n, s in schemas.items())
    return Draft202012Validator({"$ref": BASE + name}, registry=registry)


@pytest.mark.parametrize("name", sorted(protocol_schemas()))
def test_committed_schemas_match_the_code(name):
    path = SCHEMA_DIR / name
    assert path.is_file(), f"missing {path}: run python -m sinkkit.adapters.bridge {SCHEMA_DIR}"
    assert json.loads(path.read_text()) == protocol_schemas()[name], (
        f"{path} is stale: run python -m sinkkit.adapters.bridge docs/schemas/bridge")
    Draft202012Validator.check_schema(protocol_schemas()[name])


def test_every_method_is_documented():
    text = (ROOT / "docs/bridge.md").read_text()
    missing = [m for m in wire_methods() if f"`{m}`" not in text]
    assert missing == []


def test_a_session_with_the_python_peer_validates_message_by_message():
    calls = [
        ("capabilities", []), ("reset", [{"name": "t1", "dir": "/tmp/x"}]),
        ("createUser", [make_user("alice")]), ("createUser", [make_user("ALICE")]),
        ("createRepo", [make_repo("r")]), ("writeAudit", [make_push("p1")]),
        ("getPushes", [None]), ("cancel", ["nope"]), ("getUsers", [{"bad": 1}]),
        ("session.set", ["s", {"cookie": {"maxAge": 1000}}]), ("session.all", []),
        ("noSuchMethod", []), ("close", []), ("getRepos", [None]),
    ]
    lines = b"".join(encode({"jsonrpc": "2.0", "id": i, "method": m, "params": p})
                     for i, (m, p) in enumerate(calls, 1))
    proc = subprocess.run([sys.executable, str(ROOT / "examples/bridge-python/peer.py")],
                          input=lines, capture_output=True, timeout=60, check=True)
    requests = [json.loads(line) for line in lines.splitlines()]
    responses = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(responses) == len(calls)
    request_v, response_v = validator("request.json"), validator("response.json")
    known = set(wire_methods())
    for request in requests:
        if request["method"] in known:
            request_v.validate(request)
    for response in responses:
        response_v.validate(response)
    errors = {r["id"]: r["error"] for r in responses if "error" in r}
    assert errors[4]["data"]["code"] == "duplicate_user"
    assert errors[8]["data"] == {"code": "push_not_found", "key": "nope"}
    assert errors[9]["data"]["code"] == "invalid_query"
    assert errors[12]["code"] == -32601
    assert errors[14]["data"]["code"] == "unavailable"
    validator("capabilities.json").validate(responses[0]["result"])


def test_the_request_schema_pins_each_methods_arity():
    bad = {"jsonrpc": "2.0", "id": 1, "method": "addUserCanPush", "params": ["only-one"]}
    assert list(validator("request.json").iter_errors(bad))
