"""The harness that lets the kit's suite test this adapter: a fresh SQLite file per test."""

from __future__ import annotations

from sinkkit.conformance.capabilities import Capabilities
from sinkkit.conformance.harness import Harness, Slot

from example_sqlite import open_sqlite_sink


class SqliteHarness(Harness):
    name = "example-sqlite"
    capabilities = Capabilities(persistent=True, multi_process=False)

    def open_config(self, slot: Slot) -> dict:
        return {"type": "sqlite", "enabled": True,
                "params": {"filepath": str(slot.tmp_path / "sink.sqlite3")}}

    def new_sink(self, slot: Slot):
        return open_sqlite_sink(self.open_config(slot))

    def reopen(self, slot: Slot, sink):
        return self.new_sink(slot)
