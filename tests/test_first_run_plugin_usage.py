"""The plugin's own rough edges a first run meets: a mistyped ``--sinkkit-clause`` is a usage
error that suggests the nearest ids, and a lane runs without pytest deprecation warnings from
the plugin."""

from __future__ import annotations

import subprocess
import sys

import pytest
from sinkkit.conformance.plugin import check_clause_selection

ONE_CLAUSE = "repos.permissions.empty-list"


def _suite(tmp_path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "--pyargs", "sinkkit.conformance.suite",
         "--sinkkit-harness", "memory", "-p", "no:randomly", "-p", "no:cacheprovider", *args],
        cwd=tmp_path, capture_output=True, text=True, timeout=120)


def test_a_mistyped_clause_id_exits_as_a_usage_error_suggesting_the_nearest_id(tmp_path):
    proc = _suite(tmp_path, "--sinkkit-clause", "repos.permisions.empty-list")
    assert proc.returncode == pytest.ExitCode.USAGE_ERROR, proc.stdout[-2000:]
    assert f"did you mean {ONE_CLAUSE}" in proc.stderr


def test_a_mistyped_group_suggests_the_group():
    with pytest.raises(pytest.UsageError, match=r"did you mean .*repos\.permissions"):
        check_clause_selection(["repos.permisions"])


@pytest.mark.parametrize("value", [ONE_CLAUSE, "repos.permissions", "repos.permissions.", "repos"])
def test_a_clause_id_or_any_prefix_group_of_ids_is_accepted(value):
    check_clause_selection([value])


def test_a_value_near_nothing_points_to_the_contract():
    with pytest.raises(pytest.UsageError, match=r"docs/contract\.md"):
        check_clause_selection(["zzzz"])


def test_a_lane_raises_no_pytest_deprecation_warning_from_the_plugin(tmp_path):
    # as an error, a deprecated fixture definition fails the test that uses it
    proc = _suite(tmp_path, "--sinkkit-clause", ONE_CLAUSE,
                  "-W", "error::pytest.PytestRemovedIn10Warning")
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "PytestRemovedIn10Warning" not in proc.stdout + proc.stderr
