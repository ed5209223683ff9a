"""Recorded divergences: which clauses a git-proxy checkout fails, why, and how to see it.

One JSON file per upstream lane and commit, ``upstream/divergences/<kind>@<commit8>.json``::

    {"lane": "fs", "commit": "7eeab394...", "measured": {"pass": 43, ...},
     "clauses": {"repos.permissions.concurrent-adds": {
         "reason": "one line",
         "tests": ["test_concurrency.py::test_..."],   # the clause's tests that fail
         "expected": "what the clause expects (the assertion that failed)",
         "calls": ["createRepo({...}) -> {...}", "addUserCanPush(...) -> null", ...],
         "nondeterministic": "why"}}}   # optional: fails only by chance, run as a lax xfail

The upstream harness turns ``clauses`` into strict xfails, so the lane is green exactly when the
checkout behaves as recorded. ``python -m sinkkit.upstream.records REPORT TRANSCRIPTS --kind K
--commit C [--also REPORT2 ...]`` writes a record from a lane's clause report and call
transcripts, keeping the reasons already written by hand for clauses that still fail.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FOLDER = Path(__file__).parent / "divergences"
#: calls kept per reproduction: the last ones a failing test made (the failing call is last)
MAX_CALLS = 8
MAX_SHOWN = 220
RECORD_ENV = "SINKKIT_UPSTREAM_RECORD"


@dataclass
class Record:
    name: str = ""
    lane: str = ""
    commit: str = ""
    measured: dict[str, int] = field(default_factory=dict)
    not_applicable: list[str] = field(default_factory=list)
    clauses: dict[str, dict[str, Any]] = field(default_factory=dict)


def transcript_name(nodeid: str) -> str:
    return hashlib.sha256(nodeid.encode()).hexdigest()[:16]


def checkout_commit(checkout: Path) -> str | None:
    """The commit a checkout is at: ``git rev-parse`` in a clone, else the ``git-proxy-<sha>``
    folder name a ``git archive --prefix`` snapshot extracts to."""
    try:
        done = subprocess.run(["git", "-C", str(checkout), "rev-parse", "HEAD"],
                              capture_output=True, text=True, timeout=10)
        if done.returncode == 0 and re.fullmatch(r"[0-9a-f]{40}", done.stdout.strip()):
            return done.stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        pass
    match = re.search(r"([0-9a-f]{7,40})$", Path(checkout).name)
    return match.group(1) if match else None


def record_path(kind: str, commit: str) -> Path:
    return FOLDER / f"{kind}@{commit[:8]}.json"


def load(path: Path) -> Record:
    data = json.loads(path.read_text(encoding="utf-8"))
    return Record(name=path.stem, lane=data["lane"], commit=data["commit"],
                  measured=data.get("measured", {}),
                  not_applicable=data.get("not_applicable", []), clauses=data.get("clauses", {}))


def load_for(kind: str, checkout: Path, environ: dict[str, str] | None = None) -> Record:
    """The record a lane holds ``checkout`` to: ``SINKKIT_UPSTREAM_RECORD`` (a file, a record
    name, or ``none``), else the one for its commit; an empty record when there is none."""
    import os

    wanted = (os.environ if environ is None else environ).get(RECORD_ENV, "").strip()
    if wanted == "none":
        return Record()
    if wanted:
        path = Path(wanted) if wanted.endswith(".json") else FOLDER / f"{wanted}.json"
        if not path.is_file():
            raise FileNotFoundError(f"{RECORD_ENV}={wanted}: no record at {path}")
        return load(path)
    commit = checkout_commit(checkout)
    if commit and record_path(kind, commit).is_file():
        return load(record_path(kind, commit))
    return Record()


def every_record() -> list[Record]:
    return [load(p) for p in sorted(FOLDER.glob("*.json"))]


# --- writing a record from a run -------------------------------------------------------------

def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=repr)
    return text if len(text) <= MAX_SHOWN else text[:MAX_SHOWN] + "..."


def format_call(call: dict[str, Any]) -> str:
    params = ", ".join(_show(p) for p in call.get("params", []))
    if "raised" in call:
        return f"{call['call']}({params}) raised {call['raised'][:MAX_SHOWN]}"
    return f"{call['call']}({params}) -> {_show(call.get('returned'))}"


def _test_failed(clause: dict[str, Any], nodeid: str) -> bool:
    # a strict xfail that passed is reported as a failure, but the test itself passed
    # a method upstream lacks ("not implemented") is recorded too: the lane holds it as it is
    return (clause["tests"][nodeid] in ("fail", "known divergence", "not implemented")
            and "XPASS(strict)" not in clause["details"].get(nodeid, ""))


def _failing(clause: dict[str, Any]) -> list[str]:
    return sorted(n.rsplit("/", 1)[-1] for n in clause["tests"] if _test_failed(clause, n))


def _first_failure(clause: dict[str, Any]) -> tuple[str, str]:
    for nodeid in clause["tests"]:
        if _test_failed(clause, nodeid):
            return nodeid, clause["details"].get(nodeid, "")
    return "", ""


#: failure-line rewrites that keep the cause and drop the kit's plumbing
_REWRITES = [
    (re.compile(r"sinkkit\.adapters\.bridge\.BridgePeerError: \S+: peer answered with an untyped "
                r"error \(JSON-RPC -32601, data\.code None\): not implemented by this git-proxy "
                r"checkout: (\S+)"),
     r"not implemented upstream: \1 (the host answers JSON-RPC -32601)"),
    (re.compile(r"sinkkit\.adapters\.bridge\.BridgePeerError: (\S+): peer answered with an untyped "
                r"error \(JSON-RPC -32603, data\.code None\): "), r"\1 threw (untyped): "),
    (re.compile(r"\bsinkkit\.[a-z_.]+\.([A-Z]\w+): "), r"\1: "),
]


#: what ``_reason_from`` writes; a reason of any other form was written by hand and is kept
_DERIVED = re.compile(r"^(\w+Error\b|\w+: |Failed: |assert |not implemented upstream: |"
                      r"the adapter does not implement |\S+ threw \(untyped\): |fails$)")


def _reason(kept: dict[str, Any], detail: str, fresh: bool) -> str:
    """The recorded reason: a hand-written one stays; a derived one is derived again from a
    fresh failure, so it names what fails now, not what failed when it was first recorded."""
    old = kept.get("reason", "")
    if old and not (fresh and _DERIVED.match(old)):
        return old
    return _reason_from(detail)


def _reason_from(detail: str) -> str:
    detail = detail.removeprefix("known divergence: ").strip()
    line = re.sub(r"\s+", " ", detail.splitlines()[0] if detail else "fails")
    for pattern, replacement in _REWRITES:
        line = pattern.sub(replacement, line)
    return line[:200]


def _expected_from(detail: str, statement: str) -> str:
    """The failed assertion when there is one; else (an error) the clause's own statement."""
    line = detail.splitlines()[0] if detail else ""
    if line.startswith(("AssertionError", "assert ", "Failed: DID NOT RAISE")):
        return line[:400]
    return statement


def _failing_in(report: dict[str, Any], clause_id: str) -> bool:
    return bool(_failing(report["clauses"][clause_id]))


def build(report: dict[str, Any], transcripts: Path, kind: str, commit: str,
          previous: Record | None = None,
          others: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A record of every clause ``report`` shows failing (or diverging as recorded).

    ``others``: reports of more runs of the same lane. A clause that fails in some runs and
    passes in others (a race, an order left to chance) is recorded as ``nondeterministic``.
    """
    previous = previous or Record()
    runs = [report, *(others or [])]
    clauses: dict[str, dict[str, Any]] = {}
    for clause_id in report["clauses"]:
        failing = [r for r in runs if _failing_in(r, clause_id)]
        if not failing:
            continue
        source = failing[0]
        clause = source["clauses"][clause_id]
        nodeid, detail = _first_failure(clause)
        kept = previous.clauses.get(clause_id, {})
        calls: list[str] = []
        path = transcripts / f"{transcript_name(nodeid)}.json"
        if source is report and path.is_file():
            recorded = json.loads(path.read_text(encoding="utf-8"))["calls"]
            calls = [format_call(c) for c in recorded[-MAX_CALLS:]]
            if len(recorded) > MAX_CALLS:
                calls.insert(0, f"... {len(recorded) - MAX_CALLS} earlier calls")
        # a failure line from a run is only known while the clause fails; an xfail shows the
        # recorded reason instead, so keep what the record said
        fresh = clause["outcome"] == "fail"
        entry = {
            "reason": _reason(kept, detail, fresh),
            "tests": sorted({t for r in failing for t in _failing(r["clauses"][clause_id])}),
            "expected": (_expected_from(detail, clause["statement"]) if fresh
                         else kept.get("expected") or clause["statement"]),
            "calls": calls if (calls or not kept.get("calls")) else kept["calls"],
        }
        if all(o == "not implemented" for r in failing
               for n, o in r["clauses"][clause_id]["tests"].items()
               if _test_failed(r["clauses"][clause_id], n)):
            entry["outcome"] = "not implemented"  # a method upstream lacks, counted apart
        if kept.get("nondeterministic"):
            entry["nondeterministic"] = kept["nondeterministic"]
        elif len(failing) < len(runs):
            entry["nondeterministic"] = (f"failed in {len(failing)} of {len(runs)} runs: the "
                                         "outcome depends on timing or on random ids")
        clauses[clause_id] = entry
    # a clause recorded as failing by chance stays recorded when this run happened to pass it
    for clause_id, entry in previous.clauses.items():
        if entry.get("nondeterministic") and clause_id not in clauses \
                and clause_id in report["clauses"] \
                and report["clauses"][clause_id]["outcome"] != "not applicable":
            clauses[clause_id] = entry
    summary = report["summary"]
    measured = {"pass": summary.get("pass", 0),
                "fail": summary.get("fail", 0) + summary.get("known divergence", 0),
                "not applicable": summary.get("not applicable", 0),
                "not implemented": summary.get("not implemented", 0)}
    not_applicable = sorted(c for c, v in report["clauses"].items()
                            if v["outcome"] == "not applicable")
    return {"lane": kind, "commit": commit, "suite_version": report.get("suite_version"),
            "measured": measured, "not_applicable": not_applicable,
            "clauses": dict(sorted(clauses.items()))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="write a divergence record from lane runs")
    parser.add_argument("report", type=Path, help="the run whose counts and transcripts to keep")
    parser.add_argument("transcripts", type=Path)
    parser.add_argument("--kind", required=True)
    parser.add_argument("--commit", required=True)
    parser.add_argument("--also", type=Path, action="append", default=[],
                        help="another run's clause report (a clause failing in only some runs "
                             "is recorded as nondeterministic)")
    args = parser.parse_args(argv)
    read = lambda p: json.loads(p.read_text(encoding="utf-8"))  # noqa: E731
    path = record_path(args.kind, args.commit)
    previous = load(path) if path.is_file() else None
    data = build(read(args.report), args.transcripts, args.kind, args.commit, previous,
                 [read(p) for p in args.also])
    FOLDER.mkdir(exist_ok=True)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {path}: {len(data['clauses'])} divergences", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
