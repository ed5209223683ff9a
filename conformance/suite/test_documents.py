"""Document shapes: every returned document matches its published JSON Schema.

This is the one clause a shape problem fails (with the clause whose rule the problem breaks, which
asserts that rule itself). Elsewhere the suite's schema-checking wrapper records what it saw as a
note on the clause's row, so one malformed document does not fail every clause that read it. This
test calls every read method, and every write that returns a document, on the adapter itself.
"""

from __future__ import annotations

from sinkkit.conformance.checked import RETURNS, shape_problems
from sinkkit.conformance.clauses import clause
from sinkkit.conformance.factories import (
    make_attestation,
    make_key,
    make_push,
    make_rejection,
    make_repo,
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
