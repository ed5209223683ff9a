"""A small timing harness: batches of calls timed with ``perf_counter_ns``, median and IQR.

Why not pytest-benchmark or pyperf: every figure this project reports is a ratio inside one run
(adapter against raw psycopg, 100 000 stored pushes against 1 000), so both sides must be timed
in the same process, against the same live database, in interleaved rounds so that drift (the
server's caches warming, autovacuum, a noisy neighbour) lands on both sides alike. pyperf runs
every benchmark in fresh worker processes, which would mean provisioning and seeding a database
per worker and comparing across processes; pytest-benchmark ties measurement to pytest test
collection, and this project keeps durations out of its test suite. What the harness keeps from
them: warm-up, calibrated batch sizes, many rounds, and robust statistics (median, IQR).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

Op = Callable[[], object]


@dataclass
class Stats:
    """Per-call latency over ``rounds`` timed batches of ``batch`` calls each."""

    median_ns: float
    q1_ns: float
    q3_ns: float
    rounds: int
    batch: int

    @property
    def ops_per_s(self) -> float:
        return 1e9 / self.median_ns if self.median_ns else float("inf")

    @property
    def iqr_pct(self) -> float:
        """Interquartile range as a share of the median: how noisy the figure is."""
        return 100.0 * (self.q3_ns - self.q1_ns) / self.median_ns if self.median_ns else 0.0

    def as_dict(self) -> dict[str, float]:
        return {**asdict(self), "ops_per_s": self.ops_per_s, "iqr_pct": self.iqr_pct}


def _batch_ns(op: Op, batch: int) -> float:
    # an op timed elsewhere (inside Node, or a pool of concurrent callers) times its own batch
    timed_elsewhere = getattr(op, "batch_ns", None)
    if timed_elsewhere is not None:
        return timed_elsewhere(batch)
    start = time.perf_counter_ns()
    for _ in range(batch):
        op()
    return (time.perf_counter_ns() - start) / batch


def calibrate(op: Op, round_s: float, max_batch: int = 100_000) -> int:
    """How many calls make one round last about ``round_s`` seconds (warms ``op`` up too)."""
    batch = 1
    while True:
        per_call = _batch_ns(op, batch)
        if per_call * batch >= round_s * 1e9 / 4 or batch >= max_batch:
            return max(1, min(max_batch, round(round_s * 1e9 / max(per_call, 1.0))))
        batch *= 4


def summarise(samples: Sequence[float], batch: int) -> Stats:
    ordered = sorted(samples)
    if len(ordered) >= 4:
        q1, _, q3 = statistics.quantiles(ordered, n=4, method="inclusive")
    else:
        q1, q3 = ordered[0], ordered[-1]
    return Stats(statistics.median(ordered), q1, q3, len(ordered), batch)


def measure(op: Op, rounds: int, round_s: float) -> Stats:
    """Median per-call latency of ``op`` over ``rounds`` calibrated batches."""
    return interleaved({"op": op}, rounds, round_s)["op"]


def interleaved(ops: dict[str, Op], rounds: int, round_s: float,
                samples: dict[str, list[float]] | None = None,
                same_batch: bool = False) -> dict[str, Stats]:
    """Time several ops round-robin (A B A B ...) so slow drift affects each alike.

    ``samples``, when given, receives every round's per-call figure, in round order, so callers
    can form paired ratios (see ``paired_ratio``). ``same_batch`` runs every op the same number
    of times per round (the first op's calibration), so paired batches cover the same calls.
    """
    batches = {name: calibrate(op, round_s) for name, op in ops.items()}
    if same_batch:
        first = batches[next(iter(ops))]
        batches = dict.fromkeys(ops, first)
    taken: dict[str, list[float]] = samples if samples is not None else {}
    for name in ops:
        taken[name] = []
    for _ in range(rounds):
        for name, op in ops.items():
            taken[name].append(_batch_ns(op, batches[name]))
    return {name: summarise(taken[name], batches[name]) for name in ops}


def paired_ratio(subject: Sequence[float], baseline: Sequence[float]) -> dict[str, float]:
    """Throughput of ``subject`` relative to ``baseline``, round by round (median and IQR).

    Each round's ratio compares two batches timed back to back, so load that comes and goes
    on a shared machine cancels within the pair instead of landing on one side's median.
    """
    ratios = sorted(b / s for s, b in zip(subject, baseline) if s)
    if len(ratios) >= 4:
        q1, med, q3 = statistics.quantiles(ratios, n=4, method="inclusive")
    else:
        q1, med, q3 = ratios[0], statistics.median(ratios), ratios[-1]
    return {"median": med, "q1": q1, "q3": q3}


def time_once(op: Op) -> float:
    """Seconds one call of ``op`` takes (for setup steps and single heavy calls)."""
    start = time.perf_counter_ns()
    op()
    return (time.perf_counter_ns() - start) / 1e9
