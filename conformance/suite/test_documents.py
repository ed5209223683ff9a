"""Document shapes: every returned document matches its published JSON Schema.

This is the one clause a shape problem fails (with the clause whose rule the problem breaks, which
asserts that rule itself). Elsewhere the suite's schema-checking wrapper records what it saw as a
note on the clause's row, so one malformed document does not fail every clause that read it. This
test calls every read method, and every write that returns a document, on the adapter itself.
"""

from __future__ import annotations

import copy

import pytest
from sinkkit.conformance.checked import RETURNS, shape_problems
from sinkkit.conformance.clauses import clause
from sinkkit.conformance.factories import (
    make_attestation,
    make_key,
    make_push,
    make_rejection,
    make_repo,
    make_session,
    make_user,
)


@clause("documents.returned-shapes-valid")
def test_every_read_returns_schema_valid_documents(sink):
    raw = sink.raw  # unwrapped: this clause judges the shapes itself, the wrapper only notes them
    results = {
        "create_user": raw.create_user(make_user("alice", oidcId="o|a", mustChangePassword=True)),
        "update_user": raw.update_user({"username": "alice", "displayName": "Alice"}),
    }
    raw.add_public_key("alice", make_key(1))
    repo = raw.create_repo(make_repo("r", users={"canPush": ["alice"], "canAuthorise": []}))
    results["create_repo"] = repo
    results["update_repo"] = raw.update_repo(repo["_id"], {"project": "q"})
    for n in (1, 2, 3):
        raw.write_audit(make_push(f"p{n}", timestamp=n, userEmail="alice@example.com"))
    results["authorise"] = raw.authorise("p1", make_attestation("alice"))
    results["reject"] = raw.reject("p2", make_rejection())
    results["cancel"] = raw.cancel("p3")
    reads = {
        "get_push": ("p1",), "get_pushes": ({},), "get_pushes_for_user_profile":
        (["alice@example.com"], "alice"), "get_repo_push_rollups_by_canonical_url": (),
        "get_repos": (), "get_repo": ("r",), "get_repo_by_url": (repo["url"],),
        "get_repo_by_id": (repo["_id"],), "find_user": ("alice",),
        "find_user_by_email": ("alice@example.com",), "find_user_by_git_account": ("alice-git",),
        "find_user_by_oidc": ("o|a",), "find_user_by_ssh_key": (make_key(1)["key"],),
        "get_users": (), "get_public_keys": ("alice",),
    }
    for method, args in reads.items():
        results[method] = getattr(raw, method)(*args)
        assert results[method] not in (None, [], {}), f"{method}{args} found nothing"
    assert set(results) == set(RETURNS), "every method that returns a document is exercised"
    problems = [str(p) for method, value in results.items() for p in shape_problems(method, value)]
    assert not problems, "\n".join(problems)


# --- documents are the caller's own copies -----------------------------------------------------

def vandalise(value):
    """Edit ``value`` in place at every depth: nested objects and lists are changed where they
    are (never replaced), so a copy that is shallow at any level shows through."""
    if isinstance(value, dict):
        for key, item in list(value.items()):
            if isinstance(item, (dict, list)):
                vandalise(item)
            else:
                value[key] = "vandalised"
        value["vandalised"] = True
    elif isinstance(value, list):
        for item in value:
            vandalise(item)
        value.append("vandalised")


def _populate(sink):
    sink.create_user(make_user("alice", oidcId="o|alice", prefs={"tags": ["a"], "ui": {"x": 1}}))
    sink.add_public_key("alice", make_key(1))
    repo = sink.create_repo(make_repo("r", users={"canPush": ["alice"]}, meta={"tags": ["t"]}))
    sink.write_audit(make_push("p1", userEmail="alice@example.com",
                               attestation=make_attestation("alice")))
    sink.session_store.set("s1", make_session(flash={"msgs": ["hi"]}))
    return repo


#: method -> its arguments over ``_populate``'s data (a callable when they need the repo)
RETURNING = {
    "get_push": ("p1",),
    "get_pushes": ({},),
    "get_pushes_for_user_profile": (["alice@example.com"], "alice"),
    "get_repo_push_rollups_by_canonical_url": (),
    "get_repos": (),
    "get_repo": ("r",),
    "get_repo_by_url": ("https://github.com/finos/r.git",),
    "get_repo_by_id": (lambda repo: repo["_id"],),
    "find_user": ("alice",),
    "find_user_by_email": ("alice@example.com",),
    "find_user_by_git_account": ("alice-git",),
    "find_user_by_oidc": ("o|alice",),
    "find_user_by_ssh_key": (make_key(1)["key"],),
    "get_users": (),
    "get_public_keys": ("alice",),
    "session_store.get": ("s1",),
    "session_store.all": (),
}


def _method(sink, name):
    owner, _, attr = name.rpartition(".")
    return getattr(sink.session_store if owner else sink, attr)


@clause("documents.returned-are-copies")
@pytest.mark.parametrize("method", sorted(RETURNING))
def test_editing_what_a_read_returns_changes_nothing_stored(sink, method):
    repo = _populate(sink)
    args = [a(repo) if callable(a) else a for a in RETURNING[method]]
    call = _method(sink, method)
    first = call(*args)
    assert first and first != views_empty(method), f"{method} found nothing to return"
    expected = copy.deepcopy(first)
    vandalise(first)
    assert call(*args) == expected


def views_empty(method):
    return {"tabCounts": {}, "latestPushAtMs": {}, "latestPendingReviewAtMs": {}} if (
        method == "get_repo_push_rollups_by_canonical_url") else None


#: write -> (call returning a document, read of what it stored)
WRITES_RETURNING = {
    "create_user": (lambda s, r: s.create_user(make_user("bob", prefs={"tags": ["b"]})),
                    lambda s, r: s.find_user("bob")),
    "update_user": (lambda s, r: s.update_user({"username": "alice", "prefs": {"tags": ["c"]}}),
                    lambda s, r: s.find_user("alice")),
    "create_repo": (lambda s, r: s.create_repo(make_repo("s", meta={"tags": ["s"]})),
                    lambda s, r: s.get_repo("s")),
    "update_repo": (lambda s, r: s.update_repo(r["_id"], {"meta": {"tags": ["u"]}}),
                    lambda s, r: s.get_repo_by_id(r["_id"])),
}


@clause("documents.returned-are-copies")
@pytest.mark.parametrize("method", sorted(WRITES_RETURNING))
def test_editing_what_a_write_returns_changes_nothing_stored(sink, method):
    repo = _populate(sink)
    write, read = WRITES_RETURNING[method]
    returned = write(sink, repo)
    stored = read(sink, repo)
    assert stored is not None
    vandalise(returned)
    assert read(sink, repo) == stored


#: write -> (the document it is given, the call, the read of what it stored)
WRITES_TAKING = {
    "write_audit": (lambda: make_push("p2", commitData=[{"message": "m", "files": ["a"]}]),
                    lambda s, r, doc: s.write_audit(doc), lambda s, r: s.get_push("p2")),
    "authorise": (lambda: make_attestation("carol"), lambda s, r, doc: s.authorise("p1", doc),
                  lambda s, r: s.get_push("p1")),
    "reject": (lambda: make_rejection("carol"), lambda s, r, doc: s.reject("p1", doc),
               lambda s, r: s.get_push("p1")),
    "create_repo": (lambda: make_repo("s", users={"canPush": ["bob"]}, meta={"tags": ["s"]}),
                    lambda s, r, doc: s.create_repo(doc), lambda s, r: s.get_repo("s")),
    "update_repo": (lambda: {"meta": {"tags": ["u"]}, "project": "p"},
                    lambda s, r, doc: s.update_repo(r["_id"], doc),
                    lambda s, r: s.get_repo_by_id(r["_id"])),
    "create_user": (lambda: make_user("bob", prefs={"tags": ["b"]}, publicKeys=[make_key(2)]),
                    lambda s, r, doc: s.create_user(doc), lambda s, r: s.find_user("bob")),
    "update_user": (lambda: {"username": "alice", "prefs": {"tags": ["c"], "ui": {"y": 2}}},
                    lambda s, r, doc: s.update_user(doc), lambda s, r: s.find_user("alice")),
    "add_public_key": (lambda: make_key(3, extra={"labels": ["work"]}),
                       lambda s, r, doc: s.add_public_key("alice", doc),
                       lambda s, r: s.get_public_keys("alice")),
    "session_store.set": (lambda: make_session(flash={"msgs": ["x"]}),
                          lambda s, r, doc: s.session_store.set("s2", doc),
                          lambda s, r: s.session_store.get("s2")),
    "session_store.touch": (lambda: make_session(flash={"msgs": ["y"]}),
                            lambda s, r, doc: s.session_store.touch("s1", doc),
                            lambda s, r: s.session_store.get("s1")),
}


@clause("documents.inputs-are-copied")
@pytest.mark.parametrize("method", sorted(WRITES_TAKING))
def test_editing_a_document_after_writing_it_changes_nothing_stored(sink, method):
    repo = _populate(sink)
    build, write, read = WRITES_TAKING[method]
    doc = build()
    write(sink, repo, doc)
    stored = read(sink, repo)
    assert stored, f"{method} stored nothing to compare"
    vandalise(doc)
    assert read(sink, repo) == stored
