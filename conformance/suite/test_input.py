"""Bad and hostile input: refused with a typed error before any write, or stored verbatim."""

from __future__ import annotations

import base64
import hashlib

import pytest
from sinkkit.conformance.checked import apart_from_id
from sinkkit.conformance.clauses import clause
from sinkkit.conformance.errors import InvalidDocument
from sinkkit.conformance.factories import make_push, make_repo, make_user
from sinkkit.core.rules import MAX_KEY_BYTES

SQL_TEXT = ["Robert'); DROP TABLE users;--", "' OR '1'='1", "''''''''", "a\\'b",
            "1; SELECT pg_sleep(5)"]


def _nothing_written(sink):
    assert sink.get_users() == [] and sink.get_repos() == [] and sink.get_pushes({}) == []
    # and the sink still takes a valid write of each kind: refusing was about the input
    sink.create_user(make_user("valid"))
    sink.create_repo(make_repo("valid"))
    sink.write_audit(make_push("valid"))
    assert sink.find_user("valid")["username"] == "valid"
    assert sink.get_repo("valid")["name"] == "valid"
    assert sink.get_push("valid")["id"] == "valid"


@clause("input.wrong-type-refused")
@pytest.mark.parametrize("bad", [{"$ne": None}, ["alice"], 42, None, True])
def test_a_username_of_the_wrong_type_is_refused(sink, bad):
    user = make_user("x")
    user["username"] = bad
    with pytest.raises(InvalidDocument) as err:
        sink.create_user(user)
    assert "username" in str(err.value)
    _nothing_written(sink)


@clause("input.wrong-type-refused")
@pytest.mark.parametrize("field,bad", [("name", {"$gt": ""}), ("url", 7), ("users", ["a"]),
                                        ("project", ["p"])])
def test_a_repo_field_of_the_wrong_type_is_refused(sink, field, bad):
    with pytest.raises(InvalidDocument):
        sink.create_repo(make_repo("r", **{field: bad}))
    _nothing_written(sink)


@clause("input.wrong-type-refused")
@pytest.mark.parametrize("bad", [None, "push", ["push"], 3])
def test_a_push_that_is_not_an_object_is_refused(sink, bad):
    with pytest.raises(InvalidDocument):
        sink.write_audit(bad)
    _nothing_written(sink)


@clause("input.nul-and-surrogates-refused")
@pytest.mark.parametrize("text", ["nul\x00byte", "lone\ud800surrogate"], ids=["nul", "surrogate"])
def test_unstorable_strings_are_refused_everywhere(sink, text):
    with pytest.raises(InvalidDocument):
        sink.create_user(make_user("alice", displayName=text))
    with pytest.raises(InvalidDocument):
        sink.write_audit(make_push("p1", commitData=[{"message": text}]))
    with pytest.raises(InvalidDocument):
        sink.write_audit(make_push("p2", **{text: 1}))
    _nothing_written(sink)


@clause("input.dollar-keys-refused")
@pytest.mark.parametrize("doc", [{"$set": {"authorised": True}}, {"nested": {"$where": "1"}},
                                 {"list": [{"$gt": 1}]}, {"dotted.key": 1},
                                 {"nested": {"a.b": {"c": 1}}}])
def test_keys_starting_with_dollar_or_containing_a_dot_are_refused(sink, doc):
    with pytest.raises(InvalidDocument):
        sink.write_audit(make_push("p1", **doc))
    with pytest.raises(InvalidDocument):
        sink.create_user(make_user("alice", prefs=doc))
    _nothing_written(sink)


@clause("input.sql-text-verbatim")
@pytest.mark.parametrize("text", SQL_TEXT)
def test_sql_text_is_stored_and_returned_verbatim(sink, text):
    sink.create_user(make_user(text.lower(), title=text))
    assert sink.find_user(text)["title"] == text
    sink.write_audit(make_push(text, branch=text))
    assert sink.get_push(text)["branch"] == text
    assert [p["id"] for p in sink.get_pushes({"branch": text})] == [text]
    assert len(sink.get_users()) == 1


@clause("input.operator-text-is-plain-value")
@pytest.mark.parametrize("text", ["$where", '{"$ne": null}', "$gt", ".*", "this.a == 1"])
def test_operator_looking_strings_are_plain_values(sink, text):
    sink.create_user(make_user("alice"))
    sink.create_repo(make_repo("r"))
    assert sink.find_user(text) is None
    assert sink.get_repo(text) is None
    assert sink.get_users({"username": text}) == []
    sink.create_user(make_user(text))
    assert sink.find_user(text)["username"] == text.lower()


@clause("input.nul-and-surrogates-refused")
@pytest.mark.parametrize("text", ["nul\x00byte", "lone\ud800surrogate"], ids=["nul", "surrogate"])
def test_unstorable_names_are_refused(sink, text):
    with pytest.raises(InvalidDocument) as err:
        sink.create_user(make_user(text))
    assert "username" in str(err.value)
    with pytest.raises(InvalidDocument) as err:
        sink.create_repo(make_repo(text))
    assert "name" in str(err.value)
    _nothing_written(sink)


PERMISSION_CHANGES = ["add_user_can_push", "add_user_can_authorise", "remove_user_can_push",
                      "remove_user_can_authorise"]


@clause("input.wrong-type-refused")
@pytest.mark.parametrize("method", PERMISSION_CHANGES)
@pytest.mark.parametrize("bad", [None, 42, ["alice"], "", "   "], ids=repr)
def test_a_permission_change_naming_no_usable_user_is_refused(sink, method, bad):
    users = {"canPush": ["alice"], "canAuthorise": ["alice"]}
    repo = sink.create_repo(make_repo("r", users=users))
    with pytest.raises(InvalidDocument) as err:
        getattr(sink, method)(repo["_id"], bad)
    assert "username" in str(err.value)
    assert apart_from_id(sink.get_repo_by_id(repo["_id"])) == apart_from_id(repo)
    getattr(sink, method)(repo["_id"], "bob")  # a usable name goes through


@clause("input.wrong-type-refused")
@pytest.mark.parametrize("field,bad", [("name", ""), ("name", "  "), ("name", None), ("url", ""),
                                        ("url", 7), ("project", ["p"]), ("project", None)])
def test_an_update_repo_field_of_the_wrong_type_is_refused(sink, field, bad):
    repo = sink.create_repo(make_repo("r"))
    with pytest.raises(InvalidDocument) as err:
        sink.update_repo(repo["_id"], {field: bad})
    assert f"repo.{field}" in str(err.value)
    assert apart_from_id(sink.get_repo_by_id(repo["_id"])) == apart_from_id(repo)
    good = {"name": "renamed", "url": "https://h/renamed.git", "project": ""}[field]
    assert sink.update_repo(repo["_id"], {field: good})[field] == good


@clause("input.wrong-type-refused")
@pytest.mark.parametrize("role", ["canPush", "canAuthorise"])
def test_a_permission_list_that_is_not_a_list_is_refused(sink, role):
    with pytest.raises(InvalidDocument) as err:
        sink.create_repo(make_repo("r", users={role: "alice"}))
    assert f"repo.users.{role}" in str(err.value)
    _nothing_written(sink)


def incompressible(n_bytes: int, seed: str = "") -> str:
    """``n_bytes`` of lower-case ASCII derived from a digest chain: no run a compressor could
    shrink (a btree compresses long keys first, so ``"x" * 4000`` would hide the limit)."""
    out, block, length = [], hashlib.sha256(seed.encode()).digest(), 0
    while length < n_bytes:
        block = hashlib.sha256(block).digest()
        out.append(base64.b32encode(block).decode().lower().rstrip("="))
        length += len(out[-1])
    return "".join(out)[:n_bytes]


#: field -> (write a document whose field holds v, read it back by that value)
LONG_KEY_WRITES = {
    "push.id": (lambda s, v: s.write_audit(make_push(v)), lambda s, v: s.get_push(v)),
    "user._id": (lambda s, v: s.create_user(make_user("alice", _id=v)),
                 lambda s, v: s.find_user("alice")),
    "user.username": (lambda s, v: s.create_user(make_user("alice", username=v)),
                      lambda s, v: s.find_user(v)),
    "user.email": (lambda s, v: s.create_user(make_user("alice", email=v)),
                   lambda s, v: s.find_user_by_email(v)),
    "user.gitAccount": (lambda s, v: s.create_user(make_user("alice", gitAccount=v)),
                        lambda s, v: s.find_user_by_git_account(v)),
    "user.oidcId": (lambda s, v: s.create_user(make_user("alice", oidcId=v)),
                    lambda s, v: s.find_user_by_oidc(v)),
    "repo._id": (lambda s, v: s.create_repo(make_repo("r", _id=v)),
                 lambda s, v: s.get_repo_by_id(v)),
    "repo.name": (lambda s, v: s.create_repo(make_repo(v, url="https://h/r.git")),
                  lambda s, v: s.get_repo(v)),
    "repo.url": (lambda s, v: s.create_repo(make_repo("r", url=v)),
                 lambda s, v: s.get_repo_by_url(v)),
    "migration id": (lambda s, v: s.record_migration(v),
                     lambda s, v: v if v in s.get_applied_migrations() else None),
}
LONG_SIZES = {"3KB": 3 * 1024, "64KB": 64 * 1024, "1MB": 1024 * 1024}


@clause("input.long-keys-refused")
@pytest.mark.parametrize("size", sorted(LONG_SIZES))
@pytest.mark.parametrize("field", sorted(LONG_KEY_WRITES))
def test_a_value_over_the_key_limit_in_an_indexed_field_is_refused(sink, field, size):
    write, _ = LONG_KEY_WRITES[field]
    with pytest.raises(InvalidDocument) as err:
        write(sink, incompressible(LONG_SIZES[size], field))
    assert field in str(err.value) and str(MAX_KEY_BYTES) in str(err.value)
    assert sink.get_applied_migrations() == []
    _nothing_written(sink)


@clause("input.long-keys-refused")
@pytest.mark.parametrize("field", sorted(LONG_KEY_WRITES))
def test_a_value_at_the_key_limit_in_an_indexed_field_is_stored_and_found(sink, field):
    # two-byte characters: the limit counts UTF-8 bytes, not characters
    prefix = "https://h/é" if field == "repo.url" else "é"
    value = prefix + incompressible(MAX_KEY_BYTES - len(prefix.encode("utf-8")), field)
    assert len(value.encode("utf-8")) == MAX_KEY_BYTES
    write, read = LONG_KEY_WRITES[field]
    write(sink, value)
    assert read(sink, value) is not None


@clause("input.long-user-email-stored")
@pytest.mark.parametrize("size", sorted(LONG_SIZES))
def test_a_push_with_a_user_email_of_any_length_is_stored_and_found(sink, size):
    email = incompressible(LONG_SIZES[size]) + "@example.com"
    sink.write_audit(make_push("p1", userEmail=email))
    sink.write_audit(make_push("p2"))
    assert sink.get_push("p1")["userEmail"] == email
    assert [p["id"] for p in sink.get_pushes({"userEmail": email})] == ["p1"]
    assert [p["id"] for p in sink.get_pushes_for_user_profile([email], "")] == ["p1"]
