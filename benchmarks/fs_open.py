"""Opening an fs directory holding many pushes: time, peak memory, size before/after compaction.

Runs the open in a fresh subprocess (``python -m benchmarks.fs_open DIR MODE``) so peak RSS
belongs to the open alone. The directory is written the way git-proxy fills it: every push
twice, once when the proxy blocks it and once when it is reviewed, so half the lines are
superseded versions that compaction drops.

Given a git-proxy checkout (its ``@seald-io/nedb``), the same file is also opened by NeDB in Node
(``benchmarks/nedb_open.mjs``: load, which compacts, and git-proxy's unique index on ``id``),
in rounds alternating with the kit's open, each on a fresh copy of the same bytes; the ratios are
medians over the paired rounds: NeDB's time / the kit's (above 1: the kit is faster) and the
kit's peak RSS / NeDB's.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.workload import push_doc

ROOT = Path(__file__).resolve().parent.parent


def write_directory(directory: Path, pushes: int) -> None:
    from sinkkit.adapters.fs import CODECS, nedb

    directory.mkdir(parents=True, exist_ok=True)
    codec = CODECS["pushes"]
    with open(directory / "pushes.db", "w", encoding="utf-8") as fh:
        for pending in (True, False):
            fh.writelines(
                nedb.serialize(codec.to_disk(doc["id"], doc, doc["id"])) + "\n"
                for doc in (push_doc(i, pending) for i in range(pushes)))


def _peak_rss_kb() -> int:
    """This process's peak RSS. VmHWM, not ru_maxrss: Linux carries ru_maxrss across exec, so
    a child would report its parent's (the benchmark runner's) peak."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _child(directory: Path, mode: str) -> dict[str, Any]:
    from sinkkit.adapters.fs import open_fs_sink

    entry = {"type": "fs", "params": {"filepath": str(directory)}}
    if mode == "tracemalloc":
        import tracemalloc

        tracemalloc.start()
        sink = open_fs_sink(entry)
        held, peak = tracemalloc.get_traced_memory()
        sink.close()
        return {"tracemalloc_peak_bytes": peak, "tracemalloc_held_after_open_bytes": held}
    datafile = directory / "pushes.db"
    before_bytes = datafile.stat().st_size
    rss_before = _peak_rss_kb()
    start = time.perf_counter()
    sink = open_fs_sink(entry)
    open_s = time.perf_counter() - start
    rss_open = _peak_rss_kb()
    stored = len(sink._pushes.docs)
    start = time.perf_counter()
    sink.compact()
    compact_s = time.perf_counter() - start
    rss_compact = _peak_rss_kb()
    sink.close()
    return {"open_s": open_s, "compact_s": compact_s, "stored": stored,
            "rss_before_open_kb": rss_before, "peak_rss_kb": rss_open,
            "open_rss_growth_kb": rss_open - rss_before,
            # NeDB compacts inside its load: this is the figure to hold against its peak
            "peak_rss_with_compaction_kb": rss_compact,
            "bytes_before_compaction": before_bytes,
            "bytes_after_compaction": datafile.stat().st_size}


def _spawn(directory: Path, mode: str) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    out = subprocess.run([sys.executable, "-m", "benchmarks.fs_open", str(directory), mode],
                         cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if out.returncode:
        raise RuntimeError(f"fs open benchmark failed ({mode}): {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


NEDB_OPEN = Path(__file__).resolve().parent / "nedb_open.mjs"
#: kit / NeDB open rounds (each opens the whole file twice, once per side)
NEDB_ROUNDS = 3


def _spawn_nedb(checkout: Path, datafile: Path) -> dict[str, Any]:
    out = subprocess.run(["node", str(NEDB_OPEN), str(checkout / "node_modules"), str(datafile)],
                         capture_output=True, text=True, check=False)
    if out.returncode:
        raise RuntimeError(f"NeDB open benchmark failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _fresh_copy(pristine: Path, to: Path) -> Path:
    shutil.rmtree(to, ignore_errors=True)
    to.mkdir(parents=True)
    shutil.copyfile(pristine / "pushes.db", to / "pushes.db")
    return to


def compare_with_nedb(workdir: Path, pristine: Path, checkout: Path,
                      rounds: int = NEDB_ROUNDS) -> dict[str, Any]:
    """Kit open (and open + compact) against NeDB's load of the same bytes, paired rounds."""
    pairs: list[tuple[dict[str, Any], dict[str, Any]]] = []
    def nedb_side() -> dict[str, Any]:
        return _spawn_nedb(checkout, _fresh_copy(pristine, workdir / "nedb") / "pushes.db")

    def kit_side() -> dict[str, Any]:
        return _spawn(_fresh_copy(pristine, workdir / "kit"), "timed")

    for i in range(rounds):
        if i % 2:  # the other order every other round, so neither side always goes first
            kit_run = kit_side()
            nedb_run = nedb_side()
        else:
            nedb_run = nedb_side()
            kit_run = kit_side()
        pairs.append((kit_run, nedb_run))
    med = statistics.median
    return {
        "rounds": rounds,
        "nedb_load_s": med(n["load_s"] for _, n in pairs),
        "nedb_peak_rss_kb": med(n["peak_rss_kb"] for _, n in pairs),
        "kit_open_s": med(k["open_s"] for k, _ in pairs),
        "kit_open_compact_s": med(k["open_s"] + k["compact_s"] for k, _ in pairs),
        "kit_peak_rss_kb": med(k["peak_rss_kb"] for k, _ in pairs),
        "kit_peak_rss_with_compaction_kb": med(k["peak_rss_with_compaction_kb"]
                                               for k, _ in pairs),
        # throughput ratios, kit / NeDB: NeDB's time over the kit's, round by round
        "open_ratio": med(n["load_s"] / k["open_s"] for k, n in pairs),
        "open_compact_ratio": med(n["load_s"] / (k["open_s"] + k["compact_s"])
                                  for k, n in pairs),
        "rss_ratio": med(k["peak_rss_kb"] / n["peak_rss_kb"] for k, n in pairs),
        "rss_with_compaction_ratio": med(k["peak_rss_with_compaction_kb"] / n["peak_rss_kb"]
                                         for k, n in pairs),
    }


def run_fs_open(workdir: Path, pushes: int, checkout: Path | None = None) -> dict[str, Any]:
    directory = workdir / f"fs-open-{pushes}"
    start = time.perf_counter()
    write_directory(directory, pushes)
    result: dict[str, Any] = {"pushes": pushes, "lines": 2 * pushes,
                              "write_s": time.perf_counter() - start}
    pristine = workdir / f"fs-open-{pushes}-pristine"
    _fresh_copy(directory, pristine)
    # tracemalloc first: the timed run compacts the directory afterwards
    result.update(_spawn(directory, "tracemalloc"))
    result.update(_spawn(directory, "timed"))
    print(f"bench: fs open {pushes:,} pushes: {result['open_s']:.2f} s, peak RSS "
          f"{result['peak_rss_kb'] / 1024:.0f} MiB, {result['bytes_before_compaction'] / 2**20:.1f}"
          f" -> {result['bytes_after_compaction'] / 2**20:.1f} MiB after compaction", flush=True)
    if checkout is not None:
        vs = result["vs_nedb"] = compare_with_nedb(workdir, pristine, checkout)
        print(f"bench: fs open vs NeDB load ({vs['rounds']} rounds): kit/NeDB "
              f"{vs['open_ratio']:.2f} open, {vs['open_compact_ratio']:.2f} open + compaction, "
              f"peak RSS {vs['rss_ratio']:.2f}x NeDB's "
              f"({vs['rss_with_compaction_ratio']:.2f}x counting the compaction)", flush=True)
    return result


if __name__ == "__main__":
    if sys.argv[1] == "--vs-nedb":  # python -m benchmarks.fs_open --vs-nedb CHECKOUT PUSHES DIR
        print(json.dumps(run_fs_open(Path(sys.argv[4]), int(sys.argv[3]), Path(sys.argv[2]))))
    else:
        print(json.dumps(_child(Path(sys.argv[1]), sys.argv[2])))
