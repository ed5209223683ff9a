"""Model-based testing: random sequences of every Sink operation, the adapter against memory.

One Hypothesis ``RuleBasedStateMachine`` drives the adapter under test and a fresh memory sink
(the reference model) in lockstep and compares every result, every error class and, at the end of
each example, the whole stored state. Each example gets fresh storage from the harness. Generated
ids are mapped (adapter id -> model id) and repo dates, which come from different clocks, are held
to their ordering rules instead of compared.

Settings come from a Hypothesis profile: ``sinkkit-fast`` by default, ``sinkkit-deep`` for a longer
run, chosen with ``SINKKIT_HYPOTHESIS_PROFILE=sinkkit-deep`` (or ``--hypothesis-profile`` once the
profiles are registered before pytest configures Hypothesis). The seed is printed with the
settings and can be forced with ``SINKKIT_HYPOTHESIS_SEED`` or ``--hypothesis-seed``. No example
database is written. A failure prints the shrunk sequence of calls.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import core, seed, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, rule, run_state_machine_as_test
from sinkkit.conformance.checked import RETURNS, CheckedSink
from sinkkit.conformance.clauses import clause
from sinkkit.conformance.contract import PUSH_QUERY_KEYS, REPO_QUERY_KEYS, USER_QUERY_KEYS
from sinkkit.conformance.errors import SinkError
from sinkkit.conformance.harness import Slot
from sinkkit.conformance.model import DocumentSink
from sinkkit.core.clock import ms_from_iso

PROFILE_ENV = "SINKKIT_HYPOTHESIS_PROFILE"
SEED_ENV = "SINKKIT_HYPOTHESIS_SEED"


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
def pushes(draw: st.DrawFn) -> dict[str, Any]:
    bad_id = draw(rarely())
    push: dict[str, Any] = {"id": draw(st.sampled_from(["", "  ", 7, None] if bad_id
                                                       else PUSH_IDS))}
    optional = {
        "type": st.sampled_from(["push", "push", "pull"]),
        "timestamp": st.one_of(st.sampled_from([1, 2, 2, 1_700_000_000_000]),
                               st.floats(0, 1e13), st.just("yesterday")),
        "url": st.sampled_from(PUSH_URLS),
        "userEmail": st.sampled_from([*EMAILS, None]),
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


def attestations() -> st.SearchStrategy[Any]:
    reviewer = st.fixed_dictionaries({"username": st.sampled_from(USERNAMES)},
                                     optional={"email": st.sampled_from(EMAILS)})
    return st.one_of(
        st.fixed_dictionaries({"reviewer": reviewer, "timestamp": st.sampled_from(DATES)},
                              optional={"notes": json_values}),
        json_values,
    )


def users() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {"username": st.sampled_from([*USERNAMES, *USERNAMES, "", " ", None])},
        optional={
            "email": st.sampled_from(EMAILS), "gitAccount": st.sampled_from(GIT_ACCOUNTS),
            "password": st.one_of(st.none(), short_text), "admin": st.booleans(),
            "oidcId": st.one_of(st.none(), st.sampled_from(OIDC_IDS)),
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
        "publicKeys": st.lists(public_keys(), max_size=2),
    })


def public_keys() -> st.SearchStrategy[dict[str, Any]]:
    return st.builds(lambda pair, name: {"key": pair[0], "fingerprint": pair[1], "name": name},
                     st.sampled_from(KEYS), short_text)


def repos() -> st.SearchStrategy[dict[str, Any]]:
    names = st.lists(st.sampled_from(USERNAMES), max_size=3)
    return st.fixed_dictionaries(
        {"name": st.sampled_from([*REPO_NAMES, *REPO_NAMES, "", None]),
         "url": st.sampled_from(REPO_URLS)},
        optional={"project": short_text, "users": st.fixed_dictionaries(
            {}, optional={"canPush": names, "canAuthorise": names}),
            "description": json_values, "dateCreated": st.just("1999-01-01T00:00:00.000Z"),
            "_id": st.sampled_from(["r-given-1", "r-given-2"])},
    )


def repo_changes() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({}, optional={
        "project": short_text, "url": st.sampled_from(REPO_URLS),
        "name": st.sampled_from(REPO_NAMES), "description": json_values,
        "users": st.just({"canPush": []}), "lastModified": st.just("2000-01-01T00:00:00.000Z"),
    })


def queries(allowed: frozenset[str], values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    key = st.one_of(st.sampled_from(sorted(allowed)), st.sampled_from(["unknown", "$where",
                                                                       "constructor"]))
    value = st.one_of(values, st.just({"$ne": None}))
    return st.one_of(st.none(), st.just({}), st.dictionaries(key, value, max_size=2))


query_values = st.one_of(st.booleans(), st.none(), st.sampled_from([0, 1, 2]),
                         st.sampled_from(USERNAMES + EMAILS + GIT_ACCOUNTS + REPO_NAMES
                                         + PUSH_IDS + ["push", "pull", "POST"]),
                         st.sampled_from(REPO_URLS))


def sessions() -> st.SearchStrategy[dict[str, Any]]:
    cookie = st.one_of(
        st.fixed_dictionaries({"expires": st.sampled_from(DATES), "path": st.just("/")}),
        st.fixed_dictionaries({"maxAge": st.just(86_400_000)}),
        st.just({}), st.just({"expires": "not a date"}),
    )
    return st.fixed_dictionaries({"cookie": cookie}, optional={"passport": json_values,
                                                               "flash": json_values})


#: the n-th known object (mod count), or -1 for a malformed id
which = st.sampled_from([0, 1, 2, 0, 3, 1, -1, 2, 4, 0])
#: mostly ids that may exist, then a few malformed ones
push_ids = st.sampled_from(PUSH_IDS + PUSH_IDS + BAD_IDS)


# --- the machine ---------------------------------------------------------------------------------

class Counters:
    def __init__(self) -> None:
        self.examples = self.steps = self.calls = 0


class SinkAgainstModel(RuleBasedStateMachine):
    """Each rule runs one Sink call on the adapter and on the model and compares the outcomes."""

    open_sink: Callable[[], tuple[Any, Callable[[], None]]]
    counters: Counters
    #: clause ids the harness declares as known divergences: those comparisons are left out
    divergences: frozenset[str] = frozenset()

    def __init__(self) -> None:
        super().__init__()
        self.counters.examples += 1
        self.model = DocumentSink()
        self.sink, self._discard = self.open_sink()
        self.model_of: dict[str, str] = {}  # adapter _id -> model _id
        self.sink_of: dict[str, str] = {}   # model _id -> adapter _id
        self.repo_ids: list[str] = []       # model ids of repos ever created
        self.user_ids: list[str] = []
        self.dates: dict[str, tuple[int, int]] = {}  # model repo id -> (created, last modified)

    # -- comparing ---------------------------------------------------------------------------

    def _run(self, target: Any, method: str, args: tuple) -> tuple[str, Any]:
        try:
            return "ok", getattr(target, method)(*args)
        except SinkError as exc:
            return "error", type(exc)

    def call(self, method: str, *args: Any, sink_args: tuple | None = None,
             store: bool = False) -> tuple[str, Any]:
        """Run ``method`` on both; assert the same outcome; return the model's."""
        self.counters.calls += 1
        model_target = self.model.session_store if store else self.model
        sink_target = self.sink.session_store if store else self.sink
        want = self._run(model_target, method, args)
        got = self._run(sink_target, method, args if sink_args is None else sink_args)
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
            known = self.model_of.get(got["_id"], self.sink_of.get(want["_id"]) and want["_id"])
            assert known in (None, want["_id"]), (
                f"{method}: the adapter answered with the object the model knows as {known!r}, "
                f"the model with {want['_id']!r}")
            assert self.sink_of.get(want["_id"], got["_id"]) == got["_id"], (
                f"{method}: the adapter answered with another object than before")
            self.model_of[got["_id"]] = want["_id"]
            self.sink_of[want["_id"]] = got["_id"]
            ids = self.repo_ids if method == "create_repo" else self.user_ids
            if want["_id"] not in ids:
                ids.append(want["_id"])

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
            doc["_id"] = self.model_of.get(doc["_id"], f"<unmapped adapter id {doc['_id']!r}>")
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

    def repo_id(self, n: int, bad: str) -> tuple[str, str]:
        """(model id, adapter id) of the n-th known repo, or a malformed id for both."""
        if n < 0 or not self.repo_ids:
            return bad, bad
        model_id = self.repo_ids[n % len(self.repo_ids)]
        return model_id, self.sink_of[model_id]

    # -- pushes --------------------------------------------------------------------------------

    @rule(push=pushes())
    def write_audit(self, push):
        self.call("write_audit", push)

    @rule(id=push_ids)
    def get_push(self, id):
        self.call("get_push", id)

    @rule(query=queries(PUSH_QUERY_KEYS, query_values))
    def get_pushes(self, query):
        self.call("get_pushes", query)

    @rule(variants=st.lists(st.sampled_from(EMAILS), max_size=2),
          username=st.one_of(st.sampled_from(USERNAMES), st.just("")))
    def get_pushes_for_user_profile(self, variants, username):
        self.call("get_pushes_for_user_profile", variants, username)

    @rule()
    def get_repo_push_rollups_by_canonical_url(self):
        self.call("get_repo_push_rollups_by_canonical_url")

    @rule(id=push_ids)
    def delete_push(self, id):
        self.call("delete_push", id)

    @rule(id=st.sampled_from([*PUSH_IDS, ""]), attestation=attestations())
    def authorise(self, id, attestation):
        self._review("authorise", id, attestation)

    @rule(id=st.sampled_from([*PUSH_IDS, ""]), rejection=attestations())
    def reject(self, id, rejection):
        self._review("reject", id, rejection)

    @rule(id=st.sampled_from([*PUSH_IDS, ""]))
    def cancel(self, id):
        self._review("cancel", id)

    def _review(self, method: str, id: str, *payload: Any) -> None:
        """Messages are compared by the rule they follow: they name the push id."""
        want = self._run(self.model, method, (id, *payload))
        got = self._run(self.sink, method, (id, *payload))
        self.counters.calls += 1
        if want[0] == "ok" and got[0] == "ok":
            assert id in got[1]["message"], f"{method} message {got[1]!r} does not name {id!r}"
        else:
            assert got == want, f"{method}: the model gave {_show(want)}, the adapter {_show(got)}"

    # -- repos ---------------------------------------------------------------------------------

    @rule(repo=repos())
    def create_repo(self, repo):
        if "_id" in repo:  # a caller-supplied id may name a deleted repo: new dates then
            self.dates.pop(repo["_id"], None)
        self.call("create_repo", repo)

    @rule(query=queries(REPO_QUERY_KEYS, query_values))
    def get_repos(self, query):
        want = self._run(self.model, "get_repos", (query,))
        got = self._run(self.sink, "get_repos", (query,))
        self.counters.calls += 1
        if "error" in (want[0], got[0]):
            assert got == want, f"get_repos: model {_show(want)}, adapter {_show(got)}"
            return
        # the order is by name, then by each backend's own ids: check it on the adapter's ids,
        # then compare the content in model space
        raw = [(r["name"], r["_id"]) for r in got[1]]
        assert raw == sorted(raw), "get_repos is not ordered by name, then _id"
        ordered = sorted(self.normalise("get_repos", got[1]), key=_name_and_id)
        assert ordered == sorted(self.normalise_model("get_repos", want[1]), key=_name_and_id)

    @rule(name=st.one_of(st.sampled_from(REPO_NAMES), st.sampled_from(BAD_IDS)))
    def get_repo(self, name):
        want = self._run(self.model, "get_repo", (name,))
        got = self._run(self.sink, "get_repo", (name,))
        self.counters.calls += 1
        assert (want[1] is None) == (got[1] is None), f"get_repo({name!r}): {want} vs {got}"
        if want[1] is not None:
            # of several repos with one name, the one with the least adapter _id
            candidates = [self.sink_of[r["_id"]] for r in self.model.get_repos({"name": name})]
            assert got[1]["_id"] == min(candidates), f"get_repo({name!r}) picked another repo"
            assert self.normalise("get_repo", got[1]) == _without_dates(
                self.model.get_repo_by_id(self.model_of[got[1]["_id"]]))

    @rule(url=st.sampled_from([*REPO_URLS, "https://github.com/FINOS/git-proxy.git"]))
    def get_repo_by_url(self, url):
        self.call("get_repo_by_url", url)

    @rule(n=which, bad=st.sampled_from(BAD_IDS))
    def get_repo_by_id(self, n, bad):
        model_id, sink_id = self.repo_id(n, bad)
        self.call("get_repo_by_id", model_id, sink_args=(sink_id,))

    @rule(n=which, bad=st.sampled_from(BAD_IDS), changes=repo_changes())
    def update_repo(self, n, bad, changes):
        model_id, sink_id = self.repo_id(n, bad)
        before = self.dates.get(model_id)
        if self.call("update_repo", model_id, changes, sink_args=(sink_id, changes))[0] == "ok":
            self._assert_moved(model_id, before)

    @rule(n=which, bad=st.sampled_from(BAD_IDS),
          method=st.sampled_from(["add_user_can_push", "add_user_can_authorise",
                                  "remove_user_can_push", "remove_user_can_authorise"]),
          user=st.sampled_from([*USERNAMES, *USERNAMES, "", " "]))
    def change_permission(self, n, bad, method, user):
        model_id, sink_id = self.repo_id(n, bad)
        before = self.dates.pop(model_id, None)
        outcome = self.call(method, model_id, user, sink_args=(sink_id, user))
        if outcome[0] == "ok":
            self._assert_moved(model_id, before)
        elif before is not None:
            self.dates[model_id] = before

    @rule(n=which, bad=st.sampled_from(BAD_IDS))
    def delete_repo(self, n, bad):
        model_id, sink_id = self.repo_id(n, bad)
        self.call("delete_repo", model_id, sink_args=(sink_id,))

    # -- users ---------------------------------------------------------------------------------

    @rule(user=users())
    def create_user(self, user):
        self.call("create_user", user)

    @rule(changes=user_changes(), by=st.sampled_from(["_id", "username", "neither"]),
          n=which, username=st.sampled_from(USERNAMES))
    def update_user(self, changes, by, n, username):
        model_fields, sink_fields = dict(changes), dict(changes)
        if by == "_id" and self.user_ids and n >= 0:
            model_id = self.user_ids[n % len(self.user_ids)]
            model_fields["_id"], sink_fields["_id"] = model_id, self.sink_of[model_id]
        elif by == "username":
            model_fields.setdefault("username", username)
            sink_fields.setdefault("username", username)
        self.call("update_user", model_fields, sink_args=(sink_fields,))

    @rule(username=st.one_of(st.sampled_from(USERNAMES), st.sampled_from(BAD_IDS)))
    def find_user(self, username):
        self.call("find_user", username)

    @rule(email=st.sampled_from(EMAILS))
    def find_user_by_email(self, email):
        self.call("find_user_by_email", email)

    @rule(method=st.sampled_from(["find_user_by_git_account", "find_user_by_oidc",
                                  "find_user_by_ssh_key"]),
          value=st.sampled_from(GIT_ACCOUNTS + OIDC_IDS + [k for k, _ in KEYS] + [""]))
    def find_user_by_shared_field(self, method, value):
        """These fields are not unique: any user holding the value is a right answer."""
        field = {"find_user_by_git_account": "gitAccount", "find_user_by_oidc": "oidcId"}
        want = self._run(self.model, method, (value,))
        got = self._run(self.sink, method, (value,))
        self.counters.calls += 1
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

    @rule(query=queries(USER_QUERY_KEYS, query_values))
    def get_users(self, query):
        self.call("get_users", query)

    @rule(username=st.sampled_from([*USERNAMES, "", "nobody"]))
    def delete_user(self, username):
        self.call("delete_user", username)

    # -- public keys ---------------------------------------------------------------------------

    @rule(username=st.sampled_from([*USERNAMES, "nobody"]), key=public_keys())
    def add_public_key(self, username, key):
        self.call("add_public_key", username, key)

    @rule(username=st.sampled_from([*USERNAMES, "nobody"]),
          fingerprint=st.sampled_from([f for _, f in KEYS] + ["SHA256:unknown"]))
    def remove_public_key(self, username, fingerprint):
        self.call("remove_public_key", username, fingerprint)

    @rule(username=st.sampled_from([*USERNAMES, "nobody"]))
    def get_public_keys(self, username):
        self.call("get_public_keys", username)

    # -- migrations ledger ---------------------------------------------------------------------

    @rule(mid=st.one_of(st.sampled_from(MIGRATIONS), st.just("")))
    def record_migration(self, mid):
        self.call("record_migration", mid)

    @rule(mid=st.sampled_from([*MIGRATIONS, "never"]))
    def unrecord_migration(self, mid):
        self.call("unrecord_migration", mid)

    @rule()
    def get_applied_migrations(self):
        self.call("get_applied_migrations")

    # -- sessions ------------------------------------------------------------------------------

    @rule(sid=st.sampled_from(SIDS), sess=sessions())
    def session_set(self, sid, sess):
        self.call("set", sid, sess, store=True)

    @rule(sid=st.sampled_from([*SIDS, ""]))
    def session_get(self, sid):
        self.call("get", sid, store=True)

    @rule(sid=st.sampled_from(SIDS), sess=sessions())
    def session_touch(self, sid, sess):
        self.call("touch", sid, sess, store=True)

    @rule(sid=st.sampled_from(SIDS))
    def session_destroy(self, sid):
        self.call("destroy", sid, store=True)

    @rule(method=st.sampled_from(["all", "length", "prune"]))
    def session_listing(self, method):
        if method == "prune" and "sessions.expiry.pruned" in self.divergences:
            # a declared divergence (a TTL monitor removes expired sessions on its own): the
            # count is the backend's business, what stays visible is still compared
            self.model.session_store.prune()
            assert isinstance(self.sink.session_store.prune(), int)
            return
        self.call(method, store=True)

    # -- whole state ---------------------------------------------------------------------------

    def check_invariants(self, *args: Any, **kwargs: Any) -> None:
        # Hypothesis calls this once after setup and once after every step: a step counter
        # that, unlike an @invariant, does not show up in printed reproductions
        self.counters.steps += 1
        super().check_invariants(*args, **kwargs)

    @rule()
    def states_agree(self):
        self.compare_everything()

    def compare_everything(self) -> None:
        self.get_users(None)
        self.get_repos(None)
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


def failure_summary(exc: BaseException) -> str:
    """One line per distinct failure Hypothesis found: the first call whose result differs
    (expected / got) and the shrunk call sequence that leads to it, read from the notes
    Hypothesis attaches, so the clause row names the cause instead of ``ExceptionGroup``."""
    # an exception group (the backport's on Python 3.10) holds one failure per distinct bug
    found = list(getattr(exc, "exceptions", None) or [exc])
    parts = []
    for n, failure in enumerate(found, 1):
        message = (str(failure).strip().splitlines() or [type(failure).__name__])[0]
        if not isinstance(failure, AssertionError):
            message = f"{type(failure).__name__}: {message}"
        steps = [line.strip().removeprefix("state.") for note in getattr(failure, "__notes__", [])
                 for line in note.splitlines() if line.strip().startswith("state.")
                 and not line.strip().startswith("state.teardown")]
        seq = "; ".join(s if len(s) <= 120 else s[:120] + "..." for s in steps[-8:])
        more = f"{len(steps) - 8} earlier calls; " if len(steps) > 8 else ""
        parts.append(f"[{n}/{len(found)}] {message} after: {more}{seq or '(no calls)'}")
    return " | ".join(parts)


def _args(args: tuple) -> str:
    text = repr(args)
    return text if len(text) < 300 else text[:300] + "...)"


# --- the clause ----------------------------------------------------------------------------------

def machine_for(harness: Any, slot: Slot, counters: Counters,
                checked: bool = True) -> type[SinkAgainstModel]:
    """The machine, bound to this harness: every example opens fresh storage in a sub-slot.
    ``checked=False`` leaves out the schema check of returned documents (for kit tests that
    measure the comparison alone)."""
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
                 "divergences": divergences})


@clause("reliability.model.matches-memory")
def test_random_operation_sequences_match_the_memory_model(sinkkit_harness, sinkkit_slot,
                                                            request):
    profile = chosen_profile()
    chosen = settings(settings.get_profile(profile))
    run_seed = chosen_seed()
    counters = Counters()
    machine = machine_for(sinkkit_harness, sinkkit_slot, counters)
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

