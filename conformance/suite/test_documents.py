"""Document shapes: every returned document matches its published JSON Schema.

Every suite test already receives documents through a schema-checking wrapper; this test walks
every read method once over a populated sink, so the clause has a test of its own.
"""

from __future__ import annotations

from sinkkit.conformance.checked import RETURNS
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
    sink.create_user(make_user("alice", oidcId="o|a", mustChangePassword=True))
    sink.add_public_key("alice", make_key(1))
    repo = sink.create_repo(make_repo("r", users={"canPush": ["alice"]}))
    sink.write_audit(make_push("p1", userEmail="alice@example.com"))
    sink.write_audit(make_push("p2", timestamp=2))
    sink.authorise("p1", make_attestation("alice"))
    sink.reject("p2", make_rejection())
    calls = {
        "get_push": ("p1",), "get_pushes": ({},), "get_pushes_for_user_profile":
        (["alice@example.com"], "alice"), "get_repo_push_rollups_by_canonical_url": (),
        "get_repos": (), "get_repo": ("r",), "get_repo_by_url": (repo["url"],),
        "get_repo_by_id": (repo["_id"],), "find_user": ("alice",),
        "find_user_by_email": ("alice@example.com",), "find_user_by_git_account": ("alice-git",),
        "find_user_by_oidc": ("o|a",), "find_user_by_ssh_key": (make_key(1)["key"],),
        "get_users": (), "get_public_keys": ("alice",),
    }
    for method, args in calls.items():
        assert method in RETURNS
        result = getattr(sink, method)(*args)  # the wrapper raises ShapeError on a bad shape
        assert result not in (None, [], {}), method
