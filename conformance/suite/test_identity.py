"""Identity: opaque string ids for users and repos, caller ids for pushes, malformed-id lookups."""

from __future__ import annotations

import pytest
from sinkkit.conformance.clauses import clause
from sinkkit.conformance.errors import DuplicateRepo, DuplicateUser
from sinkkit.conformance.factories import make_push, make_repo, make_user

MALFORMED_IDS = ["", "x", "not-a-hex-id", "0" * 23, "'; DROP TABLE repos; --",
                 '{"$ne": null}', "$where", "../../etc/passwd", "g" * 24, "\u00e9" * 12,
                 # not strings at all: no backend holds such an id
                 7, None, ["p1"], {"$ne": None}, True]


@clause("identity.users.opaque-string-id")
def test_a_user_id_is_a_stable_non_empty_string(sink):
    created = sink.create_user(make_user("alice"))
    assert isinstance(created["_id"], str) and created["_id"]
    sink.update_user({"username": "alice", "title": "x"})
    assert sink.find_user("alice")["_id"] == created["_id"]
    assert sink.get_users()[0]["_id"] == created["_id"]


@clause("identity.repos.opaque-string-id")
def test_a_repo_id_is_a_stable_non_empty_string(sink):
    created = sink.create_repo(make_repo("r"))
    assert isinstance(created["_id"], str) and created["_id"]
    sink.add_user_can_push(created["_id"], "alice")
    sink.update_repo(created["_id"], {"project": "q"})
    assert sink.get_repo("r")["_id"] == created["_id"]
    assert sink.get_repo_by_id(created["_id"])["_id"] == created["_id"]
    assert sink.get_repos()[0]["_id"] == created["_id"]


@clause("identity.pushes.keyed-by-id")
def test_pushes_are_keyed_by_their_id(sink):
    sink.write_audit(make_push("abc"))
    stored = sink.get_push("abc")
    assert stored["id"] == "abc"
    assert stored.get("_id", "abc") == "abc"
    sink.write_audit(make_push("abc", branch="refs/heads/other"))
    assert len(sink.get_pushes({})) == 1


@clause("identity.pushes.keyed-by-id")
def test_a_push_id_equal_to_id_is_accepted_and_a_different_one_refused(sink):
    from sinkkit.conformance.errors import InvalidDocument

    sink.write_audit(make_push("same", _id="same"))
    with pytest.raises(InvalidDocument):
        sink.write_audit(make_push("one", _id="other"))
    assert sink.get_push("one") is None


@clause("identity.malformed-id-returns-none")
@pytest.mark.parametrize("bad", MALFORMED_IDS)
def test_lookups_by_a_malformed_id_return_none(sink, bad):
    repo = sink.create_repo(make_repo("r"))
    sink.write_audit(make_push("p1"))
    assert sink.get_repo_by_id(bad) is None
    assert sink.get_push(bad) is None
    # well-formed ids still find what they name
    assert sink.get_repo_by_id(repo["_id"])["name"] == "r"
    assert sink.get_push("p1")["id"] == "p1"


@clause("identity.caller-supplied-id-kept")
def test_a_caller_supplied_id_is_kept_and_must_be_unique(sink):
    user = sink.create_user(make_user("alice", _id="user-0001"))
    repo = sink.create_repo(make_repo("r", _id="repo-0001"))
    assert user["_id"] == "user-0001" and repo["_id"] == "repo-0001"
    assert sink.get_repo_by_id("repo-0001")["name"] == "r"
    with pytest.raises(DuplicateUser) as user_err:
        sink.create_user(make_user("bob", _id="user-0001"))
    with pytest.raises(DuplicateRepo) as repo_err:
        sink.create_repo(make_repo("s", _id="repo-0001"))
    assert (user_err.value.field, user_err.value.value) == ("_id", "user-0001")
    assert (repo_err.value.field, repo_err.value.value) == ("_id", "repo-0001")
    assert sink.find_user("bob") is None and sink.get_repo("s") is None


@clause("identity.caller-supplied-id-kept")
def test_caller_supplied_ids_keep_their_case(sink):
    user = sink.create_user(make_user("alice", _id="User-AbC"))
    repo = sink.create_repo(make_repo("r", _id="Repo-AbC"))
    assert (user["_id"], repo["_id"]) == ("User-AbC", "Repo-AbC")
    assert sink.get_repo_by_id("Repo-AbC")["name"] == "r"
    assert sink.get_repo_by_id("repo-abc") is None
    sink.create_repo(make_repo("s", _id="repo-abc"))  # another id: no duplicate
    assert sink.get_repo_by_id("repo-abc")["name"] == "s"
    assert sink.find_user("alice")["_id"] == "User-AbC"
