"""The bridge's I/O under a misbehaving peer: every call bounded, the whole process group ended,
a response line capped.

Each peer here is a few lines of Python started as a PeerProcess. A call that could hang runs in
a helper thread joined with a generous guard, so a regression fails the test instead of hanging
the run; the guard is a liveness bound, not a speed assertion.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from sinkkit.adapters.bridge import PeerProcess
from sinkkit.conformance.errors import Unavailable

#: how long a bounded call may take before the test calls it a hang (far above any deadline)
HANG_GUARD = 60.0

NEVER_READS = "import time\nwhile True:\n    time.sleep(1)\n"


def peer(code: str, **kwargs: Any) -> PeerProcess:
    return PeerProcess([sys.executable, "-c", code], **kwargs)


def outcome_of(call: Any) -> BaseException | str:
    """Run ``call`` in a thread; its exception, or "returned", or "hung"."""
    box: list[BaseException | str] = []

    def run() -> None:
        try:
            call()
            box.append("returned")
        except BaseException as exc:  # the outcome is what the test inspects
            box.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(HANG_GUARD)
    return box[0] if box else "hung"


def test_a_large_request_to_a_peer_that_stops_reading_fails_at_its_deadline() -> None:
    stuck = peer(NEVER_READS, timeout=1)
    try:
        got = outcome_of(lambda: stuck.call("writeAudit", [{"id": "p", "pad": "x" * 1_000_000}]))
        assert isinstance(got, Unavailable) and "did not answer writeAudit" in str(got)
    finally:
        stuck.shutdown()


def test_other_calls_are_not_held_behind_a_blocked_write() -> None:
    stuck = peer(NEVER_READS, timeout=1)
    try:
        big = threading.Thread(target=lambda: outcome_of(
            lambda: stuck.call("writeAudit", [{"pad": "x" * 1_000_000}])), daemon=True)
        big.start()
        got = outcome_of(lambda: stuck.call("getPush", ["p"]))
        assert isinstance(got, Unavailable)
        big.join(HANG_GUARD)
    finally:
        stuck.shutdown()


def _alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie waiting for its reaper counts as ended)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("ending", ["timeout", "shutdown"])
def test_a_peer_behind_a_wrapper_is_ended_with_it(tmp_path: Path, ending: str) -> None:
    pidfile = tmp_path / "pid"
    real = (f"import os, time\nopen({str(pidfile)!r}, 'w').write(str(os.getpid()))\n"
            "while True:\n    time.sleep(1)\n")
    script = tmp_path / "real_peer.py"
    script.write_text(real)
    # "; exit" keeps sh from exec-ing the peer: it is a child of the wrapper, as under npx
    wrapped = PeerProcess(["sh", "-c", f"{sys.executable} {script}; exit 0"], timeout=1)
    ended = False
    try:
        while not pidfile.exists() or not pidfile.read_text():
            threading.Event().wait(0.05)
        real_pid = int(pidfile.read_text())
        if ending == "timeout":
            got = outcome_of(lambda: wrapped.call("getPush", ["p"]))
            assert isinstance(got, Unavailable)
        else:
            assert outcome_of(wrapped.shutdown) == "returned"
        ended = True
        for _ in range(200):  # the kill is sent; give the kernel a moment to deliver it
            if not _alive(real_pid):
                break
            threading.Event().wait(0.05)
        assert not _alive(real_pid)
    finally:
        if not ended:
            wrapped.shutdown()


def test_a_response_line_over_the_cap_fails_the_call_with_a_clear_error() -> None:
    # 4 MB without a newline, then silence: without a cap the kit would buffer until the
    # deadline, and a bigger line would take as much memory as the peer chose to send
    flood = ("import sys, time\nsys.stdin.readline()\n"
             "sys.stdout.write('x' * 4_000_000)\nsys.stdout.flush()\n"
             "while True:\n    time.sleep(1)\n")
    flooding = peer(flood, timeout=30, max_line=1_000_000)
    try:
        got = outcome_of(lambda: flooding.call("getPushes", [{}]))
        assert isinstance(got, Unavailable)
        assert "response line longer than 1000000 bytes" in str(got)
    finally:
        flooding.shutdown()


def test_a_response_under_the_cap_still_arrives() -> None:
    echo = ("import json, sys\nreq = json.loads(sys.stdin.readline())\n"
            "sys.stdout.write(json.dumps({'jsonrpc': '2.0', 'id': req['id'], "
            "'result': 'y' * 900_000}) + '\\n')\nsys.stdout.flush()\nsys.stdin.readline()\n")
    answering = peer(echo, timeout=30, max_line=1_000_000)
    try:
        assert answering.call("getPush", ["p"]) == "y" * 900_000
    finally:
        answering.shutdown()


def test_the_cap_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SINKKIT_BRIDGE_MAX_LINE", "2048")
    quiet = peer(NEVER_READS, timeout=1)
    try:
        assert quiet.max_line == 2048
    finally:
        quiet.shutdown()
