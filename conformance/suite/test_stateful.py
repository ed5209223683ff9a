"""Model-based testing: random programs over every Sink method, the adapter against memory.

One Hypothesis ``RuleBasedStateMachine`` drives the adapter under test and a fresh memory sink (the
reference model) in lockstep and compares every result and every error class. Created users, repos,
pushes, sessions and public keys go into ``Bundle``s, so later rules act on objects that exist (a
delete ``consumes`` its object); two rules deliberately aim at missing ids, so the not-found answers
stay compared. Every example begins with six tours (``@initialize``), one per kind of object, that
call each of the kind's methods once on inputs every backend accepts and leave the first objects in
the bundles: every method then succeeds at least once per example, so the per-lane coverage target
holds on every seed instead of depending on the rules drawn. After every write an ``@invariant``
compares the listings of the resource it touched, and the end of each example compares the whole
stored state, every object through each of its lookups. Each example gets fresh storage from the
harness. Generated ids are mapped (adapter id -> model id) and repo dates, which come from different
clocks, are held to their ordering rules instead of compared.

Settings come from a Hypothesis profile: ``sinkkit-fast`` by default, ``sinkkit-deep`` for a longer
run, chosen with ``SINKKIT_HYPOTHESIS_PROFILE=sinkkit-deep`` (or ``--hypothesis-profile`` once the
profiles are registered before pytest configures Hypothesis). The seed is printed with the
settings and can be forced with ``SINKKIT_HYPOTHESIS_SEED`` or ``--hypothesis-seed``. No example
database is written. A failure prints the shrunk program, objects named by their bundle
(``repos_0``). Every run records per-rule and per-method counts (calls, successes), printed in
the lane's terminal summary and kept in its clause report.
"""

from __future__ import annotations

import functools
import os
import random
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import core, seed, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    multiple,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sinkkit.conformance.checked import RETURNS, CheckedSink
from sinkkit.conformance.clauses import clause
from sinkkit.conformance.contract import PUSH_QUERY_KEYS, REPO_QUERY_KEYS, USER_QUERY_KEYS
from sinkkit.conformance.errors import SinkError
from sinkkit.conformance.harness import Slot
from sinkkit.conformance.model import DocumentSink
from sinkkit.conformance.stateful_counts import WRITES, Counters
from sinkkit.core.clock import ms_from_iso

try:  # Hypothesis' own swarm-testing flags: internal, so a later Hypothesis may move them
    from hypothesis.strategies._internal.featureflags import FeatureFlags
except ImportError:  # pragma: no cover - then every profile keeps swarm testing
    FeatureFlags = None

PROFILE_ENV = "SINKKIT_HYPOTHESIS_PROFILE"
SEED_ENV = "SINKKIT_HYPOTHESIS_SEED"
#: profiles that draw every rule alike (no swarm testing): the per-lane coverage target holds
EVEN_PROFILES = frozenset({"sinkkit-fast", "sinkkit-upstream"})
#: user_properties key of the counts one run records (the plugin prints and reports them)
COUNTS_PROPERTY = "sinkkit_stateful_counts"


def chosen_profile() -> str:
    """The env var wins; else a sinkkit profile loaded with --hypothesis-profile; else fast."""
    name = os.environ.get(PROFILE_ENV)
    if name:
        return name
    current = settings.get_current_profile_name()
    return current if current.startswith("sinkkit-") else "sinkkit-fast"


def chosen_seed() -> int:
    forced = core.global_force_seed if core.global_force_seed is not None else None
    if forced is None and os.environ.get(SEED_ENV):
        forced = os.environ[SEED_ENV]
    if forced is None:
        return random.SystemRandom().randrange(2**32)
    text = str(forced)
    return int(text) if text.isdigit() else int.from_bytes(text.encode()[:4].ljust(4, b"_"), "big")


# --- generated values -----------------------------------------------------------------------------

SQLISH = ["Robert'); DROP TABLE users;--", "' OR '1'='1", "''''", '"; --', "a\\'b", "%_%",
          "$where", '{"$ne": null}', "this.a == 1", ".*"]
UNICODE = ["Grüße", "名前", "𝄞 clef", "\u200bzero-width", "emoji 😀", "Ωμέγα", "RTL \u202e"]
USERNAMES = ["alice", "ALICE", "bob", "carol", "o'hara", "ünïcode", "$where", "a.b", "x%"]
EMAILS = ["", "alice@example.com", "ALICE@Example.com", "bob@example.org", "q'uote@x.io"]
GIT_ACCOUNTS = ["alice-git", "Alice-Git", "bob-git", "shared"]
OIDC_IDS = ["oidc|1", "OIDC|1", "oidc|2"]
REPO_NAMES = ["git-proxy", "Git-Proxy", "other", "ünïcode", "x'y", "xa", "a_b", "a-b"]
REPO_URLS = ["https://github.com/finos/git-proxy.git", "https://GitHub.com/finos/git-proxy",
             "git@github.com:finos/git-proxy.git", "https://h/o'ther", "https://h/x", ""]
PUSH_IDS = ["p1", "p2", "P1", "p'3", "ü4", "5", "p-%"]
PUSH_URLS = [*REPO_URLS, "ssh://odd/Url", "HTTPS://H:8443/A/B/.git/"]


def awkward_or_plain(awkward: list[str], plain: Callable[[int], str]) -> st.SearchStrategy[str]:
    """One of the awkward values (folding twins, quotes, Unicode: they collide on purpose), or
    one of many plain ones, so a creation usually succeeds and the lookups have objects to find."""
    many = st.integers(0, 60).map(plain)
    return st.one_of(st.sampled_from(awkward), many, many)


new_usernames = awkward_or_plain([*USERNAMES, "", " "], "user{}".format)
new_emails = awkward_or_plain(EMAILS, "user{}@Example.com".format)
new_git_accounts = awkward_or_plain(GIT_ACCOUNTS, "Git-{}".format)
new_oidc_ids = awkward_or_plain(OIDC_IDS, "oidc|{}".format)
new_repo_names = awkward_or_plain([*REPO_NAMES, ""], "Repo-{}".format)
new_repo_urls = awkward_or_plain(REPO_URLS, "https://git.example.com/org/Repo-{}.git".format)
SIDS = ["s1", "s2", "S1", "s'3", "sü"]
MIGRATIONS = ["0001-init", "0002-more", "0003'q", "m-ü"]
BAD_IDS = ["", "not-an-id", "0123456789abcdef01234567", "' OR '1'='1", "$ne", "x" * 200]
KEYS = [("ssh-ed25519 AAAA1 a@h", "SHA256:one"), ("ssh-ed25519 AAAA2 b@h", "SHA256:two"),
        ("ssh-rsa AAAA3 'q'@h", "SHA256:three"), ("ssh-ed25519 AAAA1 a@h", "SHA256:four")]
DATES = ["2999-01-01T00:00:00.000Z", "2000-01-01T00:00:00.000Z"]

short_text = st.one_of(
    st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=12),
    st.sampled_from(SQLISH + UNICODE),
)
#: the tours' free text: awkward but taken from a list, so a shrinker need not pare it
#: character by character (every example replays the tours while a failure shrinks)
tour_text = st.sampled_from(["", "plain", *SQLISH, *UNICODE])
long_text = st.builds(lambda piece, n: piece * n, st.sampled_from(["ab'", "ü\"", "😀", "x"]),
                      st.integers(1000, 20_000))
text = st.one_of(short_text, short_text, short_text, long_text)
#: a few inputs every backend must refuse the same way (the model raises InvalidDocument)
unstorable = st.sampled_from(["nul\x00byte", "lone\ud800surrogate"])
#: mostly storable keys; now and then one every backend must refuse (``$`` first, or a dot)
keys = st.one_of(st.sampled_from(["a", "", "__proto__", "constructor", "ü", "'k'", "$ne", "a$",
                                  "_id", "x", "y", "b.c", "z"]), short_text)
scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1),
                    st.floats(allow_nan=False, allow_infinity=False), text)


def _nest(depth: int, leaf: Any) -> Any:
    for i in range(depth):
        leaf = {"d": leaf} if i % 2 else [leaf]
    return leaf


# kept small: a step's choices must fit Hypothesis's buffer, or heavy rules are rarely drawn
json_values = st.one_of(
    st.recursive(scalars, lambda inner: st.lists(inner, max_size=2)
                 | st.dictionaries(keys, inner, max_size=2), max_leaves=4),
    st.builds(_nest, st.integers(1, 104), scalars),  # the limit is 100 levels
)
#: mostly storable names, now and then one every backend must refuse (Hypothesis favours the
#: first entry of a sampled list and the bounds of a range, so the rare ones sit in the middle)
extra_fields = st.dictionaries(
    st.sampled_from(["payload", "meta", "notes", "ü", "payload", "$set", "meta", "notes",
                     "ü", "payload", "meta", "x.y", "notes", "ü", "payload"]),
    json_values, max_size=2)


def rarely() -> st.SearchStrategy[bool]:
    """True about one time in 30."""
    return st.integers(1, 30).map(lambda n: n == 17)


@st.composite
def push_docs(draw: st.DrawFn) -> dict[str, Any]:
    bad_id = draw(rarely())
    push: dict[str, Any] = {"id": draw(st.sampled_from(["", "  ", 7, None] if bad_id
                                                       else PUSH_IDS))}
    # a type and an author's email mostly present: the profile listing has pushes to find
    if not draw(rarely()):
        push["type"] = draw(st.sampled_from(["push", "push", "pull"]))
    if not draw(rarely()):
        push["userEmail"] = draw(st.sampled_from([*EMAILS, None, *EMAILS[1:]]))
    optional = {
        "timestamp": st.one_of(st.sampled_from([1, 2, 2, 1_700_000_000_000]),
                               st.floats(0, 1e13), st.just("yesterday")),
        "url": st.sampled_from(PUSH_URLS),
        "error": st.booleans(), "blocked": st.booleans(), "allowPush": st.booleans(),
        "authorised": st.booleans(), "canceled": st.booleans(), "rejected": st.booleans(),
        "branch": text, "repoName": st.sampled_from(REPO_NAMES), "project": short_text,
        "attestation": attestations(), "commitData": st.lists(json_values, max_size=1),
    }
    for field, strategy in optional.items():
        if draw(st.booleans()):
            push[field] = draw(strategy)
    push.update(draw(extra_fields))
    if draw(st.booleans()):  # allowed when equal to id; anything else is refused
        push["_id"] = draw(st.sampled_from([push["id"]] * 4 + PUSH_IDS))
    if draw(rarely()):
        push["blockedMessage"] = draw(unstorable)
    return push


def attestations(notes: st.SearchStrategy[Any] | None = None) -> st.SearchStrategy[Any]:
    """A reviewer's attestation, now and then any JSON at all; ``notes=st.nothing()`` gives
    only well-formed ones without free-form notes (every backend stores those)."""
    reviewer = st.fixed_dictionaries({"username": st.sampled_from(USERNAMES)},
                                     optional={"email": st.sampled_from(EMAILS)})
    formed = st.fixed_dictionaries({"reviewer": reviewer, "timestamp": st.sampled_from(DATES)},
                                   optional={"notes": json_values if notes is None else notes})
    return formed if notes is not None else st.one_of(formed, json_values)


def user_docs() -> st.SearchStrategy[dict[str, Any]]:
    # the looked-up fields are mostly present, so the lookups that name them find someone;
    # users without them come from update_user's upsert and the first user
    return st.fixed_dictionaries(
        {"username": st.one_of(new_usernames, st.none()), "email": new_emails,
         "gitAccount": new_git_accounts, "oidcId": new_oidc_ids},
        optional={
            "password": st.one_of(st.none(), short_text), "admin": st.booleans(),
            "displayName": text, "title": st.one_of(st.none(), short_text),
            "mustChangePassword": st.booleans(), "prefs": json_values,
            "_id": st.sampled_from(["u-given-1", "u-given-2"]),
        },
    )


def user_changes() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({}, optional={
        "username": st.sampled_from(USERNAMES), "email": st.sampled_from([*EMAILS, None]),
        "gitAccount": st.sampled_from(GIT_ACCOUNTS), "admin": st.booleans(),
        "mustChangePassword": st.booleans(), "displayName": st.one_of(st.none(), text),
        "title": st.sampled_from([1, "t"]), "prefs": json_values, "newField": json_values,
    }).flatmap(with_keys_now_and_then)


def with_keys_now_and_then(changes: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Now and then a change replaces the whole key list (kept rare: it drops the keys the
    key rules added)."""
    replaced = st.lists(public_keys(), max_size=2).map(lambda ks: {**changes, "publicKeys": ks})
    return st.one_of(st.just(changes), st.just(changes), st.just(changes), replaced)


def public_keys(names: st.SearchStrategy[str] = short_text) -> st.SearchStrategy[dict[str, Any]]:
    """The awkward keys (one key under two fingerprints, quotes) or one of many plain ones, so
    a user can hold several and most additions succeed."""
    plain = st.integers(5, 99).map(lambda n: (f"ssh-ed25519 AAAA{n}x k{n}@h", f"SHA256:k{n}X"))
    return st.builds(lambda pair, name: {"key": pair[0], "fingerprint": pair[1], "name": name},
                     st.one_of(st.sampled_from(KEYS), plain), names)


def repo_docs() -> st.SearchStrategy[dict[str, Any]]:
    names = st.lists(st.sampled_from(USERNAMES), max_size=3)
    return st.fixed_dictionaries(
        {"name": st.one_of(new_repo_names, st.none()), "url": new_repo_urls},
        optional={"project": short_text, "users": st.fixed_dictionaries(
            {}, optional={"canPush": names, "canAuthorise": names}),
            "description": json_values, "dateCreated": st.just("1999-01-01T00:00:00.000Z"),
            "_id": st.sampled_from(["r-given-1", "r-given-2"])},
    )


@st.composite
def repo_changes(draw: st.DrawFn) -> dict[str, Any]:
    changes = draw(st.fixed_dictionaries({}, optional={
        "project": short_text, "url": new_repo_urls, "name": new_repo_names,
        "description": json_values}))
    if draw(rarely()):  # fields update_repo must refuse: now and then, so most updates apply
        changes.update(draw(st.sampled_from([{"users": {"canPush": []}},
                                             {"lastModified": "2000-01-01T00:00:00.000Z"}])))
    return changes


def queries(allowed: frozenset[str], values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    key = st.one_of(st.sampled_from(sorted(allowed)), st.sampled_from(["unknown", "$where",
                                                                       "constructor"]))
    value = st.one_of(values, st.just({"$ne": None}))
    return st.one_of(st.none(), st.just({}), st.dictionaries(key, value, max_size=2))


query_values = st.one_of(st.booleans(), st.none(), st.sampled_from([0, 1, 2]),
                         st.sampled_from(USERNAMES + EMAILS + GIT_ACCOUNTS + REPO_NAMES
                                         + PUSH_IDS + ["push", "pull", "POST"]),
                         st.sampled_from(REPO_URLS))


def session_docs() -> st.SearchStrategy[dict[str, Any]]:
    # mostly live sessions; one in four already expired or with an unreadable expiry
    cookie = st.one_of(
        st.just({"expires": DATES[0], "path": "/"}), st.just({"maxAge": 86_400_000}),
        st.just({}), st.sampled_from([{"expires": DATES[1], "path": "/"},
                                      {"expires": "not a date"}]),
    )
    return st.fixed_dictionaries({"cookie": cookie}, optional={"passport": json_values,
                                                               "flash": json_values})

def live_session_docs() -> st.SearchStrategy[dict[str, Any]]:
    """A session every store keeps readable for the length of a run."""
    cookie = st.sampled_from([{"expires": DATES[0], "path": "/"}, {"maxAge": 86_400_000}, {}])
    passport = st.fixed_dictionaries({"user": st.sampled_from(USERNAMES)})
    return st.fixed_dictionaries({"cookie": cookie}, optional={"passport": passport})

#: how a lookup rule names a user that exists: by its own value, upper-cased, or by any value
HOW = st.sampled_from(["own", "upper", "own", "own", "any", "own"])
#: names a permission rule adds or removes: mostly plain, a few every backend must refuse
permission_names = st.sampled_from([*USERNAMES, *USERNAMES, "", " "])


#: ids no object has: the rules that aim at a missing object draw from these
MISSING_IDS = ["not-an-id", "0123456789abcdef01234567", "' OR '1'='1", "$ne", "x" * 200, ""]


# --- the objects the bundles hold ----------------------------------------------------------------

class Ref:
    """One created object as the bundles hold it: its kind and its id in the model (the
    adapter's id is looked up in the id map). A fresh object per creation, so Hypothesis names
    it (``repos_0``) in a printed program and never confuses it with an equal plain value."""

    __slots__ = ("extra", "id", "kind")

    def __init__(self, kind: str, id: str, extra: Any = None):
        self.kind, self.id, self.extra = kind, id, extra

    def __repr__(self) -> str:
        return f"<{self.kind} {self.id!r}>"


def counted(function: Callable[..., Any]) -> Callable[..., Any]:
    """Count the rule's runs and successes (every Sink call it made succeeded)."""
    @functools.wraps(function)
    def run(self: SinkAgainstModel, **arguments: Any) -> Any:
        self._rule_ok = []
        result = function(self, **arguments)
        self.counters.rule(function.__name__, bool(self._rule_ok) and all(self._rule_ok))
        self._rule_ok = None
        return result
    return run


def step(**arguments: Any) -> Callable[[Callable[..., Any]], Any]:
    """``@rule(...)`` for a counted rule."""
    return lambda function: rule(**arguments)(counted(function))


#: names of the machine's tours (``@tour``): every example runs each once, before any rule
TOURS: list[str] = []


def tour(**arguments: Any) -> Callable[[Callable[..., Any]], Any]:
    """``@initialize(...)`` for a counted tour (every call it makes must succeed)."""
    def decorate(function: Callable[..., Any]) -> Any:
        TOURS.append(function.__name__)
        return initialize(**arguments)(counted(function))
    return decorate


def _fresh(method: str) -> Callable[[Any], bool]:
    """A precondition: the resource ``method`` reads was written since it was last compared."""
    return lambda self: method in self.dirty


# --- the machine ---------------------------------------------------------------------------------

class SinkAgainstModel(RuleBasedStateMachine):
    """Each rule runs one Sink call on the adapter and on the model and compares the outcomes."""

    repos = Bundle("repos")
    users = Bundle("users")
    pushes = Bundle("pushes")
    sessions = Bundle("sessions")
    keys = Bundle("keys")

    open_sink: Callable[[], tuple[Any, Callable[[], None]]]
    counters: Counters
    #: clause ids the harness declares as known divergences: those comparisons are left out
    divergences: frozenset[str] = frozenset()
    #: Hypothesis' swarm testing: each example turns a random share of the rules off. Good at
    #: odd interactions (the deep profile keeps it), but it spreads the calls so unevenly that
    #: a short run leaves some methods barely called: the fast profile draws every rule alike
    swarm: bool = True

    def __init__(self) -> None:
        super().__init__()
        rules = getattr(self, "_rules_strategy", None)
        if not self.swarm and FeatureFlags is not None and hasattr(rules,
                                                                   "enabled_rules_strategy"):
            rules.enabled_rules_strategy = st.just(FeatureFlags())  # every rule enabled
        self.counters.examples += 1
        self.model = DocumentSink()
        self.sink, self._discard = self.open_sink()
        self.model_of: dict[str, str] = {}  # adapter _id -> model _id
        self.sink_of: dict[str, str] = {}   # model _id -> adapter _id
        self.repo_ids: list[str] = []       # model ids of repos ever created
        self.usernames: dict[str, str] = {}  # model user id -> its username now
        self.live_pushes: set[str] = set()  # push ids a Ref in the bundle holds
        self.live_sessions: set[str] = set()
        self.dates: dict[str, tuple[int, int]] = {}  # model repo id -> (created, last modified)
        self.dirty: set[str] = set()        # resources written since their listings agreed
        self.written_pushes: set[Any] = set()  # push ids written since they were read back
        self._rule_ok: list[bool] | None = None

    # -- comparing ---------------------------------------------------------------------------

    def _run(self, target: Any, method: str, args: tuple) -> tuple[str, Any]:
        try:
            return "ok", getattr(target, method)(*args)
        except SinkError as exc:
            return "error", type(exc)

    def both(self, method: str, args: tuple, sink_args: tuple | None = None,
             store: bool = False) -> tuple[tuple[str, Any], tuple[str, Any]]:
        """Run ``method`` on the model and on the adapter; count it; return both outcomes."""
        model_target = self.model.session_store if store else self.model
        sink_target = self.sink.session_store if store else self.sink
        want = self._run(model_target, method, args)
        got = self._run(sink_target, method, args if sink_args is None else sink_args)
        self.count(method, want)
        if method in WRITES and want[0] == "ok":
            self.dirty.add(RESOURCE[method])
            if RESOURCE[method] == "pushes":
                self.written_pushes.add(args[0]["id"] if method == "write_audit" else args[0])
        return want, got

    def count(self, method: str, outcome: tuple[str, Any]) -> None:
        ok = self.counters.call(method, outcome)
        if self._rule_ok is not None:
            self._rule_ok.append(ok)

    def call(self, method: str, *args: Any, sink_args: tuple | None = None,
             store: bool = False) -> tuple[str, Any]:
        """Run ``method`` on both; assert the same outcome; return the model's."""
        want, got = self.both(method, args, sink_args, store)
        if want[0] == "error" or got[0] == "error":
            assert got == want, (f"{method}{_args(args)}: expected {_show(want)}, "
                                 f"got {_show(got)}")
            return want
        self._learn_ids(method, want[1], got[1])
        expected, found = self.normalise_model(method, want[1]), self.normalise(method, got[1])
        assert found == expected, (
            f"{method}{_args(args)}: expected {_brief(expected)}, got {_brief(found)}")
        return want

    def _learn_ids(self, method: str, want: Any, got: Any) -> None:
        if method in ("create_repo", "create_user", "update_user"):
            assert isinstance(got.get("_id"), str), (
                f"{method} answered with _id {got.get('_id')!r}, not a string")
            known = self.model_of.get(got["_id"], self.sink_of.get(want["_id"]) and want["_id"])
            assert known in (None, want["_id"]), (
                f"{method}: the adapter answered with the object the model knows as {known!r}, "
                f"the model with {want['_id']!r}")
            assert self.sink_of.get(want["_id"], got["_id"]) == got["_id"], (
                f"{method}: the adapter answered with another object than before")
            self.model_of[got["_id"]] = want["_id"]
            self.sink_of[want["_id"]] = got["_id"]
            if method == "create_repo" and want["_id"] not in self.repo_ids:
                self.repo_ids.append(want["_id"])
            elif method != "create_repo":
                self.usernames[want["_id"]] = want["username"]

    def normalise(self, method: str, value: Any) -> Any:
        kind, shape = RETURNS.get(method, (None, "one"))
        if kind is None or value is None:
            return value
        items = value if shape == "list" else [value]
        out = [self._normalise_doc(kind, doc) for doc in items]
        return out if shape == "list" else out[0]

    def normalise_model(self, method: str, value: Any) -> Any:
        kind, shape = RETURNS.get(method, (None, "one"))
        if kind != "repo" or value is None:
            return value
        items = value if shape == "list" else [value]
        out = [_without_dates(doc) for doc in items]
        return out if shape == "list" else out[0]

    def _normalise_doc(self, kind: str, doc: Any) -> Any:
        if not isinstance(doc, dict):
            return doc
        doc = dict(doc)
        if kind in ("repo", "user") and "_id" in doc:
            sink_id = doc["_id"]
            doc["_id"] = self.model_of.get(sink_id) if isinstance(sink_id, str) else None
            doc["_id"] = doc["_id"] or f"<unmapped adapter id {sink_id!r}>"
        if kind in ("push", "push-list-item") and doc.get("_id") == doc.get("id"):
            doc.pop("_id", None)
        if kind == "repo":
            self._check_dates(doc)
            doc = _without_dates(doc)
        return doc

    def _check_dates(self, repo: dict[str, Any]) -> None:
        created, modified = ms_from_iso(repo["dateCreated"]), ms_from_iso(repo["lastModified"])
        assert modified >= created, f"repo {repo['_id']}: lastModified before dateCreated"
        seen = self.dates.get(repo["_id"])
        if seen is not None:
            assert created == seen[0], f"repo {repo['_id']}: dateCreated changed"
            assert modified >= seen[1], f"repo {repo['_id']}: lastModified went back"
        self.dates[repo["_id"]] = (created, modified)

    def _assert_moved(self, model_id: str, before: tuple[int, int] | None) -> None:
        """After a change the adapter's lastModified must be later than any seen before."""
        if model_id not in self.dates:  # a permission change: read the repo back
            self.normalise("get_repo_by_id", self.sink.get_repo_by_id(self.sink_of[model_id]))
        if before is not None:
            assert self.dates[model_id][0] == before[0], f"repo {model_id}: dateCreated changed"
            assert self.dates[model_id][1] > before[1], f"repo {model_id}: lastModified stood"

    def review(self, method: str, id: str, *payload: Any) -> None:
        """Messages are compared by the rule they follow: they name the push id."""
        want, got = self.both(method, (id, *payload))
        if want[0] == "ok" and got[0] == "ok":
            assert id in got[1]["message"], f"{method} message {got[1]!r} does not name {id!r}"
        else:
            assert got == want, f"{method}: the model gave {_show(want)}, the adapter {_show(got)}"

    def created(self, kind: str, outcome: tuple[str, Any], key: str) -> Any:
        """A new Ref for the bundle when the model created the object, else nothing."""
        if outcome[0] != "ok":
            return multiple()
        return Ref(kind, outcome[1][key])

    def username(self, user: Ref) -> str:
        return self.usernames.get(user.id, "nobody")

    def stored_user(self, user: Ref) -> dict[str, Any]:
        return self.model.find_user(self.username(user)) or {}

    # -- setup: every method once, on objects made for it --------------------------------------
    # Hypothesis draws rules unevenly: it runs each new example's choices again with small
    # changes (runs of about seven near-copies), so over a fast-profile run a rule can come up 3
    # times or 120, and a rule drawn while its bundle is empty or its object gone finds nothing.
    # These tours make the coverage target a property of the machine instead of the seed: each
    # walks one kind's methods on inputs every backend must accept, so every Sink and session
    # method succeeds at least once in every example (a kit test holds it to that). The objects
    # they leave fill the bundles; the random rules then run on and around them. Values come
    # from the same pools as the rules' (folding twins included) and each tour's own objects
    # have names no rule draws, so the tours never refuse one another whatever their order.

    @tour(target=users, user=st.builds(dict, username=st.sampled_from(USERNAMES[:3]),
                                             email=st.sampled_from(EMAILS[1:4]),
                                             gitAccount=st.sampled_from(GIT_ACCOUNTS),
                                             oidcId=st.sampled_from(OIDC_IDS)),
                second=st.sampled_from(USERNAMES[3:6]), name=tour_text)
    def a_first_user(self, user, second, name):
        """The user methods on a user with every looked-up field, each lookup by the other
        case where the field folds; a second user without them (their absence is compared
        too); a third that is created and deleted."""
        first = self.created("user", self.call("create_user", user), "_id")
        self.call("find_user", user["username"].upper())
        self.call("find_user_by_email", user["email"].upper())
        self.shared_field("find_user_by_git_account", user["gitAccount"].upper())
        self.shared_field("find_user_by_oidc", user["oidcId"])
        self.call("get_users", {"username": user["username"].upper()})
        self.change_user(first, {"displayName": name})
        leaver = {"username": "leaver", "email": "leaver@example.com"}
        self.call("create_user", leaver)
        self.call("get_users", None)  # two users at least: their order is compared
        self.call("delete_user", leaver["username"])
        other = self.created("user", self.call("create_user", {"username": second,
                                                               "email": EMAILS[4]}), "_id")
        return multiple(*(ref for ref in (first, other) if isinstance(ref, Ref)))

    @tour(target=keys, pair=st.lists(public_keys(tour_text), min_size=2, max_size=2,
                                           unique_by=(lambda k: k["key"],
                                                      lambda k: k["fingerprint"])))
    def a_first_key(self, pair):
        """A user of its own holding one key, found by it; a second key added and removed."""
        key, spare = pair
        keyholder = {"username": "keyholder", "email": "keyholder@example.com"}
        holder = self.created("user", self.call("create_user", keyholder), "_id")
        ref = self.add_key(holder, key)
        self.call("find_user_by_ssh_key", key["key"])
        self.call("add_public_key", keyholder["username"], spare)
        self.call("remove_public_key", keyholder["username"], spare["fingerprint"])
        self.call("get_public_keys", keyholder["username"])
        return ref

    @tour(target=repos, repo=st.builds(dict, name=st.sampled_from(REPO_NAMES[:3]),
                                             url=st.sampled_from(REPO_URLS[:3])),
                project=tour_text, user=st.sampled_from(USERNAMES))
    def a_first_repo(self, repo, project, user):
        """The repo methods: each lookup, an update, each permission added and removed; a
        second repo that is created and deleted."""
        ref = self.created("repo", self.call("create_repo", repo), "_id")
        self.find_repo(repo["name"].upper())
        self.call("get_repo_by_url", repo["url"])
        self.repo_by_id(ref)
        self.list_repos({"name": repo["name"].upper()})
        self.change_repo(ref, {"project": project})
        for method in ("add_user_can_push", "add_user_can_authorise", "remove_user_can_push",
                       "remove_user_can_authorise"):
            self.permission(method, ref, user)
        leaving = self.call("create_repo", {"name": "leaving",
                                            "url": "https://git.example.com/org/leaving.git"})
        self.list_repos(None)  # two repos: their order is compared
        self.remove_repo(Ref("repo", leaving[1]["_id"]))
        return ref

    @tour(target=pushes, id=st.sampled_from(PUSH_IDS[:3]),
                email=st.sampled_from(EMAILS[1:4]), username=st.sampled_from(USERNAMES),
                attestation=attestations(notes=st.nothing()),
                leaving=st.sampled_from(PUSH_IDS[3:]),
                stamps=st.lists(st.sampled_from([1, 2, 1_700_000_000_000]), min_size=2,
                                max_size=2, unique=True))
    def a_first_push(self, id, email, username, attestation, leaving, stamps):
        """The push methods on two pushes: each listing (both pending, so their order is
        compared) and lookup; the three reviews of one, the other deleted."""
        ref = self.write(dict(id=id, type="push", userEmail=email, url=REPO_URLS[0],
                              timestamp=stamps[0]))
        self.call("write_audit", {"id": leaving, "type": "push", "timestamp": stamps[1]})
        self.call("get_push", id)
        self.call("get_pushes", {})
        self.call("get_pushes", {"id": id})
        self.call("get_pushes_for_user_profile", [email], username)
        self.call("get_repo_push_rollups_by_canonical_url")
        for method in ("authorise", "reject"):
            self.review(method, id, attestation)
        self.review("cancel", id)
        self.call("delete_push", leaving)
        return ref

    @tour(target=sessions, sid=st.sampled_from(SIDS[:2]), sess=live_session_docs(),
                other=st.sampled_from(SIDS[2:]))
    def a_first_session(self, sid, sess, other):
        """The session methods: a store cleared, a live session read and touched, an expired
        one pruned, another destroyed."""
        self.call("set", other, sess, store=True)
        self.call("clear", store=True)
        ref = self.store_session(sid, sess)
        self.call("get", sid, store=True)
        self.call("touch", sid, sess, store=True)
        self.call("all", store=True)
        self.call("length", store=True)
        self.call("set", other, {"cookie": {"expires": DATES[1]}}, store=True)
        self.prune_sessions()
        self.call("set", other, sess, store=True)
        self.call("destroy", other, store=True)
        return ref

    @tour(pair=st.lists(st.sampled_from(MIGRATIONS), min_size=2, max_size=2,
                              unique=True))
    def a_first_migration(self, pair):
        """The ledger: two entries recorded, one unrecorded, the rest listed."""
        kept, undone = pair
        self.call("record_migration", kept)
        self.call("record_migration", undone)
        self.call("unrecord_migration", undone)
        self.call("get_applied_migrations")

    # -- pushes --------------------------------------------------------------------------------

    def write(self, push: dict[str, Any]) -> Any:
        outcome = self.call("write_audit", push)
        pid = push.get("id")
        if outcome[0] != "ok" or pid in self.live_pushes:
            return multiple()
        self.live_pushes.add(pid)
        return Ref("push", pid)

    @step(target=pushes, push=push_docs())
    def write_audit(self, push):
        return self.write(push)

    @step(push=pushes)
    def get_push(self, push):
        self.call("get_push", push.id)

    @step(push=pushes, key=st.sampled_from(sorted(PUSH_QUERY_KEYS)), matching=st.booleans(),
          query=queries(PUSH_QUERY_KEYS, query_values))
    def get_pushes(self, push, key, matching, query):
        """A query on a field of a push that exists (the filter has something to find), or
        any query."""
        if matching:
            value = (self.model.get_push(push.id) or {}).get(key)
            query = {key: value} if isinstance(value, (str, bool)) else {}
        self.call("get_pushes", query)

    @step(push=pushes, own=st.sampled_from([True, True, False, True, True]), fold=st.booleans(),
          variants=st.lists(st.sampled_from(EMAILS), max_size=2),
          username=st.one_of(st.sampled_from(USERNAMES), st.just("")))
    def get_pushes_for_user_profile(self, push, own, fold, variants, username):
        """By the email of a push that exists (this one, or when it is no "push" with an
        email, any that is), as written or with its upper-case variant; or by any emails."""
        listed = [self.model.get_push(push.id) or {}, *self.model.get_pushes({})]
        email = next((p["userEmail"] for p in listed if p.get("type") == "push"
                      and isinstance(p.get("userEmail"), str)), None)
        if own and email is not None:
            variants = [email, email.upper()] if fold else [email]
        self.call("get_pushes_for_user_profile", variants, username)

    @step()
    def get_repo_push_rollups_by_canonical_url(self):
        self.call("get_repo_push_rollups_by_canonical_url")

    @step(push=consumes(pushes))
    def delete_push(self, push):
        self.live_pushes.discard(push.id)
        self.call("delete_push", push.id)

    @step(push=pushes, attestation=attestations())
    def authorise(self, push, attestation):
        self.review("authorise", push.id, attestation)

    @step(push=pushes, rejection=attestations())
    def reject(self, push, rejection):
        self.review("reject", push.id, rejection)

    @step(push=pushes)
    def cancel(self, push):
        self.review("cancel", push.id)

    # -- repos ---------------------------------------------------------------------------------

    @step(target=repos, repo=repo_docs())
    def create_repo(self, repo):
        if "_id" in repo:  # a caller-supplied id may name a deleted repo: new dates then
            self.dates.pop(repo["_id"], None)
        return self.created("repo", self.call("create_repo", repo), "_id")

    def list_repos(self, query: Any) -> None:
        want, got = self.both("get_repos", (query,))
        if "error" in (want[0], got[0]):
            assert got == want, f"get_repos: model {_show(want)}, adapter {_show(got)}"
            return
        # the order is by name, then by each backend's own ids: check it on the adapter's ids,
        # then compare the content in model space
        raw = [(r["name"], r["_id"]) for r in got[1]]
        assert raw == sorted(raw), f"get_repos({query!r}) is not ordered by name, then _id"
        found = sorted(self.normalise("get_repos", got[1]), key=_name_and_id)
        expected = sorted(self.normalise_model("get_repos", want[1]), key=_name_and_id)
        assert found == expected, (f"get_repos({query!r}): expected {_brief(expected)}, "
                                   f"got {_brief(found)}")

    @step(repo=repos, key=st.sampled_from(sorted(REPO_QUERY_KEYS)), fold=st.booleans(),
          matching=st.booleans(), query=queries(REPO_QUERY_KEYS, query_values))
    def get_repos(self, repo, key, fold, matching, query):
        """A query on a field of a repo that exists, or any query."""
        if matching:
            value = (self.model.get_repo_by_id(repo.id) or {}).get(key)
            if isinstance(value, str) and fold:
                value = value.upper()
            query = {key: value} if isinstance(value, str) else {}
        self.list_repos(query)

    def find_repo(self, name: Any) -> None:
        want, got = self.both("get_repo", (name,))
        assert (want[1] is None) == (got[1] is None), f"get_repo({name!r}): {want} vs {got}"
        if want[1] is not None:
            # of several repos with one name, the one with the least adapter _id
            candidates = [self.sink_of[r["_id"]] for r in self.model.get_repos({"name": name})]
            assert got[1]["_id"] == min(candidates), f"get_repo({name!r}) picked another repo"
            assert self.normalise("get_repo", got[1]) == _without_dates(
                self.model.get_repo_by_id(self.model_of[got[1]["_id"]]))

    @step(repo=repos, how=st.sampled_from(["own", "upper", "any"]),
          name=st.one_of(st.sampled_from(REPO_NAMES), st.sampled_from(BAD_IDS)))
    def get_repo(self, repo, how, name):
        """By the name of a repo that exists (as written or upper-cased), or any name."""
        own = (self.model.get_repo_by_id(repo.id) or {}).get("name", "gone")
        self.find_repo({"own": own, "upper": own.upper(), "any": name}[how])

    @step(repo=repos, variant=st.sampled_from(["same", "upper", "same", "same", "other"]))
    def get_repo_by_url(self, repo, variant):
        url = (self.model.get_repo_by_id(repo.id) or {}).get("url", "")
        url = {"same": url, "upper": url.upper(), "other": REPO_URLS[-2]}[variant]
        self.call("get_repo_by_url", url)

    @step(repo=repos)
    def get_repo_by_id(self, repo):
        self.repo_by_id(repo)

    def repo_by_id(self, repo: Ref) -> None:
        self.call("get_repo_by_id", repo.id, sink_args=(self.sink_of[repo.id],))

    @step(repo=repos, changes=repo_changes())
    def update_repo(self, repo, changes):
        self.change_repo(repo, changes)

    def change_repo(self, repo: Ref, changes: dict[str, Any]) -> None:
        before = self.dates.get(repo.id)
        outcome = self.call("update_repo", repo.id, changes,
                            sink_args=(self.sink_of[repo.id], changes))
        if outcome[0] == "ok":
            self._assert_moved(repo.id, before)

    def permission(self, method: str, repo: Ref, user: str) -> None:
        before = self.dates.pop(repo.id, None)
        outcome = self.call(method, repo.id, user, sink_args=(self.sink_of[repo.id], user))
        if outcome[0] == "ok":
            self._assert_moved(repo.id, before)
        elif before is not None:
            self.dates[repo.id] = before

    @step(repo=repos, user=permission_names)
    def add_user_can_push(self, repo, user):
        self.permission("add_user_can_push", repo, user)

    @step(repo=repos, user=permission_names)
    def add_user_can_authorise(self, repo, user):
        self.permission("add_user_can_authorise", repo, user)

    @step(repo=repos, user=permission_names)
    def remove_user_can_push(self, repo, user):
        self.permission("remove_user_can_push", repo, user)

    @step(repo=repos, user=permission_names)
    def remove_user_can_authorise(self, repo, user):
        self.permission("remove_user_can_authorise", repo, user)

    @step(repo=consumes(repos))
    def delete_repo(self, repo):
        self.remove_repo(repo)

    def remove_repo(self, repo: Ref) -> None:
        self.call("delete_repo", repo.id, sink_args=(self.sink_of[repo.id],))

    @step(method=st.sampled_from(["get_repo_by_id", "update_repo", "add_user_can_push",
                                  "add_user_can_authorise", "remove_user_can_push",
                                  "remove_user_can_authorise", "delete_repo"]),
          missing=st.sampled_from(MISSING_IDS))
    def a_missing_repo(self, method, missing):
        """Every id-taking repo method, on an id no repo has."""
        extra = {"update_repo": ({"project": "p"},)}.get(method, ("alice",))
        self.call(method, missing, *(extra if method not in ("get_repo_by_id",
                                                             "delete_repo") else ()))

    # -- users ---------------------------------------------------------------------------------

    @step(target=users, user=user_docs())
    def create_user(self, user):
        return self.created("user", self.call("create_user", user), "_id")

    @step(user=users, changes=user_changes())
    def update_user(self, user, changes):
        self.change_user(user, changes)

    def change_user(self, user: Ref, changes: dict[str, Any]) -> None:
        self.call("update_user", {**changes, "_id": user.id},
                  sink_args=({**changes, "_id": self.sink_of[user.id]},))

    @step(target=users, changes=user_changes(), username=new_usernames)
    def update_user_by_name(self, changes, username):
        """By username: an update when the user exists, else a new user."""
        known = set(self.usernames)
        fields = {"username": username, **changes}
        outcome = self.call("update_user", fields)
        if outcome[0] == "ok" and outcome[1]["_id"] not in known:
            return Ref("user", outcome[1]["_id"])
        return multiple()

    def own(self, user: Ref, field: str, how: str, other: str) -> str:
        """``field`` of a user that exists (``user``, or when it has none, any user that has
        one), as stored or upper-cased; or ``other``."""
        if how == "any":
            return other
        held = [self.stored_user(user).get(field)] + [u.get(field) for u in self.model.get_users()]
        value = next((v for v in held if isinstance(v, str) and v), None)
        if value is None:
            return other
        return value.upper() if how == "upper" else value

    @step(user=users, how=HOW,
          other=st.one_of(st.sampled_from(USERNAMES), st.sampled_from(BAD_IDS)))
    def find_user(self, user, how, other):
        self.call("find_user", self.own(user, "username", how, other))

    @step(user=users, how=HOW, other=st.sampled_from(EMAILS))
    def find_user_by_email(self, user, how, other):
        self.call("find_user_by_email", self.own(user, "email", how, other))

    def shared_field(self, method: str, value: str) -> None:
        """These fields are not unique: any user holding the value is a right answer."""
        field = {"find_user_by_git_account": "gitAccount", "find_user_by_oidc": "oidcId"}
        want, got = self.both(method, (value,))
        assert (want[1] is None) == (got[1] is None), f"{method}({value!r}): {want} vs {got}"
        if got[1] is None:
            return
        holder = self.model.find_user(got[1]["username"])
        assert holder is not None and self.normalise(method, got[1]) == holder
        if method == "find_user_by_ssh_key":
            assert any(k["key"] == value for k in holder.get("publicKeys") or [])
        else:
            fold = method == "find_user_by_git_account"
            assert holder.get(field[method]) == (value.lower() if fold else value)

    @step(user=users, how=HOW, other=st.sampled_from([*GIT_ACCOUNTS, ""]))
    def find_user_by_git_account(self, user, how, other):
        self.shared_field("find_user_by_git_account", self.own(user, "gitAccount", how, other))

    @step(user=users, how=HOW, other=st.sampled_from([*OIDC_IDS, ""]))
    def find_user_by_oidc(self, user, how, other):
        self.shared_field("find_user_by_oidc", self.own(user, "oidcId", how, other))

    @step(key=keys, any=rarely(), other=st.sampled_from([k for k, _ in KEYS] + [""]))
    def find_user_by_ssh_key(self, key, any, other):
        """By a key that was added (or, when its holder has gone, a key someone holds)."""
        held = [k["key"] for u in self.model.get_users() for k in u.get("publicKeys") or []]
        value = key.extra[0] if key.extra[0] in held or not held else held[0]
        self.shared_field("find_user_by_ssh_key", other if any else value)

    @step(user=users, key=st.sampled_from(sorted(USER_QUERY_KEYS)), fold=st.booleans(),
          matching=st.booleans(), query=queries(USER_QUERY_KEYS, query_values))
    def get_users(self, user, key, fold, matching, query):
        """A query on a field of a user that exists, or any query."""
        if matching:
            value = self.stored_user(user).get(key)
            if isinstance(value, str) and fold:
                value = value.upper()
            query = {key: value} if isinstance(value, (str, bool)) else {}
        self.call("get_users", query)

    @step(user=consumes(users))
    def delete_user(self, user):
        self.call("delete_user", self.usernames.pop(user.id, "nobody"))

    @step(method=st.sampled_from(["update_user", "delete_user", "find_user",
                                  "get_public_keys", "add_public_key", "remove_public_key"]),
          missing=st.sampled_from(MISSING_IDS))
    def a_missing_user(self, method, missing):
        """Every user method that names its user, on a user who does not exist."""
        args = {"update_user": ({"_id": missing, "admin": True},),
                "add_public_key": ("nobody", {"key": KEYS[0][0], "fingerprint": KEYS[0][1]}),
                "remove_public_key": ("nobody", KEYS[0][1])}.get(method, (missing,))
        self.call(method, *args)

    # -- public keys ---------------------------------------------------------------------------

    @step(target=keys, user=users, key=public_keys())
    def add_public_key(self, user, key):
        return self.add_key(user, key)

    def add_key(self, user: Any, key: dict[str, Any]) -> Any:
        outcome = self.call("add_public_key", self.username(user), key) \
            if isinstance(user, Ref) else ("error", None)
        if outcome[0] != "ok":
            return multiple()
        return Ref("key", key["fingerprint"], (key["key"], user))

    def key_holder(self, username: str) -> dict[str, Any]:
        """``username``'s stored user when it holds a key, else any user holding one (the
        user a key was added to may have gone since), else ``username``'s."""
        held = [self.model.find_user(username) or {}, *self.model.get_users()]
        return next((u for u in held if u.get("publicKeys")), held[0])

    @step(key=consumes(keys))
    def remove_public_key(self, key):
        holder = self.key_holder(self.username(key.extra[1]))
        fingerprints = [k.get("fingerprint") for k in holder.get("publicKeys") or []]
        fingerprint = key.id if key.id in fingerprints or not fingerprints else fingerprints[0]
        self.call("remove_public_key", holder.get("username", "nobody"), fingerprint)

    @step(user=users)
    def get_public_keys(self, user):
        self.call("get_public_keys", self.key_holder(self.username(user)).get(
            "username", self.username(user)))

    # -- migrations ledger ---------------------------------------------------------------------

    @step(mid=st.sampled_from([*MIGRATIONS, "", *MIGRATIONS]))
    def record_migration(self, mid):
        self.call("record_migration", mid)

    @step(mid=st.sampled_from([*MIGRATIONS, "never"]))
    def unrecord_migration(self, mid):
        self.call("unrecord_migration", mid)

    @step()
    def get_applied_migrations(self):
        self.call("get_applied_migrations")

    # -- sessions ------------------------------------------------------------------------------

    @step(target=sessions, sid=st.sampled_from(SIDS), sess=session_docs())
    def set(self, sid, sess):
        return self.store_session(sid, sess)

    def store_session(self, sid: str, sess: dict[str, Any]) -> Any:
        outcome = self.call("set", sid, sess, store=True)
        if outcome[0] != "ok" or sid in self.live_sessions:
            return multiple()
        self.live_sessions.add(sid)
        return Ref("session", sid)

    @step(session=sessions, missing=rarely(), sid=st.sampled_from(["never-set", ""]))
    def get(self, session, missing, sid):
        self.call("get", sid if missing else self.live_sid(session), store=True)

    @step(session=sessions, sess=session_docs())
    def touch(self, session, sess):
        self.call("touch", self.live_sid(session), sess, store=True)

    def live_sid(self, session: Ref) -> str:
        """``session``'s id while it is live, else (expired, cleared) any live session's."""
        live = sorted(self.model.session_store.all())
        return session.id if session.id in live or not live else live[0]

    @step(session=consumes(sessions))
    def destroy(self, session):
        self.live_sessions.discard(session.id)
        self.call("destroy", session.id, store=True)

    @step()
    def all(self):
        self.call("all", store=True)

    @step()
    def length(self):
        self.call("length", store=True)

    @step()
    def prune(self):
        self.prune_sessions()

    def prune_sessions(self) -> None:
        if "sessions.expiry.pruned" in self.divergences:
            # a declared divergence (a TTL monitor removes expired sessions on its own): the
            # count is the backend's business, what stays visible is still compared
            self.count("prune", ("ok", self.model.session_store.prune()))
            assert isinstance(self.sink.session_store.prune(), int)
            self.dirty.add("sessions")
            return
        self.call("prune", store=True)

    @precondition(lambda self: self.live_sessions)
    @step()
    def clear(self):
        self.live_sessions.clear()  # the Refs still in the bundle now name missing sessions
        self.call("clear", store=True)

    # -- whole state ---------------------------------------------------------------------------

    @precondition(_fresh("users"))
    @invariant()
    def users_agree(self):
        self.dirty.discard("users")
        self.call("get_users", None)

    @precondition(_fresh("repos"))
    @invariant()
    def repos_agree(self):
        self.dirty.discard("repos")
        self.list_repos(None)

    @precondition(_fresh("pushes"))
    @invariant()
    def pushes_agree(self):
        self.dirty.discard("pushes")
        self.call("get_pushes", {})
        for pid in sorted(self.written_pushes, key=repr):
            self.call("get_push", pid)
        self.written_pushes.clear()

    @precondition(_fresh("sessions"))
    @invariant()
    def sessions_agree(self):
        self.dirty.discard("sessions")
        self.call("all", store=True)

    @precondition(_fresh("migrations"))
    @invariant()
    def migrations_agree(self):
        self.dirty.discard("migrations")
        self.call("get_applied_migrations")

    def check_invariants(self, *args: Any, **kwargs: Any) -> None:
        # Hypothesis calls this once after setup and once after every step: a step counter
        # that, unlike an @invariant, does not show up in printed reproductions
        self.counters.steps += 1
        super().check_invariants(*args, **kwargs)

    def compare_everything(self) -> None:
        """The whole stored state, every object through each of its lookups."""
        self.call("get_users", None)
        self.list_repos(None)
        self.call("get_pushes", {})
        for push in self.model.get_pushes({}):
            self.call("get_push", push["id"])
        self.call("get_repo_push_rollups_by_canonical_url")
        self.call("get_applied_migrations")
        for user in self.model.get_users():
            self.call("find_user", user["username"])
            self.call("find_user", user["username"].upper())
            self.call("get_public_keys", user["username"])
            if user.get("email"):
                self.call("find_user_by_email", user["email"].upper())
        for model_id in self.repo_ids:
            self.call("get_repo_by_id", model_id, sink_args=(self.sink_of[model_id],))
        self.call("all", store=True)
        self.call("length", store=True)

    def teardown(self) -> None:
        try:
            self.compare_everything()
        finally:
            self._discard()


#: the resource each write changes: its listings are compared after the step
RESOURCE: dict[str, str] = {
    **dict.fromkeys(["write_audit", "delete_push", "authorise", "reject", "cancel"], "pushes"),
    **dict.fromkeys(["create_repo", "update_repo", "add_user_can_push", "add_user_can_authorise",
                     "remove_user_can_push", "remove_user_can_authorise", "delete_repo"],
                    "repos"),
    **dict.fromkeys(["create_user", "update_user", "delete_user", "add_public_key",
                     "remove_public_key"], "users"),
    **dict.fromkeys(["record_migration", "unrecord_migration"], "migrations"),
    **dict.fromkeys(["set", "touch", "destroy", "clear", "prune"], "sessions"),
}
assert set(RESOURCE) == WRITES, "every write names the resource it changes"


def _without_dates(doc: Any) -> Any:
    if not isinstance(doc, dict):
        return doc
    return {k: v for k, v in doc.items() if k not in ("dateCreated", "lastModified")}


def _name_and_id(repo: dict[str, Any]) -> tuple[str, str]:
    return repo["name"], repo["_id"]


def _show(outcome: tuple[str, Any]) -> str:
    kind, value = outcome
    return value.__name__ if kind == "error" else f"the result {_brief(value)}"


def _brief(value: Any, limit: int = 160) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


#: a printed step: ``state.rule(...)``, or ``users_0 = state.rule(...)`` when it fills a bundle
_STEP = re.compile(r"^(?:[\w, ]+ = )?state\.(\w+)\(")
#: printed lines that are no step of the program: the comparisons after a step, the teardown
_NOT_STEPS = frozenset({"teardown", "users_agree", "repos_agree", "pushes_agree",
                        "sessions_agree", "migrations_agree"})


def program_steps(text: str) -> list[str]:
    """The rule calls of a printed program, without the invariants and the teardown."""
    lines = (line.strip() for line in text.splitlines())
    return [line for line in lines
            if (m := _STEP.match(line)) and m.group(1) not in _NOT_STEPS]


def failure_summary(exc: BaseException) -> str:
    """One line per distinct failure Hypothesis found: the first call whose result differs
    (expected / got) and the shrunk program that leads to it, read from the notes Hypothesis
    attaches, so the clause row names the cause instead of ``ExceptionGroup``."""
    # an exception group (the backport's on Python 3.10) holds one failure per distinct bug
    found = list(getattr(exc, "exceptions", None) or [exc])
    parts = []
    for n, failure in enumerate(found, 1):
        message = (str(failure).strip().splitlines() or [type(failure).__name__])[0]
        if not isinstance(failure, AssertionError):
            message = f"{type(failure).__name__}: {message}"
        steps = [s.replace("state.", "") for s in
                 program_steps("\n".join(getattr(failure, "__notes__", [])))]
        seq = "; ".join(s if len(s) <= 120 else s[:120] + "..." for s in steps[-8:])
        more = f"{len(steps) - 8} earlier calls; " if len(steps) > 8 else ""
        parts.append(f"[{n}/{len(found)}] {message} after: {more}{seq or '(no calls)'}")
    return " | ".join(parts)


def _args(args: tuple) -> str:
    text = repr(args)
    return text if len(text) < 300 else text[:300] + "...)"


# --- the clause ----------------------------------------------------------------------------------

def machine_for(harness: Any, slot: Slot, counters: Counters, checked: bool = True,
                swarm: bool = True) -> type[SinkAgainstModel]:
    """The machine, bound to this harness: every example opens fresh storage in a sub-slot.
    ``checked=False`` leaves out the schema check of returned documents (for kit tests that
    measure the comparison alone); ``swarm=False`` draws every rule alike (the fast profile)."""
    numbers = iter(range(1_000_000))

    def open_sink() -> tuple[Any, Callable[[], None]]:
        n = next(numbers)
        sub = Slot(tmp_path=Path(slot.tmp_path) / f"example{n}", name=f"{slot.name}_m{n}",
                   worker=slot.worker)
        sub.tmp_path.mkdir(parents=True, exist_ok=True)
        raw = harness.new_sink(sub)
        return (CheckedSink(raw) if checked else raw), lambda: harness.discard(sub, raw)

    divergences = frozenset(harness.capabilities.divergences)
    return type("SinkAgainstModel", (SinkAgainstModel,),
                {"open_sink": staticmethod(open_sink), "counters": counters,
                 "divergences": divergences, "swarm": swarm})


@clause("reliability.model.matches-memory")
def test_random_operation_sequences_match_the_memory_model(sinkkit_harness, sinkkit_slot,
                                                            request):
    profile = chosen_profile()
    chosen = settings(settings.get_profile(profile))
    run_seed = chosen_seed()
    counters = Counters()
    machine = machine_for(sinkkit_harness, sinkkit_slot, counters,
                          swarm=profile not in EVEN_PROFILES)
    factory = seed(run_seed)(machine)
    line = (f"sinkkit stateful [{sinkkit_harness.name}]: profile {profile} "
            f"(max_examples={chosen.max_examples}, stateful_step_count="
            f"{chosen.stateful_step_count}), seed {run_seed} "
            f"(rerun: {SEED_ENV}={run_seed} or --hypothesis-seed={run_seed})")
    print(line)
    request.node.user_properties.append(("sinkkit_stateful_settings", line))
    try:
        run_state_machine_as_test(factory, settings=chosen)
    except Exception as exc:
        raise AssertionError(failure_summary(exc)) from exc
    finally:
        figures = (f"sinkkit stateful [{sinkkit_harness.name}]: {counters.examples} examples, "
                   f"{counters.steps - counters.examples} steps, {counters.calls} compared calls")
        print(figures)
        request.node.user_properties.append(("sinkkit_stateful_figures", figures))
        request.node.user_properties.append(
            (COUNTS_PROPERTY, {"harness": sinkkit_harness.name, "profile": profile,
                               "seed": run_seed, **counters.as_dict()}))
