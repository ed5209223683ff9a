"""Three sinks that are useless on purpose, each built over a real memory sink.

Each one still runs the real method first, so every validation error, every NotFound and every
InvalidQuery the contract asks for comes out exactly as the reference raises it; only the useful
part is taken away. That makes them the strongest useless sinks there are: a clause test they
pass checks nothing but refusals, and ``tests/test_useless_sinks.py`` holds the short list of
clauses where that is all there is to check.

- ``ReadsNothing``: writes land; every read answers the empty value of its shape.
- ``RefusesWrites``: a write that the reference would accept is undone and refused with
  ``InvalidDocument``.
- ``KeepsNothing``: a write that the reference would accept returns what the reference returns,
  then is undone.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from sinkkit.conformance.capabilities import Capabilities
from sinkkit.conformance.errors import InvalidDocument
from sinkkit.conformance.harness import Harness
from sinkkit.conformance.model import DocumentSink
from sinkkit.core import views

#: read method -> the empty answer of its shape
READS: dict[str, Callable[[], Any]] = {
    "get_push": lambda: None,
    "get_pushes": list,
    "get_pushes_for_user_profile": list,
    "get_repo_push_rollups_by_canonical_url": views.empty_rollups,
    "get_repos": list,
    "get_repo": lambda: None,
    "get_repo_by_url": lambda: None,
    "get_repo_by_id": lambda: None,
    "find_user": lambda: None,
    "find_user_by_email": lambda: None,
    "find_user_by_git_account": lambda: None,
    "find_user_by_oidc": lambda: None,
    "find_user_by_ssh_key": lambda: None,
    "get_users": list,
    "get_public_keys": list,
    "get_applied_migrations": list,
}
WRITES: frozenset[str] = frozenset({
    "write_audit", "delete_push", "authorise", "reject", "cancel", "create_repo", "update_repo",
    "add_user_can_push", "add_user_can_authorise", "remove_user_can_push",
    "remove_user_can_authorise", "delete_repo", "create_user", "update_user", "delete_user",
    "add_public_key", "remove_public_key", "record_migration", "unrecord_migration",
})
SESSION_READS: dict[str, Callable[[], Any]] = {"get": lambda: None, "all": dict,
                                               "length": lambda: 0}
SESSION_WRITES: frozenset[str] = frozenset({"set", "destroy", "touch", "clear", "prune"})


class _Useless:
    """Delegates to a real ``DocumentSink``; subclasses say what becomes of reads and writes."""

    def __init__(self) -> None:
        self.inner = DocumentSink()

    # the state of every collection, to undo a write the reference accepted
    def _snapshot(self) -> dict[str, dict]:
        return {name: copy.deepcopy(col.docs) for name, col in self.inner._collections.items()}

    def _restore(self, snap: dict[str, dict]) -> None:
        for name, docs in snap.items():
            self.inner._collections[name].docs = docs

    def read(self, method: Callable[..., Any], empty: Callable[[], Any], *args: Any) -> Any:
        return method(*args)

    def write(self, method: Callable[..., Any], *args: Any) -> Any:
        return method(*args)

    def __getattr__(self, name: str) -> Any:
        target = getattr(self.inner, name)
        if name in READS:
            return lambda *a, **k: self.read(lambda *x: target(*x, **k), READS[name], *a)
        if name in WRITES:
            return lambda *a, **k: self.write(lambda *x: target(*x, **k), *a)
        return target

    @property
    def session_store(self) -> _UselessStore:
        return _UselessStore(self, self.inner.session_store)

    def close(self) -> None:
        self.inner.close()


class _UselessStore:
    def __init__(self, owner: _Useless, store: Any):
        self._owner, self._store = owner, store
        self.default_ttl = store.default_ttl

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._store, name)
        if name in SESSION_READS:
            return lambda *a: self._owner.read(target, SESSION_READS[name], *a)
        if name in SESSION_WRITES:
            return lambda *a: self._owner.write(target, *a)
        return target


class ReadsNothing(_Useless):
    def read(self, method, empty, *args):
        method(*args)  # the reference's InvalidQuery / UserNotFound still comes out
        return empty()


class RefusesWrites(_Useless):
    def write(self, method, *args):
        snap = self._snapshot()
        method(*args)
        self._restore(snap)
        raise InvalidDocument("write", "this sink refuses every write")


class KeepsNothing(_Useless):
    def write(self, method, *args):
        snap = self._snapshot()
        try:
            return method(*args)
        finally:
            self._restore(snap)


def _harness(sink_class: type[_Useless]) -> type[Harness]:
    class UselessHarness(Harness):
        name = f"useless:{sink_class.__name__}"
        capabilities = Capabilities(persistent=False, multi_process=False)

        def new_sink(self, slot):
            return sink_class()

        def open_config(self, slot):
            return {"type": "memory", "enabled": True}

    UselessHarness.__name__ = f"{sink_class.__name__}Harness"
    return UselessHarness


USELESS = ("ReadsNothing", "RefusesWrites", "KeepsNothing")
ReadsNothingHarness = _harness(ReadsNothing)
RefusesWritesHarness = _harness(RefusesWrites)
KeepsNothingHarness = _harness(KeepsNothing)
