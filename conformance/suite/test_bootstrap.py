"""Bootstrap: an empty store is ready at open; reopening keeps everything; closed means closed."""

from __future__ import annotations

import threading

import pytest
from sinkkit.conformance.clauses import clause
from sinkkit.conformance.errors import Unavailable
from sinkkit.conformance.factories import make_key, make_push, make_repo, make_user


@clause("bootstrap.empty-store-ready")
def test_a_new_sink_is_empty_and_usable(sink):
    assert sink.get_users() == []
    assert sink.get_repos() == []
    assert sink.get_pushes() == [] and sink.get_pushes({}) == []
    assert sink.get_applied_migrations() == []
    assert sink.session_store.length() == 0
    sink.write_audit(make_push("p1"))
    assert sink.get_push("p1") is not None


def _populate(sink):
    user = sink.create_user(make_user("alice"))
    sink.add_public_key("alice", make_key(1))
    repo = sink.create_repo(make_repo("r"))
    sink.add_user_can_push(repo["_id"], "alice")
    sink.write_audit(make_push("p1"))
    sink.authorise("p1", {"reviewer": {"username": "bob"}})
    sink.record_migration("2026-01-01-first")
    return user, repo


@clause("bootstrap.reopen-keeps-data")
def test_reopening_keeps_every_object(sink, reopen):
    _populate(sink)
    before = (sink.find_user("alice"), sink.get_repos(), sink.get_push("p1"),
              sink.get_applied_migrations())
    sink.close()
    again = reopen(sink)
    after = (again.find_user("alice"), again.get_repos(), again.get_push("p1"),
             again.get_applied_migrations())
    assert after == before


@clause("bootstrap.reopen-keeps-data")
def test_reopening_twice_changes_nothing(sink, reopen):
    _populate(sink)
    sink.close()
    first = reopen(sink)
    snapshot = (first.get_users(), first.get_repos(), first.get_pushes({}))
    first.close()
    second = reopen(sink)
    assert (second.get_users(), second.get_repos(), second.get_pushes({})) == snapshot


@clause("bootstrap.concurrent-open")
def test_several_sinks_opened_at_once_all_work(sink, reopen):
    opened, errors = [], []
    barrier = threading.Barrier(4)

    def open_one():
        try:
            barrier.wait()
            opened.append(reopen(sink))
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors and len(opened) == 4
    opened[0].write_audit(make_push("shared"))
    assert all(s.get_push("shared") is not None for s in opened)


@clause("bootstrap.closed-sink-unavailable")
@pytest.mark.parametrize("call", [  # every argument given: the peer gets no defaults filled in
    lambda s: s.get_pushes(None),
    lambda s: s.find_user("alice"),
    lambda s: s.create_repo(make_repo("r")),
], ids=["get_pushes", "find_user", "create_repo"])
def test_calls_on_a_closed_sink_raise_unavailable(sink, call, sinkkit_harness):
    sink.write_audit(make_push("p1"))
    sink.create_user(make_user("alice"))
    assert sink.get_pushes() and sink.find_user("alice")  # open, the sink answers
    sink.close()
    with pytest.raises(Unavailable) as err:
        call(sinkkit_harness.as_adapter_answers(sink.raw))
    assert "closed" in str(err.value)  # the error names the problem


@clause("bootstrap.closed-sink-unavailable")
def test_close_is_idempotent(sink):
    sink.close()
    sink.close()
