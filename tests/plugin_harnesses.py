"""Harnesses that exercise the plugin's divergence bookkeeping."""

from broken_sinks import NullAfterLastRemoval
from sinkkit.conformance.capabilities import Capabilities
from sinkkit.conformance.model import DocumentSink
from sinkkit.fixtures.harnesses import MemoryHarness

DIVERGENCE = {"repos.permissions.empty-list": "leaves null, fixed in the next release"}


class DivergentNullHarness(MemoryHarness):
    name = "divergent"
    capabilities = Capabilities(persistent=False, multi_process=False, divergences=DIVERGENCE)

    def new_sink(self, slot):
        return NullAfterLastRemoval()


class StaleDivergenceHarness(DivergentNullHarness):
    """Declares the divergence but no longer has it: strict xfail turns that into a failure."""

    def new_sink(self, slot):
        return DocumentSink()
