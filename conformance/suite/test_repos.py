"""Repos: creation, lookups, updates, dates and the canPush / canAuthorise permission lists."""

from __future__ import annotations

import threading

import pytest
from sinkkit.conformance.checked import apart_from_id
from sinkkit.conformance.clauses import clause
from sinkkit.conformance.errors import DuplicateRepo, InvalidDocument, InvalidQuery, RepoNotFound
from sinkkit.conformance.factories import make_repo
from sinkkit.core import clock

PERMISSION_CHANGES = [
    "add_user_can_push", "add_user_can_authorise", "remove_user_can_push",
    "remove_user_can_authorise",
]


@clause("repos.create.returns-stored-repo")
def test_create_repo_returns_the_stored_repo(sink):
    created = sink.create_repo(make_repo("git-proxy", extra={"owner": "finos"}))
    assert created["name"] == "git-proxy" and created["extra"] == {"owner": "finos"}
    for found in (sink.get_repo_by_id(created["_id"]), sink.get_repo("git-proxy"),
                  sink.get_repo_by_url(created["url"])):
        assert apart_from_id(found) == apart_from_id(created)


@clause("repos.create.returns-stored-repo")
def test_a_created_repo_holds_exactly_the_given_fields_and_its_dates(sink):
    given = make_repo("r", _id="repo-1", extra=1)
    created = sink.create_repo(given)
    assert set(created) == set(given) | {"dateCreated", "lastModified"}
    assert {k: created[k] for k in given} == given
    assert apart_from_id(sink.get_repo_by_id("repo-1")) == apart_from_id(created)


@clause("repos.create.returns-stored-repo")
@pytest.mark.parametrize("project", [None, ""], ids=["absent", "empty"])
def test_a_repo_created_without_a_project_has_an_empty_one(sink, project):
    given = make_repo("r")
    if project is None:
        del given["project"]
    else:
        given["project"] = project
    created = sink.create_repo(given)
    assert created["project"] == "" and sink.get_repo("r")["project"] == ""
    assert set(created) == set(given) | {"_id", "project", "dateCreated", "lastModified"}


@clause("repos.create.name-folded-url-verbatim")
def test_repo_names_are_folded_and_urls_kept_verbatim(sink):
    created = sink.create_repo(make_repo("Git-Proxy", url="https://GitHub.com/Finos/Git-Proxy.git"))
    assert created["name"] == "git-proxy"
    assert created["url"] == "https://GitHub.com/Finos/Git-Proxy.git"
    assert sink.get_repo("GIT-PROXY")["_id"] == created["_id"]
    assert sink.get_repo_by_url("https://github.com/finos/git-proxy.git") is None


@clause("repos.create.name-folded-url-verbatim")
def test_a_url_with_userinfo_is_kept_and_matched_verbatim(sink):
    url = "https://Bot:T0ken@GitHub.com/Finos/Git-Proxy.git"
    created = sink.create_repo(make_repo("git-proxy", url=url))
    assert created["url"] == url
    assert sink.get_repo_by_url(url)["_id"] == created["_id"]
    assert sink.get_repo_by_url("https://GitHub.com/Finos/Git-Proxy.git") is None
    assert sink.get_repo_by_url("https://bot:t0ken@github.com/finos/git-proxy.git") is None


@clause("repos.create.name-folded-url-verbatim")
def test_repo_names_fold_with_lower_and_nothing_more(sink):
    created = sink.create_repo(make_repo("Straße-Ü"))
    assert created["name"] == "straße-ü"
    assert sink.get_repo("STRAßE-Ü")["_id"] == created["_id"]
    assert sink.get_repo("strasse-ü") is None
    assert sink.get_repo("straße-u\u0308") is None


@clause("repos.create.name-folded-url-verbatim")
def test_a_rename_by_update_repo_is_folded_too(sink):
    repo = sink.create_repo(make_repo("old-name"))
    updated = sink.update_repo(repo["_id"], {"name": "New-Name"})
    assert updated["name"] == "new-name"
    assert sink.get_repo("NEW-NAME")["_id"] == repo["_id"]
    assert sink.get_repo("old-name") is None
    assert [r["name"] for r in sink.get_repos({"name": "new-NAME"})] == ["new-name"]


@clause("repos.create.url-unique")
def test_a_second_repo_with_the_same_url_is_refused(sink):
    sink.create_repo(make_repo("one", url="https://h/r.git"))
    with pytest.raises(DuplicateRepo) as err:
        sink.create_repo(make_repo("two", url="https://h/r.git"))
    assert (err.value.field, err.value.value) == ("url", "https://h/r.git")
    assert [r["name"] for r in sink.get_repos()] == ["one"]
    assert sink.get_repo("two") is None
    sink.create_repo(make_repo("two", url="https://h/r.git/"))  # another url: accepted
    assert sink.get_repo("two")["url"] == "https://h/r.git/"


@clause("repos.create.blank-refused")
@pytest.mark.parametrize("field", ["name", "url"])
@pytest.mark.parametrize("value", ["", "   ", None])
def test_a_blank_name_or_url_is_refused(sink, field, value):
    with pytest.raises(InvalidDocument) as err:
        sink.create_repo(make_repo("r", **{field: value}))
    assert field in str(err.value)
    assert sink.get_repos() == []
    sink.create_repo(make_repo("r"))
    assert [r["name"] for r in sink.get_repos()] == ["r"]


#: lookup -> (the known repo's own value, values that are not its own)
REPO_LOOKUPS = {
    "get_repo": (lambda r: r["name"], lambda r: ["unknown", "know", "known2"]),
    "get_repo_by_url": (lambda r: r["url"], lambda r: [
        "https://nowhere/x.git", r["url"][:-4], r["url"] + "/", r["url"].upper()]),
    "get_repo_by_id": (lambda r: r["_id"], lambda r: [
        "0123456789abcdef01234567", r["_id"][:-1], r["_id"] + "0", r["_id"].upper()]),
}


@clause("repos.lookup.missing-returns-none")
@pytest.mark.parametrize("lookup", sorted(REPO_LOOKUPS))
def test_a_lookup_of_an_unknown_repo_returns_none(sink, lookup):
    known = sink.create_repo(make_repo("known", _id="Repo-Known-01"))
    own, others = REPO_LOOKUPS[lookup]
    assert apart_from_id(getattr(sink, lookup)(own(known))) == apart_from_id(known)
    for value in others(known):
        assert getattr(sink, lookup)(value) is None, value


@clause("repos.list.query-folds-name")
def test_repo_queries_fold_the_name(sink):
    sink.create_repo(make_repo("Alpha", project="p1"))
    sink.create_repo(make_repo("beta", project="p2"))
    assert [r["name"] for r in sink.get_repos({"name": "ALPHA"})] == ["alpha"]
    assert [r["name"] for r in sink.get_repos({"project": "p2"})] == ["beta"]
    assert sink.get_repos({"project": "P2"}) == []
    assert [r["name"] for r in sink.get_repos({"url": "https://github.com/finos/Alpha.git"})] == [
        "alpha"]
    assert sink.get_repos({"url": "https://github.com/finos/alpha.git"}) == []


@clause("repos.list.query-folds-name")
def test_repo_queries_match_the_whole_name_never_part_of_one(sink):
    for name in ("git", "git-proxy", "legit"):
        sink.create_repo(make_repo(name))
    assert [r["name"] for r in sink.get_repos({"name": "GIT"})] == ["git"]
    assert [r["name"] for r in sink.get_repos({"name": "git-proxy"})] == ["git-proxy"]


@clause("repos.list.unknown-key-refused")
@pytest.mark.parametrize("key", ["owner", "users", "$where", "constructor"])
def test_an_unknown_repo_query_key_is_refused(sink, key):
    sink.create_repo(make_repo("r", project="x"))
    with pytest.raises(InvalidQuery) as err:
        sink.get_repos({key: "x"})
    assert key in str(err.value)
    assert [r["name"] for r in sink.get_repos({"project": "x"})] == ["r"]


@clause("repos.list.ordered-by-name")
def test_repos_are_listed_by_name(sink):
    # neither insertion nor _id order is name order
    for n, name in enumerate(["delta", "Alpha", "charlie", "bravo", "alpha-2"]):
        sink.create_repo(make_repo(name, _id=f"repo-{9 - n}"))
    assert [r["name"] for r in sink.get_repos()] == [
        "alpha", "alpha-2", "bravo", "charlie", "delta"]


@clause("repos.update.merges-fields")
def test_update_repo_merges_fields_and_keeps_the_rest(sink):
    repo = sink.create_repo(make_repo("r", project="old", extra=1))
    updated = sink.update_repo(repo["_id"], {"project": "new", "description": "d"})
    assert updated["project"] == "new" and updated["description"] == "d"
    assert updated["extra"] == 1 and updated["url"] == repo["url"]
    assert apart_from_id(sink.get_repo_by_id(repo["_id"])) == apart_from_id(updated)


@clause("repos.update.merges-fields")
def test_update_repo_changes_exactly_the_given_fields(sink):
    repo = sink.create_repo(make_repo("r", project="old"))
    changes = {"name": "Renamed", "url": "https://h/renamed.git", "project": "new"}
    updated = sink.update_repo(repo["_id"], changes)
    expected = {**repo, **changes, "name": "renamed", "lastModified": updated["lastModified"]}
    assert updated == expected
    assert apart_from_id(sink.get_repo_by_id(repo["_id"])) == apart_from_id(updated)


@clause("repos.update.merges-fields")
@pytest.mark.parametrize("field", ["_id", "users", "dateCreated", "lastModified"])
def test_update_repo_refuses_protected_fields(sink, field):
    repo = sink.create_repo(make_repo("r"))
    with pytest.raises(InvalidDocument) as err:
        sink.update_repo(repo["_id"], {field: "x", "project": "changed"})
    assert err.value.what == "repo changes" and field in err.value.problem
    assert apart_from_id(sink.get_repo_by_id(repo["_id"])) == apart_from_id(repo)


@clause("repos.update.missing-raises")
@pytest.mark.parametrize("repo_id", ["0123456789abcdef01234567", "Repo-1", "repo-", ""])
def test_update_of_an_unknown_repo_raises(sink, repo_id):
    known = sink.create_repo(make_repo("r", _id="repo-1"))
    with pytest.raises(RepoNotFound) as err:
        sink.update_repo(repo_id, {"project": "x"})
    assert err.value.key == repo_id
    assert apart_from_id(sink.get_repo_by_id("repo-1")) == apart_from_id(known)
    assert sink.update_repo("repo-1", {"project": "x"})["project"] == "x"


@clause("repos.update.url-unique")
def test_update_to_another_repos_url_is_refused(sink):
    sink.create_repo(make_repo("one", url="https://h/one"))
    two = sink.create_repo(make_repo("two", url="https://h/two"))
    with pytest.raises(DuplicateRepo) as err:
        sink.update_repo(two["_id"], {"url": "https://h/one"})
    assert (err.value.field, err.value.value) == ("url", "https://h/one")
    assert apart_from_id(sink.get_repo_by_id(two["_id"])) == apart_from_id(two)


@clause("repos.update.url-unique")
def test_update_repo_giving_a_repo_its_own_url_again_is_no_conflict(sink):
    sink.create_repo(make_repo("one", url="https://h/one"))
    two = sink.create_repo(make_repo("two", url="https://h/two"))
    updated = sink.update_repo(two["_id"], {"url": "https://h/two", "project": "p"})
    assert (updated["url"], updated["project"]) == ("https://h/two", "p")


@clause("repos.delete.removes")
@pytest.mark.parametrize("lookup", sorted(REPO_LOOKUPS))
def test_a_deleted_repo_is_gone_from_every_lookup(sink, lookup):
    repo = sink.create_repo(make_repo("gone"))
    own, _ = REPO_LOOKUPS[lookup]
    assert getattr(sink, lookup)(own(repo)) is not None
    sink.delete_repo(repo["_id"])
    assert getattr(sink, lookup)(own(repo)) is None
    assert sink.get_repos({"name": "gone"}) == []


@clause("repos.delete.removes")
def test_delete_repo_removes_it_and_unknown_ids_are_a_no_op(sink):
    keep = sink.create_repo(make_repo("keep"))
    gone = sink.create_repo(make_repo("gone"))
    sink.delete_repo(gone["_id"])
    sink.delete_repo("0123456789abcdef01234567")
    sink.delete_repo(keep["_id"][:-1])
    sink.delete_repo(keep["_id"].upper() if keep["_id"].upper() != keep["_id"] else "X")
    assert sink.get_repo_by_id(gone["_id"]) is None
    assert [r["_id"] for r in sink.get_repos()] == [keep["_id"]]


@clause("repos.dates.created-once")
def test_date_created_never_changes(sink):
    repo = sink.create_repo(make_repo("r"))
    assert repo["dateCreated"]
    sink.add_user_can_push(repo["_id"], "alice")
    sink.update_repo(repo["_id"], {"project": "x"})
    assert sink.get_repo_by_id(repo["_id"])["dateCreated"] == repo["dateCreated"]


@clause("repos.dates.created-once")
def test_date_created_given_by_the_caller_is_ignored(sink):
    repo = sink.create_repo(make_repo("r", dateCreated="1999-01-01T00:00:00.000Z"))
    assert repo["dateCreated"] != "1999-01-01T00:00:00.000Z"


@clause("repos.dates.modified-moves")
def test_last_modified_increases_with_every_change(sink):
    repo = sink.create_repo(make_repo("r"))
    seen = [repo["lastModified"]]
    for change in (
        lambda: sink.add_user_can_push(repo["_id"], "alice"),
        lambda: sink.add_user_can_authorise(repo["_id"], "bob"),
        lambda: sink.remove_user_can_authorise(repo["_id"], "bob"),
        lambda: sink.update_repo(repo["_id"], {"project": "p"}),
        lambda: sink.remove_user_can_push(repo["_id"], "alice"),
    ):
        change()
        seen.append(sink.get_repo_by_id(repo["_id"])["lastModified"])
    assert seen == sorted(seen) and len(set(seen)) == len(seen)


@clause("repos.dates.modified-moves")
def test_last_modified_increases_even_when_the_clock_reads_earlier(sink, monkeypatch):
    # a restarted process whose clock was set back, or another host's clock running behind:
    # every change still moves lastModified past the stamp the repo already holds
    repo = sink.create_repo(make_repo("r"))
    behind = clock.ms_from_iso(repo["lastModified"]) - 3_600_000
    monkeypatch.setattr(clock, "now_ms", lambda: behind)
    seen = [repo["lastModified"]]
    for change in (
        lambda: sink.update_repo(repo["_id"], {"project": "p"}),
        lambda: sink.add_user_can_push(repo["_id"], "alice"),
        lambda: sink.remove_user_can_push(repo["_id"], "alice"),
    ):
        change()
        seen.append(sink.get_repo_by_id(repo["_id"])["lastModified"])
    assert [clock.ms_from_iso(s) for s in seen] == sorted({clock.ms_from_iso(s) for s in seen})


# --- permissions ---------------------------------------------------------------------------------

@clause("repos.permissions.new-repo-empty-lists")
def test_a_new_repo_starts_with_empty_permission_lists(sink):
    bare = make_repo("bare")
    del bare["users"]  # as git-proxy's createRepo may be called: no permission lists at all
    nulls = make_repo("nulls", users={"canPush": None, "canAuthorise": None})
    for repo in (sink.create_repo(bare), sink.create_repo(nulls)):
        assert repo["users"] == {"canPush": [], "canAuthorise": []}
        assert sink.get_repo_by_id(repo["_id"])["users"] == {"canPush": [], "canAuthorise": []}


@clause("repos.permissions.new-repo-empty-lists")
def test_initial_permission_lists_are_kept_and_folded(sink):
    repo = sink.create_repo(make_repo("r", users={"canPush": ["Alice", "alice", "bob"],
                                                  "canAuthorise": ["CAROL"]}))
    assert repo["users"] == {"canPush": ["alice", "bob"], "canAuthorise": ["carol"]}


@clause("repos.permissions.add-idempotent")
@pytest.mark.parametrize("role", ["canPush", "canAuthorise"])
def test_adding_a_listed_user_again_changes_nothing(sink, role):
    repo = sink.create_repo(make_repo("r"))
    add = sink.add_user_can_push if role == "canPush" else sink.add_user_can_authorise
    add(repo["_id"], "alice")
    add(repo["_id"], "bob")
    add(repo["_id"], "alice")
    assert sink.get_repo_by_id(repo["_id"])["users"][role] == ["alice", "bob"]


ROLES = {"canPush": ("add_user_can_push", "remove_user_can_push"),
         "canAuthorise": ("add_user_can_authorise", "remove_user_can_authorise")}


@clause("repos.permissions.case-folded")
@pytest.mark.parametrize("role", sorted(ROLES))
def test_permission_names_are_folded_on_add_and_remove(sink, role):
    add, remove = (getattr(sink, m) for m in ROLES[role])
    repo = sink.create_repo(make_repo("r"))
    add(repo["_id"], "Alice")
    add(repo["_id"], "ALICE")
    add(repo["_id"], "Straße")
    assert sink.get_repo_by_id(repo["_id"])["users"][role] == ["alice", "straße"]
    remove(repo["_id"], "aLiCe")
    remove(repo["_id"], "STRASSE")  # lower(), not casefold(): another name
    assert sink.get_repo_by_id(repo["_id"])["users"][role] == ["straße"]
    remove(repo["_id"], "STRAßE")
    assert sink.get_repo_by_id(repo["_id"])["users"][role] == []


@clause("repos.permissions.empty-list")
@pytest.mark.parametrize("role", ["canPush", "canAuthorise"])
def test_removing_the_last_user_leaves_an_empty_list(sink, role):
    repo = sink.create_repo(make_repo("r"))
    suffix = "push" if role == "canPush" else "authorise"
    getattr(sink, f"add_user_can_{suffix}")(repo["_id"], "alice")
    getattr(sink, f"remove_user_can_{suffix}")(repo["_id"], "alice")
    assert sink.get_repo_by_id(repo["_id"])["users"][role] == []
    assert sink.get_repos()[0]["users"][role] == []


@clause("repos.permissions.remove-absent-noop")
@pytest.mark.parametrize("role", sorted(ROLES))
@pytest.mark.parametrize("absent", ["bob", "ali", "alice2", "al*"])
def test_removing_an_unlisted_user_is_a_no_op(sink, role, absent):
    users = {"canPush": ["alice", "carol"], "canAuthorise": ["alice", "carol"]}
    repo = sink.create_repo(make_repo("r", users=users))
    getattr(sink, ROLES[role][1])(repo["_id"], absent)
    assert sink.get_repo_by_id(repo["_id"])["users"] == users


@clause("repos.permissions.missing-repo-raises")
@pytest.mark.parametrize("method", PERMISSION_CHANGES)
@pytest.mark.parametrize("repo_id", ["0123456789abcdef01234567", "not-an-id", ""])
def test_a_permission_change_on_a_missing_repo_raises(sink, method, repo_id):
    with pytest.raises(RepoNotFound) as err:
        getattr(sink, method)(repo_id, "alice")
    assert err.value.key == repo_id
    assert sink.get_repos() == []
    # the same call on a repo that exists lands
    removing = method.startswith("remove")
    role = "canPush" if method.endswith("push") else "canAuthorise"
    repo = sink.create_repo(make_repo("r", users={role: ["alice"] if removing else []}))
    getattr(sink, method)(repo["_id"], "alice")
    assert sink.get_repo_by_id(repo["_id"])["users"][role] == ([] if removing else ["alice"])


@clause("repos.permissions.roles-independent")
@pytest.mark.parametrize("role", sorted(ROLES))
def test_push_and_authorise_lists_are_independent(sink, role):
    other = next(r for r in ROLES if r != role)
    add, remove = (getattr(sink, m) for m in ROLES[role])
    repo = sink.create_repo(make_repo("r", users={other: ["alice"]}))
    add(repo["_id"], "bob")
    assert sink.get_repo_by_id(repo["_id"])["users"] == {role: ["bob"], other: ["alice"]}
    add(repo["_id"], "alice")
    remove(repo["_id"], "alice")
    assert sink.get_repo_by_id(repo["_id"])["users"] == {role: ["bob"], other: ["alice"]}


@clause("repos.permissions.concurrent-adds-all-land")
def test_concurrent_adds_of_distinct_users_all_land(sink):
    # complete permission lists, so a backend that needs them fails on the race, not on them
    repo = sink.create_repo(make_repo("r", users={"canPush": [], "canAuthorise": []}))
    names = [f"user{i:02d}" for i in range(40)]
    barrier = threading.Barrier(8)
    errors = []

    def worker(chunk):
        try:
            barrier.wait()
            for name in chunk:
                sink.add_user_can_push(repo["_id"], name)
                sink.add_user_can_push(repo["_id"], name)  # and once more: no duplicates
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(names[i::8],)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors
    assert sorted(sink.get_repo_by_id(repo["_id"])["users"]["canPush"]) == names
