"""The README's plug-in section works as written: its harness snippet is a working harness, its
entry points are the example package's, its install lines install from a checkout with no
package index, and its pytest line (with ``-n 2``) runs with what the kit installs."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from importlib.metadata import requires, version
from pathlib import Path

import tomllib

ROOT = Path(__file__).parents[1]
EXAMPLE = ROOT / "examples" / "sinkkit-example-sqlite"
SECTION = "Plugging in your own adapter"
#: the README's stand-in for where the reader's checkout of the kit is
CHECKOUT = "path/to/gitproxy-sinkkit"


def _blocks(lang: str) -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split(f"## {SECTION}\n", 1)[1].split("\n## ", 1)[0]
    return [body for tag, body in re.findall(r"```(\w*)\n(.*?)```", section, re.S) if tag == lang]


def _shell_lines() -> list[str]:
    (block,) = _blocks("")
    return [line for line in block.splitlines() if line.strip()]


def _pip_lines() -> list[list[str]]:
    return [shlex.split(line) for line in _shell_lines() if " pip install " in f" {line} "]


def test_the_readme_entry_points_are_the_example_packages():
    (block,) = _blocks("toml")
    pyproject = tomllib.loads((EXAMPLE / "pyproject.toml").read_text())
    assert tomllib.loads(block)["project"]["entry-points"] == \
        pyproject["project"]["entry-points"]


def test_no_install_line_asks_a_package_index_for_the_kit():
    targets = [args[args.index("install") + 1:] for args in _pip_lines()]
    assert targets == [[CHECKOUT], ["-e", "."]]


def test_the_kit_installs_from_a_checkout_with_no_index():
    (kit_line, _) = _pip_lines()
    args = [sys.executable if a == "python" else ROOT if a == CHECKOUT else a for a in kit_line]
    # a dry run builds the checkout's metadata and resolves its dependencies (an index may
    # serve the build backend and any dependency not installed here, never the kit)
    proc = subprocess.run([*map(str, args), "--dry-run"], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    would = proc.stdout.replace("gitproxy_sinkkit", "gitproxy-sinkkit")
    assert f"gitproxy-sinkkit-{version('gitproxy-sinkkit')}" in would


def test_the_kit_brings_pytest_xdist_for_the_readmes_n_2():
    (pytest_line,) = [line for line in _shell_lines() if line.startswith("pytest ")]
    assert "-n" in shlex.split(pytest_line)
    unconditional = [r for r in requires("gitproxy-sinkkit") or [] if "extra ==" not in r]
    assert any(r.replace("_", "-").startswith("pytest-xdist") for r in unconditional)


def test_the_readme_harness_snippet_runs_the_bootstrap_clauses(tmp_path):
    (snippet,) = _blocks("python")
    package = tmp_path / "adapter"
    shutil.copytree(EXAMPLE, package)
    (package / "example_sqlite" / "harness.py").write_text(snippet)
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target",
                    str(site), str(package)], check=True, capture_output=True, timeout=300)
    (pytest_line,) = [line for line in _shell_lines() if line.startswith("pytest ")]
    script = Path(sys.executable).with_name("pytest")
    args = [str(script), *shlex.split(pytest_line)[1:],
            # the README's line, narrowed to the clauses that open and reopen storage (the
            # config clauses, which use open_config, are the kit's own: tests/test_config_clauses)
            "--sinkkit-clause", "bootstrap", "-p", "no:randomly"]
    proc = subprocess.run(args, cwd=tmp_path, env={"PATH": str(script.parent),
                                                   "PYTHONPATH": str(site), "HOME": str(tmp_path)},
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    summary = proc.stdout.strip().splitlines()
    assert any(re.search(r"\d+ pass.*\(of \d+ clauses\)", line) for line in summary)
    assert " fail" not in "\n".join(summary[-3:])
