"""The bridge adapter on its own: wire encoding, error mapping, faults, lifecycle, both peers."""

from __future__ import annotations

import shutil
import sys
import threading
from importlib.metadata import entry_points
from pathlib import Path

import pytest
from sinkkit.adapters.bridge import (
    BridgePeerError,
    BridgeSink,
    PeerProcess,
    decode_error,
    open_bridge_sink,
    to_wire,
)
from sinkkit.conformance.errors import (
    ERRORS_BY_CODE,
    ConfigError,
    DuplicateRepo,
    DuplicateSSHKey,
    DuplicateUser,
    InvalidDocument,
    InvalidQuery,
    PublicKeyExists,
    RepoNotFound,
    SinkError,
    Unavailable,
    UserNotFound,
)
from sinkkit.conformance.factories import make_key, make_push, make_repo, make_user
from sinkkit.conformance.outcomes import MethodNotImplemented
from sinkkit.core.config import open_sink

ROOT = Path(__file__).resolve().parents[1]
PY_PEER = [sys.executable, str(ROOT / "examples/bridge-python/peer.py")]
NODE_PEER = ["node", str(ROOT / "examples/bridge-node/peer.js")]


def need_node() -> None:
    if shutil.which("node") is None:
        pytest.fail("node is not on PATH: the Node.js bridge peer cannot be tested here")


def bridged(argv: list[str], timeout: float = 20) -> BridgeSink:
    return open_bridge_sink({"type": "bridge", "enabled": True,
                             "options": {"command": argv, "timeout": timeout}})


@pytest.fixture(params=["python", "node"])
def sink(request):
    if request.param == "node":
        need_node()
    s = bridged(PY_PEER if request.param == "python" else NODE_PEER)
    yield s
    s.close()


def fake_peer(script: str) -> list[str]:
    """A peer whose whole behaviour is ``script`` (Python reading stdin line by line)."""
    return [sys.executable, "-c", script]


# --- wire ------------------------------------------------------------------------------------

@pytest.mark.parametrize("bad", [{1: "x"}, {"a": {1, 2}}, float("nan"), b"bytes", [float("inf")]])
def test_values_json_cannot_carry_are_refused_not_coerced(bad):
    with pytest.raises(InvalidDocument):
        to_wire(bad, "test")


def test_tuples_travel_as_lists():
    assert to_wire({"a": (1, (2, "x"))}, "test") == {"a": [1, [2, "x"]]}


@pytest.mark.parametrize("code", sorted(ERRORS_BY_CODE))
def test_every_error_code_decodes_to_its_class_with_message_and_fields(code):
    exc = decode_error("getPush", {"code": -32000, "message": f"boom {code}",
                                   "data": {"code": code, "key": "k1", "field": "f"}})
    assert type(exc) is ERRORS_BY_CODE[code]
    assert str(exc) == f"boom {code}"
    assert exc.key == "k1" and exc.field == "f"


@pytest.mark.parametrize("error", [{"code": -32603, "message": "TypeError: x"},
                                   {"code": -32000, "message": "m", "data": {"code": "nope"}},
                                   "not an object"])
def test_untyped_errors_are_peer_bugs_not_sink_errors(error):
    exc = decode_error("createUser", error)
    assert isinstance(exc, BridgePeerError) and "createUser" in str(exc)


# --- both peers, through the adapter -----------------------------------------------------------

def test_typed_errors_come_back_with_their_fields(sink):
    repo = sink.create_repo(make_repo("r"))
    sink.create_user(make_user("alice"))
    sink.create_user(make_user("bob"))
    with pytest.raises(DuplicateUser) as dup:
        sink.create_user(make_user("ALICE", email="x@example.com"))
    assert (dup.value.field, dup.value.value) == ("username", "alice")
    with pytest.raises(DuplicateRepo) as dup_repo:
        sink.create_repo(make_repo("s", url=repo["url"]))
    assert dup_repo.value.field == "url"
    with pytest.raises(RepoNotFound) as missing:
        sink.add_user_can_push("no-such-repo", "alice")
    assert missing.value.key == "no-such-repo"
    with pytest.raises(InvalidQuery) as query:
        sink.get_pushes({"constructor": 1})
    assert query.value.key == "constructor"
    with pytest.raises(InvalidDocument) as invalid:
        sink.create_user(make_user(""))
    assert invalid.value.what == "user.username"
    sink.add_public_key("alice", make_key(1))
    with pytest.raises(DuplicateSSHKey) as held:
        sink.add_public_key("bob", make_key(1))
    assert held.value.owner == "alice" and "alice" in str(held.value)
    with pytest.raises(PublicKeyExists) as exists:
        sink.add_public_key("alice", make_key(1))
    assert exists.value.username == "alice"
    with pytest.raises(UserNotFound):
        sink.get_public_keys("ghost")


def test_payloads_keep_64_bit_integers_and_proto_keys_exact(sink):
    payload = {"n": [2**53 + 1, 2**63 - 1, -(2**63), 0.1, 1e300], "__proto__": {"x": 1},
               "constructor": "c", "s": "Grüße 🚀 \u2028"}
    sink.write_audit(make_push("p1", payload=payload))
    assert sink.get_push("p1")["payload"] == payload
    with pytest.raises(InvalidDocument):
        sink.write_audit(make_push("p2", payload={"n": 2**63}))


def test_defaults_are_sent_so_peers_see_a_fixed_arity(sink):
    sink.write_audit(make_push("p1"))
    assert [p["id"] for p in sink.get_pushes()] == ["p1"]
    assert sink.get_repos() == [] and sink.get_users() == []


def test_overlapping_calls_from_threads_each_get_their_own_answer(sink):
    repo = sink.create_repo(make_repo("r"))
    errors = []

    def worker(i: int) -> None:
        try:
            for j in range(20):
                sink.write_audit(make_push(f"p{i}-{j}", timestamp=j))
                assert sink.get_push(f"p{i}-{j}")["id"] == f"p{i}-{j}"
            sink.add_user_can_push(repo["_id"], f"user{i}")
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    assert len(sink.get_pushes({})) == 160
    assert sorted(sink.get_repo("r")["users"]["canPush"]) == [f"user{i}" for i in range(8)]


def test_session_store_calls_travel(sink):
    store = sink.session_store
    assert store.default_ttl > 0
    store.set("s1", {"cookie": {"maxAge": 60_000}, "user": "alice"})
    assert store.get("s1")["user"] == "alice" and store.length() == 1
    assert list(store.all()) == ["s1"]
    store.destroy("s1")
    assert store.get("s1") is None and store.prune() == 0


def test_a_closed_sink_is_unavailable_and_close_is_idempotent(sink):
    sink.close()
    with pytest.raises(Unavailable):
        sink.get_pushes()
    with pytest.raises(Unavailable):
        _ = sink.session_store
    sink.close()
    assert not sink.peer.alive and sink.peer.proc.returncode is not None


# --- faults: each names the method and never hangs ----------------------------------------------

def test_a_peer_that_dies_fails_the_call_with_its_exit_code_and_stderr():
    sink = bridged([*PY_PEER, "--die-on", "createRepo"])
    with pytest.raises(Unavailable) as err:
        sink.create_repo(make_repo("r"))
    text = str(err.value)
    assert "createRepo" in text and "exit code 3" in text and "dying on purpose" in text
    with pytest.raises(Unavailable, match="getRepos"):
        sink.get_repos()
    sink.close()


def test_a_peer_that_hangs_is_killed_after_the_timeout():
    sink = bridged([*PY_PEER, "--hang-on", "getPushes"], timeout=1)
    sink.write_audit(make_push("p1"))
    with pytest.raises(Unavailable) as err:
        sink.get_pushes()
    assert "did not answer getPushes within 1s" in str(err.value)
    assert sink.peer.proc.returncode is not None
    sink.close()


def test_non_json_on_stdout_is_a_protocol_error():
    sink = bridged([*PY_PEER, "--garbage-on", "getUsers"])
    with pytest.raises(Unavailable) as err:
        sink.get_users()
    assert "getUsers" in str(err.value) and "non-JSON" in str(err.value)
    assert "this is not JSON" in str(err.value)
    sink.close()


def test_a_response_to_nobody_is_a_protocol_error():
    script = ("import sys\nfor line in sys.stdin:\n"
              "    print('{\"jsonrpc\": \"2.0\", \"id\": 999, \"result\": {}}', flush=True)\n")
    peer = PeerProcess(fake_peer(script), timeout=20)
    with pytest.raises(Unavailable, match="no call is waiting"):
        peer.call("capabilities", [])
    peer.shutdown()


def test_a_command_that_cannot_start_is_unavailable():
    with pytest.raises(Unavailable, match="cannot start peer"):
        PeerProcess(["/nonexistent/sinkkit-peer"], timeout=5)


def test_a_peer_that_exits_at_once_fails_the_handshake():
    with pytest.raises(Unavailable, match=r"capabilities failed.*exit code 7.*gone"):
        bridged(fake_peer("import sys; print('gone', file=sys.stderr); sys.exit(7)"))


def test_an_unknown_method_is_not_implemented_not_a_sink_error():
    sink = bridged(PY_PEER)
    with pytest.raises(MethodNotImplemented, match=r"noSuchMethod.*method not found") as err:
        sink._call("noSuchMethod", [])
    assert not isinstance(err.value, SinkError)
    sink.close()


# --- configuration ------------------------------------------------------------------------------

@pytest.mark.parametrize("options", [{}, {"command": ""}, {"command": "x", "timeout": 0},
                                     {"command": "x", "timeout": "5"}])
def test_a_bad_bridge_entry_is_a_config_error(options, monkeypatch):
    monkeypatch.delenv("SINKKIT_BRIDGE_COMMAND", raising=False)
    with pytest.raises(ConfigError):
        open_bridge_sink({"type": "bridge", "enabled": True, "options": options})


def test_bridge_is_an_installed_adapter_and_harness_type():
    adapters = {ep.name: ep.value for ep in entry_points(group="sinkkit.adapters")}
    harnesses = {ep.name: ep.value for ep in entry_points(group="sinkkit.harnesses")}
    assert adapters.get("bridge") == "sinkkit.adapters.bridge:open_bridge_sink", (
        'pyproject.toml needs bridge = "sinkkit.adapters.bridge:open_bridge_sink" under '
        '[project.entry-points."sinkkit.adapters"] (then pip install -e .)')
    assert harnesses.get("bridge") == "sinkkit.fixtures.bridge:BridgeHarness", (
        'pyproject.toml needs bridge = "sinkkit.fixtures.bridge:BridgeHarness" under '
        '[project.entry-points."sinkkit.harnesses"] (then pip install -e .)')
    sink = open_sink({"sink": [{"type": "bridge", "enabled": True,
                                "options": {"command": PY_PEER}}]})
    assert isinstance(sink, BridgeSink)
    sink.close()
