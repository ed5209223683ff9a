"""Benchmarks for the sinkkit adapters (not part of the installed package).

Run ``python benchmarks/run.py`` (or ``nox -s bench``); results go to the terminal, JSON,
docs/benchmarks.md and a PNG plot. Nothing here is a test: no duration is ever asserted.
"""
