"""Session documents are exactly what connect-mongo (as git-proxy sets it up) reads and writes."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from mongo_kit import open_private_sink
from sinkkit.adapters.mongo.sessions import COLLECTION, TTL_INDEX_NAME, serialise
from sinkkit.conformance.errors import InvalidDocument
from sinkkit.conformance.factories import make_session
from sinkkit.core.clock import iso_from_ms, ms_from_iso


@pytest.fixture
def sink():
    opened = open_private_sink()
    yield opened
    opened.close()


def _raw(sink):
    return sink.database[COLLECTION]


def _future_iso(hours: int = 1) -> str:
    return iso_from_ms(int((datetime.now(timezone.utc) + timedelta(hours=hours)).timestamp()
                           * 1000))


def _as_ms(value: datetime) -> int:
    aware = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    return round(aware.timestamp() * 1000)


def test_a_session_document_has_connect_mongos_shape(sink):
    expires = _future_iso()
    sess = make_session(cookie={"originalMaxAge": 3600000, "expires": expires,
                                "httpOnly": True, "path": "/"}, note="ünïcode \"quoted\"")
    sink.session_store.set("sid-1", sess)
    doc = _raw(sink).find_one({"_id": "sid-1"})
    assert set(doc) == {"_id", "session", "expires"}
    assert isinstance(doc["session"], str)  # stringify: true
    assert json.loads(doc["session"]) == sess
    # JSON.stringify's output: no spaces after separators, non-ASCII written as is
    assert doc["session"] == (
        '{"cookie":{"originalMaxAge":3600000,"expires":"' + expires + '","httpOnly":true,'
        '"path":"/"},"passport":{"user":"alice"},"note":"ünïcode \\"quoted\\""}')
    assert isinstance(doc["expires"], datetime)
    assert _as_ms(doc["expires"]) == ms_from_iso(expires)


def test_the_ttl_index_is_the_one_connect_mongo_creates(sink):
    info = _raw(sink).index_information()[TTL_INDEX_NAME]
    assert info["key"] == [("expires", 1)]
    assert info["expireAfterSeconds"] == 0


def test_a_session_written_by_connect_mongo_is_read(sink):
    sess = {"cookie": {"originalMaxAge": None, "expires": None, "httpOnly": True, "path": "/"},
            "passport": {"user": "bob"}}
    future = datetime.now(timezone.utc) + timedelta(days=14)
    _raw(sink).insert_one({"_id": "node-sid", "session": serialise(sess), "expires": future})
    assert sink.session_store.get("node-sid") == sess
    assert "node-sid" in sink.session_store.all()


def test_a_session_stored_with_stringify_false_is_read_too(sink):
    when = datetime(2031, 1, 2, 3, 4, 5, 678000, tzinfo=timezone.utc)
    future = datetime.now(timezone.utc) + timedelta(days=1)
    _raw(sink).insert_one({"_id": "obj", "session": {"cookie": {"expires": when}, "n": 1},
                           "expires": future})
    assert sink.session_store.get("obj") == {"cookie": {"expires": "2031-01-02T03:04:05.678Z"},
                                              "n": 1}


def test_a_document_without_expires_never_expires_as_in_connect_mongo(sink):
    _raw(sink).insert_one({"_id": "forever", "session": "{}"})
    assert sink.session_store.get("forever") == {}
    assert sink.session_store.length() == 1


def test_touching_a_missing_session_creates_nothing(sink):
    sink.session_store.touch("ghost", make_session())
    assert _raw(sink).count_documents({}) == 0


def test_clear_keeps_the_ttl_index(sink):
    sink.session_store.set("a", make_session())
    sink.session_store.clear()
    assert sink.session_store.length() == 0
    assert TTL_INDEX_NAME in _raw(sink).index_information()


def test_operator_text_is_a_plain_session_id(sink):
    sink.session_store.set("$where", make_session(n=1))
    sink.session_store.set('{"$ne": null}', make_session(n=2))
    assert sink.session_store.get("$where")["n"] == 1
    assert sink.session_store.get('{"$ne": null}')["n"] == 2
    sink.session_store.destroy("$where")
    assert list(sink.session_store.all()) == ['{"$ne": null}']


def test_session_ttl_option_sets_the_default_ttl():
    opened = open_private_sink(options={"sessionTtl": 120})
    try:
        assert opened.session_store.default_ttl == 120
    finally:
        opened.close()


def test_expired_sessions_wait_for_prune_as_on_a_server_between_ttl_monitor_runs(sink):
    past = datetime.now(timezone.utc) - timedelta(minutes=1)
    _raw(sink).insert_one({"_id": "old", "session": "{}", "expires": past})
    assert sink.session_store.get("old") is None
    assert sink.session_store.prune() == 1


def test_touching_a_missing_session_with_an_unreadable_expiry_is_a_no_op(sink):
    sink.session_store.touch("ghost", {"cookie": {"expires": "not a date"}})
    sink.session_store.set("live", make_session())
    with pytest.raises(InvalidDocument):
        sink.session_store.touch("live", {"cookie": {"expires": "not a date"}})


def test_the_default_lifetime_is_connect_mongos_fourteen_days():
    opened = open_private_sink()
    try:
        assert opened.session_store.default_ttl == 14 * 24 * 3600
        opened.session_store.set("no-expiry", make_session(cookie={}))
        doc = _raw(opened).find_one({"_id": "no-expiry"})
        lifetime = _as_ms(doc["expires"]) - _as_ms(datetime.now(timezone.utc))
        # the kit's clock is strictly increasing, so under many calls a millisecond a call it
        # may run a little ahead of the wall clock read here: a second of slack
        assert 13 * 24 * 3600 * 1000 < lifetime <= 14 * 24 * 3600 * 1000 + 1000
    finally:
        opened.close()
