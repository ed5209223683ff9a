"""Bad and hostile input: refused with a typed error before any write, or stored verbatim."""

from __future__ import annotations

import base64
import enum
import hashlib
import json
from collections import OrderedDict

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
    assert err.value.what == field and str(MAX_KEY_BYTES) in err.value.problem
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
def _user(**fields):
    return {**make_user("alice"), **fields}


def _with_repo(call):
    """``call(sink, repo_id)`` on a repo that exists, so only the bad argument is refused."""
    return lambda s: call(s, s.create_repo(make_repo("r"))["_id"])


#: a call given one value of the wrong type -> the field its InvalidDocument must name (`what`)
WRONG_TYPES = {
    "create_user:not-an-object": (lambda s: s.create_user(["alice"]), "user"),
    "create_user:username": (lambda s: s.create_user(_user(username=7)), "user.username"),
    "create_user:email": (lambda s: s.create_user(_user(email=7)), "user.email"),
    "create_user:gitAccount": (lambda s: s.create_user(_user(gitAccount=7)), "user.gitAccount"),
    "create_user:_id": (lambda s: s.create_user(_user(_id=7)), "user._id"),
    "create_user:admin": (lambda s: s.create_user(_user(admin="yes")), "user.admin"),
    "create_user:mustChangePassword": (lambda s: s.create_user(_user(mustChangePassword=1)),
                                       "user.mustChangePassword"),
    "create_user:password": (lambda s: s.create_user(_user(password=7)), "user.password"),
    "create_user:oidcId": (lambda s: s.create_user(_user(oidcId=7)), "user.oidcId"),
    "create_user:displayName": (lambda s: s.create_user(_user(displayName=[])),
                                "user.displayName"),
    "create_user:title": (lambda s: s.create_user(_user(title={})), "user.title"),
    "create_user:key-not-an-object": (lambda s: s.create_user(_user(publicKeys=["ssh-rsa x"])),
                                      "public key"),
    "create_user:key.key": (lambda s: s.create_user(_user(publicKeys=[{"fingerprint": "f"}])),
                            "public key.key"),
    "create_user:key.fingerprint": (lambda s: s.create_user(_user(publicKeys=[{"key": "k"}])),
                                    "public key.fingerprint"),
    "update_user:not-an-object": (lambda s: s.update_user("alice"), "user"),
    "update_user:username": (lambda s: s.update_user({"username": 7}), "user.username"),
    "update_user:email": (lambda s: s.update_user({"username": "alice", "email": 7}),
                          "user.email"),
    "update_user:gitAccount": (lambda s: s.update_user({"username": "alice", "gitAccount": 7}),
                               "user.gitAccount"),
    "update_user:_id": (lambda s: s.update_user({"_id": 7}), "user._id"),
    "update_user:admin": (lambda s: s.update_user({"username": "alice", "admin": "no"}),
                          "user.admin"),
    "update_user:title": (lambda s: s.update_user({"username": "alice", "title": 7}),
                          "user.title"),
    "update_user:keys": (lambda s: s.update_user({"username": "alice", "publicKeys": ["k"]}),
                         "public key"),
    "add_public_key": (lambda s: s.add_public_key("alice", {"key": 7, "fingerprint": "f"}),
                       "public key.key"),
    "create_repo:not-an-object": (lambda s: s.create_repo("r"), "repo"),
    "create_repo:name": (lambda s: s.create_repo(make_repo("r", name=7)), "repo.name"),
    "create_repo:url": (lambda s: s.create_repo(make_repo("r", url=7)), "repo.url"),
    "create_repo:project": (lambda s: s.create_repo(make_repo("r", project=7)), "repo.project"),
    "create_repo:_id": (lambda s: s.create_repo(make_repo("r", _id=7)), "repo._id"),
    "create_repo:users": (lambda s: s.create_repo(make_repo("r", users=["alice"])),
                          "repo.users"),
    "create_repo:canPush": (lambda s: s.create_repo(make_repo("r", users={"canPush": "alice"})),
                            "repo.users.canPush"),
    "create_repo:listed-name": (lambda s: s.create_repo(make_repo("r", users={"canPush": [7]})),
                                "username"),
    "update_repo:not-an-object": (_with_repo(lambda s, i: s.update_repo(i, "x")),
                                  "repo changes"),
    "update_repo:name": (_with_repo(lambda s, i: s.update_repo(i, {"name": 7})), "repo.name"),
    "update_repo:url": (_with_repo(lambda s, i: s.update_repo(i, {"url": 7})), "repo.url"),
    "update_repo:project": (_with_repo(lambda s, i: s.update_repo(i, {"project": 7})),
                            "repo.project"),
    "add_user_can_push": (_with_repo(lambda s, i: s.add_user_can_push(i, 7)), "username"),
    "remove_user_can_authorise": (_with_repo(lambda s, i: s.remove_user_can_authorise(i, [])),
                                  "username"),
    "write_audit:not-an-object": (lambda s: s.write_audit(["p1"]), "push"),
    "write_audit:id": (lambda s: s.write_audit(make_push("p1", id=7)), "push.id"),
    "write_audit:_id": (lambda s: s.write_audit(make_push("p1", _id=7)), "push._id"),
    "write_audit:branch": (lambda s: s.write_audit(make_push("p1", branch=7)), "push.branch"),
    "write_audit:int64": (lambda s: s.write_audit(make_push("p1", size=2**63)), "push.size"),
    "authorise:id": (lambda s: s.authorise(7, {"note": "ok"}), "push id"),
    "authorise:attestation": (lambda s: s.authorise("p1", {"at": 2**64}), "attestation.at"),
    "reject:rejection": (lambda s: s.reject("p1", {"why": [-(2**63) - 1]}), "rejection.why"),
    "record_migration": (lambda s: s.record_migration(7), "migration id"),
    "unrecord_migration": (lambda s: s.unrecord_migration(None), "migration id"),
}


@clause("input.wrong-type-refused")
@pytest.mark.parametrize("case", sorted(WRONG_TYPES))
def test_a_value_of_the_wrong_type_is_refused_naming_its_field(sink, case):
    call, field = WRONG_TYPES[case]
    # alice exists, so an update_user merges into her rather than creating her anew (each path
    # checks its input), and a create naming her is refused for its input before any duplicate
    sink.create_user(make_user("alice"))
    with pytest.raises(InvalidDocument) as err:
        call(sink)
    assert err.value.what == field
    assert isinstance(err.value.problem, str) and err.value.problem


#: the user fields that take a string or null and are neither required nor folded
OPTIONAL_USER_STRINGS = ["displayName", "oidcId", "password", "title"]


@clause("input.wrong-type-refused")
@pytest.mark.parametrize("value", ["", None], ids=["blank", "null"])
@pytest.mark.parametrize("field", OPTIONAL_USER_STRINGS)
def test_an_optional_user_string_may_be_blank_or_null(sink, field, value):
    # the other side of the type rule: the right type is stored even when empty (only a
    # required string must not be blank), on create and on update
    assert sink.create_user(_user(**{field: value}))[field] == value
    assert sink.find_user("alice")[field] == value
    sink.create_user(make_user("bob", **{field: "set"}))
    assert sink.update_user({"username": "bob", field: value})[field] == value
    assert sink.find_user("bob")[field] == value


@clause("input.wrong-type-refused")
def test_a_push_with_two_wrong_fields_is_refused_naming_one_of_them(sink):
    # which one is left to the adapter (the rules name the first in path order, the Node
    # reference peer the first in schema order)
    with pytest.raises(InvalidDocument) as err:
        sink.write_audit(make_push("p1", timestamp="x", branch=7))
    assert err.value.what in ("push.branch", "push.timestamp") and err.value.problem
    assert sink.get_push("p1") is None


#: values no JSON document holds: refused (a bridge refuses them before they travel, naming the
#: call's arguments rather than the field, so only the refusal and its reason are asserted)
NOT_JSON = {
    "set": lambda s: s.write_audit(make_push("p1", steps={"a": {1, 2}})),
    "nan": lambda s: s.write_audit(make_push("p1", meta={"r": float("nan")})),
    "key-not-text": lambda s: s.write_audit(make_push("p1", meta={1: "a"})),
    "infinite-attestation": lambda s: s.authorise("p1", {"at": float("inf")}),
    "object-rejection": lambda s: s.reject("p1", {"why": object()}),
}


@clause("input.wrong-type-refused")
@pytest.mark.parametrize("case", sorted(NOT_JSON))
def test_a_value_that_is_not_json_data_is_refused(sink, case):
    sink.write_audit(make_push("p1"))
    before = sink.get_push("p1")
    with pytest.raises(InvalidDocument) as err:
        NOT_JSON[case](sink)
    assert isinstance(err.value.problem, str) and err.value.problem
    assert sink.get_push("p1") == before


#: a document holding NUL or a lone surrogate -> the path its InvalidDocument must name
UNSTORABLE = {
    "user-field": (lambda s, t: s.create_user(_user(displayName=t)), "user.displayName"),
    "user-nested": (lambda s, t: s.create_user(_user(prefs={"a": [t]})), "user.prefs.a"),
    "user-key": (lambda s, t: s.create_user(_user(prefs={t: 1})), "user.prefs key"),
    "repo-name": (lambda s, t: s.create_repo(make_repo(t)), "repo.name"),
    "push-list-item": (lambda s, t: s.write_audit(make_push("p1", commitData=[{"message": t}])),
                       "push.commitData.message"),
    "push-top-key": (lambda s, t: s.write_audit(make_push("p1", **{t: 1})), "push key"),
    "push-id": (lambda s, t: s.write_audit(make_push(t)), "push.id"),
    "migration-id": (lambda s, t: s.record_migration(t), "migration id"),
}


@clause("input.nul-and-surrogates-refused")
@pytest.mark.parametrize("text", ["nul\x00byte", "lone\ud800surrogate"], ids=["nul", "surrogate"])
@pytest.mark.parametrize("case", sorted(UNSTORABLE))
def test_an_unstorable_string_is_refused_naming_its_path(sink, case, text):
    call, path = UNSTORABLE[case]
    with pytest.raises(InvalidDocument) as err:
        call(sink, text)
    assert err.value.what == path
    assert isinstance(err.value.problem, str) and err.value.problem


@clause("input.dollar-keys-refused")
@pytest.mark.parametrize("doc,path", [({"$set": 1}, "push"), ({"a": {"b": {"$gt": 1}}}, "push.a.b"),
                                      ({"list": [{"x.y": 1}]}, "push.list")],
                         ids=["top", "nested", "in-list"])
def test_a_dollar_or_dotted_key_is_refused_naming_the_object_holding_it(sink, doc, path):
    with pytest.raises(InvalidDocument) as err:
        sink.write_audit(make_push("p1", **doc))
    assert err.value.what == path
    assert isinstance(err.value.problem, str) and err.value.problem


class _Level(enum.IntEnum):
    HIGH = 3


class _Tag(str):
    pass


class _Ratio(float):
    pass


#: JSON values a caller builds from subclasses of JSON's types, each with its plain form
_SUBCLASSED = {
    "ordered-dict": (OrderedDict([("b", 1), ("a", [2])]), {"b": 1, "a": [2]}),
    "tuple": (("x", (1, 2)), ["x", [1, 2]]),
    "int-enum": (_Level.HIGH, 3),
    "str-subclass": (_Tag("tag"), "tag"),
    "float-subclass": (_Ratio(0.5), 0.5),
    "nested": ({"k": (OrderedDict([("n", _Level.HIGH)]),)}, {"k": [{"n": 3}]}),
}


@clause("reliability.hostile.writes-verbatim-or-refused")
@pytest.mark.parametrize("kind", sorted(_SUBCLASSED))
def test_a_push_built_of_json_subclasses_is_stored_as_its_plain_json(sink, kind):
    value, plain = _SUBCLASSED[kind]
    sink.write_audit(make_push("p1", payload=value))
    got = sink.get_push("p1")
    # through JSON text: a tuple read back as a tuple or a list is the same JSON array
    assert json.loads(json.dumps(got["payload"])) == plain


@clause("reliability.hostile.writes-verbatim-or-refused")
@pytest.mark.parametrize("kind", ["tuple", "ordered-dict", "int-enum"])
def test_a_subclassed_value_out_of_bounds_is_refused_like_its_plain_form(sink, kind):
    bad = {"tuple": ("ok", float("nan")), "ordered-dict": OrderedDict([("$where", 1)]),
           "int-enum": enum.IntEnum("Big", {"BIG": 2**63})["BIG"]}[kind]
    with pytest.raises(InvalidDocument) as err:
        sink.write_audit(make_push("p1", payload={"v": bad}))
    # only the refusal and its reason: a bridge refuses a NaN before it travels (see NOT_JSON)
    assert isinstance(err.value.problem, str) and err.value.problem
    assert sink.get_push("p1") is None
    sink.write_audit(make_push("p1", payload={"v": _SUBCLASSED[kind][0]}))
    assert sink.get_push("p1") is not None


@clause("reliability.hostile.writes-verbatim-or-refused")
@pytest.mark.parametrize("in_lists", [False, True], ids=["objects", "lists"])
def test_a_push_nested_more_than_100_levels_deep_is_refused(sink, in_lists):
    value: object = "leaf"
    for _ in range(100):  # with the push itself: 101 levels
        value = [value] if in_lists else {"a": value}
    with pytest.raises(InvalidDocument) as err:
        sink.write_audit(make_push("p1", payload=value))
    assert err.value.what == "push.payload" + ("" if in_lists else ".a" * 100)
    assert isinstance(err.value.problem, str) and err.value.problem
    assert sink.get_push("p1") is None
    sink.write_audit(make_push("p1", payload=value[0] if in_lists else value["a"]))
    assert sink.get_push("p1") is not None
