"""``nox -l`` tells a new developer what each session does and what it needs, in full: nox shows
only a docstring's first line, so that line is a whole sentence that says what the session
needs."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from sinkkit.tooling.lanes import LANE_NEEDS, LANES

ROOT = Path(__file__).parents[1]
LISTED = re.compile(r"^[*-] (?P<name>\S+) -> (?P<description>.*)$", re.M)


@pytest.fixture(scope="module")
def listed() -> dict[str, str]:
    noxfile = str(ROOT / "noxfile.py")
    proc = subprocess.run([sys.executable, "-m", "nox", "-l", "--noxfile", noxfile],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    sessions = {m["name"]: m["description"] for m in LISTED.finditer(proc.stdout)}
    assert sessions, proc.stdout
    return sessions


def test_every_session_description_is_a_whole_sentence(listed):
    cut = {name: text for name, text in listed.items() if not text.endswith(".")}
    assert not cut


def test_every_session_says_what_it_needs(listed):
    silent = [name for name, text in listed.items() if "needs " not in text]
    assert not silent


def test_every_lane_session_shows_its_needs_from_the_lane_table(listed):
    sessions = {lane for lane in LANES if not lane.startswith("bridge-")}
    assert sessions <= set(listed)
    for lane in sessions:
        assert LANE_NEEDS[lane] in listed[lane]


def test_the_lane_table_says_what_every_lane_needs():
    assert set(LANE_NEEDS) == set(LANES)
