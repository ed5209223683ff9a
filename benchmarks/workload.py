"""The data every benchmark stores and the point operations it times, for any Sink.

Pushes come in two kinds: pending review (what the default ``get_pushes()`` lists) and settled
(approved, allowed, errored or rejected, which the default listing leaves out). Timed writes and
reviews only ever touch settled pushes, so the pending list keeps its size for the whole run.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sinkkit.conformance.factories import (
    make_attestation,
    make_push,
    make_repo,
    make_session,
    make_user,
)

Document = dict[str, Any]
BASE_TS = 1_700_000_000_000
#: how a settled push differs from a pending one; each leaves the default listing
SETTLED = (
    {"authorised": True, "attestation": make_attestation()},
    {"allowPush": True, "blocked": False},
    {"error": True, "errorMessage": "pre-receive hook failed"},
    {"blocked": False, "rejected": True},
)
#: the length of the pending list the benchmarks keep: one screen of git-proxy's review page
PENDING = 50

#: the point operations, in report order
POINT_OPS = ("write_audit", "get_push", "get_pushes", "authorise", "add_user_can_push",
             "find_user", "session_get", "session_set")


def push_id(i: int) -> str:
    return f"push-{i:09d}"


def push_doc(i: int, pending: bool) -> Document:
    """The ``i``-th stored push; timestamps grow with ``i`` (newer pushes list first)."""
    extra = {} if pending else SETTLED[i % len(SETTLED)]
    return make_push(push_id(i), timestamp=BASE_TS + i * 1000, **extra)


def pending_every(total: int, pending: int = PENDING) -> int:
    """Stride that spreads ``pending`` pending pushes evenly over ``total`` pushes."""
    return max(1, total // max(1, pending))


def pushes(start: int, stop: int, stride: int) -> Iterator[Document]:
    """Pushes ``start``..``stop``; every ``stride``-th one is pending."""
    for i in range(start, stop):
        yield push_doc(i, pending=i % stride == 0)


#: repos seeded, and names granted to each before a grant repeats: every timed grant adds a
#: name not listed yet, the case that writes. git-proxy's fs sink returns early, writing
#: nothing, for a name already listed; cycling a few pairs would time that early return against
#: a write. Each repo's list stays at a realistic length (at most GRANTS_PER_REPO names).
REPOS = 400
GRANTS_PER_REPO = 100


def grant_pairs(repo_ids: list[str]) -> list[tuple[str, str]]:
    """(repo, name) pairs, each once: the repos in turn, each gaining one new name per pass."""
    return [(repo_ids[k % len(repo_ids)], f"grantee{k // len(repo_ids):03d}")
            for k in range(len(repo_ids) * GRANTS_PER_REPO)]


@dataclass
class Workload:
    """What ``seed`` stored, so adapter and raw-driver ops can address the same rows."""

    pushes: int = 1000
    users: int = 100
    repos: int = REPOS
    sessions: int = 100
    settled: list[Document] = field(default_factory=list)
    push_ids: list[str] = field(default_factory=list)
    usernames: list[str] = field(default_factory=list)
    repo_ids: list[str] = field(default_factory=list)
    sids: list[str] = field(default_factory=list)

    @property
    def stride(self) -> int:
        return pending_every(self.pushes)

    def seed(self, sink: Any) -> None:
        """Store the workload through the adapter (small: point operations only)."""
        for doc in self.push_docs():
            sink.write_audit(doc)
            self.push_ids.append(doc["id"])
        self.settled = [push_doc(i, False) for i in range(self.pushes) if i % self.stride]
        for user in self.user_docs():
            self.usernames.append(sink.create_user(user)["username"])
        for repo in self.repo_docs():
            self.repo_ids.append(sink.create_repo(repo)["_id"])
        store = sink.session_store
        for sid, sess in self.session_docs():
            store.set(sid, sess)
            self.sids.append(sid)

    # -- what ``seed`` stores, for another implementation to store the same ----------------------

    def push_docs(self) -> Iterator[Document]:
        return pushes(0, self.pushes, self.stride)

    def user_docs(self) -> list[Document]:
        return [make_user(f"user{i:04d}") for i in range(self.users)]

    def repo_docs(self) -> list[Document]:
        return [make_repo(f"repo{i:03d}") for i in range(self.repos)]

    def session_docs(self) -> list[tuple[str, Document]]:
        return [(f"sid-{i:06d}", self.session(i)) for i in range(self.sessions)]

    @staticmethod
    def session(i: int) -> Document:
        return make_session(passport={"user": f"user{i % 100:04d}"})

    # -- the argument streams every implementation draws from ---------------------------------

    def settled_docs(self) -> Iterator[Document]:
        return itertools.cycle(self.settled)

    def lookup_ids(self) -> Iterator[str]:
        return itertools.cycle(self.push_ids)

    def review_ids(self) -> Iterator[str]:
        return itertools.cycle([doc["id"] for doc in self.settled])

    def grants(self) -> Iterator[tuple[str, str]]:
        return itertools.cycle(grant_pairs(self.repo_ids))

    def names(self) -> Iterator[str]:
        return itertools.cycle(self.usernames)

    def sessions_to_read(self) -> Iterator[str]:
        return itertools.cycle(self.sids)

    def sessions_to_write(self) -> Iterator[tuple[str, Document]]:
        return itertools.cycle([(sid, self.session(i)) for i, sid in enumerate(self.sids)])


def sink_ops(sink: Any, w: Workload) -> dict[str, Callable[[], object]]:
    """The point operations as git-proxy calls them, each a zero-argument callable."""
    docs, ids, reviews = w.settled_docs(), w.lookup_ids(), w.review_ids()
    grants, names = w.grants(), w.names()
    reads, writes = w.sessions_to_read(), w.sessions_to_write()
    store = sink.session_store
    attestation = make_attestation()

    def add_user_can_push() -> None:
        repo, user = next(grants)
        sink.add_user_can_push(repo, user)

    def session_set() -> None:
        sid, sess = next(writes)
        store.set(sid, sess)

    return {
        "write_audit": lambda: sink.write_audit(next(docs)),
        "get_push": lambda: sink.get_push(next(ids)),
        "get_pushes": sink.get_pushes,
        "authorise": lambda: sink.authorise(next(reviews), attestation),
        "add_user_can_push": add_user_can_push,
        "find_user": lambda: sink.find_user(next(names)),
        "session_get": lambda: store.get(next(reads)),
        "session_set": session_set,
    }
