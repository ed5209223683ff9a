"""The UI session store (express-session semantics): round trips, expiry, pruning, persistence."""

from __future__ import annotations

import time

import pytest
from sinkkit.conformance.capabilities import NotApplicable
from sinkkit.conformance.clauses import clause
from sinkkit.conformance.factories import make_session
from sinkkit.core.clock import iso_from_ms


def _in(ms: int) -> str:
    return iso_from_ms(int(time.time() * 1000) + ms)


def live(**fields):
    return make_session(cookie={"expires": _in(3_600_000), "originalMaxAge": 3_600_000,
                                "httpOnly": True, "path": "/"}, **fields)


def expired(**fields):
    return make_session(cookie={"expires": _in(-60_000), "originalMaxAge": 1000,
                                "httpOnly": True, "path": "/"}, **fields)


@pytest.fixture
def store(sink):
    return sink.session_store


@clause("sessions.store.ready-at-open")
def test_the_session_store_works_as_soon_as_the_sink_opens(sink):
    store = sink.session_store
    for method in ("get", "set", "destroy", "touch", "all", "length", "clear", "prune"):
        assert callable(getattr(store, method)), method
    assert isinstance(store.default_ttl, int) and store.default_ttl > 0
    store.set("first", live())
    assert store.get("first") is not None


@clause("sessions.set-get.round-trips")
def test_a_session_round_trips_exactly(store):
    sess = live(passport={"user": "alice"}, flash={"msg": ["Grüße 'x' \"y\""]}, n=[1, 2.5, None])
    store.set("sid-1", sess)
    assert store.get("sid-1") == sess
    assert store.get("unknown") is None


@clause("sessions.set.overwrites")
def test_set_replaces_an_existing_session(store):
    store.set("sid", live(step=1, old=True))
    store.set("sid", live(step=2))
    got = store.get("sid")
    assert got["step"] == 2 and "old" not in got
    assert store.length() == 1


@clause("sessions.destroy.removes")
def test_destroy_removes_and_unknown_sids_are_a_no_op(store):
    store.set("a", live())
    store.set("b", live())
    store.destroy("a")
    store.destroy("never")
    assert store.get("a") is None and store.get("b") is not None


@clause("sessions.all-and-length")
def test_all_and_length_cover_live_sessions(store):
    sessions = {f"s{i}": live(i=i) for i in range(3)}
    for sid, sess in sessions.items():
        store.set(sid, sess)
    store.set("stale", expired())  # not live: neither listed nor counted
    assert store.all() == sessions
    assert store.length() == 3


@clause("sessions.clear.removes-all")
def test_clear_removes_every_session(store):
    for i in range(3):
        store.set(f"s{i}", live())
    assert store.length() == 3
    store.clear()
    assert store.length() == 0 and store.all() == {}


@clause("sessions.expiry.cookie-expires")
def test_a_session_past_its_cookie_expiry_is_invisible(store):
    store.set("old", expired())
    store.set("new", live())
    assert store.get("old") is None
    assert list(store.all()) == ["new"]
    assert store.length() == 1


@clause("sessions.expiry.cookie-expires")
def test_cookie_expires_wins_over_max_age(store):
    sess = make_session(cookie={"expires": _in(-1000), "maxAge": 3_600_000, "path": "/"})
    store.set("s", sess)
    assert store.get("s") is None


@clause("sessions.expiry.max-age")
def test_max_age_decides_expiry_without_an_expires_date(store):
    store.set("long", make_session(cookie={"maxAge": 3_600_000, "path": "/"}))
    store.set("gone", make_session(cookie={"maxAge": -1000, "path": "/"}))
    assert store.get("long") is not None
    assert store.get("gone") is None


@clause("sessions.expiry.max-age")
def test_max_age_is_counted_in_milliseconds(store):
    # 1.5 s: read as seconds it would live 25 minutes, read as microseconds it is gone at once
    store.set("short", make_session(cookie={"maxAge": 1500, "path": "/"}))
    assert store.get("short") is not None
    time.sleep(1.7)
    assert store.get("short") is None


@clause("sessions.expiry.default-ttl")
def test_the_default_ttl_applies_without_expires_or_max_age(store):
    store.set("s", make_session(cookie={"path": "/"}))
    assert store.get("s") is not None
    assert store.length() == 1
    assert store.default_ttl >= 60


@clause("sessions.expiry.default-ttl")
def test_the_session_ttl_option_is_counted_in_seconds(sink_entry, open_sink, sinkkit_opened):
    if sink_entry.get("type") == "bridge":
        # the peer process opens its own backend: a git-proxy option reaches only the kit's client
        raise NotApplicable(None, "a bridge peer configures its own session store")
    # 2 s: read as milliseconds the session is gone at once, read as minutes it outlives the test
    entry = {**sink_entry, "options": {**(sink_entry.get("options") or {}), "sessionTtl": 2}}
    store = sinkkit_opened.add(open_sink([entry])).session_store
    assert store.default_ttl == 2
    store.set("s", make_session(cookie={"path": "/"}))
    assert store.get("s") is not None
    time.sleep(2.3)
    assert store.get("s") is None


@clause("sessions.expiry.pruned")
def test_prune_deletes_expired_sessions_only(store):
    store.set("old1", expired())
    store.set("old2", expired())
    store.set("live", live())
    assert store.prune() == 2
    assert store.prune() == 0
    assert list(store.all()) == ["live"]


@clause("sessions.touch.extends")
def test_touch_moves_expiry_of_a_live_session(store):
    store.set("s", make_session(cookie={"expires": _in(2000), "path": "/"}, data=1))
    store.touch("s", make_session(cookie={"expires": _in(3_600_000), "path": "/"}, data=1))
    time.sleep(2.2)
    assert store.get("s") is not None


@clause("sessions.touch.extends")
def test_touch_does_not_resurrect_expired_or_destroyed_sessions(store):
    store.set("old", expired())
    store.touch("old", live())
    store.touch("never", live())
    assert store.get("old") is None and store.get("never") is None


@clause("sessions.persistent.survive-reopen")
def test_sessions_survive_reopening_the_sink(sink, reopen):
    sess = live(passport={"user": "alice"})
    sink.session_store.set("keep", sess)
    sink.close()
    again = reopen(sink)
    assert again.session_store.get("keep") == sess
