"""SSH public keys held by users: add, remove, list and lookup by key."""

from __future__ import annotations

import pytest
from sinkkit.conformance.clauses import clause
from sinkkit.conformance.errors import DuplicateSSHKey, PublicKeyExists, UserNotFound
from sinkkit.conformance.factories import make_key, make_user


@pytest.fixture
def alice(sink):
    return sink.create_user(make_user("alice"))


@clause("keys.list.insertion-order")
def test_keys_are_listed_in_insertion_order(sink, alice):
    assert sink.get_public_keys("alice") == []
    for n in (3, 1, 2):
        sink.add_public_key("alice", make_key(n))
    assert sink.get_public_keys("ALICE") == [make_key(3), make_key(1), make_key(2)]


@clause("keys.find.user-by-key")
def test_find_user_by_ssh_key_finds_the_holder(sink, alice):
    sink.add_public_key("alice", make_key(1))
    sink.create_user(make_user("bob"))
    sink.add_public_key("bob", make_key(2))
    assert sink.find_user_by_ssh_key(make_key(1)["key"])["username"] == "alice"
    assert sink.find_user_by_ssh_key(make_key(2)["key"])["username"] == "bob"
    assert sink.find_user_by_ssh_key(make_key(1)["key"][:-3]) is None


@clause("keys.find.user-by-key")
def test_find_user_by_ssh_key_matches_the_key_in_its_exact_case(sink, alice):
    key = make_key(1, key="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMixedCaseBody alice@host")
    sink.add_public_key("alice", key)
    assert sink.find_user_by_ssh_key(key["key"])["username"] == "alice"
    assert sink.find_user_by_ssh_key(key["key"].lower()) is None
    assert sink.find_user_by_ssh_key(key["key"].upper()) is None


@clause("keys.add.held-by-other-user-refused")
def test_a_key_held_by_another_user_is_refused(sink, alice):
    sink.create_user(make_user("bob"))
    sink.add_public_key("alice", make_key(1))
    with pytest.raises(DuplicateSSHKey) as err:
        sink.add_public_key("bob", make_key(1, name="stolen"))
    assert err.value.owner == "alice"
    assert sink.get_public_keys("bob") == []
    assert sink.get_public_keys("alice") == [make_key(1)]
    sink.add_public_key("bob", make_key(2))
    assert sink.get_public_keys("bob") == [make_key(2)]


@clause("keys.add.same-key-or-fingerprint-refused")
def test_the_same_key_twice_on_one_user_is_refused(sink, alice):
    sink.add_public_key("alice", make_key(1))
    with pytest.raises(PublicKeyExists) as err:
        sink.add_public_key("ALICE", make_key(1, name="again"))
    assert (err.value.username, err.value.value) == ("alice", make_key(1)["fingerprint"])
    assert sink.get_public_keys("alice") == [make_key(1)]


@clause("keys.add.same-key-or-fingerprint-refused")
def test_the_same_key_under_another_fingerprint_is_refused(sink, alice):
    sink.add_public_key("alice", make_key(1))
    with pytest.raises(PublicKeyExists):
        sink.add_public_key("alice", make_key(1, fingerprint="SHA256:another"))
    assert sink.get_public_keys("alice") == [make_key(1)]


@clause("keys.add.same-key-or-fingerprint-refused")
def test_another_key_with_the_same_fingerprint_is_refused(sink, alice):
    sink.add_public_key("alice", make_key(1))
    with pytest.raises(PublicKeyExists):
        sink.add_public_key("alice", make_key(2, fingerprint=make_key(1)["fingerprint"]))
    assert len(sink.get_public_keys("alice")) == 1


@clause("keys.remove.by-fingerprint")
def test_remove_public_key_removes_by_fingerprint(sink, alice):
    for n in (1, 2, 3):
        sink.add_public_key("alice", make_key(n))
    sink.remove_public_key("alice", make_key(2)["fingerprint"])
    sink.remove_public_key("alice", "SHA256:unknown")
    assert sink.get_public_keys("alice") == [make_key(1), make_key(3)]
    assert sink.find_user_by_ssh_key(make_key(2)["key"]) is None


@clause("keys.remove.by-fingerprint")
@pytest.mark.parametrize("spelling", [str.lower, str.upper, lambda f: f[:-1], lambda f: f + "="],
                         ids=["lower", "upper", "prefix", "padded"])
def test_a_fingerprint_that_is_not_exactly_the_same_removes_nothing(sink, alice, spelling):
    sink.add_public_key("alice", make_key(1))
    sink.remove_public_key("alice", spelling(make_key(1)["fingerprint"]))
    assert sink.get_public_keys("alice") == [make_key(1)]
    sink.remove_public_key("alice", make_key(1)["fingerprint"])
    assert sink.get_public_keys("alice") == []


@clause("keys.missing-user-raises")
@pytest.mark.parametrize("call", [
    lambda s: s.add_public_key("ghost", make_key(1)),
    lambda s: s.remove_public_key("ghost", make_key(1)["fingerprint"]),
    lambda s: s.get_public_keys("ghost"),
], ids=["add", "remove", "get"])
def test_key_operations_on_a_missing_user_raise(sink, alice, call):
    with pytest.raises(UserNotFound) as err:
        call(sink)
    assert err.value.key == "ghost"
    # the same call on a user who exists goes through
    sink.create_user(make_user("ghost"))
    call(sink)
    sink.add_public_key("ghost", make_key(2))
    assert make_key(2) in sink.get_public_keys("ghost")
