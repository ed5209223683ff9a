"""The fs adapter's indexes give the answers a scan gives, through every way a document changes.

Each test changes documents one way (a write, a review, a delete, a user edit, a reopen, a torn
tail set aside, a compaction) and then compares the indexes with ones built from scratch over
the same documents, and the indexed answers with the model's full scan.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pytest
import sinkkit.adapters.fs as fs_adapter
from sinkkit.adapters.fs import DatafileWarning, FsSink, nedb
from sinkkit.adapters.fs.index import IndexedCollection, term
from sinkkit.adapters.memory import open_memory_sink
from sinkkit.conformance.factories import make_attestation, make_push, make_repo, make_user
from sinkkit.conformance.model import Collection
from sinkkit.core import queries


def assert_indexes_match_a_rebuild(sink: FsSink) -> None:
    for name, col in sink._collections.items():
        fresh = IndexedCollection(col._fields, col._predicates, ordered=col._ordered)
        fresh.docs = dict(col.docs)
        fresh.rebuild()
        assert col._buckets == fresh._buckets, name
        if col._ordered:
            assert sorted(col.docs, key=col._rank.__getitem__) == list(fresh._rank), name


def scanned_listing(sink: FsSink, query: dict[str, Any]) -> list[dict[str, Any]]:
    """What the model answers without an index: every push, filtered."""
    return sink._listing(lambda p: queries.matches(p, query), Collection.where_any(
        sink._pushes, [query]))


def pending(sink: FsSink) -> list[str]:
    return [p["id"] for p in sink.get_pushes()]


def seeded(directory: Path) -> FsSink:
    sink = FsSink(directory)
    for i in range(12):
        sink.write_audit(make_push(f"p{i:02d}", timestamp=i, repo=f"org/r{i % 3}.git",
                                   userEmail=f"u{i % 2}@example.com"))
    return sink


def test_the_pending_list_follows_reviews_deletes_and_rewrites(tmp_path: Path) -> None:
    sink = seeded(tmp_path)
    sink.authorise("p01", make_attestation())
    sink.reject("p02", {"reviewer": {"username": "r"}})
    sink.cancel("p03")
    sink.delete_push("p04")
    sink.write_audit(make_push("p05", timestamp=5, blocked=False, allowPush=True))
    sink.write_audit(make_push("p99", timestamp=99))
    # rejected and canceled pushes stay blocked: the default listing keeps them
    assert pending(sink) == ["p99", "p11", "p10", "p09", "p08", "p07", "p06", "p03", "p02",
                             "p00"]
    assert sink.get_pushes() == scanned_listing(sink, queries.normalise_query("push", None))
    assert_indexes_match_a_rebuild(sink)
    sink.close()


def test_filtered_listings_match_a_scan(tmp_path: Path) -> None:
    sink = seeded(tmp_path)
    sink.authorise("p03", make_attestation())
    for query in ({"repo": "org/r0.git"}, {"repo": "org/r1.git", "blocked": True},
                  {"userEmail": "u1@example.com", "authorised": True}, {"repo": "none"},
                  {"url": None}, {"type": "push", "error": False}):
        assert sink.get_pushes(query) == scanned_listing(sink, query), query
    sink.close()


def test_user_lookups_follow_every_change_to_a_user(tmp_path: Path) -> None:
    sink = FsSink(tmp_path)
    sink.create_user(make_user("ann", oidcId="o-1"))
    sink.update_user({"username": "ann", "email": "new@example.com", "gitAccount": "Ann-New"})
    sink.add_public_key("ann", {"key": "ssh-ed25519 AAAA1", "fingerprint": "SHA256:one"})
    assert sink.find_user_by_email("ann@example.com") is None
    assert sink.find_user_by_email("new@example.com")["username"] == "ann"
    assert sink.find_user_by_git_account("ann-new")["username"] == "ann"
    assert sink.find_user_by_oidc("o-1")["username"] == "ann"
    assert sink.find_user_by_ssh_key("ssh-ed25519 AAAA1")["username"] == "ann"
    sink.remove_public_key("ann", "SHA256:one")
    assert sink.find_user_by_ssh_key("ssh-ed25519 AAAA1") is None
    sink.delete_user("ann")
    assert sink.find_user("ann") is None and sink.find_user_by_oidc("o-1") is None
    assert_indexes_match_a_rebuild(sink)
    sink.close()


def test_a_shared_value_finds_the_first_user_in_collection_order_as_the_model_does(
        tmp_path: Path) -> None:
    fs, memory = FsSink(tmp_path), open_memory_sink()
    for sink in (fs, memory):
        for name in ("amy", "bob", "cat"):
            sink.create_user(make_user(name, oidcId=f"o-{name}"))
        # cat joins amy's oidcId after bob, bob last: collection order stays amy, bob, cat
        sink.update_user({"username": "cat", "oidcId": "shared"})
        sink.update_user({"username": "bob", "oidcId": "shared"})
    assert fs.find_user_by_oidc("shared")["username"] == \
        memory.find_user_by_oidc("shared")["username"] == "bob"
    fs.close()


def test_repo_lookups_follow_renames_and_url_changes(tmp_path: Path) -> None:
    sink = FsSink(tmp_path)
    repo = sink.create_repo(make_repo("one", url="https://example.com/one.git"))
    sink.update_repo(repo["_id"], {"url": "https://example.com/two.git"})
    assert sink.get_repo_by_url("https://example.com/one.git") is None
    assert sink.get_repo_by_url("https://example.com/two.git")["_id"] == repo["_id"]
    sink.create_repo(make_repo("other", url="https://example.com/one.git"))  # the old url is free
    assert_indexes_match_a_rebuild(sink)
    sink.close()


def test_a_reopened_sink_indexes_what_the_files_hold(tmp_path: Path) -> None:
    sink = seeded(tmp_path)
    sink.authorise("p00", make_attestation())
    sink.create_user(make_user("ann"))
    before = pending(sink)
    sink.close()
    again = FsSink(tmp_path)
    assert pending(again) == before and again.find_user("ann")["username"] == "ann"
    assert_indexes_match_a_rebuild(again)
    again.close()


def test_a_torn_tail_set_aside_is_not_listed(tmp_path: Path) -> None:
    sink = seeded(tmp_path)
    sink.close()
    line = nedb.serialize({**make_push("p50", timestamp=50), "_id": "p50"})
    with open(tmp_path / "pushes.db", "a", encoding="utf-8") as fh:
        fh.write(line[: len(line) // 2])  # a write cut short by a crash
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DatafileWarning)
        again = FsSink(tmp_path)
    assert "p50" not in pending(again) and len(pending(again)) == 12
    assert_indexes_match_a_rebuild(again)
    again.close()


def test_compaction_at_runtime_and_on_demand_keeps_the_indexes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fs_adapter, "RUNTIME_COMPACTION_SLACK", 0)  # compact at every chance
    sink = seeded(tmp_path)
    for i in range(0, 12, 2):
        sink.authorise(f"p{i:02d}", make_attestation())
    sink.compact()
    assert pending(sink) == [f"p{i:02d}" for i in range(11, 0, -2)]
    assert_indexes_match_a_rebuild(sink)
    sink.close()


def test_an_index_term_keeps_true_apart_from_one_but_one_with_one_point_zero() -> None:
    assert term("f", True) != term("f", 1)
    assert term("f", 1) == term("f", 1.0)
    assert term("f", ["a"]) is None and term("f", None) == ("f", False, None)
