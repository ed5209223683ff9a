"""Write a git-proxy fs store of any size fast, for the copy benchmark and the CLI tests.

The fs adapter fsyncs every write (a 100 000-push store would take minutes); a fixture only
needs the datafiles git-proxy would have, so they are written whole, with NeDB's own crash-safe
rewrite (``Datafile.compact``), in the layout git-proxy's fs sink leaves: pushes keyed by a
random NeDB ``_id`` beside their ``id``, repos with real Dates.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from sinkkit.adapters.fs import nedb
from sinkkit.conformance.factories import make_push, make_repo, make_user

BASE_TS = 1_700_000_000_000


def seed_fs(directory: Path, pushes: int, users: int = 20, repos: int = 5) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    when = datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    names = [f"user{i:03d}" for i in range(users)]
    user_docs = [{**make_user(n, email=f"{n}@example.com"), "_id": nedb.new_id()} for n in names]
    repo_docs = [{**make_repo(f"repo{i}", url=f"https://github.com/finos/repo{i}.git",
                              users={"canPush": names[:3], "canAuthorise": names[:1]}),
                  "_id": nedb.new_id(), "dateCreated": when, "lastModified": when}
                 for i in range(repos)]
    push_docs = []
    for i in range(pushes):
        settled = i % 4 != 0
        push = make_push(f"{i:040x}__{i:06x}", timestamp=BASE_TS + i * 1000,
                         userEmail=f"{names[i % users]}@example.com",
                         **({"authorised": True, "blocked": False} if settled else {}))
        push_docs.append({**push, "_id": nedb.new_id()})
    ledger = [{"id": f"000{i}-step", "_id": nedb.new_id(),
               "appliedAt": datetime(2024, 1, 1 + i, tzinfo=timezone.utc)} for i in range(3)]
    for name, docs in (("users", user_docs), ("repos", repo_docs), ("pushes", push_docs),
                       ("migrations", ledger)):
        datafile = nedb.Datafile(directory / f"{name}.db")
        datafile.load()
        datafile.compact(docs)
        datafile.close()
