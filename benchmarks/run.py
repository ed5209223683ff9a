"""Run the sinkkit benchmarks: ``python benchmarks/run.py [--quick | --full] [options]``.

Measures, per adapter (memory, fs, postgres, mongomock): point-operation throughput, postgres
against raw psycopg with the adapter's own SQL, the default listing at scale, opening a large fs
directory, and the conformance suite's wall time per lane. Prints a table and writes JSON,
docs/benchmarks.md and a PNG plot. ``--quick`` (default) fits in ten minutes on a fresh 2-core
machine; ``--full`` reaches a million stored pushes.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import machine, report  # noqa: E402
from benchmarks.backends import BACKENDS, started  # noqa: E402
from benchmarks.cli_copy import END as COPY_END  # noqa: E402
from benchmarks.cli_copy import START as COPY_START  # noqa: E402
from benchmarks.compare import run_upstream_comparison  # noqa: E402
from benchmarks.fs_open import run_fs_open  # noqa: E402
from benchmarks.points import run_points  # noqa: E402
from benchmarks.scale import run_listing_pair, run_scale  # noqa: E402
from benchmarks.suite_time import run_suite_timing  # noqa: E402
from benchmarks.upstream import DRIVER_KIND, find_checkout, parse_checkouts  # noqa: E402

K, M = 1000, 1_000_000
#: quick leaves out the state-machine clause (reliability.model.matches-memory): its time depends
#: on its seed, and a run that finds a divergence shrinks it for minutes; --full keeps it
STATE_MACHINE_OUT = "not test_random_operation_sequences_match_the_memory_model"
LANES = ["memory", "fs", "postgres", "mongomock"]
PROFILES: dict[str, dict[str, Any]] = {
    # for the smoke test: every section, tiny sizes; figures mean nothing
    "tiny": {
        # few repos: seeding 400 of them (an fsync each on fs) is most of a smoke run
        "seed_pushes": 100, "repos": 10, "rounds": 3, "round_s": 0.002, "pg_rounds": 3,
        "pg_round_s": 0.002,
        "scale_rounds": 2, "scale_round_s": 0.001,
        "scale": {"memory": [100, 300], "fs": [100, 300], "postgres": [100, 300],
                  "mongomock": [100, 300]},
        "all_pending": {"memory": [100], "fs": [100], "postgres": [100], "mongomock": [100]},
        "fs_open": 300, "suite_lanes": ["memory"], "suite_timeout_s": 300,
        "suite_keyword": None,
        "suite_clauses": ["pushes.get"],
        "upstream_sizes": [100, 300], "upstream_rounds": 3, "upstream_round_s": 0.002,
    },
    "quick": {
        "seed_pushes": K, "rounds": 15, "round_s": 0.05, "pg_rounds": 60, "pg_round_s": 0.02,
        "scale_rounds": 7, "scale_round_s": 0.05,
        "scale": {"memory": [K, 10 * K, 100 * K], "fs": [K, 10 * K, 100 * K],
                  "postgres": [K, 10 * K, 100 * K], "mongomock": [K, 3 * K]},
        "all_pending": {"memory": [K, 10 * K], "fs": [K, 10 * K], "postgres": [K, 10 * K],
                        "mongomock": [K]},
        "fs_open": 100 * K, "suite_lanes": LANES, "suite_timeout_s": 240,
        "suite_clauses": [], "suite_keyword": STATE_MACHINE_OUT,
        "upstream_sizes": [K, 100 * K], "upstream_rounds": 30, "upstream_round_s": 0.02,
    },
    "full": {
        "seed_pushes": K, "rounds": 25, "round_s": 0.05, "pg_rounds": 80, "pg_round_s": 0.02,
        "scale_rounds": 9, "scale_round_s": 0.1,
        "scale": {"memory": [K, 10 * K, 100 * K, M], "fs": [K, 10 * K, 100 * K, M],
                  "postgres": [K, 10 * K, 100 * K, M], "mongomock": [K, 3 * K, 10 * K]},
        "all_pending": {"memory": [K, 10 * K, 100 * K], "fs": [K, 10 * K, 100 * K],
                        "postgres": [K, 10 * K, 100 * K], "mongomock": [K, 3 * K]},
        "fs_open": 100 * K, "suite_lanes": LANES, "suite_timeout_s": 1800,
        "suite_clauses": [], "suite_keyword": None,
        "upstream_sizes": [K, 100 * K], "upstream_rounds": 50, "upstream_round_s": 0.02,
    },
}
SECTIONS = ("points", "scale", "upstream", "fs_open", "suite")
#: in-memory backends hold roughly this much per stored push (measured: fs open, tracemalloc)
BYTES_PER_PUSH_IN_MEMORY = 8 * 1024


def _path(text: str) -> Path | None:
    return Path(text) if text else None


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    group = ap.add_mutually_exclusive_group()
    group.add_argument("--quick", dest="profile", action="store_const", const="quick",
                       help="the default: under ten minutes on a fresh 2-core machine")
    group.add_argument("--full", dest="profile", action="store_const", const="full",
                       help="adds the million-push points")
    group.add_argument("--profile", choices=sorted(PROFILES), help=argparse.SUPPRESS)
    ap.add_argument("--json", type=_path, default=ROOT / "docs" / "benchmarks.json",
                    help="where to write the results as JSON ('' for nowhere)")
    ap.add_argument("--markdown", type=_path, default=ROOT / "docs" / "benchmarks.md",
                    help="where to write the report ('' for nowhere)")
    ap.add_argument("--plot", type=_path, default=ROOT / "docs" / "benchmarks-listing.png",
                    help="where to write the listing plot, needs matplotlib ('' for nowhere)")
    ap.add_argument("--from-json", type=Path, metavar="PATH",
                    help="measure nothing: re-render the table, markdown and plot from a JSON "
                         "file an earlier run wrote")
    ap.add_argument("--backends", default=",".join(BACKENDS),
                    help="comma-separated subset of: " + ", ".join(BACKENDS))
    ap.add_argument("--sections", default=",".join(SECTIONS),
                    help="comma-separated subset of: " + ", ".join(SECTIONS))
    ap.add_argument("--upstream-checkout", action="append", default=[], metavar="KIND=DIR",
                    help="a prepared git-proxy checkout whose own sink the kit is compared with, "
                         f"KIND one of {', '.join(DRIVER_KIND)} (repeatable; default: "
                         "SINKKIT_BENCH_UPSTREAM_<KIND>, or the snapshots under "
                         "SINKKIT_UPSTREAM_CHECKOUTS)")
    ap.add_argument("--baseline", type=_path, default=ROOT / "benchmarks" / "baselines" /
                    "issue17-before.json",
                    help="ratios of an earlier run, shown as 'before' beside this run's ('' for "
                         "none)")
    args = ap.parse_args(argv)
    try:
        args.upstream_checkout = parse_checkouts(args.upstream_checkout)
    except ValueError as exc:
        ap.error(str(exc))
    args.profile = args.profile or "quick"
    args.backends = [b for b in args.backends.split(",") if b]
    args.sections = [s for s in args.sections.split(",") if s]
    for b in args.backends:
        if b not in BACKENDS:
            ap.error(f"unknown backend {b!r}")
    for s in args.sections:
        if s not in SECTIONS:
            ap.error(f"unknown section {s!r}")
    return args


def _available_bytes() -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


def _sizes(name: str, sizes: list[int], notes: list[str]) -> list[int]:
    """Drop in-memory sizes this machine cannot hold (with a note), keep the rest."""
    if name == "postgres":
        return sizes
    budget = _available_bytes() // 2
    kept = [n for n in sizes if n * BYTES_PER_PUSH_IN_MEMORY <= budget]
    for n in sizes:
        if n not in kept:
            notes.append(f"{name}: {n:,} stored pushes not measured: about "
                         f"{n * BYTES_PER_PUSH_IN_MEMORY / 2**30:.1f} GiB of memory needed, half "
                         f"of what is available is {budget / 2**30:.1f} GiB")
    return kept


def run_backend(name: str, profile: dict[str, Any], sections: list[str],
                notes: list[str], upstream: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    start = time.perf_counter()
    with started(name) as backend:
        out["start_s"] = time.perf_counter() - start
        out["describe"] = backend.describe()
        out.update(backend.server_info())
        if "points" in sections:
            print(f"bench: {name} point operations", flush=True)
            out["points"] = run_points(backend, profile)
        if "scale" in sections:
            out["scale"] = run_scale(backend, _sizes(name, profile["scale"][name], notes),
                                     profile)
            out["all_pending"] = run_scale(backend, profile["all_pending"][name], profile,
                                           pending=None, label="allpending")
            sizes = profile["scale"][name]
            if name == "fs" and len(sizes) > 1:  # the fs target: 100 000 within 1.5x of 1 000
                out["listing_pair"] = run_listing_pair(backend, sizes[0], sizes[-1], profile)
        if "upstream" in sections and name in DRIVER_KIND:
            checkout, source = find_checkout(name, upstream or {})
            if checkout is None:
                line = f"{name}: the comparison with git-proxy's own sink is skipped: {source}"
                print(f"bench: {line}", flush=True)
                notes.append(line)
            else:
                out["upstream"] = run_upstream_comparison(backend, checkout, source, profile)
    out["wall_s"] = time.perf_counter() - start
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.from_json:
        results = json.loads(args.from_json.read_text(encoding="utf-8"))
        if args.json and args.json.resolve() == args.from_json.resolve():
            args.json = None  # already there
        return publish(args, results)
    return publish(args, measure(args))


def measure(args: argparse.Namespace) -> dict[str, Any]:
    profile = PROFILES[args.profile]
    began = time.perf_counter()
    results: dict[str, Any] = {
        "schema": 1, "profile": args.profile, "profile_settings": profile,
        "machine": machine.describe(), "backends": {}, "notes": [],
    }
    for name in args.backends:
        results["backends"][name] = run_backend(name, profile, args.sections, results["notes"],
                                                args.upstream_checkout)
    if "fs_open" in args.sections:
        with tempfile.TemporaryDirectory(prefix="sinkkit-bench-fsopen-") as tmp:
            checkout, _ = find_checkout("fs", args.upstream_checkout)
            results["fs_open"] = run_fs_open(Path(tmp), profile["fs_open"], checkout)
    if "suite" in args.sections:
        lanes = [lane for lane in profile["suite_lanes"] if lane in args.backends]
        results["suite"] = run_suite_timing(lanes, profile["suite_clauses"],
                                            profile["suite_timeout_s"], profile["suite_keyword"])
    fs_scale = results["backends"].get("fs", {}).get("scale")
    if fs_scale:
        results["fs_limits"] = report.fs_limits(fs_scale)
    results["targets"] = report.evaluate(results)
    results["machine"]["load_average_at_end"] = list(os.getloadavg())
    results["wall_s"] = time.perf_counter() - began
    return results


def publish(args: argparse.Namespace, results: dict[str, Any]) -> int:
    if "baseline" not in results and args.baseline and args.baseline.exists():
        results["baseline"] = json.loads(args.baseline.read_text(encoding="utf-8"))
        results["baseline"]["path"] = os.path.relpath(args.baseline, ROOT)
    print(report.terminal(results))
    if args.json:
        _write(args.json, json.dumps(results, indent=2) + "\n")
    plot_name = None
    if args.plot and any(results["backends"][b].get("scale") for b in results["backends"]):
        report.plot(results, args.plot)
        plot_name = os.path.relpath(args.plot, args.markdown.parent) if args.markdown else "-"
    if args.markdown:
        _write(args.markdown, report.markdown(results, plot_name) + _kept_sections(args.markdown))
    written = [str(p) for p in (args.json, args.markdown, plot_name and args.plot) if p]
    print(f"bench: {results['profile']} profile done in {results['wall_s']:.0f} s; wrote "
          f"{', '.join(written) or 'nothing'}", flush=True)
    return 0


def _kept_sections(path: Path) -> str:
    """The ``sinkkit copy`` section benchmarks/cli_copy.py maintains in the same file."""
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    if COPY_START not in old or COPY_END not in old:
        return ""
    return "\n" + COPY_START + old.split(COPY_START, 1)[1].split(COPY_END, 1)[0] + COPY_END + "\n"


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    raise SystemExit(main())
