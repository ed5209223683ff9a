"""``sinkkit copy``: move a store between backends through the Sink API, losing nothing unsaid.

The source is read through its adapter (what git-proxy would see, the contract's normalisations
applied) and, where a raw reader exists, also raw, so every document the adapter changed on the
way out is reported with what changed, and every stored document the adapter does not show is
reported as refused. Each document is checked by the contract's own input rules before it is
written; one they refuse is reported by id and reason and the rest go on.

Writes are upserts keyed by the source's ids (``_id`` kept as the opaque string it is), each
comparing before it writes: running the copy again writes nothing, and a copy killed midway is
finished by running it again. A PostgreSQL destination takes documents in batches
(``sinkkit.adapters.postgres.bulk``), keeping repo dates and ledger times; any other destination
goes through its Sink API, which stamps those with "now" (reported per document).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sinkkit.cli.raw import RawStore, dumps_id, read_raw
from sinkkit.cli.sources import open_source
from sinkkit.cli.targets import Target
from sinkkit.conformance.errors import SinkError
from sinkkit.core.clock import iso_from_ms, ms_from_iso_or_none, now_ms
from sinkkit.core.rules import (
    check_migration_id,
    check_push,
    normalise_new_repo,
    normalise_new_user,
)

Document = dict[str, Any]
KINDS = ("users", "repos", "pushes", "migrations", "sessions")
#: how many pushes a batch carries (one transaction each on PostgreSQL)
DEFAULT_BATCH = 2000
#: pushes verification also reads back one by one through the destination adapter's get_push
API_SAMPLE = 500
#: pushes per server-side comparison when verifying a PostgreSQL destination
VERIFY_BATCH = 10_000


@dataclass
class KindReport:
    kind: str
    source: int = 0
    written: int = 0
    unchanged: int = 0
    #: (id, what the contract's normalisation changed) — the document was still copied
    changed: list[tuple[str, str]] = field(default_factory=list)
    #: (id, why it was not copied)
    refused: list[tuple[str, str]] = field(default_factory=list)
    #: (id, what differs between the two sides after the copy)
    mismatched: list[tuple[str, str]] = field(default_factory=list)
    verified: int = 0

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "source": self.source, "written": self.written,
                "unchanged": self.unchanged, "verified": self.verified,
                "changed": [{"id": i, "reason": r} for i, r in self.changed],
                "refused": [{"id": i, "reason": r} for i, r in self.refused],
                "mismatched": [{"id": i, "reason": r} for i, r in self.mismatched]}


@dataclass
class CopyReport:
    source: str
    dest: str
    dry_run: bool
    kinds: dict[str, KindReport] = field(
        default_factory=lambda: {k: KindReport(k) for k in KINDS})
    notes: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0

    @property
    def ok(self) -> bool:
        """Verified: every copied document reads back the same on the destination."""
        return not any(k.mismatched for k in self.kinds.values())

    def as_json(self) -> dict[str, Any]:
        return {"source": self.source, "dest": self.dest, "dryRun": self.dry_run,
                "verified": self.ok, "elapsedSeconds": round(self.elapsed_s, 3),
                "notes": self.notes, "kinds": [k.as_json() for k in self.kinds.values()]}


Progress = Callable[[str, int, int], None]  # (kind, done, total)


def _short(value: Any, limit: int = 48) -> str:
    text = dumps_id(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def describe_changes(raw: Document, out: Document, hidden: Iterable[str] = ()) -> str:
    """What differs between a stored document and the one copied, field by field."""
    parts = []
    for key in sorted(set(raw) | set(out), key=str):
        if key in hidden or raw.get(key, ...) == out.get(key, ...):
            continue
        if key == "password":
            parts.append("password changed")  # never show a hash, even in a report
        elif key not in out:
            parts.append(f"{key} dropped")
        elif key not in raw:
            parts.append(f"{key} added as {_short(out[key])}")
        else:
            parts.append(f"{key}: {_short(raw[key])} -> {_short(out[key])}")
    return "; ".join(parts)


# --- reading the source -------------------------------------------------------------------------

@dataclass
class Snapshot:
    """The source as its adapter shows it, normalised for writing, with the reasons."""

    users: list[Document] = field(default_factory=list)
    repos: list[Document] = field(default_factory=list)
    pushes: list[Document] = field(default_factory=list)
    migrations: list[tuple[str, str]] = field(default_factory=list)
    sessions: dict[str, Document] = field(default_factory=dict)


def _raw_by_key(raw: RawStore | None, kind: str) -> dict[str, Document]:
    if raw is None:
        return {}
    if kind in ("pushes", "migrations"):
        return {_str_id(d.get("id")): d for d in raw.docs[kind]}
    return {_str_id(d.get("_id")): {**d, "_id": _str_id(d.get("_id"))} for d in raw.docs[kind]}


def _str_id(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


def read_source(sink: Any, raw: RawStore | None, report: CopyReport, sessions: bool,
                progress: Progress) -> Snapshot:
    snap = Snapshot()
    k = report.kinds

    raw_users = {_str_id(d.get("_id")): d for d in (raw.docs["users"] if raw else [])}
    listed = sink.get_users({})
    for i, summary in enumerate(listed):
        user = sink.find_user(summary["username"]) or summary
        if user["_id"] != summary["_id"]:
            # two stored users one folded username: the adapter answers for one of them only
            k["users"].source += 1
            k["users"].refused.append((summary["_id"], f"username {summary['username']!r} "
                                       f"collides with user {user['_id']} once folded"))
            continue
        _admit(k["users"], user["_id"], lambda user=user: normalise_new_user(user),
               raw_users.get(user["_id"]), snap.users)
        progress("read users", i + 1, len(listed))
    _unseen(k["users"], raw_users, {u["_id"] for u in listed})

    raw_repos = {_str_id(d.get("_id")): d for d in (raw.docs["repos"] if raw else [])}
    repos = sink.get_repos({})
    for repo in repos:
        def normal(repo: Document = repo) -> Document:
            dates = {x: repo[x] for x in ("dateCreated", "lastModified") if repo.get(x)}
            return {**normalise_new_repo(repo), **dates}
        _admit(k["repos"], repo["_id"], normal, raw_repos.get(repo["_id"]), snap.repos)
    progress("read repos", len(repos), len(repos))
    _unseen(k["repos"], raw_repos, {r["_id"] for r in repos})

    raw_pushes = _raw_by_key(raw, "pushes")
    # the ids to fetch: every stored one when the raw read has them (get_push answering None
    # then marks what the adapter does not show), else the adapter's full listing
    ids = list(raw_pushes) if raw is not None else [p["id"] for p in sink.get_pushes({})]
    for i, pid in enumerate(ids):
        push = sink.get_push(pid)
        if push is None:  # reported with the other stored documents the adapter does not show
            continue
        # the raw push's _id is the store's key (NeDB's random one for git-proxy's pushes):
        # the contract keys pushes by id and keeps no other _id, so it is not a change to report
        _admit(k["pushes"], pid, lambda push=push: check_push(push, deep_copy=False),
               raw_pushes.get(pid), snap.pushes, ("_id",))
        if (i + 1) % 1000 == 0 or i + 1 == len(ids):
            progress("read pushes", i + 1, len(ids))
    _unseen(k["pushes"], raw_pushes, {p["id"] for p in snap.pushes} | {
        i for i, _ in k["pushes"].refused})

    raw_ledger = _raw_by_key(raw, "migrations")
    ledger = sink.get_applied_migrations()
    k["migrations"].source = len(ledger)
    for mid in ledger:
        try:
            check_migration_id(mid)
        except SinkError as exc:
            k["migrations"].refused.append((mid, str(exc)))
            continue
        at = (raw_ledger.get(mid) or {}).get("appliedAt")
        if not isinstance(at, str):
            at = iso_from_ms(now_ms())
            k["migrations"].changed.append((mid, "no appliedAt stored: recorded as now"))
        snap.migrations.append((mid, at))
    _unseen(k["migrations"], raw_ledger, set(ledger))

    if sessions:
        store = sink.session_store
        snap.sessions = store.all()
        k["sessions"].source = len(snap.sessions)
        for sess in (raw.docs["sessions"] if raw else []):
            sid = _str_id(sess["_id"])
            if sid not in snap.sessions:
                k["sessions"].refused.append((sid, "expired: not a live session"))
    elif raw is not None and raw.docs["sessions"]:
        report.notes.append(f"{len(raw.docs['sessions'])} stored session(s) not copied: "
                            "pass --sessions to copy live sessions")
    return snap


def _admit(rep: KindReport, key: str, normalise: Callable[[], Document], raw: Document | None,
           into: list[Document], hidden: Sequence[str] = ()) -> None:
    """Normalise one source document for writing; refuse it with the reason if the rules do."""
    rep.source += 1
    try:
        doc = normalise()
    except SinkError as exc:
        rep.refused.append((key, str(exc)))
        return
    if raw is not None:
        shown = {**raw, "_id": _str_id(raw.get("_id"))} if "_id" in raw else raw
        changes = describe_changes(shown, doc, hidden)
        if changes:
            rep.changed.append((key, changes))
    into.append(doc)


def _unseen(rep: KindReport, raw: dict[str, Document], shown: set[str]) -> None:
    for key in raw:
        if key not in shown:
            rep.refused.append((key, "stored, but the source adapter does not return it "
                                     "(run sinkkit check on the source)"))


# --- writing the destination --------------------------------------------------------------------

class SinkWriter:
    """Any destination, through its Sink API: one call per document that differs."""

    keeps_dates = False

    def __init__(self, sink: Any):
        self.sink = sink

    def users(self, docs: Sequence[Document], rep: KindReport) -> None:
        for user in docs:
            current = self.sink.find_user(user["username"])
            if current is not None and current.get("_id") == user["_id"] and _covers(current, user):
                rep.unchanged += 1
                continue
            try:
                if current is not None and current.get("_id") != user["_id"]:
                    raise _Refused(f"username already held by {current.get('_id')} "
                                   "in the destination")
                self.sink.update_user(user)
            except (SinkError, _Refused) as exc:
                rep.refused.append((user["_id"], str(exc)))
                continue
            rep.written += 1

    def repos(self, docs: Sequence[Document], rep: KindReport) -> None:
        for repo in docs:
            body = {k: v for k, v in repo.items()
                    if k not in ("_id", "users", "dateCreated", "lastModified")}
            try:
                current = self.sink.get_repo_by_id(repo["_id"])
                if current is None:
                    self.sink.create_repo({k: v for k, v in repo.items()
                                           if k not in ("dateCreated", "lastModified")})
                    rep.changed.append((repo["_id"], "dateCreated and lastModified set to now "
                                                     "(the destination's Sink API sets them)"))
                elif _covers(current, body) and current.get("users") == repo["users"]:
                    rep.unchanged += 1
                    continue
                else:
                    self.sink.update_repo(repo["_id"], body)
                    self._permissions(repo["_id"], current.get("users") or {}, repo["users"])
            except SinkError as exc:
                rep.refused.append((repo["_id"], str(exc)))
                continue
            rep.written += 1

    def _permissions(self, _id: str, have: Document, want: Document) -> None:
        calls = {"canPush": (self.sink.add_user_can_push, self.sink.remove_user_can_push),
                 "canAuthorise": (self.sink.add_user_can_authorise,
                                  self.sink.remove_user_can_authorise)}
        for role, (add, remove) in calls.items():
            for name in want[role]:
                if name not in (have.get(role) or []):
                    add(_id, name)
            for name in have.get(role) or []:
                if name not in want[role]:
                    remove(_id, name)

    def pushes(self, docs: Sequence[Document], rep: KindReport) -> None:
        for push in docs:
            if self.sink.get_push(push["id"]) == push:
                rep.unchanged += 1
                continue
            try:
                self.sink.write_audit(push)
            except SinkError as exc:
                rep.refused.append((push["id"], str(exc)))
                continue
            rep.written += 1

    def migrations(self, entries: Sequence[tuple[str, str]], rep: KindReport) -> None:
        have = set(self.sink.get_applied_migrations())
        for mid, _at in entries:
            if mid in have:
                rep.unchanged += 1
                continue
            self.sink.record_migration(mid)
            rep.written += 1
            rep.changed.append((mid, "appliedAt recorded as now (the Sink API sets it)"))

    def sessions(self, sessions: dict[str, Document], rep: KindReport) -> None:
        store = self.sink.session_store
        for sid, sess in sessions.items():
            if store.get(sid) == sess:
                rep.unchanged += 1
                continue
            try:
                store.set(sid, sess)
            except SinkError as exc:
                rep.refused.append((sid, str(exc)))
                continue
            rep.written += 1


class _Refused(Exception):
    pass


def _covers(current: Document, want: Document) -> bool:
    return all(current.get(k, ...) == v for k, v in want.items())


class PostgresWriter(SinkWriter):
    """A PostgreSQL destination: batched upserts that keep repo dates and ledger times."""

    keeps_dates = True

    def __init__(self, sink: Any, batch: int):
        super().__init__(sink)
        from sinkkit.adapters.postgres import bulk

        self.bulk = bulk
        self.batch = batch

    @staticmethod
    def _apply(outcome: Any, rep: KindReport) -> None:
        rep.written += len(outcome.written)
        rep.unchanged += len(outcome.unchanged)
        rep.refused += outcome.refused

    def users(self, docs: Sequence[Document], rep: KindReport) -> None:
        self._apply(self.bulk.import_users(self.sink, docs), rep)

    def repos(self, docs: Sequence[Document], rep: KindReport) -> None:
        rows = []
        for repo in docs:
            created = ms_from_iso_or_none(repo.get("dateCreated"))
            modified = ms_from_iso_or_none(repo.get("lastModified"))
            if created is None or modified is None:
                rep.changed.append((repo["_id"], "no dateCreated/lastModified stored: the "
                                                 "time of the first copy is kept"))
            rows.append((repo, created, modified))
        self._apply(self.bulk.import_repos(self.sink, rows), rep)

    def pushes_batched(self, docs: Sequence[Document], rep: KindReport,
                       progress: Progress) -> None:
        for start in range(0, len(docs), self.batch):
            self._apply(self.bulk.import_pushes(self.sink, docs[start:start + self.batch]), rep)
            progress("write pushes", min(start + self.batch, len(docs)), len(docs))

    def migrations(self, entries: Sequence[tuple[str, str]], rep: KindReport) -> None:
        self._apply(self.bulk.import_migrations(self.sink, entries), rep)


# --- verification -------------------------------------------------------------------------------

def verify(dest: Any, dest_raw: RawStore | None, snap: Snapshot, report: CopyReport,
           keeps_dates: bool, bulk: Any = None) -> None:
    """Read the destination back and compare it with what was meant to land there."""
    k = report.kinds
    refused = {kind: {i for i, _ in k[kind].refused} for kind in KINDS}
    for user in snap.users:
        if user["_id"] in refused["users"]:
            continue
        got = dest.find_user(user["username"])
        keys = dest.get_public_keys(user["username"]) if got is not None else None
        _compare(k["users"], user["_id"], user, got)
        if got is not None and keys != user["publicKeys"]:
            k["users"].mismatched.append((user["_id"], "public keys differ"))
    by_id = {r["_id"]: r for r in dest.get_repos({})}
    for repo in snap.repos:
        if repo["_id"] in refused["repos"]:
            continue
        want = repo if keeps_dates else {
            x: v for x, v in repo.items() if x not in ("dateCreated", "lastModified")}
        _compare(k["repos"], repo["_id"], want, by_id.get(repo["_id"]))
    # pushes: every document compared whole (by the PostgreSQL server itself, else against the
    # destination's raw documents, else through get_push), and a sample read back one by one
    # through the destination adapter's get_push
    wanted = [p for p in snap.pushes if p["id"] not in refused["pushes"]]
    if bulk is not None:
        differ: set[str] = set()
        for start in range(0, len(wanted), VERIFY_BATCH):
            differ.update(bulk.differing_pushes(dest, wanted[start:start + VERIFY_BATCH]))
        for push in wanted:
            if push["id"] in differ:
                _compare(k["pushes"], push["id"], push, dest.get_push(push["id"]), exact=True)
            else:
                k["pushes"].verified += 1
    else:
        stored = ({p["id"]: {x: v for x, v in p.items() if x != "_id"}
                   for p in dest_raw.docs["pushes"]} if dest_raw is not None else None)
        for push in wanted:
            got = stored.get(push["id"]) if stored is not None else dest.get_push(push["id"])
            _compare(k["pushes"], push["id"], push, got, exact=True)
    for push in random.Random(0).sample(wanted, min(API_SAMPLE, len(wanted))):
        if dest.get_push(push["id"]) != push:
            k["pushes"].mismatched.append((push["id"], "get_push reads it back differently"))
    ledger = dest.get_applied_migrations()
    position = {mid: i for i, mid in enumerate(ledger)}
    last = -1
    for mid, _at in snap.migrations:
        if mid not in position:
            k["migrations"].mismatched.append((mid, "not in the destination's ledger"))
        elif position[mid] < last:
            k["migrations"].mismatched.append((mid, "out of the source's order"))
        else:
            last = position[mid]
            k["migrations"].verified += 1
    if snap.sessions:
        store = dest.session_store
        for sid, sess in snap.sessions.items():
            if sid not in refused["sessions"]:
                _compare(k["sessions"], sid, sess, store.get(sid), exact=True)


def _compare(rep: KindReport, key: str, want: Document, got: Document | None,
             exact: bool = False) -> None:
    if got is None:
        rep.mismatched.append((key, "missing from the destination"))
        return
    same = got == want if exact else _covers(got, want)
    if same:
        rep.verified += 1
    else:
        rep.mismatched.append((key, describe_changes(want, got if exact else {
            x: got.get(x) for x in want if x in got})))


# --- the whole run ------------------------------------------------------------------------------

def _open(target: Target) -> Any:
    from sinkkit.core.config import open_sink

    return open_sink([target.entry])


def _raw_or_none(target: Target, report: CopyReport, side: str) -> RawStore | None:
    if target.type not in ("fs", "postgres", "mongo"):
        report.notes.append(f"no raw reader for the {side}'s type {target.type!r}: "
                            "normalisations are not itemised")
        return None
    return read_raw(target)


def _empty_dest(target: Target) -> bool:
    """True when the destination does not exist yet (a dry run then compares with nothing)."""
    if target.type == "fs":
        return not target.fs_directory.exists()
    return False


def run_copy(source: Target, dest: Target, *, sessions: bool = False, dry_run: bool = False,
             batch: int = DEFAULT_BATCH, progress: Progress | None = None) -> CopyReport:
    progress = progress or (lambda kind, done, total: None)
    report = CopyReport(source.display, dest.display, dry_run)
    started = time.monotonic()
    raw = _raw_or_none(source, report, "source")
    src = open_source(source, raw)
    try:
        snap = read_source(src, raw, report, sessions, progress)
    finally:
        src.close()
    if dry_run:
        _plan(dest, snap, report)
    else:
        _write_and_verify(dest, snap, report, batch, progress)
    report.elapsed_s = time.monotonic() - started
    return report


def _write_and_verify(dest: Target, snap: Snapshot, report: CopyReport, batch: int,
                      progress: Progress) -> None:
    k = report.kinds
    sink = _open(dest)
    try:
        writer = PostgresWriter(sink, batch) if dest.type == "postgres" else SinkWriter(sink)
        writer.users(snap.users, k["users"])
        writer.repos(snap.repos, k["repos"])
        if isinstance(writer, PostgresWriter):
            writer.pushes_batched(snap.pushes, k["pushes"], progress)
        else:
            for start in range(0, len(snap.pushes), batch):
                writer.pushes(snap.pushes[start:start + batch], k["pushes"])
                progress("write pushes", min(start + batch, len(snap.pushes)), len(snap.pushes))
        writer.migrations(snap.migrations, k["migrations"])
        if snap.sessions:
            writer.sessions(snap.sessions, k["sessions"])
        progress("verify", 0, 1)
        pg = writer.bulk if isinstance(writer, PostgresWriter) else None
        dest_raw = read_raw(dest) if dest.type == "mongo" else None
        verify(sink, dest_raw, snap, report, writer.keeps_dates, pg)
        progress("verify", 1, 1)
    finally:
        sink.close()


def _plan(dest: Target, snap: Snapshot, report: CopyReport) -> None:
    """A dry run: compare with the destination's raw documents; nothing is opened for writing."""
    k = report.kinds
    raw = None if _empty_dest(dest) else _raw_or_none(dest, report, "destination")
    have = {kind: _raw_by_key(raw, kind) for kind in KINDS}
    plan: list[tuple[str, Iterator[tuple[str, Document]]]] = [
        ("users", ((u["_id"], u) for u in snap.users)),
        ("repos", ((r["_id"], {x: v for x, v in r.items()
                               if x not in ("dateCreated", "lastModified")}) for r in snap.repos)),
        ("pushes", ((p["id"], p) for p in snap.pushes)),
    ]
    for kind, docs in plan:
        for key, doc in docs:
            current = have[kind].get(key)
            if current is not None and kind == "pushes":
                current = {x: v for x, v in current.items() if x != "_id"}
            if current is not None and (current == doc if kind == "pushes"
                                        else _covers(current, doc)):
                k[kind].unchanged += 1
            else:
                k[kind].written += 1
    for mid, _at in snap.migrations:
        if mid in have["migrations"]:
            k["migrations"].unchanged += 1
        else:
            k["migrations"].written += 1
    k["sessions"].written = len(snap.sessions)
    report.notes.append("dry run: nothing was written; 'written' counts what a copy would write")
