"""Races: many threads (and processes) on one repo, one push, one session id, many pushes.

Each test starts its workers at a barrier so the calls overlap, then checks the end state against
what every legal interleaving allows: nothing lost, nothing duplicated, never two review flags.
The figures line each test prints (shown with ``-rP``) counts the concurrent calls made.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import Any

from sinkkit.conformance.clauses import clause
from sinkkit.conformance.contract import PUSH_LIST_FIELDS
from sinkkit.conformance.factories import make_attestation, make_push, make_rejection, make_repo
from sinkkit.core.views import list_view, push_sort_key

THREADS = 8
JOIN_SECONDS = 300  # a hang guard only: a worker still running after this is a failure


def run_together(workers: list[Callable[[], None]]) -> list[BaseException]:
    """Start every worker at once (barrier), wait for all, return what they raised."""
    barrier = threading.Barrier(len(workers))
    errors: list[BaseException] = []

    def start(work: Callable[[], None]) -> None:
        try:
            barrier.wait()
            work()
        except BaseException as exc:  # surfaced to the test
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(w,), daemon=True) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(JOIN_SECONDS)
    stuck = [t.name for t in threads if t.is_alive()]
    assert not stuck, f"workers still running after {JOIN_SECONDS}s: {stuck}"
    return errors


def figures(name: str, calls: int) -> None:
    print(f"sinkkit concurrency [{name}]: {calls} concurrent calls")


# --- ssh keys ------------------------------------------------------------------------------------

@clause("reliability.concurrent.ssh-key-race")
def test_one_key_added_to_many_users_at_once_is_held_by_exactly_one(sink):
    names = [f"holder{t}" for t in range(THREADS)]
    for name in names:
        sink.create_user({"username": name, "email": f"{name}@example.com"})
    key = {"key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIRaced", "fingerprint": "SHA256:raced"}

    def worker(name: str) -> Callable[[], None]:
        return lambda: sink.add_public_key(name, dict(key, name=name))

    errors = run_together([worker(name) for name in names])
    assert all(type(e).__name__ == "DuplicateSSHKey" for e in errors), errors
    holders = [name for name in names if sink.get_public_keys(name)]
    assert len(holders) == 1, f"the key ended up with {len(holders)} users: {holders}"
    assert len(errors) == THREADS - 1
    assert sink.find_user_by_ssh_key(key["key"])["username"] == holders[0]
    figures("ssh-key-race", THREADS)


# --- permissions ---------------------------------------------------------------------------------

@clause("reliability.concurrent.permissions-threads")
def test_parallel_permission_changes_from_threads_lose_nothing(sink):
    # a complete repo (both lists), so only the race can break this test
    repo = sink.create_repo(make_repo("r", users={"canPush": ["keeper"], "canAuthorise": []}))
    per_thread = 6
    calls = []

    def worker(t: int) -> Callable[[], None]:
        def work() -> None:
            for i in range(per_thread):
                name = f"t{t}-user{i}"
                sink.add_user_can_push(repo["_id"], name)
                sink.add_user_can_authorise(repo["_id"], name.upper())
                sink.add_user_can_push(repo["_id"], name.upper())  # again, folded: no duplicate
                calls.extend("abc")
            for i in range(0, per_thread, 2):  # each worker removes half of its own users
                sink.remove_user_can_push(repo["_id"], f"t{t}-user{i}")
                calls.append("r")
        return work

    assert run_together([worker(t) for t in range(THREADS)]) == []
    users = sink.get_repo_by_id(repo["_id"])["users"]
    kept = {f"t{t}-user{i}" for t in range(THREADS) for i in range(1, per_thread, 2)}
    everyone = {f"t{t}-user{i}" for t in range(THREADS) for i in range(per_thread)}
    assert sorted(users["canPush"]) == sorted(kept | {"keeper"})
    assert sorted(users["canAuthorise"]) == sorted(everyone)
    figures("permissions-threads", len(calls))


PROCESS_WORKER = r"""
import json, sys
from sinkkit.core.config import open_sink

job = json.loads(sys.argv[1])
sink = open_sink([job["entry"]])
print("ready", flush=True)
sys.stdin.readline()  # every worker starts at once
try:
    for name in job["names"]:
        sink.add_user_can_push(job["repo"], name)
        sink.add_user_can_authorise(job["repo"], name)
        sink.add_user_can_push(job["repo"], name.upper())
        print("ack", name, flush=True)
finally:
    sink.close()
"""


@clause("reliability.concurrent.permissions-processes")
def test_parallel_permission_adds_from_processes_all_land(sink, sink_entry):
    repo = sink.create_repo(make_repo("r", users={"canPush": [], "canAuthorise": []}))
    processes, names = 4, {}
    procs = []
    for p in range(processes):
        names[p] = [f"proc{p}-user{i}" for i in range(8)]
        job = json.dumps({"entry": sink_entry, "repo": repo["_id"], "names": names[p]})
        procs.append(subprocess.Popen([sys.executable, "-c", PROCESS_WORKER, job],
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True))
    for proc in procs:
        assert proc.stdout.readline().strip() == "ready", proc.communicate()[1][-2000:]
    for proc in procs:
        proc.stdin.write("go\n")
        proc.stdin.flush()
    acked = []
    for proc in procs:
        out, err = proc.communicate(timeout=JOIN_SECONDS)
        assert proc.returncode == 0, f"a worker process failed:\n{err[-2000:]}"
        acked += [line.split(" ", 1)[1] for line in out.splitlines() if line.startswith("ack ")]
    expected = sorted(n for chunk in names.values() for n in chunk)
    assert sorted(acked) == expected
    users = sink.get_repo_by_id(repo["_id"])["users"]
    assert sorted(users["canPush"]) == expected
    assert sorted(users["canAuthorise"]) == expected
    figures("permissions-processes", 3 * len(expected))


# --- reviews -------------------------------------------------------------------------------------

def _flags(push: dict[str, Any]) -> list[str]:
    return [f for f in ("authorised", "rejected", "canceled") if push.get(f) is True]


@clause("reliability.concurrent.review-race")
def test_racing_reviews_leave_exactly_one_legal_state(sink):
    original = make_push("p1", note="keep me")
    sink.write_audit(original)
    rounds = 8
    attestations = [make_attestation(f"rev{t}{i}") for t in range(3) for i in range(rounds)]
    rejections = [make_rejection(f"rej{t}{i}") for t in range(3) for i in range(rounds)]
    seen_torn: list[dict[str, Any]] = []
    stop = threading.Event()
    calls = []

    def reviewer(action: str, t: int) -> Callable[[], None]:
        def work() -> None:
            for i in range(rounds):
                if action == "authorise":
                    sink.authorise("p1", attestations[t * rounds + i])
                elif action == "reject":
                    sink.reject("p1", rejections[t * rounds + i])
                else:
                    sink.cancel("p1")
                calls.append(action)
        return work

    def reader() -> None:
        while not stop.is_set():
            push = sink.get_push("p1")
            calls.append("read")
            if len(_flags(push)) > 1:
                seen_torn.append(push)

    watcher = threading.Thread(target=reader, daemon=True)
    watcher.start()
    workers = [reviewer(a, t) for t in range(3) for a in ("authorise", "reject", "cancel")]
    errors = run_together(workers)
    stop.set()
    watcher.join(JOIN_SECONDS)
    assert errors == []
    assert seen_torn == [], f"a reader saw two flags true: {_flags(seen_torn[0])}"
    final = sink.get_push("p1")
    assert len(_flags(final)) == 1, f"final flags: {_flags(final)}"
    if final["authorised"]:
        assert final["attestation"] in attestations
    if final["rejected"]:
        assert final["rejection"] in rejections
    kept = {k: v for k, v in original.items()
            if k not in ("authorised", "rejected", "canceled", "attestation", "rejection")}
    assert {k: final[k] for k in kept} == kept
    figures("review-race", len(calls))


# --- sessions ------------------------------------------------------------------------------------

@clause("reliability.concurrent.session-writes")
def test_concurrent_session_writes_keep_one_whole_session(sink):
    store = sink.session_store
    writes = 10
    written = {t: [{"cookie": {"maxAge": 3_600_000}, "writer": t, "n": n,
                    "blob": f"{t}-{n}-" + "x" * 2000} for n in range(writes)]
               for t in range(THREADS)}
    torn: list[Any] = []
    calls = []
    every = [s for sessions in written.values() for s in sessions]

    def writer(t: int) -> Callable[[], None]:
        def work() -> None:
            for sess in written[t]:
                store.set("shared", sess)
                got = store.get("shared")
                calls.extend("sg")
                if got not in every:
                    torn.append(got)
        return work

    assert run_together([writer(t) for t in range(THREADS)]) == []
    assert torn == [], f"a read returned a session nobody wrote: {str(torn[0])[:200]}"
    last_writes = [written[t][-1] for t in range(THREADS)]
    assert store.get("shared") in last_writes
    assert store.length() == 1 and list(store.all()) == ["shared"]
    final = {"cookie": {"maxAge": 3_600_000}, "writer": "main"}
    store.set("shared", final)
    assert store.get("shared") == final
    figures("session-writes", len(calls))


# --- pushes --------------------------------------------------------------------------------------

@clause("reliability.concurrent.write-audit")
def test_parallel_write_audit_stores_every_push_once_in_order(sink):
    per_thread = 10
    pushes = {t: [make_push(f"t{t}-p{i:02d}", timestamp=1_700_000_000_000 + (i % 4),
                            payload={"thread": t, "i": i}) for i in range(per_thread)]
              for t in range(THREADS)}

    def writer(t: int) -> Callable[[], None]:
        def work() -> None:
            for push in pushes[t]:
                sink.write_audit(push)
        return work

    assert run_together([writer(t) for t in range(THREADS)]) == []
    every = [p for chunk in pushes.values() for p in chunk]
    listed = sink.get_pushes({})
    expected = [list_view(p) for p in sorted(every, key=push_sort_key, reverse=True)]
    assert [p["id"] for p in listed] == [p["id"] for p in expected]
    # the values each item carries; which fields a listing may carry is pushes.list.view-fields
    assert [{k: p[k] for k in PUSH_LIST_FIELDS if k in p} for p in listed] == expected
    for push in every:
        stored = sink.get_push(push["id"])
        if stored.get("_id") == push["id"]:  # allowed: an `_id` equal to `id`
            del stored["_id"]
        assert stored == push
    figures("write-audit", len(every))
