"""Failover: the primary killed (or fenced read-only) under live sinks and the standby promoted.

The harness runs a primary and a streaming standby that ``open_config`` reaches through one
multi-host connection string (``capabilities.failover``), and injects the failover through its
hooks (``kill_primary``, ``promote_standby``, ``fence_primary``, ``restore_pair``). The sink is
never reopened: it must find the new primary by itself. The bound is counted in calls, not
seconds (``RESUME_CALLS``); the time a failover takes is printed and measured in
``benchmarks/failover.py``, never asserted.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sinkkit.conformance.clauses import clause
from sinkkit.conformance.errors import Unavailable
from sinkkit.conformance.factories import make_push, make_user

HANG_GUARD_SECONDS = 120
#: failed calls a writer may see after the standby is promoted before a write succeeds again: a
#: call during an outage waits at most about a second for a connection, so this is also about
#: the seconds the sink takes to find the new primary
RESUME_CALLS = 10


class Writer:
    """A thread writing pushes as fast as the sink acknowledges them, keeping score."""

    def __init__(self, sink: Any, prefix: str = "w"):
        self.sink, self.prefix = sink, prefix
        self.acked: list[tuple[float, dict[str, Any]]] = []  # (when the call started, push)
        self.refused: list[tuple[float, dict[str, Any]]] = []
        self.wrong: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        n = 0
        while not self._stop.is_set():
            push = make_push(f"{self.prefix}{n:05d}", timestamp=1_700_000_000_000 + n)
            n += 1
            started = time.monotonic()
            try:
                self.sink.write_audit(push)
                self.acked.append((started, push))
            except Unavailable:
                self.refused.append((started, push))
            except Exception as exc:
                self.wrong.append(f"{push['id']}: {type(exc).__module__}."
                                  f"{type(exc).__name__}: {exc}")

    def __enter__(self) -> Writer:
        self._thread.start()
        self.wait_acks(5, since=0.0)
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join(HANG_GUARD_SECONDS)
        assert not self._thread.is_alive(), "the writer hung"

    def wait_acks(self, count: int, since: float) -> float | None:
        """Wait for ``count`` writes started after ``since`` to be acknowledged; returns when
        the first of them started (None: the writer stopped or the hang guard ran out)."""
        deadline = time.monotonic() + HANG_GUARD_SECONDS
        while time.monotonic() < deadline and self._thread.is_alive():
            after = [t for t, _ in self.acked if t >= since]
            if len(after) >= count:
                return after[0]
            time.sleep(0.02)
        return None

    def refused_since(self, since: float) -> int:
        return sum(1 for t, _ in self.refused if t >= since)

    def acked_ids(self, since: float = 0.0, until: float = float("inf")) -> list[str]:
        return [p["id"] for t, p in self.acked if since <= t < until]


@pytest.fixture
def pair(sinkkit_harness: Any) -> Iterator[Any]:
    """The harness's pair, synchronous; after the test a standby of the new primary again."""
    try:
        sinkkit_harness.set_synchronous(True)
    except NotImplementedError:
        pytest.fail(f"harness {sinkkit_harness.name} declares failover but does not implement "
                    "the failover hooks (set_synchronous, kill_primary, promote_standby, "
                    "fence_primary, pushes_on, restore_pair)")
    yield sinkkit_harness
    sinkkit_harness.restore_pair()


def _fail_over(pair: Any, writer: Writer) -> tuple[float, float]:
    """Kill the primary under the writer, promote the standby; (kill time, promotion time)."""
    killed = time.monotonic()
    pair.kill_primary()
    pair.promote_standby()
    return killed, time.monotonic()


def _resumed(writer: Writer, promoted: float) -> float:
    """When the first write that succeeded after the promotion started; fails past the bound."""
    first = writer.wait_acks(3, since=promoted)
    refused = writer.refused_since(promoted)
    assert first is not None, (f"no write succeeded after the standby was promoted "
                               f"({refused} refused with Unavailable): the sink does not find "
                               "the new primary without being reopened")
    refused_before = sum(1 for t, _ in writer.refused if promoted <= t < first)
    assert refused_before <= RESUME_CALLS, (
        f"{refused_before} writes failed after the promotion before one succeeded (bound "
        f"{RESUME_CALLS} calls)")
    return first


def _lost(sink: Any, ids: list[str]) -> list[str]:
    return [i for i in ids if sink.get_push(i) is None]


@clause("reliability.failover.resumes-writes")
def test_after_a_failover_the_same_sink_writes_again_through_the_same_string(sink, pair):
    with Writer(sink) as writer:
        killed, promoted = _fail_over(pair, writer)
        resumed = _resumed(writer, promoted)
    assert not writer.wrong, f"writes failed with other than Unavailable: {writer.wrong[:3]}"
    sink.write_audit(make_push("after-failover"))
    assert sink.get_push("after-failover") is not None
    print(f"sinkkit failover [resume]: primary killed, writes resumed {resumed - killed:.2f}s "
          f"after the kill ({promoted - killed:.2f}s to promote), "
          f"{writer.refused_since(killed)} writes refused with Unavailable")


@clause("reliability.failover.sync-keeps-acks")
def test_with_synchronous_replication_no_acknowledged_write_is_lost(sink, pair):
    with Writer(sink) as writer:
        killed, promoted = _fail_over(pair, writer)
        _resumed(writer, promoted)
    before_kill = writer.acked_ids(until=killed)
    lost = _lost(sink, writer.acked_ids())
    assert not lost, (f"{len(lost)} acknowledged writes missing on the promoted standby "
                      f"(synchronous replication): {lost[:10]}")
    for _, push in writer.refused:  # a refused write may have landed, but only whole
        stored = sink.get_push(push["id"])
        assert stored is None or stored["id"] == push["id"]
    print(f"sinkkit failover [sync]: {len(before_kill)} writes acknowledged before the kill, "
          f"{len(writer.acked)} in all, 0 lost")


@clause("reliability.failover.async-loss-reported")
def test_with_asynchronous_replication_the_loss_window_is_counted(sink, pair):
    pair.set_synchronous(False)
    with Writer(sink) as writer:
        writer.wait_acks(50, since=0.0)
        killed, promoted = _fail_over(pair, writer)
        _resumed(writer, promoted)
    lost_before = _lost(sink, writer.acked_ids(until=killed))
    lost_after = _lost(sink, writer.acked_ids(since=promoted))
    # what the primary acknowledged but had not yet sent is the measured window; what the new
    # primary acknowledged is held to the same rule as ever
    assert not lost_after, f"writes acknowledged after the promotion lost: {lost_after[:10]}"
    print(f"sinkkit failover [async]: {len(writer.acked_ids(until=killed))} writes acknowledged "
          f"before the kill, {len(lost_before)} of them lost (asynchronous replication)")


@clause("reliability.failover.read-only-server-left")
def test_a_primary_fenced_read_only_is_left_for_the_promoted_standby(sink, pair):
    reader_errors: list[str] = []
    stop = threading.Event()
    sink.write_audit(make_push("seed"))

    def reader() -> None:
        while not stop.is_set():
            try:
                assert sink.get_push("seed") is not None
            except Unavailable:
                pass  # the moment between the fence and the promotion: no server to connect to
            except Exception as exc:
                reader_errors.append(f"{type(exc).__name__}: {exc}")

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    try:
        with Writer(sink) as writer:
            fenced = time.monotonic()
            pair.fence_primary()  # still up, reachable, its pooled connections still open
            pair.promote_standby()
            promoted = time.monotonic()
            resumed = _resumed(writer, promoted)
    finally:
        stop.set()
        thread.join(HANG_GUARD_SECONDS)
    assert not writer.wrong, f"writes failed with other than Unavailable: {writer.wrong[:3]}"
    assert not reader_errors, f"reads failed: {reader_errors[:3]}"
    # the fenced server took writes until each of its backends read the new setting (a commit
    # then in flight may even have waited for the standby's confirmation until the sink's
    # deadline): only a write started after the promotion must never be found there
    on_fenced = pair.pushes_on("standby", None)
    astray = on_fenced & set(writer.acked_ids(since=promoted))
    assert not astray, f"writes that landed on the read-only server: {sorted(astray)[:5]}"
    lost = _lost(sink, writer.acked_ids())
    assert not lost, f"acknowledged writes lost: {lost[:10]}"
    print(f"sinkkit failover [fenced]: writes resumed {resumed - fenced:.2f}s after the fence, "
          f"{writer.refused_since(fenced)} refused with Unavailable")


@clause("reliability.failover.reads-on-read-only-server")
def test_reads_on_a_read_only_server_answer_and_writes_there_are_refused(sink, pair):
    sink.write_audit(make_push("before"))
    sink.create_user(make_user("alice"))
    sink.record_migration("0001")
    expected = (sink.get_push("before"), sink.get_pushes({}), sink.find_user("alice"),
                sink.get_applied_migrations())
    pair.fence_primary()  # no writable server reachable until the promotion below
    answered = (sink.get_push("before"), sink.get_pushes({}), sink.find_user("alice"),
                sink.get_applied_migrations())
    assert answered == expected, "reads on the read-only server answered differently"
    with pytest.raises(Unavailable):
        sink.write_audit(make_push("refused"))
    assert "refused" not in pair.pushes_on("primary", None)
    pair.promote_standby()
    for attempt in range(RESUME_CALLS + 1):
        try:
            sink.write_audit(make_push("after"))
            break
        except Unavailable:
            if attempt == RESUME_CALLS:
                raise
    assert sink.get_push("after") is not None
    assert "after" not in pair.pushes_on("standby", None)  # the fenced node, after the swap
