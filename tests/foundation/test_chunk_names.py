"""Chunk names: whole seconds on clock boundaries, milliseconds where the audio starts between them."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

from pige_pipeline.evidence.sources import station_chunks
from pige_pipeline.store.chunks import chunk_path, list_chunks, parse_chunk_name


def test_a_start_between_seconds_is_named_to_the_millisecond(tmp_path: Path) -> None:
    boundary = datetime(2026, 12, 2, 13, 0, 0, tzinfo=UTC)
    reconnected = datetime(2026, 12, 2, 13, 5, 6, 951_400, tzinfo=UTC)
    assert chunk_path(tmp_path, "s", boundary, "mp3").name == "20261202T130000Z.mp3"
    named = chunk_path(tmp_path, "s", reconnected, "mp3")
    assert named.name == "20261202T130506.951Z.mp3"
    assert parse_chunk_name(named) == datetime(2026, 12, 2, 13, 5, 6, 951_000, tzinfo=UTC)
    # 999.6 ms rounds up to the next whole second, whose name has no fraction.
    assert (
        chunk_path(tmp_path, "s", reconnected.replace(microsecond=999_600), "mp3").name
        == "20261202T130507Z.mp3"
    )
    assert parse_chunk_name(Path("20261202T130506.95Z.mp3")) is None  # always three digits


def test_readers_list_both_forms_in_time_order(tmp_path: Path) -> None:
    starts = [
        datetime(2026, 12, 2, 13, 0, 0, tzinfo=UTC),
        datetime(2026, 12, 2, 13, 0, 10, 250_000, tzinfo=UTC),
        datetime(2026, 12, 2, 13, 0, 20, tzinfo=UTC),
    ]
    for start in starts:
        path = chunk_path(tmp_path, "s", start, "mp3")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    assert [c.start for c in list_chunks(tmp_path, "s")] == starts
    assert [began for began, _path in station_chunks(tmp_path, "s", [date(2026, 12, 2)])] == starts
