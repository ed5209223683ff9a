"""The CI workflows are checked on every local run: they parse, match GitHub's workflow schema,
name only nox sessions that exist, pin actions by major version and ask for read-only tokens.

The checks are plain functions, so the negative tests run the very same code on broken copies
written to ``tmp_path`` (a misspelt session, a malformed file, a schema violation).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from sinkkit.tooling.lanes import LANES

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
NOXFILE = ROOT / "noxfile.py"
SESSION_FLAGS = {"-s", "-e", "--session", "--sessions"}
SHELL_BREAKS = {"&&", "||", ";", "|", "&"}
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@(v\d+|[0-9a-f]{40})$")


# -- the checkers ------------------------------------------------------------------------------

def load_workflow(path: Path) -> dict[str, Any]:
    """The workflow as data; raises ``yaml.YAMLError`` or ``ValueError`` when it is not one."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not isinstance(data.get("jobs"), dict):
        raise ValueError(f"{path.name}: not a workflow (no 'jobs' mapping)")
    return data


def schema_errors(path: Path) -> str:
    """check-jsonschema's complaints against GitHub's workflow schema ('' when valid). Offline:
    the schema is vendored in check-jsonschema."""
    exe = shutil.which("check-jsonschema")
    if exe is None:
        pytest.fail("check-jsonschema is not installed (it is in the dev extra)")
    done = subprocess.run(
        [exe, "--builtin-schema", "vendor.github-workflows", str(path)],
        capture_output=True, text=True, check=False,
    )
    return "" if done.returncode == 0 else (done.stdout + done.stderr).strip()


def nox_sessions(noxfile: Path = NOXFILE) -> set[str]:
    """Every session ``nox --list`` shows for ``noxfile`` (selected or not)."""
    done = subprocess.run(
        [sys.executable, "-m", "nox", "--list", "--noxfile", str(noxfile)],
        capture_output=True, text=True, check=False, cwd=noxfile.parent,
        env={**os.environ, "NO_COLOR": "1"},
    )
    if done.returncode != 0:
        pytest.fail(f"nox --list failed for {noxfile}:\n{done.stdout}{done.stderr}")
    names = set()
    for line in done.stdout.splitlines():
        match = re.match(r"^[*-] (\S+)(?: -> |$)", line)
        if match:
            names.add(match.group(1))
    if not names:
        pytest.fail(f"nox --list showed no sessions for {noxfile}:\n{done.stdout}")
    return names


def matrix_values(job: dict[str, Any], key: str) -> list[str]:
    """Every value ``matrix.<key>`` takes in ``job`` (axis values and include entries)."""
    matrix = (job.get("strategy") or {}).get("matrix") or {}
    values = list(matrix.get(key) or []) if isinstance(matrix.get(key), list) else []
    values += [inc[key] for inc in matrix.get("include") or [] if key in inc]
    return [str(v) for v in dict.fromkeys(values)]


def _resolve(arg: str, job: dict[str, Any], envs: list[dict[str, Any]]) -> list[str] | None:
    """The values a session argument can take, or None when it cannot be worked out."""
    expr = re.fullmatch(r"\$\{\{\s*matrix\.([\w-]+)\s*\}\}", arg)
    if expr:
        return matrix_values(job, expr.group(1)) or None
    var = re.fullmatch(r"\$\{?(\w+)\}?", arg)
    if var:
        for env in envs:
            if var.group(1) in env:
                return _resolve(str(env[var.group(1)]), job, envs)
        return None
    if "$" in arg:
        return None
    return [arg]


def named_sessions(workflow: dict[str, Any]) -> list[tuple[str, str | None, str]]:
    """(job id, session name or None when unresolvable, the command) for every nox call."""
    found = []
    for job_id, job in workflow["jobs"].items():
        for step in job.get("steps") or []:
            script = step.get("run")
            if not isinstance(script, str):
                continue
            envs = [step.get("env") or {}, job.get("env") or {}, workflow.get("env") or {}]
            for command in script.replace("\\\n", " ").splitlines():
                for arg in _session_args(command):
                    values = _resolve(arg, job, envs)
                    for value in values or [None]:
                        found.append((job_id, value, command.strip()))
    return found


def _session_args(command: str) -> list[str]:
    try:
        tokens = shlex.split(command, comments=True)
    except ValueError:
        return []
    args: list[str] = []
    in_nox = taking = False
    for token in tokens:
        if token in SHELL_BREAKS:
            in_nox = taking = False
        elif token == "nox" or token.endswith("/nox"):
            in_nox = True
        elif in_nox and token in SESSION_FLAGS:
            taking = True
        elif in_nox and token.startswith("-"):
            taking = False
        elif taking:
            args.extend(a for a in token.split(",") if a)
    return args


def session_problems(workflow: dict[str, Any], sessions: set[str]) -> list[str]:
    problems = []
    for job_id, name, command in named_sessions(workflow):
        if name is None:
            problems.append(f"job {job_id}: cannot tell which nox session `{command}` runs")
        elif name not in sessions:
            problems.append(f"job {job_id}: `{command}` names nox session {name!r}, "
                            f"which noxfile.py does not define")
    return problems


def policy_problems(workflow: dict[str, Any]) -> list[str]:
    """Read-only token by default; actions pinned by major version (or a full commit SHA)."""
    problems = []
    if workflow.get("permissions") != {"contents": "read"}:
        problems.append(f"top-level permissions are {workflow.get('permissions')!r}, "
                        "not {'contents': 'read'}")
    for job_id, job in workflow["jobs"].items():
        for step in job.get("steps") or []:
            uses = step.get("uses")
            if uses and not uses.startswith("./") and not PINNED.match(uses):
                problems.append(f"job {job_id}: `{uses}` is not pinned to a major version")
    return problems


# -- the real workflows --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def sessions() -> set[str]:
    return nox_sessions()


def test_there_are_workflows():
    names = {p.name for p in WORKFLOWS}
    assert {"conformance.yml", "checks.yml"} <= names


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_parses_and_matches_the_github_schema(path):
    load_workflow(path)
    assert schema_errors(path) == ""


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_every_nox_session_a_workflow_names_exists(path, sessions):
    workflow = load_workflow(path)
    assert session_problems(workflow, sessions) == []


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_pins_actions_and_reads_only(path):
    assert policy_problems(load_workflow(path)) == []


def test_every_workflow_calls_nox_at_least_once():
    for path in WORKFLOWS:
        assert named_sessions(load_workflow(path)), f"{path.name} runs no nox session"


def test_the_conformance_matrix_has_a_lane_per_backend_on_oldest_and_newest_python():
    job = load_workflow(ROOT / ".github/workflows/conformance.yml")["jobs"]["lane"]
    lanes = matrix_values(job, "lane")
    assert set(lanes) <= set(LANES)
    assert {"memory", "fs", "postgres", "mongo", "mongomock"} <= set(lanes)
    images = set(matrix_values(job, "postgres")) | set(matrix_values(job, "mongo"))
    assert images == {"postgres:16", "postgres:15", "mongo:7", "mongo:8"}
    assert matrix_values(job, "python") == ["3.10", "3.13"]
    requires = re.search(r'requires-python = ">=(\d+\.\d+)"',
                         (ROOT / "pyproject.toml").read_text()).group(1)
    assert requires == "3.10"


def test_the_report_job_waits_for_every_lane_and_publishes_the_parity_summary():
    workflow = load_workflow(ROOT / ".github/workflows/conformance.yml")
    report = workflow["jobs"]["report"]
    assert set(report["needs"]) == set(workflow["jobs"]) - {"report"}
    scripts = "\n".join(s.get("run", "") for s in report["steps"])
    assert "sinkkit.tooling.parity" in scripts and "$GITHUB_STEP_SUMMARY" in scripts
    assert "--fail-under=90" in scripts


# -- the checkers catch broken workflows ---------------------------------------------------------

def _variant(tmp_path: Path, old: str, new: str, name: str = "conformance.yml") -> Path:
    text = (ROOT / ".github/workflows" / name).read_text()
    assert old in text, f"{old!r} not in {name}: update this test"
    path = tmp_path / name
    path.write_text(text.replace(old, new, 1))
    return path


def test_a_misspelt_nox_session_is_caught(tmp_path, sessions):
    path = _variant(tmp_path, "nox -s lint", "nox -s lnit", "checks.yml")
    workflow = load_workflow(path)
    assert schema_errors(path) == ""  # still a valid workflow: only the session check sees it
    problems = session_problems(workflow, sessions)
    assert len(problems) == 1 and "'lnit'" in problems[0] and "job lint" in problems[0]


def test_a_misspelt_lane_in_the_matrix_is_caught(tmp_path, sessions):
    path = _variant(tmp_path, "lane: mongomock", "lane: mongomok")
    problems = session_problems(load_workflow(path), sessions)
    assert problems and all("'mongomok'" in p for p in problems)


def test_a_session_hidden_behind_an_unknown_variable_is_caught(tmp_path, sessions):
    path = _variant(tmp_path, 'nox -s "$LANE"', 'nox -s "$SOMETHING_ELSE"')
    problems = session_problems(load_workflow(path), sessions)
    assert problems and "cannot tell" in problems[0]


def test_malformed_yaml_is_caught(tmp_path):
    path = _variant(tmp_path, "    runs-on: ubuntu-latest\n", "    runs-on: [ubuntu-latest\n")
    with pytest.raises(yaml.YAMLError):
        load_workflow(path)
    assert schema_errors(path) != ""


def test_a_workflow_that_breaks_the_github_schema_is_caught(tmp_path):
    path = _variant(tmp_path, "    runs-on: ubuntu-latest\n", "    runs_on: ubuntu-latest\n")
    load_workflow(path)  # still YAML
    errors = schema_errors(path)
    assert "'runs-on' is a required property" in errors


def test_an_unpinned_action_and_a_write_token_are_caught(tmp_path):
    path = _variant(tmp_path, "actions/checkout@v4", "actions/checkout@main")
    path.write_text(path.read_text().replace("contents: read", "contents: write", 1))
    problems = policy_problems(load_workflow(path))
    assert any("actions/checkout@main" in p for p in problems)
    assert any("permissions" in p for p in problems)


def test_session_names_come_from_the_real_noxfile(tmp_path):
    noxfile = tmp_path / "noxfile.py"
    noxfile.write_text(
        "import nox\n\n@nox.session\ndef alpha(session):\n    pass\n\n"
        "for name in ('beta', 'gamma'):\n    nox.session(name=name)(lambda session: None)\n"
    )
    assert nox_sessions(noxfile) == {"alpha", "beta", "gamma"}
