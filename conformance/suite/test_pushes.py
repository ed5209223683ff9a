"""Pushes: writing audit records, listing, the user-profile view, rollups and reviews."""

from __future__ import annotations

import threading

import pytest
from sinkkit.conformance.clauses import clause
from sinkkit.conformance.contract import PUSH_LIST_FIELDS, PUSH_QUERY_KEYS
from sinkkit.conformance.errors import InvalidDocument, InvalidQuery, PushNotFound
from sinkkit.conformance.factories import (
    make_attestation,
    make_push,
    make_rejection,
    make_repo,
    make_user,
)


def ids(pushes):
    return [p["id"] for p in pushes]


# --- write / get -------------------------------------------------------------------------------

@clause("pushes.write.upsert-replaces")
def test_write_audit_replaces_the_whole_document(sink):
    sink.write_audit(make_push("p1", extra="first", steps=[1, 2]))
    replacement = make_push("p1", blockedMessage="second")
    del replacement["steps"]
    sink.write_audit(replacement)
    stored = sink.get_push("p1")
    assert stored["blockedMessage"] == "second"
    assert "extra" not in stored and "steps" not in stored


@clause("pushes.write.upsert-replaces")
def test_write_audit_of_a_new_id_inserts(sink):
    sink.write_audit(make_push("p1"))
    sink.write_audit(make_push("p2"))
    assert sink.get_push("p1") is not None and sink.get_push("p2") is not None


@clause("pushes.get.full-document")
def test_get_push_returns_every_stored_field(sink):
    push = make_push("p1", custom={"nested": [1, {"deep": True}]}, diff={"content": "x" * 100})
    sink.write_audit(push)
    stored = sink.get_push("p1")
    stored.pop("_id", None)
    assert stored == push


@clause("pushes.get.missing-returns-none")
def test_get_push_of_an_unknown_id_returns_none(sink):
    sink.write_audit(make_push("p1"))
    assert sink.get_push("p1")["id"] == "p1"
    assert sink.get_push("nope") is None


@clause("pushes.get.missing-returns-none")
@pytest.mark.parametrize("other", ["push-ab", "PUSH-AB", "Push-A", "Push-AbC", " Push-Ab"])
def test_get_push_matches_the_id_exactly(sink, other):
    sink.write_audit(make_push("Push-Ab"))
    assert sink.get_push("Push-Ab")["id"] == "Push-Ab"
    assert sink.get_push(other) is None


@clause("pushes.write.id-required")
@pytest.mark.parametrize("bad", [None, "", "   ", 42, {"$ne": None}])
def test_write_audit_without_a_usable_id_is_refused(sink, bad):
    push = make_push("x")
    push["id"] = bad
    with pytest.raises(InvalidDocument):
        sink.write_audit(push)
    assert sink.get_pushes({}) == []
    sink.write_audit(make_push("x"))
    assert ids(sink.get_pushes({})) == ["x"]


@clause("pushes.write.id-required")
def test_write_audit_without_an_id_field_is_refused(sink):
    push = make_push("x")
    del push["id"]
    with pytest.raises(InvalidDocument):
        sink.write_audit(push)
    assert sink.get_pushes({}) == []
    sink.write_audit(make_push("x"))
    assert sink.get_push("x") is not None


def nested(levels: int, in_lists: bool) -> object:
    """A value that, as ``payload`` of a push, makes the push ``levels`` objects or lists deep
    (the push itself is the first)."""
    value: object = "leaf"
    for _ in range(levels - 1):
        value = [value] if in_lists else {"a": value}
    return value


@clause("pushes.roundtrip.exact")
@pytest.mark.parametrize("in_lists", [False, True], ids=["objects", "lists"])
def test_a_push_nested_100_levels_deep_round_trips(sink, in_lists):
    # 100 levels: the deepest MongoDB stores, so the deepest every backend must
    push = make_push("p1", payload=nested(100, in_lists))
    sink.write_audit(push)
    stored = sink.get_push("p1")
    stored.pop("_id", None)
    assert stored == push


@clause("pushes.roundtrip.exact")
@pytest.mark.parametrize(
    "payload",
    [
        {"unicode": "Grüße, 世界, 🚀, \u200b"},
        {"quotes": "it's \"quoted\" `back` \\ slash"},
        {"long": "y" * 200_000},
        {"nested": {"a": [{"b": [{"c": {"d": [1, 2.5, None, True, False, "s"]}}]}]}},
        {"numbers": [0, -1, 2**53, -(2**63), 2**63 - 1, 1.5e-10, 123456.789]},
        {"empty": {"obj": {}, "list": [], "str": ""}},
        {"sp ace": 2, "ключ": "значение", "dash-key": "x", "key$": "$value"},
    ],
    ids=["unicode", "quotes", "long", "nested", "numbers", "empty", "odd-keys"],
)
def test_push_payloads_round_trip_exactly(sink, payload):
    push = make_push("p1", payload=payload)
    sink.write_audit(push)
    stored = sink.get_push("p1")
    stored.pop("_id", None)
    assert stored == push
    assert type(stored["payload"]) is dict


# --- listing ------------------------------------------------------------------------------------

def _mixed(sink):
    sink.write_audit(make_push("pending", timestamp=5))
    sink.write_audit(make_push("errored", timestamp=6, error=True))
    sink.write_audit(make_push("allowed", timestamp=7, allowPush=True))
    sink.write_audit(make_push("approved", timestamp=8, authorised=True))
    sink.write_audit(make_push("unblocked", timestamp=9, blocked=False))
    sink.write_audit(make_push("pull", timestamp=10, type="pull"))
    sink.write_audit(make_push("pending2", timestamp=11))


@clause("pushes.list.default-pending")
def test_default_listing_returns_only_pending_pushes(sink):
    _mixed(sink)
    assert ids(sink.get_pushes()) == ["pending2", "pending"]


@clause("pushes.list.default-pending")
def test_default_listing_equals_the_explicit_pending_query(sink):
    _mixed(sink)
    explicit = {"error": False, "blocked": True, "allowPush": False, "authorised": False,
                "type": "push"}
    assert sink.get_pushes(None) == sink.get_pushes(explicit)


@clause("pushes.list.timestamp-descending")
def test_listing_is_ordered_newest_first(sink):
    for i, ts in enumerate([300, 100, 500, 200, 400]):
        sink.write_audit(make_push(f"p{i}", timestamp=ts))
    assert [p["timestamp"] for p in sink.get_pushes()] == [500, 400, 300, 200, 100]


@clause("pushes.list.timestamp-descending")
def test_ordering_uses_numeric_not_lexical_timestamps(sink):
    sink.write_audit(make_push("a", timestamp=9))
    sink.write_audit(make_push("b", timestamp=10))
    sink.write_audit(make_push("c", timestamp=1_700_000_000_000))
    assert ids(sink.get_pushes()) == ["c", "b", "a"]


@clause("pushes.list.ties-by-id-descending")
def test_equal_timestamps_are_ordered_by_id_descending(sink):
    for push_id in ["m", "a", "z", "k"]:
        sink.write_audit(make_push(push_id, timestamp=1000))
    sink.write_audit(make_push("late", timestamp=2000))
    assert ids(sink.get_pushes()) == ["late", "z", "m", "k", "a"]


@clause("pushes.list.ties-by-id-descending")
def test_pushes_without_a_timestamp_come_last(sink):
    untimed = make_push("untimed")
    del untimed["timestamp"]
    sink.write_audit(untimed)
    sink.write_audit(make_push("timed", timestamp=1))
    assert ids(sink.get_pushes()) == ["timed", "untimed"]


@clause("pushes.list.view-fields")
def test_listing_returns_exactly_the_list_view(sink):
    sink.write_audit(make_push("p1", attestation=None, secretField="hidden", steps=[1]))
    (item,) = sink.get_pushes()
    assert set(item) <= set(PUSH_LIST_FIELDS)
    assert "_id" not in item and "secretField" not in item and "steps" not in item
    stored = sink.get_push("p1")
    assert item == {k: stored[k] for k in PUSH_LIST_FIELDS if k in stored}


@clause("pushes.list.view-fields")
def test_fields_absent_from_the_push_stay_absent_in_the_view(sink):
    push = make_push("p1")
    for field in ("userEmail", "commitData", "branch"):
        del push[field]
    sink.write_audit(push)
    (item,) = sink.get_pushes()
    assert "userEmail" not in item and "commitData" not in item and "branch" not in item
    assert "attestation" not in item and "rejection" not in item


@clause("pushes.list.filters-by-field")
def test_a_query_returns_exactly_the_matching_pushes(sink):
    _mixed(sink)
    assert ids(sink.get_pushes({"error": True})) == ["errored"]
    assert ids(sink.get_pushes({"type": "pull"})) == ["pull"]
    assert ids(sink.get_pushes({"authorised": True, "type": "push"})) == ["approved"]
    assert len(sink.get_pushes({})) == 7


_FLAGS = {"error", "blocked", "allowPush", "authorised", "canceled", "rejected"}


def _variants(key):
    """Three values of ``key`` a loose match confuses: the wanted one, one it is a prefix of,
    and one differing in case; for flags, true, false and the field left out."""
    if key in _FLAGS:
        return [True, False, None]
    base = {"id": "Push-A", "type": "push", "method": "POST", "url": "https://h/Team/App.git",
            "userEmail": "Ann@example.com"}.get(key, f"Value-Of-{key}")
    return [base, base + "x", base.swapcase()]


@clause("pushes.list.filters-by-field")
@pytest.mark.parametrize("key", sorted(PUSH_QUERY_KEYS))
def test_each_query_key_selects_exactly_the_equal_pushes(sink, key):
    wanted, *others = _variants(key)
    for n, value in enumerate([wanted, *others]):
        push = make_push(f"q{n}", timestamp=n)
        if value is None:
            del push[key]
        else:
            push[key] = value
        if key == "id":
            push["id"] = value
        sink.write_audit(push)
    found = sink.get_pushes({key: wanted})
    assert [p[key] for p in found] == [wanted]
    if key in _FLAGS:
        assert [p[key] for p in sink.get_pushes({key: False})] == [False]


@clause("pushes.list.filters-by-field")
def test_a_boolean_filter_never_matches_a_number(sink):
    sink.write_audit(make_push("boolean", error=True))
    sink.write_audit(make_push("other", error=False))
    assert sink.get_pushes({"error": 1}) == []
    assert sink.get_pushes({"error": 0}) == []
    assert ids(sink.get_pushes({"error": True})) == ["boolean"]


@clause("pushes.list.filters-by-field")
def test_a_filter_on_a_string_field_is_exact(sink):
    sink.write_audit(make_push("a", repoName="Git-Proxy"))
    sink.write_audit(make_push("b", repoName="git-proxy"))
    assert ids(sink.get_pushes({"repoName": "git-proxy"})) == ["b"]


@clause("pushes.list.unknown-key-refused")
@pytest.mark.parametrize("key", ["constructor", "nosuchfield", "$where", "__proto__", "id;--"])
def test_an_unknown_query_key_is_refused_naming_the_key(sink, key):
    sink.write_audit(make_push("p1"))
    with pytest.raises(InvalidQuery) as err:
        sink.get_pushes({"type": "push", key: True})
    assert key in str(err.value)
    assert ids(sink.get_pushes({"type": "push"})) == ["p1"]


#: listing -> (the key a query names, a plain value that finds the one stored object)
LISTINGS = {"get_pushes": ("userEmail", "alice@example.com"), "get_repos": ("name", "r"),
            "get_users": ("username", "alice")}


@clause("pushes.list.operator-value-refused")
@pytest.mark.parametrize("listing", sorted(LISTINGS))
@pytest.mark.parametrize("value", [{"$ne": None}, ["a"], {"$gt": ""}])
def test_a_non_scalar_query_value_is_refused(sink, listing, value):
    sink.write_audit(make_push("p1"))
    sink.create_repo(make_repo("r"))
    sink.create_user(make_user("alice"))
    key, plain = LISTINGS[listing]
    with pytest.raises(InvalidQuery) as err:
        getattr(sink, listing)({key: value})
    assert key in str(err.value)
    assert len(getattr(sink, listing)({key: plain})) == 1


@clause("pushes.delete.removes")
def test_delete_push_removes_it(sink):
    sink.write_audit(make_push("p1"))
    sink.write_audit(make_push("p2"))
    sink.delete_push("p1")
    assert sink.get_push("p1") is None
    assert ids(sink.get_pushes()) == ["p2"]


@clause("pushes.delete.removes")
@pytest.mark.parametrize("other", ["nope", "P1", "p", "p10"])
def test_deleting_an_unknown_push_is_a_no_op(sink, other):
    sink.write_audit(make_push("p1"))
    sink.delete_push(other)
    assert ids(sink.get_pushes()) == ["p1"]


#: every read that can show a push, each answering whether it still shows "gone"
PUSH_LOOKUPS = {
    "get_push": lambda s: s.get_push("gone") is not None,
    "get_pushes": lambda s: "gone" in ids(s.get_pushes({})),
    "get_pushes_for_user_profile": lambda s: "gone" in ids(
        s.get_pushes_for_user_profile(["gone@example.com"], "")),
    "get_repo_push_rollups_by_canonical_url": lambda s: "h/gone" in (
        s.get_repo_push_rollups_by_canonical_url()["tabCounts"]),
}


@clause("pushes.delete.removes")
@pytest.mark.parametrize("lookup", sorted(PUSH_LOOKUPS))
def test_a_deleted_push_is_gone_from_every_lookup(sink, lookup):
    sink.write_audit(make_push("gone", userEmail="gone@example.com", url="https://h/gone.git"))
    assert PUSH_LOOKUPS[lookup](sink)
    sink.delete_push("gone")
    assert not PUSH_LOOKUPS[lookup](sink)


# --- reviews -------------------------------------------------------------------------------------

@clause("pushes.authorise.sets-flags")
def test_authorise_sets_the_flags_and_stores_the_attestation(sink):
    sink.write_audit(make_push("p1", canceled=True, rejected=True))
    attestation = make_attestation(note="ünïcödé 'quoted'")
    sink.authorise("p1", attestation)
    push = sink.get_push("p1")
    assert (push["authorised"], push["canceled"], push["rejected"]) == (True, False, False)
    assert push["attestation"] == attestation


@clause("pushes.reject.sets-flags-and-rejection")
def test_reject_sets_the_flags_and_stores_the_rejection_as_given(sink):
    sink.write_audit(make_push("p1", authorised=True))
    rejection = make_rejection(extra={"ticket": "SEC-1"})
    sink.reject("p1", rejection)
    push = sink.get_push("p1")
    assert (push["rejected"], push["authorised"], push["canceled"]) == (True, False, False)
    assert push["rejection"] == rejection


@clause("pushes.reject.sets-flags-and-rejection")
def test_an_automated_rejection_without_display_name_round_trips(sink):
    sink.write_audit(make_push("p1"))
    rejection = {"reviewer": {"username": "bot", "email": "bot@example.com"},
                 "timestamp": 1700000000000, "reason": "policy", "automated": True}
    sink.reject("p1", rejection)
    assert sink.get_push("p1")["rejection"] == rejection


@clause("pushes.cancel.sets-flags")
def test_cancel_sets_the_flags(sink):
    sink.write_audit(make_push("p1", authorised=True, rejected=True))
    sink.cancel("p1")
    push = sink.get_push("p1")
    assert (push["canceled"], push["authorised"], push["rejected"]) == (True, False, False)


REVIEWS = {"authorise": (make_attestation(),), "reject": (make_rejection(),), "cancel": ()}


@clause("pushes.review.message-names-id")
@pytest.mark.parametrize("action", sorted(REVIEWS))
def test_each_review_returns_a_message_naming_the_push(sink, action):
    sink.write_audit(make_push("Push-42aB"))
    result = getattr(sink, action)("Push-42aB", *REVIEWS[action])
    assert set(result) == {"message"} and "Push-42aB" in result["message"]


@clause("pushes.review.unknown-id-raises")
@pytest.mark.parametrize("action", ["authorise", "reject", "cancel"])
def test_reviewing_an_unknown_push_raises_push_not_found(sink, action):
    args = {"authorise": (make_attestation(),), "reject": (make_rejection(),), "cancel": ()}
    sink.write_audit(make_push("Ghost"))
    before = sink.get_push("Ghost")
    with pytest.raises(PushNotFound) as err:
        getattr(sink, action)("ghost", *args[action])
    assert err.value.key == "ghost"
    assert sink.get_push("ghost") is None
    assert sink.get_push("Ghost") == before
    getattr(sink, action)("Ghost", *args[action])  # a push that exists is reviewed
    assert sink.get_push("Ghost") != before


@clause("pushes.review.keeps-other-fields")
@pytest.mark.parametrize("action", sorted(REVIEWS))
def test_a_review_keeps_every_other_field(sink, action):
    push = make_push("p1", custom={"keep": ["me"]}, attestation=None if action == "authorise"
                     else make_attestation("dave"))
    sink.write_audit(push)
    getattr(sink, action)("p1", *REVIEWS[action])
    stored = sink.get_push("p1")
    changed = {"authorised", "canceled", "rejected",
               {"authorise": "attestation", "reject": "rejection"}.get(action)}
    assert {k: v for k, v in stored.items() if k not in changed and k != "_id"} == {
        k: v for k, v in push.items() if k not in changed}


@clause("pushes.review.flags-exclusive")
def test_review_flags_are_exclusive_after_a_sequence(sink):
    sink.write_audit(make_push("p1"))
    sink.authorise("p1", make_attestation())
    sink.reject("p1", make_rejection())
    sink.cancel("p1")
    sink.authorise("p1", make_attestation())
    push = sink.get_push("p1")
    assert [push["authorised"], push["rejected"], push["canceled"]] == [True, False, False]


@clause("pushes.review.flags-exclusive")
def test_racing_reviewers_never_leave_two_flags_set(sink):
    for i in range(5):
        sink.write_audit(make_push(f"race{i}"))
    barrier = threading.Barrier(3)
    errors = []

    def reviewer(action):
        try:
            barrier.wait()
            for i in range(5):
                if action == "authorise":
                    sink.authorise(f"race{i}", make_attestation())
                elif action == "reject":
                    sink.reject(f"race{i}", make_rejection())
                else:
                    sink.cancel(f"race{i}")
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=reviewer, args=(a,)) for a in
               ("authorise", "reject", "cancel")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    for i in range(5):
        push = sink.get_push(f"race{i}")
        assert [push["authorised"], push["rejected"], push["canceled"]].count(True) == 1


# --- user profile --------------------------------------------------------------------------------

def _profile_data(sink):
    sink.write_audit(make_push("mine", timestamp=1, userEmail="alice@example.com"))
    sink.write_audit(make_push("mine-alias", timestamp=2, userEmail="Alice@Corp.example"))
    sink.write_audit(make_push("theirs", timestamp=3, userEmail="bob@example.com"))
    sink.write_audit(make_push("reviewed", timestamp=4, userEmail="bob@example.com",
                               attestation=make_attestation("ALICE")))
    sink.write_audit(make_push("mine-pull", timestamp=5, userEmail="alice@example.com",
                               type="pull"))


@clause("pushes.profile.by-email-variant")
def test_profile_lists_pushes_by_any_email_variant(sink):
    _profile_data(sink)
    found = sink.get_pushes_for_user_profile(["alice@example.com", "Alice@Corp.example"], "")
    assert ids(found) == ["mine-alias", "mine"]


@clause("pushes.profile.by-reviewer-username")
def test_profile_lists_pushes_reviewed_by_the_user_ignoring_case(sink):
    _profile_data(sink)
    found = sink.get_pushes_for_user_profile(["alice@example.com"], "alice")
    assert ids(found) == ["reviewed", "mine"]


@clause("pushes.profile.by-reviewer-username")
def test_regex_characters_in_the_username_are_literal(sink):
    sink.write_audit(make_push("dotted", attestation=make_attestation("a.b")))
    sink.write_audit(make_push("other", attestation=make_attestation("axb")))
    sink.write_audit(make_push("star", attestation=make_attestation("a.*")))
    assert ids(sink.get_pushes_for_user_profile([], "a.b")) == ["dotted"]
    assert ids(sink.get_pushes_for_user_profile([], "a.*")) == ["star"]
    assert ids(sink.get_pushes_for_user_profile([], "A.B")) == ["dotted"]


@clause("pushes.profile.by-reviewer-username")
@pytest.mark.parametrize("name", ["al", "alic", "alice2", "lice", "a"])
def test_a_username_that_is_part_of_the_reviewers_matches_nothing(sink, name):
    sink.write_audit(make_push("reviewed", attestation=make_attestation("Alice")))
    assert ids(sink.get_pushes_for_user_profile([], "alice")) == ["reviewed"]
    assert sink.get_pushes_for_user_profile([], name) == []


@clause("pushes.profile.by-email-variant")
@pytest.mark.parametrize("variant", ["alice@example.co", "lice@example.com",
                                     "alice@example.com.au", "ALICE@example.com"])
def test_an_email_variant_matches_only_an_equal_user_email(sink, variant):
    sink.write_audit(make_push("mine", userEmail="alice@example.com"))
    assert ids(sink.get_pushes_for_user_profile(["alice@example.com"], "")) == ["mine"]
    assert sink.get_pushes_for_user_profile([variant], "") == []


@clause("pushes.profile.no-variants-reviewer-only")
def test_without_email_variants_only_the_reviewer_match_applies(sink):
    _profile_data(sink)
    assert ids(sink.get_pushes_for_user_profile([], "alice")) == ["reviewed"]
    assert sink.get_pushes_for_user_profile([], "") == []
    sink.write_audit(make_push("anonymous", userEmail=""))
    assert sink.get_pushes_for_user_profile([""], "") == []


@clause("pushes.profile.order-and-view")
def test_profile_listing_uses_the_list_view_order_and_type(sink):
    _profile_data(sink)
    sink.write_audit(make_push("tie-b", timestamp=1, userEmail="alice@example.com"))
    found = sink.get_pushes_for_user_profile(["alice@example.com"], "")
    assert ids(found) == ["tie-b", "mine"]
    assert all(set(p) <= set(PUSH_LIST_FIELDS) for p in found)


# --- rollups -------------------------------------------------------------------------------------

@clause("pushes.rollups.canonical-url")
def test_rollups_merge_url_spellings_of_one_repo(sink):
    urls = ["https://GitHub.com/Finos/Git-Proxy.git", "https://github.com/finos/git-proxy/",
            "git@github.com:finos/git-proxy.git", "http://github.com/finos/git-proxy",
            "https://bot:T0ken@github.com/finos/git-proxy.git"]
    for i, url in enumerate(urls):
        sink.write_audit(make_push(f"p{i}", url=url, timestamp=i))
    sink.write_audit(make_push("port", url="https://git.example:8443/team/app.git"))
    rollups = sink.get_repo_push_rollups_by_canonical_url()
    assert set(rollups["tabCounts"]) == {"github.com/finos/git-proxy", "git.example:8443/team/app"}
    assert rollups["tabCounts"]["github.com/finos/git-proxy"]["pending"] == 5


@clause("pushes.rollups.status-priority")
def test_each_push_counts_once_under_its_highest_priority_status(sink):
    cases = {
        "err": {"error": True, "rejected": True, "authorised": True},
        "rej": {"rejected": True, "canceled": True, "authorised": True},
        "can": {"canceled": True, "authorised": True},
        "auth": {"authorised": True, "blocked": True},
        "blocked": {"blocked": True, "allowPush": True},
        "allowed": {"blocked": False, "allowPush": True},
        "neither": {"blocked": False, "allowPush": False},
    }
    for push_id, flags in cases.items():
        sink.write_audit(make_push(push_id, url="https://h/r.git", **flags))
    counts = sink.get_repo_push_rollups_by_canonical_url()["tabCounts"]["h/r"]
    assert counts == {"error": 1, "rejected": 1, "canceled": 1, "approved": 2, "pending": 2}


@clause("pushes.rollups.latest-timestamps")
def test_rollups_carry_latest_push_and_latest_pending_timestamps(sink):
    # written out of order, so "latest" is never simply "last written" or "first written"
    sink.write_audit(make_push("pending", url="https://h/r", timestamp=200))
    sink.write_audit(make_push("approved", url="https://h/r", timestamp=300, authorised=True))
    sink.write_audit(make_push("old-pending", url="https://h/r", timestamp=100))
    sink.write_audit(make_push("old-approved", url="https://h/r", timestamp=50, authorised=True))
    rollups = sink.get_repo_push_rollups_by_canonical_url()
    assert rollups["latestPushAtMs"] == {"h/r": 300}
    assert rollups["latestPendingReviewAtMs"] == {"h/r": 200}


@clause("pushes.rollups.skips-empty-url-and-other-types")
def test_rollups_skip_empty_urls_and_other_types(sink):
    sink.write_audit(make_push("empty", url=""))
    sink.write_audit(make_push("blank", url="   "))
    nourl = make_push("nourl")
    del nourl["url"]
    sink.write_audit(nourl)
    sink.write_audit(make_push("pull", url="https://h/r", type="pull", timestamp=9))
    sink.write_audit(make_push("counted", url="https://h/other", timestamp=5))
    assert sink.get_repo_push_rollups_by_canonical_url() == {
        "tabCounts": {"h/other": {"pending": 1, "approved": 0, "canceled": 0, "rejected": 0,
                                  "error": 0}},
        "latestPushAtMs": {"h/other": 5}, "latestPendingReviewAtMs": {"h/other": 5}}
