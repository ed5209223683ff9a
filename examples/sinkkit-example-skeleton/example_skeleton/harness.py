"""The harness that lets the kit's suite test this adapter: a fresh, empty sink per test."""

from __future__ import annotations

from sinkkit.conformance.capabilities import Capabilities
from sinkkit.conformance.harness import Harness, Slot

from example_skeleton import open_skeleton_sink


class SkeletonHarness(Harness):
    name = "example-skeleton"
    # plain dicts in one process: nothing survives close(), no second process can share them
    capabilities = Capabilities(persistent=False, multi_process=False)

    def open_config(self, slot: Slot) -> dict:
        return {"type": "skeleton", "enabled": True}

    def new_sink(self, slot: Slot):
        return open_skeleton_sink(self.open_config(slot))
