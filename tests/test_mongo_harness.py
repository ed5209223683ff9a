"""The mongo lanes' harnesses: mongomock wiring, and the real lane never passing silently."""

from __future__ import annotations

import pymongo
import pytest
from sinkkit.conformance.errors import Unavailable
from sinkkit.conformance.harness import Slot
from sinkkit.fixtures import docker
from sinkkit.fixtures.mongo import (
    ENV_URL,
    MOCK_HOST,
    MONGO_IMAGE,
    MongoHarness,
    MongomockHarness,
    with_database,
)


def test_the_mongo_lane_without_url_or_docker_fails_at_start_naming_both_ways(
        monkeypatch, tmp_path):
    monkeypatch.delenv(ENV_URL, raising=False)
    monkeypatch.setenv("SINKKIT_NO_DOCKER", "1")
    docker.docker_status.cache_clear()
    try:
        with pytest.raises(RuntimeError) as err:
            MongoHarness().start(tmp_path, "gw-test")
    finally:
        docker.docker_status.cache_clear()
    message = str(err.value)
    assert ENV_URL in message and "Docker" in message and MONGO_IMAGE in message


def test_with_database_replaces_only_the_path():
    assert with_database("mongodb://u:p@h:1/?authSource=admin", "t_1") == \
        "mongodb://u:p@h:1/t_1?authSource=admin"
    assert with_database("mongodb://h1,h2/old", "new") == "mongodb://h1,h2/new"


def test_mongomock_harness_reopens_the_same_data_and_isolates_slots(tmp_path):
    harness = MongomockHarness()
    harness.start(tmp_path, "gw-test")
    try:
        a = Slot(tmp_path=tmp_path, name="slot_a", worker="gw-test")
        b = Slot(tmp_path=tmp_path, name="slot_b", worker="gw-test")
        first = harness.new_sink(a)
        first.record_migration("m1")
        again = harness.reopen(a, first)
        other = harness.new_sink(b)
        assert again.get_applied_migrations() == ["m1"]
        assert other.get_applied_migrations() == []
        for slot, sink in ((b, other), (a, again), (a, first)):
            harness.discard(slot, sink)
    finally:
        harness.stop()


def test_mongomock_harness_patches_only_its_own_host(tmp_path):
    original = pymongo.MongoClient
    harness = MongomockHarness()
    harness.start(tmp_path, "gw-test")
    try:
        real = pymongo.MongoClient("mongodb://127.0.0.1:1/x", connect=False)
        assert isinstance(real, original)
        real.close()
        mocked = pymongo.MongoClient(f"mongodb://{MOCK_HOST}/x")
        assert not isinstance(mocked, original)
    finally:
        harness.stop()
    assert pymongo.MongoClient is original


def test_the_mongo_lane_with_an_unreachable_url_fails_at_start_with_the_password_masked(
        monkeypatch, tmp_path):
    monkeypatch.setenv(ENV_URL, "mongodb://admin:hunter2-x@127.0.0.1:1/?serverSelectionTimeoutMS=300")
    with pytest.raises(Unavailable) as err:
        MongoHarness().start(tmp_path, "gw-test")
    assert "hunter2-x" not in str(err.value) and "127.0.0.1:1" in str(err.value)
