"""Opening an fs directory holding many pushes: time, peak memory, size before/after compaction.

Runs the open in a fresh subprocess (``python -m benchmarks.fs_open DIR MODE``) so peak RSS
belongs to the open alone. The directory is written the way git-proxy fills it: every push
twice, once when the proxy blocks it and once when it is reviewed, so half the lines are
superseded versions that compaction drops.
"""

from __future__ import annotations

import json
import os
import resource
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
    sink.close()
    return {"open_s": open_s, "compact_s": compact_s, "stored": stored,
            "rss_before_open_kb": rss_before, "peak_rss_kb": rss_open,
            "open_rss_growth_kb": rss_open - rss_before,
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


def run_fs_open(workdir: Path, pushes: int) -> dict[str, Any]:
    directory = workdir / f"fs-open-{pushes}"
    start = time.perf_counter()
    write_directory(directory, pushes)
    result: dict[str, Any] = {"pushes": pushes, "lines": 2 * pushes,
                              "write_s": time.perf_counter() - start}
    # tracemalloc first: the timed run compacts the directory afterwards
    result.update(_spawn(directory, "tracemalloc"))
    result.update(_spawn(directory, "timed"))
    print(f"bench: fs open {pushes:,} pushes: {result['open_s']:.2f} s, peak RSS "
          f"{result['peak_rss_kb'] / 1024:.0f} MiB, {result['bytes_before_compaction'] / 2**20:.1f}"
          f" -> {result['bytes_after_compaction'] / 2**20:.1f} MiB after compaction", flush=True)
    return result


if __name__ == "__main__":
    print(json.dumps(_child(Path(sys.argv[1]), sys.argv[2])))
