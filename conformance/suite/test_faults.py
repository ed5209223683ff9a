"""Faults: the backend stopped under a live sink, a writer killed mid-write, a server that never
answers.

The harness injects the faults it can (``Harness.interrupt`` for a stopped backend, the
``kill_safe`` capability for SIGKILL'd writers, ``Harness.unreachable_config`` for a silent
server); a harness that cannot declares so and the clause is reported not applicable. The only
timing bound is a hang guard: a call still running long after any configured timeout fails.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable
from typing import Any

import pytest
from sinkkit.conformance.clauses import clause
from sinkkit.conformance.errors import Unavailable
from sinkkit.conformance.factories import make_push, make_repo, make_session, make_user

HANG_GUARD_SECONDS = 120
#: calls that may still fail with Unavailable after the backend is back (pools replace their
#: broken connections lazily); the next one must succeed
RECOVERY_ATTEMPTS = 5
SECRET = "s3cr3t-Pa55w0rd-fault"


def _interrupt(harness: Any, slot: Any):
    try:
        return harness.interrupt(slot)
    except NotImplementedError:
        pytest.fail(f"harness {harness.name} declares fault_injection but implements neither "
                    "interrupt(slot) nor stop_backend()/start_backend()")


#: one call per area: reads, writes, reviews, permissions, users, ledger, sessions
OUTAGE_CALLS: dict[str, Callable[[Any, dict[str, Any]], Any]] = {
    "get_push": lambda s, ctx: s.get_push("before"),
    "get_pushes": lambda s, ctx: s.get_pushes({}),
    "write_audit": lambda s, ctx: s.write_audit(make_push("during")),
    "authorise": lambda s, ctx: s.authorise("before", {"reviewer": {"username": "bob"}}),
    "add_user_can_push": lambda s, ctx: s.add_user_can_push(ctx["repo"], "carol"),
    "find_user": lambda s, ctx: s.find_user("alice"),
    "get_applied_migrations": lambda s, ctx: s.get_applied_migrations(),
    "session.get": lambda s, ctx: s.session_store.get("sid"),
}


def _populate(sink: Any) -> dict[str, Any]:
    sink.write_audit(make_push("before"))
    sink.create_user(make_user("alice"))
    repo = sink.create_repo(make_repo("r"))
    sink.record_migration("0001")
    sink.session_store.set("sid", make_session())
    return {"repo": repo["_id"]}


def _state(sink: Any) -> tuple:
    return (sink.get_pushes({}), sink.get_users(), sink.get_repos(),
            sink.get_applied_migrations(), sink.session_store.all())


def _recover(sink: Any) -> int:
    """Call until the sink answers again; returns how many calls failed first."""
    for failed in range(RECOVERY_ATTEMPTS):
        try:
            sink.get_applied_migrations()
            return failed
        except Unavailable:
            continue
    pytest.fail(f"the sink still raised Unavailable {RECOVERY_ATTEMPTS} calls after the "
                "backend came back: it does not recover without reopening")


@clause("reliability.faults.outage-unavailable")
def test_every_call_during_an_outage_raises_unavailable(sink, sinkkit_harness, sinkkit_slot):
    ctx = _populate(sink)
    problems = []
    started = time.monotonic()
    with _interrupt(sinkkit_harness, sinkkit_slot):
        for name, call in OUTAGE_CALLS.items():
            try:
                result = call(sink, ctx)
            except Unavailable as exc:
                assert str(exc), f"{name}: Unavailable without a message"
            except Exception as exc:
                problems.append(f"{name}: {type(exc).__module__}.{type(exc).__name__}: {exc}")
            else:
                problems.append(f"{name}: answered {str(result)[:100]} while the backend was down")
    outage = time.monotonic() - started  # reported, never asserted
    print(f"sinkkit faults [outage]: 1 outage of {outage:.0f}s, {len(OUTAGE_CALLS)} calls "
          "during it")
    assert not problems, "during the outage:\n  " + "\n  ".join(problems)
    _recover(sink)
    assert _state(sink)[3] == ["0001"]


@clause("reliability.faults.recovers-without-reopen")
def test_the_same_sink_recovers_and_keeps_every_acknowledged_write(sink, sinkkit_harness,
                                                                   sinkkit_slot):
    _populate(sink)
    acked: list[dict[str, Any]] = []
    refused: list[dict[str, Any]] = []
    wrong: list[str] = []
    stop = threading.Event()

    def writer() -> None:
        n = 0
        while not stop.is_set():
            push = make_push(f"w{n:04d}", timestamp=1_700_000_000_000 + n, payload="x" * 5000)
            n += 1
            try:
                sink.write_audit(push)
                acked.append(push)
            except Unavailable:
                refused.append(push)
            except Exception as exc:
                wrong.append(f"{type(exc).__name__}: {exc}")

    before = _state(sink)
    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    while len(acked) < 5 and thread.is_alive():
        stop.wait(0.05)
    with _interrupt(sinkkit_harness, sinkkit_slot):
        stop.wait(1.0)  # the writer keeps writing into the outage
    failed_after = _recover(sink)
    stop.wait(0.5)
    stop.set()
    thread.join(HANG_GUARD_SECONDS)
    assert not thread.is_alive(), "the writer hung"
    assert not wrong, f"writes failed with something other than Unavailable: {wrong[:3]}"
    lost = [p["id"] for p in acked if _without_own_id(sink.get_push(p["id"])) != p]
    assert not lost, f"acknowledged writes lost or changed: {lost[:10]}"
    for push in refused:  # a refused write may have landed, but only whole
        stored = sink.get_push(push["id"])
        assert stored is None or _without_own_id(stored) == push
    _, *rest = _state(sink)
    assert rest == list(before[1:])
    sink.write_audit(make_push("after"))
    assert sink.get_push("after") is not None
    print(f"sinkkit faults [recovery]: 1 outage, {len(acked)} acknowledged writes (0 lost), "
          f"{len(refused)} refused with Unavailable, {failed_after} failed calls after restart")


def _without_own_id(push: dict[str, Any] | None) -> dict[str, Any] | None:
    if push is not None and push.get("_id") == push.get("id"):
        push = {k: v for k, v in push.items() if k != "_id"}
    return push


# --- a writer killed with SIGKILL ---------------------------------------------------------------

KILLED_WRITER = r"""
import json, sys
from sinkkit.core.config import open_sink

sink = open_sink([json.loads(sys.argv[1])])
repo = sink.create_repo({"name": "r", "url": "https://example.com/r.git"})
print("repo", repo["_id"], flush=True)
i = 0
while True:
    sink.write_audit({"id": f"p{i:05d}", "type": "push", "timestamp": i,
                      "payload": "ü'x" * (200 * (i % 9))})
    sink.add_user_can_push(repo["_id"], f"user{i}")
    sink.session_store.set(f"s{i % 4}", {"cookie": {"maxAge": 3600000}, "n": i})
    print("ack", i, flush=True)
    i += 1
"""


@clause("reliability.faults.killed-writer-keeps-acks")
def test_a_writer_killed_mid_write_loses_nothing_it_acknowledged(sink_entry, sinkkit_opened,
                                                                 open_sink):
    writer = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, json.dumps(sink_entry)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = writer.stdout.readline().split()
        assert first[:1] == ["repo"], f"the writer did not start: {writer.stderr.read()[-2000:]}"
        repo_id, acked = first[1], -1
        for line in writer.stdout:
            acked = int(line.split()[1])
            if acked >= 40:
                break
        writer.send_signal(signal.SIGKILL)
        # acks printed between the last line read and the kill still count
        rest, _ = writer.communicate(timeout=HANG_GUARD_SECONDS)
        acked = max([acked] + [int(x.split()[1]) for x in rest.splitlines() if x.startswith("ack")])
    finally:
        if writer.poll() is None:
            writer.kill()
    assert writer.returncode == -signal.SIGKILL
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a torn last line may be reported as a warning
        again = sinkkit_opened.add(open_sink([sink_entry]))
    missing = [i for i in range(acked + 1) if again.get_push(f"p{i:05d}") is None]
    assert not missing, f"acknowledged pushes lost: {missing[:10]}"
    can_push = again.get_repo_by_id(repo_id)["users"]["canPush"]
    assert {f"user{i}" for i in range(acked + 1)} <= set(can_push)
    assert len(can_push) == len(set(can_push))
    assert again.session_store.length() == min(4, acked + 1)
    again.write_audit(make_push("after-kill"))
    assert again.get_push("after-kill") is not None
    print(f"sinkkit faults [sigkill]: 1 kill, {acked + 1} acknowledged rounds (3 writes each), "
          "0 lost")


# --- a server that never answers -----------------------------------------------------------------

def with_password(dsn: str, password: str) -> str:
    from sinkkit.conformance.suite.test_hostile import with_password as add

    return add(dsn, password)


@clause("reliability.faults.unreachable-open-typed")
def test_opening_against_a_silent_server_raises_unavailable(sinkkit_harness, sinkkit_slot,
                                                            open_sink):
    silent = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)  # the kernel completes handshakes; nobody ever reads or answers
    host, port = silent.getsockname()
    try:
        # a harness without a server raises NotApplicable here
        entry = sinkkit_harness.unreachable_config(sinkkit_slot, host, port)
        if entry.get("connectionString"):
            entry = dict(entry, connectionString=with_password(entry["connectionString"],
                                                               SECRET))
        outcome: list[Any] = []

        def attempt() -> None:
            try:
                outcome.append(open_sink([entry]))
            except BaseException as exc:
                outcome.append(exc)

        thread = threading.Thread(target=attempt, daemon=True)
        thread.start()
        thread.join(HANG_GUARD_SECONDS)
        assert not thread.is_alive(), f"open_sink still waiting after {HANG_GUARD_SECONDS}s"
    finally:
        silent.close()
    (result,) = outcome
    if not isinstance(result, BaseException):
        result.close()
        pytest.fail("open_sink succeeded against a server that never answers")
    assert isinstance(result, Unavailable), f"{type(result).__name__}: {result}"
    assert SECRET not in str(result) and SECRET not in repr(result)
    print("sinkkit faults [silent server]: 1 unreachable open")
