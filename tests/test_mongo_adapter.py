"""The mongo adapter's own promises: string ids, malformed ids, operator text, atomicity."""

from __future__ import annotations

import itertools
import threading

import pytest
from bson import ObjectId
from mongo_kit import open_private_sink
from sinkkit.conformance.errors import (
    DuplicateRepo,
    DuplicateSSHKey,
    DuplicateUser,
    InvalidDocument,
    InvalidQuery,
    PublicKeyExists,
    RepoNotFound,
)
from sinkkit.conformance.factories import make_push, make_repo, make_user
from sinkkit.core.clock import ms_from_iso
from sinkkit.fixtures.mongo import MockServer


@pytest.fixture
def server():
    return MockServer()


@pytest.fixture
def sink(server):
    opened = open_private_sink(server)
    yield opened
    opened.close()


# --- string _id round trips ----------------------------------------------------------------------

def test_generated_ids_are_object_id_hex_strings_stored_as_object_ids(sink):
    repo = sink.create_repo(make_repo("alpha"))
    user = sink.create_user(make_user("alice"))
    for doc, col in ((repo, sink.database.repos), (user, sink.database.users)):
        assert isinstance(doc["_id"], str) and ObjectId.is_valid(doc["_id"])
        assert col.find_one()["_id"] == ObjectId(doc["_id"])
    assert sink.get_repo_by_id(repo["_id"]) == repo
    assert sink.get_repo("alpha")["_id"] == repo["_id"]
    assert sink.find_user("alice")["_id"] == user["_id"]
    assert [u["_id"] for u in sink.get_users()] == [user["_id"]]


@pytest.mark.parametrize("given", ["repo-1", "ABCDEF0123456789ABCDEF01", "0123456789abcdef0123456"])
def test_caller_chosen_ids_that_are_not_canonical_object_ids_stay_strings(sink, given):
    repo = sink.create_repo(make_repo("beta", _id=given))
    assert repo["_id"] == given
    assert sink.database.repos.find_one()["_id"] == given
    assert sink.get_repo_by_id(given)["_id"] == given


def test_ids_survive_every_kind_of_update(sink):
    repo = sink.create_repo(make_repo("gamma"))
    sink.add_user_can_push(repo["_id"], "bob")
    assert sink.update_repo(repo["_id"], {"project": "new"})["_id"] == repo["_id"]
    user = sink.create_user(make_user("carol"))
    assert sink.update_user({"_id": user["_id"], "title": "x"})["_id"] == user["_id"]
    assert sink.update_user({"username": "carol", "title": "y"})["_id"] == user["_id"]


def test_pushes_never_show_an_id_field(sink):
    sink.write_audit(make_push("p1"))
    assert "_id" not in sink.get_push("p1")
    assert all("_id" not in p for p in sink.get_pushes({"type": "push"}))
    sink.write_audit(make_push("p2", _id="p2"))
    assert "_id" not in sink.get_push("p2")


def test_a_repo_written_by_node_git_proxy_is_found_and_changed(sink):
    oid = ObjectId()
    sink.database.repos.insert_one({"_id": oid, "project": "p", "name": "legacy",
                                    "url": "https://example.com/p/legacy.git",
                                    "users": {"canPush": None, "canAuthorise": []}})
    assert sink.get_repo_by_id(str(oid))["name"] == "legacy"
    sink.add_user_can_push(str(oid), "Dana")
    changed = sink.get_repo_by_id(str(oid))
    assert changed["users"]["canPush"] == ["dana"] and "lastModified" in changed


# --- malformed ids -------------------------------------------------------------------------------

MALFORMED = ["", "zz", "\x00", "a\x00b", "\ud800", {"$ne": None}, ["x"], 123, None,
             "0" * 23, "g" * 24, "$where", '{"$ne": null}']


@pytest.mark.parametrize("bad", MALFORMED, ids=repr)
def test_malformed_ids_answer_none_or_not_found_never_a_driver_error(sink, bad):
    sink.create_repo(make_repo("delta"))
    sink.write_audit(make_push("p1"))
    assert sink.get_repo_by_id(bad) is None
    assert sink.get_push(bad) is None
    sink.delete_repo(bad)
    sink.delete_push(bad)
    with pytest.raises(RepoNotFound):
        sink.add_user_can_push(bad, "erin")
    assert len(sink.get_repos()) == 1 and sink.get_push("p1") is not None


# --- user values are never operators -------------------------------------------------------------

@pytest.mark.parametrize("name", ["$where", '{"$ne": null}', "$gt", "a.b", "this.x == 1"])
def test_operator_text_is_a_plain_username(sink, name):
    sink.create_user(make_user("other"))
    created = sink.create_user(make_user(name))
    assert sink.find_user(name)["_id"] == created["_id"]
    assert [u["username"] for u in sink.get_users({"username": name})] == [name.lower()]
    sink.delete_user(name)
    assert [u["username"] for u in sink.get_users()] == ["other"]


def test_operator_objects_are_refused_or_find_nothing(sink):
    sink.create_user(make_user("frank"))
    sink.create_repo(make_repo("eps"))
    sink.write_audit(make_push("p1"))
    assert sink.find_user({"$ne": None}) is None
    assert sink.find_user_by_email({"$gt": ""}) is None
    assert sink.get_repo_by_url({"$regex": ".*"}) is None
    with pytest.raises(InvalidQuery):
        sink.get_users({"username": {"$ne": None}})
    with pytest.raises(InvalidQuery):
        sink.get_pushes({"$where": "1 == 1"})
    with pytest.raises(InvalidQuery):
        sink.get_repos({"name": {"$regex": "."}})
    with pytest.raises(InvalidDocument):
        sink.create_user({"username": "x", "$where": "1"})


def test_an_operator_fingerprint_removes_no_key(sink):
    sink.create_user(make_user("gina"))
    sink.add_public_key("gina", {"key": "ssh-ed25519 AAAA", "fingerprint": "SHA256:a"})
    sink.remove_public_key("gina", {"$ne": None})
    sink.remove_public_key("gina", "$ne")
    assert len(sink.get_public_keys("gina")) == 1


def test_profile_lookup_treats_regex_characters_literally(sink):
    sink.write_audit(make_push("p1", attestation={"reviewer": {"username": "a.c"}}))
    sink.write_audit(make_push("p2", attestation={"reviewer": {"username": "abc"}}))
    assert [p["id"] for p in sink.get_pushes_for_user_profile([], "A.C")] == ["p1"]


# --- uniqueness through indexes ------------------------------------------------------------------

def test_unique_indexes_raise_typed_errors_naming_the_field(sink):
    sink.create_user(make_user("hank", email="h@example.com"))
    with pytest.raises(DuplicateUser) as err:
        sink.create_user(make_user("HANK", email="other@example.com"))
    assert err.value.field == "username"
    with pytest.raises(DuplicateUser) as err:
        sink.create_user(make_user("ivan", email="H@example.com"))
    assert err.value.field == "email"
    repo = sink.create_repo(make_repo("zeta", url="https://example.com/z.git"))
    with pytest.raises(DuplicateRepo) as err:
        sink.create_repo(make_repo("eta", url="https://example.com/z.git"))
    assert err.value.field == "url"
    other = sink.create_repo(make_repo("theta", url="https://example.com/t.git"))
    with pytest.raises(DuplicateRepo):
        sink.update_repo(other["_id"], {"url": repo["url"]})


def test_update_user_refuses_field_names_it_cannot_merge_atomically(sink):
    sink.create_user(make_user("lena"))
    with pytest.raises(InvalidDocument):
        sink.update_user({"username": "lena", "a.b": 1})
    assert "a" not in sink.find_user("lena")


# --- permissions: atomic, idempotent, lastModified strictly increasing ---------------------------

def _run_all(targets):
    threads = [threading.Thread(target=t) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def test_concurrent_permission_changes_lose_nothing_and_never_duplicate(sink):
    repo = sink.create_repo(make_repo("iota"))
    names = [f"user{i}" for i in range(12)]
    adds = [lambda n=n: sink.add_user_can_push(repo["_id"], n) for n in names]
    same = [lambda: sink.add_user_can_push(repo["_id"], "Shared") for _ in range(8)]
    auth = [lambda n=n: sink.add_user_can_authorise(repo["_id"], n) for n in names]
    _run_all(adds + same + auth)
    users = sink.get_repo_by_id(repo["_id"])["users"]
    assert sorted(users["canPush"]) == sorted([*names, "shared"])
    assert sorted(users["canAuthorise"]) == sorted(names)
    _run_all([lambda n=n: sink.remove_user_can_push(repo["_id"], n) for n in [*names, "shared"]])
    assert sink.get_repo_by_id(repo["_id"])["users"]["canPush"] == []


def test_last_modified_strictly_increases_across_sinks_on_one_database(server):
    first, second = open_private_sink(server), open_private_sink(server)
    try:
        repo = first.create_repo(make_repo("kappa"))
        seen = [ms_from_iso(repo["lastModified"])]
        for i in range(20):
            (first if i % 2 else second).add_user_can_push(repo["_id"], f"u{i % 3}")
            seen.append(ms_from_iso(first.get_repo_by_id(repo["_id"])["lastModified"]))
        assert all(b > a for a, b in itertools.pairwise(seen))
    finally:
        first.close()
        second.close()


def test_users_listing_never_carries_passwords(sink):
    sink.create_user(make_user("mia", password="secret-hash"))
    assert "password" not in sink.get_users()[0]
    assert sink.find_user("mia")["password"] == "secret-hash"


def test_opening_a_database_whose_documents_break_a_unique_rule_is_a_config_error(server):
    from sinkkit.conformance.errors import ConfigError

    server.client["legacy"]["users"].insert_many([{"username": "dup"}, {"username": "dup"}])
    with pytest.raises(ConfigError) as err:
        open_private_sink(server, database="legacy")
    assert "duplicate" in str(err.value)


# -- one SSH key, one user: the claim documents ------------------------------------------------

KEY = {"key": "ssh-ed25519 AAAAclaimed", "fingerprint": "SHA256:claimed"}


def _two_users(sink):
    """Create alice and bob; their ids as stored (ObjectId), which the claims hold."""
    for name in ("alice", "bob"):
        sink.create_user(make_user(name))
    return tuple(sink._users.find_one({"username": n})["_id"] for n in ("alice", "bob"))


def test_an_orphaned_claim_is_taken_over_after_the_wait(sink, monkeypatch):
    alice, _ = _two_users(sink)
    sink.add_public_key("alice", dict(KEY))
    # the key leaves alice another way (update_user): her claim is now an orphan
    sink.update_user({"username": "alice", "publicKeys": []})
    monkeypatch.setattr("sinkkit.adapters.mongo.sink._CLAIM_WAIT_S", 0.05)
    sink.add_public_key("bob", dict(KEY))
    assert sink.find_user_by_ssh_key(KEY["key"])["username"] == "bob"
    assert sink._claims.find_one({"_id": KEY["key"]})["user"] != alice


def test_an_add_whose_claim_was_taken_over_mid_flight_withdraws_its_key(sink, monkeypatch):
    _, bob = _two_users(sink)
    real_claim = type(sink)._claim

    def claim_then_lose_it(self, key, uid):
        real_claim(self, key, uid)
        # bob's add takes the claim over between alice's claim and her push
        self._claims.update_one({"_id": key}, {"$set": {"user": bob}})
        self._users.update_one({"_id": bob}, {"$push": {"publicKeys": dict(KEY)}})

    monkeypatch.setattr(type(sink), "_claim", claim_then_lose_it)
    with pytest.raises(DuplicateSSHKey, match="bob"):
        sink.add_public_key("alice", dict(KEY))
    assert sink.get_public_keys("alice") == []
    assert sink.find_user_by_ssh_key(KEY["key"])["username"] == "bob"


def test_a_claim_held_by_an_add_in_flight_refuses_the_rival_once_the_push_lands(sink):
    alice, _ = _two_users(sink)
    sink._claims.insert_one({"_id": KEY["key"], "user": alice})  # alice's add, before its push
    landed = threading.Timer(0.2, lambda: sink._users.update_one(
        {"_id": alice}, {"$push": {"publicKeys": dict(KEY)}}))
    landed.start()
    with pytest.raises(DuplicateSSHKey, match="alice"):
        sink.add_public_key("bob", dict(KEY))
    landed.join()
    assert sink.get_public_keys("bob") == []


def test_removing_or_deleting_releases_the_claim(sink):
    _two_users(sink)
    sink.add_public_key("alice", dict(KEY))
    sink.remove_public_key("alice", KEY["fingerprint"])
    assert sink._claims.count_documents({}) == 0
    sink.add_public_key("bob", dict(KEY))
    sink.delete_user("bob")
    assert sink._claims.count_documents({}) == 0
    sink.add_public_key("alice", dict(KEY))  # at once: no orphan left to wait for
    assert sink.find_user_by_ssh_key(KEY["key"])["username"] == "alice"


def test_a_key_refused_for_its_fingerprint_leaves_no_claim(sink):
    _two_users(sink)
    sink.add_public_key("alice", dict(KEY))
    with pytest.raises(PublicKeyExists):
        sink.add_public_key("alice", {"key": "ssh-ed25519 AAAAother",
                                      "fingerprint": KEY["fingerprint"]})
    assert [c["_id"] for c in sink._claims.find()] == [KEY["key"]]


def test_a_claim_released_while_the_push_was_in_flight_is_claimed_again(sink, monkeypatch):
    alice, _ = _two_users(sink)
    real_claim = type(sink)._claim
    calls = []

    def claim_then_lose_it(self, key, uid):
        real_claim(self, key, uid)
        calls.append(uid)
        if len(calls) == 1:  # a concurrent remove released it before the push landed
            self._claims.delete_one({"_id": key})

    monkeypatch.setattr(type(sink), "_claim", claim_then_lose_it)
    sink.add_public_key("alice", dict(KEY))
    assert calls == [alice, alice]
    assert sink._claims.find_one({"_id": KEY["key"]})["user"] == alice
    assert sink.find_user_by_ssh_key(KEY["key"])["username"] == "alice"
