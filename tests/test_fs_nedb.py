"""Unit tests of the NeDB datafile format (sinkkit.adapters.fs.nedb), rule by rule."""

from __future__ import annotations

import json
import os
import string
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sinkkit.adapters.fs import nedb
from sinkkit.adapters.fs.nedb import CorruptDatafile, Datafile, DatafileWarning
from sinkkit.conformance.errors import SinkError

UTC = timezone.utc


def write_lines(path: Path, *lines: str, end: str = "\n") -> None:
    path.write_text("\n".join(lines) + end, encoding="utf-8")


def load(path: Path) -> nedb.Loaded:
    datafile = Datafile(path)
    try:
        return datafile.load()
    finally:
        datafile.close()


# --- ids and values ------------------------------------------------------------------------------

def test_new_id_is_sixteen_alphanumerics_like_nedb() -> None:
    ids = {nedb.new_id() for _ in range(200)}
    assert len(ids) == 200
    assert all(len(i) == 16 and set(i) <= set(string.ascii_letters + string.digits) for i in ids)


def test_dates_encode_as_ms_and_decode_timezone_aware() -> None:
    when = datetime(2024, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    line = nedb.serialize({"_id": "a", "at": when, "nested": [{"at": when}]})
    assert json.loads(line) == {"_id": "a", "at": {"$$date": 1704164645678},
                                "nested": [{"at": {"$$date": 1704164645678}}]}
    back = nedb.deserialize(line)
    assert back["at"] == when and back["at"].tzinfo is not None
    assert back["nested"][0]["at"] == when


def test_a_naive_datetime_is_taken_as_utc_and_other_zones_convert() -> None:
    naive = datetime(2020, 1, 1, 12, 0)
    plus_two = datetime(2020, 1, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))
    assert nedb.ms_from_datetime(naive) == nedb.ms_from_datetime(plus_two) == 1577880000000


def test_decoding_follows_nedbs_reviver() -> None:
    # any object holding $$date is that date, whatever else it holds; fractions are truncated
    doc = nedb.deserialize('{"_id":"a","d":{"$$date":1.9,"x":1},"z":{"$$date":0}}')
    assert doc["d"] == datetime(1970, 1, 1, 0, 0, 0, 1000, tzinfo=UTC)
    assert doc["z"] == datetime(1970, 1, 1, tzinfo=UTC)
    with pytest.raises(ValueError):
        nedb.deserialize('{"_id":"a","d":{"$$date":true}}')


def test_nan_and_infinity_are_not_json() -> None:
    with pytest.raises(ValueError):
        nedb.deserialize('{"_id":"a","n":NaN}')
    with pytest.raises(ValueError):
        nedb.serialize({"_id": "a", "n": float("inf")})


def test_serialize_keeps_unicode_but_escapes_what_nedbs_line_reader_splits_on() -> None:
    text = "é ✓ \U0001f600 a\u2028b\u2029c\u0085d \"q\" \n"
    line = nedb.serialize({"_id": "a", "t": text})
    assert "é ✓ \U0001f600" in line
    assert not set(line) & {"\u2028", "\u2029", "\u0085", "\n"}
    assert nedb.deserialize(line)["t"] == text


# --- loading -------------------------------------------------------------------------------------

def test_later_lines_supersede_and_tombstones_delete(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    write_lines(path,
                '{"_id":"a","v":1}',
                '{"_id":"b","v":1}',
                '{"_id":"c","v":1}',
                '{"_id":"a","v":2}',
                '{"$$deleted":true,"_id":"b"}',
                '{"_id":"b","v":3}',
                '{"v":"no _id: ignored"}',
                "",
                '{"$$deleted":true,"_id":"never-existed"}')
    loaded = load(path)
    # an update keeps the document's place; a delete then re-insert moves it to the end
    assert list(loaded.docs) == ["a", "c", "b"]
    assert loaded.docs["a"] == {"_id": "a", "v": 2}
    assert loaded.docs["b"] == {"_id": "b", "v": 3}
    assert loaded.lines == 8 and loaded.corrupt_lines == []
    assert loaded.superseded == 5


def test_index_lines_are_kept_and_removed_by_name(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    write_lines(path,
                '{"$$indexCreated":{"fieldName":"url","unique":true}}',
                '{"$$indexCreated":{"fieldName":"name","unique":false}}',
                '{"$$indexRemoved":"name"}',
                '{"$$indexCreated":{"fieldName":"id","unique":true,"sparse":false}}')
    loaded = load(path)
    assert loaded.indexes == {"url": {"fieldName": "url", "unique": True},
                              "id": {"fieldName": "id", "unique": True, "sparse": False}}
    assert loaded.docs == {}


def test_a_missing_file_is_created_empty(tmp_path: Path) -> None:
    loaded = load(tmp_path / "new.db")
    assert loaded.docs == {} and (tmp_path / "new.db").read_bytes() == b""


def test_a_missing_file_is_restored_from_its_crash_safe_backup(tmp_path: Path) -> None:
    write_lines(tmp_path / "x.db~", '{"_id":"a","v":1}')
    loaded = load(tmp_path / "x.db")
    assert loaded.docs == {"a": {"_id": "a", "v": 1}}
    assert not (tmp_path / "x.db~").exists()


def test_a_torn_last_line_is_cut_off_with_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    write_lines(path, '{"_id":"a","v":1}', '{"_id":"b","v":1}', '{"_id":"a","v":', end="")
    datafile = Datafile(path)
    with pytest.warns(DatafileWarning, match="torn last line"):
        loaded = datafile.load()
    assert loaded.docs == {"a": {"_id": "a", "v": 1}, "b": {"_id": "b", "v": 1}}
    assert loaded.corrupt_lines == [] and loaded.torn_bytes == len('{"_id":"a","v":')
    datafile.append([{"_id": "c", "v": 1}])  # must not be glued onto the fragment
    datafile.close()
    assert load(path).docs.keys() == {"a", "b", "c"}
    assert path.read_text().endswith('{"_id":"c","v":1}\n')


def test_an_unterminated_but_whole_last_line_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    write_lines(path, '{"_id":"a","v":1}', '{"_id":"b","v":1}', end="")
    datafile = Datafile(path)
    assert datafile.load().docs.keys() == {"a", "b"}
    datafile.append([{"_id": "c"}])
    datafile.close()
    assert load(path).docs.keys() == {"a", "b", "c"}


def test_a_few_corrupt_lines_are_skipped_with_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    good = [f'{{"_id":"d{i}"}}' for i in range(9)]
    write_lines(path, *good[:4], "{not json", *good[4:])
    with pytest.warns(DatafileWarning, match=r"1 corrupt line\(s\) of 10 \(line 5\)"):
        loaded = load(path)
    assert len(loaded.docs) == 9 and loaded.corrupt_lines == [5]


def test_more_than_ten_percent_corrupt_refuses_to_load_and_touches_nothing(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    write_lines(path, *[f'{{"_id":"d{i}"}}' for i in range(8)], "garbage", "\xff-not-json")
    before = path.read_bytes()
    with pytest.raises(CorruptDatafile) as err:
        load(path)
    assert isinstance(err.value, SinkError)
    assert err.value.corrupt == 2 and err.value.total == 10
    assert "x.db" in str(err.value) and "refusing" in str(err.value)
    assert path.read_bytes() == before


def test_undecodable_bytes_and_unhashable_ids_count_as_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    path.write_bytes(b'{"_id":"a"}\n\xff\xfe\n{"_id":{"nested":1}}\n' + b'{"_id":"b"}\n' * 17)
    with pytest.warns(DatafileWarning):
        loaded = load(path)
    assert loaded.corrupt_lines == [2, 3] and set(loaded.docs) == {"a", "b"}


# --- appending and compacting --------------------------------------------------------------------

def test_append_then_load_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    datafile = Datafile(path)
    datafile.load()
    when = datetime(2022, 2, 2, tzinfo=UTC)
    datafile.append([{"_id": "a", "at": when}, {"_id": "b"}])
    datafile.append([nedb.tombstone("b")])
    assert datafile.lines == 3
    datafile.close()
    assert load(path).docs == {"a": {"_id": "a", "at": when}}


def test_append_before_load_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not open"):
        Datafile(tmp_path / "x.db").append([{"_id": "a"}])


def test_a_failed_append_leaves_no_partial_line(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "x.db"
    datafile = Datafile(path)
    datafile.load()
    datafile.append([{"_id": "a"}])

    def broken_fsync(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError):
        datafile.append([{"_id": "b"}])
    monkeypatch.undo()
    assert path.read_text() == '{"_id":"a"}\n'
    datafile.append([{"_id": "c"}])
    datafile.close()
    assert load(path).docs.keys() == {"a", "c"}


def test_concurrent_appends_from_threads_all_land_whole(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    datafile = Datafile(path)
    datafile.load()

    def writer(n: int) -> None:
        for i in range(50):
            datafile.append([{"_id": f"{n}-{i}", "pad": "x" * 500}])

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    datafile.close()
    loaded = load(path)
    assert len(loaded.docs) == 400 and loaded.corrupt_lines == []


def test_compact_rewrites_live_docs_then_index_lines(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    write_lines(path,
                '{"$$indexCreated":{"fieldName":"url","unique":true}}',
                '{"_id":"a","v":1}', '{"_id":"a","v":2}', '{"_id":"b"}',
                '{"$$deleted":true,"_id":"b"}')
    datafile = Datafile(path)
    loaded = datafile.load()
    datafile.compact(loaded.docs.values(), loaded.indexes)
    assert path.read_text() == ('{"_id":"a","v":2}\n'
                                '{"$$indexCreated":{"fieldName":"url","unique":true}}\n')
    assert datafile.lines == 2
    assert not (tmp_path / "x.db~").exists()
    datafile.append([{"_id": "c"}])  # appends go to the new file, not the replaced one
    datafile.close()
    assert load(path).docs.keys() == {"a", "c"}


@pytest.mark.parametrize("block", [1, 2, 3, 7, 64])
def test_reading_a_block_at_a_time_splits_lines_as_reading_whole(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block: int) -> None:
    # every line end byline.js knows, a CRLF that any small block cuts in two, blank lines
    path = tmp_path / "x.db"
    path.write_bytes(b'{"_id":"a"}\r\n{"_id":"b"}\r{"_id":"c"}\n\n{"_id":"d"}\x0b{"_id":"e"}'
                     b'\x0c\r\n{"_id":"f","when":{"$$date":5}}\r\n{"_id":"g"}')
    whole = load(path)
    monkeypatch.setattr(nedb, "READ_BLOCK", block)
    assert load(path) == whole
    assert list(whole.docs) == list("abcdefg") and whole.dated == {"f"}


def test_a_pushs_compacted_line_is_the_line_its_disk_document_serializes_to() -> None:
    from sinkkit.adapters.fs import CODECS

    codec = CODECS["pushes"]
    push = {"id": "p1", "t": "line\u2028break", "n": [1, {"x": None}]}
    for disk_id in ("p1", "Zq3\u2029weird"):
        assert codec.disk_line("p1", push, disk_id) == nedb.serialize(
            codec.to_disk("p1", push, disk_id))
