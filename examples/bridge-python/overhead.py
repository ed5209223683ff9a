#!/usr/bin/env python3
"""Measure the bridge's per-call overhead: ``get_push`` in process vs through each peer.

    python examples/bridge-python/overhead.py [--calls 2000] [--rounds 5]

Prints the median microseconds per call for the in-process memory adapter and for the bridge to
the Python and Node peers (over a stored push of factory shape), and the difference.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import time
from pathlib import Path

from sinkkit.adapters.bridge import open_bridge_sink
from sinkkit.adapters.memory import open_memory_sink
from sinkkit.conformance.factories import make_push

HERE = Path(__file__).resolve().parent
PEERS = {
    "bridge-python": [sys.executable, str(HERE / "peer.py")],
    "bridge-node": ["node", str(HERE.parent / "bridge-node" / "peer.js")],
}


def per_call_us(sink, calls: int, rounds: int) -> tuple[float, float]:
    """(median, p90) microseconds of one get_push, over ``rounds`` x ``calls`` timed calls."""
    sink.write_audit(make_push("p1"))
    for _ in range(200):  # warm-up
        sink.get_push("p1")
    samples = []
    for _ in range(rounds):
        for _ in range(calls):
            start = time.perf_counter_ns()
            sink.get_push("p1")
            samples.append((time.perf_counter_ns() - start) / 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.9)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    base, base_p90 = per_call_us(open_memory_sink(), args.calls, args.rounds)
    print(f"{'memory (in process)':<22} median {base:8.1f} us   p90 {base_p90:8.1f} us")
    for name, argv in PEERS.items():
        if shutil.which(argv[0]) is None:
            print(f"{name:<22} skipped: {argv[0]} not on PATH")
            continue
        sink = open_bridge_sink({"type": "bridge", "enabled": True, "options": {"command": argv}})
        try:
            median, p90 = per_call_us(sink, args.calls, args.rounds)
        finally:
            sink.close()
        print(f"{name:<22} median {median:8.1f} us   p90 {p90:8.1f} us   "
              f"overhead {median - base:8.1f} us/call")


if __name__ == "__main__":
    main()
