"""The UI session store (express-session semantics): round trips, expiry, pruning, persistence."""

from __future__ import annotations

import time

import pytest
from sinkkit.conformance.clauses import clause
from sinkkit.conformance.errors import InvalidDocument
from sinkkit.conformance.factories import make_session
from sinkkit.conformance.plugin import add_notes
from sinkkit.core.clock import iso_from_ms
from sinkkit.core.rules import MAX_KEY_BYTES


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


@clause("sessions.set-get.round-trips")
def test_session_ids_match_exactly_in_case(store):
    store.set("Sid-AbC", live(n=1))
    assert store.get("Sid-AbC")["n"] == 1
    assert store.get("sid-abc") is None and store.get("SID-ABC") is None


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
@pytest.mark.parametrize("max_age", [-1000, 1, 3_600_000])
def test_max_age_without_an_expires_date_is_not_read(store, max_age):
    # a past maxAge would hide the session at once, a short one within a second: the store's
    # default TTL (a day or more on every lane) keeps it, as connect-mongo and connect-pg-simple do
    store.set("s", make_session(cookie={"maxAge": max_age, "originalMaxAge": max_age,
                                        "path": "/"}))
    time.sleep(0.01)
    assert store.get("s") is not None
    assert "s" in store.all() and store.length() == 1


@clause("sessions.expiry.default-ttl")
def test_the_default_ttl_applies_without_expires_or_max_age(store):
    store.set("s", make_session(cookie={"path": "/"}))
    assert store.get("s") is not None
    assert store.length() == 1
    assert store.default_ttl >= 60


#: a default TTL short enough to wait out, long enough that a live read is never late
SHORT_TTL_SECONDS = 2


@clause("sessions.expiry.default-ttl")
def test_the_default_ttl_is_counted_in_seconds(sink_entry, sinkkit_opened, open_sink, request,
                                              sinkkit_harness):
    # the unit is what a wrong store gets wrong (a TTL added to a millisecond clock as it is,
    # or taken as minutes), and the default of a day is too long to tell either way
    options = {**(sink_entry.get("options") or {}), "sessionTtl": SHORT_TTL_SECONDS}
    short = sinkkit_opened.add(open_sink([dict(sink_entry, options=options)])).session_store
    # an adapter that reads sessionTtl from its entry and then drops it fails here; only a
    # harness that says the entry cannot reach its store is let off with a note
    assert short.default_ttl == SHORT_TTL_SECONDS or not sinkkit_harness.session_ttl_from_entry, (
        f"the sink entry's options.sessionTtl ({SHORT_TTL_SECONDS}) did not set the session "
        f"store's default_ttl ({short.default_ttl})")
    if short.default_ttl != SHORT_TTL_SECONDS:
        # the other test of the clause still holds the adapter to its default; only the unit
        # goes unchecked, and the clause's row says so
        add_notes(request.node, [
            f"default-ttl unit not checked: the sink entry's options.sessionTtl does not set "
            f"this adapter's default_ttl (it stays {short.default_ttl})"])
        return
    short.set("s", make_session(cookie={"path": "/"}))
    time.sleep(SHORT_TTL_SECONDS / 4)  # long past the same number of milliseconds
    assert short.get("s") is not None, (
        f"a session with a {SHORT_TTL_SECONDS} s default TTL was gone after "
        f"{SHORT_TTL_SECONDS / 4} s")
    time.sleep(SHORT_TTL_SECONDS * 3 / 4 + 0.5)
    assert short.get("s") is None, (
        f"a session with a {SHORT_TTL_SECONDS} s default TTL was still live "
        f"{SHORT_TTL_SECONDS + 0.5} s later")
    assert short.length() == 0


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


@clause("sessions.set.long-sid-refused")
def test_a_session_id_over_the_key_limit_is_refused(store):
    sid = "s" * (MAX_KEY_BYTES + 1)
    with pytest.raises(InvalidDocument) as err:
        store.set(sid, make_session())
    assert "session id" in str(err.value) and str(MAX_KEY_BYTES) in str(err.value)
    assert store.length() == 0
    # the limit itself is stored and read back: a store refusing or dropping every sid fails
    at_limit = "s" * MAX_KEY_BYTES
    store.set(at_limit, make_session(cookie={"path": "/limit"}))
    assert store.get(at_limit)["cookie"]["path"] == "/limit"
    assert store.length() == 1
