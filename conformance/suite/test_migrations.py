"""The migrations ledger git-proxy keeps of data migrations it has applied."""

from __future__ import annotations

from sinkkit.conformance.clauses import clause


@clause("migrations.ledger.empty-at-start")
def test_the_ledger_starts_empty(sink):
    assert sink.get_applied_migrations() == []
    sink.record_migration("first")
    assert sink.get_applied_migrations() == ["first"]


@clause("migrations.ledger.records-in-order")
def test_recorded_ids_are_listed_in_record_order(sink):
    for mid in ("2026-03-b", "2026-01-a", "2026-02-c"):
        sink.record_migration(mid)
    assert sink.get_applied_migrations() == ["2026-03-b", "2026-01-a", "2026-02-c"]


@clause("migrations.ledger.record-idempotent")
def test_recording_twice_lists_an_id_once_at_its_first_place(sink):
    sink.record_migration("one")
    sink.record_migration("two")
    sink.record_migration("one")
    assert sink.get_applied_migrations() == ["one", "two"]


@clause("migrations.ledger.unrecord")
def test_unrecord_removes_and_unknown_ids_are_a_no_op(sink):
    sink.record_migration("one")
    sink.record_migration("two")
    sink.unrecord_migration("one")
    sink.unrecord_migration("never")
    assert sink.get_applied_migrations() == ["two"]
    sink.record_migration("one")
    assert sink.get_applied_migrations() == ["two", "one"]


@clause("migrations.ledger.unrecord")
def test_unrecord_removes_only_that_id_never_ids_it_begins(sink):
    for migration_id in ("0001", "0001_fix", "00010"):
        sink.record_migration(migration_id)
    sink.unrecord_migration("0001")
    assert sink.get_applied_migrations() == ["0001_fix", "00010"]
