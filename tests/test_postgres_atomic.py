"""Single-object state changes are one SQL statement each: parallel callers on separate pools
(as separate git-proxy processes would be) lose nothing and never leave push flags inconsistent.
Also: JSONB keeps every float exactly (see jsonio.py)."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from sinkkit.adapters.postgres import open_postgres_sink
from sinkkit.conformance.errors import DuplicateSSHKey, PublicKeyExists
from sinkkit.fixtures import postgres as pg_fixtures

# the kit's postgres fixtures (provisioned like the suite lanes), used by name below
postgres_database = pg_fixtures.postgres_database
postgres_server = pg_fixtures.postgres_server

WORKERS = 8


@pytest.fixture
def sinks(postgres_database):
    opened = [open_postgres_sink({"type": "postgres", "connectionString": postgres_database,
                                  "options": {"poolSize": 2}}) for _ in range(WORKERS)]
    yield opened
    for sink in opened:
        sink.close()


def _together(work: Callable[[int], None]) -> list[BaseException]:
    """Run ``work(n)`` for n in 0..WORKERS-1 on threads released at once; collect errors."""
    start, errors = threading.Barrier(WORKERS), []

    def run(n: int) -> None:
        start.wait()
        try:
            work(n)
        except BaseException as exc:  # reported by the caller
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(WORKERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def test_parallel_permission_adds_all_land_and_removes_leave_a_list(sinks):
    repo = sinks[0].create_repo({"name": "r", "url": "https://h/r.git"})

    def add(n: int) -> None:
        for i in range(20):
            sinks[n].add_user_can_push(repo["_id"], f"User{n}_{i}")
            sinks[n].add_user_can_authorise(repo["_id"], f"user{n}_{i}")

    assert _together(add) == []
    users = sinks[0].get_repo_by_id(repo["_id"])["users"]
    expected = {f"user{n}_{i}" for n in range(WORKERS) for i in range(20)}
    assert set(users["canPush"]) == expected and len(users["canPush"]) == len(expected)
    assert set(users["canAuthorise"]) == expected

    def remove(n: int) -> None:
        for i in range(20):
            sinks[n].remove_user_can_push(repo["_id"], f"user{n}_{i}")

    assert _together(remove) == []
    after = sinks[0].get_repo_by_id(repo["_id"])
    assert after["users"]["canPush"] == []
    assert after["lastModified"] > repo["lastModified"]


def test_racing_reviews_never_leave_two_flags_set(sinks):
    actions = [
        lambda s, pid: s.authorise(pid, {"reviewer": {"username": "a"}}),
        lambda s, pid: s.reject(pid, {"reviewer": {"username": "r"}, "timestamp": 1,
                                      "reason": "no"}),
        lambda s, pid: s.cancel(pid),
    ]
    for round_ in range(10):
        pid = f"push-{round_}"
        sinks[0].write_audit({"id": pid, "type": "push", "blocked": True, "authorised": False,
                              "rejected": False, "canceled": False, "timestamp": round_})
        assert _together(lambda n, pid=pid: actions[n % 3](sinks[n], pid)) == []
        push = sinks[0].get_push(pid)
        assert [push["authorised"], push["rejected"], push["canceled"]].count(True) == 1


def test_parallel_user_updates_merge_every_field(sinks):
    sinks[0].create_user({"username": "alice", "email": "alice@example.com"})
    assert _together(lambda n: sinks[n].update_user({"username": "alice", f"field{n}": n})) == []
    user = sinks[0].find_user("alice")
    assert all(user[f"field{n}"] == n for n in range(WORKERS))


def test_the_same_key_added_in_parallel_is_stored_once(sinks):
    sinks[0].create_user({"username": "bob", "email": "bob@example.com"})
    errors = _together(lambda n: sinks[n].add_public_key(
        "bob", {"key": "ssh-ed25519 AAAA", "fingerprint": "SHA256:x", "name": f"k{n}"}))
    assert len(errors) == WORKERS - 1 and all(isinstance(e, PublicKeyExists) for e in errors)
    assert len(sinks[0].get_public_keys("bob")) == 1


def test_one_key_added_to_many_users_at_once_ends_with_exactly_one_of_them(sinks):
    for n in range(WORKERS):
        sinks[0].create_user({"username": f"user{n}", "email": f"user{n}@example.com"})
    key = {"key": "ssh-ed25519 BBBB", "fingerprint": "SHA256:y"}
    errors = _together(lambda n: sinks[n].add_public_key(f"user{n}", dict(key, name=f"k{n}")))
    assert len(errors) == WORKERS - 1 and all(isinstance(e, DuplicateSSHKey) for e in errors)
    holders = [n for n in range(WORKERS) if sinks[0].get_public_keys(f"user{n}")]
    assert len(holders) == 1
    assert sinks[0].find_user_by_ssh_key(key["key"])["username"] == f"user{holders[0]}"


NUMBERS = [1e300, -1.7976931348623157e308, 1.152921504606847e18, 1e16, 0.1, 5e-324, 2.0**70,
           123456789.125, 9007199254740993, -0.5, 0]


def test_numbers_round_trip_exactly_through_jsonb(postgres_database):
    sink = open_postgres_sink({"type": "postgres", "connectionString": postgres_database})
    try:
        for n, value in enumerate(NUMBERS):
            sink.write_audit({"id": f"n{n}", "timestamp": value, "commitData": [{"size": value}]})
            push = sink.get_push(f"n{n}")
            assert push["timestamp"] == value, value
            assert type(push["timestamp"]) is type(value), value
            assert push["commitData"][0]["size"] == value, value
            assert [p["id"] for p in sink.get_pushes({"id": f"n{n}"})] == [f"n{n}"]
    finally:
        sink.close()
