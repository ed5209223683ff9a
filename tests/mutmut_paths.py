"""pytest plugin for ``nox -s mutation``: make ``sinkkit.*`` import the files mutmut mutated.

mutmut copies each file named in ``[tool.mutmut] source_paths`` to ``mutants/<same path>`` and
runs pytest from ``mutants/``. This package is installed with a ``package-dir`` mapping
(``sinkkit.core`` is the folder ``core/``), which mutmut's own ``sys.path`` set-up cannot
redirect; so each subpackage's ``__path__`` is given its ``mutants/`` folder first. Files that
were not mutated are not in that folder and still load from the checkout.
"""

from __future__ import annotations

import importlib
from pathlib import Path

MUTANTS = Path.cwd()
ROOT = MUTANTS.parent
PACKAGES = ("sinkkit.core", "sinkkit.adapters", "sinkkit.conformance")

if MUTANTS.name != "mutants":
    raise RuntimeError("tests/mutmut_paths.py is for mutmut runs (pytest started in mutants/)")

for _name in PACKAGES:
    _pkg = importlib.import_module(_name)
    for _entry in list(_pkg.__path__):
        _mutated = MUTANTS / Path(_entry).resolve().relative_to(ROOT)
        if _mutated.is_dir() and str(_mutated) not in _pkg.__path__:
            _pkg.__path__.insert(0, str(_mutated))
