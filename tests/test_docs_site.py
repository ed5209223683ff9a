"""The documentation site builds in strict mode (no broken links or anchors, no page left out of
the nav), and the guide only names options and modules that exist."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from sinkkit.conformance import plugin

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def mkdocs_build(project: Path, site: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict",
         "--config-file", str(project / "mkdocs.yml"), "--site-dir", str(site)],
        capture_output=True, text=True, check=False, cwd=project,
    )


def nav_files(nav: list) -> list[str]:
    found = []
    for entry in nav:
        value = next(iter(entry.values())) if isinstance(entry, dict) else entry
        found.extend(nav_files(value) if isinstance(value, list) else [value])
    return found


@pytest.fixture
def project_copy(tmp_path: Path) -> Path:
    shutil.copytree(DOCS, tmp_path / "docs")
    shutil.copy(ROOT / "mkdocs.yml", tmp_path / "mkdocs.yml")
    return tmp_path


def test_the_site_builds_in_strict_mode(tmp_path):
    done = mkdocs_build(ROOT, tmp_path / "site")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "site" / "contract" / "index.html").is_file()
    assert (tmp_path / "site" / "schemas" / "push.json").is_file()


def test_a_broken_anchor_fails_the_build(project_copy, tmp_path):
    guide = project_copy / "docs" / "guide.md"
    guide.write_text(guide.read_text() + "\nSee [a clause](contract.md#no.such.clause).\n")
    done = mkdocs_build(project_copy, tmp_path / "site")
    assert done.returncode != 0
    assert "no.such.clause" in done.stderr


def test_a_page_left_out_of_the_nav_fails_the_build(project_copy, tmp_path):
    (project_copy / "docs" / "orphan.md").write_text("# Orphan\n")
    done = mkdocs_build(project_copy, tmp_path / "site")
    assert done.returncode != 0
    assert "orphan.md" in done.stderr


def test_the_nav_names_only_pages_that_exist_and_starts_with_the_kit_pages():
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    assert config["strict"] is True
    pages = nav_files(config["nav"])
    assert pages[:4] == ["index.md", "contract.md", "guide.md", "parity.md"]
    for page in pages:
        assert (DOCS / page).is_file(), page


def test_the_guide_names_real_options_and_suite_modules():
    guide = (DOCS / "guide.md").read_text()
    options = set(re.findall(r"--sinkkit-[a-z-]+", guide))
    source = Path(plugin.__file__).read_text()
    assert options and all(f'"{o}"' in source for o in options), options
    for module in set(re.findall(r"sinkkit\.conformance\.suite\.(test_\w+)", guide)):
        assert (ROOT / "conformance" / "suite" / f"{module}.py").is_file(), module
    for module in re.findall(r"`(test_\w+)`", guide):
        assert (ROOT / "conformance" / "suite" / f"{module}.py").is_file(), module
