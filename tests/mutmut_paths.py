"""pytest plugin for ``nox -s mutation``: make ``sinkkit.*`` import the files mutmut mutated.

This package is installed with a ``package-dir`` mapping (``sinkkit.core`` is the folder
``core/``), a layout mutmut cannot map to module names. So ``nox -s mutation`` first builds
``src/sinkkit/<sub>`` as symlinks to the real folders and names the files to mutate under it
(``[tool.mutmut] source_paths``): mutmut then names each mutant after the module the tests import
(``sinkkit.core.rules``), copies the mutated file to ``mutants/src/sinkkit/...`` and runs pytest
from ``mutants/``. Here, each subpackage's ``__path__`` gets its ``mutants/`` folder first, so a
mutated file loads from there and every other file still from the checkout.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

MUTANTS = Path.cwd()
MUTATED = MUTANTS / "src" / "sinkkit"
SUBPACKAGES = ("core", "adapters", "conformance")

if MUTANTS.name != "mutants":
    raise RuntimeError("tests/mutmut_paths.py is for mutmut runs (pytest started in mutants/)")

# import sinkkit itself from the installed package, not as a namespace of mutants/src/sinkkit
_saved = list(sys.path)
sys.path[:] = [p for p in sys.path if Path(p).resolve() != (MUTANTS / "src").resolve()]
importlib.import_module("sinkkit")
sys.path[:] = _saved

for _sub in SUBPACKAGES:
    _pkg = importlib.import_module(f"sinkkit.{_sub}")
    _mutated = MUTATED / _sub
    if _mutated.is_dir() and str(_mutated) not in _pkg.__path__:
        _pkg.__path__.insert(0, str(_mutated))
