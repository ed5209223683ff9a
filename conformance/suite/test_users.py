"""Users: creation, case folding, uniqueness, lookups, listing and update_user's upsert-merge."""

from __future__ import annotations

import pytest
from sinkkit.conformance.clauses import clause
from sinkkit.conformance.errors import DuplicateUser, InvalidDocument, InvalidQuery, UserNotFound
from sinkkit.conformance.factories import make_key, make_user


@clause("users.create.returns-stored-user")
def test_create_user_returns_the_stored_user(sink):
    created = sink.create_user(make_user("alice", displayName="Alice A."))
    assert created["username"] == "alice" and created["displayName"] == "Alice A."
    found = sink.find_user("alice")
    assert found["_id"] == created["_id"]
    assert found["displayName"] == "Alice A." and found["password"] == created["password"]


@clause("users.create.returns-stored-user")
def test_a_created_user_holds_exactly_the_given_fields(sink):
    given = make_user("alice", _id="user-1", title="Lead")
    created = sink.create_user(given)
    assert created == {**given, "publicKeys": []}
    assert sink.find_user("alice") == created


@clause("users.create.returns-stored-user")
def test_keys_given_to_create_user_are_held(sink):
    sink.create_user(make_user("alice", publicKeys=[make_key(1), make_key(2)]))
    assert sink.get_public_keys("alice") == [make_key(1), make_key(2)]
    assert sink.find_user_by_ssh_key(make_key(2)["key"])["username"] == "alice"


@clause("users.case.username-folded")
def test_usernames_are_stored_folded_and_found_ignoring_case(sink):
    created = sink.create_user(make_user("Alice"))
    assert created["username"] == "alice"
    assert sink.find_user("ALICE")["_id"] == created["_id"]
    assert sink.find_user("alice")["username"] == "alice"


# `lower()` and nothing more: not `casefold()` (ß stays ß), no Unicode normalisation (a
# decomposed é is another name), so every backend folds exactly as the contract says
UNICODE_NAMES = [
    # (created as, stored as, spellings that find it, spellings that must not)
    ("Ärger-Straße", "ärger-straße", ["ÄRGER-STRAßE", "ärger-straße"],
     ["ärger-strasse", "A\u0308rger-straße"]),
    ("ÉLODIE", "élodie", ["Élodie"], ["e\u0301lodie", "elodie"]),
]


@clause("users.case.username-folded")
@pytest.mark.parametrize("given,stored,found_by,not_by", UNICODE_NAMES, ids=["sharp-s", "accent"])
def test_usernames_fold_with_lower_and_nothing_more(sink, given, stored, found_by, not_by):
    created = sink.create_user(make_user(given))
    assert created["username"] == stored
    for spelling in found_by:
        assert sink.find_user(spelling)["_id"] == created["_id"], spelling
    for spelling in not_by:
        assert sink.find_user(spelling) is None, spelling


@clause("users.case.email-folded")
def test_emails_are_stored_folded_and_found_ignoring_case(sink):
    sink.create_user(make_user("alice", email="Alice@Example.COM"))
    assert sink.find_user("alice")["email"] == "alice@example.com"
    assert sink.find_user_by_email("ALICE@example.com")["username"] == "alice"


@clause("users.case.email-folded")
def test_emails_fold_with_lower_and_nothing_more(sink):
    sink.create_user(make_user("jorg", email="Jörg.Straße@Example.COM"))
    assert sink.find_user("jorg")["email"] == "jörg.straße@example.com"
    assert sink.find_user_by_email("JÖRG.STRAßE@example.com")["username"] == "jorg"
    assert sink.find_user_by_email("jörg.strasse@example.com") is None
    assert sink.find_user_by_email("jo\u0308rg.straße@example.com") is None


@clause("users.case.email-folded")
def test_an_updated_email_is_stored_folded_and_found_ignoring_case(sink):
    # the update path of the rule, not only create
    sink.create_user(make_user("alice"))
    sink.update_user({"username": "alice", "email": "Alice.New@Example.COM"})
    assert sink.find_user("alice")["email"] == "alice.new@example.com"
    assert sink.find_user_by_email("ALICE.NEW@example.com")["username"] == "alice"


@clause("users.case.git-account-folded")
def test_a_mixed_case_git_account_is_found(sink):
    sink.create_user(make_user("alice", gitAccount="Alice-GH"))
    assert sink.find_user("alice")["gitAccount"] == "alice-gh"
    assert sink.find_user_by_git_account("ALICE-gh")["username"] == "alice"


@clause("users.case.git-account-folded")
def test_git_account_set_by_update_is_folded_too(sink):
    sink.create_user(make_user("alice"))
    sink.update_user({"username": "alice", "gitAccount": "NewHandle"})
    assert sink.find_user_by_git_account("newhandle")["username"] == "alice"


@clause("users.unique.username")
def test_a_duplicate_username_in_any_case_is_refused(sink):
    sink.create_user(make_user("alice"))
    with pytest.raises(DuplicateUser) as err:
        sink.create_user(make_user("ALICE", email="other@example.com"))
    assert (err.value.field, err.value.value) == ("username", "alice")
    assert len(sink.get_users()) == 1
    assert sink.find_user_by_email("other@example.com") is None
    assert sink.find_user("alice")["email"] == "alice@example.com"
    sink.create_user(make_user("alicia", email="other@example.com"))
    assert sink.find_user_by_email("other@example.com")["username"] == "alicia"


@clause("users.unique.email")
def test_a_duplicate_email_in_any_case_is_refused(sink):
    sink.create_user(make_user("alice", email="shared@example.com"))
    with pytest.raises(DuplicateUser) as err:
        sink.create_user(make_user("bob", email="SHARED@example.com"))
    assert (err.value.field, err.value.value) == ("email", "shared@example.com")
    assert sink.find_user("bob") is None
    assert sink.find_user_by_email("shared@example.com")["username"] == "alice"
    sink.create_user(make_user("bob", email="shared@example.org"))
    assert sink.find_user("bob")["email"] == "shared@example.org"


def _names_the_email(error):
    # the field itself, not a message that mentions it, and a problem that says something
    assert error.what == "user.email"
    assert isinstance(error.problem, str) and error.problem.strip()


@clause("users.create.blank-email-refused")
@pytest.mark.parametrize("email", ["", "   ", None, "<absent>"])
def test_a_user_without_an_email_is_refused(sink, email):
    user = make_user("alice", email=email)
    if email == "<absent>":
        del user["email"]
    with pytest.raises(InvalidDocument) as err:
        sink.create_user(user)
    _names_the_email(err.value)
    assert sink.get_users() == []


@clause("users.create.blank-email-refused")
@pytest.mark.parametrize("email", ["", None, "<absent>"])
def test_update_user_does_not_upsert_a_user_without_an_email(sink, email):
    fields = {"username": "carol", "admin": True, "email": email}
    if email == "<absent>":
        del fields["email"]
    with pytest.raises(InvalidDocument) as err:
        sink.update_user(fields)
    _names_the_email(err.value)
    assert sink.find_user("carol") is None


@clause("users.create.blank-email-refused")
@pytest.mark.parametrize("email", ["", "  ", None])
def test_update_user_cannot_blank_a_stored_email(sink, email):
    sink.create_user(make_user("alice"))
    with pytest.raises(InvalidDocument) as err:
        sink.update_user({"username": "alice", "email": email, "admin": True})
    _names_the_email(err.value)
    assert sink.find_user("alice")["email"] == "alice@example.com"
    assert sink.find_user("alice")["admin"] is False


@clause("users.create.blank-refused")
@pytest.mark.parametrize("field", ["username", "gitAccount"])
@pytest.mark.parametrize("value", ["", "   "])
def test_a_blank_username_or_git_account_is_refused(sink, field, value):
    with pytest.raises(InvalidDocument) as err:
        sink.create_user(make_user("alice", **{field: value}))
    assert field in str(err.value)
    assert sink.get_users() == []
    sink.create_user(make_user("alice"))
    assert [u["username"] for u in sink.get_users()] == ["alice"]


@clause("users.create.blank-refused")
@pytest.mark.parametrize("field", ["username", "gitAccount"])
@pytest.mark.parametrize("value", ["", "   "])
def test_update_user_setting_a_blank_username_or_git_account_is_refused(sink, field, value):
    alice = sink.create_user(make_user("alice"))
    with pytest.raises(InvalidDocument) as err:
        sink.update_user({"_id": alice["_id"], field: value})
    assert err.value.what == f"user.{field}" and err.value.problem
    assert sink.find_user("alice") == alice


#: lookup -> (alice's own value, values that are not hers: unknown, a prefix, an extension)
USER_LOOKUPS = {
    "find_user": ("alice", ["bob", "alic", "alice2"]),
    "find_user_by_email": ("alice@example.com",
                           ["bob@example.com", "alice@example.co", "alice@example.com.au"]),
    "find_user_by_git_account": ("alice-git", ["bob-git", "alice-gi", "alice-git2"]),
    "find_user_by_oidc": ("oidc|alice", ["oidc|bob", "oidc|alic", "oidc|alice2"]),
    "find_user_by_ssh_key": (make_key(1)["key"], [make_key(9)["key"], make_key(1)["key"][:-1],
                                                  make_key(1)["key"] + "x"]),
}


#: a call giving alice one public key -> what she holds after it (each call checks the key)
KEY_WRITES = {
    "create_user": lambda s, k: s.create_user(make_user("alice", publicKeys=[k])),
    "update_user": lambda s, k: s.update_user({"username": "alice", "publicKeys": [k]}),
    "add_public_key": lambda s, k: s.add_public_key("alice", k),
}


@clause("users.create.blank-refused")
@pytest.mark.parametrize("value", ["", "   "], ids=["empty", "spaces"])
@pytest.mark.parametrize("field", ["key", "fingerprint"])
@pytest.mark.parametrize("call", sorted(KEY_WRITES))
def test_a_public_key_with_a_blank_key_or_fingerprint_is_refused(sink, call, field, value):
    # a store that refuses only a missing key still holds one nobody can match or remove
    if call != "create_user":
        sink.create_user(make_user("alice"))
    with pytest.raises(InvalidDocument) as err:
        KEY_WRITES[call](sink, make_key(1, **{field: value}))
    assert err.value.what == f"public key.{field}" and err.value.problem
    assert sink.find_user_by_ssh_key(make_key(1)["key"]) is None
    if call == "create_user":
        assert sink.get_users() == []
    else:
        assert sink.get_public_keys("alice") == []
    # the same call with a whole key is stored
    KEY_WRITES[call](sink, make_key(1))
    assert sink.get_public_keys("alice") == [make_key(1)]


@clause("users.find.missing-returns-none")
@pytest.mark.parametrize("lookup", sorted(USER_LOOKUPS))
def test_a_lookup_of_an_unknown_user_returns_none(sink, lookup):
    alice = sink.create_user(make_user("alice", oidcId="oidc|alice"))
    sink.add_public_key("alice", make_key(1))
    own, others = USER_LOOKUPS[lookup]
    assert getattr(sink, lookup)(own)["_id"] == alice["_id"]
    for value in others:
        assert getattr(sink, lookup)(value) is None, value


@clause("users.find.by-oidc")
def test_find_user_by_oidc_matches_the_exact_id(sink):
    sink.create_user(make_user("alice", oidcId="OIDC|Alice"))
    assert sink.find_user_by_oidc("OIDC|Alice")["username"] == "alice"
    # oidcId is an opaque issuer subject: never folded
    assert sink.find_user_by_oidc("oidc|alice") is None
    assert sink.find_user_by_oidc("OIDC|ALICE") is None


@clause("users.find.by-oidc")
def test_find_user_by_oidc_matches_no_prefix_of_an_id(sink):
    sink.create_user(make_user("alice", oidcId="issuer|alice"))
    sink.create_user(make_user("alicia", oidcId="issuer|alice-2"))
    assert sink.find_user_by_oidc("issuer|alice")["username"] == "alice"
    assert sink.find_user_by_oidc("issuer|alice-2")["username"] == "alicia"
    assert sink.find_user_by_oidc("issuer|ali") is None


@clause("users.list.no-password")
def test_get_users_never_returns_passwords(sink):
    sink.create_user(make_user("alice", password="secret-hash"))
    sink.create_user(make_user("bob", password=None))
    users = sink.get_users()
    assert len(users) == 2 and all("password" not in u for u in users)
    assert all("password" not in u for u in sink.get_users({"username": "alice"}))


@clause("users.list.query-folds")
def test_get_users_folds_case_folded_keys_and_orders_by_username(sink):
    # neither insertion nor _id order is username order
    sink.create_user(make_user("carol", admin=True, _id="user-1"))
    sink.create_user(make_user("alice", admin=True, _id="user-3"))
    sink.create_user(make_user("bob", _id="user-2"))
    assert [u["username"] for u in sink.get_users()] == ["alice", "bob", "carol"]
    assert [u["username"] for u in sink.get_users({"admin": True})] == ["alice", "carol"]
    assert [u["username"] for u in sink.get_users({"username": "BOB"})] == ["bob"]
    assert [u["username"] for u in sink.get_users({"email": "CAROL@example.com"})] == ["carol"]
    assert [u["username"] for u in sink.get_users({"gitAccount": "CAROL-Git"})] == ["carol"]


@clause("users.list.query-folds")
def test_get_users_matches_unfolded_keys_exactly(sink):
    sink.create_user(make_user("alice", title="Lead", displayName="Alice A."))
    sink.create_user(make_user("bob", title="lead", displayName="Alice"))
    assert [u["username"] for u in sink.get_users({"title": "Lead"})] == ["alice"]
    assert [u["username"] for u in sink.get_users({"title": "lead"})] == ["bob"]
    assert [u["username"] for u in sink.get_users({"displayName": "Alice"})] == ["bob"]


@clause("users.list.query-folds")
def test_get_users_matches_whole_values_never_part_of_one(sink):
    for name in ("al", "alice", "malice"):
        sink.create_user(make_user(name))
    assert [u["username"] for u in sink.get_users({"username": "AL"})] == ["al"]
    assert [u["username"] for u in sink.get_users({"username": "alice"})] == ["alice"]
    assert [u["username"] for u in sink.get_users({"gitAccount": "al-git"})] == ["al"]


@clause("users.list.unknown-key-refused")
@pytest.mark.parametrize("key", ["password", "publicKeys", "$where", "constructor"])
def test_an_unknown_user_query_key_is_refused(sink, key):
    with pytest.raises(InvalidQuery) as err:
        sink.get_users({key: "x"})
    assert key in str(err.value)
    sink.create_user(make_user("alice"))
    assert [u["username"] for u in sink.get_users({"username": "alice"})] == ["alice"]


@clause("users.update.merges-fields")
def test_update_user_merges_into_the_stored_user(sink):
    sink.create_user(make_user("alice", title="Engineer", gitAccount="alice-gh"))
    sink.update_user({"username": "alice", "title": "Lead"})
    user = sink.find_user("alice")
    assert user["title"] == "Lead" and user["gitAccount"] == "alice-gh"
    assert user["email"] == "alice@example.com" and user["password"]


@clause("users.update.matches-id-then-username")
def test_update_user_by_id_can_rename(sink):
    created = sink.create_user(make_user("alice"))
    sink.update_user({"_id": created["_id"], "username": "Alicia"})
    assert sink.find_user("alice") is None
    renamed = sink.find_user("alicia")
    assert renamed["_id"] == created["_id"] and renamed["email"] == "alice@example.com"


@clause("users.update.matches-id-then-username")
def test_update_user_without_id_matches_the_folded_username(sink):
    created = sink.create_user(make_user("alice"))
    sink.update_user({"username": "ALICE", "admin": True})
    assert sink.find_user("alice")["admin"] is True
    assert len(sink.get_users()) == 1 and sink.find_user("alice")["_id"] == created["_id"]


@clause("users.update.upserts")
def test_update_user_creates_an_absent_user(sink):
    sink.update_user({"username": "Dave", "email": "Dave@Example.com", "admin": False})
    user = sink.find_user("dave")
    assert user is not None and user["email"] == "dave@example.com" and user["_id"]


@clause("users.update.every-field-round-trips")
def test_must_change_password_and_unknown_fields_round_trip(sink):
    sink.create_user(make_user("alice"))
    extra = {"mustChangePassword": True, "scmIdentities": {"github": ["alice-gh"]},
             "prefs": {"theme": "dark", "tags": ["a", "b"]}}
    sink.update_user({"username": "alice", **extra})
    user = sink.find_user("alice")
    assert {k: user[k] for k in extra} == extra
    sink.update_user({"username": "alice", "mustChangePassword": False})
    assert sink.find_user("alice")["mustChangePassword"] is False


@clause("users.update.keeps-uniqueness")
def test_update_user_cannot_take_another_users_email_or_name(sink):
    sink.create_user(make_user("alice"))
    bob = sink.create_user(make_user("bob"))
    with pytest.raises(DuplicateUser):
        sink.update_user({"username": "bob", "email": "ALICE@example.com"})
    with pytest.raises(DuplicateUser):
        sink.update_user({"_id": bob["_id"], "username": "alice"})
    assert sink.find_user("bob") == bob


@clause("users.delete.removes")
def test_delete_user_removes_by_folded_username(sink):
    sink.create_user(make_user("alice"))
    sink.create_user(make_user("bob"))
    sink.delete_user("ALICE")
    sink.delete_user("nobody")
    sink.delete_user("bo")  # a prefix of bob's name is nobody's name
    assert sink.find_user("alice") is None
    assert [u["username"] for u in sink.get_users()] == ["bob"]


@clause("users.delete.removes")
@pytest.mark.parametrize("lookup", sorted(USER_LOOKUPS))
def test_a_deleted_user_is_gone_from_every_lookup(sink, lookup):
    sink.create_user(make_user("alice", oidcId="oidc|alice"))
    sink.add_public_key("alice", make_key(1))
    own, _ = USER_LOOKUPS[lookup]
    assert getattr(sink, lookup)(own) is not None
    sink.delete_user("alice")
    assert getattr(sink, lookup)(own) is None
    assert sink.get_users({"username": "alice"}) == []


@clause("users.update.matches-id-then-username")
def test_update_user_with_an_unknown_id_and_a_known_username_updates_that_user(sink):
    alice = sink.create_user(make_user("alice"))
    updated = sink.update_user({"_id": "no-such-id", "username": "Alice", "title": "Lead"})
    assert updated["_id"] == alice["_id"] and updated["title"] == "Lead"
    assert [(u["_id"], u["title"]) for u in sink.get_users()] == [(alice["_id"], "Lead")]


@clause("users.update.matches-id-then-username")
def test_update_user_naming_neither_id_nor_username_is_refused(sink):
    sink.create_user(make_user("alice"))
    with pytest.raises(InvalidDocument) as err:
        sink.update_user({"email": "alice@example.org", "title": "Lead"})
    assert err.value.what == "user" and err.value.problem
    assert sink.find_user("alice")["email"] == "alice@example.com"
    assert sink.update_user({"username": "alice", "title": "Lead"})["title"] == "Lead"


@clause("users.update.upserts")
def test_update_user_naming_only_an_unknown_id_raises_user_not_found(sink):
    sink.create_user(make_user("alice"))
    with pytest.raises(UserNotFound) as err:
        sink.update_user({"_id": "no-such-id", "title": "Lead"})
    assert err.value.key == "no-such-id"
    assert [u["username"] for u in sink.get_users()] == ["alice"]


@clause("users.update.every-field-round-trips")
def test_update_user_stores_exactly_the_merged_user(sink):
    alice = sink.create_user(make_user("alice"))
    changes = {"title": "Lead", "publicKeys": [make_key(1)], "displayName": None}
    updated = sink.update_user({"_id": alice["_id"], **changes})
    assert updated == {**alice, **changes}
    assert sink.find_user("alice") == updated


@clause("users.update.every-field-round-trips")
def test_public_keys_given_to_update_user_replace_the_held_keys(sink):
    sink.create_user(make_user("alice"))
    sink.add_public_key("alice", make_key(1))
    sink.update_user({"username": "alice", "publicKeys": [make_key(2), make_key(3)]})
    assert sink.get_public_keys("alice") == [make_key(2), make_key(3)]
    sink.update_user({"username": "alice", "publicKeys": None})
    assert sink.get_public_keys("alice") == []


@clause("users.update.keeps-uniqueness")
@pytest.mark.parametrize("change,field,value", [
    ({"username": "alice", "email": "BOB@example.com"}, "email", "bob@example.com"),
    ({"username": "Bob"}, "username", "bob"),
], ids=["email", "username"])
def test_the_first_user_cannot_take_a_later_users_email_or_name(sink, change, field, value):
    alice = sink.create_user(make_user("alice"))
    sink.create_user(make_user("bob"))
    with pytest.raises(DuplicateUser) as err:
        sink.update_user({"_id": alice["_id"], **change})
    assert (err.value.field, err.value.value) == (field, value)
    assert sink.find_user("alice") == alice
